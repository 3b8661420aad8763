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
        txn: &rusqlite::Connection,
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
    shown(&Content::decode(&plain).ok()?)
}

/// What message content shows: (text, files JSON in the API's shape).
fn shown(content: &Content) -> Option<(String, String)> {
    match content {
        Content::Message { text, files, .. } => {
            let files = serde_json::Value::Array(
                files.iter().map(|f| serde_json::json!({"id": hex::encode(f.id), "name": f.name, "size": f.size, "mime": f.mime})).collect(),
            );
            Some((text.clone(), files.to_string()))
        }
        _ => None,
    }
}

/// A private row as its viewer sees it, from the content it was sealed from: what [`open_row`]
/// would give, without opening it again (the author of a post has its content at hand). Only for
/// the author's own answer and events: what is stored stays sealed.
pub(crate) fn in_the_clear(row: &MessageRow, content: &Content) -> Option<MessageRow> {
    let (text, files) = shown(content)?;
    Some(MessageRow {
        text,
        files,
        sealed: None,
        ..row.clone()
    })
}

#[cfg(test)]
mod tests {
    use chatly_protocol::{EnvelopeId, FileRef, Header, Kind};

    use super::*;
    use crate::rooms::groups::private_row;

    #[test]
    fn a_post_shown_in_the_clear_is_what_its_stored_row_opens_to() {
        let keys = UnlockedKeys::generate(1);
        let content = Content::Message {
            text: "the minutes, attached".into(),
            files: vec![FileRef {
                id: [3; 32],
                name: "minutes.pdf".into(),
                size: 70_000,
                mime: "application/pdf".into(),
                key: [4; 32],
                chunk_size: 65_536,
                chunk_hashes: vec![[5; 32], [6; 32]],
            }],
            reply_to: Some(EnvelopeId([7; 32])),
        };
        let mut header = Header::plain(
            Kind::Sealed,
            RoomId([1; 16]),
            keys.account_id(),
            1,
            EnvelopeId::ZERO,
            1_700_000_000_000,
        );
        header.key_suite = chatly_protocol::KEY_SUITE_SENDER_CHAIN;
        let envelope = crate::rooms::seal::seal(&keys.identity, header, vec![0; 24])
            .unwrap()
            .envelope;
        let stored = private_row(&keys, &envelope, EnvelopeId([2; 32]), &content)
            .unwrap()
            .unwrap();
        let shown = in_the_clear(&stored, &content).unwrap();
        assert!(
            stored.text.is_empty() && stored.sealed.is_some(),
            "stored sealed"
        );
        assert_eq!(shown.sealed, None);
        assert_eq!(
            (shown.text.clone(), shown.files.clone()),
            open_row(&keys, &stored).unwrap()
        );
        assert!(shown.files.contains("minutes.pdf"));
        assert_eq!(
            (
                shown.id,
                shown.room,
                shown.author,
                shown.reply_to,
                shown.sent_at
            ),
            (
                stored.id,
                stored.room,
                stored.author,
                stored.reply_to,
                stored.sent_at
            )
        );
    }

    #[test]
    fn only_messages_are_shown() {
        let content = Content::Reaction {
            target: EnvelopeId([1; 32]),
            emoji: "👍".into(),
        };
        assert_eq!(shown(&content), None);
    }
}
