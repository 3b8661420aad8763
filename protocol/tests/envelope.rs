//! Envelope layout: golden vector, roundtrips, structural rejections, no panics on any input.
#![allow(clippy::unwrap_used)]

mod common;

use chatly_protocol::*;
use proptest::prelude::*;

/// The envelope of docs/protocol.md "Test vectors": public-room content "hello" at seq 1.
fn golden() -> Envelope {
    let mut author = [0u8; 32];
    for (i, b) in author.iter_mut().enumerate() {
        *b = i as u8;
    }
    let body = Content::Message {
        text: "hello".into(),
        files: vec![],
        reply_to: None,
    }
    .encode()
    .unwrap();
    let header = Header::plain(
        Kind::Content,
        RoomId::PUBLIC,
        AccountId(author),
        1,
        EnvelopeId::ZERO,
        1_700_000_000_000,
    );
    Envelope {
        header,
        body,
        signature: [0x11; 64],
    }
}

/// Frozen: changing it is a wire-format change (and docs/protocol.md must change with it).
const GOLDEN_HEX: &str = concat!(
    "43484c59",                                                         // magic
    "01",                                                               // version
    "02",                                                               // kind 2 (Content)
    "00000000000000000000000000000000",                                 // room: public
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", // author
    "0000000000000001",                                                 // seq 1
    "0000000000000000000000000000000000000000000000000000000000000000", // prev: zero
    "0000018bcfe56800",                 // timestamp 1,700,000,000,000 ms
    "00",                               // key suite 0
    "00000000000000000000000000000000", // key id
    "00000000",                         // key index
    "000000000000000000000000",         // nonce
    "0000000c",                         // body length 12
    "010000000568656c6c6f0000",         // body: message "hello", no files, no reply
    "11111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111", // signature (64 x 0x11)
);

#[test]
fn golden_vector() {
    let bytes = golden().encode();
    assert_eq!(hex::encode(&bytes), GOLDEN_HEX);
    assert_eq!(bytes.len(), HEADER_LEN + 12 + SIGNATURE_LEN);
    assert_eq!(Envelope::decode(&bytes).unwrap(), golden());
    let signed = signing_bytes(&golden().header, &golden().body).unwrap();
    assert_eq!(Envelope::signed_part(&bytes), &signed[..]);
}

#[test]
fn field_offsets_match_the_spec_table() {
    let e = golden();
    let bytes = e.encode();
    assert_eq!(&bytes[0..4], b"CHLY");
    assert_eq!(bytes[4], VERSION);
    assert_eq!(bytes[5], Kind::Content as u8);
    assert_eq!(&bytes[6..22], &e.header.room.0);
    assert_eq!(&bytes[22..54], &e.header.author.0);
    assert_eq!(&bytes[54..62], &1u64.to_be_bytes());
    assert_eq!(&bytes[94..102], &1_700_000_000_000u64.to_be_bytes());
    assert_eq!(&bytes[135..139], &12u32.to_be_bytes());
    assert_eq!(&bytes[139..151], &e.body[..]);
    assert_eq!(&bytes[151..], &[0x11; 64]);
}

#[test]
fn kind_byte_roundtrip() {
    for v in 0u8..=255 {
        match Kind::try_from(v) {
            Ok(kind) => assert_eq!(kind as u8, v),
            Err(e) => {
                assert!(v == 0 || v > 6);
                assert_eq!(e, ProtocolError::UnknownKind(v));
            }
        }
    }
}

/// Re-encodes after patching `at` with `value`.
fn patched(at: usize, value: &[u8]) -> Vec<u8> {
    let mut bytes = golden().encode();
    bytes[at..at + value.len()].copy_from_slice(value);
    bytes
}

