//! The one validation pipeline every envelope passes, from gossip, sync or a local user
//! (docs/protocol.md, "Validation pipeline"):
//!
//! [`check`] runs the steps that need no database: structure, signature, kind rules, clock skew
//! and (live gossip only) the per-author rate limit. [`apply`] runs inside a store transaction:
//! duplicate and equivocation detection, then the envelope and the rows derived from it.
//! [`apply_deferred`] does the same for a public message or sealed content arriving alone,
//! deciding by reading and leaving its rows for after its event is shown.

use chatly_protocol::{Content, Kind, MAX_CLOCK_SKEW_MS, RoomId};
use rusqlite::{Connection, Transaction};

use super::ratelimit::RateLimiter;
use super::seal::{self, Rejection, Verified};
use super::states::RoomStates;
use crate::events::NodeEvent;
use crate::store::StoreError;
use crate::store::envelopes::{self, EnvelopeRow, InsertOutcome};
use crate::store::messages::{self, MessageRow};
use crate::store::users::{self, UserRow};

/// What an envelope turns into once stored.
#[derive(Debug, Clone)]
pub enum Derived {
    /// A readable message.
    Message(MessageRow),
    /// A directory entry.
    User(UserRow),
    /// An edit, deletion or reaction on a public message.
    Op(crate::store::ops::OpRow),
    /// Nothing readable (kept for sync and later use).
    Nothing,
    /// A control operation of a group or direct room.
    Control,
    /// Sealed content or a key delivery: stored, opened later by members.
    RoomData,
}

/// An envelope that passed the stateless checks.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The verified envelope.
    pub verified: Verified,
    /// Its derived row.
    pub derived: Derived,
}

/// The result of storing a checked envelope.
#[derive(Debug, Clone)]
pub enum Applied {
    /// New: stored; the event to publish, if any.
    Stored(Option<Box<NodeEvent>>),
    /// Already held: ignore.
    Duplicate,
    /// Same author and sequence, other content: recorded; reject.
    Equivocation,
    /// Content from someone who may not post in the room (never a member, or after removal).
    NotMember,
    /// A local envelope whose predecessor is not the author's stored head: one queued before it
    /// failed to commit (see `rooms::author`).
    NotNext,
}

/// Structure, signature, kind rules, clock skew and the optional rate limit.
pub fn check(
    bytes: Vec<u8>,
    now_ms: u64,
    rate: Option<&mut RateLimiter<[u8; 32]>>,
) -> Result<Checked, Rejection> {
    classify(seal::open(bytes)?, now_ms, rate)
}

/// [`check`] for many envelopes, with the same result for each, in order: their signatures are
/// verified in one batch ([`seal::open_many`]), then each goes through the other checks (and the
/// rate limit) in turn.
pub fn check_many(
    payloads: Vec<Vec<u8>>,
    now_ms: u64,
    mut rate: Option<&mut RateLimiter<[u8; 32]>>,
) -> Vec<Result<Checked, Rejection>> {
    seal::open_many(payloads)
        .into_iter()
        .map(|opened| classify(opened?, now_ms, rate.as_deref_mut()))
        .collect()
}

/// [`check`] for an envelope this node has just signed ([`seal::seal`]): the same rules, minus
/// verifying the signature it made a moment ago (about 60 µs a post). Debug builds, and so every
/// test, still verify it.
pub fn check_own(verified: Verified, now_ms: u64) -> Result<Checked, Rejection> {
    debug_assert!(
        seal::open(verified.bytes.clone()).is_ok_and(|v| v.id == verified.id),
        "a locally sealed envelope must verify"
    );
    classify(verified, now_ms, None)
}

