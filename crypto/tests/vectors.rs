//! Known-answer vectors, frozen: each is listed in docs/protocol.md "Test vectors", and a change
//! here is a protocol change. They were cross-checked when frozen against independent
//! implementations (OpenSSL Ed25519, a from-scratch Python BLAKE3).
#![allow(clippy::unwrap_used)]

use chatly_crypto::*;
use chatly_protocol::labels;
use chatly_protocol::{
    AccountId, Content, Envelope, EnvelopeId, Header, Kind, RoomId, signing_bytes,
};

const SEED: [u8; 32] = [7; 32];
const PAYLOAD: &[u8] = b"chatly test vector";

#[test]
fn labels_match_the_protocol_crate() {
    assert_eq!(LABEL_ENVELOPE_ID, labels::LABEL_ENVELOPE_ID);
    assert_eq!(LABEL_DIRECT_ROOM, labels::LABEL_DIRECT_ROOM);
    assert_eq!(LABEL_FINGERPRINT, labels::LABEL_FINGERPRINT);
    assert_eq!(wrap::LABEL_MASTER_WRAP, labels::LABEL_MASTER_WRAP);
}

#[test]
fn labelled_layout() {
    assert_eq!(labelled("ab", b"xyz"), b"\x02abxyz");
    let signed = labelled(labels::LABEL_ENVELOPE, b"");
    assert_eq!(signed[0], 18);
    assert_eq!(&signed[1..], b"chatly/v1/envelope");
}

#[test]
fn signature_vector() {
    let key = IdentityKey::from_bytes(&SEED);
    assert_eq!(
        hex::encode(key.public()),
        "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
    );
    let signature = key.sign(labels::LABEL_ENVELOPE, PAYLOAD);
    assert_eq!(
        hex::encode(signature),
        "69087745a041eebd94df11584ec58c3ff944e05e4cef3d5720c3ecc58fb7b6eef725a4fc2de4ba8a469377e1c794da91c1ddc0e5e5818c247100810b8889bc06"
    );
    assert_eq!(
        verify(&key.public(), labels::LABEL_ENVELOPE, PAYLOAD, &signature),
        Ok(())
    );
}

/// The protocol crate's golden envelope (tests/envelope.rs there), really signed by SEED's key.
#[test]
fn signed_envelope_and_envelope_id_vector() {
    let key = IdentityKey::from_bytes(&SEED);
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
        AccountId(key.public()),
        1,
        EnvelopeId::ZERO,
        1_700_000_000_000,
    );
    let signature = key.sign(
        labels::LABEL_ENVELOPE,
        &signing_bytes(&header, &body).unwrap(),
    );
    let bytes = Envelope {
        header,
        body,
        signature,
    }
    .encode();
    assert_eq!(
        hex::encode(signature),
        "e7b6eef050ae99e1007adef181489461a16a87f6349e186b54a3a8741f17de783caf0a651ed5cbea2c12bf5a15246279832ceb755d4a182c3ba556d685c1950a"
    );
    assert_eq!(
        hex::encode(envelope_id(&bytes)),
        "512e52477353061d1d132fd13bdab7f7d8c53ee4b61b31634a6e563902e2a6c3"
    );
    assert_eq!(
        verify(
            &key.public(),
            labels::LABEL_ENVELOPE,
            Envelope::signed_part(&bytes),
            &signature
        ),
        Ok(())
    );
}

#[test]
fn envelope_id_of_fixed_bytes() {
    assert_eq!(
        hex::encode(envelope_id(b"")),
        "c4a25287f6a46ae0fd85ce3af8510b7e6bfea3a56ba8eb49dc267d288b73562d"
    );
    assert_eq!(
        envelope_id(b"abc"),
        blake3::derive_key("chatly/v1/envelope-id", b"abc")
    );
}

#[test]
fn direct_room_vector() {
    // The derivation lives in `chatly_protocol::RoomId::direct`; the vector is checked here
    // against crypto's own derive_key, so the two crates agree.
    let (a, b) = (AccountId([1u8; 32]), AccountId([2u8; 32]));
    assert_eq!(
        hex::encode(RoomId::direct(&a, &b).0),
        "ba56d01f6099df7bab9bd199c5135ce0"
    );
    assert_eq!(RoomId::direct(&a, &b), RoomId::direct(&b, &a));
    let mut material = a.0.to_vec();
    material.extend(b.0);
    assert_eq!(
        RoomId::direct(&b, &a).0[..],
        derive_key(labels::LABEL_DIRECT_ROOM, &material)[..16]
    );
}

#[test]
fn fingerprint_vector() {
    let public = IdentityKey::from_bytes(&SEED).public();
    let fp = fingerprint(&public);
    assert_eq!(
        fp,
        "77095 56734 17163 64326 42146 08794 21014 52939 22366 06183 57551 80982"
    );
    assert_eq!(fp.len(), 12 * 5 + 11);
    assert!(
        fp.split(' ')
            .all(|g| g.len() == 5 && g.bytes().all(|c| c.is_ascii_digit()))
    );
    assert_ne!(fingerprint(&[1; 32]), fp);
}
