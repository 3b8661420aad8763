//! Signals: presence heartbeats, typing notices and read receipts (docs/protocol.md, "Signals").
//!
//! A signal is signed by its account like an envelope, but it is ephemeral: it is not part of any
//! author's sequence chain, is never stored as history and is never synced. Presence is plaintext
//! in the directory; typing and receipts are plaintext (signed) in the public room and sealed with
//! the author's sender chain in group and direct rooms, so relays learn nothing but sizes and
//! timing.
//!
//! Layout: `u8 version`, `u8 kind`, `room [16]`, `author [32]`, `timestamp_ms u64`, `u8 key_suite`,
//! `key_id [16]`, `key_index u32`, `nonce [12]`, `u32 body_len`, body, `signature [64]`.

use crate::codec::{Reader, Writer};
use crate::{
    AccountId, EnvelopeId, KEY_SUITE_PLAINTEXT, KEY_SUITE_SENDER_CHAIN, ProtocolError, RoomId,
};

/// Signal format version.
pub const SIGNAL_VERSION: u8 = 1;
/// Bytes before the body.
pub const SIGNAL_HEADER_LEN: usize = 1 + 1 + 16 + 32 + 8 + 1 + 16 + 4 + 12;
/// Largest body (plaintext or sealed).
pub const MAX_SIGNAL_BODY: usize = 128;
/// Largest encoded signal.
pub const MAX_SIGNAL_LEN: usize = SIGNAL_HEADER_LEN + 4 + MAX_SIGNAL_BODY + 64;
/// Shortest and longest heartbeat interval a presence signal may announce.
pub const PRESENCE_INTERVAL_MS: std::ops::RangeInclusive<u32> = 500..=600_000;

/// What a signal says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SignalKind {
    /// "This account is online (or going offline)", in the directory.
    Presence = 1,
    /// "This account is typing in this room."
    Typing = 2,
    /// "This account has read up to this message in this room."
    Read = 3,
}

impl TryFrom<u8> for SignalKind {
    type Error = ProtocolError;

    fn try_from(v: u8) -> Result<Self, ProtocolError> {
        Ok(match v {
            1 => SignalKind::Presence,
            2 => SignalKind::Typing,
            3 => SignalKind::Read,
            _ => return Err(ProtocolError::Invalid("unknown signal kind")),
        })
    }
}

/// Everything but the body and signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalHeader {
    /// What it says.
    pub kind: SignalKind,
    /// The directory (presence) or the room it is about.
    pub room: RoomId,
    /// The signing account.
    pub author: AccountId,
    /// Milliseconds since the Unix epoch on the author's clock.
    pub timestamp_ms: u64,
    /// [`KEY_SUITE_PLAINTEXT`] or [`KEY_SUITE_SENDER_CHAIN`].
    pub key_suite: u8,
    /// The sender chain that sealed the body (zero for plaintext).
    pub key_id: [u8; 16],
    /// The chain position whose signal key sealed it (zero for plaintext).
    pub key_index: u32,
    /// AEAD nonce (zero for plaintext).
    pub nonce: [u8; 12],
}

impl SignalHeader {
    /// A plaintext header.
    pub fn plain(kind: SignalKind, room: RoomId, author: AccountId, timestamp_ms: u64) -> Self {
        Self {
            kind,
            room,
            author,
            timestamp_ms,
            key_suite: KEY_SUITE_PLAINTEXT,
            key_id: [0; 16],
            key_index: 0,
            nonce: [0; 12],
        }
    }

    /// Presence only in the directory, and plaintext; typing and receipts never in the
    /// directory, plaintext exactly in the public room; plaintext fields zero.
    pub fn check(&self) -> Result<(), ProtocolError> {
        let private = self.room != RoomId::PUBLIC && self.room != RoomId::DIRECTORY;
        match self.kind {
            SignalKind::Presence if self.room != RoomId::DIRECTORY => {
                return Err(ProtocolError::Invalid("presence outside the directory"));
            }
            SignalKind::Typing | SignalKind::Read if self.room == RoomId::DIRECTORY => {
                return Err(ProtocolError::Invalid("a room signal in the directory"));
            }
            _ => {}
        }
        match (self.key_suite, private) {
            (KEY_SUITE_SENDER_CHAIN, true) => Ok(()),
            (KEY_SUITE_PLAINTEXT, false)
                if self.key_id == [0; 16] && self.key_index == 0 && self.nonce == [0; 12] =>
            {
                Ok(())
            }
            _ => Err(ProtocolError::Invalid(
                "wrong key suite for the signal's room",
            )),
        }
    }

