//! Account records (kind 1 in the directory room): who an account is and which node hosts it
//! (docs/protocol.md, "Account record body").

use crate::codec::{Reader, Writer};
use crate::content::check_len;
use crate::{AccountId, FileRef, ProtocolError};

/// Shortest username, in bytes.
pub const USERNAME_MIN: usize = 3;
/// Longest username, in bytes.
pub const USERNAME_MAX: usize = 32;
/// Longest display name, in characters (Unicode scalar values).
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;
/// Longest bio, in characters (Unicode scalar values).
pub const MAX_BIO_CHARS: usize = 280;

/// Home-node addresses a record carries at most.
pub const MAX_NODE_ADDRS: usize = 8;
/// Longest home-node address (a multiaddr in text form), in bytes.
pub const MAX_NODE_ADDR_LEN: usize = 255;

/// A UTF-8 character is at most 4 bytes: the byte bound checked before counting characters.
const MAX_CHAR_BYTES: usize = 4;

/// Checks a username: 3..=32 bytes of `a-z`, `0-9`, `_`, `.`, `-`. Lower case only, so two
/// accounts can never differ by case alone.
pub fn validate_username(username: &str) -> Result<(), ProtocolError> {
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&username.len()) {
        return Err(ProtocolError::Invalid(
            "username must be 3 to 32 characters",
        ));
    }
    let allowed =
        |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-');
    if !username.bytes().all(allowed) {
        return Err(ProtocolError::Invalid(
            "username may only contain a-z, 0-9, '_', '.', '-'",
        ));
    }
    Ok(())
}

/// An account's public profile and keys, signed by the account (envelope signature) and
/// co-signed by its home node (`node_signature`). Its version is the envelope's `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountRecord {
    /// Unique handle, see [`validate_username`].
    pub username: String,
    /// Name shown in the UI, at most [`MAX_DISPLAY_NAME_CHARS`] characters (may be empty).
    pub display_name: String,
    /// Free text, at most [`MAX_BIO_CHARS`] characters.
    pub bio: String,
    /// Profile picture, a file like any attachment.
    pub avatar: Option<FileRef>,
    /// X25519 static public key, for pairwise key agreement.
    pub dh_public: [u8; 32],
    /// X25519 signed prekey, rotated weekly, so key deliveries need not rest on the static key.
    pub prekey_public: [u8; 32],
    /// When the prekey was made (ms since the Unix epoch), so receivers can prefer the newest.
    pub prekey_created_ms: u64,
    /// Identity signature over [`AccountRecord::prekey_payload`] with label `chatly/v1/prekey`.
    pub prekey_signature: [u8; 64],
    /// Ed25519 public key of the home node (its libp2p PeerId derives from it).
    pub node_public: [u8; 32],
    /// Node signature over [`AccountRecord::cosign_payload`] with label
    /// `chatly/v1/account-cosign`: the node agrees to host this account.
    pub node_signature: [u8; 64],
    /// Where the home node can be dialed (multiaddrs in text form, relay circuits included), so
    /// a first contact can reach it. Written after `node_signature` and covered by the account's
    /// envelope signature; records made before this field existed simply end earlier.
    pub node_addrs: Vec<String>,
}

impl AccountRecord {
    /// Checks the text fields' limits (and the avatar's, when written).
    fn validate(&self) -> Result<(), ProtocolError> {
        validate_username(&self.username)?;
        check_chars(&self.display_name, MAX_DISPLAY_NAME_CHARS)?;
        check_chars(&self.bio, MAX_BIO_CHARS)?;
        if self.node_addrs.len() > MAX_NODE_ADDRS {
            return Err(ProtocolError::Invalid("too many home-node addresses"));
        }
        if self.node_addrs.iter().any(|a| a.len() > MAX_NODE_ADDR_LEN) {
            return Err(ProtocolError::Invalid("home-node address too long"));
        }
        Ok(())
    }

