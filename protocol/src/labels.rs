//! Domain-separation labels (docs/protocol.md, "Domain-separation labels").
//!
//! Every signature, hash and key derivation names its purpose, so bytes signed or hashed for one
//! purpose can never be replayed as another. `chatly-crypto` prefixes a signed payload with
//! `u8(len(label)) || label`, and uses the label as the BLAKE3 derive-key context or AEAD
//! associated data. The strings are part of the wire format: changing one is a protocol change.

/// The author's signature over an envelope's header and body.
pub const LABEL_ENVELOPE: &str = "chatly/v1/envelope";
/// BLAKE3 derive-key context for envelope ids, over all the envelope's bytes.
pub const LABEL_ENVELOPE_ID: &str = "chatly/v1/envelope-id";
/// The home node's co-signature of an account record.
pub const LABEL_ACCOUNT_COSIGN: &str = "chatly/v1/account-cosign";
/// The identity key's signature over a signed prekey.
pub const LABEL_PREKEY: &str = "chatly/v1/prekey";
/// Derivation of a direct room's id from the pair of account ids.
pub const LABEL_DIRECT_ROOM: &str = "chatly/v1/direct-room";
/// Reserved for a future user-id derivation; never used, listed so nothing else takes it.
pub const LABEL_USER_ID: &str = "chatly/v1/user-id";
/// The safety number shown on a person's card.
pub const LABEL_FINGERPRINT: &str = "chatly/v1/fingerprint";
/// XChaCha20-Poly1305 associated data when a master key is wrapped under a password.
pub const LABEL_MASTER_WRAP: &str = "chatly/v1/master-wrap";
/// Associated data when an account's private keys are sealed with its master key.
pub const LABEL_KEY_WRAP: &str = "chatly/v1/key-wrap";
/// Derive-key context turning a session token into the key that wraps the master key.
pub const LABEL_SESSION_WRAP: &str = "chatly/v1/session-wrap";
/// Derive-key context turning a session token into its stored lookup id.
pub const LABEL_SESSION_ID: &str = "chatly/v1/session-id";
/// BLAKE3 derive-key context of a room's sync digest (docs/protocol.md, "Sync").
pub const LABEL_SYNC_DIGEST: &str = "chatly/v1/sync-digest";

/// The author's signature over a signal (presence, typing, read receipt).
pub const LABEL_SIGNAL: &str = "chatly/v1/signal";

/// Every label, for tests that check they stay distinct and short enough for a u8 prefix.
pub const ALL: &[&str] = &[
    LABEL_ENVELOPE,
    LABEL_ENVELOPE_ID,
    LABEL_ACCOUNT_COSIGN,
    LABEL_PREKEY,
    LABEL_DIRECT_ROOM,
    LABEL_USER_ID,
    LABEL_FINGERPRINT,
    LABEL_MASTER_WRAP,
    LABEL_KEY_WRAP,
    LABEL_SESSION_WRAP,
    LABEL_SESSION_ID,
    LABEL_SYNC_DIGEST,
    LABEL_SIGNAL,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct_prefixed_and_short() {
        for (i, a) in ALL.iter().enumerate() {
            assert!(
                a.starts_with("chatly/v1/") && a.len() <= usize::from(u8::MAX),
                "{a}"
            );
            assert!(ALL[i + 1..].iter().all(|b| a != b), "{a} listed twice");
        }
        // docs/protocol.md writes the envelope signature prefix as u8(18) "chatly/v1/envelope".
        assert_eq!(LABEL_ENVELOPE.len(), 18);
    }
}
