-- Full-text search over public messages (docs/api.md, GET /api/v1/search). Private messages are
-- never indexed on disk: each unlocked account's private index lives in memory.
CREATE VIRTUAL TABLE public_search USING fts5(
    text,
    room UNINDEXED,
    id UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);
INSERT INTO public_search (text, room, id)
    SELECT text, room, id FROM messages WHERE viewer = zeroblob(32) AND text != '';
