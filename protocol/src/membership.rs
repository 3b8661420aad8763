//! A room's membership as a plain state machine: the control log folded in a fixed order
//! (docs/protocol.md, "Control operations"). No IO; every node that holds the same control
//! envelopes computes the same state, whatever order they arrived in.

use std::collections::{BTreeMap, BTreeSet};

use crate::control::ControlOp;
use crate::{AccountId, EnvelopeId, RoomId};

/// One control envelope, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlEntry {
    /// Envelope id (ties in time are broken by it).
    pub id: EnvelopeId,
    /// Who issued it.
    pub author: AccountId,
    /// Its sequence number in the room.
    pub seq: u64,
    /// The author's timestamp (the fold's primary order).
    pub timestamp_ms: u64,
    /// The operation.
    pub op: ControlOp,
}

/// What kind of private room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoomKind {
    /// A group with admins.
    Group,
    /// Two people; no admins.
    Direct,
}

/// The resolved state of a room.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoomState {
    /// `None` until a valid creation is known.
    pub kind: Option<RoomKind>,
    /// Who created it.
    pub creator: Option<AccountId>,
    /// Current members, in join order.
    pub members: Vec<AccountId>,
    /// Current admins (groups only).
    pub admins: BTreeSet<AccountId>,
    /// Former members and their last counted sequence number.
    pub departed: BTreeMap<AccountId, u64>,
    /// The valid operations, in fold order.
    pub applied: Vec<EnvelopeId>,
}

/// Folds a room's control entries into its state.
pub fn resolve(room: RoomId, entries: &[ControlEntry]) -> RoomState {
    let mut sorted: Vec<&ControlEntry> = entries.iter().collect();
    sorted.sort_by_key(|e| (e.timestamp_ms, e.id));
    let mut state = RoomState::default();
    for entry in sorted {
        if state.apply(room, entry) {
            state.applied.push(entry.id);
            state.ensure_admin();
        }
    }
    state
}

impl RoomState {
    /// Whether `who` is a member now.
    pub fn is_member(&self, who: &AccountId) -> bool {
        self.members.contains(who)
    }

    /// Whether `who` is an admin now.
    pub fn is_admin(&self, who: &AccountId) -> bool {
        self.admins.contains(who)
    }

    /// Whether an envelope from `author` with sequence number `seq` counts: a member now, or a
    /// former member up to its last counted sequence number.
    pub fn may_post(&self, author: &AccountId, seq: u64) -> bool {
        self.is_member(author) || self.departed.get(author).is_some_and(|last| seq <= *last)
    }

    /// Would `op` by `author` be valid as the next operation?
    pub fn check(&self, author: &AccountId, op: &ControlOp) -> Result<(), &'static str> {
        let Some(kind) = self.kind else {
            return Err("the room does not exist");
        };
        if !self.is_member(author) {
            return Err("not a member of this room");
        }
        match op {
            ControlOp::Create { .. } | ControlOp::CreateDirect { .. } => {
                Err("the room exists already")
            }
            ControlOp::Leave => Ok(()),
            _ if kind == RoomKind::Direct => {
                Err("a direct room has no admins: members can only leave")
            }
            _ if !self.is_admin(author) => Err("only an admin can do that"),
            ControlOp::Add { member } if self.is_member(member) => Err("already a member"),
            ControlOp::Add { .. } if self.members.len() >= crate::control::MAX_ROOM_MEMBERS => {
                Err("the room is full")
            }
            ControlOp::Add { .. } => Ok(()),
            ControlOp::Remove { member, .. } if member == author => {
                Err("leave instead of removing yourself")
            }
            ControlOp::Remove { member, .. } if !self.is_member(member) => Err("not a member"),
            ControlOp::Remove { .. } => Ok(()),
            ControlOp::SetRole { member, .. } if !self.is_member(member) => Err("not a member"),
            ControlOp::SetRole { .. } => Ok(()),
        }
    }

    /// Applies one entry if valid; returns whether it was.
    fn apply(&mut self, room: RoomId, entry: &ControlEntry) -> bool {
        let author = entry.author;
        match (&entry.op, self.kind) {
            (ControlOp::Create { members }, None) => {
                self.kind = Some(RoomKind::Group);
                self.creator = Some(author);
                self.members.push(author);
                self.members
                    .extend(members.iter().filter(|m| **m != author));
                self.admins.insert(author);
                true
            }
            (ControlOp::CreateDirect { peer }, None) => {
                if *peer == author || room != RoomId::direct(&author, peer) {
                    return false;
                }
                self.kind = Some(RoomKind::Direct);
                self.creator = Some(author);
                self.members = vec![author, *peer];
                true
            }
            (_, None) => false,
            (op, Some(_)) => {
                if self.check(&author, op).is_err() {
                    return false;
                }
                match op {
                    ControlOp::Add { member } => {
                        self.departed.remove(member);
                        self.members.push(*member);
                    }
                    ControlOp::Remove { member, last_seq } => self.depart(*member, *last_seq),
                    ControlOp::Leave => self.depart(author, entry.seq),
                    ControlOp::SetRole {
                        member,
                        admin: true,
                    } => {
                        self.admins.insert(*member);
                    }
                    ControlOp::SetRole {
                        member,
                        admin: false,
                    } => {
                        self.admins.remove(member);
                    }
                    ControlOp::Create { .. } | ControlOp::CreateDirect { .. } => return false,
                }
                true
            }
        }
    }

    fn depart(&mut self, member: AccountId, last_seq: u64) {
        self.members.retain(|m| *m != member);
        self.admins.remove(&member);
        self.departed.insert(member, last_seq);
    }

    /// A group never has zero admins while it has members: the earliest-joined member steps up.
    fn ensure_admin(&mut self) {
        if self.kind == Some(RoomKind::Group)
            && self.admins.is_empty()
            && let Some(first) = self.members.first()
        {
            self.admins.insert(*first);
        }
    }
}

#[cfg(test)]
mod tests;
