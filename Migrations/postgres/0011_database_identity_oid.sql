-- The OID of the database the identity was last confirmed in: PostgreSQL's counterpart of
-- SQLite's file stamp. A database found under another OID while the recorded one still exists
-- on the server is a copy (`CREATE DATABASE … TEMPLATE`, a dump restored beside the original)
-- and takes a new identity; one whose recorded OID is gone was renamed away, restored after a
-- drop or moved to another server, and keeps it. A copy on another server whose original is
-- still alive cannot be told from a move from here: `apoctl adopt-folder RUN` is for that.
ALTER TABLE database_identity ADD COLUMN database_oid BIGINT;
