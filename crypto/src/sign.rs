//! Ed25519 identity keys and labelled signatures.
//!
//! Every signature is over `labelled(label, payload)`, so a signature made for one purpose can
//! never be presented as another. Verification is `verify_strict`, and only that, so every
//! node reaches the same verdict on every envelope (see [`verify_batch`] for why).

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use crate::{CryptoError, labelled, random_bytes};

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

/// Verifies `signature` over `labelled(label, payload)` by `public` with ed25519-dalek's
/// `verify_strict`: rejects small-order keys and `R`, and non-canonical `R` and `s`, so a
/// signature cannot be mauled into another valid one for the same message.
pub fn verify(
    public: &[u8; 32],
    label: &str,
    payload: &[u8],
    signature: &[u8; 64],
) -> Result<(), CryptoError> {
    let key = VerifyingKey::from_bytes(public).map_err(|_| CryptoError::BadPublicKey)?;
    key.verify_strict(&labelled(label, payload), &Signature::from_bytes(signature))
        .map_err(|_| CryptoError::BadSignature)
}

/// One signature to check: `(public key, label, payload, signature)`.
pub type SignedItem<'a> = (&'a [u8; 32], &'a str, &'a [u8], &'a [u8; 64]);

/// Verifies many signatures, each as `(public, label, payload, signature)`: `Ok` exactly when
/// [`verify`] accepts every one; stops at the first failure. An empty batch is `Ok`. On `Err`
/// the caller checks them one by one with [`verify`] to find the culprits.
///
/// Deliberately not ed25519 batch verification. ed25519-dalek's batch equation is cofactorless
/// with random coefficients: an author can craft a signature (an `R` with a small torsion
/// component) that `verify_strict` rejects but a batch accepts with probability up to 1/2,
/// depending on which other envelopes share the batch. Nodes would then disagree about the same
/// envelope, and honest relays would be penalised for forwarding it. Closing that gap needs a
/// prime-order-subgroup check of every `R` and key (two scalar multiplications each), which
/// costs more than batching saves. Callers keep this entry point so a sound batch can replace
/// the loop without changing them.
pub fn verify_batch(items: &[SignedItem<'_>]) -> Result<(), CryptoError> {
    items
        .iter()
        .try_for_each(|(public, label, payload, signature)| {
            verify(public, label, payload, signature)
        })
}
