//! The filter block: one bloom filter per table over its whole user keys, after Bloom
//! (1970) with Kirsch–Mitzenmacher double hashing ("Less Hashing, Same Performance", 2006)
//! over a 64-bit xxh3 hash. A point lookup that the filter rules out reads no data block.
//!
//! Immutable once built; shared by readers.
//!
//! # Format
//! DESIGN.md §3.5 ("Filter block"): `bits bytes[n] | num_probes u8`, stored as a block with
//! the usual trailer, so a damaged filter is a checksum error at open, never a false
//! "not found" (docs/durability.md INV-08).

use xxhash_rust::xxh3::xxh3_64;

/// Hash of a user key, as stored by the builder.
pub fn key_hash(user_key: &[u8]) -> u64 {
    xxh3_64(user_key)
}

/// Number of probes for `bits_per_key`: `round(bits_per_key * ln 2)`, which minimises the
/// false-positive rate, clamped to 1..=30 (7 for the default 10 bits per key).
pub fn num_probes(bits_per_key: usize) -> u8 {
    let k = (bits_per_key as f64 * std::f64::consts::LN_2).round();
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "clamped to 1..=30")]
    let k = k.clamp(1.0, 30.0) as u8;
    k
}

/// Positions probed for `hash`: `h1 + i * h2` modulo the bit count.
fn probes(hash: u64, k: u8, nbits: u64) -> impl Iterator<Item = u64> {
    let h2 = hash.rotate_left(32) | 1;
    (0..u64::from(k)).map(move |i| hash.wrapping_add(i.wrapping_mul(h2)) % nbits)
}

/// Builds the filter block from the hashes of a table's user keys.
pub fn build(hashes: &[u64], bits_per_key: usize) -> Vec<u8> {
    build_parts(&[hashes], bits_per_key)
}

/// Builds the filter block from the hashes of a table's user keys held in several parts
/// (the table builder keeps them in fixed-size chunks); the same block as [`build`] of
/// their concatenation.
pub fn build_parts<H: AsRef<[u64]>>(parts: &[H], bits_per_key: usize) -> Vec<u8> {
    let n: usize = parts.iter().map(|p| p.as_ref().len()).sum();
    let nbits = (n * bits_per_key).max(64).div_ceil(8) * 8;
    let k = num_probes(bits_per_key);
    let mut bits = vec![0u8; nbits / 8];
    for &h in parts.iter().flat_map(|p| p.as_ref()) {
        for p in probes(h, k, nbits as u64) {
            bits[(p / 8) as usize] |= 1 << (p % 8);
        }
    }
    bits.push(k);
    bits
}

/// A decoded filter block.
#[derive(Debug, Clone)]
pub struct BloomFilter {
    bits: bytes::Bytes,
    k: u8,
}

impl BloomFilter {
    /// Bytes the filter holds in memory (its block, probe count included).
    pub fn size_bytes(&self) -> usize {
        self.bits.len()
    }

    /// Decodes a filter block; `None` if it is too short or its probe count is 0 or > 30.
    pub fn decode(block: bytes::Bytes) -> Option<Self> {
        let (&k, _) = block.split_last()?;
        if block.len() < 2 || k == 0 || k > 30 {
            return None;
        }
        Some(BloomFilter { bits: block.slice(..block.len() - 1), k })
    }

    /// False if no key with this hash was added; true if one may have been.
    pub fn may_contain(&self, hash: u64) -> bool {
        let nbits = self.bits.len() as u64 * 8;
        probes(hash, self.k, nbits).all(|p| self.bits[(p / 8) as usize] & (1 << (p % 8)) != 0)
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.bits.len() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_keys_are_always_found() {
        let keys: Vec<Vec<u8>> = (0..10_000u32).map(|i| format!("key{i}").into_bytes()).collect();
        let hashes: Vec<u64> = keys.iter().map(|k| key_hash(k)).collect();
        let f = BloomFilter::decode(bytes::Bytes::from(build(&hashes, 10))).expect("valid");
        assert!(keys.iter().all(|k| f.may_contain(key_hash(k))));
        assert_eq!(num_probes(10), 7);
    }

    /// The table builder's chunked hashes give the filter of their concatenation, bit for
    /// bit, however they are split.
    #[test]
    fn filter_of_parts_is_the_filter_of_their_concatenation() {
        let hashes: Vec<u64> = (0..70_000u32).map(|i| key_hash(format!("key{i}").as_bytes())).collect();
        let whole = build(&hashes, 10);
        for split in [1, 7, 65_536, 69_999] {
            let (a, b) = hashes.split_at(split);
            assert_eq!(build_parts(&[a.to_vec(), b.to_vec()], 10), whole, "split at {split}");
        }
        let empty: [Vec<u64>; 0] = [];
        assert_eq!(build_parts(&empty, 10), build(&[], 10));
    }

    #[test]
    fn malformed_filter_blocks_are_rejected() {
        assert!(BloomFilter::decode(bytes::Bytes::new()).is_none());
        assert!(BloomFilter::decode(bytes::Bytes::from_static(&[0xff, 0])).is_none());
        assert!(BloomFilter::decode(bytes::Bytes::from_static(&[0xff, 31])).is_none());
    }
}
