-- What this node holds per (room, author), as maximal runs of consecutive sequence numbers:
-- the summary that sync compares, kept up to date on every insert instead of scanning envelopes.
CREATE TABLE seq_ranges (
    room   BLOB NOT NULL,
    author BLOB NOT NULL,
    lo     INTEGER NOT NULL,
    hi     INTEGER NOT NULL,
    PRIMARY KEY (room, author, lo)
) WITHOUT ROWID;
CREATE INDEX seq_ranges_hi ON seq_ranges (room, author, hi);
INSERT INTO seq_ranges (room, author, lo, hi)
    SELECT room, author, min(seq), max(seq) FROM (
        SELECT room, author, seq, seq - row_number() OVER (PARTITION BY room, author ORDER BY seq) AS run
        FROM envelopes)
    GROUP BY room, author, run;

-- Envelopes of local authors that no peer is known to hold yet, queued in the transaction that
-- stores them.
CREATE TABLE outbox (
    id         BLOB PRIMARY KEY,
    room       BLOB NOT NULL,
    author     BLOB NOT NULL,
    seq        INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX outbox_author ON outbox (room, author, seq);

-- How far each peer is known to hold each local author's envelopes in a room (with no gap below):
-- the "held by N peers" of a message.
CREATE TABLE peer_holds (
    room   BLOB NOT NULL,
    author BLOB NOT NULL,
    peer   TEXT NOT NULL,
    hi     INTEGER NOT NULL,
    PRIMARY KEY (room, author, peer)
) WITHOUT ROWID;
