//! The byte codec every Chatly encoding is built from: big-endian integers, fixed arrays and
//! length-prefixed strings and byte strings (docs/protocol.md, first section).
//!
//! Hand-written rather than a serde format so the signed bytes never depend on a serializer's
//! choices. [`Reader`] is strict: every length is checked against the caller's limit *before* any
//! allocation, and [`Reader::finish`] rejects trailing bytes, so each value has exactly one
//! encoding.

use crate::ProtocolError;

/// Appends fields to a growing byte buffer.
///
/// Fixed-size writes cannot fail. Length-prefixed writes return [`ProtocolError::TooLong`] when
/// the value does not fit its prefix, instead of silently truncating the length and producing a
/// frame that would decode as something else.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty writer with room for `capacity` bytes, to avoid regrowing for large frames.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
        }
    }

    /// Appends one byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    /// Appends a big-endian u16.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.fixed(&v.to_be_bytes())
    }

    /// Appends a big-endian u32.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.fixed(&v.to_be_bytes())
    }

    /// Appends a big-endian u64.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.fixed(&v.to_be_bytes())
    }

    /// Appends raw bytes with no length prefix (fixed-size fields).
    pub fn fixed(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self
    }

    /// Appends a string with a u8 byte-length prefix (at most 255 bytes).
    pub fn str8(&mut self, s: &str) -> Result<&mut Self, ProtocolError> {
        let len = u8::try_from(s.len()).map_err(|_| over_prefix(s.len(), u8::MAX.into()))?;
        Ok(self.u8(len).fixed(s.as_bytes()))
    }

    /// Appends a string with a u16 byte-length prefix (at most 65,535 bytes).
    pub fn str16(&mut self, s: &str) -> Result<&mut Self, ProtocolError> {
        let len = u16::try_from(s.len()).map_err(|_| over_prefix(s.len(), u16::MAX.into()))?;
        Ok(self.u16(len).fixed(s.as_bytes()))
    }

    /// Appends a string with a u32 byte-length prefix.
    pub fn str32(&mut self, s: &str) -> Result<&mut Self, ProtocolError> {
        self.bytes32(s.as_bytes())
    }

    /// Appends a byte string with a u32 length prefix.
    pub fn bytes32(&mut self, bytes: &[u8]) -> Result<&mut Self, ProtocolError> {
        let len =
            u32::try_from(bytes.len()).map_err(|_| over_prefix(bytes.len(), u32::MAX as usize))?;
        Ok(self.u32(len).fixed(bytes))
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing has been written yet.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// The error for a value whose length does not fit its prefix.
fn over_prefix(len: usize, max: usize) -> ProtocolError {
    ProtocolError::TooLong { len, max }
}

/// Reads fields from a byte slice, front to back.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Takes the next `n` raw bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        if n > self.rest.len() {
            return Err(ProtocolError::Truncated {
                needed: n - self.rest.len(),
            });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Reads a fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a big-endian u16.
    pub fn u16(&mut self) -> Result<u16, ProtocolError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian u32.
    pub fn u32(&mut self) -> Result<u32, ProtocolError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian u64.
    pub fn u64(&mut self) -> Result<u64, ProtocolError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Reads a presence flag byte: 0 is false, 1 is true, anything else is rejected so that each
    /// value has one encoding.
    pub fn flag(&mut self) -> Result<bool, ProtocolError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(ProtocolError::Invalid("flag byte must be 0 or 1")),
        }
    }

    /// Reads a string with a u8 length prefix, rejecting more than `max_len` bytes.
    pub fn str8(&mut self, max_len: usize) -> Result<String, ProtocolError> {
        let len = usize::from(self.u8()?);
        self.string(len, max_len)
    }

    /// Reads a string with a u16 length prefix, rejecting more than `max_len` bytes.
    pub fn str16(&mut self, max_len: usize) -> Result<String, ProtocolError> {
        let len = usize::from(self.u16()?);
        self.string(len, max_len)
    }

    /// Reads a string with a u32 length prefix, rejecting more than `max_len` bytes.
    pub fn str32(&mut self, max_len: usize) -> Result<String, ProtocolError> {
        let len = self.len32()?;
        self.string(len, max_len)
    }

    /// Reads a byte string with a u32 length prefix, rejecting more than `max_len` bytes.
    pub fn bytes32(&mut self, max_len: usize) -> Result<Vec<u8>, ProtocolError> {
        let len = self.len32()?;
        Ok(self.bounded(len, max_len)?.to_vec())
    }

    /// Succeeds only if every byte has been read.
    pub fn finish(self) -> Result<(), ProtocolError> {
        match self.rest.len() {
            0 => Ok(()),
            count => Err(ProtocolError::TrailingBytes { count }),
        }
    }

    fn len32(&mut self) -> Result<usize, ProtocolError> {
        let len = self.u32()?;
        // On a 16-bit target a u32 length may not fit usize; it is then certainly over any limit.
        usize::try_from(len).map_err(|_| ProtocolError::TooLong {
            len: usize::MAX,
            max: 0,
        })
    }

    /// Checks the limit before touching the data, so a lying prefix costs nothing.
    fn bounded(&mut self, len: usize, max_len: usize) -> Result<&'a [u8], ProtocolError> {
        if len > max_len {
            return Err(ProtocolError::TooLong { len, max: max_len });
        }
        self.take(len)
    }

    fn string(&mut self, len: usize, max_len: usize) -> Result<String, ProtocolError> {
        let bytes = self.bounded(len, max_len)?;
        let s = std::str::from_utf8(bytes).map_err(|_| ProtocolError::BadUtf8)?;
        Ok(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_big_endian() {
        let mut w = Writer::new();
        w.u8(1)
            .u16(0x0203)
            .u32(0x0405_0607)
            .u64(0x0809_0a0b_0c0d_0e0f);
        let bytes = w.into_bytes();
        assert_eq!(bytes, (1u8..=15).collect::<Vec<_>>());
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u16(), Ok(0x0203));
        assert_eq!(r.u32(), Ok(0x0405_0607));
        assert_eq!(r.u64(), Ok(0x0809_0a0b_0c0d_0e0f));
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn strings_roundtrip_and_respect_limits() {
        let mut w = Writer::new();
        w.str8("héllo")
            .unwrap()
            .str16("")
            .unwrap()
            .str32("x")
            .unwrap();
        w.bytes32(&[9, 9]).unwrap();
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.str8(6).unwrap(), "héllo");
        assert_eq!(r.str16(0).unwrap(), "");
        assert_eq!(r.str32(1).unwrap(), "x");
        assert_eq!(r.bytes32(2).unwrap(), vec![9, 9]);
        r.finish().unwrap();

        let mut r = Reader::new(&bytes);
        assert_eq!(r.str8(5), Err(ProtocolError::TooLong { len: 6, max: 5 }));
    }

    #[test]
    fn writer_refuses_lengths_its_prefix_cannot_hold() {
        let long = "a".repeat(256);
        assert_eq!(
            Writer::new().str8(&long).err(),
            Some(ProtocolError::TooLong { len: 256, max: 255 })
        );
        let long = "a".repeat(65_536);
        assert!(Writer::new().str16(&long).is_err());
    }

    #[test]
    fn reader_errors() {
        assert_eq!(
            Reader::new(&[0, 1]).u32(),
            Err(ProtocolError::Truncated { needed: 2 })
        );
        assert_eq!(
            Reader::new(&[2, 0xff, 0xfe]).str8(10),
            Err(ProtocolError::BadUtf8)
        );
        assert_eq!(
            Reader::new(&[5, b'a']).str8(10),
            Err(ProtocolError::Truncated { needed: 4 })
        );
        assert_eq!(
            Reader::new(&[2]).flag(),
            Err(ProtocolError::Invalid("flag byte must be 0 or 1"))
        );
        // A huge declared length is rejected by the limit, before any allocation.
        assert_eq!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff]).bytes32(10),
            Err(ProtocolError::TooLong {
                len: 0xffff_ffff,
                max: 10
            })
        );
        let mut r = Reader::new(&[1, 2, 3]);
        r.u8().unwrap();
        assert_eq!(r.finish(), Err(ProtocolError::TrailingBytes { count: 2 }));
    }
}
