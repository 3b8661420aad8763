-- The partial index of migration 0019 said `kind IN (3, 4, 5)`: SQLite evaluates such a list
-- through a temporary table, and it evaluates an index's condition on every insert into the
-- table, so every envelope stored (the commonest write there is) opened, filled and closed one,
-- as did every query that repeats the condition to use the index. A range is two comparisons.
-- Kinds are integers, so it holds the same envelopes.
DROP INDEX envelopes_kind_room;
CREATE INDEX envelopes_kind_room ON envelopes (kind, room) WHERE kind BETWEEN 3 AND 5;
