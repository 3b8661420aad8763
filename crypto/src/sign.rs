//! Ed25519 identity keys and labelled signatures.
//!
//! Every signature is over `labelled(label, payload)`, so a signature made for one purpose can
//! never be presented as another. Verification is in `verify`.

use ed25519_dalek::{Signer, SigningKey};
use zeroize::Zeroizing;

use crate::{labelled, random_bytes};

/// An account's (or node's) ed25519 signing key. The secret is zeroized on drop (ed25519-dalek
/// does it for `SigningKey`), and `Debug` shows only the public key.
#[derive(Clone)]
pub struct IdentityKey {
    key: SigningKey,
}

impl IdentityKey {
    /// A new key from the OS random number generator.
    pub fn generate() -> IdentityKey {
        let seed = Zeroizing::new(random_bytes::<32>());
        Self::from_bytes(&seed)
    }

    /// The key with this 32-byte secret seed (RFC 8032 private key). Every seed is valid; the
    /// node also builds its co-signing key from its libp2p ed25519 secret this way.
    pub fn from_bytes(seed: &[u8; 32]) -> IdentityKey {
        IdentityKey {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// The secret seed, for sealing at rest. Zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    /// The public key: for an account, its account id.
    pub fn public(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// Signs `labelled(label, payload)`.
    pub fn sign(&self, label: &str, payload: &[u8]) -> [u8; 64] {
        self.key.sign(&labelled(label, payload)).to_bytes()
    }
}

impl std::fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityKey")
            .field("public", &hex_prefix(&self.public()))
            .finish_non_exhaustive()
    }
}

/// First bytes of a key in hex, enough to recognise it in a debug print.
fn hex_prefix(bytes: &[u8; 32]) -> String {
    bytes[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        + "…"
}
