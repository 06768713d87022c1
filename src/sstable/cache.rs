//! The block cache and the table file cache.
//!
//! [`BlockCache`]: decompressed data blocks shared by every table of a database, keyed by
//! (table file number, block offset) and weighted by bytes, on quick_cache's concurrent
//! cache (S3-FIFO eviction). Index and filter blocks are not cached here: each open table pins its
//! own (see `Table`).
//!
//! [`FileCache`]: the open file handles (or memory mappings) of tables, at most
//! `max_open_files`; an evicted handle is closed (unmapped) when its last reader drops it
//! and reopened on the next read.
//!
//! Both are safe to share across threads.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use std::path::Path;
use std::sync::Arc;

use super::block::Block;
use crate::fs::{FileSystem, RandomAccessFile};

/// Bytes charged per cached block on top of its data: the key, the `Block` and the cache's
/// own bookkeeping.
const PER_BLOCK_OVERHEAD_BYTES: u64 = 96;

#[derive(Debug, Clone, Copy, Default)]
struct BlockWeighter;

impl quick_cache::Weighter<(u64, u64), Block> for BlockWeighter {
    fn weight(&self, _key: &(u64, u64), block: &Block) -> u64 {
        block.size() as u64 + PER_BLOCK_OVERHEAD_BYTES
    }
}

/// See the module docs.
pub struct BlockCache {
    cache: quick_cache::sync::Cache<(u64, u64), Block, BlockWeighter>,
    capacity: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCache").field("capacity", &self.capacity.load(Relaxed)).finish_non_exhaustive()
    }
}

/// Counters of a [`BlockCache`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CacheStats {
    /// Capacity in bytes.
    pub capacity: u64,
    /// Bytes charged to the cached blocks now.
    pub usage: u64,
    /// Blocks cached now.
    pub blocks: u64,
    /// Lookups that found the block.
    pub hits: u64,
    /// Lookups that had to read the block from its table.
    pub misses: u64,
}

impl BlockCache {
    /// A cache holding at most `capacity` bytes (data plus a fixed overhead per block).
    pub fn new(capacity: u64) -> Self {
        let items = usize::try_from(capacity / 4096).unwrap_or(usize::MAX).max(16);
        BlockCache {
            cache: quick_cache::sync::Cache::with_weighter(items, capacity, BlockWeighter),
            capacity: AtomicU64::new(capacity),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The cached block of table `number` at `offset`, counting a hit or a miss.
    pub fn get(&self, number: u64, offset: u64) -> Option<Block> {
        let b = self.cache.get(&(number, offset));
        if b.is_some() { &self.hits } else { &self.misses }.fetch_add(1, Relaxed);
        b
    }

    /// Caches `block`.
    pub fn insert(&self, number: u64, offset: u64, block: Block) {
        self.cache.insert((number, offset), block);
    }

    /// Drops the block of table `number` at `offset`, if cached.
    pub fn remove(&self, number: u64, offset: u64) {
        self.cache.remove(&(number, offset));
    }

    /// Changes the capacity to `capacity` bytes, evicting blocks if it shrinks (a memory
    /// budget resizes the cache as tables come and go).
    pub fn set_capacity(&self, capacity: u64) {
        if self.capacity.swap(capacity, Relaxed) != capacity {
            self.cache.set_capacity(capacity);
        }
    }

    /// Current counters.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            capacity: self.capacity.load(Relaxed),
            usage: self.cache.weight(),
            blocks: self.cache.len() as u64,
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
        }
    }
}

/// Open table files by file number, bounded by count.
pub struct FileCache {
    cache: quick_cache::sync::Cache<u64, Arc<dyn RandomAccessFile>>,
    fs: Arc<dyn FileSystem>,
    mmap: bool,
    opens: AtomicU64,
}

impl std::fmt::Debug for FileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileCache").field("mmap", &self.mmap).finish_non_exhaustive()
    }
}

impl FileCache {
    /// A cache of at most `max_open_files` handles, opened through `fs` (memory-mapped
    /// when `mmap` is true).
    pub fn new(fs: Arc<dyn FileSystem>, max_open_files: usize, mmap: bool) -> Self {
        FileCache {
            cache: quick_cache::sync::Cache::new(max_open_files.max(1)),
            fs,
            mmap,
            opens: AtomicU64::new(0),
        }
    }

    /// Opens `path` without caching the handle (the caller inserts it).
    ///
    /// # Errors
    /// The `io::Error` from opening or mapping the file.
    pub fn open_uncached(&self, path: &Path) -> std::io::Result<Arc<dyn RandomAccessFile>> {
        self.opens.fetch_add(1, Relaxed);
        if self.mmap {
            self.fs.open_mmap(path)
        } else {
            self.fs.open(path)
        }
    }

    /// The handle of table `number` at `path`, opening it on a miss.
    ///
    /// # Errors
    /// The `io::Error` from opening the file.
    pub fn get(&self, number: u64, path: &Path) -> std::io::Result<Arc<dyn RandomAccessFile>> {
        self.cache.get_or_insert_with(&number, || self.open_uncached(path))
    }

    /// Closes the handle of table `number`, if held.
    pub fn remove(&self, number: u64) {
        self.cache.remove(&number);
    }

    /// Keeps an already open handle of table `number`.
    pub fn insert(&self, number: u64, file: Arc<dyn RandomAccessFile>) {
        self.cache.insert(number, file);
    }

    /// Files opened so far (each miss opens one).
    pub fn opens(&self) -> u64 {
        self.opens.load(Relaxed)
    }

    /// Handles held now.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// True if no handle is held.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_is_bounded_by_bytes_and_counts_hits() {
        let c = BlockCache::new(64 << 10);
        let block = || {
            let mut b = super::super::block::BlockBuilder::new(16);
            b.add(b"k", &[0u8; 4000]);
            Block::new(bytes::Bytes::from(b.finish())).expect("valid")
        };
        assert!(c.get(1, 0).is_none());
        c.insert(1, 0, block());
        assert!(c.get(1, 0).is_some());
        for off in 1..100 {
            c.insert(2, off, block());
        }
        let s = c.stats();
        assert!(s.usage <= 64 << 10, "usage {} over capacity", s.usage);
        assert_eq!((s.hits, s.misses), (1, 1));
    }
}
