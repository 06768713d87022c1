//! The memtable: recent writes, ordered by internal key, behind a mutex.
//!
//! Writers insert under the mutex (only the group-commit leader inserts, in sequence
//! order). Readers take the same mutex for a point lookup or to copy a short run of
//! entries for an iterator. A memtable becomes an *immutable memtable* when it is full: it
//! then receives no more inserts and waits in the current `Version` until the flush thread
//! has written it to an L0 table.
//!
//! Entries live in an arena ([`btree`]): an insert copies the key and value into the
//! current 1 MiB chunk (one bump allocation, no heap allocation per entry) and links its
//! address into a B+tree, and the memtable's size is what the arena and the tree use.
//! With 16-byte keys and 100-byte values an entry takes about 148 bytes, so a 64 MiB
//! write buffer holds about 451K entries (RocksDB's skiplist arena about 460K, counted
//! as entries per flush in its compaction statistics); the former `BTreeMap` of `Bytes`
//! charged 300 bytes per entry.

pub mod iter;
pub mod btree;
pub mod filter;
pub mod pool;

use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering as AtomicOrdering};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;

use std::sync::Arc;

use crate::key::{LookupResult, SequenceNumber, ValueType};
use crate::range_del::{FragmentedRangeTombstones, RangeTombstone};
use btree::{OrderedArena, Pos};
use filter::KeyFilter;
use pool::ArenaPool;

/// Bytes charged per range tombstone on top of its start and end keys (the list slot
/// and the two `Bytes` handles).
const RANGE_TOMBSTONE_OVERHEAD_BYTES: usize = 80;

/// An encoded internal key (user key, then the trailer `seqno << 8 | type` as u64le):
/// the position iterators seek to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemKey(pub Bytes);

impl MemKey {
    /// The user key and trailer; `None` for a key shorter than a trailer.
    fn parts(&self) -> Option<(&[u8], u64)> {
        let split = self.0.len().checked_sub(crate::key::TRAILER_LEN)?;
        Some((&self.0[..split], crate::coding::get_u64(&self.0[split..])?))
    }
}

/// A memtable's range tombstones: the list in insertion order and, once a read asked for
/// it, the fragmented form of the whole list (dropped by the next insert).
#[derive(Debug, Default)]
struct RangeDels {
    list: Vec<RangeTombstone>,
    fragmented: Option<Arc<FragmentedRangeTombstones>>,
}

/// An in-memory sorted write buffer; see the module docs.
#[derive(Debug)]
pub struct MemTable {
    /// Guards the ordered entries. Lock order: taken last; never held during I/O.
    list: Mutex<OrderedArena>,
    /// The whole-key filter: set under `list`'s lock, probed without it (see
    /// [`filter`]'s synchronisation), so a point lookup of a key this memtable does not
    /// hold never waits for the writer.
    filter: KeyFilter,
    /// Bytes charged: the arena's used bytes plus the range tombstones'.
    approximate_size: AtomicUsize,
    /// Entries inserted, and of those tombstones (for `Db::estimate_num_keys`).
    num_entries: AtomicU64,
    num_deletions: AtomicU64,
    /// Range tombstones, kept apart from the point entries (never in `list`), and their
    /// fragmented form, built when a read first needs it after an insert.
    range_dels: Mutex<RangeDels>,
    /// Range tombstones inserted: lets reads skip `range_dels` without a lock when 0.
    num_range_dels: AtomicU64,
    /// Bytes charged for the range tombstones.
    range_del_bytes: AtomicUsize,
    /// The WAL that holds this memtable's writes.
    log_number: u64,
    largest_seqno: AtomicU64,
    /// The arena pool shared with the memtables before and after this one, if any.
    pool: Option<Arc<ArenaPool>>,
}

/// Copies the entries at `addrs` into `out` as (internal key, value) pairs that share
/// one buffer: one allocation per run, not two per entry.
/// Appends an entry's internal key (user key, then the trailer) and value to `buf`;
/// returns where its key starts, where its value starts and where it ends.
fn push_entry(buf: &mut BytesMut, e: btree::Entry<'_>) -> (usize, usize, usize) {
    let k0 = buf.len();
    buf.extend_from_slice(e.user_key);
    buf.extend_from_slice(&e.trailer.to_le_bytes());
    let v0 = buf.len();
    buf.extend_from_slice(e.value);
    (k0, v0, buf.len())
}

