-- Home-node addresses from account records (newline-separated multiaddrs), so a first contact
-- can dial an account's node (docs/protocol.md, "Reaching nodes").
ALTER TABLE users ADD COLUMN node_addrs TEXT NOT NULL DEFAULT '';
