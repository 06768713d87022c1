//! A memtable's whole-key bloom filter (RocksDB's `memtable_whole_key_filtering` with
//! `memtable_prefix_bloom_size_ratio`): a point lookup of a key the memtable does not hold
//! skips the B+tree search (about 1 µs at 400K entries) for one probe of this bit array.
//!
//! Blocked (Putze, Sanders and Singler, "Cache-, Hash- and Space-Efficient Bloom Filters",
//! 2007): a key's [`PROBES`] bits all lie in one 64-byte block, so an insert or a probe
//! touches one cache line. The block is the low 32 bits of the key's xxh3 hash modulo the
//! number of blocks; the bit positions are successive 9-bit fields of the high 32 bits.
//!
//! Synchronisation: bits are only ever set, by the memtable's single inserter (the
//! group-commit leader or recovery; plain `Relaxed` load and store, no read-modify-write,
//! since no other thread sets bits), after its tree inserts and outside the memtable's
//! mutex, and probed without the mutex (`Relaxed` loads), so a lookup of a key
//! the memtable does not hold never waits for the writer. A probe cannot miss an entry it
//! is allowed to see: the writer sets the bits before it publishes the entry's sequence
//! number (`visible_seqno`, a `Release` store), and a reader reads at a sequence number it
//! loaded with `Acquire` (directly, or through a snapshot), so the bits' stores happen
//! before its probe.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bits set per key.
pub const PROBES: usize = 3;

/// Words of one block (64 bytes).
const BLOCK_WORDS: usize = 8;

/// See the module docs.
#[derive(Debug, Default)]
pub struct KeyFilter {
    words: Box<[AtomicU64]>,
}

fn positions(hash: u64, blocks: usize) -> (usize, [usize; PROBES]) {
    let block = ((hash & 0xffff_ffff) as usize % blocks) * BLOCK_WORDS;
    let mut h = hash >> 32;
    let mut bits = [0usize; PROBES];
    for b in &mut bits {
        *b = (h & 511) as usize;
        h >>= 9;
    }
    (block, bits)
}

/// The hash a key's bits come from (xxh3, 64 bits).
pub fn key_hash(user_key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(user_key)
}

impl KeyFilter {
    /// A filter of `bytes` bytes (rounded down to whole 64-byte blocks); 0 makes a filter
    /// that answers "maybe" to every key and costs nothing.
    pub fn new(bytes: usize) -> Self {
        KeyFilter { words: (0..bytes / 64 * BLOCK_WORDS).map(|_| AtomicU64::new(0)).collect() }
    }

    /// Bytes the filter holds.
    pub fn bytes(&self) -> usize {
        self.words.len() * 8
    }

    /// Records `user_key`. **Requires:** the caller is the only thread inserting (the
    /// memtable's single inserter); probes may run concurrently.
    pub fn insert(&self, user_key: &[u8]) {
        self.insert_hash(key_hash(user_key));
    }

    /// Records the key whose [`key_hash`] is `hash`. **Requires:** as [`KeyFilter::insert`].
    pub fn insert_hash(&self, hash: u64) {
        let blocks = self.words.len() / BLOCK_WORDS;
        if blocks == 0 {
            return;
        }
        let (block, bits) = positions(hash, blocks);
        for b in bits {
            let w = &self.words[block + b / 64];
            w.store(w.load(Ordering::Relaxed) | 1 << (b % 64), Ordering::Relaxed);
        }
    }

    /// False only if `user_key` was never inserted.
    pub fn may_contain(&self, user_key: &[u8]) -> bool {
        let blocks = self.words.len() / BLOCK_WORDS;
        if blocks == 0 {
            return true;
        }
        let (block, bits) = positions(key_hash(user_key), blocks);
        bits.iter().all(|b| self.words[block + b / 64].load(Ordering::Relaxed) & (1 << (b % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        // 16 bits per key, as 1% of a 64 MiB buffer over about 400K entries gives.
        let f = KeyFilter::new(20_000 * 2);
        for i in 0..20_000u32 {
            f.insert(format!("key{i}").as_bytes());
        }
        assert!((0..20_000u32).all(|i| f.may_contain(format!("key{i}").as_bytes())));
        let fp = (0..100_000u32).filter(|i| f.may_contain(format!("other{i}").as_bytes())).count();
        assert!(fp < 2_000, "{fp} false positives in 100,000 (expected about 0.7%)");
    }

    #[test]
    fn an_empty_filter_answers_maybe() {
        let f = KeyFilter::new(0);
        f.insert(b"k");
        assert!(f.may_contain(b"anything"));
        assert_eq!(f.bytes(), 0);
    }
}
