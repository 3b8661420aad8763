//! Master keys, wrapping them under a password, and sealing data under a key.
//!
//! An account's private keys are sealed with its random master key; the master key is wrapped
//! under a key derived from the password (argon2id, own salt, stronger parameters than the login
//! hash). A password change rewraps the master key only. Byte layout: docs/protocol.md,
//! "Wrapped master key".

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{CryptoError, random_bytes};

/// Associated data when a master key is wrapped under a password-derived key.
pub const LABEL_MASTER_WRAP: &str = "chatly/v1/master-wrap";
/// XChaCha20-Poly1305 nonce length: 24 random bytes never repeat in practice.
pub const NONCE_LEN: usize = 24;
/// Poly1305 tag length.
pub const TAG_LEN: usize = 16;
/// Version byte of [`WrappedKey::to_bytes`].
pub const WRAPPED_KEY_VERSION: u8 = 1;
/// Length of [`WrappedKey::to_bytes`]: version, salt, three u32 params, nonce, 48-byte ciphertext.
pub const WRAPPED_KEY_LEN: usize = 1 + 16 + 12 + NONCE_LEN + 32 + TAG_LEN;

/// An account's 32-byte master key. Zeroized on drop; `Debug` does not print it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// A new key from the OS random number generator.
    pub fn generate() -> MasterKey {
        MasterKey(random_bytes())
    }

    /// The key with these bytes (e.g. just unsealed from a session).
    pub fn from_bytes(bytes: &[u8; 32]) -> MasterKey {
        MasterKey(*bytes)
    }

    /// The key bytes, for [`seal`] and [`open`]. Borrowed so no unzeroized copy is made.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// Argon2id cost parameters of a wrapping key, stored beside the wrapped key so they can be
/// raised later without breaking old wraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WrapParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl WrapParams {
    /// 64 MiB, 3 passes, 1 lane: stronger than the login hash, since a stolen disk makes the
    /// wrapped key an offline target.
    pub const DEFAULT: WrapParams = WrapParams {
        m_kib: 65_536,
        t: 3,
        p: 1,
    };
    /// Largest memory cost accepted (1 GiB), so corrupted stored parameters cannot exhaust memory.
    pub const MAX_M_KIB: u32 = 1024 * 1024;
    /// Largest iteration count accepted, so corrupted parameters cannot hang an unlock.
    pub const MAX_T: u32 = 64;
    /// Largest lane count accepted.
    pub const MAX_P: u32 = 16;

    /// Argon2id with these parameters and a 32-byte output, or why they are refused.
    fn argon2(&self) -> Result<Argon2<'static>, CryptoError> {
        if self.m_kib > Self::MAX_M_KIB || self.t > Self::MAX_T || self.p > Self::MAX_P {
            return Err(CryptoError::BadParams("above the accepted maximum"));
        }
        let params = Params::new(self.m_kib, self.t, self.p, Some(32))
            .map_err(|_| CryptoError::BadParams("rejected by argon2"))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// The 32-byte key derived from `password` and `salt`.
    fn derive(&self, password: &str, salt: &[u8; 16]) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        let mut key = Zeroizing::new([0u8; 32]);
        self.argon2()?
            .hash_password_into(password.as_bytes(), salt, key.as_mut())
            .map_err(|_| CryptoError::BadParams("rejected by argon2"))?;
        Ok(key)
    }
}

/// A master key encrypted under a password-derived key, with what is needed to derive it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// Argon2 salt, random per wrap, so equal passwords give unrelated keys.
    pub salt: [u8; 16],
    /// Argon2 costs used for this wrap.
    pub params: WrapParams,
    /// XChaCha20-Poly1305 nonce, random per wrap.
    pub nonce: [u8; 24],
    /// The encrypted master key and its tag (48 bytes).
    pub ciphertext: Vec<u8>,
}

