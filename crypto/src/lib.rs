//! Chatly cryptography: keys, labelled signatures, hashing, password hashing and key wrapping.
//!
//! Pure: bytes in, bytes out; no IO beyond the OS random number generator, no async. The
//! argon2 functions are slow by design and belong on a blocking thread. Every signature, hash,
//! key derivation and AEAD names its purpose with a label (docs/protocol.md,
//! "Domain-separation labels").
//!
//! Module map:
//! - `sign`: [`IdentityKey`] (ed25519 signing).
//! - `verify`: [`verify`] and [`verify_batch`], cofactored, so a batch agrees with single checks.
//! - `dh`: [`DhKey`] (X25519) and [`dh`], which refuses non-contributory results.
//! - `hash`: [`derive_key`], [`envelope_id`], [`fingerprint`].
//! - [`password`]: argon2id PHC strings for login.
//! - [`wrap`]: [`wrap::MasterKey`], wrapping it under a password, and [`wrap::seal`] /
//!   [`wrap::open`] for sealing data under a key.
//! - `chain`: [`SenderChain`], [`ReceiverChain`], [`seal_message`] / [`open_message`]: group
//!   encryption with a hash ratchet.
//! - `delivery`: [`deliver`] / [`accept`]: a chain sealed to one recipient.
//! - `error`: [`CryptoError`], the one error type.
//! - here: [`random_bytes`] and [`labelled`], used by all of the above.

#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod chain;
mod delivery;
mod dh;
mod error;
pub mod file;
mod hash;
pub mod password;
mod sign;
mod verify;
pub mod wrap;

pub use chain::{
    ChainState, LABEL_CHAIN_MESSAGE, LABEL_CHAIN_NEXT, MAX_CHAIN_JUMP, MAX_SKIPPED_KEYS,
    ROTATE_AFTER_MESSAGES, ROTATE_AFTER_MS, ReceiverChain, SenderChain, open_message, seal_message,
};
pub use delivery::{Delivery, LABEL_KEY_DELIVERY, accept, deliver};
pub use dh::{DhKey, dh};
pub use error::CryptoError;
pub use hash::{
    LABEL_DIRECT_ROOM, LABEL_ENVELOPE_ID, LABEL_FINGERPRINT, derive_key, envelope_id, fingerprint,
};
pub use sign::IdentityKey;
pub use verify::{SignedItem, verify, verify_batch};
pub use zeroize::Zeroizing;

/// `N` bytes from the operating system's secure random number generator.
///
/// Panics if the OS generator fails. That is practically impossible on the platforms Chatly
/// runs on (Linux `getrandom(2)` blocks until seeded and does not fail), and there is no safe
/// fallback: returning predictable bytes would silently create guessable keys, and returning a
/// `Result` would put an error path that never runs on every key generation. A panic stops the
/// operation before any key exists.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if let Err(e) = getrandom::fill(&mut out) {
        panic!(
            "the OS random number generator failed ({e}); refusing to continue without secure randomness"
        );
    }
    out
}

/// The bytes actually signed for `payload` under `label`: `u8(len(label)) || label || payload`.
/// The length prefix keeps label and payload apart, so no (label, payload) pair can be read as
/// another.
///
/// Labels are the constants of docs/protocol.md, all well under 255 bytes; a longer label is a
/// programming error, caught by a debug assertion.
pub fn labelled(label: &str, payload: &[u8]) -> Vec<u8> {
    debug_assert!(
        label.len() <= usize::from(u8::MAX),
        "label longer than 255 bytes"
    );
    let len = u8::try_from(label.len()).unwrap_or(u8::MAX);
    let mut out = Vec::with_capacity(1 + label.len() + payload.len());
    out.push(len);
    out.extend_from_slice(label.as_bytes());
    out.extend_from_slice(payload);
    out
}
