//! Ed25519 signature verification: one rule, checked alone ([`verify`]) or many at once
//! ([`verify_batch`]), and the two always agree.
//!
//! The rule (docs/protocol.md, "Signature verification"): a signature `(R, s)` by key `A` over
//! `M` (the labelled message) is valid when
//! 1. `A` and `R` are canonical encodings (`y < p`) of curve points that are not of small order,
//! 2. `s` is canonical (`s < ℓ`), and
//! 3. `[8]([s]B − R − [k]A)` is the identity, where `k = SHA-512(R ‖ A ‖ M) mod ℓ`
//!    (the *cofactored* equation).
//!
//! Why cofactored: a batch check sums the equations of many signatures with random weights. With
//! the cofactorless equation (`[s]B = R + [k]A`, ed25519-dalek's `verify_strict`), a signer can
//! hide a small torsion component in `R` that the single check rejects but a batch accepts with
//! probability up to 1/2, depending on the other signatures in it: nodes would disagree about the
//! same envelope. Multiplying by the cofactor removes every torsion component from both checks,
//! so a batch passes exactly when each of its signatures passes alone (but with probability
//! 2⁻¹²⁸). Only the signer can make such a signature, and it could sign again with another nonce
//! anyway; a third party still cannot change a valid signature into another valid one (`k`
//! depends on `R`'s bytes, and the encodings must be canonical).
//!
//! A batch costs about a third as much per signature as checking each: every signature by the same
//! key shares one key term, and one multiscalar multiplication replaces a double scalar
//! multiplication per signature.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};

use crate::{CryptoError, labelled, random_bytes};

/// One signature to check: `(public key, label, payload, signature)`.
pub type SignedItem<'a> = (&'a [u8; 32], &'a str, &'a [u8], &'a [u8; 64]);

/// Verifies `signature` over `labelled(label, payload)` by `public` (the rule in the module
/// documentation). `BadPublicKey` when the key is not a canonical point of large order.
pub fn verify(
    public: &[u8; 32],
    label: &str,
    payload: &[u8],
    signature: &[u8; 64],
) -> Result<(), CryptoError> {
    let key = decode_key(public)?;
    let parts = Parts::decode(public, label, payload, signature)?;
    // [s]B − [k]A, then subtract R: the cofactored equation.
    let s_b_minus_k_a =
        EdwardsPoint::vartime_double_scalar_mul_basepoint(&parts.k, &-key, &parts.s);
    if (s_b_minus_k_a - parts.r).mul_by_cofactor().is_identity() {
        Ok(())
    } else {
        Err(CryptoError::BadSignature)
    }
}

