//! Content and account record bodies: roundtrips and limits, both ways.
#![allow(clippy::unwrap_used)]

mod common;

use chatly_protocol::*;
use proptest::prelude::*;

fn message(text: String) -> Content {
    Content::Message {
        text,
        files: vec![],
        reply_to: None,
    }
}

fn file(chunks: usize, chunk_size: u32) -> FileRef {
    FileRef {
        id: [1; 32],
        name: "n".repeat(MAX_FILE_NAME_LEN),
        size: chunks as u64 * u64::from(chunk_size),
        mime: "m".repeat(MAX_MIME_LEN),
        key: [2; 32],
        chunk_size,
        chunk_hashes: vec![[3; 32]; chunks],
    }
}

/// Encodes a message bypassing `Content::encode`'s checks, to test the decoder alone.
fn raw_message(text: &str) -> Vec<u8> {
    let mut w = codec::Writer::new();
    w.u8(1).str32(text).unwrap().u8(0).u8(0);
    w.into_bytes()
}

#[test]
fn text_limit_is_16_kib_both_ways() {
    let max = "a".repeat(MAX_TEXT_LEN);
    let bytes = message(max.clone()).encode().unwrap();
    assert_eq!(Content::decode(&bytes).unwrap(), message(max.clone()));

    let over = "a".repeat(MAX_TEXT_LEN + 1);
    let too_long = ProtocolError::TooLong {
        len: MAX_TEXT_LEN + 1,
        max: MAX_TEXT_LEN,
    };
    assert_eq!(message(over.clone()).encode(), Err(too_long.clone()));
    assert_eq!(Content::decode(&raw_message(&over)), Err(too_long));
    let edit = Content::Edit {
        target: EnvelopeId::ZERO,
        text: over,
    };
    assert!(edit.encode().is_err());
}

#[test]
fn empty_message_and_reaction_are_rejected() {
    assert!(message(String::new()).encode().is_err());
    assert!(Content::decode(&raw_message("")).is_err());
    let reaction = Content::Reaction {
        target: EnvelopeId::ZERO,
        emoji: String::new(),
    };
    assert!(reaction.encode().is_err());
    let reaction = Content::Reaction {
        target: EnvelopeId::ZERO,
        emoji: "x".repeat(MAX_EMOJI_LEN + 1),
    };
    assert!(reaction.encode().is_err());
}

#[test]
fn file_limits() {
    // The largest file ref fits beside the longest text, as MAX_CHUNKS_PER_FILE promises.
    let biggest = Content::Message {
        text: "a".repeat(MAX_TEXT_LEN),
        files: vec![file(MAX_CHUNKS_PER_FILE, MAX_CHUNK_SIZE)],
        reply_to: Some(EnvelopeId([9; 32])),
    };
    let bytes = biggest.encode().unwrap();
    assert!(bytes.len() <= MAX_CONTENT_LEN);
    assert_eq!(Content::decode(&bytes).unwrap(), biggest);

    let with = |f: FileRef| {
        Content::Message {
            text: "x".into(),
            files: vec![f],
            reply_to: None,
        }
        .encode()
    };
    assert!(with(file(MAX_CHUNKS_PER_FILE + 1, 1)).is_err());
    assert!(with(file(1, 0)).is_err(), "zero chunk size");
    assert!(with(file(1, MAX_CHUNK_SIZE + 1)).is_err());
    let mut f = file(2, 10);
    f.size = 21;
    assert!(with(f.clone()).is_err(), "21 bytes need 3 chunks of 10");
    f.size = 11;
    assert!(with(f.clone()).is_ok());
    f.name = "a/b".into();
    assert!(with(f.clone()).is_err());
    f.name = String::new();
    assert!(with(f).is_err());
    let mut f = file(0, 1);
    f.name = "n".repeat(MAX_FILE_NAME_LEN + 1);
    assert!(with(f).is_err());

    let eleven = Content::Message {
        text: String::new(),
        files: vec![file(0, 1); MAX_FILES_PER_MESSAGE + 1],
        reply_to: None,
    };
    assert!(eleven.encode().is_err());
    let ten = Content::Message {
        text: String::new(),
        files: vec![file(0, 1); MAX_FILES_PER_MESSAGE],
        reply_to: None,
    };
    assert_eq!(Content::decode(&ten.encode().unwrap()).unwrap(), ten);
    // Ten files of the largest chunk list do not fit one envelope.
    let too_big = Content::Message {
        text: String::new(),
        files: vec![file(MAX_CHUNKS_PER_FILE, 1); 10],
        reply_to: None,
    };
    assert!(matches!(
        too_big.encode(),
        Err(ProtocolError::TooLong { .. })
    ));
}

