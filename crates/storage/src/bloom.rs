//! A plain bloom filter: `k` bit positions per item from one xxh3-64 hash
//! with double hashing (Kirsch-Mitzenmacher), ~0.15% false positives at
//! [`BITS_PER_ITEM`] bits per distinct item.
//!
//! Encoding: `k: u8`, `words: varint`, then `words` little-endian u64s.
//! An empty filter (no items) has zero words and contains nothing.

use crate::encoding::{DecodeResult, Reader, put_varint};

/// Bits per distinct item; with [`HASHES`] hashes this gives ~0.15% false
/// positives (10 bits gave ~0.8%: on the 2 GB benchmark a rare-token query
/// then decompressed ~25 false-positive blocks for 7 true ones).
pub const BITS_PER_ITEM: usize = 14;
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

/// A bloom filter left in its file and probed with positioned reads of the
/// few words an item touches, so that filters never need to sit in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BloomRef {
    hashes: u8,
    /// Number of 64-bit words.
    words: u64,
    /// Where the first word is (absolute, in the reader's address space).
    offset: u64,
}

impl BloomRef {
    /// Reads a filter's header and skips its words; `base` is the address of
    /// the reader's first byte.
    pub fn decode(reader: &mut Reader<'_>, base: u64) -> DecodeResult<BloomRef> {
        let hashes = reader.u8()?;
        if hashes == 0 || hashes > 32 {
            return Err(reader.error("unexpected bloom hash count"));
        }
        let words = reader.len(MAX_WORDS.min(reader.remaining() / 8))?;
        let offset = base + reader.position() as u64;
        reader.bytes(words * 8)?;
        Ok(BloomRef {
            hashes,
            words: words as u64,
            offset,
        })
    }

    /// Bytes of the filter's words, and where they start.
    pub fn words_span(&self) -> (u64, u64) {
        (self.offset, self.words * 8)
    }

    /// The in-memory filter with these words (as `words_span` located them).
    pub fn with_words(&self, bytes: &[u8]) -> Bloom {
        Bloom {
            hashes: self.hashes,
            words: bytes
                .chunks_exact(8)
                .map(|word| u64::from_le_bytes(word.try_into().expect("BUG: chunks of 8")))
                .collect(),
        }
    }

    /// False only when the item was certainly not inserted. `read_word`
    /// gives the little-endian word at an address; when it cannot (an I/O
    /// error), the item is assumed present.
    pub fn may_contain(&self, hash: u64, read_word: &mut impl FnMut(u64) -> Option<u64>) -> bool {
        if self.words == 0 {
            return false;
        }
        let bits = self.words * 64;
        (0..u64::from(self.hashes)).all(|i| {
            let bit = Bloom::bit(hash, i, bits) as u64;
            match read_word(self.offset + bit / 64 * 8) {
                Some(word) => word & (1 << (bit % 64)) != 0,
                None => true,
            }
        })
    }
}

/// The distinct values of `hashes`, by open addressing (no sort).
fn distinct(hashes: &[u64]) -> Vec<u64> {
    let capacity = (hashes.len() * 2).next_power_of_two().max(16);
    let mask = capacity - 1;
    // 0 marks an empty slot; a zero hash is remembered apart.
    let mut slots = vec![0u64; capacity];
    let mut out = Vec::new();
    let mut zero = false;
    for &hash in hashes {
        if hash == 0 {
            if !zero {
                zero = true;
                out.push(0);
            }
            continue;
        }
        let mut at = (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & mask;
        loop {
            let slot = slots[at];
            if slot == hash {
                break;
            }
            if slot == 0 {
                slots[at] = hash;
                out.push(hash);
                break;
            }
            at = (at + 1) & mask;
        }
    }
    out
}

impl Bloom {
    /// A filter holding exactly the given hashes (duplicates allowed).
    pub fn from_hashes(hashes: &[u64]) -> Bloom {
        let distinct = distinct(hashes);
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
    #[cfg(test)]
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

    #[cfg(test)]
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
    fn distinct_keeps_each_hash_once() {
        let mut got = distinct(&[5, 0, 5, 7, 0, 1 << 40, 7]);
        got.sort_unstable();
        assert_eq!(got, [0, 5, 7, 1 << 40]);
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
            let reference = BloomRef::decode(&mut Reader::new(&buf), 100).unwrap();
            let mut read_word = |at: u64| {
                let at = (at - 100) as usize;
                Some(u64::from_le_bytes(buf[at..at + 8].try_into().unwrap()))
            };
            for &hash in &hashes {
                proptest::prop_assert!(decoded.may_contain(hash));
                proptest::prop_assert!(reference.may_contain(hash, &mut read_word));
            }
            for other in 0..50u64 {
                let hash = hash_token(&other.to_le_bytes());
                proptest::prop_assert_eq!(decoded.may_contain(hash), reference.may_contain(hash, &mut read_word));
            }
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = Bloom::decode(&mut Reader::new(&bytes));
        }
    }
}
