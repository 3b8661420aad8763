//! Building, verifying and opening signals (docs/protocol.md, "Signals"). No IO: keys and chains
//! come in as arguments.

use chatly_crypto::{IdentityKey, ReceiverChain, SenderChain};
use chatly_protocol::labels::LABEL_SIGNAL;
use chatly_protocol::signal::{Signal, SignalBody, SignalHeader};
use chatly_protocol::{AccountId, KEY_SUITE_SENDER_CHAIN, RoomId};

/// Why a signal is dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    /// Malformed or badly signed: the relaying peer is punished.
    #[error("invalid signal: {0}")]
    Invalid(String),
    /// Well formed but not for us (stale, unknown author, no key): dropped quietly.
    #[error("signal ignored: {0}")]
    Ignored(&'static str),
}

/// A plaintext signal (presence in the directory; typing or a receipt in the public room).
pub fn plain(
    identity: &IdentityKey,
    author: AccountId,
    room: RoomId,
    body: SignalBody,
    now_ms: u64,
) -> Result<Vec<u8>, SignalError> {
    let header = SignalHeader::plain(body.kind(), room, author, now_ms);
    sign(identity, header, body.encode())
}

/// A signal in a group or direct room, its body sealed with the author's chain at its current
/// position (the chain does not move).
pub fn sealed(
    identity: &IdentityKey,
    author: AccountId,
    room: RoomId,
    body: SignalBody,
    chain: &SenderChain,
    now_ms: u64,
) -> Result<Vec<u8>, SignalError> {
    let (index, key) = chain.signal_key();
    let mut header = SignalHeader::plain(body.kind(), room, author, now_ms);
    header.key_suite = KEY_SUITE_SENDER_CHAIN;
    header.key_id = chain.state().chain_id;
    header.key_index = index;
    header.nonce = chatly_crypto::random_bytes();
    let ciphertext =
        chatly_crypto::seal_message(&key, &header.nonce, &header.to_bytes(), &body.encode());
    sign(identity, header, ciphertext)
}

fn sign(
    identity: &IdentityKey,
    header: SignalHeader,
    body: Vec<u8>,
) -> Result<Vec<u8>, SignalError> {
    let signed =
        Signal::signing_bytes(&header, &body).map_err(|e| SignalError::Invalid(e.to_string()))?;
    let signature = identity.sign(LABEL_SIGNAL, &signed);
    Ok(Signal {
        header,
        body,
        signature,
    }
    .encode())
}

/// Decodes a signal and checks its author's signature.
pub fn verify(bytes: &[u8]) -> Result<Signal, SignalError> {
    let signal = Signal::decode(bytes).map_err(|e| SignalError::Invalid(e.to_string()))?;
    chatly_crypto::verify(
        &signal.header.author.0,
        LABEL_SIGNAL,
        Signal::signed_part(bytes),
        &signal.signature,
    )
    .map_err(|_| SignalError::Invalid("bad author signature".into()))?;
    Ok(signal)
}

/// The body of a plaintext signal.
pub fn open_plain(signal: &Signal) -> Result<SignalBody, SignalError> {
    SignalBody::decode(signal.header.kind, &signal.body)
        .map_err(|e| SignalError::Invalid(e.to_string()))
}

/// The body of a sealed signal, with the reader's chain of its author.
pub fn open_sealed(signal: &Signal, chain: &ReceiverChain) -> Result<SignalBody, SignalError> {
    let key = chain
        .signal_key(signal.header.key_index)
        .map_err(|_| SignalError::Ignored("no key for that chain position"))?;
    let plain = chatly_crypto::open_message(
        &key,
        &signal.header.nonce,
        &signal.header.to_bytes(),
        &signal.body,
    )
    .map_err(|_| SignalError::Ignored("does not open with this chain"))?;
    SignalBody::decode(signal.header.kind, &plain).map_err(|e| SignalError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatly_protocol::EnvelopeId;

    #[test]
    fn a_sealed_receipt_opens_for_a_chain_holder_only() {
        let identity = IdentityKey::generate();
        let author = AccountId(identity.public());
        let room = RoomId([5; 16]);
        let mut chain = SenderChain::new(0);
        let receiver = ReceiverChain::new(chain.state().clone());
        chain.next_key();
        let body = SignalBody::Read {
            message: EnvelopeId([1; 32]),
        };
        let bytes = sealed(&identity, author, room, body, &chain, 7).unwrap();
        let signal = verify(&bytes).unwrap();
        assert_eq!(open_sealed(&signal, &receiver).unwrap(), body);
        let stranger = ReceiverChain::new(SenderChain::new(0).state().clone());
        assert!(open_sealed(&signal, &stranger).is_err());
        let mut forged = bytes.clone();
        forged[20] ^= 1;
        assert!(matches!(verify(&forged), Err(SignalError::Invalid(_))));
    }

    #[test]
    fn a_plain_presence_verifies_and_opens() {
        let identity = IdentityKey::generate();
        let author = AccountId(identity.public());
        let body = SignalBody::Presence {
            online: true,
            interval_ms: 5000,
        };
        let bytes = plain(&identity, author, RoomId::DIRECTORY, body, 9).unwrap();
        assert_eq!(open_plain(&verify(&bytes).unwrap()).unwrap(), body);
        let other = IdentityKey::generate();
        let mut signal = Signal::decode(&bytes).unwrap();
        signal.header.author = AccountId(other.public());
        assert!(verify(&signal.encode()).is_err(), "signed by someone else");
    }
}
