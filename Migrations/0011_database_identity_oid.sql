-- PostgreSQL's counterpart of the file stamp (README: "Where artifacts go"): the OID of the
-- database the identity was last confirmed in. Unused on SQLite, where the file's device and
-- inode say the same; the column exists on both so the two schemas stay one.
ALTER TABLE database_identity ADD COLUMN database_oid BIGINT;
