//! What an account keeps of a sealed envelope it opened, whether it sent it (`sending.rs`) or
//! received it (`opening.rs`): the message row, room info or operation, and the mark that it was
//! opened; and how a stored private row is opened again for display.

use chatly_crypto::wrap;
use chatly_protocol::{AccountId, Content, EnvelopeId, RoomId};

use super::groups::PRIVATE_CONTENT_LABEL;
use crate::accounts::UnlockedKeys;
use crate::store::messages::{self, MessageRow};
use crate::store::{StoreError, private};

/// What an account opened from one sealed envelope.
pub(crate) struct Opened<'a> {
    pub(crate) account: AccountId,
    pub(crate) room: RoomId,
    pub(crate) id: EnvelopeId,
    /// The message row, when the content was a message.
    pub(crate) row: Option<&'a MessageRow>,
    /// When the content was a valid room info: its time.
    pub(crate) info_at: Option<u64>,
    /// When the content was an edit, deletion or reaction.
    pub(crate) op: Option<&'a crate::store::ops::OpRow>,
    /// The content's encoding.
    pub(crate) plain: &'a [u8],
}

impl Opened<'_> {
    /// Stores it: the message row, or the room info (sealed under the master key), and otherwise
    /// just the fact that it was opened, so it is not tried again.
    pub(crate) fn record(
        &self,
        txn: &rusqlite::Transaction<'_>,
        master: &[u8; 32],
    ) -> Result<(), StoreError> {
        if let Some(row) = self.row {
            messages::insert(txn, row)?;
            if let Ok(Content::Message { files, .. }) = Content::decode(self.plain)
                && !files.is_empty()
            {
                crate::files::record_refs(txn, self.account.0, &files, Some(master))?;
            }
            return Ok(());
        }
        if let Some(op) = self.op {
            crate::store::ops::insert(txn, op)?;
        }
        if let Some(sent_at) = self.info_at {
            let sealed = wrap::seal(master, PRIVATE_CONTENT_LABEL, self.plain);
            private::put_room_info(txn, &self.account.0, &self.room.0, &sealed, sent_at)?;
        }
        private::mark_opened(txn, &self.account.0, &self.id.0)
    }
}

/// Opens a private row's content with the viewer's keys: (text, files JSON).
pub fn open_row(keys: &UnlockedKeys, row: &MessageRow) -> Option<(String, String)> {
    let sealed = row.sealed.as_ref()?;
    let plain = wrap::open(keys.master.expose(), PRIVATE_CONTENT_LABEL, sealed).ok()?;
    match Content::decode(&plain).ok()? {
        Content::Message { text, files, .. } => {
            let files = serde_json::Value::Array(
                files.iter().map(|f| serde_json::json!({"id": hex::encode(f.id), "name": f.name, "size": f.size, "mime": f.mime})).collect(),
            );
            Some((text, files.to_string()))
        }
        _ => None,
    }
}
