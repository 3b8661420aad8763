//! The one error type of this crate.

use thiserror::Error;

/// Why a cryptographic operation failed. Messages never include key material.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    /// A public key is not a valid, canonical curve point (or is of small order).
    #[error("invalid public key")]
    BadPublicKey,
    /// The message key of that index was used already (or lies before the delivered position).
    #[error("message key already used or never delivered")]
    KeyUsed,
    /// A chain would jump further ahead than a receiver allows.
    #[error("chain index too far ahead")]
    ChainJump,
    /// A signature does not verify for this key, label and payload.
    #[error("invalid signature")]
    BadSignature,
    /// An X25519 exchange gave a non-contributory (all-zero) result: the peer's key is of small
    /// order, so the "shared" secret would be known to anyone.
    #[error("non-contributory Diffie-Hellman result")]
    NonContributory,
    /// The password does not unwrap this master key.
    #[error("wrong password")]
    WrongPassword,
    /// Authenticated decryption failed: wrong key or label, or tampered bytes.
    #[error("decryption failed")]
    Decrypt,
    /// Bytes do not have the documented layout; the text says which.
    #[error("malformed input: {0}")]
    Malformed(&'static str),
    /// Argon2 parameters outside the accepted range.
    #[error("bad argon2 parameters: {0}")]
    BadParams(&'static str),
    /// Password hashing failed (parameters or PHC string), with the library's reason.
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
}
