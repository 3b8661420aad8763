//! History sync messages (`/chatly/sync/2`, docs/protocol.md "Sync").
//!
//! A round has two steps:
//! 1. [`Request::Summary`]: the requester sends a digest of what it holds per room; the responder
//!    answers [`Response::Heads`]: for each room it serves the requester, whether it holds the same,
//!    or its sequence ranges per author when they differ (also for rooms the requester did not name,
//!    which is how a node learns of a room it was added to while offline).
//! 2. [`Request::Fetch`]: the requester asks for the ranges it lacks ([`missing`]); the responder
//!    answers [`Response::Page`]s bounded by bytes and count, oldest first.
//!
//! Everything here is pure: encoding, decoding with limits checked before allocating, and range
//! arithmetic.

use crate::codec::{Reader, Writer};
use crate::{AccountId, MAX_ENVELOPE_LEN, ProtocolError, RoomId};

mod ranges;
pub use ranges::{canonical_heads, covers, held_through, missing, subtract};

/// Most rooms in one summary or heads answer.
pub const MAX_ROOMS: usize = 16_384;
/// Most authors listed in one heads answer, over all rooms.
pub const MAX_HEAD_AUTHORS: usize = 32_768;
/// Most sequence ranges listed per author (further ranges are left out and simply fetched again).
pub const MAX_RANGES_PER_AUTHOR: usize = 64;
/// Most ranges asked for in one fetch.
pub const MAX_WANTS: usize = 16_000;
/// Most envelopes in one page.
pub const MAX_PAGE_ENVELOPES: usize = 2_000;
/// Most bytes of envelopes in one page (the transport frame is a little larger).
pub const MAX_PAGE_BYTES: usize = 3 * 1024 * 1024;
/// Most bytes a responder puts in one heads answer; rooms beyond it wait for a later round.
pub const MAX_HEADS_BYTES: usize = 3 * 1024 * 1024;

/// The encoded size of one room in a heads answer listing `heads`.
pub fn heads_entry_len(heads: &[AuthorRanges]) -> usize {
    17 + 4
        + heads
            .iter()
            .map(|a| 36 + 16 * a.ranges.len())
            .sum::<usize>()
}

const TAG_SUMMARY: u8 = 1;
const TAG_FETCH: u8 = 2;
const TAG_HEADS: u8 = 1;
const TAG_PAGE: u8 = 2;

const STATUS_UNSERVED: u8 = 0;
const STATUS_SAME: u8 = 1;
const STATUS_DIFFERS: u8 = 2;

/// An inclusive range of sequence numbers, `1 <= lo <= hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeqRange {
    /// First sequence number held.
    pub lo: u64,
    /// Last sequence number held.
    pub hi: u64,
}

/// The sequence ranges one author has in one room, ascending and disjoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorRanges {
    /// The author.
    pub author: AccountId,
    /// What is held.
    pub ranges: Vec<SeqRange>,
}

/// The requester's digest of one room (see [`canonical_heads`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomDigest {
    /// The room.
    pub room: RoomId,
    /// First 16 bytes of the digest of the room's canonical heads.
    pub digest: [u8; 16],
}

/// One range the requester lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    /// The room.
    pub room: RoomId,
    /// The author.
    pub author: AccountId,
    /// The missing sequence numbers, inclusive.
    pub range: SeqRange,
}

/// A request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// "This is what I hold, per room."
    Summary(Vec<RoomDigest>),
    /// "Send me these ranges, at most `max_bytes`."
    Fetch {
        /// Byte budget of the answer (capped at [`MAX_PAGE_BYTES`]).
        max_bytes: u32,
        /// What is wanted, in the order the requester prefers.
        wants: Vec<Want>,
    },
}

/// What the responder says about one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomStatus {
    /// Not held, or not served to this requester.
    Unserved,
    /// The responder's digest equals the requester's.
    Same,
    /// The responder's heads.
    Differs(Vec<AuthorRanges>),
}

