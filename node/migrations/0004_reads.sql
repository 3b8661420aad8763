-- Read state per local account and room: the newest message the account has read, so unread
-- counts survive restarts (docs/api.md, POST /rooms/{id}/read).
CREATE TABLE read_marks (
    account BLOB NOT NULL,
    room    BLOB NOT NULL,
    message BLOB NOT NULL,
    sent_at INTEGER NOT NULL,
    PRIMARY KEY (account, room)
) WITHOUT ROWID;
