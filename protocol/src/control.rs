//! Room control operations (kind 3) and key deliveries (kind 5) of group and direct rooms
//! (docs/protocol.md, "Group and direct rooms").

use crate::codec::{Reader, Writer};
use crate::{AccountId, ProtocolError};

/// Most members a room holds, its creator included.
pub const MAX_ROOM_MEMBERS: usize = 256;
/// Largest sealed chain in a key delivery (52 bytes of chain state plus the AEAD tag, with room to grow).
pub const MAX_DELIVERY_SEALED: usize = 256;

const TAG_CREATE: u8 = 1;
const TAG_ADD: u8 = 2;
const TAG_REMOVE: u8 = 3;
const TAG_LEAVE: u8 = 4;
const TAG_SET_ROLE: u8 = 5;
const TAG_CREATE_DIRECT: u8 = 6;

/// One operation of a room's control log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ControlOp {
    /// Creates a group room; the author is its first admin.
    Create {
        /// Initial members besides the creator, without duplicates.
        members: Vec<AccountId>,
    },
    /// An admin adds a member.
    Add {
        /// Who joins.
        member: AccountId,
    },
    /// An admin removes a member.
    Remove {
        /// Who is removed.
        member: AccountId,
        /// The removed member's last sequence number in the room that still counts.
        last_seq: u64,
    },
    /// The author leaves (its own seq is its last counted one).
    Leave,
    /// An admin grants or withdraws the admin role.
    SetRole {
        /// Whose role.
        member: AccountId,
        /// Admin or not.
        admin: bool,
    },
    /// Creates the direct room of the author and `peer` (its id derives from the pair).
    CreateDirect {
        /// The other person.
        peer: AccountId,
    },
}

impl ControlOp {
    /// Encodes the operation.
    pub fn encode(&self) -> Result<Vec<u8>, ProtocolError> {
        let mut w = Writer::new();
        match self {
            ControlOp::Create { members } => {
                check_members(members)?;
                w.u8(TAG_CREATE).u16(members.len() as u16);
                for m in members {
                    w.fixed(&m.0);
                }
            }
            ControlOp::Add { member } => {
                w.u8(TAG_ADD).fixed(&member.0);
            }
            ControlOp::Remove { member, last_seq } => {
                w.u8(TAG_REMOVE).fixed(&member.0).u64(*last_seq);
            }
            ControlOp::Leave => {
                w.u8(TAG_LEAVE);
            }
            ControlOp::SetRole { member, admin } => {
                w.u8(TAG_SET_ROLE).fixed(&member.0).u8(u8::from(*admin));
            }
            ControlOp::CreateDirect { peer } => {
                w.u8(TAG_CREATE_DIRECT).fixed(&peer.0);
            }
        }
        Ok(w.into_bytes())
    }

    /// Decodes an operation, enforcing the same rules as [`ControlOp::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let mut r = Reader::new(bytes);
        let op = match r.u8()? {
            TAG_CREATE => {
                let count = usize::from(r.u16()?);
                if count >= MAX_ROOM_MEMBERS || count * 32 > r.remaining() {
                    return Err(ProtocolError::TooLong {
                        len: count,
                        max: MAX_ROOM_MEMBERS - 1,
                    });
                }
                let members = (0..count)
                    .map(|_| r.array().map(AccountId))
                    .collect::<Result<Vec<_>, _>>()?;
                check_members(&members)?;
                ControlOp::Create { members }
            }
            TAG_ADD => ControlOp::Add {
                member: AccountId(r.array()?),
            },
            TAG_REMOVE => ControlOp::Remove {
                member: AccountId(r.array()?),
                last_seq: r.u64()?,
            },
            TAG_LEAVE => ControlOp::Leave,
            TAG_SET_ROLE => ControlOp::SetRole {
                member: AccountId(r.array()?),
                admin: r.flag()?,
            },
            TAG_CREATE_DIRECT => ControlOp::CreateDirect {
                peer: AccountId(r.array()?),
            },
            _ => return Err(ProtocolError::Invalid("unknown control operation")),
        };
        r.finish()?;
        Ok(op)
    }
}

