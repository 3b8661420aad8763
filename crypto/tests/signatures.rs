//! Labelled signatures: roundtrip, any flipped bit fails, labels separate purposes, and batch
//! verification agrees with single verification, also on signatures crafted with torsion.
#![allow(clippy::unwrap_used)]

use chatly_crypto::*;
use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use proptest::prelude::*;
use sha2::{Digest, Sha512};

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

/// An honest signature is valid under ed25519-dalek's `verify_strict` and under ours.
#[test]
fn honest_signatures_agree_with_verify_strict() {
    for i in 0..64u8 {
        let key = IdentityKey::generate();
        let payload = vec![i; usize::from(i)];
        let signature = key.sign(LABEL, &payload);
        let dalek = ed25519_dalek::VerifyingKey::from_bytes(&key.public()).unwrap();
        let message = labelled(LABEL, &payload);
        assert!(
            dalek
                .verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&signature))
                .is_ok()
        );
        assert_eq!(verify(&key.public(), LABEL, &payload, &signature), Ok(()));
    }
}

/// A key made by hand, so a test can sign with torsion in `R` or in the key.
struct RawKey {
    secret: Scalar,
    public: [u8; 32],
}

impl RawKey {
    fn new(torsion: &EdwardsPoint) -> RawKey {
        let secret = Scalar::from_bytes_mod_order(random_bytes::<32>());
        let point = ED25519_BASEPOINT_POINT * secret + torsion;
        RawKey {
            secret,
            public: point.compress().to_bytes(),
        }
    }

    /// Signs with the nonce point `R = [r]B + torsion`.
    fn sign(&self, payload: &[u8], torsion: &EdwardsPoint) -> [u8; 64] {
        let r = Scalar::from_bytes_mod_order(random_bytes::<32>());
        let r_point = (ED25519_BASEPOINT_POINT * r + torsion)
            .compress()
            .to_bytes();
        let mut hash = Sha512::new();
        hash.update(r_point);
        hash.update(self.public);
        hash.update(labelled(LABEL, payload));
        let k = Scalar::from_bytes_mod_order_wide(&hash.finalize().into());
        let s = r + k * self.secret;
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&r_point);
        signature[32..].copy_from_slice(s.as_bytes());
        signature
    }
}

/// The reason verification is cofactored: a signer can hide torsion in `R` (or in its key). The
/// single check and every batch that holds such a signature must reach the same verdict, or
/// nodes would disagree about one envelope depending on what arrived with it.
#[test]
fn torsion_in_r_or_key_gets_one_verdict_alone_and_in_any_batch() {
    let honest = IdentityKey::generate();
    let honest_public = honest.public();
    let honest_signature = honest.sign(LABEL, b"honest");
    for torsion in &EIGHT_TORSION[1..] {
        for (in_key, in_r) in [(true, false), (false, true), (true, true)] {
            let none = EdwardsPoint::default();
            let key = RawKey::new(if in_key { torsion } else { &none });
            let signature = key.sign(b"crafted", if in_r { torsion } else { &none });
            let alone = verify(&key.public, LABEL, b"crafted", &signature);
            assert_eq!(alone, Ok(()), "the cofactored rule accepts it");
            // ed25519-dalek's cofactorless check refuses torsion in `R` alone ([s]B − [k]A is
            // [r]B, never R): the rules differ exactly here. (With torsion in the key as well it
            // passes when k happens to cancel it.)
            if !in_key {
                let dalek = ed25519_dalek::VerifyingKey::from_bytes(&key.public).unwrap();
                let message = labelled(LABEL, b"crafted");
                let strict = dalek
                    .verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&signature));
                assert!(strict.is_err());
            }
            // Random weights: with the cofactorless sum, about half of these would disagree.
            for _ in 0..16 {
                let batch = [
                    (&key.public, LABEL, &b"crafted"[..], &signature),
                    (&honest_public, LABEL, &b"honest"[..], &honest_signature),
                    (&key.public, LABEL, &b"crafted"[..], &signature),
                ];
                assert_eq!(verify_batch(&batch), alone);
            }
        }
    }
}

#[test]
fn non_canonical_s_and_small_order_r_are_refused() {
    let key = IdentityKey::generate();
    let signature = key.sign(LABEL, b"x");
    // s + ℓ: the same value mod ℓ, a second encoding.
    let ell = Scalar::ZERO - Scalar::ONE; // ℓ − 1
    let s = Scalar::from_canonical_bytes(signature[32..].try_into().unwrap()).unwrap();
    let mut wide = [0u8; 33];
    let mut carry = 1u16; // s + (ℓ − 1) + 1, as a 256-bit integer without reduction
    let (a, b) = (s.as_bytes(), ell.as_bytes());
    for i in 0..32 {
        let sum = u16::from(a[i]) + u16::from(b[i]) + carry;
        wide[i] = sum as u8;
        carry = sum >> 8;
    }
    wide[32] = carry as u8;
    if wide[32] == 0 {
        let mut mauled = signature;
        mauled[32..].copy_from_slice(&wide[..32]);
        assert_eq!(
            verify(&key.public(), LABEL, b"x", &mauled),
            Err(CryptoError::BadSignature)
        );
        let items = [
            (&key.public(), LABEL, &b"x"[..], &mauled),
            (&key.public(), LABEL, &b"x"[..], &signature),
        ];
        assert!(verify_batch(&items).is_err());
    }
    // R of small order (the identity), whatever s is.
    let mut small = signature;
    small[..32].copy_from_slice(&EdwardsPoint::default().compress().to_bytes());
    assert_eq!(
        verify(&key.public(), LABEL, b"x", &small),
        Err(CryptoError::BadSignature)
    );
}

proptest! {
    /// Any mix of good and damaged signatures, over shared and distinct keys: the batch accepts
    /// exactly when every signature verifies alone.
    #[test]
    fn batch_verdict_is_every_single_verdict(
        seeds in proptest::collection::vec(0usize..3, 2..12),
        damage in proptest::collection::vec(proptest::option::of(0usize..(96 * 8)), 2..12),
    ) {
        let keys: Vec<IdentityKey> = (0..3u8).map(|i| IdentityKey::from_bytes(&[i + 1; 32])).collect();
        let publics: Vec<[u8; 32]> = keys.iter().map(IdentityKey::public).collect();
        let n = seeds.len().min(damage.len());
        let payloads: Vec<Vec<u8>> = (0..n).map(|i| format!("message {i}").into_bytes()).collect();
        let mut items: Vec<([u8; 32], [u8; 64])> = (0..n)
            .map(|i| (publics[seeds[i]], keys[seeds[i]].sign(LABEL, &payloads[i])))
            .collect();
        for (i, bit) in damage.iter().take(n).enumerate() {
            // A bit of the key (0..256) or of the signature (256..768).
            if let Some(bit) = bit {
                if *bit < 256 {
                    items[i].0[bit / 8] ^= 1 << (bit % 8);
                } else {
                    let bit = bit - 256;
                    items[i].1[bit / 8] ^= 1 << (bit % 8);
                }
            }
        }
        let singles = (0..n).all(|i| verify(&items[i].0, LABEL, &payloads[i], &items[i].1).is_ok());
        let batch: Vec<SignedItem<'_>> = (0..n)
            .map(|i| (&items[i].0, LABEL, payloads[i].as_slice(), &items[i].1))
            .collect();
        prop_assert_eq!(verify_batch(&batch).is_ok(), singles);
    }

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
