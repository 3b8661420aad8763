//! Pairwise delivery of a sender chain to one recipient (docs/protocol.md, "Key delivery"):
//! an ephemeral X25519 key agreed with the recipient's signed prekey and its static DH key.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::chain::ChainState;
use crate::{CryptoError, DhKey, dh};

/// HKDF info prefix of a delivery key.
pub const LABEL_KEY_DELIVERY: &str = "chatly/v1/key-delivery";

/// A chain sealed to one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The sender's ephemeral public key.
    pub ephemeral: [u8; 32],
    /// The sealed chain state.
    pub sealed: Vec<u8>,
}

/// The delivery key: HKDF-SHA256 over both DH results, bound to every public key and both
/// account ids. Exposed for known-answer tests.
#[doc(hidden)]
pub fn delivery_key(
    dh1: &[u8; 32],
    dh2: &[u8; 32],
    ephemeral: &[u8; 32],
    prekey: &[u8; 32],
    dh_public: &[u8; 32],
    sender: &[u8; 32],
    recipient: &[u8; 32],
) -> Zeroizing<[u8; 32]> {
    let mut ikm = Zeroizing::new([0u8; 64]);
    ikm[..32].copy_from_slice(dh1);
    ikm[32..].copy_from_slice(dh2);
    let mut info = Vec::with_capacity(LABEL_KEY_DELIVERY.len() + 5 * 32);
    info.extend_from_slice(LABEL_KEY_DELIVERY.as_bytes());
    for part in [ephemeral, prekey, dh_public, sender, recipient] {
        info.extend_from_slice(part);
    }
    let mut key = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's output limit: expand cannot fail.
    let _ = Hkdf::<Sha256>::new(None, ikm.as_slice()).expand(&info, key.as_mut_slice());
    key
}

/// Seals `chain` to `recipient` (the sender's side).
pub fn deliver(
    chain: &ChainState,
    room: &[u8; 16],
    sender: &[u8; 32],
    recipient: &[u8; 32],
    recipient_prekey: &[u8; 32],
    recipient_dh: &[u8; 32],
) -> Result<Delivery, CryptoError> {
    let ephemeral = DhKey::generate();
    let e_pub = ephemeral.public();
    let dh1 = dh(&ephemeral, recipient_prekey)?;
    let dh2 = dh(&ephemeral, recipient_dh)?;
    let key = delivery_key(
        &dh1,
        &dh2,
        &e_pub,
        recipient_prekey,
        recipient_dh,
        sender,
        recipient,
    );
    let cipher = ChaCha20Poly1305::new((&*key).into());
    // The key is used once, so a zero nonce is safe.
    let sealed = cipher
        .encrypt(
            &Nonce::default(),
            Payload {
                msg: &chain.to_bytes(),
                aad: room,
            },
        )
        .map_err(|_| CryptoError::Malformed("delivery too large"))?;
    Ok(Delivery {
        ephemeral: e_pub,
        sealed,
    })
}

/// Opens a delivery addressed to us (the recipient's side).
pub fn accept(
    delivery: &Delivery,
    room: &[u8; 16],
    sender: &[u8; 32],
    recipient: &[u8; 32],
    prekey: &DhKey,
    dh_key: &DhKey,
) -> Result<ChainState, CryptoError> {
    let dh1 = dh(prekey, &delivery.ephemeral)?;
    let dh2 = dh(dh_key, &delivery.ephemeral)?;
    let key = delivery_key(
        &dh1,
        &dh2,
        &delivery.ephemeral,
        &prekey.public(),
        &dh_key.public(),
        sender,
        recipient,
    );
    let cipher = ChaCha20Poly1305::new((&*key).into());
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                &Nonce::default(),
                Payload {
                    msg: &delivery.sealed,
                    aad: room,
                },
            )
            .map_err(|_| CryptoError::Decrypt)?,
    );
    ChainState::from_bytes(&plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    struct Recipient {
        prekey: DhKey,
        dh: DhKey,
    }

    fn recipient() -> Recipient {
        Recipient {
            prekey: DhKey::generate(),
            dh: DhKey::generate(),
        }
    }

    fn chain() -> ChainState {
        ChainState {
            chain_id: [3; 16],
            chain_key: [4; 32],
            index: 17,
        }
    }

    #[test]
    fn a_delivery_opens_for_its_recipient_only() {
        let bob = recipient();
        let d = deliver(
            &chain(),
            &[1; 16],
            &[0xa; 32],
            &[0xb; 32],
            &bob.prekey.public(),
            &bob.dh.public(),
        )
        .unwrap();
        assert_eq!(
            accept(&d, &[1; 16], &[0xa; 32], &[0xb; 32], &bob.prekey, &bob.dh).unwrap(),
            chain()
        );
        let carol = recipient();
        assert!(
            accept(
                &d,
                &[1; 16],
                &[0xa; 32],
                &[0xb; 32],
                &carol.prekey,
                &carol.dh
            )
            .is_err(),
            "wrong recipient keys"
        );
        assert!(
            accept(&d, &[2; 16], &[0xa; 32], &[0xb; 32], &bob.prekey, &bob.dh).is_err(),
            "wrong room"
        );
        assert!(
            accept(&d, &[1; 16], &[0xc; 32], &[0xb; 32], &bob.prekey, &bob.dh).is_err(),
            "wrong sender"
        );
        assert!(
            accept(&d, &[1; 16], &[0xa; 32], &[0xc; 32], &bob.prekey, &bob.dh).is_err(),
            "wrong recipient id"
        );
    }

    #[test]
    fn low_order_recipient_keys_are_refused() {
        assert!(
            deliver(
                &chain(),
                &[1; 16],
                &[0xa; 32],
                &[0xb; 32],
                &[0; 32],
                &[0; 32]
            )
            .is_err()
        );
    }

    #[test]
    fn known_answer_delivery_key() {
        let key = delivery_key(
            &[1; 32], &[2; 32], &[3; 32], &[4; 32], &[5; 32], &[6; 32], &[7; 32],
        );
        // Cross-checked against an independent HKDF-SHA256 (Python hmac/hashlib) when frozen.
        assert_eq!(
            hex::encode(*key),
            "c9cf8991313166b93da8fc4760d9f5b699dba199343fb329f616163fcc132116"
        );
        let other = delivery_key(
            &[1; 32], &[2; 32], &[3; 32], &[4; 32], &[5; 32], &[6; 32], &[8; 32],
        );
        assert_ne!(*key, *other, "bound to the recipient id");
    }

    proptest! {
        #[test]
        fn any_flipped_bit_of_a_delivery_fails(bit in 0usize..(8 * (52 + 16 + 32))) {
            let bob = recipient();
            let mut d = deliver(&chain(), &[1; 16], &[0xa; 32], &[0xb; 32], &bob.prekey.public(), &bob.dh.public()).unwrap();
            let byte = bit / 8;
            if byte < d.sealed.len() { d.sealed[byte] ^= 1 << (bit % 8); } else { d.ephemeral[byte - d.sealed.len()] ^= 1 << (bit % 8); }
            prop_assert!(accept(&d, &[1; 16], &[0xa; 32], &[0xb; 32], &bob.prekey, &bob.dh).is_err());
        }
    }
}
