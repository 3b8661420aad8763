-- Files (docs/protocol.md, "Files"). What a viewer may open: the file's metadata and key, per
-- viewer (PUBLIC_VIEWER for files in the public room and avatars; a local account otherwise, with
-- the key sealed under its master key). Chunks are sealed bytes on disk under files/, named by
-- their address; this table lists the ones held.
CREATE TABLE files (
    viewer     BLOB NOT NULL,
    id         BLOB NOT NULL,
    name       TEXT NOT NULL,
    size       INTEGER NOT NULL,
    mime       TEXT NOT NULL,
    chunk_size INTEGER NOT NULL,
    hashes     BLOB NOT NULL,     -- the chunk addresses, 32 bytes each, in order
    key        BLOB NOT NULL,     -- the file key: plain for PUBLIC_VIEWER, sealed otherwise
    created_at INTEGER NOT NULL,
    PRIMARY KEY (viewer, id)
) WITHOUT ROWID;
CREATE TABLE chunks (
    hash      BLOB PRIMARY KEY,
    len       INTEGER NOT NULL,
    stored_at INTEGER NOT NULL
) WITHOUT ROWID;
