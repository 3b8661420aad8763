-- Opening sealed content without rescanning a room's whole history for every new envelope: each
-- local account keeps how far (envelope rowid) it has looked in each room, and the envelopes it
-- must try again (their key delivery had not arrived).
CREATE INDEX envelopes_room_kind_arrival ON envelopes (room, kind);
CREATE TABLE open_marks (
    account BLOB NOT NULL,
    room    BLOB NOT NULL,
    upto    INTEGER NOT NULL,
    PRIMARY KEY (account, room)
) WITHOUT ROWID;
CREATE TABLE open_later (
    account BLOB NOT NULL,
    room    BLOB NOT NULL,
    id      BLOB NOT NULL,
    PRIMARY KEY (account, room, id)
) WITHOUT ROWID;
