-- `envelopes_kind_room` (kind, room) answers everything `envelopes_room_kind_arrival` (room, kind)
-- did: its lookups name both columns, and the implicit rowid gives arrival order in either. Every
-- stored envelope paid for both.
DROP INDEX envelopes_room_kind_arrival;
