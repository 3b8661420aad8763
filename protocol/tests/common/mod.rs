//! Proptest strategies shared by the integration tests.
#![allow(dead_code)]

use chatly_protocol::*;
use proptest::collection::vec;
use proptest::prelude::*;

pub fn file_ref() -> impl Strategy<Value = FileRef> {
    (1u32..=MAX_CHUNK_SIZE, 0usize..6)
        .prop_flat_map(|(chunk_size, count)| {
            let cs = u64::from(chunk_size);
            let sizes = if count == 0 {
                0..=0
            } else {
                (count as u64 - 1) * cs + 1..=count as u64 * cs
            };
            (
                any::<[u8; 32]>(),
                "[a-zA-Z0-9 ._é-]{1,40}",
                sizes,
                "[a-z0-9/+.-]{0,30}",
                any::<[u8; 32]>(),
                Just(chunk_size),
                vec(any::<[u8; 32]>(), count),
            )
        })
        .prop_map(
            |(id, name, size, mime, key, chunk_size, chunk_hashes)| FileRef {
                id,
                name,
                size,
                mime,
                key,
                chunk_size,
                chunk_hashes,
            },
        )
}

pub fn envelope_id() -> impl Strategy<Value = EnvelopeId> {
    any::<[u8; 32]>().prop_map(EnvelopeId)
}

pub fn content() -> impl Strategy<Value = Content> {
    prop_oneof![
        (
            "\\PC{1,200}",
            vec(file_ref(), 0..3),
            proptest::option::of(envelope_id())
        )
            .prop_map(|(text, files, reply_to)| Content::Message {
                text,
                files,
                reply_to
            }),
        (vec(file_ref(), 1..3), proptest::option::of(envelope_id())).prop_map(
            |(files, reply_to)| Content::Message {
                text: String::new(),
                files,
                reply_to
            }
        ),
        (envelope_id(), "\\PC{0,200}").prop_map(|(target, text)| Content::Edit { target, text }),
        envelope_id().prop_map(|target| Content::Delete { target }),
        (envelope_id(), "\\PC{1,8}")
            .prop_map(|(target, emoji)| Content::Reaction { target, emoji }),
        ("[a-z ]{1,64}", "[a-z ]{0,100}")
            .prop_filter("a name", |(n, _): &(String, String)| !n.trim().is_empty())
            .prop_map(|(name, description)| Content::RoomInfo { name, description }),
    ]
}

pub fn account_record() -> impl Strategy<Value = AccountRecord> {
    (
        "[a-z0-9_.-]{3,32}",
        "\\PC{0,64}",
        "\\PC{0,280}",
        proptest::option::of(file_ref()),
        any::<([u8; 32], [u8; 32], u64)>(),
        any::<[u8; 64]>(),
        any::<[u8; 32]>(),
        any::<[u8; 64]>(),
        proptest::collection::vec("/ip4/[0-9.]{7,15}/tcp/[0-9]{1,5}", 0..4),
    )
        .prop_map(
            |(
                username,
                display_name,
                bio,
                avatar,
                (dh_public, prekey_public, prekey_created_ms),
                prekey_signature,
                node_public,
                node_signature,
                node_addrs,
            )| {
                AccountRecord {
                    username,
                    display_name,
                    bio,
                    avatar,
                    dh_public,
                    prekey_public,
                    prekey_created_ms,
                    prekey_signature,
                    node_public,
                    node_signature,
                    node_addrs,
                }
            },
        )
}

/// A structurally valid header: room matches kind, prev zero at seq 1, suite rules.
pub fn header() -> impl Strategy<Value = Header> {
    let kinds = prop_oneof![
        Just(Kind::AccountRecord),
        Just(Kind::Content),
        Just(Kind::Control),
        Just(Kind::Sealed),
        Just(Kind::KeyDelivery),
        Just(Kind::Presence),
    ];
    (
        kinds,
        any::<[u8; 16]>(),
        any::<[u8; 32]>(),
        1u64..=u64::MAX,
        any::<[u8; 32]>(),
        any::<u64>(),
    )
        .prop_flat_map(|(kind, room, author, seq, prev, ts)| {
            let room = match kind {
                Kind::AccountRecord | Kind::Presence => RoomId::DIRECTORY,
                Kind::Content => RoomId::PUBLIC,
                _ if room == [0; 16] || room == [0xff; 16] => RoomId([7; 16]),
                _ => RoomId(room),
            };
            let prev = if seq == 1 {
                EnvelopeId::ZERO
            } else if prev == [0; 32] {
                EnvelopeId([1; 32])
            } else {
                EnvelopeId(prev)
            };
            let sealed = match kind {
                Kind::Sealed => Just(true).boxed(),
                Kind::Control | Kind::KeyDelivery => any::<bool>().boxed(),
                _ => Just(false).boxed(),
            };
            (sealed, any::<([u8; 16], u32, [u8; 12])>()).prop_map(
                move |(sealed, (key_id, key_index, nonce))| {
                    let mut h = Header::plain(kind, room, AccountId(author), seq, prev, ts);
                    if sealed {
                        h.key_suite = KEY_SUITE_SENDER_CHAIN;
                        h.key_id = key_id;
                        h.key_index = key_index;
                        h.nonce = nonce;
                    }
                    h
                },
            )
        })
}

pub fn envelope() -> impl Strategy<Value = Envelope> {
    (header(), vec(any::<u8>(), 0..600), any::<[u8; 64]>()).prop_map(|(header, body, signature)| {
        Envelope {
            header,
            body,
            signature,
        }
    })
}
