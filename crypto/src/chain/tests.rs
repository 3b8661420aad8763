//! Properties of sender and receiver chains, and sealing with them.

use super::*;
use proptest::prelude::*;

fn state(key: u8) -> ChainState {
    ChainState {
        chain_id: [1; 16],
        chain_key: [key; 32],
        index: 0,
    }
}

#[test]
fn known_answer_chain_steps() {
    let mut sender = SenderChain {
        state: state(9),
        created_ms: 0,
    };
    let keys: Vec<String> = (0..3).map(|_| hex::encode(*sender.next_key().1)).collect();
    let mut receiver = ReceiverChain::new(state(9));
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(&hex::encode(*receiver.message_key(i as u32).unwrap()), key);
    }
    // Frozen: the first message key from chain key [9; 32].
    assert_eq!(keys[0], hex::encode(hkdf32(&[9; 32], LABEL_CHAIN_MESSAGE)));
    assert_ne!(keys[0], keys[1]);
}

#[test]
fn used_keys_are_gone_and_jumps_are_bounded() {
    let mut receiver = ReceiverChain::new(state(3));
    assert!(receiver.message_key(5).is_ok());
    assert_eq!(receiver.message_key(5).unwrap_err(), CryptoError::KeyUsed);
    assert!(receiver.message_key(2).is_ok(), "a skipped key opens once");
    assert_eq!(receiver.message_key(2).unwrap_err(), CryptoError::KeyUsed);
    assert_eq!(
        receiver.message_key(6 + MAX_CHAIN_JUMP + 1).unwrap_err(),
        CryptoError::ChainJump
    );
    let mut late = ReceiverChain::new(ChainState {
        index: 10,
        ..state(3)
    });
    assert_eq!(
        late.message_key(4).unwrap_err(),
        CryptoError::KeyUsed,
        "a new member reads from its join on"
    );
}

#[test]
fn signal_keys_match_without_moving_either_chain() {
    let mut sender = SenderChain {
        state: state(6),
        created_ms: 0,
    };
    sender.next_key();
    sender.next_key();
    let (index, key) = sender.signal_key();
    assert_eq!(index, 2);
    assert_eq!(
        sender.signal_key().1,
        key,
        "the sender's chain did not move"
    );
    let mut receiver = ReceiverChain::new(state(6));
    assert_eq!(
        receiver.signal_key(2).unwrap(),
        key,
        "a receiver behind derives it"
    );
    let first = receiver.message_key(0).unwrap();
    assert_eq!(receiver.signal_key(2).unwrap(), key);
    assert_ne!(*first, *key, "signal and message keys differ");
    let (_, message_two) = sender.next_key();
    assert_ne!(
        *message_two, *key,
        "message 2's key is not the signal key at 2"
    );
    receiver.message_key(1).unwrap();
    receiver.message_key(2).unwrap();
    assert_eq!(
        receiver.signal_key(2).unwrap_err(),
        CryptoError::KeyUsed,
        "a late signal is dropped"
    );
    assert_eq!(
        receiver.signal_key(3 + MAX_CHAIN_JUMP + 1).unwrap_err(),
        CryptoError::ChainJump
    );
}

#[test]
fn the_skipped_window_is_bounded() {
    let mut receiver = ReceiverChain::new(state(4));
    for i in 0..3 {
        receiver.message_key((i + 1) * MAX_CHAIN_JUMP).unwrap();
    }
    assert!(receiver.skipped.len() <= MAX_SKIPPED_KEYS);
    let bytes = receiver.to_bytes();
    let back = ReceiverChain::from_bytes(&bytes).unwrap();
    assert_eq!(back.skipped, receiver.skipped);
}

proptest! {
    #[test]
    fn out_of_order_delivery_opens_each_message_once(order in Just((0u32..40).collect::<Vec<_>>()).prop_shuffle()) {
        let mut sender = SenderChain::new(0);
        let start = sender.state().clone();
        let sealed: Vec<_> = (0..40u32).map(|i| {
            let (index, key) = sender.next_key();
            prop_assert_eq!(index, i);
            Ok(seal_message(&key, &[0; 12], b"header", format!("message {i}").as_bytes()))
        }).collect::<Result<_, TestCaseError>>()?;
        let mut receiver = ReceiverChain::new(start);
        for i in order {
            let key = receiver.message_key(i).unwrap();
            let plain = open_message(&key, &[0; 12], b"header", &sealed[i as usize]).unwrap();
            let expected = format!("message {i}");
            prop_assert_eq!(plain.as_slice(), expected.as_bytes());
            prop_assert!(receiver.message_key(i).is_err(), "a replay opens nothing");
        }
    }

    #[test]
    fn any_flipped_bit_fails(bit in 0usize..(8 * (20 + 16 + 12 + 6))) {
        let key = [5u8; 32];
        let sealed = seal_message(&key, &[7; 12], b"header", b"twenty bytes of text");
        let (mut ct, mut nonce, mut ad) = (sealed.clone(), [7u8; 12], b"header".to_vec());
        let byte = bit / 8;
        if byte < ct.len() { ct[byte] ^= 1 << (bit % 8); }
        else if byte < ct.len() + 12 { nonce[byte - ct.len()] ^= 1 << (bit % 8); }
        else { ad[byte - ct.len() - 12] ^= 1 << (bit % 8); }
        prop_assert!(open_message(&key, &nonce, &ad, &ct).is_err());
    }

    #[test]
    fn a_chain_opens_nothing_without_its_delivery(other in any::<[u8; 32]>()) {
        let mut sender = SenderChain { state: state(1), created_ms: 0 };
        let (_, key) = sender.next_key();
        let sealed = seal_message(&key, &[0; 12], b"h", b"secret");
        prop_assume!(other != [1; 32]);
        let mut wrong = ReceiverChain::new(ChainState { chain_key: other, ..state(1) });
        let guess = wrong.message_key(0).unwrap();
        prop_assert!(open_message(&guess, &[0; 12], b"h", &sealed).is_err());
    }
}
