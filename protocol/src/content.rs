//! Content bodies (kind 2, and the plaintext inside kind 4) and file references
//! (docs/protocol.md, "Content body").
//!
//! Limits are enforced when encoding as well as decoding, so a node never signs what its peers
//! would reject.

use crate::codec::{Reader, Writer};
use crate::{EnvelopeId, MAX_BODY_LEN, ProtocolError};

/// Longest message or edit text, in UTF-8 bytes (16 KiB). Longer text goes as a file.
pub const MAX_TEXT_LEN: usize = 16 * 1024;
/// Most files attached to one message.
pub const MAX_FILES_PER_MESSAGE: usize = 10;
/// Longest file name, in UTF-8 bytes.
pub const MAX_FILE_NAME_LEN: usize = 255;
/// Longest MIME type, in bytes (RFC 6838 caps type and subtype at 127 characters each).
pub const MAX_MIME_LEN: usize = 127;
/// Longest reaction, in UTF-8 bytes: room for the longest emoji ZWJ sequences.
pub const MAX_EMOJI_LEN: usize = 32;
/// Most chunks in one file: 1,024 chunk hashes are 32 KiB, so a message with the longest text and
/// one file of the longest name, MIME type and chunk list still fits [`MAX_CONTENT_LEN`]
/// (16,423 + 465 + 32,768 = 49,656 bytes). With 64 KiB chunks that is a 64 MiB file.
pub const MAX_CHUNKS_PER_FILE: usize = 1024;
/// Largest chunk, in bytes (1 MiB): bounds what a peer must hold in memory to serve or check
/// one chunk.
pub const MAX_CHUNK_SIZE: u32 = 1024 * 1024;
/// Authentication tag the sender-chain suite adds when content is sealed into kind 4.
pub const AEAD_TAG_LEN: usize = 16;
/// Largest encoded content, so that sealed content still fits [`MAX_BODY_LEN`].
pub const MAX_CONTENT_LEN: usize = MAX_BODY_LEN - AEAD_TAG_LEN;

/// Tag bytes of the content variants.
const TAG_MESSAGE: u8 = 1;
const TAG_EDIT: u8 = 2;
const TAG_DELETE: u8 = 3;
const TAG_REACTION: u8 = 4;
const TAG_ROOM_INFO: u8 = 5;

/// Longest room name, in characters.
pub const MAX_ROOM_NAME_CHARS: usize = 64;
/// Longest room description, in characters.
pub const MAX_ROOM_DESCRIPTION_CHARS: usize = 500;

/// A file attached to a message (or used as an avatar): everything needed to fetch, check and
/// decrypt its chunks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileRef {
    /// Content address of the file (chosen by the uploader's node), used to request it.
    pub id: [u8; 32],
    /// File name to offer on download: 1..=255 bytes, no path separators or control characters.
    pub name: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// MIME type as declared by the sender (may be empty: unknown).
    pub mime: String,
    /// Random key the chunks are sealed with; whoever can read the message can read the file.
    pub key: [u8; 32],
    /// Plaintext bytes per chunk (the last chunk may be shorter), 1..=[`MAX_CHUNK_SIZE`].
    pub chunk_size: u32,
    /// Hash of each sealed chunk, in order: `ceil(size / chunk_size)` of them, so any peer can
    /// serve a chunk and the receiver can check it.
    pub chunk_hashes: Vec<[u8; 32]>,
}