    /// Every body field before `node_signature`: what the node co-signs.
    fn write_unsigned(&self) -> Result<Writer, ProtocolError> {
        self.validate()?;
        let mut w = Writer::new();
        w.str8(&self.username)?;
        w.str16(&self.display_name)?;
        w.str16(&self.bio)?;
        match &self.avatar {
            None => {
                w.u8(0);
            }
            Some(file) => {
                w.u8(1);
                file.write(&mut w)?;
            }
        }
        w.fixed(&self.dh_public)
            .fixed(&self.prekey_public)
            .u64(self.prekey_created_ms)
            .fixed(&self.prekey_signature)
            .fixed(&self.node_public);
        Ok(w)
    }

    /// The body bytes; refuses a record receivers would reject. Signatures are not checked here.
    pub fn encode(&self) -> Result<Vec<u8>, ProtocolError> {
        let mut w = self.write_unsigned()?;
        w.fixed(&self.node_signature);
        if !self.node_addrs.is_empty() {
            w.u8(self.node_addrs.len() as u8);
            for addr in &self.node_addrs {
                w.str8(addr)?;
            }
        }
        Ok(w.into_bytes())
    }

    /// Decodes a body, enforcing the same limits as [`AccountRecord::encode`].
    pub fn decode(bytes: &[u8]) -> Result<AccountRecord, ProtocolError> {
        let mut r = Reader::new(bytes);
        let username = r.str8(USERNAME_MAX)?;
        let display_name = r.str16(MAX_DISPLAY_NAME_CHARS * MAX_CHAR_BYTES)?;
        let bio = r.str16(MAX_BIO_CHARS * MAX_CHAR_BYTES)?;
        let avatar = if r.flag()? {
            Some(FileRef::read(&mut r)?)
        } else {
            None
        };
        let record = AccountRecord {
            username,
            display_name,
            bio,
            avatar,
            dh_public: r.array()?,
            prekey_public: r.array()?,
            prekey_created_ms: r.u64()?,
            prekey_signature: r.array()?,
            node_public: r.array()?,
            node_signature: r.array()?,
            node_addrs: Vec::new(),
        };
        let mut record = record;
        if r.remaining() > 0 {
            let count = usize::from(r.u8()?);
            if count == 0 || count > MAX_NODE_ADDRS {
                return Err(ProtocolError::Invalid("bad home-node address count"));
            }
            for _ in 0..count {
                record.node_addrs.push(r.str8(MAX_NODE_ADDR_LEN)?);
            }
        }
        r.finish()?;
        record.validate()?;
        Ok(record)
    }

    /// What the home node signs: `author || seq (u64 BE) || body bytes before node_signature`.
    /// Binding author and seq stops a co-signature being replayed onto another account or an
    /// older version.
    ///
    /// For a record [`AccountRecord::encode`] refuses, the body part is left out: such a record
    /// cannot be published, and a payload of only `author || seq` matches no valid record, so
    /// a signature over it is useless to anyone.
    pub fn cosign_payload(&self, author: &AccountId, seq: u64) -> Vec<u8> {
        let body = self
            .write_unsigned()
            .map(Writer::into_bytes)
            .unwrap_or_default();
        let mut w = Writer::with_capacity(40 + body.len());
        w.fixed(&author.0).u64(seq).fixed(&body);
        w.into_bytes()
    }

    /// What the identity key signs to certify the prekey: `prekey_public || prekey_created (u64 BE)`.
    pub fn prekey_payload(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(40);
        w.fixed(&self.prekey_public).u64(self.prekey_created_ms);
        w.into_bytes()
    }
}

/// Fails if `s` has more than `max` characters.
fn check_chars(s: &str, max: usize) -> Result<(), ProtocolError> {
    // Bytes bound characters from above, so the count is only needed for long strings.
    check_len(s.len(), max * MAX_CHAR_BYTES)?;
    check_len(s.chars().count(), max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["abc", "a.b-c_9", &"z".repeat(32)] {
            assert_eq!(validate_username(ok), Ok(()), "{ok}");
        }
        for bad in ["ab", &"z".repeat(33), "Abc", "a b", "abé", "ab/", ""] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_name_limit_counts_characters_not_bytes() {
        assert_eq!(check_chars(&"é".repeat(64), 64), Ok(()));
        assert!(check_chars(&"é".repeat(65), 64).is_err());
        assert_eq!(check_chars(&"😀".repeat(64), 64), Ok(()));
    }
}
