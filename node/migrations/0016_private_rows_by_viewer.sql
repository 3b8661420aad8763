-- An account's sealed message rows in arrival order: its in-memory search index asks, on every
-- search, for the rows stored since it last looked (`viewer = ? AND rowid > ?`). The (viewer, ...)
-- keys can only give all of the account's rows, to be filtered and sorted: a walk that grew with
-- every private message it ever had. Partial: public rows (no `sealed`) never pay for it.
CREATE INDEX messages_sealed_by_viewer ON messages (viewer) WHERE sealed IS NOT NULL;