impl FileRef {
    /// Checks the file ref's own limits and that the chunk list matches the size.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        check_len(self.name.len(), MAX_FILE_NAME_LEN)?;
        if self.name.is_empty() {
            return Err(ProtocolError::Invalid("empty file name"));
        }
        if self
            .name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\')
        {
            return Err(ProtocolError::Invalid(
                "file name with a path separator or control character",
            ));
        }
        check_len(self.mime.len(), MAX_MIME_LEN)?;
        if self.chunk_size == 0 || self.chunk_size > MAX_CHUNK_SIZE {
            return Err(ProtocolError::Invalid("chunk size out of range"));
        }
        check_len(self.chunk_hashes.len(), MAX_CHUNKS_PER_FILE)?;
        let expected = self.size.div_ceil(u64::from(self.chunk_size));
        if u64::try_from(self.chunk_hashes.len()).ok() != Some(expected) {
            return Err(ProtocolError::Invalid("chunk count does not match size"));
        }
        Ok(())
    }

    /// Appends the file ref; validates first.
    pub(crate) fn write(&self, w: &mut Writer) -> Result<(), ProtocolError> {
        self.validate()?;
        w.fixed(&self.id);
        w.str16(&self.name)?;
        w.u64(self.size);
        w.str8(&self.mime)?;
        w.fixed(&self.key).u32(self.chunk_size);
        // validate() bounded the count by MAX_CHUNKS_PER_FILE, far below u32::MAX.
        w.u32(u32::try_from(self.chunk_hashes.len()).unwrap_or(u32::MAX));
        for hash in &self.chunk_hashes {
            w.fixed(hash);
        }
        Ok(())
    }

    /// Reads and validates a file ref.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<FileRef, ProtocolError> {
        let id = r.array()?;
        let name = r.str16(MAX_FILE_NAME_LEN)?;
        let size = r.u64()?;
        let mime = r.str8(MAX_MIME_LEN)?;
        let key = r.array()?;
        let chunk_size = r.u32()?;
        let count = usize::try_from(r.u32()?).unwrap_or(usize::MAX);
        // Bound the count before allocating for it.
        check_len(count, MAX_CHUNKS_PER_FILE)?;
        let chunk_hashes = (0..count)
            .map(|_| r.array())
            .collect::<Result<Vec<_>, _>>()?;
        let file = FileRef {
            id,
            name,
            size,
            mime,
            key,
            chunk_size,
            chunk_hashes,
        };
        file.validate()?;
        Ok(file)
    }
}

/// What a person says in a room: a message, or a change to an earlier one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Content {
    /// A new message: text, files, or both.
    Message {
        /// Message text, at most [`MAX_TEXT_LEN`] bytes.
        text: String,
        /// Attached files, at most [`MAX_FILES_PER_MESSAGE`].
        files: Vec<FileRef>,
        /// The message this one answers, if any.
        reply_to: Option<EnvelopeId>,
    },
    /// Replaces the text of the author's earlier message.
    Edit {
        /// The message being edited.
        target: EnvelopeId,
        /// Its new text, at most [`MAX_TEXT_LEN`] bytes.
        text: String,
    },
    /// Withdraws the author's earlier message.
    Delete {
        /// The message being deleted.
        target: EnvelopeId,
    },
    /// Reacts to a message.
    Reaction {
        /// The message reacted to.
        target: EnvelopeId,
        /// The reaction, 1..=[`MAX_EMOJI_LEN`] bytes.
        emoji: String,
    },
    /// Names and describes a group room. Sealed like any content, so relays never see a room's
    /// name; valid only from an admin (checked by the members who open it).
    RoomInfo {
        /// Room name, 1..=[`MAX_ROOM_NAME_CHARS`] characters.
        name: String,
        /// Room description, at most [`MAX_ROOM_DESCRIPTION_CHARS`] characters.
        description: String,
    },
}

