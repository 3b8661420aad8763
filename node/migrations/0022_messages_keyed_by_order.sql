-- A message is unique by its place in display order, (viewer, room, sent_at, id), and no longer
-- by (viewer, id). Ids are hashes: the (viewer, id) key index put each new row on a leaf page of
-- its own, a third of the pages a busy commit wrote (docs/performance.md, "Session 21"), while
-- the order index is appended to and shares its last page among a commit's rows. A message is
-- found by id through its envelope, whose (room, ts) give its place (`store::messages::get`):
-- every message is derived from an envelope this node keeps, in the same commit. Rowids are
-- kept: the search indexes record how far they read by them. At a million messages the rebuild
-- takes about 7 s, once.
CREATE TABLE messages_by_order (
    viewer    BLOB NOT NULL,
    id        BLOB NOT NULL,
    room      BLOB NOT NULL,
    author    BLOB NOT NULL,
    text      TEXT NOT NULL,
    files     TEXT NOT NULL DEFAULT '[]',
    reply_to  BLOB,
    sealed    BLOB,
    sent_at   INTEGER NOT NULL,
    edited_at INTEGER,
    deleted   INTEGER NOT NULL DEFAULT 0
);
INSERT INTO messages_by_order (rowid, viewer, id, room, author, text, files, reply_to, sealed, sent_at, edited_at, deleted)
    SELECT rowid, viewer, id, room, author, text, files, reply_to, sealed, sent_at, edited_at, deleted
    FROM messages ORDER BY rowid;
DROP TABLE messages;
ALTER TABLE messages_by_order RENAME TO messages;
CREATE UNIQUE INDEX messages_room_order ON messages (viewer, room, sent_at, id);
CREATE INDEX messages_sealed_by_viewer ON messages (viewer) WHERE sealed IS NOT NULL;
