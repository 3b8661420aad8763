-- Messages get a viewer: 32 zero bytes for the public room (readable by everyone on this node), or the
-- local account that opened a group or direct message. Private content is stored sealed under that
-- account's master key (`sealed`), with `text` and `files` left empty, so a stolen disk shows no text.
CREATE TABLE messages_v2 (
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
    deleted   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (viewer, id)
);
INSERT INTO messages_v2 (viewer, id, room, author, text, files, reply_to, sealed, sent_at, edited_at, deleted)
    SELECT zeroblob(32), id, room, author, text, files, reply_to, NULL, sent_at, edited_at, deleted FROM messages;
DROP TABLE messages;
ALTER TABLE messages_v2 RENAME TO messages;
CREATE INDEX messages_room_order ON messages (viewer, room, sent_at, id);

CREATE INDEX envelopes_room_kind ON envelopes (room, kind, seq);

-- Each local account's sending chain per room, sealed under its master key, and the members it was
-- delivered to (concatenated 32-byte ids): a member missing from the room means "rotate".
CREATE TABLE sender_chains (
    account      BLOB NOT NULL,
    room         BLOB NOT NULL,
    sealed       BLOB NOT NULL,
    delivered_to BLOB NOT NULL,
    PRIMARY KEY (account, room)
);

-- Chains other members delivered to a local account, sealed under its master key.
CREATE TABLE receiver_chains (
    account  BLOB NOT NULL,
    room     BLOB NOT NULL,
    sender   BLOB NOT NULL,
    chain_id BLOB NOT NULL,
    sealed   BLOB NOT NULL,
    PRIMARY KEY (account, room, sender, chain_id)
);

-- The newest room name and description each local account opened, sealed under its master key.
CREATE TABLE room_info (
    account BLOB NOT NULL,
    room    BLOB NOT NULL,
    sealed  BLOB NOT NULL,
    sent_at INTEGER NOT NULL,
    PRIMARY KEY (account, room)
);

-- Sealed envelopes a local account can never open (sent before it joined, or with a used key):
-- remembered so they are not tried again.
CREATE TABLE unopenable (
    account BLOB NOT NULL,
    id      BLOB NOT NULL,
    PRIMARY KEY (account, id)
);

-- Sealed envelopes a local account opened that make no message row (room info, and edits,
-- deletions and reactions until they get views).
CREATE TABLE opened (
    account BLOB NOT NULL,
    id      BLOB NOT NULL,
    PRIMARY KEY (account, id)
);
