-- Operations on messages: edits, deletions and reactions, per viewer (PUBLIC_VIEWER for the
-- public room, the local account that opened them for private rooms). They are folded into each
-- message when it is read, so the order they arrive in does not matter (docs/protocol.md,
-- "Edits, deletions and reactions").
CREATE TABLE message_ops (
    viewer  BLOB NOT NULL,
    id      BLOB NOT NULL,
    room    BLOB NOT NULL,
    target  BLOB NOT NULL,
    author  BLOB NOT NULL,
    kind    INTEGER NOT NULL,  -- 1 edit, 2 delete, 3 reaction
    payload BLOB NOT NULL,     -- edit: the new text; reaction: the emoji; private: sealed under the viewer's master key
    at      INTEGER NOT NULL,  -- the author's timestamp, ms
    PRIMARY KEY (viewer, id)
) WITHOUT ROWID;
CREATE INDEX message_ops_target ON message_ops(viewer, target);
