-- The rooms that have a control log are listed by kind: without this index, listing them read
-- every envelope the node holds (on each new event socket and each room listing).
CREATE INDEX envelopes_kind_room ON envelopes (kind, room);
