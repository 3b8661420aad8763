//! The signed envelope: fixed 139-byte header, kind-specific body, 64-byte signature
//! (docs/protocol.md, "Envelope layout").

use crate::codec::{Reader, Writer};
use crate::{AccountId, EnvelopeId, ProtocolError, RoomId};

/// First four bytes of every envelope, so stray bytes are recognised cheaply.
pub const MAGIC: [u8; 4] = *b"CHLY";
/// Wire format version; a node rejects any other.
pub const VERSION: u8 = 1;
/// Header bytes, from the magic through the body length field.
pub const HEADER_LEN: usize = 139;
/// An ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Largest envelope: 60 KiB, below gossipsub's 64 KiB `max_transmit_size` with room for its
/// protobuf framing, so an envelope always travels in one gossip frame.
pub const MAX_ENVELOPE_LEN: usize = 61_440;
/// Largest body: whatever the envelope limit leaves after header and signature (61,237 bytes).
pub const MAX_BODY_LEN: usize = MAX_ENVELOPE_LEN - HEADER_LEN - SIGNATURE_LEN;
/// How far ahead of the receiver's clock a timestamp may be before the envelope is ignored
/// (10 minutes). Checked by the node, which has a clock; listed here beside the field it bounds.
pub const MAX_CLOCK_SKEW_MS: u64 = 600_000;

/// Key suite 0: the body is plaintext and the key id, key index and nonce are zero.
pub const KEY_SUITE_PLAINTEXT: u8 = 0;
/// Key suite 1: the body is sealed with a sender-chain key, ChaCha20-Poly1305 (issue 3).
pub const KEY_SUITE_SENDER_CHAIN: u8 = 1;

/// What an envelope carries; decides which room it may be in and how its body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    /// An account record, in the directory room.
    AccountRecord = 1,
    /// Plaintext content, in the public room.
    Content = 2,
    /// A room control operation, in a group or direct room.
    Control = 3,
    /// Sealed content, in a group or direct room.
    Sealed = 4,
    /// A sender chain sealed to one recipient, in a group or direct room.
    KeyDelivery = 5,
    /// A presence heartbeat, in the directory room.
    Presence = 6,
}

impl TryFrom<u8> for Kind {
    type Error = ProtocolError;

    fn try_from(v: u8) -> Result<Self, ProtocolError> {
        Ok(match v {
            1 => Kind::AccountRecord,
            2 => Kind::Content,
            3 => Kind::Control,
            4 => Kind::Sealed,
            5 => Kind::KeyDelivery,
            6 => Kind::Presence,
            other => return Err(ProtocolError::UnknownKind(other)),
        })
    }
}

impl Kind {
    /// Whether an envelope of this kind may be in `room` (docs/protocol.md, "Kinds").
    pub fn allows_room(self, room: &RoomId) -> bool {
        match self {
            Kind::AccountRecord | Kind::Presence => *room == RoomId::DIRECTORY,
            Kind::Content => *room == RoomId::PUBLIC,
            Kind::Control | Kind::Sealed | Kind::KeyDelivery => {
                *room != RoomId::PUBLIC && *room != RoomId::DIRECTORY
            }
        }
    }
}

/// The fixed-size part of an envelope, everything but the body and signature.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// What the body is.
    pub kind: Kind,
    /// The room the envelope belongs to.
    pub room: RoomId,
    /// The author's account (its ed25519 public key, which signs the envelope).
    pub author: AccountId,
    /// The author's sequence number in this room, from 1: lets receivers see gaps and
    /// equivocation (two envelopes with the same author and seq).
    pub seq: u64,
    /// Id of the author's previous envelope in the room (zero for seq 1): chains an author's
    /// history so sync can tell what is missing.
    pub prev: EnvelopeId,
    /// Milliseconds since the Unix epoch on the author's clock: ordering hint, skew-checked.
    pub timestamp_ms: u64,
    /// How the body is protected: [`KEY_SUITE_PLAINTEXT`] or [`KEY_SUITE_SENDER_CHAIN`].
    pub key_suite: u8,
    /// Which key sealed the body (zero for plaintext).
    pub key_id: [u8; 16],
    /// Position in the key's chain (zero for plaintext).
    pub key_index: u32,
    /// AEAD nonce (zero for plaintext).
    pub nonce: [u8; 12],
}

impl Header {
    /// A plaintext header: key suite 0 and zero key id, index and nonce.
    pub fn plain(
        kind: Kind,
        room: RoomId,
        author: AccountId,
        seq: u64,
        prev: EnvelopeId,
        timestamp_ms: u64,
    ) -> Header {
        Header {
            kind,
            room,
            author,
            seq,
            prev,
            timestamp_ms,
            key_suite: KEY_SUITE_PLAINTEXT,
            key_id: [0; 16],
            key_index: 0,
            nonce: [0; 12],
        }
    }