#[test]
fn structural_rejections() {
    let ok = golden().encode();
    assert_eq!(
        Envelope::decode(&patched(0, b"CHLX")),
        Err(ProtocolError::BadMagic)
    );
    assert_eq!(
        Envelope::decode(&patched(4, &[2])),
        Err(ProtocolError::UnsupportedVersion(2))
    );
    assert_eq!(
        Envelope::decode(&patched(5, &[9])),
        Err(ProtocolError::UnknownKind(9))
    );
    // seq 0. (Seq 2 with a zero prev is allowed: an author whose node skipped its first numbers
    // after a crash names no predecessor; docs/protocol.md, "Crash safety".)
    assert!(Envelope::decode(&patched(54, &0u64.to_be_bytes())).is_err());
    assert!(Envelope::decode(&patched(54, &2u64.to_be_bytes())).is_ok());
    // seq 1 with a non-zero prev.
    assert!(Envelope::decode(&patched(62, &[1])).is_err());
    // Content outside the public room; an account record in the public room.
    assert!(Envelope::decode(&patched(6, &[5])).is_err());
    assert!(Envelope::decode(&patched(5, &[Kind::AccountRecord as u8])).is_err());
    // Plaintext content with key fields set, or claiming a sealed suite; unknown suite.
    assert!(Envelope::decode(&patched(123, &[1])).is_err());
    assert!(Envelope::decode(&patched(102, &[KEY_SUITE_SENDER_CHAIN])).is_err());
    assert!(Envelope::decode(&patched(102, &[7])).is_err());
    // Body length that disagrees with the actual length, either way.
    assert!(matches!(
        Envelope::decode(&patched(135, &13u32.to_be_bytes())),
        Err(ProtocolError::Truncated { .. })
    ));
    assert_eq!(
        Envelope::decode(&patched(135, &11u32.to_be_bytes())),
        Err(ProtocolError::TrailingBytes { count: 1 })
    );
    // Truncation anywhere, and one byte too many.
    for cut in 0..ok.len() {
        assert!(Envelope::decode(&ok[..cut]).is_err(), "cut at {cut}");
    }
    let mut long = ok.clone();
    long.push(0);
    assert_eq!(
        Envelope::decode(&long),
        Err(ProtocolError::TrailingBytes { count: 1 })
    );
}

#[test]
fn size_limits() {
    let mut e = golden();
    e.body = vec![0; MAX_BODY_LEN];
    let bytes = e.encode();
    assert_eq!(bytes.len(), MAX_ENVELOPE_LEN);
    assert_eq!(Envelope::decode(&bytes).unwrap(), e);
    assert!(signing_bytes(&e.header, &e.body).is_ok());

    e.body.push(0);
    assert_eq!(
        signing_bytes(&e.header, &e.body),
        Err(ProtocolError::TooLong {
            len: MAX_BODY_LEN + 1,
            max: MAX_BODY_LEN
        })
    );
    assert!(matches!(
        Envelope::decode(&e.encode()),
        Err(ProtocolError::TooLong { .. })
    ));
}

#[test]
fn signing_refuses_invalid_headers() {
    let mut h = golden().header;
    h.seq = 0;
    assert!(signing_bytes(&h, b"x").is_err());
}

#[test]
fn signed_part_of_short_input_is_empty() {
    assert_eq!(Envelope::signed_part(&[1, 2, 3]), &[] as &[u8]);
}

proptest! {
    #[test]
    fn roundtrip(e in common::envelope()) {
        let bytes = e.encode();
        let decoded = Envelope::decode(&bytes).unwrap();
        prop_assert_eq!(&decoded, &e);
        prop_assert_eq!(decoded.encode(), bytes.clone());
        prop_assert_eq!(Envelope::signed_part(&bytes), &signing_bytes(&e.header, &e.body).unwrap()[..]);
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Envelope::decode(&bytes);
        let _ = Content::decode(&bytes);
        let _ = AccountRecord::decode(&bytes);
    }

    #[test]
    fn decode_of_mutated_envelopes_never_panics_and_reencodes_exactly(
        e in common::envelope(), at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()
    ) {
        let mut bytes = e.encode();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        bytes.truncate(cut.index(bytes.len() + 1).max(i + 1));
        if let Ok(decoded) = Envelope::decode(&bytes) {
            // Any accepted input is canonical: it re-encodes to exactly the same bytes.
            prop_assert_eq!(decoded.encode(), bytes);
        }
    }
}
