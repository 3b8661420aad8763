//! The receiving side of group and direct rooms: accepting key deliveries and opening sealed
//! content for every unlocked local member, in the transaction that stored it as it arrived
//! ([`open_arrivals`]; [`open_arrivals_to_store`] leaves the stores for after the show) or in a
//! pass of the opener task (`opener.rs`, [`open_pending`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chatly_crypto::{ReceiverChain, wrap};
use chatly_protocol::control::KeyDelivery;
use chatly_protocol::{Content, Envelope, EnvelopeId, HEADER_LEN, RoomId};
use rusqlite::{Connection, Transaction};
use zeroize::Zeroizing;

use super::groups::{CHAIN_LABEL, private_row, room_info_of};
use super::membership::RoomState;
use super::seal::Verified;
use super::states::RoomStates;
use crate::accounts::UnlockedKeys;
use crate::events::NodeEvent;
use crate::store::{StoreError, private};

mod pass;
pub(crate) use pass::PassToStore;
use pass::{ChainKey, OpenBatch, OpenedOwned};

/// Opens, inside the transaction that stored them, what the unlocked local accounts can read of
/// the sealed envelopes and key deliveries that just arrived in `rooms` (the gossip path): one
/// [`open_pending`] per account and room, each in its own savepoint. Returns the rooms handled
/// and the events to publish after the commit. A room whose pass failed is left out, so the
/// opener task tries it again.
pub(crate) fn open_arrivals(
    txn: &Transaction<'_>,
    states: &RoomStates,
    unlocked: &[Arc<UnlockedKeys>],
    rooms: &HashSet<RoomId>,
) -> (HashSet<RoomId>, Vec<NodeEvent>) {
    let (handled, events, _) = open_arrivals_in(txn, states, unlocked, rooms, &[], Store::Now);
    (handled, events)
}

/// Like [`open_arrivals`], but what each pass opened is stored later, by the caller, in the same
/// transaction ([`PassToStore::store`]): the events can be shown first. Their own reads come
/// before those stores, so an operation opened in a pass counts for its target all the same.
/// `unstored` are sealed envelopes of this job whose rows are written after the show too
/// (`pipeline::apply_deferred`): no read finds them yet, so the passes take them as they came,
/// and their stores come after those rows.
pub(crate) fn open_arrivals_to_store(
    txn: &Transaction<'_>,
    states: &RoomStates,
    unlocked: &[Arc<UnlockedKeys>],
    rooms: &HashSet<RoomId>,
    unstored: &[&Verified],
) -> (HashSet<RoomId>, Vec<NodeEvent>, Vec<PassToStore>) {
    open_arrivals_in(txn, states, unlocked, rooms, unstored, Store::Later)
}

/// When a pass's results are stored.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Store {
    Now,
    Later,
}

fn open_arrivals_in(
    txn: &Transaction<'_>,
    states: &RoomStates,
    unlocked: &[Arc<UnlockedKeys>],
    rooms: &HashSet<RoomId>,
    unstored: &[&Verified],
    store: Store,
) -> (HashSet<RoomId>, Vec<NodeEvent>, Vec<PassToStore>) {
    let mut handled = HashSet::new();
    let mut events = Vec::new();
    let mut to_store = Vec::new();
    for room in rooms {
        // The room's membership, read once for all the accounts.
        let state = match states.load(txn, *room) {
            Ok(state) => state,
            Err(e) => {
                tracing::warn!(error = %e, "opening on arrival failed; the opener will retry");
                continue;
            }
        };
        let unstored: Vec<&Verified> = unstored
            .iter()
            .filter(|v| v.envelope.header.room == *room)
            .copied()
            .collect();
        let mut all_opened = true;
        for keys in unlocked {
            let pass = crate::store::run_in_savepoint(txn, |txn| {
                let (_, opened, pass) = find_pending(txn, keys, *room, &state, &unstored)?;
                match (store, pass) {
                    (Store::Now, Some(pass)) => {
                        pass.store(txn)?;
                        Ok((opened, None))
                    }
                    (_, pass) => Ok((opened, pass)),
                }
            });
            match pass {
                Ok((opened, pass)) => {
                    events.extend(opened);
                    to_store.extend(pass);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "opening on arrival failed; the opener will retry");
                    all_opened = false;
                }
            }
        }
        if all_opened {
            handled.insert(*room);
        }
    }
    (handled, events, to_store)
}

