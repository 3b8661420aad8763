//! X25519: agreement, and refusal of non-contributory results.
#![allow(clippy::unwrap_used)]

use chatly_crypto::*;

#[test]
fn both_sides_agree() {
    let (a, b) = (DhKey::generate(), DhKey::generate());
    let ab = dh(&a, &b.public()).unwrap();
    let ba = dh(&b, &a.public()).unwrap();
    assert_eq!(*ab, *ba);
    let a2 = DhKey::from_bytes(&a.to_bytes());
    assert_eq!(a2.public(), a.public());
    assert_ne!(format!("{a:?}"), hex::encode(*a.to_bytes()));
}

#[test]
fn small_order_public_keys_are_rejected() {
    let key = DhKey::generate();
    let mut one = [0u8; 32];
    one[0] = 1;
    // u = p - 1, another point of small order.
    let mut p_minus_1 = [0xff; 32];
    p_minus_1[0] = 0xec;
    p_minus_1[31] = 0x7f;
    for public in [[0u8; 32], one, p_minus_1] {
        assert_eq!(
            dh(&key, &public).map(|_| ()),
            Err(CryptoError::NonContributory)
        );
    }
}
