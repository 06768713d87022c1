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

use crate::key::{compare_internal_keys, LookupResult, ParsedInternalKey, SequenceNumber, ValueType};

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

/// An in-memory sorted write buffer; see the module docs.
#[derive(Debug)]
pub struct MemTable {
    /// Guards the ordered entries. Lock order: taken last; never held during I/O.
    map: Mutex<BTreeMap<MemKey, Bytes>>,
    approximate_size: AtomicUsize,
    /// Entries inserted, and of those tombstones (for `Db::estimate_num_keys`).
    num_entries: AtomicU64,
    num_deletions: AtomicU64,
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

    /// True if nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.map.lock().is_empty()
    }

    /// Inserts a run of entries, `(user_key, seqno, type, value)`, under one lock.
    /// **Requires:** the caller is the single inserter (the group-commit leader or
    /// recovery), and sequence numbers are new.
    pub fn insert_many(&self, entries: impl IntoIterator<Item = (Bytes, SequenceNumber, ValueType, Bytes)>) {
        let mut added = 0;
        let mut max_seq = 0;
        let (mut n, mut dels) = (0u64, 0u64);
        let mut map = self.map.lock();
        for (user_key, seqno, vt, value) in entries {
            added += 2 * user_key.len() + value.len() + ENTRY_OVERHEAD_BYTES;
            n += 1;
            dels += u64::from(vt == ValueType::Deletion);
            max_seq = max_seq.max(seqno);
            let ikey = ParsedInternalKey { user_key: &user_key, seqno, value_type: vt };
            let mut enc = Vec::with_capacity(user_key.len() + crate::key::TRAILER_LEN);
            ikey.encode_into(&mut enc);
            map.insert(MemKey(Bytes::from(enc)), value);
        }
        drop(map);
        self.approximate_size.fetch_add(added, AtomicOrdering::Relaxed);
        self.num_entries.fetch_add(n, AtomicOrdering::Relaxed);
        self.num_deletions.fetch_add(dels, AtomicOrdering::Relaxed);
        self.largest_seqno.fetch_max(max_seq, AtomicOrdering::Relaxed);
    }

    /// The newest version of `user_key` with a sequence number `<= seqno`, if any.
    pub fn get(&self, user_key: &[u8], seqno: SequenceNumber) -> Option<LookupResult> {
        SEEK_KEY.with_borrow_mut(|seek| {
            crate::key::seek_key_into(user_key, seqno, seek);
            self.get_at(user_key, seek)
        })
    }

    fn get_at(&self, user_key: &[u8], seek: &[u8]) -> Option<LookupResult> {
        let seek: &IKey = ref_cast::RefCast::ref_cast(seek);
        let map = self.map.lock();
        let (k, v) = map.range::<IKey, _>((Bound::Included(seek), Bound::Unbounded)).next()?;
        let parsed = ParsedInternalKey::decode(&k.0)?;
        if parsed.user_key != user_key {
            return None;
        }
        // A short expiring value cannot be in a memtable: batches are validated.
        Some(LookupResult::of(parsed.value_type, v.clone()).unwrap_or(LookupResult::Deleted))
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
        assert_eq!(m.get(b"k", 3), Some(LookupResult::Found(b("v3"))));
        assert_eq!(m.get(b"k", 2), Some(LookupResult::Deleted));
        assert_eq!(m.get(b"k", 1), Some(LookupResult::Found(b("v1"))));
        assert_eq!(m.get(b"k", 0), None);
        assert_eq!(m.get(b"j", 9), None);
        assert_eq!(m.get(b"kk", 9), None);
        assert_eq!(m.largest_seqno(), 3);
        assert!(m.approximate_size() >= 3 * ENTRY_OVERHEAD_BYTES);
    }
}
