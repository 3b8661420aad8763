-- Chains are rewritten in every commit that opens or sends sealed content (a receiving chain once
-- per message each local member opens, the sending chain once per post). As rowid tables with a
-- primary key each was two B-trees, the rows and their key index, so every such commit wrote a
-- page of each; keyed by their primary key alone they are one B-tree and one page.
CREATE TABLE receiver_chains_by_key (
    account  BLOB NOT NULL,
    room     BLOB NOT NULL,
    sender   BLOB NOT NULL,
    chain_id BLOB NOT NULL,
    sealed   BLOB NOT NULL,
    PRIMARY KEY (account, room, sender, chain_id)
) WITHOUT ROWID;
INSERT INTO receiver_chains_by_key (account, room, sender, chain_id, sealed)
    SELECT account, room, sender, chain_id, sealed FROM receiver_chains;
DROP TABLE receiver_chains;
ALTER TABLE receiver_chains_by_key RENAME TO receiver_chains;

CREATE TABLE sender_chains_by_key (
    account      BLOB NOT NULL,
    room         BLOB NOT NULL,
    sealed       BLOB NOT NULL,
    delivered_to BLOB NOT NULL,
    PRIMARY KEY (account, room)
) WITHOUT ROWID;
INSERT INTO sender_chains_by_key (account, room, sealed, delivered_to)
    SELECT account, room, sealed, delivered_to FROM sender_chains;
DROP TABLE sender_chains;
ALTER TABLE sender_chains_by_key RENAME TO sender_chains;
