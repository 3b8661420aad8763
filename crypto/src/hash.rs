//! BLAKE3 derivations: envelope ids, safety numbers, derived keys.

/// Derive-key context for envelope ids (docs/protocol.md, "Ids").
pub const LABEL_ENVELOPE_ID: &str = "chatly/v1/envelope-id";
/// Derive-key context for direct room ids (derived by `chatly_protocol::RoomId::direct`).
pub const LABEL_DIRECT_ROOM: &str = "chatly/v1/direct-room";
/// Derive-key context for safety numbers.
pub const LABEL_FINGERPRINT: &str = "chatly/v1/fingerprint";

/// BLAKE3 in derive-key mode with `label` as the context: a 32-byte key or hash that cannot
/// collide with one derived for any other purpose.
pub fn derive_key(label: &str, material: &[u8]) -> [u8; 32] {
    blake3::derive_key(label, material)
}

/// The id of an envelope: `derive_key("chatly/v1/envelope-id", all its bytes)`. Covers the
/// signature too, so it names these exact bytes; also the gossipsub message id.
pub fn envelope_id(envelope_bytes: &[u8]) -> [u8; 32] {
    derive_key(LABEL_ENVELOPE_ID, envelope_bytes)
}

/// Digits in a safety number.
const FINGERPRINT_GROUPS: usize = 12;
/// Hash bytes per group: 40 bits reduced mod 100,000, a bias under 10⁻⁷ per group.
const BYTES_PER_GROUP: usize = 5;

/// An account's safety number, for people to compare out of band: 60 decimal digits in 12
/// groups of 5, separated by single spaces.
///
/// The BLAKE3 derive-key XOF with context `chatly/v1/fingerprint` over the 32-byte account key
/// gives 60 bytes; each 5-byte slice, read as a big-endian integer mod 100,000, is one group
/// written with leading zeros (docs/protocol.md, "Safety numbers").
pub fn fingerprint(account_public: &[u8; 32]) -> String {
    let mut hasher = blake3::Hasher::new_derive_key(LABEL_FINGERPRINT);
    hasher.update(account_public);
    let mut bytes = [0u8; FINGERPRINT_GROUPS * BYTES_PER_GROUP];
    hasher.finalize_xof().fill(&mut bytes);
    bytes
        .chunks_exact(BYTES_PER_GROUP)
        .map(|group| {
            let value = group.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
            format!("{:05}", value % 100_000)
        })
        .collect::<Vec<_>>()
        .join(" ")
}
