//! Range arithmetic of sync: the canonical heads a digest is taken over, and what one side lacks.

use super::{AuthorRanges, SeqRange, Want};
use crate::RoomId;
use crate::codec::Writer;

/// The canonical bytes of a room's heads, which the digest is taken over: authors in ascending
/// order, each as `author [32]`, `u32 count`, then `lo u64, hi u64` per range, ascending.
/// Callers pass authors already sorted with their ranges (as the store returns them).
pub fn canonical_heads(authors: &[AuthorRanges]) -> Vec<u8> {
    let mut w = Writer::with_capacity(authors.len() * 52);
    for a in authors {
        w.fixed(&a.author.0).u32(a.ranges.len() as u32);
        for range in &a.ranges {
            w.u64(range.lo).u64(range.hi);
        }
    }
    w.into_bytes()
}

/// The ranges in `theirs` that `ours` lacks, per author, oldest first. Both sides' ranges must be
/// ascending and disjoint; at most `max` wants are returned.
pub fn missing(
    room: RoomId,
    ours: &[AuthorRanges],
    theirs: &[AuthorRanges],
    max: usize,
) -> Vec<Want> {
    let mut wants = Vec::new();
    for their in theirs {
        let held: &[SeqRange] = ours
            .iter()
            .find(|a| a.author == their.author)
            .map_or(&[], |a| &a.ranges);
        for range in subtract(&their.ranges, held) {
            if wants.len() >= max {
                return wants;
            }
            wants.push(Want {
                room,
                author: their.author,
                range,
            });
        }
    }
    wants
}

/// `a` minus `b`, both ascending and disjoint.
pub fn subtract(a: &[SeqRange], b: &[SeqRange]) -> Vec<SeqRange> {
    let mut out = Vec::new();
    for range in a {
        let mut lo = range.lo;
        let mut open = true;
        for held in b {
            if held.hi < lo || held.lo > range.hi {
                continue;
            }
            if held.lo > lo {
                out.push(SeqRange {
                    lo,
                    hi: held.lo - 1,
                });
            }
            if held.hi >= range.hi {
                open = false;
                break;
            }
            lo = held.hi + 1;
        }
        if open {
            out.push(SeqRange { lo, hi: range.hi });
        }
    }
    out
}

/// How far a peer holding `theirs` holds what we hold as `ours`: the highest sequence number
/// up to which every one of ours is theirs too. When it holds all of ours, that is the higher of
/// both sides' last numbers. A number neither side holds (skipped by its author after a crash,
/// docs/protocol.md "Crash safety") is no gap here; it is in the plain "prefix from 1" sense.
pub fn held_through(ours: &[SeqRange], theirs: &[SeqRange]) -> u64 {
    match subtract(ours, theirs).first() {
        Some(first_lacking) => first_lacking.lo - 1,
        None => {
            let last = |r: &[SeqRange]| r.last().map_or(0, |r| r.hi);
            last(ours).max(last(theirs))
        }
    }
}

/// Whether `seq` lies in one of the ranges.
pub fn covers(ranges: &[SeqRange], seq: u64) -> bool {
    ranges.iter().any(|r| r.lo <= seq && seq <= r.hi)
}
