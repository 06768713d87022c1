//! The memtable: recent writes, ordered by internal key, behind a mutex.
//!
//! Writers insert under the mutex (only the group-commit leader inserts, in sequence
//! order). Readers take the same mutex for a point lookup or to copy a short run of
//! entries for an iterator. A memtable becomes an *immutable memtable* when it is full: it
//! then receives no more inserts and waits in the current `Version` until the flush thread
//! has written it to an L0 table.
//!
//! Keys and values are `Bytes` slices of the group's WAL payload, so an insert copies no
//! user data; it allocates only the internal key and the tree node.

pub mod iter;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering as AtomicOrdering};

use bytes::Bytes;
use parking_lot::Mutex;

use std::sync::Arc;

use crate::key::{compare_internal_keys, LookupResult, ParsedInternalKey, SequenceNumber, ValueType};
use crate::range_del::{FragmentedRangeTombstones, RangeTombstone};

/// Per-entry bytes charged on top of key and value, so that the charged size tracks the
/// real heap use (measured with 16-byte keys and 100-byte values): the tree slot and node
/// share (about 96), the internal key's allocation header and trailer (about 24), and the
/// commit group's share of its payload header and `Bytes` bookkeeping (about 48). The
/// key is charged twice: once in the group payload, once in the internal key.
const ENTRY_OVERHEAD_BYTES: usize = 168;

/// An encoded internal key ordered by the internal-key comparator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemKey(pub Bytes);

impl Ord for MemKey {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_internal_keys(&self.0, &other.0)
    }
}
impl PartialOrd for MemKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// An encoded internal key as an unsized slice, ordered like [`MemKey`], so the tree can be
/// searched with a borrowed key: a point lookup allocates nothing.
#[derive(Debug, PartialEq, Eq, ref_cast::RefCast)]
#[repr(transparent)]
pub struct IKey([u8]);

impl Ord for IKey {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_internal_keys(&self.0, &other.0)
    }
}
impl PartialOrd for IKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::borrow::Borrow<IKey> for MemKey {
    fn borrow(&self) -> &IKey {
        // Invariant: IKey's order is MemKey's order (both compare_internal_keys), as
        // Borrow requires.
        ref_cast::RefCast::ref_cast(self.0.as_ref())
    }
}

thread_local! {
    /// Reused buffer for the seek keys of point lookups.
    static SEEK_KEY: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
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
    map: Mutex<BTreeMap<MemKey, Bytes>>,
    approximate_size: AtomicUsize,
    /// Entries inserted, and of those tombstones (for `Db::estimate_num_keys`).
    num_entries: AtomicU64,
    num_deletions: AtomicU64,
    /// Range tombstones, kept apart from the point entries (never in `map`), and their
    /// fragmented form, built when a read first needs it after an insert.
    range_dels: Mutex<RangeDels>,
    /// Range tombstones inserted: lets reads skip `range_dels` without a lock when 0.
    num_range_dels: AtomicU64,
    /// The WAL that holds this memtable's writes.
    log_number: u64,
    largest_seqno: AtomicU64,
}

impl MemTable {
    /// An empty memtable whose writes are logged in WAL `log_number`.
    pub fn new(log_number: u64) -> Self {
        MemTable {
            map: Mutex::new(BTreeMap::new()),
            approximate_size: AtomicUsize::new(0),
            num_entries: AtomicU64::new(0),
            num_deletions: AtomicU64::new(0),
            range_dels: Mutex::new(RangeDels::default()),
            num_range_dels: AtomicU64::new(0),
            log_number,
            largest_seqno: AtomicU64::new(0),
        }
    }

    /// The number of the WAL that logs this memtable's writes.
    pub fn log_number(&self) -> u64 {
        self.log_number
    }

    /// Bytes charged so far: keys, values and [`ENTRY_OVERHEAD_BYTES`] per entry.
    pub fn approximate_size(&self) -> usize {
        self.approximate_size.load(AtomicOrdering::Relaxed)
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
        self.num_range_tombstones() == 0 && self.map.lock().is_empty()
    }

