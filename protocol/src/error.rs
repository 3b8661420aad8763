//! The one error type of this crate.

use thiserror::Error;

/// Why bytes could not be decoded, or a value could not be encoded.
///
/// Every variant is the sender's fault (or a local programming error when encoding): the node maps
/// any of them to a gossipsub **Reject**.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtocolError {
    /// The input ended before the field being read.
    #[error("input truncated: {needed} more bytes needed")]
    Truncated {
        /// How many bytes were missing for the field being read.
        needed: usize,
    },
    /// A length (of a string, list or the whole input) is over its limit.
    #[error("too long: {len} > {max}")]
    TooLong {
        /// The length found.
        len: usize,
        /// The limit it broke.
        max: usize,
    },
    /// A string field is not valid UTF-8.
    #[error("invalid UTF-8 in a string field")]
    BadUtf8,
    /// Bytes were left after the last field.
    #[error("{count} trailing bytes")]
    TrailingBytes {
        /// How many bytes were left over.
        count: usize,
    },
    /// An envelope does not start with [`crate::MAGIC`].
    #[error("bad magic")]
    BadMagic,
    /// An envelope's version is not [`crate::VERSION`].
    #[error("unsupported version {0}")]
    UnsupportedVersion(u8),
    /// An envelope kind byte that [`crate::Kind`] does not know.
    #[error("unknown kind {0}")]
    UnknownKind(u8),
    /// A hex id of the wrong length or with a non-hex character.
    #[error("bad hex id")]
    BadHex,
    /// A field holds a value the spec does not allow; the text names the rule.
    #[error("invalid value: {0}")]
    Invalid(&'static str),
}