    /// The header's bytes (also the AEAD associated data of a sealed body).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(SIGNAL_HEADER_LEN);
        w.u8(SIGNAL_VERSION)
            .u8(self.kind as u8)
            .fixed(&self.room.0)
            .fixed(&self.author.0)
            .u64(self.timestamp_ms)
            .u8(self.key_suite)
            .fixed(&self.key_id)
            .u32(self.key_index)
            .fixed(&self.nonce);
        w.into_bytes()
    }
}

/// A signed signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    /// Header.
    pub header: SignalHeader,
    /// Plaintext body or its AEAD ciphertext.
    pub body: Vec<u8>,
    /// The author's signature (label `chatly/v1/signal`) over [`Signal::signing_bytes`].
    pub signature: [u8; 64],
}

impl Signal {
    /// What the author signs: header bytes, body length, body.
    pub fn signing_bytes(header: &SignalHeader, body: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        header.check()?;
        if body.len() > MAX_SIGNAL_BODY {
            return Err(ProtocolError::TooLong {
                len: body.len(),
                max: MAX_SIGNAL_BODY,
            });
        }
        let mut bytes = header.to_bytes();
        bytes.extend_from_slice(&(body.len() as u32).to_be_bytes());
        bytes.extend_from_slice(body);
        Ok(bytes)
    }

    /// The wire bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = self.header.to_bytes();
        bytes.extend_from_slice(&(self.body.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&self.body);
        bytes.extend_from_slice(&self.signature);
        bytes
    }

    /// Decodes and checks structure; does not verify the signature or open the body.
    pub fn decode(bytes: &[u8]) -> Result<Signal, ProtocolError> {
        if bytes.len() > MAX_SIGNAL_LEN {
            return Err(ProtocolError::TooLong {
                len: bytes.len(),
                max: MAX_SIGNAL_LEN,
            });
        }
        let mut r = Reader::new(bytes);
        if r.u8()? != SIGNAL_VERSION {
            return Err(ProtocolError::Invalid("unknown signal version"));
        }
        let header = SignalHeader {
            kind: SignalKind::try_from(r.u8()?)?,
            room: RoomId(r.array()?),
            author: AccountId(r.array()?),
            timestamp_ms: r.u64()?,
            key_suite: r.u8()?,
            key_id: r.array()?,
            key_index: r.u32()?,
            nonce: r.array()?,
        };
        header.check()?;
        let body = r.bytes32(MAX_SIGNAL_BODY)?;
        let signature = r.array()?;
        r.finish()?;
        Ok(Signal {
            header,
            body,
            signature,
        })
    }

    /// The part the signature covers (everything before it).
    pub fn signed_part(bytes: &[u8]) -> &[u8] {
        &bytes[..bytes.len().saturating_sub(64)]
    }
}

/// A signal's plaintext body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalBody {
    /// Online (heartbeats follow every `interval_ms`) or going offline now.
    Presence {
        /// Online.
        online: bool,
        /// The sender's heartbeat interval: receivers time it out after two.
        interval_ms: u32,
    },
    /// Typing.
    Typing,
    /// Read up to this message.
    Read {
        /// The newest message read.
        message: EnvelopeId,
    },
}

impl SignalBody {
    /// Its kind.
    pub fn kind(&self) -> SignalKind {
        match self {
            SignalBody::Presence { .. } => SignalKind::Presence,
            SignalBody::Typing => SignalKind::Typing,
            SignalBody::Read { .. } => SignalKind::Read,
        }
    }