impl Content {
    /// Encodes the content, refusing anything a receiver would reject.
    pub fn encode(&self) -> Result<Vec<u8>, ProtocolError> {
        let mut w = Writer::new();
        match self {
            Content::Message {
                text,
                files,
                reply_to,
            } => {
                check_message(text, files.len())?;
                w.u8(TAG_MESSAGE).str32(text)?;
                // check_message bounded the count by MAX_FILES_PER_MESSAGE.
                w.u8(u8::try_from(files.len()).unwrap_or(u8::MAX));
                for file in files {
                    file.write(&mut w)?;
                }
                match reply_to {
                    None => w.u8(0),
                    Some(id) => w.u8(1).fixed(&id.0),
                };
            }
            Content::Edit { target, text } => {
                check_len(text.len(), MAX_TEXT_LEN)?;
                w.u8(TAG_EDIT).fixed(&target.0).str32(text)?;
            }
            Content::Delete { target } => {
                w.u8(TAG_DELETE).fixed(&target.0);
            }
            Content::Reaction { target, emoji } => {
                check_emoji(emoji)?;
                w.u8(TAG_REACTION).fixed(&target.0).str8(emoji)?;
            }
            Content::RoomInfo { name, description } => {
                check_room_info(name, description)?;
                w.u8(TAG_ROOM_INFO).str16(name)?.str16(description)?;
            }
        }
        check_len(w.len(), MAX_CONTENT_LEN)?;
        Ok(w.into_bytes())
    }

    /// Decodes content, enforcing the same limits as [`Content::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Content, ProtocolError> {
        check_len(bytes.len(), MAX_CONTENT_LEN)?;
        let mut r = Reader::new(bytes);
        let content = match r.u8()? {
            TAG_MESSAGE => {
                let text = r.str32(MAX_TEXT_LEN)?;
                let count = usize::from(r.u8()?);
                check_len(count, MAX_FILES_PER_MESSAGE)?;
                let files = (0..count)
                    .map(|_| FileRef::read(&mut r))
                    .collect::<Result<Vec<_>, _>>()?;
                check_message(&text, files.len())?;
                let reply_to = if r.flag()? {
                    Some(EnvelopeId(r.array()?))
                } else {
                    None
                };
                Content::Message {
                    text,
                    files,
                    reply_to,
                }
            }
            TAG_EDIT => {
                let target = EnvelopeId(r.array()?);
                Content::Edit {
                    target,
                    text: r.str32(MAX_TEXT_LEN)?,
                }
            }
            TAG_DELETE => Content::Delete {
                target: EnvelopeId(r.array()?),
            },
            TAG_REACTION => {
                let target = EnvelopeId(r.array()?);
                let emoji = r.str8(MAX_EMOJI_LEN)?;
                check_emoji(&emoji)?;
                Content::Reaction { target, emoji }
            }
            TAG_ROOM_INFO => {
                let name = r.str16(MAX_ROOM_NAME_CHARS * 4)?;
                let description = r.str16(MAX_ROOM_DESCRIPTION_CHARS * 4)?;
                check_room_info(&name, &description)?;
                Content::RoomInfo { name, description }
            }
            _ => return Err(ProtocolError::Invalid("unknown content tag")),
        };
        r.finish()?;
        Ok(content)
    }
}

/// Fails with [`ProtocolError::TooLong`] if `len > max`.
pub(crate) fn check_len(len: usize, max: usize) -> Result<(), ProtocolError> {
    if len > max {
        Err(ProtocolError::TooLong { len, max })
    } else {
        Ok(())
    }
}

/// A room name is 1..=64 characters, a description at most 500.
fn check_room_info(name: &str, description: &str) -> Result<(), ProtocolError> {
    if name.trim().is_empty() {
        return Err(ProtocolError::Invalid("empty room name"));
    }
    check_len(name.chars().count(), MAX_ROOM_NAME_CHARS)?;
    check_len(description.chars().count(), MAX_ROOM_DESCRIPTION_CHARS)
}

/// A message must say something: text, files, or both.
fn check_message(text: &str, files: usize) -> Result<(), ProtocolError> {
    check_len(text.len(), MAX_TEXT_LEN)?;
    check_len(files, MAX_FILES_PER_MESSAGE)?;
    if text.is_empty() && files == 0 {
        return Err(ProtocolError::Invalid("empty message"));
    }
    Ok(())
}

fn check_emoji(emoji: &str) -> Result<(), ProtocolError> {
    check_len(emoji.len(), MAX_EMOJI_LEN)?;
    if emoji.is_empty() {
        return Err(ProtocolError::Invalid("empty reaction"));
    }
    Ok(())
}