/// The responder's view of one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomHeads {
    /// The room.
    pub room: RoomId,
    /// What the responder holds of it.
    pub status: RoomStatus,
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Answer to a summary.
    Heads(Vec<RoomHeads>),
    /// Answer to a fetch.
    Page {
        /// Whether the responder holds more of what was asked than fitted.
        more: bool,
        /// Envelope bytes.
        envelopes: Vec<Vec<u8>>,
    },
}

impl Request {
    /// Encodes the request, refusing what the limits forbid.
    pub fn encode(&self) -> Result<Vec<u8>, ProtocolError> {
        let mut w = Writer::new();
        match self {
            Request::Summary(rooms) => {
                limit(rooms.len(), MAX_ROOMS)?;
                w.u8(TAG_SUMMARY).u32(rooms.len() as u32);
                for r in rooms {
                    w.fixed(&r.room.0).fixed(&r.digest);
                }
            }
            Request::Fetch { max_bytes, wants } => {
                limit(wants.len(), MAX_WANTS)?;
                w.u8(TAG_FETCH).u32(*max_bytes).u32(wants.len() as u32);
                for want in wants {
                    check_range(want.range)?;
                    w.fixed(&want.room.0)
                        .fixed(&want.author.0)
                        .u64(want.range.lo)
                        .u64(want.range.hi);
                }
            }
        }
        Ok(w.into_bytes())
    }

    /// Decodes a request, refusing oversized counts before allocating.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let mut r = Reader::new(bytes);
        let request = match r.u8()? {
            TAG_SUMMARY => {
                let count = read_count(&mut r, MAX_ROOMS, 32)?;
                let mut rooms = Vec::with_capacity(count);
                for _ in 0..count {
                    rooms.push(RoomDigest {
                        room: RoomId(r.array()?),
                        digest: r.array()?,
                    });
                }
                Request::Summary(rooms)
            }
            TAG_FETCH => {
                let max_bytes = r.u32()?;
                let count = read_count(&mut r, MAX_WANTS, 64)?;
                let mut wants = Vec::with_capacity(count);
                for _ in 0..count {
                    let room = RoomId(r.array()?);
                    let author = AccountId(r.array()?);
                    let range = read_range(&mut r)?;
                    wants.push(Want {
                        room,
                        author,
                        range,
                    });
                }
                Request::Fetch { max_bytes, wants }
            }
            _ => return Err(ProtocolError::Invalid("unknown sync request tag")),
        };
        r.finish()?;
        Ok(request)
    }
}

impl Response {
    /// Encodes the response, refusing what the limits forbid.
    pub fn encode(&self) -> Result<Vec<u8>, ProtocolError> {
        let mut w = Writer::new();
        match self {
            Response::Heads(rooms) => {
                limit(rooms.len(), MAX_ROOMS)?;
                let authors: usize = rooms
                    .iter()
                    .map(|r| match &r.status {
                        RoomStatus::Differs(a) => a.len(),
                        _ => 0,
                    })
                    .sum();
                limit(authors, MAX_HEAD_AUTHORS)?;
                w.u8(TAG_HEADS).u32(rooms.len() as u32);
                for room in rooms {
                    w.fixed(&room.room.0);
                    match &room.status {
                        RoomStatus::Unserved => {
                            w.u8(STATUS_UNSERVED);
                        }
                        RoomStatus::Same => {
                            w.u8(STATUS_SAME);
                        }
                        RoomStatus::Differs(authors) => {
                            w.u8(STATUS_DIFFERS).u32(authors.len() as u32);
                            for a in authors {
                                write_author(&mut w, a)?;
                            }
                        }
                    }
                }
            }
            Response::Page { more, envelopes } => {
                limit(envelopes.len(), MAX_PAGE_ENVELOPES)?;
                w.u8(TAG_PAGE)
                    .u8(u8::from(*more))
                    .u32(envelopes.len() as u32);
                for envelope in envelopes {
                    w.bytes32(envelope)?;
                }
            }
        }
        Ok(w.into_bytes())
    }

