//! An account's private keys while it is unlocked, and their sealed form at rest.
//!
//! The signed prekey is replaced when it is older than the configured age
//! ([`UnlockedKeys::rotate_prekey`]); the previous ones are kept for [`KEPT_PREKEYS`] rotations so
//! key deliveries sealed to them before the new account record arrived still open.

use chatly_crypto::wrap::{self, MasterKey};
use chatly_crypto::{DhKey, IdentityKey};
use chatly_protocol::AccountId;

/// AEAD label of the private keys sealed under the master key.
pub const KEY_WRAP_LABEL: &str = "chatly/v1/key-wrap";

/// How many replaced prekeys are kept to open late deliveries.
pub const KEPT_PREKEYS: usize = 4;

/// Sealed plaintext, version 1: identity, DH secret, prekey secret, prekey creation time.
const V1_LEN: usize = 32 + 32 + 32 + 8;
/// Version 2 adds a version byte, then after the v1 fields `u8 count` and `count` × (prekey, time).
const V2: u8 = 2;

/// A prekey and when it was made.
pub struct Prekey {
    /// The x25519 secret.
    pub key: DhKey,
    /// Creation time, ms.
    pub created_ms: u64,
}

/// The private keys of an unlocked account. Dropping it zeroizes them (the key types zeroize on
/// drop).
pub struct UnlockedKeys {
    /// ed25519 identity: signs everything the account sends.
    pub identity: IdentityKey,
    /// x25519 static key.
    pub dh: DhKey,
    /// x25519 signed prekey (the current one).
    pub prekey: DhKey,
    /// When the current prekey was made, ms.
    pub prekey_created_ms: u64,
    /// Replaced prekeys, newest first, kept to open late deliveries.
    pub previous_prekeys: Vec<Prekey>,
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
            previous_prekeys: Vec::new(),
            master: MasterKey::generate(),
        }
    }

    /// The account id.
    pub fn account_id(&self) -> AccountId {
        AccountId(self.identity.public())
    }

    /// The prekey whose public key is `public`: the current one or a kept previous one.
    pub fn prekey_for(&self, public: &[u8; 32]) -> Option<&DhKey> {
        std::iter::once(&self.prekey)
            .chain(self.previous_prekeys.iter().map(|p| &p.key))
            .find(|k| k.public() == *public)
    }

    /// Replaces the prekey when it is at least `max_age_ms` old; returns whether it did.
    pub fn rotate_prekey(&mut self, now_ms: u64, max_age_ms: u64) -> bool {
        if now_ms.saturating_sub(self.prekey_created_ms) < max_age_ms {
            return false;
        }
        let old = std::mem::replace(&mut self.prekey, DhKey::generate());
        let created = std::mem::replace(&mut self.prekey_created_ms, now_ms);
        self.previous_prekeys.insert(
            0,
            Prekey {
                key: old,
                created_ms: created,
            },
        );
        self.previous_prekeys.truncate(KEPT_PREKEYS);
        true
    }

    /// Seals the private keys under the master key.
    pub fn seal(&self) -> Vec<u8> {
        let mut plain =
            zeroize::Zeroizing::new(Vec::with_capacity(1 + V1_LEN + 1 + 40 * KEPT_PREKEYS));
        plain.push(V2);
        plain.extend_from_slice(&*self.identity.to_bytes());
        plain.extend_from_slice(&*self.dh.to_bytes());
        plain.extend_from_slice(&*self.prekey.to_bytes());
        plain.extend_from_slice(&self.prekey_created_ms.to_be_bytes());
        plain.push(self.previous_prekeys.len() as u8);
        for old in &self.previous_prekeys {
            plain.extend_from_slice(&*old.key.to_bytes());
            plain.extend_from_slice(&old.created_ms.to_be_bytes());
        }
        wrap::seal(self.master.expose(), KEY_WRAP_LABEL, &plain)
    }

    /// Opens sealed keys with the master key (either layout version).
    pub fn open(master: MasterKey, sealed: &[u8]) -> Result<Self, chatly_crypto::CryptoError> {
        let plain = wrap::open(master.expose(), KEY_WRAP_LABEL, sealed)?;
        let malformed = chatly_crypto::CryptoError::Malformed("sealed account keys");
        let (fields, rest) = match plain.len() {
            V1_LEN => (&plain[..], &[][..]),
            n if n > V1_LEN + 1 && plain[0] == V2 => (&plain[1..1 + V1_LEN], &plain[1 + V1_LEN..]),
            _ => return Err(malformed),
        };
        let previous_prekeys = match rest.split_first() {
            None => Vec::new(),
            Some((count, entries))
                if entries.len() == usize::from(*count) * 40
                    && usize::from(*count) <= KEPT_PREKEYS =>
            {
                entries
                    .chunks_exact(40)
                    .map(|e| Prekey {
                        key: DhKey::from_bytes(&array(&e[..32])),
                        created_ms: u64::from_be_bytes(array(&e[32..])),
                    })
                    .collect()
            }
            Some(_) => return Err(malformed),
        };
        Ok(Self {
            identity: IdentityKey::from_bytes(&array(&fields[0..32])),
            dh: DhKey::from_bytes(&array(&fields[32..64])),
            prekey: DhKey::from_bytes(&array(&fields[64..96])),
            prekey_created_ms: u64::from_be_bytes(array(&fields[96..104])),
            previous_prekeys,
            master,
        })
    }
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_a_bounded_history_and_survives_sealing() {
        let mut keys = UnlockedKeys::generate(0);
        let first = keys.prekey.public();
        assert!(!keys.rotate_prekey(10, 100), "too young");
        for i in 1..=6 {
            assert!(keys.rotate_prekey(i * 100, 100));
        }
        assert_eq!(keys.previous_prekeys.len(), KEPT_PREKEYS);
        assert!(keys.prekey_for(&first).is_none(), "the oldest is forgotten");
        let kept = keys.previous_prekeys[0].key.public();
        let master = MasterKey::from_bytes(keys.master.expose());
        let opened = UnlockedKeys::open(master, &keys.seal()).unwrap();
        assert_eq!(opened.prekey.public(), keys.prekey.public());
        assert!(opened.prekey_for(&kept).is_some());
        assert_eq!(opened.prekey_created_ms, 600);
    }

    #[test]
    fn the_first_sealed_layout_still_opens() {
        let keys = UnlockedKeys::generate(5);
        let mut v1 = Vec::new();
        v1.extend_from_slice(&*keys.identity.to_bytes());
        v1.extend_from_slice(&*keys.dh.to_bytes());
        v1.extend_from_slice(&*keys.prekey.to_bytes());
        v1.extend_from_slice(&5u64.to_be_bytes());
        let sealed = wrap::seal(keys.master.expose(), KEY_WRAP_LABEL, &v1);
        let opened =
            UnlockedKeys::open(MasterKey::from_bytes(keys.master.expose()), &sealed).unwrap();
        assert_eq!(opened.account_id(), keys.account_id());
        assert!(opened.previous_prekeys.is_empty());
    }
}
