//! File encryption (docs/protocol.md, "Files"): a random key per file, each chunk sealed with
//! ChaCha20-Poly1305 under that key with its index bound into the nonce and associated data, and
//! addressed by the hash of its ciphertext, so any node can check a chunk it relays or serves
//! without being able to read it.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};

use crate::CryptoError;
use crate::hash::derive_key;

/// Associated data prefix of a sealed chunk.
pub const LABEL_FILE_CHUNK: &str = "chatly/v1/file-chunk";
/// Derive-key context of a chunk's address (over its ciphertext).
pub const LABEL_CHUNK_HASH: &str = "chatly/v1/chunk-hash";
/// Derive-key context of a file's id (over its size, chunk size and chunk addresses).
pub const LABEL_FILE_ID: &str = "chatly/v1/file-id";

fn nonce(index: u32) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[8..].copy_from_slice(&index.to_be_bytes());
    nonce
}

fn ad(index: u32) -> Vec<u8> {
    let mut ad = LABEL_FILE_CHUNK.as_bytes().to_vec();
    ad.extend_from_slice(&index.to_be_bytes());
    ad
}

/// Seals chunk `index` of a file. Each (key, index) pair is used once: keys are per file.
pub fn seal_chunk(key: &[u8; 32], index: u32, plain: &[u8]) -> Vec<u8> {
    let cipher = ChaCha20Poly1305::new(key.into());
    cipher
        .encrypt(
            &Nonce::from(nonce(index)),
            Payload {
                msg: plain,
                aad: &ad(index),
            },
        )
        // ChaCha20-Poly1305 only fails on inputs over 256 GiB; chunks are at most 1 MiB.
        .unwrap_or_default()
}

/// Opens chunk `index`; fails for another key, another index, or any changed byte.
pub fn open_chunk(key: &[u8; 32], index: u32, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let cipher = ChaCha20Poly1305::new(key.into());
    cipher
        .decrypt(
            &Nonce::from(nonce(index)),
            Payload {
                msg: sealed,
                aad: &ad(index),
            },
        )
        .map_err(|_| CryptoError::Malformed("a file chunk did not open"))
}

/// The address of a sealed chunk.
pub fn chunk_hash(sealed: &[u8]) -> [u8; 32] {
    derive_key(LABEL_CHUNK_HASH, sealed)
}

/// A file's id: over its size, chunk size and the addresses of its chunks in order.
pub fn file_id(size: u64, chunk_size: u32, hashes: &[[u8; 32]]) -> [u8; 32] {
    let mut material = Vec::with_capacity(12 + hashes.len() * 32);
    material.extend_from_slice(&size.to_be_bytes());
    material.extend_from_slice(&chunk_size.to_be_bytes());
    for hash in hashes {
        material.extend_from_slice(hash);
    }
    derive_key(LABEL_FILE_ID, &material)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_open_only_with_their_key_and_index() {
        let key = [7u8; 32];
        let sealed = seal_chunk(&key, 3, b"hello file");
        assert_eq!(open_chunk(&key, 3, &sealed).unwrap(), b"hello file");
        assert!(
            open_chunk(&key, 4, &sealed).is_err(),
            "moved to another index"
        );
        assert!(
            open_chunk(&[8u8; 32], 3, &sealed).is_err(),
            "another file's key"
        );
        let mut flipped = sealed.clone();
        flipped[0] ^= 1;
        assert!(open_chunk(&key, 3, &flipped).is_err());
        assert_ne!(chunk_hash(&sealed), chunk_hash(&flipped));
        assert!(!sealed.windows(10).any(|w| w == b"hello file"));
    }

    #[test]
    fn the_file_id_covers_size_chunk_size_and_order() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let id = file_id(10, 4, &[a, b]);
        assert_ne!(id, file_id(10, 4, &[b, a]));
        assert_ne!(id, file_id(11, 4, &[a, b]));
        assert_ne!(id, file_id(10, 5, &[a, b]));
    }
}
