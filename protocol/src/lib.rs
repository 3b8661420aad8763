//! Chatly wire types: the envelope layout, the bodies it carries, ids and named limits.
//!
//! Pure: no IO, no crypto (signing and hashing live in `chatly-crypto`; the node's
//! `rooms/seal.rs` joins the two). The byte-level specification is `docs/protocol.md`; every
//! encoding here follows it exactly, and each value has one encoding, so signatures and envelope
//! ids never depend on how something was serialized.
//!
//! Module map:
//! - [`codec`]: `Writer` and `Reader`, the big-endian, length-prefixed primitives every encoding
//!   (and later the request-response codecs) is built from.
//! - `ids`: [`AccountId`], [`RoomId`], [`EnvelopeId`] with their hex and API forms.
//! - `envelope`: [`Kind`], [`Header`], [`Envelope`], [`signing_bytes`], and the envelope limits
//!   ([`MAGIC`], [`HEADER_LEN`], [`MAX_ENVELOPE_LEN`], ...).
//! - `content`: [`Content`] and [`FileRef`], the body of kind 2 (and the plaintext of kind 4),
//!   with their limits.
//! - `account`: [`AccountRecord`] (kind 1) and [`validate_username`].
//! - [`bundle`]: several envelopes in one gossip message.
//! - [`labels`]: the domain-separation labels of every signature, hash and key derivation.
//! - `error`: [`ProtocolError`], the one error type.

#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod account;
pub mod bundle;
pub mod codec;
mod content;
pub mod control;
mod envelope;
mod error;
pub mod file;
mod ids;
pub mod labels;
pub mod membership;
pub mod signal;
pub mod sync;

pub use account::{
    AccountRecord, MAX_BIO_CHARS, MAX_DISPLAY_NAME_CHARS, MAX_NODE_ADDR_LEN, MAX_NODE_ADDRS,
    USERNAME_MAX, USERNAME_MIN, validate_username,
};
pub use content::{
    AEAD_TAG_LEN, Content, FileRef, MAX_CHUNK_SIZE, MAX_CHUNKS_PER_FILE, MAX_CONTENT_LEN,
    MAX_EMOJI_LEN, MAX_FILE_NAME_LEN, MAX_FILES_PER_MESSAGE, MAX_MIME_LEN,
    MAX_ROOM_DESCRIPTION_CHARS, MAX_ROOM_NAME_CHARS, MAX_TEXT_LEN,
};
pub use envelope::{
    Envelope, HEADER_LEN, Header, KEY_SUITE_PLAINTEXT, KEY_SUITE_SENDER_CHAIN, Kind, MAGIC,
    MAX_BODY_LEN, MAX_CLOCK_SKEW_MS, MAX_ENVELOPE_LEN, SIGNATURE_LEN, VERSION, signing_bytes,
};
pub use error::ProtocolError;
pub use ids::{AccountId, EnvelopeId, RoomId};