fn check_members(members: &[AccountId]) -> Result<(), ProtocolError> {
    if members.len() >= MAX_ROOM_MEMBERS {
        return Err(ProtocolError::TooLong {
            len: members.len(),
            max: MAX_ROOM_MEMBERS - 1,
        });
    }
    let mut sorted: Vec<_> = members.iter().collect();
    sorted.sort();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(ProtocolError::Invalid("a member is listed twice"));
    }
    Ok(())
}

/// A sender chain sealed to one recipient (kind 5 body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDelivery {
    /// Who can open it.
    pub recipient: AccountId,
    /// The recipient's prekey the sender used.
    pub recipient_prekey: [u8; 32],
    /// The sender's ephemeral X25519 public key.
    pub ephemeral: [u8; 32],
    /// The sealed chain state.
    pub sealed: Vec<u8>,
}

impl KeyDelivery {
    /// Encodes the delivery.
    pub fn encode(&self) -> Result<Vec<u8>, ProtocolError> {
        if self.sealed.len() > MAX_DELIVERY_SEALED {
            return Err(ProtocolError::TooLong {
                len: self.sealed.len(),
                max: MAX_DELIVERY_SEALED,
            });
        }
        let mut w = Writer::new();
        w.fixed(&self.recipient.0)
            .fixed(&self.recipient_prekey)
            .fixed(&self.ephemeral)
            .bytes32(&self.sealed)?;
        Ok(w.into_bytes())
    }

    /// Decodes a delivery.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let mut r = Reader::new(bytes);
        let delivery = KeyDelivery {
            recipient: AccountId(r.array()?),
            recipient_prekey: r.array()?,
            ephemeral: r.array()?,
            sealed: r.bytes32(MAX_DELIVERY_SEALED)?,
        };
        r.finish()?;
        Ok(delivery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn op() -> impl Strategy<Value = ControlOp> {
        let id = any::<[u8; 32]>().prop_map(AccountId);
        prop_oneof![
            proptest::collection::btree_set(any::<[u8; 32]>(), 0..20).prop_map(|s| {
                ControlOp::Create {
                    members: s.into_iter().map(AccountId).collect(),
                }
            }),
            id.clone().prop_map(|member| ControlOp::Add { member }),
            (id.clone(), any::<u64>())
                .prop_map(|(member, last_seq)| ControlOp::Remove { member, last_seq }),
            Just(ControlOp::Leave),
            (id.clone(), any::<bool>())
                .prop_map(|(member, admin)| ControlOp::SetRole { member, admin }),
            id.prop_map(|peer| ControlOp::CreateDirect { peer }),
        ]
    }

    proptest! {
        #[test]
        fn control_ops_roundtrip(op in op()) {
            prop_assert_eq!(ControlOp::decode(&op.encode().unwrap()).unwrap(), op);
        }

        #[test]
        fn deliveries_roundtrip(r in any::<[u8; 32]>(), p in any::<[u8; 32]>(), e in any::<[u8; 32]>(), sealed in proptest::collection::vec(any::<u8>(), 0..256)) {
            let d = KeyDelivery { recipient: AccountId(r), recipient_prekey: p, ephemeral: e, sealed };
            prop_assert_eq!(KeyDelivery::decode(&d.encode().unwrap()).unwrap(), d);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = ControlOp::decode(&bytes);
            let _ = KeyDelivery::decode(&bytes);
        }
    }

    #[test]
    fn duplicates_and_oversized_member_lists_are_refused() {
        let twice = ControlOp::Create {
            members: vec![AccountId([1; 32]), AccountId([1; 32])],
        };
        assert!(twice.encode().is_err());
        let mut w = Writer::new();
        w.u8(TAG_CREATE).u16(u16::MAX);
        assert!(ControlOp::decode(&w.into_bytes()).is_err());
    }

    #[test]
    fn golden_vectors() {
        let create = ControlOp::Create {
            members: vec![AccountId([0xbb; 32])],
        }
        .encode()
        .unwrap();
        assert_eq!(hex::encode(&create), format!("010001{}", "bb".repeat(32)));
        let remove = ControlOp::Remove {
            member: AccountId([0xbb; 32]),
            last_seq: 7,
        }
        .encode()
        .unwrap();
        assert_eq!(
            hex::encode(&remove),
            format!("03{}0000000000000007", "bb".repeat(32))
        );
    }
}