    /// Inserts a run of entries, `(user_key, seqno, type, value)`, under one lock. A
    /// [`ValueType::RangeDeletion`] entry (key = start, value = end) goes to the range
    /// tombstone list instead of the ordered map.
    /// **Requires:** the caller is the single inserter (the group-commit leader or
    /// recovery), and sequence numbers are new.
    pub fn insert_many(&self, entries: impl IntoIterator<Item = (Bytes, SequenceNumber, ValueType, Bytes)>) {
        let mut added = 0;
        let mut max_seq = 0;
        let (mut n, mut dels) = (0u64, 0u64);
        let mut ranges = Vec::new();
        let mut map = self.map.lock();
        for (user_key, seqno, vt, value) in entries {
            added += 2 * user_key.len() + value.len() + ENTRY_OVERHEAD_BYTES;
            max_seq = max_seq.max(seqno);
            if vt == ValueType::RangeDeletion {
                ranges.push(RangeTombstone { start: user_key, end: value, seqno });
                continue;
            }
            n += 1;
            dels += u64::from(vt == ValueType::Deletion);
            let ikey = ParsedInternalKey { user_key: &user_key, seqno, value_type: vt };
            let mut enc = Vec::with_capacity(user_key.len() + crate::key::TRAILER_LEN);
            ikey.encode_into(&mut enc);
            map.insert(MemKey(Bytes::from(enc)), value);
        }
        drop(map);
        if !ranges.is_empty() {
            let mut rd = self.range_dels.lock();
            self.num_range_dels.fetch_add(ranges.len() as u64, AtomicOrdering::Release);
            rd.list.extend(ranges);
            rd.fragmented = None;
        }
        self.approximate_size.fetch_add(added, AtomicOrdering::Relaxed);
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
        SEEK_KEY.with_borrow_mut(|seek| {
            crate::key::seek_key_into(user_key, seqno, seek);
            self.get_at(user_key, seek)
        })
    }

    fn get_at(&self, user_key: &[u8], seek: &[u8]) -> Option<(SequenceNumber, LookupResult)> {
        let seek: &IKey = ref_cast::RefCast::ref_cast(seek);
        let map = self.map.lock();
        let (k, v) = map.range::<IKey, _>((Bound::Included(seek), Bound::Unbounded)).next()?;
        let parsed = ParsedInternalKey::decode(&k.0)?;
        if parsed.user_key != user_key {
            return None;
        }
        // A short expiring value cannot be in a memtable: batches are validated.
        Some((parsed.seqno, LookupResult::of(parsed.value_type, v.clone()).unwrap_or(LookupResult::Deleted)))
    }

    /// Copies up to `max` entries ending at `to` (the last ones before it, in ascending
    /// internal-key order) into `out`.
    pub fn copy_range_rev(&self, to: Bound<&MemKey>, max: usize, out: &mut Vec<(Bytes, Bytes)>) {
        let map = self.map.lock();
        let to = match to {
            Bound::Included(k) => Bound::Included(k.clone()),
            Bound::Excluded(k) => Bound::Excluded(k.clone()),
            Bound::Unbounded => Bound::Unbounded,
        };
        let start = out.len();
        out.extend(map.range((Bound::Unbounded, to)).rev().take(max).map(|(k, v)| (k.0.clone(), v.clone())));
        out[start..].reverse();
    }

    /// Copies up to `max` entries starting at `from` (in internal-key order) into `out`.
    /// Iterators call this repeatedly so that they never hold the lock between steps.
    pub fn copy_range(&self, from: Bound<&MemKey>, max: usize, out: &mut Vec<(Bytes, Bytes)>) {
        let map = self.map.lock();
        let from = match from {
            Bound::Included(k) => Bound::Included(k.clone()),
            Bound::Excluded(k) => Bound::Excluded(k.clone()),
            Bound::Unbounded => Bound::Unbounded,
        };
        out.extend(map.range((from, Bound::Unbounded)).take(max).map(|(k, v)| (k.0.clone(), v.clone())));
    }
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
        assert!(m.approximate_size() >= 3 * ENTRY_OVERHEAD_BYTES);
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
