-- Two indexes led with (room, kind): `envelopes_room_kind` (room, kind, seq) for control-log
-- reads in (author, seq) order, and `envelopes_room_kind_arrival` (room, kind), whose implicit
-- rowid gives arrival order for the opener. A room's control operations and key deliveries are
-- few, so reading them through the second and sorting them costs little, while every envelope
-- stored paid for both. One is enough.
DROP INDEX envelopes_room_kind;
