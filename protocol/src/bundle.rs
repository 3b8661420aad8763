//! Gossip bundles: several envelopes in one gossip message (docs/protocol.md, "Gossip bundles").
//!
//! Under load a node has several envelopes to publish on a topic at once; each gossip message
//! costs every relaying node a frame, an encryption and a system call per mesh peer, whatever its
//! size, so they travel together. A gossip payload is either one envelope (starting with
//! [`crate::MAGIC`]) or a bundle of two or more (starting with [`BUNDLE_MAGIC`]); a single
//! envelope is never bundled, so each payload has one encoding.

use crate::codec::{Reader, Writer};
use crate::{MAGIC, MAX_ENVELOPE_LEN, ProtocolError};

/// The first four bytes of a bundle.
pub const BUNDLE_MAGIC: [u8; 4] = *b"CHLB";
/// The bundle format version.
pub const BUNDLE_VERSION: u8 = 1;
/// Magic, version and count.
pub const BUNDLE_HEADER_LEN: usize = 4 + 1 + 2;
/// Bytes each envelope adds besides its own: its length.
pub const BUNDLE_ENTRY_OVERHEAD: usize = 4;
/// A bundle is no larger than the largest envelope, so it fits a gossip frame the same way.
pub const MAX_BUNDLE_LEN: usize = MAX_ENVELOPE_LEN;
/// Most envelopes in one bundle.
pub const MAX_BUNDLE_ENVELOPES: usize = 256;

/// Encodes two or more envelopes as one bundle. The caller keeps within [`MAX_BUNDLE_LEN`] and
/// [`MAX_BUNDLE_ENVELOPES`] (see [`Bundler`]).
pub fn encode_bundle(envelopes: &[Vec<u8>]) -> Result<Vec<u8>, ProtocolError> {
    if envelopes.len() < 2 {
        return Err(ProtocolError::Invalid(
            "a bundle holds two envelopes or more",
        ));
    }
    if envelopes.len() > MAX_BUNDLE_ENVELOPES {
        return Err(ProtocolError::TooLong {
            len: envelopes.len(),
            max: MAX_BUNDLE_ENVELOPES,
        });
    }
    let len = bundle_len(envelopes.iter().map(Vec::len));
    if len > MAX_BUNDLE_LEN {
        return Err(ProtocolError::TooLong {
            len,
            max: MAX_BUNDLE_LEN,
        });
    }
    let mut w = Writer::with_capacity(len);
    w.fixed(&BUNDLE_MAGIC)
        .u8(BUNDLE_VERSION)
        .u16(envelopes.len() as u16);
    for envelope in envelopes {
        w.bytes32(envelope)?;
    }
    Ok(w.into_bytes())
}

/// The size of a bundle of envelopes of these sizes.
pub fn bundle_len(sizes: impl IntoIterator<Item = usize>) -> usize {
    BUNDLE_HEADER_LEN
        + sizes
            .into_iter()
            .map(|n| n + BUNDLE_ENTRY_OVERHEAD)
            .sum::<usize>()
}

/// The envelopes a gossip payload carries, in order: the payload itself when it is one envelope,
/// or a bundle's. Envelopes are not decoded here; each goes through the validation pipeline.
pub fn gossip_envelopes(payload: &[u8]) -> Result<Vec<&[u8]>, ProtocolError> {
    if payload.get(..4) == Some(&MAGIC[..]) {
        return Ok(vec![payload]);
    }
    if payload.len() > MAX_BUNDLE_LEN {
        return Err(ProtocolError::TooLong {
            len: payload.len(),
            max: MAX_BUNDLE_LEN,
        });
    }
    let mut r = Reader::new(payload);
    if r.array::<4>()? != BUNDLE_MAGIC {
        return Err(ProtocolError::BadMagic);
    }
    let version = r.u8()?;
    if version != BUNDLE_VERSION {
        return Err(ProtocolError::UnsupportedVersion(version));
    }
    let count = usize::from(r.u16()?);
    if count < 2 {
        return Err(ProtocolError::Invalid(
            "a bundle holds two envelopes or more",
        ));
    }
    if count > MAX_BUNDLE_ENVELOPES {
        return Err(ProtocolError::TooLong {
            len: count,
            max: MAX_BUNDLE_ENVELOPES,
        });
    }
    let mut envelopes = Vec::with_capacity(count);
    for _ in 0..count {
        let len = usize::try_from(r.u32()?).unwrap_or(usize::MAX);
        envelopes.push(r.take(len)?);
    }
    r.finish()?;
    Ok(envelopes)
}

/// Groups envelopes, in order, into gossip payloads within the bundle limits: a run of one
/// envelope stays as it is.
#[derive(Debug, Default)]
pub struct Bundler {
    payloads: Vec<Vec<Vec<u8>>>,
    open_len: usize,
}

