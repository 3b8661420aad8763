//! Control-log resolution (membership): any sequence of control operations, from any of a few
//! authors, at any times, folds without panicking into a state that obeys the room invariants,
//! and the same entries in another arrival order fold into the same state.
#![no_main]
use chatly_protocol::control::ControlOp;
use chatly_protocol::membership::{ControlEntry, RoomKind, resolve};
use chatly_protocol::{AccountId, EnvelopeId, RoomId};
use libfuzzer_sys::fuzz_target;

/// A handful of accounts, so operations name each other often.
fn account(n: u8) -> AccountId {
    AccountId([n % 5 + 1; 32])
}

/// Entries from the input: per entry one author byte, a 2-byte time, a 1-byte length, then
/// that many bytes of a control operation (entries whose operation does not decode are skipped,
/// as a node would reject them).
fn entries(data: &[u8]) -> (RoomId, Vec<ControlEntry>) {
    let Some((&room_byte, mut rest)) = data.split_first() else {
        return (RoomId([9; 16]), Vec::new());
    };
    // Half the time a direct room of two of the accounts, so CreateDirect can be valid.
    let room = if room_byte & 1 == 1 {
        RoomId::direct(&account(room_byte >> 1), &account(room_byte >> 4))
    } else {
        RoomId([room_byte; 16])
    };
    let mut out = Vec::new();
    let mut n = 0u8;
    while rest.len() >= 4 {
        let (head, tail) = rest.split_at(4);
        let len = usize::from(head[3]).min(tail.len());
        let (op_bytes, tail) = tail.split_at(len);
        rest = tail;
        n = n.wrapping_add(1);
        if let Ok(op) = ControlOp::decode(op_bytes) {
            out.push(ControlEntry {
                id: EnvelopeId([n; 32]),
                author: account(head[0]),
                seq: u64::from(n),
                timestamp_ms: u64::from(u16::from_be_bytes([head[1], head[2]])),
                op,
            });
        }
    }
    (room, out)
}

fuzz_target!(|data: &[u8]| {
    let (room, log) = entries(data);
    let state = resolve(room, &log);
    let mut reversed = log.clone();
    reversed.reverse();
    assert_eq!(resolve(room, &reversed), state, "arrival order changed the state");
    let mut members = state.members.clone();
    members.sort();
    members.dedup();
    assert_eq!(members.len(), state.members.len(), "a member twice");
    assert!(state.admins.iter().all(|a| state.is_member(a)), "an admin who is not a member");
    assert!(state.departed.keys().all(|d| !state.is_member(d)), "departed yet a member");
    match state.kind {
        Some(RoomKind::Direct) => {
            assert!(state.admins.is_empty(), "admins in a direct room");
            assert!(state.members.len() <= 2, "more than two in a direct room");
        }
        Some(RoomKind::Group) => {
            assert!(
                state.members.is_empty() || !state.admins.is_empty(),
                "a group with members and no admin"
            );
        }
        None => assert!(state.members.is_empty(), "members without a creation"),
    }
    assert!(state.applied.iter().all(|id| log.iter().any(|e| e.id == *id)));
});