#[test]
fn truncated_trailing_and_bad_flags() {
    let content = Content::Message {
        text: "hi".into(),
        files: vec![],
        reply_to: Some(EnvelopeId([4; 32])),
    };
    let bytes = content.encode().unwrap();
    for cut in 0..bytes.len() {
        assert!(Content::decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(
        Content::decode(&long),
        Err(ProtocolError::TrailingBytes { count: 1 })
    );
    let mut bad_flag = raw_message("hi");
    *bad_flag.last_mut().unwrap() = 2;
    assert!(Content::decode(&bad_flag).is_err());
    assert!(Content::decode(&[5]).is_err(), "unknown tag");
}

#[test]
fn delete_layout() {
    let bytes = Content::Delete {
        target: EnvelopeId([0xee; 32]),
    }
    .encode()
    .unwrap();
    let mut expected = vec![3];
    expected.extend([0xee; 32]);
    assert_eq!(bytes, expected);
}

fn record() -> AccountRecord {
    AccountRecord {
        username: "alice".into(),
        display_name: "Alice".into(),
        bio: String::new(),
        avatar: None,
        dh_public: [1; 32],
        prekey_public: [2; 32],
        prekey_created_ms: 5,
        prekey_signature: [3; 64],
        node_public: [4; 32],
        node_signature: [5; 64],
        node_addrs: Vec::new(),
    }
}

#[test]
fn account_record_payloads() {
    let r = record();
    let body = r.encode().unwrap();
    let author = AccountId([9; 32]);
    let payload = r.cosign_payload(&author, 7);
    assert_eq!(&payload[..32], &[9; 32]);
    assert_eq!(&payload[32..40], &7u64.to_be_bytes());
    assert_eq!(&payload[40..], &body[..body.len() - 64]);
    let mut prekey = vec![2; 32];
    prekey.extend(5u64.to_be_bytes());
    assert_eq!(r.prekey_payload(), prekey);

    let mut bad = r.clone();
    bad.username = "Bad Name".into();
    assert!(bad.encode().is_err());
    assert_eq!(
        bad.cosign_payload(&author, 7).len(),
        40,
        "invalid records co-sign no body"
    );
}

#[test]
fn account_record_limits() {
    let mut r = record();
    r.display_name = "é".repeat(MAX_DISPLAY_NAME_CHARS);
    r.bio = "😀".repeat(MAX_BIO_CHARS);
    assert_eq!(AccountRecord::decode(&r.encode().unwrap()).unwrap(), r);
    r.bio.push('x');
    assert!(r.encode().is_err());
    let mut r = record();
    r.display_name = "a".repeat(MAX_DISPLAY_NAME_CHARS + 1);
    assert!(r.encode().is_err());
    let bytes = record().encode().unwrap();
    for cut in 0..bytes.len() {
        assert!(
            AccountRecord::decode(&bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
}

#[test]
fn account_records_carry_home_node_addresses_and_old_records_still_decode() {
    let old = record();
    let old_bytes = old.encode().unwrap();
    let mut r = record();
    r.node_addrs = vec![
        "/ip4/203.0.113.9/tcp/4001".into(),
        "/ip4/203.0.113.9/tcp/4001/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo/p2p-circuit".into(),
    ];
    let bytes = r.encode().unwrap();
    assert_eq!(
        &bytes[..old_bytes.len()],
        &old_bytes[..],
        "appended after the old fields"
    );
    assert_eq!(AccountRecord::decode(&bytes).unwrap(), r);
    assert_eq!(AccountRecord::decode(&old_bytes).unwrap(), old);
    // The co-signature covers the same bytes with or without addresses.
    assert_eq!(
        r.cosign_payload(&AccountId([1; 32]), 2),
        old.cosign_payload(&AccountId([1; 32]), 2)
    );

    let mut zero = old_bytes.clone();
    zero.push(0);
    assert!(
        AccountRecord::decode(&zero).is_err(),
        "an empty list is written as nothing"
    );
    r.node_addrs = vec!["/ip4/1.2.3.4/tcp/1".into(); MAX_NODE_ADDRS + 1];
    assert!(r.encode().is_err());
    r.node_addrs = vec!["x".repeat(MAX_NODE_ADDR_LEN + 1)];
    assert!(r.encode().is_err());
}

proptest! {
    #[test]
    fn content_roundtrip(c in common::content()) {
        let bytes = c.encode().unwrap();
        let decoded = Content::decode(&bytes).unwrap();
        prop_assert_eq!(&decoded, &c);
        prop_assert_eq!(decoded.encode().unwrap(), bytes);
    }

    #[test]
    fn account_record_roundtrip(r in common::account_record()) {
        let bytes = r.encode().unwrap();
        let decoded = AccountRecord::decode(&bytes).unwrap();
        prop_assert_eq!(&decoded, &r);
        prop_assert_eq!(decoded.encode().unwrap(), bytes);
    }

    #[test]
    fn mutated_bodies_never_panic_and_stay_canonical(
        c in common::content(), r in common::account_record(), at in any::<prop::sample::Index>(), byte in any::<u8>()
    ) {
        let mut bytes = c.encode().unwrap();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        if let Ok(decoded) = Content::decode(&bytes) {
            prop_assert_eq!(decoded.encode().unwrap(), bytes);
        }
        let mut bytes = r.encode().unwrap();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        if let Ok(decoded) = AccountRecord::decode(&bytes) {
            prop_assert_eq!(decoded.encode().unwrap(), bytes);
        }
    }
}
