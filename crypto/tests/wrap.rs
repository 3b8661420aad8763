//! Password hashing, master-key wrapping and sealing.
#![allow(clippy::unwrap_used)]

use chatly_crypto::wrap::*;
use chatly_crypto::*;
use proptest::prelude::*;

/// Cheapest argon2 parameters, for the property loops only.
const FAST: WrapParams = WrapParams {
    m_kib: 8,
    t: 1,
    p: 1,
};

#[test]
fn password_hash_roundtrip() {
    let phc = password::hash_password("correct horse").unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert!(password::verify_password("correct horse", &phc));
    assert!(!password::verify_password("correct horsf", &phc));
    assert!(!password::verify_password(
        "correct horse",
        "not a phc string"
    ));
    assert_ne!(
        password::hash_password("correct horse").unwrap(),
        phc,
        "salt is random"
    );
    // Another argon2 variant is refused even when its hash is right.
    let argon2i = phc.replacen("argon2id", "argon2i", 1);
    assert!(!password::verify_password("correct horse", &argon2i));
}

#[test]
fn wrap_unwrap_with_default_params() {
    let master = MasterKey::generate();
    let wrapped = wrap_master("pässword", &master, WrapParams::DEFAULT).unwrap();
    assert_eq!(wrapped.params, WrapParams::DEFAULT);
    let bytes = wrapped.to_bytes();
    assert_eq!(bytes.len(), WRAPPED_KEY_LEN);
    assert_eq!(bytes.len(), 101);
    let parsed = WrappedKey::from_bytes(&bytes).unwrap();
    assert_eq!(parsed, wrapped);
    assert_eq!(
        unwrap_master("pässword", &parsed).unwrap().expose(),
        master.expose()
    );
    assert_eq!(
        unwrap_master("password", &parsed).err(),
        Some(CryptoError::WrongPassword)
    );
}

#[test]
fn wrapped_key_layout() {
    let wrapped = WrappedKey {
        salt: [1; 16],
        params: WrapParams {
            m_kib: 2,
            t: 3,
            p: 4,
        },
        nonce: [5; 24],
        ciphertext: vec![6; 48],
    };
    let bytes = wrapped.to_bytes();
    assert_eq!(bytes[0], WRAPPED_KEY_VERSION);
    assert_eq!(&bytes[1..17], &[1; 16]);
    assert_eq!(&bytes[17..29], &[0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]);
    assert_eq!(&bytes[29..53], &[5; 24]);
    assert_eq!(&bytes[53..], &[6; 48]);
    let mut other_version = bytes.clone();
    other_version[0] = 2;
    assert!(WrappedKey::from_bytes(&other_version).is_err());
    assert!(WrappedKey::from_bytes(&bytes[..100]).is_err());
}

#[test]
fn unreasonable_params_are_refused() {
    let master = MasterKey::generate();
    for params in [
        WrapParams {
            m_kib: WrapParams::MAX_M_KIB + 1,
            t: 1,
            p: 1,
        },
        WrapParams {
            m_kib: 8,
            t: 0,
            p: 1,
        },
        WrapParams {
            m_kib: 8,
            t: WrapParams::MAX_T + 1,
            p: 1,
        },
        WrapParams {
            m_kib: 8,
            t: 1,
            p: 0,
        },
    ] {
        assert!(
            matches!(
                wrap_master("pw", &master, params),
                Err(CryptoError::BadParams(_))
            ),
            "{params:?}"
        );
    }
}

#[test]
fn changed_params_fail_to_unwrap() {
    let master = MasterKey::generate();
    let mut wrapped = wrap_master("pw", &master, FAST).unwrap();
    wrapped.params.t = 2;
    assert_eq!(
        unwrap_master("pw", &wrapped).err(),
        Some(CryptoError::WrongPassword)
    );
}

#[test]
fn seal_open() {
    let key = random_bytes::<32>();
    let sealed = seal(&key, "chatly/v1/key-wrap", b"secret keys");
    assert_eq!(sealed.len(), NONCE_LEN + 11 + TAG_LEN);
    assert_eq!(
        &open(&key, "chatly/v1/key-wrap", &sealed).unwrap()[..],
        b"secret keys"
    );
    assert_eq!(
        open(&key, "chatly/v1/master-wrap", &sealed).err(),
        Some(CryptoError::Decrypt)
    );
    assert_eq!(
        open(&random_bytes(), "chatly/v1/key-wrap", &sealed).err(),
        Some(CryptoError::Decrypt)
    );
    assert!(matches!(
        open(&key, "chatly/v1/key-wrap", &sealed[..39]),
        Err(CryptoError::Malformed(_))
    ));
    assert_ne!(
        seal(&key, "l", b"x"),
        seal(&key, "l", b"x"),
        "fresh nonce each time"
    );
    assert_eq!(&open(&key, "l", &seal(&key, "l", b"")).unwrap()[..], b"");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sealed_bytes_with_any_flipped_bit_fail(key in any::<[u8; 32]>(), plain in proptest::collection::vec(any::<u8>(), 0..100), bit in any::<prop::sample::Index>()) {
        let mut sealed = seal(&key, "label", &plain);
        prop_assert_eq!(&open(&key, "label", &sealed).unwrap()[..], &plain[..]);
        let i = bit.index(sealed.len() * 8);
        sealed[i / 8] ^= 1 << (i % 8);
        prop_assert!(open(&key, "label", &sealed).is_err());
    }

    #[test]
    fn wrapped_key_with_a_flipped_bit_fails(password in "\\PC{0,20}", bit in any::<prop::sample::Index>()) {
        let master = MasterKey::generate();
        let wrapped = wrap_master(&password, &master, FAST).unwrap();
        let unwrapped = unwrap_master(&password, &wrapped).unwrap();
        prop_assert_eq!(unwrapped.expose(), master.expose());
        // Flip a bit of the version, salt, nonce or ciphertext (parameter flips could ask argon2
        // for up to 1 GiB; changed_params_fail_to_unwrap covers them).
        let mut bytes = wrapped.to_bytes();
        let positions: Vec<usize> = (0..17).chain(29..WRAPPED_KEY_LEN).collect();
        let byte = positions[bit.index(positions.len())];
        bytes[byte] ^= 1 << (bit.index(8));
        let result = WrappedKey::from_bytes(&bytes).and_then(|w| unwrap_master(&password, &w));
        prop_assert!(result.is_err());
    }
}
