//! Frozen outputs of the chain: a change to the key schedule fails here.

use super::*;

/// Prints the values frozen below (run with --nocapture after a deliberate change).
fn chain_vector() -> (Vec<String>, String) {
    let mut sender = SenderChain {
        state: ChainState {
            chain_id: [1; 16],
            chain_key: [9; 32],
            index: 0,
        },
        created_ms: 0,
    };
    let keys = (0..3).map(|_| hex::encode(*sender.next_key().1)).collect();
    (keys, hex::encode(sender.state().chain_key))
}

#[test]
fn frozen_chain_vectors() {
    let (keys, chain_key) = chain_vector();
    assert_eq!(keys, FROZEN_MESSAGE_KEYS.map(String::from).to_vec());
    assert_eq!(chain_key, FROZEN_CHAIN_KEY_3);
}

// Cross-checked against an independent HKDF-SHA256 (Python hmac/hashlib) when frozen.
const FROZEN_MESSAGE_KEYS: [&str; 3] = [
    "487dd51c2ea7e9b194a6db385b14089f4431676a79084bcd32c9f931ab53f6eb",
    "d624301eee8fc7145ab96d3ddb0d5cd3ede7318b53fc41b067ce8572b508c71a",
    "fb055583f179cc9a450dceae13e90d2fae1b7ca494f5cfb89155256e65003162",
];
const FROZEN_CHAIN_KEY_3: &str = "fe403ab04bb00d2de4fcf8691662289cb6ac067b6de5641a246208ef01638943";
