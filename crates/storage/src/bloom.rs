//! A plain bloom filter: `k` bit positions per item from one xxh3-64 hash
//! with double hashing (Kirsch-Mitzenmacher), ~1% false positives at
//! [`BITS_PER_ITEM`] bits per distinct item.
//!
//! Encoding: `k: u8`, `words: varint`, then `words` little-endian u64s.
//! An empty filter (no items) has zero words and contains nothing.

use crate::encoding::{DecodeResult, Reader, put_varint};

/// Bits per distinct item; with [`HASHES`] hashes this gives ~1% false positives.
pub const BITS_PER_ITEM: usize = 10;
/// Hash functions per item.
pub const HASHES: u8 = 7;
/// Largest filter accepted when decoding (bits = 64 * words): 512 MiB.
const MAX_WORDS: usize = 1 << 26;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bloom {
    /// Number of bit positions per item.
    hashes: u8,
    /// The bit array, 64 bits per word.
    words: Vec<u64>,
}

/// The 64-bit hash an item is inserted and probed with.
#[inline]
pub fn hash_token(token: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(token)
}

/// The hash of a structured-metadata pair `key=value`.
pub fn hash_field(key: &str, value: &str) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(key.as_bytes());
    hasher.update(b"=");
    hasher.update(value.as_bytes());
    hasher.digest()
}

impl Bloom {
    /// A filter holding exactly the given hashes (duplicates allowed).
    pub fn from_hashes(hashes: &[u64]) -> Bloom {
        let mut distinct = hashes.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.is_empty() {
            return Bloom {
                hashes: HASHES,
                words: Vec::new(),
            };
        }
        let bits = (distinct.len() * BITS_PER_ITEM).max(64);
        let mut bloom = Bloom {
            hashes: HASHES,
            words: vec![0; bits.div_ceil(64)],
        };
        for &hash in &distinct {
            bloom.insert(hash);
        }
        bloom
    }

    /// Bit `i` of the `hashes` bits of an item: double hashing over the two halves of its hash.
    #[inline]
    fn bit(hash: u64, i: u64, bits: u64) -> usize {
        let h1 = hash & 0xffff_ffff;
        let h2 = (hash >> 32) | 1;
        (h1.wrapping_add(i.wrapping_mul(h2)) % bits) as usize
    }

    fn insert(&mut self, hash: u64) {
        let bits = (self.words.len() * 64) as u64;
        for i in 0..u64::from(self.hashes) {
            let bit = Self::bit(hash, i, bits);
            self.words[bit / 64] |= 1 << (bit % 64);
        }
    }

    /// False only when the item was certainly not inserted.
    pub fn may_contain(&self, hash: u64) -> bool {
        if self.words.is_empty() {
            return false;
        }
        let bits = (self.words.len() * 64) as u64;
        (0..u64::from(self.hashes)).all(|i| {
            let bit = Self::bit(hash, i, bits);
            self.words[bit / 64] & (1 << (bit % 64)) != 0
        })
    }

    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.push(self.hashes);
        put_varint(buf, self.words.len() as u64);
        for word in &self.words {
            buf.extend_from_slice(&word.to_le_bytes());
        }
    }

    pub fn decode(reader: &mut Reader<'_>) -> DecodeResult<Bloom> {
        let hashes = reader.u8()?;
        if hashes == 0 || hashes > 32 {
            return Err(reader.error("unexpected bloom hash count"));
        }
        let words = reader.len(MAX_WORDS.min(reader.remaining() / 8))?;
        let mut bloom = Bloom {
            hashes,
            words: Vec::with_capacity(words),
        };
        for _ in 0..words {
            bloom.words.push(reader.u64()?);
        }
        Ok(bloom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn false_positive_rate_is_near_one_percent() {
        let hashes: Vec<u64> = (0..10_000u32)
            .map(|i| hash_token(format!("token{i}").as_bytes()))
            .collect();
        let bloom = Bloom::from_hashes(&hashes);
        let false_positives = (0..100_000u32)
            .filter(|i| bloom.may_contain(hash_token(format!("other{i}").as_bytes())))
            .count();
        assert!(
            false_positives < 2_000,
            "{false_positives} false positives in 100000"
        );
    }

    #[test]
    fn empty_filter_contains_nothing() {
        let bloom = Bloom::from_hashes(&[]);
        assert!(!bloom.may_contain(hash_token(b"x")));
    }

    proptest::proptest! {
        #[test]
        fn round_trip_and_no_false_negatives(items in proptest::collection::vec("[a-z0-9]{1,8}", 0..200)) {
            let hashes: Vec<u64> = items.iter().map(|item| hash_token(item.as_bytes())).collect();
            let bloom = Bloom::from_hashes(&hashes);
            let mut buf = Vec::new();
            bloom.encode(&mut buf);
            let mut reader = Reader::new(&buf);
            let decoded = Bloom::decode(&mut reader).unwrap();
            proptest::prop_assert!(reader.is_empty());
            proptest::prop_assert_eq!(&decoded, &bloom);
            for &hash in &hashes {
                proptest::prop_assert!(decoded.may_contain(hash));
            }
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = Bloom::decode(&mut Reader::new(&bytes));
        }
    }
}