/// The kind rules, clock skew and rate limit, for an envelope whose signature is good.
fn classify(
    verified: Verified,
    now_ms: u64,
    rate: Option<&mut RateLimiter<[u8; 32]>>,
) -> Result<Checked, Rejection> {
    let header = &verified.envelope.header;
    let derived = match header.kind {
        Kind::AccountRecord => {
            if header.room != RoomId::DIRECTORY {
                return Err(Rejection::Invalid(
                    "account record outside the directory".into(),
                ));
            }
            let record = seal::check_account_record(&verified.envelope)?;
            Derived::User(UserRow {
                user_id: header.author.0,
                username: record.username,
                display_name: record.display_name,
                bio: record.bio,
                avatar: record.avatar.map(|f| hex::encode(f.id)),
                node_public: record.node_public,
                dh_public: record.dh_public,
                prekey_public: record.prekey_public,
                version: header.seq,
                node_addrs: record.node_addrs,
            })
        }
        Kind::Content => {
            if header.room != RoomId::PUBLIC {
                return Err(Rejection::Invalid(
                    "plaintext content outside the public room".into(),
                ));
            }
            let content = Content::decode(&verified.envelope.body)
                .map_err(|e| Rejection::Invalid(format!("content: {e}")))?;
            derive_content(&verified, content)
        }
        Kind::Control => {
            chatly_protocol::control::ControlOp::decode(&verified.envelope.body)
                .map_err(|e| Rejection::Invalid(format!("control op: {e}")))?;
            Derived::Control
        }
        Kind::KeyDelivery => {
            chatly_protocol::control::KeyDelivery::decode(&verified.envelope.body)
                .map_err(|e| Rejection::Invalid(format!("key delivery: {e}")))?;
            Derived::RoomData
        }
        Kind::Sealed => Derived::RoomData,
        // Kinds this build does not process yet are not the sender's fault: drop them unpunished.
        other => {
            return Err(Rejection::Ignored(format!(
                "kind {other:?} is not handled by this node"
            )));
        }
    };
    // Account records are exempt: their order is their seq, never their time, and a node whose
    // clock is slow must still learn who exists before their heartbeats can set its clock
    // right (crate::clock).
    if header.kind != Kind::AccountRecord && header.timestamp_ms > now_ms + MAX_CLOCK_SKEW_MS {
        return Err(Rejection::Ignored("timestamp too far in the future".into()));
    }
    if let Some(rate) = rate
        && !rate.allow(&header.author.0, now_ms)
    {
        return Err(Rejection::Ignored("author over its rate limit".into()));
    }
    Ok(Checked { verified, derived })
}

/// [`apply`] to each envelope in turn, in one transaction.
pub fn apply_all(
    txn: &Transaction<'_>,
    states: &RoomStates,
    items: &[Checked],
    now: u64,
) -> Result<Vec<Applied>, StoreError> {
    items
        .iter()
        .map(|checked| apply(txn, states, checked, now))
        .collect()
}

/// Like [`apply`] for an envelope arriving alone whose rows can wait until after its event is
/// shown ([`deferrable`]): a public message, or sealed content of a group or direct room. Whether
/// it is new is decided by reading (its id, its position), and the envelope, its sequence range
/// and a message's row are inserted later in the same transaction (`store::write_after_show`),
/// where nothing can take the id or the position in between. For a job storing this one envelope
/// alone: a second envelope's gap check would read the first's row (docs/performance.md,
/// "Session 28"). Sealed content is opened from the envelope as it came, not read back
/// (`opening::open_arrivals_to_store`).
pub fn apply_deferred(
    txn: &Transaction<'_>,
    states: &RoomStates,
    checked: &Checked,
    now_ms: u64,
) -> Result<Applied, StoreError> {
    debug_assert!(
        deferrable(checked),
        "only a public message or sealed content"
    );
    if may_not_post(txn, states, checked)? {
        return Ok(Applied::NotMember);
    }
    let row = envelope_row(&checked.verified);
    match envelopes::refusal(txn, &row, now_ms)? {
        Some(InsertOutcome::Equivocation) => return Ok(Applied::Equivocation),
        Some(_) => return Ok(Applied::Duplicate),
        None => {}
    }
    let (event, message) = match &checked.derived {
        Derived::Message(message) => {
            // The content is read again only for its files.
            let body = match message.files.as_str() {
                "[]" => Vec::new(),
                _ => checked.verified.envelope.body.clone(),
            };
            (
                message_created(txn, message)?,
                Some((message.clone(), body)),
            )
        }
        _ => (Box::new(NodeEvent::RoomData(RoomId(row.room))), None),
    };
    crate::store::write_after_show(move |conn| {
        if envelopes::insert(conn, &row, now_ms)? != InsertOutcome::Inserted {
            // Decided new above, in this transaction: refused now, the store is not as read.
            return Err(StoreError::Sqlite(rusqlite::Error::StatementChangedRows(0)));
        }
        match &message {
            Some((message, body)) => store_message(conn, message, body),
            None => Ok(()),
        }
    });
    Ok(Applied::Stored(Some(event)))
}

/// Whether the author of sealed content or a key delivery may not post in its room. A room whose
/// control log this node has not seen yet cannot be judged: the envelope is kept and relayed
/// (sync brings the log); once the log is known, only members may post.
fn may_not_post(
    txn: &Transaction<'_>,
    states: &RoomStates,
    checked: &Checked,
) -> Result<bool, StoreError> {
    if !matches!(checked.derived, Derived::RoomData) {
        return Ok(false);
    }
    let header = &checked.verified.envelope.header;
    let state = states.load(txn, header.room)?;
    Ok(state.kind.is_some() && !state.may_post(&header.author, header.seq))
}

/// Stores a public message's row, and the references to the files it carries (`body` is its
/// envelope's content, decoded only when it has files).
fn store_message(conn: &Connection, message: &MessageRow, body: &[u8]) -> Result<(), StoreError> {
    messages::insert(conn, message)?;
    if message.files != "[]"
        && let Ok(Content::Message { files, .. }) = Content::decode(body)
    {
        crate::files::record_refs(conn, message.viewer, &files, None)?;
    }
    Ok(())
}

