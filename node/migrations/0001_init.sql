-- Accounts hosted by this node. Private keys never appear here unwrapped.
CREATE TABLE local_accounts (
    user_id        BLOB PRIMARY KEY,          -- ed25519 identity public key (32 bytes)
    username       TEXT NOT NULL UNIQUE,
    password_phc   TEXT NOT NULL,             -- argon2id PHC string for login verification
    wrapped_master BLOB NOT NULL,             -- master key wrapped by an argon2id password key
    sealed_keys    BLOB NOT NULL,             -- identity || dh || prekey secrets sealed by the master key
    created_at     INTEGER NOT NULL
);

-- Login sessions. The token itself is never stored: only a derived lookup id, and the master key
-- wrapped under a key derived from the token, so a remembered login survives a node restart
-- while a stolen disk alone unlocks nothing.
CREATE TABLE sessions (
    id             BLOB PRIMARY KEY,
    user_id        BLOB NOT NULL REFERENCES local_accounts(user_id) ON DELETE CASCADE,
    wrapped_master BLOB NOT NULL,
    persistent     INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

-- Every envelope this node holds, exactly as received: the source of truth that sync serves.
CREATE TABLE envelopes (
    id          BLOB PRIMARY KEY,
    room        BLOB NOT NULL,
    author      BLOB NOT NULL,
    seq         INTEGER NOT NULL,
    kind        INTEGER NOT NULL,
    ts          INTEGER NOT NULL,
    bytes       BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    UNIQUE (room, author, seq)
);

-- Same author and sequence number, different content: evidence of a misbehaving author.
CREATE TABLE equivocations (
    room        BLOB NOT NULL,
    author      BLOB NOT NULL,
    seq         INTEGER NOT NULL,
    kept_id     BLOB NOT NULL,
    rejected_id BLOB NOT NULL,
    detected_at INTEGER NOT NULL,
    PRIMARY KEY (room, author, seq, rejected_id)
);

-- The account directory, from the newest valid account record of each account.
CREATE TABLE users (
    user_id       BLOB PRIMARY KEY,
    username      TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    bio           TEXT NOT NULL,
    avatar        TEXT,
    node_public   BLOB NOT NULL,
    dh_public     BLOB NOT NULL,
    prekey_public BLOB NOT NULL,
    version       INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- Readable messages, derived from content envelopes, in display order (sent_at, id).
CREATE TABLE messages (
    id        BLOB PRIMARY KEY,
    room      BLOB NOT NULL,
    author    BLOB NOT NULL,
    text      TEXT NOT NULL,
    files     TEXT NOT NULL DEFAULT '[]',
    reply_to  BLOB,
    sent_at   INTEGER NOT NULL,
    edited_at INTEGER,
    deleted   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_room_order ON messages(room, sent_at, id);
