use super::*;
use proptest::prelude::*;

fn ranges_from(seqs: &std::collections::BTreeSet<u64>) -> Vec<SeqRange> {
    let mut out: Vec<SeqRange> = Vec::new();
    for &seq in seqs {
        match out.last_mut() {
            Some(last) if last.hi + 1 == seq => last.hi = seq,
            _ => out.push(SeqRange { lo: seq, hi: seq }),
        }
    }
    out
}

fn seqs_of(ranges: &[SeqRange]) -> std::collections::BTreeSet<u64> {
    ranges.iter().flat_map(|r| r.lo..=r.hi).collect()
}

fn arb_set() -> impl Strategy<Value = std::collections::BTreeSet<u64>> {
    proptest::collection::btree_set(1u64..200, 0..80)
}

proptest! {
    #[test]
    fn subtract_is_set_difference(a in arb_set(), b in arb_set()) {
        let diff = subtract(&ranges_from(&a), &ranges_from(&b));
        let expected: std::collections::BTreeSet<u64> = a.difference(&b).copied().collect();
        prop_assert_eq!(seqs_of(&diff), expected);
        // The result is itself ascending and disjoint.
        prop_assert!(diff.windows(2).all(|w| w[0].hi < w[1].lo));
    }

    #[test]
    fn held_through_is_the_last_number_below_which_they_hold_all_of_ours(a in arb_set(), b in arb_set()) {
        let through = held_through(&ranges_from(&a), &ranges_from(&b));
        // Everything of ours up to it is theirs...
        prop_assert!(a.iter().filter(|s| **s <= through).all(|s| b.contains(s)));
        // ...and it stops just below the first of ours they lack, or reaches the last of either.
        match a.difference(&b).next() {
            Some(lacking) => prop_assert_eq!(through, lacking - 1),
            None => prop_assert_eq!(through, a.iter().chain(b.iter()).copied().max().unwrap_or(0)),
        }
    }

    #[test]
    fn missing_plus_ours_covers_theirs(a in arb_set(), b in arb_set()) {
        let author = AccountId([3; 32]);
        let ours = vec![AuthorRanges { author, ranges: ranges_from(&a) }];
        let theirs = vec![AuthorRanges { author, ranges: ranges_from(&b) }];
        let wants = missing(RoomId([1; 16]), &ours, &theirs, usize::MAX);
        let wanted: std::collections::BTreeSet<u64> = wants.iter().flat_map(|w| w.range.lo..=w.range.hi).collect();
        prop_assert_eq!(wanted, b.difference(&a).copied().collect());
    }

    #[test]
    fn requests_roundtrip(digests in proptest::collection::vec((any::<[u8; 16]>(), any::<[u8; 16]>()), 0..40),
                          wants in proptest::collection::vec((any::<[u8; 16]>(), any::<[u8; 32]>(), 1u64..u64::MAX, 0u64..1000), 0..40),
                          max in any::<u32>()) {
        let summary = Request::Summary(digests.into_iter().map(|(r, d)| RoomDigest { room: RoomId(r), digest: d }).collect());
        prop_assert_eq!(Request::decode(&summary.encode().unwrap()).unwrap(), summary);
        let fetch = Request::Fetch { max_bytes: max, wants: wants.into_iter().map(|(r, a, lo, len)| Want {
            room: RoomId(r), author: AccountId(a), range: SeqRange { lo, hi: lo.saturating_add(len) } }).collect() };
        prop_assert_eq!(Request::decode(&fetch.encode().unwrap()).unwrap(), fetch);
    }

    #[test]
    fn responses_roundtrip(sets in proptest::collection::vec((any::<[u8; 32]>(), arb_set()), 0..10),
                           envelopes in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20),
                           more in any::<bool>()) {
        let authors: Vec<AuthorRanges> = sets.iter().map(|(a, s)| AuthorRanges { author: AccountId(*a), ranges: ranges_from(s).into_iter().take(MAX_RANGES_PER_AUTHOR).collect() }).collect();
        let heads = Response::Heads(vec![
            RoomHeads { room: RoomId([1; 16]), status: RoomStatus::Same },
            RoomHeads { room: RoomId([2; 16]), status: RoomStatus::Unserved },
            RoomHeads { room: RoomId([3; 16]), status: RoomStatus::Differs(authors) },
        ]);
        prop_assert_eq!(Response::decode(&heads.encode().unwrap()).unwrap(), heads);
        let page = Response::Page { more, envelopes };
        prop_assert_eq!(Response::decode(&page.encode().unwrap()).unwrap(), page);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let _ = Request::decode(&bytes);
        let _ = Response::decode(&bytes);
    }
}

