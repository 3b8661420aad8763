//! Membership resolution: admins, removals, leaves and concurrent operations.

use super::*;
use proptest::prelude::*;

const ROOM: RoomId = RoomId([7; 16]);

fn id(n: u8) -> AccountId {
    AccountId([n; 32])
}

fn entry(n: u8, author: u8, seq: u64, t: u64, op: ControlOp) -> ControlEntry {
    ControlEntry {
        id: EnvelopeId([n; 32]),
        author: id(author),
        seq,
        timestamp_ms: t,
        op,
    }
}

fn group() -> Vec<ControlEntry> {
    vec![
        entry(
            1,
            1,
            1,
            10,
            ControlOp::Create {
                members: vec![id(2)],
            },
        ),
        entry(2, 1, 2, 20, ControlOp::Add { member: id(3) }),
    ]
}

#[test]
fn the_creator_is_the_first_admin_and_only_admins_manage() {
    let mut log = group();
    log.push(entry(
        3,
        2,
        1,
        30,
        ControlOp::Remove {
            member: id(1),
            last_seq: 5,
        },
    )); // not an admin
    log.push(entry(4, 2, 2, 31, ControlOp::Add { member: id(9) })); // not an admin
    let state = resolve(ROOM, &log);
    assert_eq!(state.members, vec![id(1), id(2), id(3)]);
    assert_eq!(state.admins, BTreeSet::from([id(1)]));
    assert_eq!(state.applied.len(), 2);
    assert_eq!(
        state.check(&id(2), &ControlOp::Add { member: id(9) }),
        Err("only an admin can do that")
    );
    assert!(
        state
            .check(&id(1), &ControlOp::Add { member: id(9) })
            .is_ok()
    );
}

#[test]
fn a_removed_member_posts_nothing_after_its_last_counted_seq() {
    let mut log = group();
    log.push(entry(
        3,
        1,
        3,
        30,
        ControlOp::Remove {
            member: id(2),
            last_seq: 4,
        },
    ));
    let state = resolve(ROOM, &log);
    assert!(!state.is_member(&id(2)));
    assert!(state.may_post(&id(2), 4));
    assert!(!state.may_post(&id(2), 5));
    assert!(!state.may_post(&id(8), 1), "never a member");
    // Re-added: it counts again.
    log.push(entry(4, 1, 4, 40, ControlOp::Add { member: id(2) }));
    assert!(resolve(ROOM, &log).may_post(&id(2), 9));
}

#[test]
fn the_last_admin_leaving_promotes_the_earliest_member() {
    let mut log = group();
    log.push(entry(3, 1, 3, 30, ControlOp::Leave));
    let state = resolve(ROOM, &log);
    assert_eq!(state.members, vec![id(2), id(3)]);
    assert_eq!(state.admins, BTreeSet::from([id(2)]));
    assert_eq!(state.departed.get(&id(1)), Some(&3));
}

#[test]
fn mutual_removal_by_two_admins_resolves_by_time_then_id() {
    let mut log = group();
    log.push(entry(
        3,
        1,
        3,
        30,
        ControlOp::SetRole {
            member: id(2),
            admin: true,
        },
    ));
    log.push(entry(
        5,
        1,
        4,
        40,
        ControlOp::Remove {
            member: id(2),
            last_seq: 1,
        },
    ));
    log.push(entry(
        4,
        2,
        2,
        40,
        ControlOp::Remove {
            member: id(1),
            last_seq: 3,
        },
    ));
    let state = resolve(ROOM, &log);
    // Same timestamp: the smaller id (entry 4, by id 2) goes first, so 1 is out and its op skipped.
    assert_eq!(state.members, vec![id(2), id(3)]);
    assert_eq!(state.admins, BTreeSet::from([id(2)]));
}

#[test]
fn direct_rooms_have_two_members_no_admins_and_a_derived_id() {
    let room = RoomId::direct(&id(1), &id(2));
    let log = vec![entry(1, 1, 1, 10, ControlOp::CreateDirect { peer: id(2) })];
    let state = resolve(room, &log);
    assert_eq!(state.kind, Some(RoomKind::Direct));
    assert_eq!(state.members, vec![id(1), id(2)]);
    assert!(state.admins.is_empty());
    assert!(
        state
            .check(&id(1), &ControlOp::Add { member: id(3) })
            .is_err()
    );
    assert!(
        resolve(ROOM, &log).kind.is_none(),
        "the id must derive from the pair"
    );
}

#[test]
fn operations_before_creation_or_from_strangers_are_skipped() {
    let log = vec![
        entry(9, 1, 9, 5, ControlOp::Add { member: id(4) }),
        entry(1, 1, 1, 10, ControlOp::Create { members: vec![] }),
        entry(2, 5, 1, 20, ControlOp::Leave),
        entry(
            3,
            6,
            1,
            30,
            ControlOp::Create {
                members: vec![id(6)],
            },
        ),
    ];
    let state = resolve(ROOM, &log);
    assert_eq!(state.members, vec![id(1)]);
    assert_eq!(state.creator, Some(id(1)));
}

fn random_op() -> impl Strategy<Value = (u8, ControlOp)> {
    let who = 1u8..6;
    (
        1u8..6,
        prop_oneof![
            who.clone().prop_map(|m| ControlOp::Add { member: id(m) }),
            (who.clone(), 0u64..5).prop_map(|(m, s)| ControlOp::Remove {
                member: id(m),
                last_seq: s
            }),
            Just(ControlOp::Leave),
            (who, any::<bool>()).prop_map(|(m, a)| ControlOp::SetRole {
                member: id(m),
                admin: a
            }),
        ],
    )
}

proptest! {
    #[test]
    fn any_arrival_order_gives_the_same_state(ops in proptest::collection::vec((random_op(), 0u64..50), 0..30), seed in any::<u64>()) {
        let mut log = vec![entry(0, 1, 1, 0, ControlOp::Create { members: vec![id(2), id(3)] })];
        for (i, ((author, op), t)) in ops.into_iter().enumerate() {
            log.push(entry(i as u8 + 1, author, i as u64 + 2, t, op));
        }
        let expected = resolve(ROOM, &log);
        let mut shuffled = log.clone();
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        let state = resolve(ROOM, &shuffled);
        prop_assert_eq!(&state, &expected);
        prop_assert!(state.members.is_empty() || !state.admins.is_empty(), "never zero admins while members remain");
        for (member, last) in &state.departed {
            if !state.is_member(member) {
                prop_assert!(!state.may_post(member, last + 1));
            }
        }
    }
}
