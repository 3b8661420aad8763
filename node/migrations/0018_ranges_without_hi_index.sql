-- Runs are disjoint and never touch (adjacent runs are merged), so the run that ends just below a
-- new number is the run with the greatest start at or below it, which the primary key
-- (room, author, lo) finds. The index by end was only ever used for that lookup, and every stored
-- envelope moved an entry in it (the run's end grows by one): one page more in every commit
-- (docs/performance.md, "Session 14").
DROP INDEX seq_ranges_hi;
