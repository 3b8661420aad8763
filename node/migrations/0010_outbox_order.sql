-- The outbox is read oldest first, a batch at a time: without this index every look sorted the
-- whole queue (quadratic for a node that posts while no peer is around to take the queue).
CREATE INDEX outbox_order ON outbox (created_at, seq);
