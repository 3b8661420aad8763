-- Sequence numbers a local author may publish before their commit: an envelope numbered at most
-- `upto` may leave the node while its own commit is still in flight, so after a crash (or a
-- failed commit) numbering starts above `upto`, never reusing a number someone may have seen.
-- Written in the same transaction as each local envelope (docs/protocol.md, "Crash safety").
CREATE TABLE author_reservations (
    room BLOB NOT NULL,
    author BLOB NOT NULL,
    upto INTEGER NOT NULL,
    PRIMARY KEY (room, author)
) WITHOUT ROWID;