/// Verifies many signatures: `Ok` exactly when [`verify`] accepts every one (but with
/// probability 2⁻¹²⁸). An empty batch is `Ok`. On `Err` the caller checks them one by one with
/// [`verify`] to find the culprits.
pub fn verify_batch(items: &[SignedItem<'_>]) -> Result<(), CryptoError> {
    match items {
        [] => return Ok(()),
        [(public, label, payload, signature)] => {
            return verify(public, label, payload, signature);
        }
        _ => {}
    }
    // Each distinct key once, with the sum of its signatures' weighted hashes.
    let mut keys: Vec<(&[u8; 32], EdwardsPoint, Scalar)> = Vec::new();
    let mut scalars = Vec::with_capacity(items.len() + 1);
    let mut points = Vec::with_capacity(items.len() + 1);
    let mut s_sum = Scalar::ZERO;
    // A random 128-bit weight per signature, so a forged one cancels out only by luck: expanded
    // from one random key rather than one system call each.
    let mut weights = blake3::Hasher::new_keyed(&random_bytes::<32>()).finalize_xof();
    for (public, label, payload, signature) in items {
        let parts = Parts::decode(public, label, payload, signature)?;
        let mut z = [0u8; 16];
        weights.fill(&mut z);
        let z = Scalar::from(u128::from_le_bytes(z));
        s_sum += z * parts.s;
        scalars.push(-z);
        points.push(parts.r);
        match keys.iter_mut().find(|(bytes, _, _)| *bytes == *public) {
            Some((_, _, weight)) => *weight += z * parts.k,
            None => keys.push((public, decode_key(public)?, z * parts.k)),
        }
    }
    scalars.push(s_sum);
    points.push(ED25519_BASEPOINT_POINT);
    for (_, key, weight) in keys {
        scalars.push(-weight);
        points.push(key);
    }
    // Σ z·(s·B − R − k·A), with the cofactor cleared.
    let sum = EdwardsPoint::vartime_multiscalar_mul(scalars, points);
    if sum.mul_by_cofactor().is_identity() {
        Ok(())
    } else {
        Err(CryptoError::BadSignature)
    }
}

/// A signature's parts, decoded and checked for canonical form, with its hash `k`.
struct Parts {
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

impl Parts {
    fn decode(
        public: &[u8; 32],
        label: &str,
        payload: &[u8],
        signature: &[u8; 64],
    ) -> Result<Parts, CryptoError> {
        let mut r_bytes = [0u8; 32];
        r_bytes.copy_from_slice(&signature[..32]);
        let mut s_bytes = [0u8; 32];
        s_bytes.copy_from_slice(&signature[32..]);
        let r = decode_point(&r_bytes).ok_or(CryptoError::BadSignature)?;
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))
            .ok_or(CryptoError::BadSignature)?;
        let mut hash = Sha512::new();
        hash.update(r_bytes);
        hash.update(public);
        // The signed message is `labelled(label, payload)`, hashed here without copying it.
        hash.update(labelled(label, &[]));
        hash.update(payload);
        let mut wide = [0u8; 64];
        wide.copy_from_slice(&hash.finalize());
        Ok(Parts {
            r,
            s,
            k: Scalar::from_bytes_mod_order_wide(&wide),
        })
    }
}

fn decode_key(public: &[u8; 32]) -> Result<EdwardsPoint, CryptoError> {
    decode_point(public).ok_or(CryptoError::BadPublicKey)
}

/// The point a canonical encoding names, unless it is of small order. Points with `x = 0`
/// (where the sign bit would be a second encoding) are of small order, so they fall out too.
fn decode_point(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    if !y_is_canonical(bytes) {
        return None;
    }
    let point = CompressedEdwardsY(*bytes).decompress()?;
    (!point.is_small_order()).then_some(point)
}

/// Whether the encoded `y` (the low 255 bits, little-endian) is below p = 2²⁵⁵ − 19: the
/// decompression reduces it, so a larger one would be a second encoding of the same point.
fn y_is_canonical(bytes: &[u8; 32]) -> bool {
    // y ≥ p exactly when the top byte is 0x7f (sign bit aside), the middle bytes are all 0xff,
    // and the lowest byte is at least 0xed.
    !(bytes[31] & 0x7f == 0x7f && bytes[1..31].iter().all(|&b| b == 0xff) && bytes[0] >= 0xed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `y` as 32 little-endian bytes (below 2²⁵⁶), with the sign bit set or not.
    fn encoding(low: u8, sign: bool) -> [u8; 32] {
        let mut bytes = [0xff; 32];
        bytes[0] = low;
        bytes[31] = if sign { 0xff } else { 0x7f };
        bytes
    }

    #[test]
    fn encodings_of_y_at_or_above_p_are_refused() {
        // p = 2²⁵⁵ − 19 ends in 0xed: p − 1 is the largest canonical y, p .. 2²⁵⁵ − 1 are not.
        assert!(y_is_canonical(&encoding(0xec, false)));
        assert!(y_is_canonical(&encoding(0xec, true)));
        for low in 0xed..=0xff {
            for sign in [false, true] {
                let bytes = encoding(low, sign);
                assert!(!y_is_canonical(&bytes));
                assert!(decode_point(&bytes).is_none());
            }
        }
        // y = p + 4 is y = 4 reduced: the decompression alone would take it as a second name
        // for a point, whether or not 4 is on the curve.
        let reduced = CompressedEdwardsY(encoding(0xed + 4, false)).decompress();
        let mut four = [0u8; 32];
        four[0] = 4;
        let canonical = CompressedEdwardsY(four).decompress();
        assert_eq!(reduced.is_some(), canonical.is_some());
        assert!(y_is_canonical(&[0u8; 32]) && y_is_canonical(&four));
    }
}
