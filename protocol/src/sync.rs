//! History sync messages (`/chatly/sync/1`, docs/protocol.md "Sync").
//!
//! The requester says what it holds, as the highest sequence number it holds **without gaps**
//! for each (room, author); the responder answers with a page of envelopes the requester lacks,
//! each author's in sequence order, bounded by bytes and count, and whether more remain.

use crate::codec::{Reader, Writer};
use crate::{AccountId, MAX_ENVELOPE_LEN, ProtocolError, RoomId};

/// Most (room, author) entries in one request.
pub const MAX_HAVE_ENTRIES: usize = 16_384;
/// Most envelopes in one page.
pub const MAX_PAGE_ENVELOPES: usize = 2_000;
/// Most bytes of envelopes in one page (the transport frame is a little larger).
pub const MAX_PAGE_BYTES: usize = 3 * 1024 * 1024;

const TAG_FETCH: u8 = 1;
const TAG_PAGE: u8 = 1;

/// What the requester holds of one author in one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Have {
    /// The room.
    pub room: RoomId,
    /// The author.
    pub author: AccountId,
    /// Highest sequence number held with no gap below it (0: none).
    pub seq: u64,
}

/// "Send me what I lack."
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// Byte budget of the answer (capped at [`MAX_PAGE_BYTES`]).
    pub max_bytes: u32,
    /// What the requester holds.
    pub have: Vec<Have>,
}

/// A page of envelopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Whether the responder holds more that the requester lacks.
    pub more: bool,
    /// Envelope bytes, each author's in sequence order.
    pub envelopes: Vec<Vec<u8>>,
}

impl FetchRequest {
    /// Encodes the request.
    pub fn encode(&self) -> Result<Vec<u8>, ProtocolError> {
        if self.have.len() > MAX_HAVE_ENTRIES {
            return Err(ProtocolError::TooLong {
                len: self.have.len(),
                max: MAX_HAVE_ENTRIES,
            });
        }
        let mut w = Writer::with_capacity(9 + self.have.len() * 56);
        w.u8(TAG_FETCH)
            .u32(self.max_bytes)
            .u32(self.have.len() as u32);
        for have in &self.have {
            w.fixed(&have.room.0).fixed(&have.author.0).u64(have.seq);
        }
        Ok(w.into_bytes())
    }

    /// Decodes a request, refusing oversized counts before allocating.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let mut r = Reader::new(bytes);
        expect_tag(&mut r, TAG_FETCH)?;
        let max_bytes = r.u32()?;
        let count = r.u32()? as usize;
        if count > MAX_HAVE_ENTRIES || count * 56 > r.remaining() {
            return Err(ProtocolError::TooLong {
                len: count,
                max: MAX_HAVE_ENTRIES.min(r.remaining() / 56),
            });
        }
        let mut have = Vec::with_capacity(count);
        for _ in 0..count {
            have.push(Have {
                room: RoomId(r.array()?),
                author: AccountId(r.array()?),
                seq: r.u64()?,
            });
        }
        r.finish()?;
        Ok(Self { max_bytes, have })
    }
}

impl Page {
    /// Encodes the page.
    pub fn encode(&self) -> Result<Vec<u8>, ProtocolError> {
        if self.envelopes.len() > MAX_PAGE_ENVELOPES {
            return Err(ProtocolError::TooLong {
                len: self.envelopes.len(),
                max: MAX_PAGE_ENVELOPES,
            });
        }
        let mut w = Writer::new();
        w.u8(TAG_PAGE)
            .u8(u8::from(self.more))
            .u32(self.envelopes.len() as u32);
        for envelope in &self.envelopes {
            w.bytes32(envelope)?;
        }
        Ok(w.into_bytes())
    }

    /// Decodes a page, checking every count and length against the limits.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let mut r = Reader::new(bytes);
        expect_tag(&mut r, TAG_PAGE)?;
        let more = r.flag()?;
        let count = r.u32()? as usize;
        if count > MAX_PAGE_ENVELOPES || count * 4 > r.remaining() {
            return Err(ProtocolError::TooLong {
                len: count,
                max: MAX_PAGE_ENVELOPES,
            });
        }
        let mut envelopes = Vec::with_capacity(count);
        for _ in 0..count {
            envelopes.push(r.bytes32(MAX_ENVELOPE_LEN)?);
        }
        r.finish()?;
        Ok(Self { more, envelopes })
    }
}

fn expect_tag(r: &mut Reader<'_>, tag: u8) -> Result<(), ProtocolError> {
    let found = r.u8()?;
    if found != tag {
        return Err(ProtocolError::Invalid("unknown sync message tag"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn fetch_roundtrips(seqs in proptest::collection::vec((any::<[u8; 16]>(), any::<[u8; 32]>(), any::<u64>()), 0..50), max in any::<u32>()) {
            let request = FetchRequest { max_bytes: max, have: seqs.into_iter().map(|(r, a, s)| Have { room: RoomId(r), author: AccountId(a), seq: s }).collect() };
            prop_assert_eq!(FetchRequest::decode(&request.encode().unwrap()).unwrap(), request);
        }

        #[test]
        fn page_roundtrips(envelopes in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20), more in any::<bool>()) {
            let page = Page { more, envelopes };
            prop_assert_eq!(Page::decode(&page.encode().unwrap()).unwrap(), page);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let _ = FetchRequest::decode(&bytes);
            let _ = Page::decode(&bytes);
        }
    }

    #[test]
    fn enormous_counts_are_refused_before_allocating() {
        let mut w = Writer::new();
        w.u8(TAG_PAGE).u8(0).u32(u32::MAX);
        assert!(Page::decode(&w.into_bytes()).is_err());
        let mut w = Writer::new();
        w.u8(TAG_FETCH).u32(0).u32(u32::MAX);
        assert!(FetchRequest::decode(&w.into_bytes()).is_err());
    }
}
