//! The filter block: one bloom filter per table over its whole user keys, over a 64-bit
//! xxh3 hash of each. A point lookup that the filter rules out reads no data block.
//!
//! Two kinds (docs/format.md §3.5):
//! - **Blocked** ([`FilterKind::Blocked`], written since issue 15's tenth stop): the
//!   *blocked bloom filter* of Putze, Sanders and Singler ("Cache-, Hash- and
//!   Space-Efficient Bloom Filters", 2007), with one 64-byte cache line per block, as
//!   RocksDB's format_version 5 filters do. The hash's upper half picks the line, its
//!   lower half the k bits inside it, so a probe touches one cache line and divides by
//!   nothing. It answers "maybe" slightly more often (0.96 % at 10 bits per key, against
//!   0.82 %), and a probe costs one cache miss instead of up to k.
//! - **Standard** ([`FilterKind::Standard`], FORMAT_VERSION 2 until then): Bloom (1970)
//!   with Kirsch–Mitzenmacher double hashing ("Less Hashing, Same Performance", 2006) over
//!   the whole bit array. Still read; written only on request
//!   (`TableBuilder::filter_kind`).
//!
//! The memtable's key filter (`memtable/filter.rs`) is blocked too, but it is not this
//! code: it lives only in memory, sets its bits concurrently with lock-free probes
//! (atomic words), and uses 3 probes at about 16 bits per key; this layout is on disk and
//! fixed by docs/format.md §3.5.
//!
//! Immutable once built; shared by readers.

use xxhash_rust::xxh3::xxh3_64;

/// Bytes of one block of a blocked filter: a cache line, 512 bits.
pub const BLOCKED_LINE_BYTES: usize = 64;

/// The odd multiplier that derives each probe of a blocked filter from the previous one
/// (2^32 divided by the golden ratio, Knuth's multiplicative hashing).
pub const BLOCKED_PROBE_MULTIPLIER: u32 = 0x9E37_79B9;

/// Which of the two filter layouts a filter block has; the metaindex name says it
/// (`shaledb.filter.blocked` or `shaledb.filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FilterKind {
    /// Cache-line blocks (the default).
    #[default]
    Blocked,
    /// One bit array over the whole table (tables written before the blocked kind).
    Standard,
}

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

/// Positions probed for `hash` in a standard filter: `h1 + i * h2` modulo the bit count.
fn probes(hash: u64, k: u8, nbits: u64) -> impl Iterator<Item = u64> {
    let h2 = hash.rotate_left(32) | 1;
    (0..u64::from(k)).map(move |i| hash.wrapping_add(i.wrapping_mul(h2)) % nbits)
}

/// The line of a blocked filter of `lines` lines that `hash` falls in: the upper 32 bits
/// scaled to `0..lines` by a multiply and shift (Lemire's "fast range"), no division.
fn blocked_line(hash: u64, lines: usize) -> usize {
    // Invariant: (hash >> 32) < 2^32, so the product fits in u64 and the result < lines.
    (((hash >> 32) * lines as u64) >> 32) as usize
}

/// Bit positions (0..512) inside the line probed for `hash` in a blocked filter: the top
/// 9 bits of the lower 32 bits, then of that word times [`BLOCKED_PROBE_MULTIPLIER`],
/// and so on, k times.
fn blocked_probes(hash: u64, k: u8) -> impl Iterator<Item = usize> {
    #[expect(clippy::cast_possible_truncation, reason = "the lower 32 bits, on purpose")]
    let mut g = hash as u32;
    (0..k).map(move |_| {
        let bit = (g >> 23) as usize;
        g = g.wrapping_mul(BLOCKED_PROBE_MULTIPLIER);
        bit
    })
}

/// Builds a filter block of `kind` from the hashes of a table's user keys.
pub fn build(hashes: &[u64], bits_per_key: usize, kind: FilterKind) -> Vec<u8> {
    build_parts(&[hashes], bits_per_key, kind)
}

/// Builds the filter block from the hashes of a table's user keys held in several parts
/// (the table builder keeps them in fixed-size chunks); the same block as [`build`] of
/// their concatenation.
pub fn build_parts<H: AsRef<[u64]>>(parts: &[H], bits_per_key: usize, kind: FilterKind) -> Vec<u8> {
    let n: usize = parts.iter().map(|p| p.as_ref().len()).sum();
    let k = num_probes(bits_per_key);
    let hashes = parts.iter().flat_map(|p| p.as_ref());
    let mut bits = match kind {
        FilterKind::Standard => {
            let nbits = (n * bits_per_key).max(64).div_ceil(8) * 8;
            let mut bits = vec![0u8; nbits / 8];
            for &h in hashes {
                for p in probes(h, k, nbits as u64) {
                    bits[(p / 8) as usize] |= 1 << (p % 8);
                }
            }
            bits
        }
        FilterKind::Blocked => {
            let lines = (n * bits_per_key).div_ceil(BLOCKED_LINE_BYTES * 8).max(1);
            let mut bits = vec![0u8; lines * BLOCKED_LINE_BYTES];
            for &h in hashes {
                let line = &mut bits[blocked_line(h, lines) * BLOCKED_LINE_BYTES..][..BLOCKED_LINE_BYTES];
                for b in blocked_probes(h, k) {
                    line[b / 8] |= 1 << (b % 8);
                }
            }
            bits
        }
    };
    bits.push(k);
    bits
}

