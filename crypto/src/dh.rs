//! X25519 static keys (account DH key, signed prekey) and a Diffie-Hellman that refuses
//! non-contributory results.

use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::{CryptoError, random_bytes};

/// An X25519 secret key, zeroized on drop (x25519-dalek does it for `StaticSecret`).
#[derive(Clone)]
pub struct DhKey {
    secret: StaticSecret,
}

impl DhKey {
    /// A new key from the OS random number generator.
    pub fn generate() -> DhKey {
        let bytes = Zeroizing::new(random_bytes::<32>());
        Self::from_bytes(&bytes)
    }

    /// The key with these 32 secret bytes (clamped by X25519 when used, so every value is valid).
    pub fn from_bytes(bytes: &[u8; 32]) -> DhKey {
        DhKey {
            secret: StaticSecret::from(*bytes),
        }
    }

    /// The secret bytes, for sealing at rest. Zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// The public key.
    pub fn public(&self) -> [u8; 32] {
        PublicKey::from(&self.secret).to_bytes()
    }
}

impl std::fmt::Debug for DhKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DhKey").finish_non_exhaustive()
    }
}

/// X25519 between our secret and a peer's public key.
///
/// Fails with [`CryptoError::NonContributory`] when the peer's key is of small order (the
/// result is then all zeros, known to everyone), as the design brief requires for every X25519.
pub fn dh(secret: &DhKey, public: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let shared = secret.secret.diffie_hellman(&PublicKey::from(*public));
    if !shared.was_contributory() {
        return Err(CryptoError::NonContributory);
    }
    Ok(Zeroizing::new(shared.to_bytes()))
}