    /// The rules a header must follow whatever its body says (run by decode and before signing):
    /// seq from 1, `prev` zero for seq 1, the kind's room, and a known key suite whose
    /// fields are zero for plaintext. Kinds 1, 2 and 6 are always plaintext; kind 4 never is.
    pub fn check(&self) -> Result<(), ProtocolError> {
        if self.seq == 0 {
            return Err(ProtocolError::Invalid("seq starts at 1"));
        }
        // Zero `prev` above seq 1 is allowed: an author whose node lost its only envelopes in a
        // crash before storing them skips their numbers and names no predecessor
        // (docs/protocol.md, "Crash safety").
        if self.seq == 1 && self.prev != EnvelopeId::ZERO {
            return Err(ProtocolError::Invalid("prev must be zero when seq is 1"));
        }
        if !self.kind.allows_room(&self.room) {
            return Err(ProtocolError::Invalid("kind not allowed in this room"));
        }
        match self.key_suite {
            KEY_SUITE_PLAINTEXT => {
                if self.key_id != [0; 16] || self.key_index != 0 || self.nonce != [0; 12] {
                    return Err(ProtocolError::Invalid(
                        "plaintext envelope with key fields set",
                    ));
                }
                if self.kind == Kind::Sealed {
                    return Err(ProtocolError::Invalid(
                        "sealed envelope with plaintext suite",
                    ));
                }
            }
            KEY_SUITE_SENDER_CHAIN => {
                if matches!(
                    self.kind,
                    Kind::AccountRecord | Kind::Content | Kind::Presence
                ) {
                    return Err(ProtocolError::Invalid("this kind is always plaintext"));
                }
            }
            _ => return Err(ProtocolError::Invalid("unknown key suite")),
        }
        Ok(())
    }

    /// Appends the 139 header bytes. A body length that does not fit u32 is written as
    /// `u32::MAX`, which every decoder rejects as over [`MAX_BODY_LEN`].
    fn write(&self, w: &mut Writer, body_len: usize) {
        w.fixed(&MAGIC)
            .u8(VERSION)
            .u8(self.kind as u8)
            .fixed(&self.room.0)
            .fixed(&self.author.0)
            .u64(self.seq)
            .fixed(&self.prev.0)
            .u64(self.timestamp_ms)
            .u8(self.key_suite)
            .fixed(&self.key_id)
            .u32(self.key_index)
            .fixed(&self.nonce)
            .u32(u32::try_from(body_len).unwrap_or(u32::MAX));
    }

    /// Reads the header fields up to (not including) the body length.
    fn read(r: &mut Reader<'_>) -> Result<Header, ProtocolError> {
        if r.array::<4>()? != MAGIC {
            return Err(ProtocolError::BadMagic);
        }
        let version = r.u8()?;
        if version != VERSION {
            return Err(ProtocolError::UnsupportedVersion(version));
        }
        Ok(Header {
            kind: Kind::try_from(r.u8()?)?,
            room: RoomId(r.array()?),
            author: AccountId(r.array()?),
            seq: r.u64()?,
            prev: EnvelopeId(r.array()?),
            timestamp_ms: r.u64()?,
            key_suite: r.u8()?,
            key_id: r.array()?,
            key_index: r.u32()?,
            nonce: r.array()?,
        })
    }
}

/// The bytes an author signs (after the label prefix, which `chatly-crypto` adds):
/// `header || body`, exactly the envelope's bytes without the signature.
///
/// Fails if the body is over [`MAX_BODY_LEN`] or the header breaks [`Header::check`], so an
/// author never signs an envelope every receiver would reject.
pub fn signing_bytes(header: &Header, body: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    if body.len() > MAX_BODY_LEN {
        return Err(ProtocolError::TooLong {
            len: body.len(),
            max: MAX_BODY_LEN,
        });
    }
    header.check()?;
    let mut w = Writer::with_capacity(HEADER_LEN + body.len());
    header.write(&mut w, body.len());
    w.fixed(body);
    Ok(w.into_bytes())
}

/// One signed unit of everything that crosses the network.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Envelope {
    /// Who, where, which position in the author's chain, and how the body is protected.
    pub header: Header,
    /// Kind-specific body bytes (plaintext or ciphertext, per the key suite).
    pub body: Vec<u8>,
    /// The author's ed25519 signature over the label prefix, header and body.
    pub signature: [u8; 64],
}

impl Envelope {
    /// The wire bytes. Only envelopes that pass [`signing_bytes`] encode to bytes that
    /// [`Envelope::decode`] accepts; an invalid one still encodes, but is rejected by every
    /// receiver, so this stays infallible.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(HEADER_LEN + self.body.len() + SIGNATURE_LEN);
        self.header.write(&mut w, self.body.len());
        w.fixed(&self.body).fixed(&self.signature);
        w.into_bytes()
    }

    /// Decodes and checks structure: total size, magic, version, kind, exact body length and
    /// the [`Header::check`] rules. Does not verify the signature or decode the body.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, ProtocolError> {
        if bytes.len() > MAX_ENVELOPE_LEN {
            return Err(ProtocolError::TooLong {
                len: bytes.len(),
                max: MAX_ENVELOPE_LEN,
            });
        }
        let mut r = Reader::new(bytes);
        let header = Header::read(&mut r)?;
        let body_len = usize::try_from(r.u32()?).unwrap_or(usize::MAX);
        if body_len > MAX_BODY_LEN {
            return Err(ProtocolError::TooLong {
                len: body_len,
                max: MAX_BODY_LEN,
            });
        }
        let body = r.take(body_len)?.to_vec();
        let signature = r.array::<SIGNATURE_LEN>()?;
        r.finish()?;
        header.check()?;
        Ok(Envelope {
            header,
            body,
            signature,
        })
    }

    /// The signed part of encoded envelope bytes (everything but the trailing signature), so
    /// a receiver verifies the bytes it received rather than a re-encoding of them.
    /// Meant for bytes [`Envelope::decode`] accepted; shorter input gives an empty slice.
    pub fn signed_part(bytes: &[u8]) -> &[u8] {
        &bytes[..bytes.len().saturating_sub(SIGNATURE_LEN)]
    }
}
