//! Arena chunks kept from dropped memtables for the next ones (RocksDB gets the same
//! from its allocator, which keeps freed arena blocks; shaledb maps its chunks, see
//! [`super::btree`]).
//!
//! Why: a fresh chunk's 256 pages fault in one by one as entries reach them, and a dropped
//! memtable unmaps its 64 chunks; every fault takes the process's memory-map lock for
//! reading and every unmap takes it for writing, so the writer's inserts waited for the
//! flush thread's unmaps. `shaledb-peers --num 10000000 --engines shaledb --workloads
//! fillbatch`, alternated twice: 113–172 groups over 0.9 ms without the pool, 75–80 with it.
//!
//! Memory: the pool keeps at most `max_bytes` (one write buffer). Chunks leave it before
//! any fresh chunk is mapped, so the pool and the live memtables together stay within
//! `max_write_buffer_number` write buffers, the reservation `Options::memory_budget`
//! makes for memtables: the pool fills only when a memtable is dropped, and the next
//! memtables drain it first. A reused chunk still holds old entries; the arena only reads
//! what it wrote since.

use parking_lot::Mutex;

/// See the module docs.
#[derive(Debug)]
pub struct ArenaPool {
    maps: Mutex<Vec<memmap2::MmapMut>>,
    /// Chunks kept at most.
    max_chunks: usize,
}

impl ArenaPool {
    /// A pool that keeps at most `max_bytes` of chunks of `chunk_bytes` bytes each.
    pub fn new(max_bytes: usize, chunk_bytes: usize) -> Self {
        ArenaPool { maps: Mutex::new(Vec::new()), max_chunks: max_bytes / chunk_bytes.max(1) }
    }

    /// A kept chunk, if any.
    pub(crate) fn take(&self) -> Option<memmap2::MmapMut> {
        self.maps.lock().pop()
    }

    /// Keeps the chunks of `maps` that fit; the rest are unmapped.
    pub(crate) fn give_back(&self, maps: impl IntoIterator<Item = memmap2::MmapMut>) {
        let mut surplus = Vec::new();
        {
            let mut kept = self.maps.lock();
            for m in maps {
                if kept.len() < self.max_chunks {
                    kept.push(m);
                } else {
                    surplus.push(m);
                }
            }
        }
        // Unmapped outside the lock.
        drop(surplus);
    }

    /// Bytes of the chunks kept.
    pub fn bytes(&self) -> usize {
        self.maps.lock().iter().map(|m| m.len()).sum()
    }
}
