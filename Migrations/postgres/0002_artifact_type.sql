-- Artifacts may be directories: a trained model is committed as one directory (temp dir + rename)
-- and recorded as one row, whose sha256 covers every file below it (the rule is documented at
-- `FileDigest.digest(ofDirectory:)` in Sources/APORuntime) and whose size is their total.
-- Rows written before this migration are all single files.
ALTER TABLE artifacts ADD COLUMN type TEXT NOT NULL DEFAULT 'file'
    CHECK (type IN ('file', 'directory'));
