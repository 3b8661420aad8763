//! Labelled signatures: roundtrip, any flipped bit fails, labels separate purposes.
#![allow(clippy::unwrap_used)]

use chatly_crypto::*;
use proptest::prelude::*;

const LABEL: &str = "chatly/v1/envelope";

#[test]
fn sign_verify_roundtrip_and_key_bytes() {
    let key = IdentityKey::generate();
    let signature = key.sign(LABEL, b"payload");
    assert_eq!(verify(&key.public(), LABEL, b"payload", &signature), Ok(()));
    let again = IdentityKey::from_bytes(&key.to_bytes());
    assert_eq!(again.public(), key.public());
    assert_ne!(IdentityKey::generate().public(), key.public());
    // Debug must not leak the secret.
    let debug = format!("{key:?}");
    assert!(!debug.contains(&hex::encode(*key.to_bytes())));
}

#[test]
fn wrong_label_or_key_fails() {
    let key = IdentityKey::generate();
    let signature = key.sign(LABEL, b"payload");
    assert_eq!(
        verify(&key.public(), "chatly/v1/prekey", b"payload", &signature),
        Err(CryptoError::BadSignature)
    );
    let other = IdentityKey::generate();
    assert_eq!(
        verify(&other.public(), LABEL, b"payload", &signature),
        Err(CryptoError::BadSignature)
    );
    // Moving bytes between label and payload changes the signed bytes (length prefix).
    let signature = key.sign("ab", b"c");
    assert!(verify(&key.public(), "a", b"bc", &signature).is_err());
}

#[test]
fn small_order_and_invalid_keys_are_rejected() {
    let key = IdentityKey::generate();
    let signature = key.sign(LABEL, b"x");
    // The identity point (small order): verify_strict refuses it.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert!(verify(&identity, LABEL, b"x", &signature).is_err());
    // y = 2 is not on the curve: the key does not decompress.
    let mut off_curve = [0u8; 32];
    off_curve[0] = 2;
    assert_eq!(
        verify(&off_curve, LABEL, b"x", &signature),
        Err(CryptoError::BadPublicKey)
    );
}

#[test]
fn batch_agrees_with_single() {
    let keys: Vec<IdentityKey> = (0..4).map(|_| IdentityKey::generate()).collect();
    let publics: Vec<[u8; 32]> = keys.iter().map(IdentityKey::public).collect();
    let payloads: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 10]).collect();
    let mut signatures: Vec<[u8; 64]> = keys
        .iter()
        .zip(&payloads)
        .map(|(k, p)| k.sign(LABEL, p))
        .collect();
    let items = |sigs: &[[u8; 64]]| -> Result<(), CryptoError> {
        let v: Vec<SignedItem<'_>> = (0..4)
            .map(|i| (&publics[i], LABEL, payloads[i].as_slice(), &sigs[i]))
            .collect();
        verify_batch(&v)
    };
    assert_eq!(items(&signatures), Ok(()));
    assert_eq!(verify_batch(&[]), Ok(()));
    signatures[2][5] ^= 1;
    assert_eq!(items(&signatures), Err(CryptoError::BadSignature));
}

proptest! {
    #[test]
    fn any_flipped_bit_fails(seed in any::<[u8; 32]>(), payload in proptest::collection::vec(any::<u8>(), 1..200), bit in any::<prop::sample::Index>()) {
        let key = IdentityKey::from_bytes(&seed);
        let public = key.public();
        let signature = key.sign(LABEL, &payload);
        prop_assert!(verify(&public, LABEL, &payload, &signature).is_ok());

        let mut p = payload.clone();
        let i = bit.index(p.len() * 8);
        p[i / 8] ^= 1 << (i % 8);
        prop_assert!(verify(&public, LABEL, &p, &signature).is_err());

        let mut s = signature;
        let i = bit.index(512);
        s[i / 8] ^= 1 << (i % 8);
        prop_assert!(verify(&public, LABEL, &payload, &s).is_err());

        let mut k = public;
        let i = bit.index(256);
        k[i / 8] ^= 1 << (i % 8);
        prop_assert!(verify(&k, LABEL, &payload, &signature).is_err());
    }
}