fn copy_out(list: &OrderedArena, addrs: &[Pos], out: &mut Vec<(Bytes, Bytes)>) {
    let total: usize = addrs
        .iter()
        .map(|a| {
            let e = list.entry(*a);
            e.user_key.len() + crate::key::TRAILER_LEN + e.value.len()
        })
        .sum();
    let mut buf = BytesMut::with_capacity(total);
    let mut spans = Vec::with_capacity(addrs.len());
    for a in addrs {
        spans.push(push_entry(&mut buf, list.entry(*a)));
    }
    let buf = buf.freeze();
    out.extend(spans.into_iter().map(|(k0, v0, end)| (buf.slice(k0..v0), buf.slice(v0..end))));
}

impl MemTable {
    /// An empty memtable whose writes are logged in WAL `log_number`.
    pub fn new(log_number: u64) -> Self {
        Self::with_filter(log_number, 0)
    }

    /// An empty memtable with a whole-key bloom filter of `filter_bytes` bytes (see
    /// [`filter`]; `Options::memtable_bloom_size_ratio` sizes it from the write buffer).
    pub fn with_filter(log_number: u64, filter_bytes: usize) -> Self {
        Self::build(log_number, filter_bytes, None)
    }

    /// [`MemTable::with_filter`] whose arena chunks come from `pool` and go back to it when
    /// the memtable is dropped ([`pool`]); its successors share the pool.
    pub fn with_pool(log_number: u64, filter_bytes: usize, pool: Arc<ArenaPool>) -> Self {
        Self::build(log_number, filter_bytes, Some(pool))
    }

    /// The memtable that follows this one at a switch: WAL `log_number`, a key filter of
    /// `filter_bytes` bytes, and this one's arena pool.
    pub fn successor(&self, log_number: u64, filter_bytes: usize) -> Self {
        Self::build(log_number, filter_bytes, self.pool.clone())
    }

    /// Bytes of arena chunks the pool this memtable shares keeps for later memtables.
    pub fn pool_bytes(&self) -> usize {
        self.pool.as_ref().map_or(0, |p| p.bytes())
    }

    fn build(log_number: u64, filter_bytes: usize, pool: Option<Arc<ArenaPool>>) -> Self {
        MemTable {
            list: Mutex::new(pool.clone().map_or_else(OrderedArena::new, OrderedArena::with_pool)),
            pool,
            filter: KeyFilter::new(filter_bytes),
            approximate_size: AtomicUsize::new(0),
            num_entries: AtomicU64::new(0),
            num_deletions: AtomicU64::new(0),
            range_dels: Mutex::new(RangeDels::default()),
            num_range_dels: AtomicU64::new(0),
            range_del_bytes: AtomicUsize::new(0),
            log_number,
            largest_seqno: AtomicU64::new(0),
        }
    }

    /// The number of the WAL that logs this memtable's writes.
    pub fn log_number(&self) -> u64 {
        self.log_number
    }

    /// Bytes charged so far: the arena's used bytes (every node with its key and value,
    /// and the unused tails of full chunks), the key filter from the first insert, and the
    /// range tombstones' keys and [`RANGE_TOMBSTONE_OVERHEAD_BYTES`] each.
    pub fn approximate_size(&self) -> usize {
        self.approximate_size.load(AtomicOrdering::Relaxed)
    }

    /// Bytes the memtable holds on the heap: the arena chunks allocated (up to one chunk
    /// more than [`MemTable::approximate_size`]) and the range tombstones.
    pub fn allocated_bytes(&self) -> usize {
        let g = self.list.lock();
        g.allocated_bytes() + self.filter.bytes() + self.range_del_bytes.load(AtomicOrdering::Relaxed)
    }

    /// Entries inserted so far, and how many of them are tombstones.
    pub fn num_entries(&self) -> (u64, u64) {
        (self.num_entries.load(AtomicOrdering::Relaxed), self.num_deletions.load(AtomicOrdering::Relaxed))
    }

    /// Largest sequence number inserted (0 if empty).
    pub fn largest_seqno(&self) -> SequenceNumber {
        self.largest_seqno.load(AtomicOrdering::Relaxed)
    }

    /// True if nothing was inserted (no point entry and no range tombstone).
    pub fn is_empty(&self) -> bool {
        self.num_range_tombstones() == 0 && self.list.lock().is_empty()
    }

