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
    let envelope = decode(&bytes)?;
    check_signature(&envelope, &bytes)?;
    Ok(verified(envelope, bytes))
}

/// [`open`] for many envelopes at once, with the same result for each, in order. The signatures
/// are checked in one batch (`chatly_crypto::verify_batch`, about a third of the cost per
/// signature), and one by one only when the batch fails, to find which.
pub fn open_many(payloads: Vec<Vec<u8>>) -> Vec<Result<Verified, Rejection>> {
    let decoded: Vec<Result<(Envelope, Vec<u8>), Rejection>> = payloads
        .into_iter()
        .map(|bytes| Ok((decode(&bytes)?, bytes)))
        .collect();
    let signed: Vec<chatly_crypto::SignedItem<'_>> = decoded
        .iter()
        .flatten()
        .map(|(envelope, bytes)| {
            (
                &envelope.header.author.0,
                LABEL_ENVELOPE,
                Envelope::signed_part(bytes),
                &envelope.signature,
            )
        })
        .collect();
    let all_good = chatly_crypto::verify_batch(&signed).is_ok();
    decoded
        .into_iter()
        .map(|decoded| {
            let (envelope, bytes) = decoded?;
            if !all_good {
                check_signature(&envelope, &bytes)?;
            }
            Ok(verified(envelope, bytes))
        })
        .collect()
}

fn decode(bytes: &[u8]) -> Result<Envelope, Rejection> {
    Envelope::decode(bytes).map_err(|e| Rejection::Invalid(format!("malformed envelope: {e}")))
}

fn check_signature(envelope: &Envelope, bytes: &[u8]) -> Result<(), Rejection> {
    chatly_crypto::verify(
        &envelope.header.author.0,
        LABEL_ENVELOPE,
        Envelope::signed_part(bytes),
        &envelope.signature,
    )
    .map_err(|_| Rejection::Invalid("bad author signature".into()))
}

fn verified(envelope: Envelope, bytes: Vec<u8>) -> Verified {
    Verified {
        id: EnvelopeId(chatly_crypto::envelope_id(&bytes)),
        envelope,
        bytes,
    }
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

    /// A batch gives each envelope what `open` gives it, whatever else shares the batch: good
    /// ones, a flipped bit anywhere (structure or signature), another author's.
    #[test]
    fn open_many_agrees_with_open_for_each() {
        let (_, good) = sealed();
        let (_, other) = sealed();
        let mut payloads = vec![good.bytes.clone(), other.bytes.clone()];
        for bit in (0..good.bytes.len() * 8).step_by(61) {
            let mut bytes = good.bytes.clone();
            bytes[bit / 8] ^= 1 << (bit % 8);
            payloads.push(bytes);
        }
        payloads.push(good.bytes.clone());
        let single: Vec<_> = payloads.iter().map(|p| open(p.clone())).collect();
        let many = open_many(payloads.clone());
        assert_eq!(many.len(), single.len());
        for (one, batched) in single.iter().zip(&many) {
            assert_eq!(one.as_ref().map(|v| v.id), batched.as_ref().map(|v| v.id));
            assert_eq!(one.as_ref().err(), batched.as_ref().err());
        }
        assert!(many[0].is_ok() && many[1].is_ok() && many.last().unwrap().is_ok());
        assert!(many[2..many.len() - 1].iter().all(Result::is_err));
        // All good: the batch path alone.
        let all_good = open_many(vec![good.bytes.clone(), other.bytes.clone()]);
        assert!(all_good.iter().all(Result::is_ok));
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
