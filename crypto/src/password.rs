//! Login password hashing: argon2id PHC strings.
//!
//! Separate from key wrapping ([`crate::wrap`]) on purpose: the PHC string is stored for login
//! checks, so it must not be (or yield) the key that unwraps the master key. Both run for about
//! a second of CPU: call them on a blocking thread, never on the async runtime.

use argon2::password_hash::phc::PasswordHash;
use argon2::{
    ARGON2ID_IDENT, Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version,
};

use crate::{CryptoError, random_bytes};

/// Memory cost in KiB (19 MiB): OWASP's minimum recommendation for argon2id.
pub const LOGIN_M_KIB: u32 = 19_456;
/// Iterations.
pub const LOGIN_T: u32 = 2;
/// Lanes.
pub const LOGIN_P: u32 = 1;
/// Largest memory cost [`verify_password`] will run, so a corrupted stored hash cannot make it
/// allocate without bound (1 GiB).
const MAX_VERIFY_M_KIB: u32 = 1024 * 1024;

/// Hashes a password into an argon2id PHC string (m=19456 KiB, t=2, p=1, 16-byte random salt).
pub fn hash_password(password: &str) -> Result<String, CryptoError> {
    let params = Params::new(LOGIN_M_KIB, LOGIN_T, LOGIN_P, Some(32))
        .map_err(|e| CryptoError::PasswordHash(e.to_string()))?;
    let salt = random_bytes::<16>();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| CryptoError::PasswordHash(e.to_string()))
}

/// Whether `password` matches a PHC string made by [`hash_password`]. Anything that is not a
/// well-formed argon2id string with sane parameters is a mismatch. The output comparison is
/// constant-time (done by the argon2 crate).
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    if hash.algorithm != ARGON2ID_IDENT {
        return false;
    }
    match Params::try_from(&hash) {
        Ok(params) if params.m_cost() <= MAX_VERIFY_M_KIB => {}
        _ => return false,
    }
    Argon2::default()
        .verify_password(password.as_bytes(), &hash)
        .is_ok()
}