#[test]
fn enormous_counts_are_refused_before_allocating() {
    for prefix in [
        vec![TAG_PAGE, 0],
        vec![TAG_HEADS],
        vec![
            TAG_HEADS,
            0,
            0,
            0,
            1,
            9,
            9,
            9,
            9,
            9,
            9,
            9,
            9,
            9,
            9,
            9,
            9,
            9,
            9,
            9,
            9,
            STATUS_DIFFERS,
        ],
    ] {
        let mut bytes = prefix;
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(Response::decode(&bytes).is_err());
    }
    for prefix in [vec![TAG_SUMMARY], vec![TAG_FETCH, 0, 0, 0, 0]] {
        let mut bytes = prefix;
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(Request::decode(&bytes).is_err());
    }
}

#[test]
fn overlapping_or_empty_ranges_are_refused() {
    let author = AccountId([1; 32]);
    for ranges in [
        vec![SeqRange { lo: 0, hi: 3 }],
        vec![SeqRange { lo: 5, hi: 4 }],
        vec![SeqRange { lo: 1, hi: 5 }, SeqRange { lo: 5, hi: 9 }],
    ] {
        let mut w = Writer::new();
        w.u8(TAG_HEADS)
            .u32(1)
            .fixed(&[0; 16])
            .u8(STATUS_DIFFERS)
            .u32(1)
            .fixed(&author.0)
            .u32(ranges.len() as u32);
        for r in &ranges {
            w.u64(r.lo).u64(r.hi);
        }
        assert!(Response::decode(&w.into_bytes()).is_err(), "{ranges:?}");
    }
}

#[test]
fn golden_summary_encoding() {
    let bytes = Request::Summary(vec![RoomDigest {
        room: RoomId([0xab; 16]),
        digest: [0x01; 16],
    }])
    .encode()
    .unwrap();
    assert_eq!(
        hex::encode(bytes),
        "0100000001abababababababababababababababab01010101010101010101010101010101"
    );
}

#[test]
fn heads_entry_len_is_the_encoded_size() {
    let heads = vec![
        AuthorRanges {
            author: AccountId([1; 32]),
            ranges: vec![SeqRange { lo: 1, hi: 3 }, SeqRange { lo: 7, hi: 9 }],
        },
        AuthorRanges {
            author: AccountId([2; 32]),
            ranges: vec![SeqRange { lo: 1, hi: 1 }],
        },
    ];
    let one = Response::Heads(vec![RoomHeads {
        room: RoomId([3; 16]),
        status: RoomStatus::Differs(heads.clone()),
    }]);
    assert_eq!(one.encode().unwrap().len(), 5 + heads_entry_len(&heads));
}

#[test]
fn the_largest_requests_fit_a_one_mebibyte_frame() {
    let fetch = Request::Fetch {
        max_bytes: MAX_PAGE_BYTES as u32,
        wants: vec![
            Want {
                room: RoomId([1; 16]),
                author: AccountId([2; 32]),
                range: SeqRange { lo: 1, hi: 2 },
            };
            MAX_WANTS
        ],
    };
    assert!(fetch.encode().unwrap().len() <= 1024 * 1024);
    let summary = Request::Summary(vec![
        RoomDigest {
            room: RoomId([1; 16]),
            digest: [0; 16],
        };
        MAX_ROOMS
    ]);
    assert!(summary.encode().unwrap().len() <= 1024 * 1024);
}
