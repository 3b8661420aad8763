-- The outbox keyed by the envelope's place in its author's log (room, author, seq), without a
-- rowid: every local post inserted into four B-trees here (the rows, a random-keyed index on the
-- envelope id, one by author and one by age) and every acknowledgement deleted from the same
-- four. Now two, neither keyed at random: a post's commit writes one page fewer per post
-- (docs/performance.md, "Session 13"). Lookups by id go through the envelope's (room, author,
-- seq), which `envelopes` holds.
CREATE TABLE outbox_by_position (
    room       BLOB NOT NULL,
    author     BLOB NOT NULL,
    seq        INTEGER NOT NULL,
    id         BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (room, author, seq)
) WITHOUT ROWID;
INSERT OR IGNORE INTO outbox_by_position (room, author, seq, id, created_at)
    SELECT room, author, seq, id, created_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_by_position RENAME TO outbox;
CREATE INDEX outbox_order ON outbox (created_at, seq);