    /// Inserts a run of entries, `(user_key, seqno, type, value)`, under one lock, copying
    /// keys and values into the arena. A [`ValueType::RangeDeletion`] entry (key = start,
    /// value = end) goes to the range tombstone list instead.
    /// **Requires:** the caller is the single inserter (the group-commit leader or
    /// recovery), and sequence numbers are new.
    pub fn insert_many<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &self,
        entries: impl IntoIterator<Item = (K, SequenceNumber, ValueType, V)>,
    ) {
        let mut max_seq = 0;
        let (mut n, mut dels) = (0u64, 0u64);
        let mut ranges = Vec::new();
        // The keys' filter hashes: the first few inline (most groups hold one put).
        let (mut inline, mut n_inline, mut spilled) = ([0u64; 8], 0usize, Vec::new());
        let filtered = self.filter.bytes() > 0;
        let mut guard = self.list.lock();
        let list = &mut *guard;
        for (user_key, seqno, vt, value) in entries {
            let (user_key, value) = (user_key.as_ref(), value.as_ref());
            max_seq = max_seq.max(seqno);
            if vt == ValueType::RangeDeletion {
                let (start, end) = (Bytes::copy_from_slice(user_key), Bytes::copy_from_slice(value));
                ranges.push(RangeTombstone { start, end, seqno });
                continue;
            }
            n += 1;
            dels += u64::from(vt == ValueType::Deletion);
            list.insert(user_key, crate::key::pack_trailer(seqno, vt), value);
            if filtered {
                let h = filter::key_hash(user_key);
                if n_inline < inline.len() {
                    inline[n_inline] = h;
                    n_inline += 1;
                } else {
                    spilled.push(h);
                }
            }
        }
        let arena = list.used_bytes() + self.filter.bytes();
        // A fair unlock hands the lock to a reader parked on it, if any: the inserter
        // would otherwise take it straight back for the next group and a reader could
        // wait until parking_lot's periodic fair unlock (0.5 ms). Without a waiter it
        // costs what a plain unlock does.
        parking_lot::MutexGuard::unlock_fair(guard);
        // The filter's bits after the tree, outside the lock, in a loop of independent
        // cache-line updates whose misses the CPU overlaps (interleaved with the tree's
        // inserts each missed alone: 12 % of fillbatch's profile). Still before the caller
        // publishes the sequence numbers, as the filter's contract needs.
        for &h in inline[..n_inline].iter().chain(&spilled) {
            self.filter.insert_hash(h);
        }
        if !ranges.is_empty() {
            let bytes: usize =
                ranges.iter().map(|r| r.start.len() + r.end.len() + RANGE_TOMBSTONE_OVERHEAD_BYTES).sum();
            self.range_del_bytes.fetch_add(bytes, AtomicOrdering::Relaxed);
            let mut rd = self.range_dels.lock();
            self.num_range_dels.fetch_add(ranges.len() as u64, AtomicOrdering::Release);
            rd.list.extend(ranges);
            rd.fragmented = None;
        }
        // Only the single inserter stores, so the sum is exact.
        self.approximate_size.store(arena + self.range_del_bytes.load(AtomicOrdering::Relaxed), AtomicOrdering::Relaxed);
        self.num_entries.fetch_add(n, AtomicOrdering::Relaxed);
        self.num_deletions.fetch_add(dels, AtomicOrdering::Relaxed);
        self.largest_seqno.fetch_max(max_seq, AtomicOrdering::Relaxed);
    }

    /// Number of range tombstones inserted.
    pub fn num_range_tombstones(&self) -> u64 {
        self.num_range_dels.load(AtomicOrdering::Acquire)
    }

    /// The range tombstones as inserted (for a flush).
    pub fn range_tombstones(&self) -> Vec<RangeTombstone> {
        self.range_dels.lock().list.clone()
    }

    /// The range tombstones, fragmented; `None` if there are none. Built on the first call
    /// after an insert (O(n log n) for n tombstones) and shared until the next insert.
    pub fn fragmented_range_tombstones(&self) -> Option<Arc<FragmentedRangeTombstones>> {
        if self.num_range_tombstones() == 0 {
            return None;
        }
        let mut rd = self.range_dels.lock();
        if rd.fragmented.is_none() {
            rd.fragmented = Some(Arc::new(FragmentedRangeTombstones::new(rd.list.iter().cloned())));
        }
        rd.fragmented.clone()
    }

    /// The newest version of `user_key` with a sequence number `<= seqno`, if any, and
    /// its sequence number. Range tombstones are not consulted (see
    /// [`MemTable::fragmented_range_tombstones`]).
    pub fn get(&self, user_key: &[u8], seqno: SequenceNumber) -> Option<(SequenceNumber, LookupResult)> {
        // Without the lock: see `filter`'s synchronisation.
        if !self.filter.may_contain(user_key) {
            return None;
        }
        let guard = self.list.lock();
        let list = &*guard;
        let at = list.seek(user_key, (seqno << 8) | crate::key::VALUE_TYPE_FOR_SEEK)?;
        let e = list.entry(at);
        if e.user_key != user_key {
            return None;
        }
        let vt = ValueType::from_u8((e.trailer & 0xff) as u8)?;
        let (value, trailer) = (Bytes::copy_from_slice(e.value), e.trailer);
        drop(guard);
        // A short expiring value cannot be in a memtable: batches are validated.
        Some((e_seqno(trailer), LookupResult::of(vt, value).unwrap_or(LookupResult::Deleted)))
    }

    /// Copies up to `max` entries ending at `to` (the last ones before it, in ascending
    /// internal-key order) into `out`. Each step back is a search from the top (a
    /// skiplist has no back links), as LevelDB's `Prev`.
    pub fn copy_range_rev(&self, to: Bound<&MemKey>, max: usize, out: &mut Vec<(Bytes, Bytes)>) {
        let guard = self.list.lock();
        let list = &*guard;
        let mut at = match to {
            Bound::Unbounded => list.last(),
            Bound::Included(k) | Bound::Excluded(k) => {
                let Some((uk, tr)) = k.parts() else { return };
                match list.seek(uk, tr) {
                    Some(p) if matches!(to, Bound::Included(_)) && {
                        let e = list.entry(p);
                        e.user_key == uk && e.trailer == tr
                    } => Some(p),
                    Some(p) => list.prev(p),
                    None => list.last(),
                }
            }
        };
        let mut addrs = Vec::with_capacity(max.min(64));
        while let Some(p) = at.filter(|_| addrs.len() < max) {
            addrs.push(p);
            at = list.prev(p);
        }
        addrs.reverse();
        copy_out(list, &addrs, out);
    }

    /// Copies up to `max` entries starting at `from` (in internal-key order) into `out`.
    /// Iterators call this repeatedly so that they never hold the lock between steps.
    pub fn copy_range(&self, from: Bound<&MemKey>, max: usize, out: &mut Vec<(Bytes, Bytes)>) {
        let guard = self.list.lock();
        let list = &*guard;
        let mut at = match from {
            Bound::Unbounded => list.first(),
            Bound::Included(k) | Bound::Excluded(k) => {
                let Some((uk, tr)) = k.parts() else { return };
                match list.seek(uk, tr) {
                    Some(p) if matches!(from, Bound::Excluded(_)) && {
                        let e = list.entry(p);
                        e.user_key == uk && e.trailer == tr
                    } => list.next(p),
                    other => other,
                }
            }
        };
        let mut addrs = Vec::with_capacity(max.min(64));
        while let Some(p) = at.filter(|_| addrs.len() < max) {
            addrs.push(p);
            at = list.next(p);
        }
        copy_out(list, &addrs, out);
    }
}