    /// Decodes a response, checking every count and length against the limits.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let mut r = Reader::new(bytes);
        let response = match r.u8()? {
            TAG_HEADS => {
                let count = read_count(&mut r, MAX_ROOMS, 17)?;
                let mut rooms = Vec::with_capacity(count);
                let mut authors_seen = 0usize;
                for _ in 0..count {
                    let room = RoomId(r.array()?);
                    let status = match r.u8()? {
                        STATUS_UNSERVED => RoomStatus::Unserved,
                        STATUS_SAME => RoomStatus::Same,
                        STATUS_DIFFERS => {
                            let n = read_count(&mut r, MAX_HEAD_AUTHORS - authors_seen, 36)?;
                            authors_seen += n;
                            let mut authors = Vec::with_capacity(n);
                            for _ in 0..n {
                                authors.push(read_author(&mut r)?);
                            }
                            RoomStatus::Differs(authors)
                        }
                        _ => return Err(ProtocolError::Invalid("unknown room status")),
                    };
                    rooms.push(RoomHeads { room, status });
                }
                Response::Heads(rooms)
            }
            TAG_PAGE => {
                let more = r.flag()?;
                let count = read_count(&mut r, MAX_PAGE_ENVELOPES, 4)?;
                let mut envelopes = Vec::with_capacity(count);
                for _ in 0..count {
                    envelopes.push(r.bytes32(MAX_ENVELOPE_LEN)?);
                }
                Response::Page { more, envelopes }
            }
            _ => return Err(ProtocolError::Invalid("unknown sync response tag")),
        };
        r.finish()?;
        Ok(response)
    }
}

fn write_author(w: &mut Writer, a: &AuthorRanges) -> Result<(), ProtocolError> {
    limit(a.ranges.len(), MAX_RANGES_PER_AUTHOR)?;
    w.fixed(&a.author.0).u32(a.ranges.len() as u32);
    for range in &a.ranges {
        check_range(*range)?;
        w.u64(range.lo).u64(range.hi);
    }
    Ok(())
}

fn read_author(r: &mut Reader<'_>) -> Result<AuthorRanges, ProtocolError> {
    let author = AccountId(r.array()?);
    let n = read_count(r, MAX_RANGES_PER_AUTHOR, 16)?;
    let mut ranges = Vec::with_capacity(n);
    let mut floor = 0u64;
    for _ in 0..n {
        let range = read_range(r)?;
        if range.lo <= floor {
            return Err(ProtocolError::Invalid(
                "sequence ranges must ascend without overlap",
            ));
        }
        floor = range.hi;
        ranges.push(range);
    }
    Ok(AuthorRanges { author, ranges })
}

fn read_range(r: &mut Reader<'_>) -> Result<SeqRange, ProtocolError> {
    let range = SeqRange {
        lo: r.u64()?,
        hi: r.u64()?,
    };
    check_range(range)?;
    Ok(range)
}

fn check_range(range: SeqRange) -> Result<(), ProtocolError> {
    if range.lo == 0 || range.lo > range.hi {
        return Err(ProtocolError::Invalid(
            "a sequence range needs 1 <= lo <= hi",
        ));
    }
    Ok(())
}

fn limit(len: usize, max: usize) -> Result<(), ProtocolError> {
    if len > max {
        return Err(ProtocolError::TooLong { len, max });
    }
    Ok(())
}

/// Reads a u32 count and refuses it when over `max` or when the remaining bytes cannot hold
/// `count` items of at least `min_item` bytes: no allocation is sized by an unchecked count.
fn read_count(r: &mut Reader<'_>, max: usize, min_item: usize) -> Result<usize, ProtocolError> {
    let count = r.u32()? as usize;
    if count > max || count.saturating_mul(min_item) > r.remaining() {
        return Err(ProtocolError::TooLong {
            len: count,
            max: max.min(r.remaining() / min_item),
        });
    }
    Ok(count)
}

#[cfg(test)]
mod tests;
