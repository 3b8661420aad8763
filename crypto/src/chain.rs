//! Sender chains for group encryption (docs/protocol.md, "Sealed content and sender chains"):
//! a hash ratchet whose message keys are derived and deleted one by one, and the sealing of room
//! messages with them.

use std::collections::BTreeMap;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::CryptoError;

/// HKDF info of a message key.
pub const LABEL_CHAIN_MESSAGE: &str = "chatly/v1/sender-chain/message";
/// HKDF info of the next chain key.
pub const LABEL_CHAIN_NEXT: &str = "chatly/v1/sender-chain/next";
/// HKDF info of the key that seals signals (typing, receipts) at a chain position.
pub const LABEL_CHAIN_SIGNAL: &str = "chatly/v1/sender-chain/signal";
/// Most skipped message keys a receiver keeps per chain (out-of-order gossip).
pub const MAX_SKIPPED_KEYS: usize = 1000;
/// Furthest a receiver lets a chain jump ahead in one step.
pub const MAX_CHAIN_JUMP: u32 = 2000;
/// A sender starts a new chain after this many messages...
pub const ROTATE_AFTER_MESSAGES: u32 = 1000;
/// ...or after this long.
pub const ROTATE_AFTER_MS: u64 = 7 * 24 * 3600 * 1000;

const STATE_LEN: usize = 16 + 32 + 4;
const RECEIVER_VERSION: u8 = 1;

fn hkdf32(ikm: &[u8; 32], info: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit: expand cannot fail.
    let _ = Hkdf::<Sha256>::new(None, ikm).expand(info.as_bytes(), &mut out);
    out
}

/// One step of the ratchet: (message key of this index, next chain key).
fn step(chain_key: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    (
        hkdf32(chain_key, LABEL_CHAIN_MESSAGE),
        hkdf32(chain_key, LABEL_CHAIN_NEXT),
    )
}

/// A chain at one position: what a member hands to another.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct ChainState {
    /// Which chain (the envelope's key id).
    pub chain_id: [u8; 16],
    /// The chain key at `index`.
    pub chain_key: [u8; 32],
    /// Position in the chain.
    pub index: u32,
}

impl std::fmt::Debug for ChainState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ChainState({}, index {})",
            hex16(&self.chain_id),
            self.index
        )
    }
}

fn hex16(bytes: &[u8; 16]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ChainState {
    /// `chain_id || chain_key || index` (52 bytes).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(STATE_LEN));
        out.extend_from_slice(&self.chain_id);
        out.extend_from_slice(&self.chain_key);
        out.extend_from_slice(&self.index.to_be_bytes());
        out
    }

    /// Parses [`ChainState::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != STATE_LEN {
            return Err(CryptoError::Malformed("chain state length"));
        }
        let mut state = ChainState {
            chain_id: [0; 16],
            chain_key: [0; 32],
            index: 0,
        };
        state.chain_id.copy_from_slice(&bytes[..16]);
        state.chain_key.copy_from_slice(&bytes[16..48]);
        state.index = u32::from_be_bytes([bytes[48], bytes[49], bytes[50], bytes[51]]);
        Ok(state)
    }
}

/// The sending side of a chain.
#[derive(Clone, Debug)]
pub struct SenderChain {
    state: ChainState,
    created_ms: u64,
}

impl SenderChain {
    /// A fresh chain: random id and key, index 0.
    pub fn new(now_ms: u64) -> Self {
        Self {
            state: ChainState {
                chain_id: crate::random_bytes(),
                chain_key: crate::random_bytes(),
                index: 0,
            },
            created_ms: now_ms,
        }
    }

    /// The current position: what a new member receives (it reads from here on).
    pub fn state(&self) -> &ChainState {
        &self.state
    }

    /// When the chain was started.
    pub fn created_ms(&self) -> u64 {
        self.created_ms
    }

    /// Whether the chain is full or old enough to be replaced.
    pub fn needs_rotation(&self, now_ms: u64) -> bool {
        self.state.index >= ROTATE_AFTER_MESSAGES
            || now_ms.saturating_sub(self.created_ms) >= ROTATE_AFTER_MS
    }

    /// The next message key and its index; the chain key moves on and the old one is gone.
    pub fn next_key(&mut self) -> (u32, Zeroizing<[u8; 32]>) {
        let (message_key, next) = step(&self.state.chain_key);
        let index = self.state.index;
        self.state.chain_key = next;
        self.state.index = index.saturating_add(1);
        (index, Zeroizing::new(message_key))
    }

    /// The signal key at the current position, without moving the chain: signals are
    /// ephemeral and must not use up message keys. Every member who holds the chain at or before
    /// this position can derive it ([`ReceiverChain::signal_key`]).
    pub fn signal_key(&self) -> (u32, Zeroizing<[u8; 32]>) {
        (
            self.state.index,
            Zeroizing::new(hkdf32(&self.state.chain_key, LABEL_CHAIN_SIGNAL)),
        )
    }