/// A decoded filter block.
#[derive(Debug, Clone)]
pub struct BloomFilter {
    bits: bytes::Bytes,
    k: u8,
    kind: FilterKind,
}

impl BloomFilter {
    /// Bytes the filter holds in memory (its block, probe count included).
    pub fn size_bytes(&self) -> usize {
        self.bits.len()
    }

    /// Decodes a filter block of `kind`; `None` if it is too short, its probe count is 0
    /// or > 30, or (blocked) its bits are not a whole number of 64-byte lines.
    pub fn decode(block: bytes::Bytes, kind: FilterKind) -> Option<Self> {
        let (&k, _) = block.split_last()?;
        if block.len() < 2 || k == 0 || k > 30 {
            return None;
        }
        let bits = block.slice(..block.len() - 1);
        if kind == FilterKind::Blocked && (bits.is_empty() || !bits.len().is_multiple_of(BLOCKED_LINE_BYTES)) {
            return None;
        }
        Some(BloomFilter { bits, k, kind })
    }

    /// The filter's layout.
    pub fn kind(&self) -> FilterKind {
        self.kind
    }

    /// False if no key with this hash was added; true if one may have been.
    pub fn may_contain(&self, hash: u64) -> bool {
        match self.kind {
            FilterKind::Blocked => {
                let lines = self.bits.len() / BLOCKED_LINE_BYTES;
                let line = &self.bits[blocked_line(hash, lines) * BLOCKED_LINE_BYTES..][..BLOCKED_LINE_BYTES];
                blocked_probes(hash, self.k).all(|b| line[b / 8] & (1 << (b % 8)) != 0)
            }
            FilterKind::Standard => {
                let nbits = self.bits.len() as u64 * 8;
                probes(hash, self.k, nbits).all(|p| self.bits[(p / 8) as usize] & (1 << (p % 8)) != 0)
            }
        }
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.bits.len() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [FilterKind; 2] = [FilterKind::Blocked, FilterKind::Standard];

    #[test]
    fn added_keys_are_always_found() {
        let keys: Vec<Vec<u8>> = (0..10_000u32).map(|i| format!("key{i}").into_bytes()).collect();
        let hashes: Vec<u64> = keys.iter().map(|k| key_hash(k)).collect();
        for kind in KINDS {
            let f = BloomFilter::decode(bytes::Bytes::from(build(&hashes, 10, kind)), kind).expect("valid");
            assert!(keys.iter().all(|k| f.may_contain(key_hash(k))), "{kind:?}");
        }
        assert_eq!(num_probes(10), 7);
    }

    /// Sizes follow docs/format.md §3.5: whole 64-byte lines, at least one.
    #[test]
    fn blocked_filter_sizes() {
        for (n, bits_per_key, lines) in [(0usize, 10usize, 1usize), (1, 10, 1), (51, 10, 1), (52, 10, 2), (1000, 10, 20)] {
            let hashes: Vec<u64> = (0..n as u64).collect();
            let f = build(&hashes, bits_per_key, FilterKind::Blocked);
            assert_eq!(f.len(), lines * BLOCKED_LINE_BYTES + 1, "n {n}");
            assert_eq!(f.last(), Some(&num_probes(bits_per_key)));
        }
    }

    /// The table builder's chunked hashes give the filter of their concatenation, bit for
    /// bit, however they are split.
    #[test]
    fn filter_of_parts_is_the_filter_of_their_concatenation() {
        let hashes: Vec<u64> = (0..70_000u32).map(|i| key_hash(format!("key{i}").as_bytes())).collect();
        for kind in KINDS {
            let whole = build(&hashes, 10, kind);
            for split in [1, 7, 65_536, 69_999] {
                let (a, b) = hashes.split_at(split);
                assert_eq!(build_parts(&[a.to_vec(), b.to_vec()], 10, kind), whole, "split at {split}");
            }
            let empty: [Vec<u64>; 0] = [];
            assert_eq!(build_parts(&empty, 10, kind), build(&[], 10, kind));
        }
    }

    #[test]
    fn malformed_filter_blocks_are_rejected() {
        for kind in KINDS {
            assert!(BloomFilter::decode(bytes::Bytes::new(), kind).is_none());
            assert!(BloomFilter::decode(bytes::Bytes::from_static(&[0xff, 0]), kind).is_none());
            assert!(BloomFilter::decode(bytes::Bytes::from_static(&[0xff, 31]), kind).is_none());
        }
        // A blocked filter's bits are whole 64-byte lines.
        assert!(BloomFilter::decode(bytes::Bytes::from_static(&[0xff, 7]), FilterKind::Blocked).is_none());
        let mut short = vec![0u8; 65];
        short.push(7);
        assert!(BloomFilter::decode(bytes::Bytes::from(short), FilterKind::Blocked).is_none());
        let mut ok = vec![0u8; 64];
        ok.push(7);
        assert!(BloomFilter::decode(bytes::Bytes::from(ok), FilterKind::Blocked).is_some());
    }
}