/// The event for a new public message: whether operations aimed at it were stored before it.
fn message_created(conn: &Connection, message: &MessageRow) -> Result<Box<NodeEvent>, StoreError> {
    let may_have_ops = crate::store::ops::any_for(conn, &message.viewer, &message.id)?;
    Ok(Box::new(NodeEvent::MessageCreated {
        row: message.clone(),
        may_have_ops,
        posted_here: false,
    }))
}

/// Whether [`apply_deferred`] takes `checked`: a message in the public room, or sealed content.
pub fn deferrable(checked: &Checked) -> bool {
    let header = &checked.verified.envelope.header;
    match &checked.derived {
        Derived::Message(message) => {
            message.viewer == messages::PUBLIC_VIEWER && header.room == RoomId::PUBLIC
        }
        Derived::RoomData => header.kind == Kind::Sealed,
        _ => false,
    }
}

fn envelope_row(verified: &Verified) -> EnvelopeRow {
    let header = &verified.envelope.header;
    EnvelopeRow {
        id: verified.id.0,
        room: header.room.0,
        author: header.author.0,
        seq: header.seq,
        kind: header.kind as u8,
        ts: header.timestamp_ms,
        bytes: verified.bytes.clone(),
    }
}

fn derive_content(verified: &Verified, content: Content) -> Derived {
    let header = &verified.envelope.header;
    match content {
        Content::Message {
            text,
            files,
            reply_to,
        } => {
            let files = serde_json::Value::Array(
                files
                    .iter()
                    .map(|f| serde_json::json!({"id": hex::encode(f.id), "name": f.name, "size": f.size, "mime": f.mime}))
                    .collect(),
            );
            Derived::Message(MessageRow {
                viewer: crate::store::messages::PUBLIC_VIEWER,
                sealed: None,
                id: verified.id.0,
                room: header.room.0,
                author: header.author.0,
                text,
                files: files.to_string(),
                reply_to: reply_to.map(|r| r.0),
                sent_at: header.timestamp_ms,
                edited_at: None,
                deleted: false,
            })
        }
        Content::Edit { .. } | Content::Delete { .. } | Content::Reaction { .. } => {
            match super::ops::op_row(
                crate::store::messages::PUBLIC_VIEWER,
                &verified.envelope,
                verified.id,
                &content,
                <[u8]>::to_vec,
            ) {
                Some(op) => Derived::Op(op),
                None => Derived::Nothing,
            }
        }
        Content::RoomInfo { .. } => Derived::Nothing,
    }
}

/// Stores a checked envelope and its derived rows in the caller's transaction.
pub fn apply(
    txn: &Transaction<'_>,
    states: &RoomStates,
    checked: &Checked,
    now_ms: u64,
) -> Result<Applied, StoreError> {
    let verified = &checked.verified;
    let header = &verified.envelope.header;
    let row = envelope_row(verified);
    if may_not_post(txn, states, checked)? {
        return Ok(Applied::NotMember);
    }
    match envelopes::insert(txn, &row, now_ms)? {
        InsertOutcome::Duplicate => return Ok(Applied::Duplicate),
        InsertOutcome::Equivocation => return Ok(Applied::Equivocation),
        InsertOutcome::Inserted => {}
    }
    let event = match &checked.derived {
        Derived::Message(message) => {
            store_message(txn, message, &verified.envelope.body)?;
            Some(message_created(txn, message)?)
        }
        Derived::User(user) => {
            if user.avatar.is_some()
                && let Ok(record) = chatly_protocol::AccountRecord::decode(&verified.envelope.body)
                && let Some(avatar) = record.avatar
            {
                crate::files::record_refs(txn, messages::PUBLIC_VIEWER, &[avatar], None)?;
            }
            users::upsert(txn, user, now_ms)?
                .then(|| Box::new(NodeEvent::UserUpdated(user.clone())))
        }
        Derived::Op(op) => {
            let new = crate::store::ops::insert(txn, op)?;
            if new
                && op.kind == crate::store::ops::OpKind::Edit
                && let Ok(text) = std::str::from_utf8(&op.payload)
                && messages::get(txn, &op.viewer, &op.target)?
                    .is_some_and(|m| m.author == op.author)
            {
                // Found by its new words too; results show the message as folded.
                crate::store::search::index_public(txn, &op.room, &op.target, text)?;
            }
            new.then(|| {
                Box::new(NodeEvent::MessageChanged {
                    viewer: op.viewer,
                    room: header.room,
                    target: op.target,
                })
            })
        }
        Derived::Nothing => None,
        Derived::Control => Some(Box::new(NodeEvent::RoomUpdated(header.room))),
        Derived::RoomData => Some(Box::new(NodeEvent::RoomData(header.room))),
    };
    Ok(Applied::Stored(event))
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