impl Bundler {
    /// Adds the next envelope.
    pub fn push(&mut self, envelope: Vec<u8>) {
        let added = envelope.len() + BUNDLE_ENTRY_OVERHEAD;
        let fits = self.payloads.last().is_some_and(|open| {
            open.len() < MAX_BUNDLE_ENVELOPES && self.open_len + added <= MAX_BUNDLE_LEN
        });
        if fits {
            self.open_len += added;
            if let Some(open) = self.payloads.last_mut() {
                open.push(envelope);
            }
        } else {
            self.open_len = BUNDLE_HEADER_LEN + added;
            self.payloads.push(vec![envelope]);
        }
    }

    /// The groups of envelopes, in order; each becomes one payload ([`Bundler::payload`]).
    pub fn groups(self) -> Vec<Vec<Vec<u8>>> {
        self.payloads
    }

    /// A group's gossip payload: its envelope, or a bundle of them.
    pub fn payload(mut group: Vec<Vec<u8>>) -> Result<Vec<u8>, ProtocolError> {
        if group.len() == 1 {
            return Ok(group.pop().unwrap_or_default());
        }
        encode_bundle(&group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(len: usize, fill: u8) -> Vec<u8> {
        let mut bytes = vec![fill; len];
        bytes[..4].copy_from_slice(&MAGIC);
        bytes
    }

    #[test]
    fn a_single_envelope_is_its_own_payload() {
        let one = envelope(300, 7);
        assert_eq!(gossip_envelopes(&one).unwrap(), vec![&one[..]]);
        let mut bundler = Bundler::default();
        bundler.push(one.clone());
        let groups = bundler.groups();
        assert_eq!(groups.len(), 1);
        assert_eq!(Bundler::payload(groups[0].clone()).unwrap(), one);
    }

    #[test]
    fn a_bundle_round_trips_in_order() {
        let envelopes = vec![envelope(200, 1), envelope(5_000, 2), envelope(139 + 64, 3)];
        let bytes = encode_bundle(&envelopes).unwrap();
        assert_eq!(&bytes[..4], b"CHLB");
        assert_eq!(bytes.len(), bundle_len(envelopes.iter().map(Vec::len)));
        let split = gossip_envelopes(&bytes).unwrap();
        assert_eq!(
            split,
            envelopes.iter().map(Vec::as_slice).collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_bundler_keeps_within_the_limits() {
        let mut bundler = Bundler::default();
        // 40 envelopes of 3,000 bytes: 20 fit in 61,440 bytes with their lengths, so 2 bundles.
        for i in 0..40 {
            bundler.push(envelope(3_000, i));
        }
        // Then 300 small ones: 256 in one bundle, the rest in another.
        for _ in 0..300 {
            bundler.push(envelope(150, 9));
        }
        let groups = bundler.groups();
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 340);
        for group in &groups {
            let payload = Bundler::payload(group.clone()).unwrap();
            assert!(payload.len() <= MAX_BUNDLE_LEN);
            assert_eq!(gossip_envelopes(&payload).unwrap().len(), group.len());
        }
        assert!(groups.iter().all(|g| g.len() <= MAX_BUNDLE_ENVELOPES));
        assert_eq!(sizes[0], 20, "the 3,000-byte envelopes fill a bundle");
        // The largest envelope goes alone next to others.
        let mut bundler = Bundler::default();
        bundler.push(envelope(200, 1));
        bundler.push(envelope(MAX_ENVELOPE_LEN, 2));
        bundler.push(envelope(200, 3));
        let sizes: Vec<usize> = bundler.groups().iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![1, 1, 1]);
    }

    #[test]
    fn malformed_bundles_are_refused() {
        let good = encode_bundle(&[envelope(200, 1), envelope(200, 2)]).unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            ("unknown magic", b"XXXXsomething".to_vec()),
            ("truncated", good[..good.len() - 1].to_vec()),
            ("trailing bytes", [&good[..], &[0]].concat()),
            ("version 2", {
                let mut b = good.clone();
                b[4] = 2;
                b
            }),
            ("one envelope", {
                let mut b = good[..BUNDLE_HEADER_LEN + 4 + 200].to_vec();
                b[5..7].copy_from_slice(&1u16.to_be_bytes());
                b
            }),
            ("a length past the end", {
                let mut b = good.clone();
                b[7..11].copy_from_slice(&u32::MAX.to_be_bytes());
                b
            }),
            ("too large", {
                let mut b = good.clone();
                b.resize(MAX_BUNDLE_LEN + 1, 0);
                b
            }),
        ];
        for (what, bytes) in cases {
            assert!(gossip_envelopes(&bytes).is_err(), "{what} was accepted");
        }
        assert!(encode_bundle(&[envelope(200, 1)]).is_err());
    }
}