impl MemTable {
    /// Calls `f(internal key, value)` for every entry in internal-key order: what a flush
    /// writes. Entries are copied `FLUSH_RUN_LEN` at a time into one reused buffer under
    /// the memtable mutex, which is released between runs and while `f` runs, so lookups
    /// in the memtable wait for at most one run's copy; no per-entry allocation or
    /// reference count (a `MemTableIter` hands out `Bytes`). A memtable being flushed is
    /// immutable, but this is exact under inserts too: entries are never removed, so
    /// continuing after the last key copied resumes where the run ended.
    ///
    /// # Errors
    /// The first error `f` returns, after which no more entries are visited.
    pub fn for_each_entry(&self, mut f: impl FnMut(&[u8], &[u8]) -> crate::error::Result<()>) -> crate::error::Result<()> {
        const FLUSH_RUN_LEN: usize = 256;
        let mut buf = BytesMut::new();
        let mut spans: Vec<(usize, usize, usize)> = Vec::with_capacity(FLUSH_RUN_LEN);
        // The last entry copied: (user key, trailer).
        let mut last: Option<(Vec<u8>, u64)> = None;
        loop {
            buf.clear();
            spans.clear();
            {
                let guard = self.list.lock();
                let list = &*guard;
                let mut at = match &last {
                    None => list.first(),
                    Some((uk, tr)) => list.seek(uk, *tr).and_then(|p| {
                        let e = list.entry(p);
                        if e.user_key == uk.as_slice() && e.trailer == *tr {
                            list.next(p)
                        } else {
                            Some(p)
                        }
                    }),
                };
                while let Some(p) = at.filter(|_| spans.len() < FLUSH_RUN_LEN) {
                    spans.push(push_entry(&mut buf, list.entry(p)));
                    at = list.next(p);
                }
                if let Some(&(k0, v0, _)) = spans.last() {
                    let k = &buf[k0..v0];
                    let (uk, tr) = k.split_at(k.len() - crate::key::TRAILER_LEN);
                    let mut t = [0u8; 8];
                    t.copy_from_slice(tr);
                    let slot = last.get_or_insert_with(|| (Vec::new(), 0));
                    slot.0.clear();
                    slot.0.extend_from_slice(uk);
                    slot.1 = u64::from_le_bytes(t);
                }
            }
            if spans.is_empty() {
                return Ok(());
            }
            for &(k0, v0, end) in &spans {
                f(&buf[k0..v0], &buf[v0..end])?;
            }
        }
    }
}