/// One opening pass for one account and room (whose membership is `state`), in the writer's
/// transaction, stored at once ([`find_pending`], then [`PassToStore::store`]). Returns the
/// messages made and the events to publish once committed.
pub(super) fn open_pending(
    txn: &Transaction<'_>,
    keys: &Arc<UnlockedKeys>,
    room: RoomId,
    state: &RoomState,
) -> Result<(usize, Vec<NodeEvent>), StoreError> {
    let (made, events, pass) = find_pending(txn, keys, room, state, &[])?;
    if let Some(pass) = pass {
        pass.store(txn)?;
    }
    Ok((made, events))
}

/// One opening pass for one account and room (whose membership is `state`), in the writer's
/// transaction: accepts the key deliveries addressed to the account, opens every pending sealed
/// envelope with the chains advanced in memory (a failed opening advances a copy, which is
/// dropped), those read from the store and the `unstored` ones of this room that are not in it
/// yet. Returns the messages made, the events to publish once stored and committed, and what is
/// to be stored (nothing when the account is not in the room).
fn find_pending(
    txn: &Transaction<'_>,
    keys: &Arc<UnlockedKeys>,
    room: RoomId,
    state: &RoomState,
    unstored: &[&Verified],
) -> Result<(usize, Vec<NodeEvent>, Option<PassToStore>), StoreError> {
    let me = keys.account_id();
    if !state.is_member(&me) && !state.departed.contains_key(&me) {
        return Ok((0, Vec::new(), None));
    }
    let looked = private::looked_upto(txn, &me.0, &room.0)?;
    for bytes in private::deliveries(txn, &me.0, &room.0, looked)? {
        accept_delivery(txn, keys, room, &bytes)?;
    }
    let (sealed, newest) = private::unopened(txn, &me.0, &room.0, looked)?;
    // Undecodable envelopes are passed over for good (`newest` moves past them).
    let mut envelopes: Vec<(EnvelopeId, Envelope, Vec<u8>)> = sealed
        .into_iter()
        .filter_map(|bytes| {
            let envelope = Envelope::decode(&bytes).ok()?;
            Some((
                EnvelopeId(chatly_crypto::envelope_id(&bytes)),
                envelope,
                bytes,
            ))
        })
        .collect();
    if !unstored.is_empty() {
        envelopes.extend(
            unstored
                .iter()
                .map(|v| (v.id, v.envelope.clone(), v.bytes.clone())),
        );
        // By author, then sequence, as `unopened` gives them: a chain opens in order.
        envelopes.sort_by_key(|(_, e, _)| (e.header.author.0, e.header.seq));
    }
    let mut chains = receiver_chains(txn, keys, room, &envelopes)?;
    let mut batch = OpenBatch::default();
    for (id, envelope, bytes) in envelopes {
        let key = (envelope.header.author.0, envelope.header.key_id);
        let Some(chain) = chains.get_mut(&key) else {
            batch.later.push(id.0); // its delivery has not arrived (yet)
            continue;
        };
        let mut advanced = chain.clone();
        match open_with(&mut advanced, &envelope, &bytes) {
            Some((content, plain)) => {
                *chain = advanced;
                batch.touched.insert(key);
                batch
                    .opened
                    .push(opened(keys, state, id, &envelope, content, plain));
            }
            None => batch.unopenable.push(id.0),
        }
    }
    let made = batch.opened.iter().filter(|o| o.row.is_some()).count();
    let events = batch.events(txn, me, room)?;
    let pass = PassToStore {
        keys: keys.clone(),
        room,
        newest,
        unstored: unstored.iter().map(|v| v.id.0).collect(),
        batch,
        chains,
    };
    Ok((made, events, Some(pass)))
}