    /// The plaintext bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            SignalBody::Presence {
                online,
                interval_ms,
            } => {
                w.u8(u8::from(*online)).u32(*interval_ms);
            }
            SignalBody::Typing => {}
            SignalBody::Read { message } => {
                w.fixed(&message.0);
            }
        }
        w.into_bytes()
    }

    /// Parses the plaintext of a `kind` signal.
    pub fn decode(kind: SignalKind, bytes: &[u8]) -> Result<SignalBody, ProtocolError> {
        let mut r = Reader::new(bytes);
        let body = match kind {
            SignalKind::Presence => {
                let online = r.flag()?;
                let interval_ms = r.u32()?;
                if !PRESENCE_INTERVAL_MS.contains(&interval_ms) {
                    return Err(ProtocolError::Invalid("presence interval out of range"));
                }
                SignalBody::Presence {
                    online,
                    interval_ms,
                }
            }
            SignalKind::Typing => SignalBody::Typing,
            SignalKind::Read => SignalBody::Read {
                message: EnvelopeId(r.array()?),
            },
        };
        r.finish()?;
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(room: RoomId, kind: SignalKind) -> Signal {
        let mut header = SignalHeader::plain(kind, room, AccountId([7; 32]), 1_700_000_000_000);
        if room != RoomId::PUBLIC && room != RoomId::DIRECTORY {
            header.key_suite = KEY_SUITE_SENDER_CHAIN;
            header.key_id = [3; 16];
            header.key_index = 9;
            header.nonce = [4; 12];
        }
        Signal {
            header,
            body: vec![1, 0, 0, 39, 16],
            signature: [5; 64],
        }
    }

    #[test]
    fn signals_roundtrip_and_refuse_trailing_bytes() {
        for (room, kind) in [
            (RoomId::DIRECTORY, SignalKind::Presence),
            (RoomId::PUBLIC, SignalKind::Typing),
            (RoomId([9; 16]), SignalKind::Read),
        ] {
            let signal = sample(room, kind);
            let bytes = signal.encode();
            assert_eq!(Signal::decode(&bytes).unwrap(), signal);
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(Signal::decode(&longer).is_err());
            assert!(Signal::decode(&bytes[..bytes.len() - 1]).is_err());
        }
    }

    #[test]
    fn kinds_keep_to_their_rooms_and_suites() {
        let mut presence_in_room = sample(RoomId::PUBLIC, SignalKind::Typing);
        presence_in_room.header.kind = SignalKind::Presence;
        assert!(Signal::decode(&presence_in_room.encode()).is_err());
        let typing_in_directory = sample(RoomId::DIRECTORY, SignalKind::Presence);
        let mut t = typing_in_directory.clone();
        t.header.kind = SignalKind::Typing;
        assert!(Signal::decode(&t.encode()).is_err());
        let mut plain_private = sample(RoomId([9; 16]), SignalKind::Typing);
        plain_private.header =
            SignalHeader::plain(SignalKind::Typing, RoomId([9; 16]), AccountId([7; 32]), 1);
        assert!(Signal::decode(&plain_private.encode()).is_err());
        let mut sealed_public = sample(RoomId::PUBLIC, SignalKind::Typing);
        sealed_public.header.key_suite = KEY_SUITE_SENDER_CHAIN;
        assert!(Signal::decode(&sealed_public.encode()).is_err());
    }

    #[test]
    fn bodies_roundtrip_and_bound_the_interval() {
        for body in [
            SignalBody::Presence {
                online: true,
                interval_ms: 10_000,
            },
            SignalBody::Typing,
            SignalBody::Read {
                message: EnvelopeId([8; 32]),
            },
        ] {
            assert_eq!(
                SignalBody::decode(body.kind(), &body.encode()).unwrap(),
                body
            );
        }
        let too_fast = SignalBody::Presence {
            online: true,
            interval_ms: 10,
        };
        assert!(SignalBody::decode(SignalKind::Presence, &too_fast.encode()).is_err());
        assert!(SignalBody::decode(SignalKind::Typing, &[1]).is_err());
    }

    #[test]
    fn an_oversized_length_is_refused_before_allocating() {
        let mut bytes = sample(RoomId::PUBLIC, SignalKind::Typing).encode();
        bytes[SIGNAL_HEADER_LEN..SIGNAL_HEADER_LEN + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(Signal::decode(&bytes).is_err());
    }
}