impl WrappedKey {
    /// `version (1) || salt (16) || m_kib, t, p (u32 BE each) || nonce (24) || ciphertext (48)`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(WRAPPED_KEY_LEN);
        out.push(WRAPPED_KEY_VERSION);
        out.extend_from_slice(&self.salt);
        for v in [self.params.m_kib, self.params.t, self.params.p] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Parses [`WrappedKey::to_bytes`]; checks version and length (parameters are checked when
    /// used).
    pub fn from_bytes(bytes: &[u8]) -> Result<WrappedKey, CryptoError> {
        if bytes.len() != WRAPPED_KEY_LEN {
            return Err(CryptoError::Malformed("wrapped key length"));
        }
        let (version, rest) = bytes.split_at(1);
        if version[0] != WRAPPED_KEY_VERSION {
            return Err(CryptoError::Malformed("wrapped key version"));
        }
        let (salt, rest) = rest.split_at(16);
        let (params, rest) = rest.split_at(12);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let u32_at =
            |i: usize| u32::from_be_bytes([params[i], params[i + 1], params[i + 2], params[i + 3]]);
        Ok(WrappedKey {
            salt: array(salt),
            params: WrapParams {
                m_kib: u32_at(0),
                t: u32_at(4),
                p: u32_at(8),
            },
            nonce: array(nonce),
            ciphertext: ciphertext.to_vec(),
        })
    }
}

/// Copies a slice whose length the caller has already fixed.
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

/// Wraps `master` under a key derived from `password` with argon2id (fresh random salt), then
/// XChaCha20-Poly1305 with a fresh random nonce and associated data `chatly/v1/master-wrap`.
/// Slow by design: run on a blocking thread.
pub fn wrap_master(
    password: &str,
    master: &MasterKey,
    params: WrapParams,
) -> Result<WrappedKey, CryptoError> {
    let salt = random_bytes::<16>();
    let key = params.derive(password, &salt)?;
    let nonce = random_bytes::<NONCE_LEN>();
    let ciphertext = encrypt(&key, &nonce, LABEL_MASTER_WRAP, master.expose())
        .ok_or(CryptoError::Malformed("encryption failed"))?;
    Ok(WrappedKey {
        salt,
        params,
        nonce,
        ciphertext,
    })
}

/// Recovers the master key. A wrong password (or tampered bytes) is [`CryptoError::WrongPassword`].
/// Slow by design: run on a blocking thread.
pub fn unwrap_master(password: &str, wrapped: &WrappedKey) -> Result<MasterKey, CryptoError> {
    let key = wrapped.params.derive(password, &wrapped.salt)?;
    let plain = decrypt(&key, &wrapped.nonce, LABEL_MASTER_WRAP, &wrapped.ciphertext)
        .map_err(|_| CryptoError::WrongPassword)?;
    let bytes: &[u8; 32] = plain
        .as_slice()
        .try_into()
        .map_err(|_| CryptoError::Malformed("master key length"))?;
    Ok(MasterKey::from_bytes(bytes))
}

/// Encrypts `plaintext` under `key` with a random nonce and `label` as associated data:
/// `nonce (24) || ciphertext || tag (16)`. The label binds the bytes to their purpose: opening
/// them under another label fails.
///
/// Infallible in practice: XChaCha20 refuses only messages over 256 GiB, for which this returns
/// an empty vector that [`open`] rejects rather than panicking.
pub fn seal(key: &[u8; 32], label: &str, plaintext: &[u8]) -> Vec<u8> {
    let nonce = random_bytes::<NONCE_LEN>();
    let Some(ciphertext) = encrypt(key, &nonce, label, plaintext) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    out
}

/// Opens what [`seal`] produced under the same key and label.
pub fn open(key: &[u8; 32], label: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Malformed("sealed data too short"));
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    decrypt(key, &array(nonce), label, ciphertext)
}

fn encrypt(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    label: &str,
    plaintext: &[u8],
) -> Option<Vec<u8>> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let payload = Payload {
        msg: plaintext,
        aad: label.as_bytes(),
    };
    cipher.encrypt(&XNonce::from(*nonce), payload).ok()
}

fn decrypt(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    label: &str,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let payload = Payload {
        msg: ciphertext,
        aad: label.as_bytes(),
    };
    cipher
        .decrypt(&XNonce::from(*nonce), payload)
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Decrypt)
}
