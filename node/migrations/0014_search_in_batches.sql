-- Public messages are indexed for search in batches after the commits that store them, not
-- inside each commit: every FTS5 transaction writes a new segment and merges, a cost a
-- one-message commit (each receiver of a post) paid in full. `upto` is the messages rowid
-- indexed up to; every search first indexes what lies beyond it. What is stored so far is
-- indexed already.
CREATE TABLE search_progress (
    only INTEGER PRIMARY KEY CHECK (only = 0),
    upto INTEGER NOT NULL
);
INSERT INTO search_progress (only, upto) SELECT 0, coalesce(max(rowid), 0) FROM messages;
