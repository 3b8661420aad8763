//! Edits, deletions and reactions: building the stored operation from content, and folding a
//! message's operations into what it shows. The fold is a pure function of the set of
//! operations, so nodes that received them in any order show the same message.
//!
//! Rules: only the message's author edits it, and the newest edit (by the author's timestamp,
//! then id) wins; the author or a room admin deletes it, for good; a reaction toggles one
//! (person, emoji) pair, so an odd number of toggles means "reacted".

use std::collections::{BTreeMap, BTreeSet};

use chatly_crypto::wrap;
use chatly_protocol::{AccountId, Content, Envelope, EnvelopeId};

use super::groups::PRIVATE_CONTENT_LABEL;
use crate::store::ops::{OpKind, OpRow};

/// What a message shows once its operations are applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Folded {
    /// The newest edit's text and time, if edited.
    pub edit: Option<(String, u64)>,
    /// Deleted by its author or an admin.
    pub deleted: bool,
    /// Emoji → who reacted with it (hex ids, sorted).
    pub reactions: BTreeMap<String, Vec<String>>,
}

/// The operation `content` is, as `viewer` stores it; `seal` protects private payloads at rest.
pub fn op_row(
    viewer: [u8; 32],
    envelope: &Envelope,
    id: EnvelopeId,
    content: &Content,
    seal: impl Fn(&[u8]) -> Vec<u8>,
) -> Option<OpRow> {
    let (target, kind, payload) = match content {
        Content::Edit { target, text } => (target, OpKind::Edit, text.as_bytes()),
        Content::Delete { target } => (target, OpKind::Delete, &[][..]),
        Content::Reaction { target, emoji } => (target, OpKind::Reaction, emoji.as_bytes()),
        Content::Message { .. } | Content::RoomInfo { .. } => return None,
    };
    Some(OpRow {
        viewer,
        id: id.0,
        room: envelope.header.room.0,
        target: target.0,
        author: envelope.header.author.0,
        kind,
        payload: seal(payload),
        at: envelope.header.timestamp_ms,
    })
}

/// Seals a private payload under an account's master key.
pub fn seal_private(master: &[u8; 32]) -> impl Fn(&[u8]) -> Vec<u8> + '_ {
    move |plain| wrap::seal(master, PRIVATE_CONTENT_LABEL, plain)
}

/// Folds `ops` (any order) into what a message by `author` shows. `open` turns a stored payload
/// back into its bytes (identity for public rows, unsealing for private ones).
pub fn fold(
    author: [u8; 32],
    ops: &[OpRow],
    admins: &BTreeSet<AccountId>,
    open: impl Fn(&[u8]) -> Option<Vec<u8>>,
) -> Folded {
    let mut sorted: Vec<&OpRow> = ops.iter().collect();
    sorted.sort_by_key(|op| (op.at, op.id));
    let mut folded = Folded::default();
    let mut toggles: BTreeMap<(String, [u8; 32]), usize> = BTreeMap::new();
    for op in sorted {
        match op.kind {
            OpKind::Edit if op.author == author => {
                if let Some(text) = open(&op.payload).and_then(|b| String::from_utf8(b).ok()) {
                    folded.edit = Some((text, op.at));
                }
            }
            OpKind::Delete if op.author == author || admins.contains(&AccountId(op.author)) => {
                folded.deleted = true;
            }
            OpKind::Reaction => {
                if let Some(emoji) = open(&op.payload).and_then(|b| String::from_utf8(b).ok()) {
                    *toggles.entry((emoji, op.author)).or_default() += 1;
                }
            }
            _ => {}
        }
    }
    for ((emoji, who), count) in toggles {
        if count % 2 == 1 {
            folded
                .reactions
                .entry(emoji)
                .or_default()
                .push(hex::encode(who));
        }
    }
    if folded.deleted {
        folded.edit = None;
        folded.reactions.clear();
    }
    folded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(id: u8, author: u8, kind: OpKind, payload: &str, at: u64) -> OpRow {
        OpRow {
            viewer: [0; 32],
            id: [id; 32],
            room: [0; 16],
            target: [9; 32],
            author: [author; 32],
            kind,
            payload: payload.as_bytes().to_vec(),
            at,
        }
    }

    fn fold_all(ops: &[OpRow], admins: &[u8]) -> Folded {
        let admins = admins.iter().map(|a| AccountId([*a; 32])).collect();
        fold([1; 32], ops, &admins, |b| Some(b.to_vec()))
    }

    #[test]
    fn the_newest_edit_by_the_author_wins_in_any_order() {
        let ops = vec![
            op(1, 1, OpKind::Edit, "first", 10),
            op(2, 1, OpKind::Edit, "second", 20),
            op(3, 2, OpKind::Edit, "not yours", 30),
        ];
        let forward = fold_all(&ops, &[]);
        let mut reversed = ops.clone();
        reversed.reverse();
        assert_eq!(forward, fold_all(&reversed, &[]));
        assert_eq!(forward.edit, Some(("second".into(), 20)));
    }

    #[test]
    fn reactions_toggle_and_deletes_need_the_author_or_an_admin() {
        let ops = vec![
            op(1, 2, OpKind::Reaction, "👍", 1),
            op(2, 3, OpKind::Reaction, "👍", 2),
            op(3, 2, OpKind::Reaction, "👍", 3),
            op(4, 3, OpKind::Reaction, "🎉", 4),
            op(5, 4, OpKind::Delete, "", 5),
        ];
        let folded = fold_all(&ops, &[]);
        assert!(!folded.deleted, "4 is neither author nor admin");
        assert_eq!(folded.reactions["👍"], vec![hex::encode([3u8; 32])]);
        assert_eq!(folded.reactions["🎉"], vec![hex::encode([3u8; 32])]);
        let by_admin = fold_all(&ops, &[4]);
        assert!(by_admin.deleted);
        assert!(by_admin.reactions.is_empty());
        let mut with_author = ops.clone();
        with_author.push(op(6, 1, OpKind::Delete, "", 6));
        assert!(fold_all(&with_author, &[]).deleted);
    }
}