fn e_seqno(trailer: u64) -> SequenceNumber {
    trailer >> 8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn get_sees_newest_visible_version() {
        let m = MemTable::new(1);
        m.insert_many([
            (b("k"), 1, ValueType::Value, b("v1")),
            (b("k"), 2, ValueType::Deletion, Bytes::new()),
            (b("k"), 3, ValueType::Value, b("v3")),
        ]);
        assert_eq!(m.get(b"k", 3), Some((3, LookupResult::Found(b("v3")))));
        assert_eq!(m.get(b"k", 2), Some((2, LookupResult::Deleted)));
        assert_eq!(m.get(b"k", 1), Some((1, LookupResult::Found(b("v1")))));
        assert_eq!(m.get(b"k", 0), None);
        assert_eq!(m.get(b"j", 9), None);
        assert_eq!(m.get(b"kk", 9), None);
        assert_eq!(m.largest_seqno(), 3);
        assert!(m.approximate_size() >= 3 * (1 + 16 + 8 + 1 + 2));
    }

    #[test]
    fn a_successor_reuses_the_dropped_memtables_chunks_up_to_the_pool_limit() {
        use btree::CHUNK_BYTES;
        // Entries of about 40 KiB: 26 fill a 1 MiB chunk, so 80 need four chunks.
        let value = |i: u64, tag: u8| Bytes::from(vec![tag.wrapping_add(i as u8); 40 << 10]);
        let pool = Arc::new(ArenaPool::new(2 * CHUNK_BYTES, CHUNK_BYTES));
        let first = MemTable::with_pool(1, 0, Arc::clone(&pool));
        for i in 0..80u64 {
            first.insert_many([(Bytes::from(format!("a{i:03}")), i + 1, ValueType::Value, value(i, 1))]);
        }
        assert!(first.allocated_bytes() >= 4 * CHUNK_BYTES);
        let second = first.successor(2, 0);
        assert_eq!(second.pool_bytes(), 0, "nothing is kept while the first memtable lives");
        drop(first);
        assert_eq!(pool.bytes(), 2 * CHUNK_BYTES, "the pool keeps at most its limit");
        // The successor writes over a kept chunk: it reads back only what it wrote.
        for i in 0..30u64 {
            second.insert_many([(Bytes::from(format!("b{i:03}")), 100 + i, ValueType::Value, value(i, 7))]);
        }
        assert_eq!(pool.bytes(), 0, "two chunks taken from the pool, none mapped fresh before");
        let mut seen = Vec::new();
        second
            .for_each_entry(|k, v| {
                seen.push((k.to_vec(), v.to_vec()));
                Ok(())
            })
            .expect("walk");
        assert_eq!(seen.len(), 30);
        for (i, (k, v)) in seen.iter().enumerate() {
            assert_eq!(&k[..4], format!("b{i:03}").as_bytes());
            assert_eq!(v[..], value(i as u64, 7)[..]);
        }
        assert_eq!(second.get(b"a000", u64::MAX), None, "the first memtable's entries are gone");
        // A memtable without a pool unmaps its chunks.
        let plain = MemTable::new(3);
        plain.insert_many([(b("k"), 1, ValueType::Value, b("v"))]);
        assert_eq!(plain.pool_bytes(), 0);
    }

    #[test]
    fn for_each_entry_visits_what_the_iterator_visits() {
        use crate::iterator::InternalIterator;
        // 1,000 entries over 300 user keys (several versions each, so runs of 256 end
        // inside a key's versions), in random order.
        let m = MemTable::new(1);
        for i in 0..1_000u64 {
            let k = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7) % 300;
            m.insert_many([(Bytes::from(format!("key{k:05}")), i + 1, ValueType::Value, Bytes::from(format!("v{i}")))]);
        }
        let mut want = Vec::new();
        let mut it = iter::MemTableIter::new(Arc::new(m));
        it.seek_to_first().expect("seek");
        while it.valid() {
            want.push((it.key().to_vec(), it.value().to_vec()));
            it.next().expect("next");
        }
        let mut got = Vec::new();
        let m = MemTable::new(1);
        for i in 0..1_000u64 {
            let k = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7) % 300;
            m.insert_many([(Bytes::from(format!("key{k:05}")), i + 1, ValueType::Value, Bytes::from(format!("v{i}")))]);
        }
        m.for_each_entry(|k, v| {
            got.push((k.to_vec(), v.to_vec()));
            Ok(())
        })
        .expect("walk");
        assert_eq!(got.len(), 1_000);
        assert_eq!(got, want);
        // The first error stops the walk and is returned.
        let mut seen = 0;
        let r = m.for_each_entry(|_, _| {
            seen += 1;
            if seen == 300 { Err(crate::error::Error::InvalidArgument("stop")) } else { Ok(()) }
        });
        assert!(matches!(r, Err(crate::error::Error::InvalidArgument("stop"))));
        assert_eq!(seen, 300);
    }

    #[test]
    fn a_64_mib_buffer_holds_as_many_entries_as_an_arena_should() {
        // 16-byte keys and 100-byte values in random order, as db_bench's fillrandom.
        let m = MemTable::new(1);
        let value = Bytes::from(vec![b'v'; 100]);
        let mut n = 0u64;
        while m.approximate_size() < 64 << 20 {
            n += 1;
            let k = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 100_000_000;
            m.insert_many([(Bytes::from(format!("{k:016}")), n, ValueType::Value, value.clone())]);
        }
        let per_entry = (64u64 << 20) / n;
        // 126 bytes in the arena plus 16 per index slot at 70-100% fill (148 measured).
        assert!((140..=156).contains(&per_entry), "{per_entry} bytes per entry ({n} entries)");
        assert!(m.allocated_bytes() >= m.approximate_size());
        assert!(m.allocated_bytes() <= m.approximate_size() * 5 / 4 + (2 << 20));
    }

    #[test]
    fn a_key_filter_changes_no_answer() {
        let (plain, filtered) = (MemTable::new(1), MemTable::with_filter(1, 4096));
        for m in [&plain, &filtered] {
            for i in 0..5000u64 {
                let vt = if i % 7 == 0 { ValueType::Deletion } else { ValueType::Value };
                m.insert_many([(Bytes::from(format!("k{}", i % 3000)), i + 1, vt, b("v"))]);
            }
        }
        for i in 0..6000u64 {
            let k = format!("k{i}");
            for seqno in [10, 2500, u64::MAX >> 8] {
                assert_eq!(plain.get(k.as_bytes(), seqno), filtered.get(k.as_bytes(), seqno), "{k}@{seqno}");
            }
        }
        assert!(filtered.approximate_size() >= plain.approximate_size() + 4096);
    }

    #[test]
    fn range_tombstones_stay_out_of_the_map() {
        let m = MemTable::new(1);
        m.insert_many([(b("a"), 1, ValueType::Value, b("v")), (b("a"), 2, ValueType::RangeDeletion, b("c"))]);
        assert_eq!(m.get(b"a", 9), Some((1, LookupResult::Found(b("v")))));
        let f = m.fragmented_range_tombstones().expect("one tombstone");
        assert_eq!(f.max_covering(b"a", 9), 2);
        assert_eq!(f.max_covering(b"c", 9), 0);
        assert_eq!(m.num_entries(), (1, 0));
        assert_eq!(m.largest_seqno(), 2);
    }
}