    /// State and creation time, for sealed storage.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = self.state.to_bytes();
        out.extend_from_slice(&self.created_ms.to_be_bytes());
        out
    }

    /// Parses [`SenderChain::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != STATE_LEN + 8 {
            return Err(CryptoError::Malformed("sender chain length"));
        }
        let mut created = [0u8; 8];
        created.copy_from_slice(&bytes[STATE_LEN..]);
        Ok(Self {
            state: ChainState::from_bytes(&bytes[..STATE_LEN])?,
            created_ms: u64::from_be_bytes(created),
        })
    }
}

/// The receiving side of a chain, with a bounded window of skipped keys.
#[derive(Clone)]
pub struct ReceiverChain {
    state: ChainState,
    skipped: BTreeMap<u32, [u8; 32]>,
}

impl Drop for ReceiverChain {
    fn drop(&mut self) {
        for key in self.skipped.values_mut() {
            key.zeroize();
        }
    }
}

impl std::fmt::Debug for ReceiverChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ReceiverChain({:?}, {} skipped)",
            self.state,
            self.skipped.len()
        )
    }
}

impl ReceiverChain {
    /// Starts receiving at a delivered state.
    pub fn new(state: ChainState) -> Self {
        Self {
            state,
            skipped: BTreeMap::new(),
        }
    }

    /// Which chain.
    pub fn chain_id(&self) -> [u8; 16] {
        self.state.chain_id
    }

    /// The signal key at `index`, leaving the chain where it is. Fails for a position this
    /// receiver has moved past (a late signal: it is dropped) or too far ahead.
    pub fn signal_key(&self, index: u32) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        if index < self.state.index {
            return Err(CryptoError::KeyUsed);
        }
        if index - self.state.index > MAX_CHAIN_JUMP {
            return Err(CryptoError::ChainJump);
        }
        let mut chain_key = Zeroizing::new(self.state.chain_key);
        for _ in self.state.index..index {
            *chain_key = hkdf32(&chain_key, LABEL_CHAIN_NEXT);
        }
        Ok(Zeroizing::new(hkdf32(&chain_key, LABEL_CHAIN_SIGNAL)))
    }

    /// The key of message `index`, exactly once.
    pub fn message_key(&mut self, index: u32) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        if index < self.state.index {
            return self
                .skipped
                .remove(&index)
                .map(Zeroizing::new)
                .ok_or(CryptoError::KeyUsed);
        }
        if index - self.state.index > MAX_CHAIN_JUMP {
            return Err(CryptoError::ChainJump);
        }
        while self.state.index < index {
            let (message_key, next) = step(&self.state.chain_key);
            self.skipped.insert(self.state.index, message_key);
            self.state.chain_key = next;
            self.state.index += 1;
        }
        while self.skipped.len() > MAX_SKIPPED_KEYS {
            if let Some((_, mut oldest)) = self.skipped.pop_first() {
                oldest.zeroize();
            }
        }
        let (message_key, next) = step(&self.state.chain_key);
        self.state.chain_key = next;
        self.state.index = index.saturating_add(1);
        Ok(Zeroizing::new(message_key))
    }

    /// Versioned bytes for sealed storage: version, state, then the skipped keys.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(
            1 + STATE_LEN + 4 + self.skipped.len() * 36,
        ));
        out.push(RECEIVER_VERSION);
        out.extend_from_slice(&self.state.to_bytes());
        out.extend_from_slice(&(self.skipped.len() as u32).to_be_bytes());
        for (index, key) in &self.skipped {
            out.extend_from_slice(&index.to_be_bytes());
            out.extend_from_slice(key);
        }
        out
    }

    /// Parses [`ReceiverChain::to_bytes`], refusing anything malformed or over the bounds.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let malformed = CryptoError::Malformed("receiver chain");
        if bytes.len() < 1 + STATE_LEN + 4 || bytes[0] != RECEIVER_VERSION {
            return Err(malformed);
        }
        let state = ChainState::from_bytes(&bytes[1..1 + STATE_LEN])?;
        let rest = &bytes[1 + STATE_LEN..];
        let count = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let entries = &rest[4..];
        if count > MAX_SKIPPED_KEYS || entries.len() != count * 36 {
            return Err(malformed);
        }
        let mut skipped = BTreeMap::new();
        for entry in entries.chunks_exact(36) {
            let index = u32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]);
            let mut key = [0u8; 32];
            key.copy_from_slice(&entry[4..]);
            skipped.insert(index, key);
        }
        Ok(Self { state, skipped })
    }
}

/// Seals a room message with its message key (ChaCha20-Poly1305; `ad` is the envelope header).
pub fn seal_message(
    message_key: &[u8; 32],
    nonce: &[u8; 12],
    ad: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let cipher = ChaCha20Poly1305::new(message_key.into());
    // Encryption fails only for messages over 256 GiB; envelopes are capped far below that.
    cipher
        .encrypt(
            &Nonce::from(*nonce),
            Payload {
                msg: plaintext,
                aad: ad,
            },
        )
        .unwrap_or_default()
}

/// Opens a room message.
pub fn open_message(
    message_key: &[u8; 32],
    nonce: &[u8; 12],
    ad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let cipher = ChaCha20Poly1305::new(message_key.into());
    cipher
        .decrypt(
            &Nonce::from(*nonce),
            Payload {
                msg: ciphertext,
                aad: ad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Decrypt)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;