/// The stored receiving chains `envelopes` need, opened, by (sender, chain id).
fn receiver_chains(
    conn: &Connection,
    keys: &UnlockedKeys,
    room: RoomId,
    envelopes: &[(EnvelopeId, Envelope, Vec<u8>)],
) -> Result<HashMap<ChainKey, ReceiverChain>, StoreError> {
    let me = keys.account_id();
    let wanted: HashSet<ChainKey> = envelopes
        .iter()
        .map(|(_, e, _)| (e.header.author.0, e.header.key_id))
        .collect();
    let mut chains = HashMap::new();
    for (sender, chain_id) in wanted {
        let Some(sealed) = private::receiver_chain(conn, &me.0, &room.0, &sender, &chain_id)?
        else {
            continue;
        };
        if let Some(chain) = wrap::open(keys.master.expose(), CHAIN_LABEL, &sealed)
            .ok()
            .and_then(|bytes| ReceiverChain::from_bytes(&bytes).ok())
        {
            chains.insert((sender, chain_id), chain);
        }
    }
    Ok(chains)
}

/// What `keys`' account keeps of one opened envelope.
fn opened(
    keys: &UnlockedKeys,
    state: &RoomState,
    id: EnvelopeId,
    envelope: &Envelope,
    content: Content,
    plain: Zeroizing<Vec<u8>>,
) -> OpenedOwned {
    let sender = envelope.header.author;
    let master = *keys.master.expose();
    let row = private_row(keys, envelope, id, &content).ok().flatten();
    OpenedOwned {
        id,
        shown: row
            .as_ref()
            .and_then(|row| super::opened::in_the_clear(row, &content)),
        row,
        info_at: room_info_of(&content).filter(|_| state.is_admin(&sender)),
        op: super::ops::op_row(
            keys.account_id().0,
            envelope,
            id,
            &content,
            super::ops::seal_private(&master),
        ),
        plain,
    }
}

/// Accepts a key delivery if it is addressed to `keys`' account: the sender's receiving chain is
/// stored (unless already held), and the delivery is marked as handled either way.
fn accept_delivery(
    txn: &Transaction<'_>,
    keys: &UnlockedKeys,
    room: RoomId,
    bytes: &[u8],
) -> Result<(), StoreError> {
    let me = keys.account_id();
    let Ok(envelope) = Envelope::decode(bytes) else {
        return Ok(());
    };
    let Ok(delivery) = KeyDelivery::decode(&envelope.body) else {
        return Ok(());
    };
    if delivery.recipient != me {
        return Ok(());
    }
    let id = EnvelopeId(chatly_crypto::envelope_id(bytes));
    let sender = envelope.header.author;
    let parcel = chatly_crypto::Delivery {
        ephemeral: delivery.ephemeral,
        sealed: delivery.sealed,
    };
    let accepted = match keys.prekey_for(&delivery.recipient_prekey) {
        Some(prekey) => chatly_crypto::accept(&parcel, &room.0, &sender.0, &me.0, prekey, &keys.dh),
        None => Err(chatly_crypto::CryptoError::Malformed(
            "a prekey this account no longer has",
        )),
    };
    match accepted {
        Ok(state) => {
            let chain_id = state.chain_id;
            if private::receiver_chain(txn, &me.0, &room.0, &sender.0, &chain_id)?.is_none() {
                let master = *keys.master.expose();
                let sealed =
                    wrap::seal(&master, CHAIN_LABEL, &ReceiverChain::new(state).to_bytes());
                private::put_receiver_chain(txn, &me.0, &room.0, &sender.0, &chain_id, &sealed)?;
            }
        }
        Err(e) => tracing::debug!(%sender, error = %e, "a key delivery did not open"),
    }
    private::mark_opened(txn, &me.0, &id.0)
}

/// Opens one sealed envelope with its sender's chain (advancing it): the content and its
/// encoding, or `None` if it does not open.
fn open_with(
    chain: &mut ReceiverChain,
    envelope: &Envelope,
    bytes: &[u8],
) -> Option<(Content, Zeroizing<Vec<u8>>)> {
    let header = &envelope.header;
    let key = chain.message_key(header.key_index).ok()?;
    let plain =
        chatly_crypto::open_message(&key, &header.nonce, &bytes[..HEADER_LEN], &envelope.body)
            .ok()?;
    Some((Content::decode(&plain).ok()?, plain))
}
