//! The one place where protocol and crypto meet: signing envelopes, verifying them, and building
//! and checking account records.

use chatly_crypto::IdentityKey;
use chatly_protocol::labels::{LABEL_ACCOUNT_COSIGN, LABEL_ENVELOPE, LABEL_PREKEY};
use chatly_protocol::{AccountId, AccountRecord, Envelope, EnvelopeId, Header, Kind, RoomId};

use crate::accounts::UnlockedKeys;

/// An envelope whose structure and author signature have been checked.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Its id (hash of its bytes).
    pub id: EnvelopeId,
    /// Decoded form.
    pub envelope: Envelope,
    /// The exact bytes, as stored and relayed.
    pub bytes: Vec<u8>,
}

/// Why an envelope is not accepted, and what gossipsub should make of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Invalid: never relayed, the forwarding peer loses score.
    Invalid(String),
    /// Not acceptable now but not the sender's fault: not relayed, no penalty.
    Ignored(String),
}

/// Decodes an envelope and verifies its author's signature.
pub fn open(bytes: Vec<u8>) -> Result<Verified, Rejection> {
    let envelope = Envelope::decode(&bytes)
        .map_err(|e| Rejection::Invalid(format!("malformed envelope: {e}")))?;
    chatly_crypto::verify(
        &envelope.header.author.0,
        LABEL_ENVELOPE,
        Envelope::signed_part(&bytes),
        &envelope.signature,
    )
    .map_err(|_| Rejection::Invalid("bad author signature".into()))?;
    let id = EnvelopeId(chatly_crypto::envelope_id(&bytes));
    Ok(Verified {
        id,
        envelope,
        bytes,
    })
}

/// Signs a header and body into an envelope.
pub fn seal(identity: &IdentityKey, header: Header, body: Vec<u8>) -> Result<Verified, Rejection> {
    let signed = chatly_protocol::signing_bytes(&header, &body)
        .map_err(|e| Rejection::Invalid(e.to_string()))?;
    let signature = identity.sign(LABEL_ENVELOPE, &signed);
    let envelope = Envelope {
        header,
        body,
        signature,
    };
    let bytes = envelope.encode();
    let id = EnvelopeId(chatly_crypto::envelope_id(&bytes));
    Ok(Verified {
        id,
        envelope,
        bytes,
    })
}

/// What an account says about itself in its record.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Username (fixed at sign-up).
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Short bio.
    pub bio: String,
    /// Profile picture (an image file; its key is public, like the record).
    pub avatar: Option<chatly_protocol::FileRef>,
    /// Where its home node can be dialed (filled in by the node when it publishes).
    pub node_addrs: Vec<String>,
}

/// Builds a signed, node-co-signed account record envelope.
pub fn account_record(
    keys: &UnlockedKeys,
    node_key: &IdentityKey,
    profile: &Profile,
    seq: u64,
    prev: EnvelopeId,
    now_ms: u64,
) -> Result<Verified, Rejection> {
    let author = keys.account_id();
    let mut record = AccountRecord {
        username: profile.username.clone(),
        display_name: profile.display_name.clone(),
        bio: profile.bio.clone(),
        avatar: profile.avatar.clone(),
        dh_public: keys.dh.public(),
        prekey_public: keys.prekey.public(),
        prekey_created_ms: keys.prekey_created_ms,
        prekey_signature: [0; 64],
        node_public: node_key.public(),
        node_signature: [0; 64],
        node_addrs: profile.node_addrs.clone(),
    };
    record.prekey_signature = keys.identity.sign(LABEL_PREKEY, &record.prekey_payload());
    record.node_signature =
        node_key.sign(LABEL_ACCOUNT_COSIGN, &record.cosign_payload(&author, seq));
    let body = record
        .encode()
        .map_err(|e| Rejection::Invalid(e.to_string()))?;
    let header = Header::plain(
        Kind::AccountRecord,
        RoomId::DIRECTORY,
        author,
        seq,
        prev,
        now_ms,
    );
    seal(&keys.identity, header, body)
}

/// Decodes and checks an account record's body: prekey signature and node co-signature.
pub fn check_account_record(envelope: &Envelope) -> Result<AccountRecord, Rejection> {
    let invalid = |why: &str| Rejection::Invalid(format!("account record: {why}"));
    let record = AccountRecord::decode(&envelope.body).map_err(|e| invalid(&e.to_string()))?;
    let author: &AccountId = &envelope.header.author;
    chatly_crypto::verify(
        &author.0,
        LABEL_PREKEY,
        &record.prekey_payload(),
        &record.prekey_signature,
    )
    .map_err(|_| invalid("bad prekey signature"))?;
    chatly_crypto::verify(
        &record.node_public,
        LABEL_ACCOUNT_COSIGN,
        &record.cosign_payload(author, envelope.header.seq),
        &record.node_signature,
    )
    .map_err(|_| invalid("bad node co-signature"))?;
    Ok(record)
}

/// The libp2p PeerId of a node, from its ed25519 public key.
pub fn node_peer_id(node_public: &[u8; 32]) -> Option<libp2p::PeerId> {
    libp2p::identity::ed25519::PublicKey::try_from_bytes(node_public)
        .ok()
        .map(|key| libp2p::identity::PublicKey::from(key).to_peer_id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatly_protocol::Content;

    fn sealed() -> (UnlockedKeys, Verified) {
        let keys = UnlockedKeys::generate(1);
        let body = Content::Message {
            text: "hello".into(),
            files: Vec::new(),
            reply_to: None,
        }
        .encode()
        .unwrap();
        let header = Header::plain(
            Kind::Content,
            RoomId::PUBLIC,
            keys.account_id(),
            1,
            EnvelopeId::ZERO,
            1_700_000_000_000,
        );
        let verified = seal(&keys.identity, header, body).unwrap();
        (keys, verified)
    }

    #[test]
    fn a_sealed_envelope_opens_with_the_same_id() {
        let (_, verified) = sealed();
        let opened = open(verified.bytes.clone()).unwrap();
        assert_eq!(opened.id, verified.id);
        assert_eq!(opened.envelope, verified.envelope);
    }

    #[test]
    fn any_flipped_bit_fails() {
        let (_, verified) = sealed();
        for bit in 0..verified.bytes.len() * 8 {
            let mut bytes = verified.bytes.clone();
            bytes[bit / 8] ^= 1 << (bit % 8);
            assert!(open(bytes).is_err(), "flipping bit {bit} went unnoticed");
        }
    }

    #[test]
    fn account_records_are_bound_to_account_and_node() {
        let keys = UnlockedKeys::generate(1);
        let node = IdentityKey::generate();
        let profile = Profile {
            username: "alice".into(),
            display_name: "Alice".into(),
            bio: String::new(),
            avatar: None,
            node_addrs: Vec::new(),
        };
        let record = account_record(&keys, &node, &profile, 1, EnvelopeId::ZERO, 5).unwrap();
        let opened = open(record.bytes.clone()).unwrap();
        assert!(check_account_record(&opened.envelope).is_ok());
        // Another node's key in the record, with the original co-signature: rejected.
        let mut forged = opened.envelope.clone();
        let mut body = AccountRecord::decode(&forged.body).unwrap();
        body.node_public = IdentityKey::generate().public();
        forged.body = body.encode().unwrap();
        assert!(check_account_record(&forged).is_err());
    }
}
