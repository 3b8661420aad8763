//! An account's private keys while it is unlocked, and their sealed form at rest.

use chatly_crypto::wrap::{self, MasterKey};
use chatly_crypto::{DhKey, IdentityKey};
use chatly_protocol::AccountId;

/// AEAD label of the private keys sealed under the master key.
pub const KEY_WRAP_LABEL: &str = "chatly/v1/key-wrap";

/// Layout of the sealed plaintext: identity secret, DH secret, prekey secret, prekey creation time.
const SEALED_KEYS_LEN: usize = 32 + 32 + 32 + 8;

/// The private keys of an unlocked account. Dropping it zeroizes them (the key types zeroize on
/// drop).
pub struct UnlockedKeys {
    /// ed25519 identity: signs everything the account sends.
    pub identity: IdentityKey,
    /// x25519 static key.
    pub dh: DhKey,
    /// x25519 signed prekey.
    pub prekey: DhKey,
    /// When the prekey was made, ms.
    pub prekey_created_ms: u64,
    /// The master key (wraps private state; kept to rewrap for new sessions).
    pub master: MasterKey,
}

impl std::fmt::Debug for UnlockedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UnlockedKeys({})", self.account_id())
    }
}

impl UnlockedKeys {
    /// Fresh keys for a new account.
    pub fn generate(now_ms: u64) -> Self {
        Self {
            identity: IdentityKey::generate(),
            dh: DhKey::generate(),
            prekey: DhKey::generate(),
            prekey_created_ms: now_ms,
            master: MasterKey::generate(),
        }
    }

    /// The account id.
    pub fn account_id(&self) -> AccountId {
        AccountId(self.identity.public())
    }

    /// Seals the private keys under the master key.
    pub fn seal(&self) -> Vec<u8> {
        let mut plain = zeroize::Zeroizing::new(Vec::with_capacity(SEALED_KEYS_LEN));
        plain.extend_from_slice(&*self.identity.to_bytes());
        plain.extend_from_slice(&*self.dh.to_bytes());
        plain.extend_from_slice(&*self.prekey.to_bytes());
        plain.extend_from_slice(&self.prekey_created_ms.to_be_bytes());
        wrap::seal(self.master.expose(), KEY_WRAP_LABEL, &plain)
    }

    /// Opens sealed keys with the master key.
    pub fn open(master: MasterKey, sealed: &[u8]) -> Result<Self, chatly_crypto::CryptoError> {
        let plain = wrap::open(master.expose(), KEY_WRAP_LABEL, sealed)?;
        if plain.len() != SEALED_KEYS_LEN {
            return Err(chatly_crypto::CryptoError::Decrypt);
        }
        let part = |range: std::ops::Range<usize>| -> [u8; 32] {
            let mut out = [0u8; 32];
            out.copy_from_slice(&plain[range]);
            out
        };
        let mut created = [0u8; 8];
        created.copy_from_slice(&plain[96..104]);
        Ok(Self {
            identity: IdentityKey::from_bytes(&part(0..32)),
            dh: DhKey::from_bytes(&part(32..64)),
            prekey: DhKey::from_bytes(&part(64..96)),
            prekey_created_ms: u64::from_be_bytes(created),
            master,
        })
    }
}
