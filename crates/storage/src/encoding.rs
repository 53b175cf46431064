//! Little helpers to encode and decode the integers and strings of every
//! on-disk structure. Encoders append to a caller's buffer; the [`Reader`]
//! checks every bound, so bytes from disk never panic.

/// A decoding failure: where (offset within the decoded buffer) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Offset within the buffer handed to the [`Reader`].
    pub offset: usize,
    /// What was wrong, lowercase.
    pub reason: &'static str,
}

pub type DecodeResult<T> = Result<T, DecodeError>;

pub fn put_varint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push((value as u8) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

pub fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

pub fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

pub fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

pub fn put_str(buf: &mut Vec<u8>, text: &str) {
    put_bytes(buf, text.as_bytes());
}

pub fn put_u32(buf: &mut Vec<u8>, value: u32) {
    buf.extend_from_slice(&value.to_le_bytes());
}

pub fn put_u64(buf: &mut Vec<u8>, value: u64) {
    buf.extend_from_slice(&value.to_le_bytes());
}

pub fn put_i64(buf: &mut Vec<u8>, value: i64) {
    buf.extend_from_slice(&value.to_le_bytes());
}

pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// A bounds-checked cursor over bytes read from disk.
#[derive(Clone)]
pub struct Reader<'a> {
    /// The whole buffer being decoded.
    buf: &'a [u8],
    /// Next byte to read.
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn error(&self, reason: &'static str) -> DecodeError {
        DecodeError {
            offset: self.pos,
            reason,
        }
    }

    pub fn bytes(&mut self, len: usize) -> DecodeResult<&'a [u8]> {
        if len > self.remaining() {
            return Err(self.error("unexpected end of data"));
        }
        let slice = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(slice)
    }

    pub fn u8(&mut self) -> DecodeResult<u8> {
        Ok(self.bytes(1)?[0])
    }

    pub fn u32(&mut self) -> DecodeResult<u32> {
        let bytes = self.bytes(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    pub fn u64(&mut self) -> DecodeResult<u64> {
        let bytes = self.bytes(8)?;
        let mut array = [0u8; 8];
        array.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(array))
    }

    pub fn i64(&mut self) -> DecodeResult<i64> {
        Ok(self.u64()? as i64)
    }

    pub fn varint(&mut self) -> DecodeResult<u64> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                if shift == 63 && byte > 1 {
                    return Err(self.error("varint overflows 64 bits"));
                }
                return Ok(value);
            }
        }
        Err(self.error("varint is too long"))
    }

    /// A varint used as a length or count: it must not exceed `max`.
    pub fn len(&mut self, max: usize) -> DecodeResult<usize> {
        let value = self.varint()?;
        if value > max as u64 {
            return Err(self.error("length is out of bounds"));
        }
        Ok(value as usize)
    }

    /// A count of items that each take at least one byte: bounded by what is left.
    pub fn count(&mut self) -> DecodeResult<usize> {
        let remaining = self.remaining();
        self.len(remaining)
    }

    pub fn len_bytes(&mut self) -> DecodeResult<&'a [u8]> {
        let len = self.count()?;
        self.bytes(len)
    }

    pub fn str(&mut self) -> DecodeResult<&'a str> {
        let bytes = self.len_bytes()?;
        std::str::from_utf8(bytes).map_err(|_| self.error("string is not utf-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn varint_round_trip(values in proptest::collection::vec(proptest::num::u64::ANY, 0..20), signed in proptest::num::i64::ANY) {
            let mut buf = Vec::new();
            for &value in &values {
                put_varint(&mut buf, value);
            }
            let mut reader = Reader::new(&buf);
            for &value in &values {
                proptest::prop_assert_eq!(reader.varint().unwrap(), value);
            }
            proptest::prop_assert!(reader.is_empty());
            proptest::prop_assert_eq!(unzigzag(zigzag(signed)), signed);
        }

        #[test]
        fn reader_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let mut reader = Reader::new(&bytes);
            while reader.str().is_ok() && !reader.is_empty() {}
            let mut reader = Reader::new(&bytes);
            while reader.varint().is_ok() {}
        }
    }

    #[test]
    fn overlong_varint_is_an_error() {
        let bytes = [0xffu8; 11];
        assert!(Reader::new(&bytes).varint().is_err());
        let mut buf = Vec::new();
        put_varint(&mut buf, u64::MAX);
        assert_eq!(Reader::new(&buf).varint().unwrap(), u64::MAX);
    }
}
