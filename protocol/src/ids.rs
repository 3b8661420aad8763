//! Account, room and envelope ids: fixed-size byte arrays with a hex form for the API and logs.

use std::fmt;

use crate::ProtocolError;

/// Writes `bytes` as lower-case hex.
fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Parses exactly `2 * N` hex digits (either case) into `N` bytes.
fn from_hex<const N: usize>(s: &str) -> Result<[u8; N], ProtocolError> {
    fn nibble(c: u8) -> Result<u8, ProtocolError> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(ProtocolError::BadHex),
        }
    }
    let digits = s.as_bytes();
    if digits.len() != 2 * N {
        return Err(ProtocolError::BadHex);
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Ok(out)
}

/// Defines a byte-array id with hex Display/parsing and a short Debug.
macro_rules! byte_id {
    ($(#[$doc:meta])* $name:ident, $len:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length of the id in bytes.
            pub const LEN: usize = $len;

            /// Lower-case hex, as used in the API.
            pub fn to_hex(&self) -> String {
                to_hex(&self.0)
            }

            /// Parses exactly the right number of hex digits (upper or lower case).
            pub fn from_hex(s: &str) -> Result<Self, ProtocolError> {
                from_hex(s).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        /// Only the first 4 bytes: enough to tell ids apart in logs without drowning them.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({}…)"), to_hex(&self.0[..4]))
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }
        }
    };
}

byte_id!(
    /// An account: its ed25519 identity public key (`User.id` in the API).
    AccountId,
    32
);

byte_id!(
    /// A room: all zero for the public room, all `0xff` for the account directory, derived from
    /// the pair of accounts for a direct room, random for a group.
    RoomId,
    16
);

byte_id!(
    /// An envelope: `BLAKE3-derive-key("chatly/v1/envelope-id", envelope bytes)`, computed by
    /// `chatly-crypto` (this crate does no hashing).
    EnvelopeId,
    32
);

impl RoomId {
    /// The public room every account is in.
    pub const PUBLIC: RoomId = RoomId([0; 16]);
    /// The account directory, where account records and presence live. Never exposed in the API.
    pub const DIRECTORY: RoomId = RoomId([0xff; 16]);

    /// The id of the direct room of accounts `a` and `b`: the first 16 bytes of BLAKE3
    /// `derive_key("chatly/v1/direct-room", min(a, b) || max(a, b))`, so both sides compute it
    /// alike.
    pub fn direct(a: &AccountId, b: &AccountId) -> RoomId {
        let (lo, hi) = if a.0 <= b.0 { (a, b) } else { (b, a) };
        let mut material = [0u8; 64];
        material[..32].copy_from_slice(&lo.0);
        material[32..].copy_from_slice(&hi.0);
        let hash = blake3::derive_key(crate::labels::LABEL_DIRECT_ROOM, &material);
        let mut id = [0u8; 16];
        id.copy_from_slice(&hash[..16]);
        RoomId(id)
    }

    /// The API form: `"public"` for the public room, otherwise lower-case hex.
    pub fn to_api(&self) -> String {
        if *self == Self::PUBLIC {
            "public".to_owned()
        } else {
            self.to_hex()
        }
    }

    /// Parses the API form. Accepts `"public"` (and the all-zero hex, which is the same room) or
    /// 32 hex digits; refuses the directory, which the API must not be able to address.
    pub fn from_api(s: &str) -> Result<Self, ProtocolError> {
        if s == "public" {
            return Ok(Self::PUBLIC);
        }
        let id = Self::from_hex(s)?;
        if id == Self::DIRECTORY {
            return Err(ProtocolError::Invalid(
                "the directory room is not addressable",
            ));
        }
        Ok(id)
    }
}

impl EnvelopeId {
    /// The `prev` of an author's first envelope in a room.
    pub const ZERO: EnvelopeId = EnvelopeId([0; 32]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_roundtrip_and_strictness() {
        let id = AccountId([0xab; 32]);
        assert_eq!(id.to_hex(), "ab".repeat(32));
        assert_eq!(AccountId::from_hex(&id.to_hex()), Ok(id));
        assert_eq!(AccountId::from_hex(&"AB".repeat(32)), Ok(id));
        assert_eq!(
            AccountId::from_hex(&"ab".repeat(31)),
            Err(ProtocolError::BadHex)
        );
        assert_eq!(
            AccountId::from_hex(&format!("{}g", "a".repeat(63))),
            Err(ProtocolError::BadHex)
        );
        // A multi-byte character must not be mistaken for two hex digits.
        assert_eq!(
            RoomId::from_hex(&format!("é{}", "0".repeat(30))),
            Err(ProtocolError::BadHex)
        );
        assert_eq!(id.to_string(), id.to_hex());
        assert_eq!(format!("{id:?}"), "AccountId(abababab…)");
    }

    #[test]
    fn room_api_form() {
        assert_eq!(RoomId::PUBLIC.to_api(), "public");
        assert_eq!(RoomId::from_api("public"), Ok(RoomId::PUBLIC));
        let group = RoomId([0x12; 16]);
        assert_eq!(RoomId::from_api(&group.to_api()), Ok(group));
        assert!(RoomId::from_api(&RoomId::DIRECTORY.to_hex()).is_err());
        assert!(RoomId::from_api("PUBLIC").is_err());
        assert!(RoomId::from_api("").is_err());
    }
}
