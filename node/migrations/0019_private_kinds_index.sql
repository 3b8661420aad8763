-- Only control operations (3), sealed content (4) and key deliveries (5) are ever looked up by
-- (kind, room); public content, account records and presence, most of what a node stores, were
-- indexed for nothing: one B-tree page more in every commit that stored one (each receiver of a
-- public post). Queries that use this index repeat its condition word for word: SQLite uses a
-- partial index only for a query whose WHERE clause contains the index's own terms.
DROP INDEX envelopes_kind_room;
CREATE INDEX envelopes_kind_room ON envelopes (kind, room) WHERE kind IN (3, 4, 5);
