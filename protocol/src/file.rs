//! The chunk protocol (`/chatly/file/1`, docs/protocol.md "Files"): ask a peer for one sealed
//! chunk by its address; it answers with the chunk or says it does not hold it.

use crate::codec::{Reader, Writer};
use crate::{AEAD_TAG_LEN, MAX_CHUNK_SIZE, ProtocolError};

/// Largest sealed chunk on the wire.
pub const MAX_SEALED_CHUNK: usize = MAX_CHUNK_SIZE as usize + AEAD_TAG_LEN;
/// Largest chunk response (tag, status, length, chunk).
pub const MAX_CHUNK_RESPONSE: usize = MAX_SEALED_CHUNK + 6;

const TAG_CHUNK: u8 = 1;
/// Most hops a chunk request may travel: reader → relay → holder.
pub const MAX_HOPS: u8 = 1;
const STATUS_HERE: u8 = 0;
const STATUS_NOT_HELD: u8 = 1;

/// "Send me the chunk with this address."
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRequest {
    /// The chunk's address (hash of its sealed bytes).
    pub hash: [u8; 32],
    /// How many more hops the responder may ask on the requester's behalf when it does not hold
    /// the chunk (a reader sends 1; a relay asking for it sends 0).
    pub hops: u8,
}

impl ChunkRequest {
    /// `u8 tag = 1 || hash [32] || u8 hops`.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(34);
        w.u8(TAG_CHUNK).fixed(&self.hash).u8(self.hops);
        w.into_bytes()
    }

    /// Parses a request.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let mut r = Reader::new(bytes);
        if r.u8()? != TAG_CHUNK {
            return Err(ProtocolError::Invalid("unknown chunk request tag"));
        }
        let hash = r.array()?;
        let hops = r.u8()?.min(MAX_HOPS);
        r.finish()?;
        Ok(ChunkRequest { hash, hops })
    }
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkResponse {
    /// The sealed chunk.
    Here(Vec<u8>),
    /// Not held here.
    NotHeld,
}

impl ChunkResponse {
    /// `u8 tag = 1 || u8 status || (bytes32 chunk when status = 0)`.
    pub fn encode(&self) -> Result<Vec<u8>, ProtocolError> {
        let mut w = Writer::new();
        w.u8(TAG_CHUNK);
        match self {
            ChunkResponse::Here(chunk) => {
                if chunk.len() > MAX_SEALED_CHUNK {
                    return Err(ProtocolError::TooLong {
                        len: chunk.len(),
                        max: MAX_SEALED_CHUNK,
                    });
                }
                w.u8(STATUS_HERE).bytes32(chunk)?;
            }
            ChunkResponse::NotHeld => {
                w.u8(STATUS_NOT_HELD);
            }
        }
        Ok(w.into_bytes())
    }

    /// Parses an answer, refusing a chunk over the limit before allocating it.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let mut r = Reader::new(bytes);
        if r.u8()? != TAG_CHUNK {
            return Err(ProtocolError::Invalid("unknown chunk response tag"));
        }
        let answer = match r.u8()? {
            STATUS_HERE => ChunkResponse::Here(r.bytes32(MAX_SEALED_CHUNK)?),
            STATUS_NOT_HELD => ChunkResponse::NotHeld,
            _ => return Err(ProtocolError::Invalid("unknown chunk status")),
        };
        r.finish()?;
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_answers_roundtrip() {
        let request = ChunkRequest {
            hash: [3; 32],
            hops: 1,
        };
        assert_eq!(ChunkRequest::decode(&request.encode()).unwrap(), request);
        assert!(ChunkRequest::decode(&request.encode()[..20]).is_err());
        for answer in [ChunkResponse::Here(vec![1, 2, 3]), ChunkResponse::NotHeld] {
            assert_eq!(
                ChunkResponse::decode(&answer.encode().unwrap()).unwrap(),
                answer
            );
        }
    }

    #[test]
    fn an_enormous_chunk_length_is_refused() {
        let mut bytes = vec![TAG_CHUNK, STATUS_HERE];
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(ChunkResponse::decode(&bytes).is_err());
        assert!(
            ChunkResponse::Here(vec![0; MAX_SEALED_CHUNK + 1])
                .encode()
                .is_err()
        );
    }
}
