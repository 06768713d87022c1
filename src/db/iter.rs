//! User-facing iterators over one `Version` as of one sequence number:
//! [`DbIterator`] (a double-ended Rust iterator over a key range) and [`RawIterator`]
//! (a cursor with `seek`, `seek_for_prev`, `next` and `prev`).
//!
//! Both pin the `Version` they were created on, so every table they may read stays open
//! and on disk until they are dropped, whatever compaction does meanwhile
//! (docs/durability.md INV-26). Each has one owner.

use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::error::{CorruptionKind, Error, Result};
use crate::iterator::merging::MergingIterator;
use crate::iterator::InternalIterator;
use crate::key::{
    encode_internal_key, seek_key, split_expiry, ParsedInternalKey, SequenceNumber, ValueType,
    MAX_SEQUENCE_NUMBER,
};
use crate::memtable::iter::MemTableIter;
use crate::options::Clock;
use crate::sstable::BlockReadOptions;
use crate::version::level_iter::LevelIter;
use crate::version::{RangeTombstoneView, Version};

/// A merging cursor over every memtable and table of `version`.
pub(crate) fn merge_version(version: &Version, ro: BlockReadOptions) -> MergingIterator {
    let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
    for m in std::iter::once(&version.mem).chain(&version.imm) {
        children.push(Box::new(MemTableIter::new(Arc::clone(m))));
    }
    for t in &version.levels[0] {
        children.push(Box::new(t.table().iter(ro)));
    }
    for level in &version.levels[1..] {
        if !level.is_empty() {
            children.push(Box::new(LevelIter::new(level.clone(), ro)));
        }
    }
    MergingIterator::new(children)
}

fn bad_key() -> Error {
    Error::corruption("<iterator>", 0, CorruptionKind::Malformed("bad internal key"))
}

/// The smallest internal key after every version of `user_key`.
fn after_all_versions(user_key: &[u8]) -> Vec<u8> {
    encode_internal_key(user_key, 0, ValueType::Deletion)
}

/// The largest internal key before every version of `user_key`.
fn before_all_versions(user_key: &[u8]) -> Vec<u8> {
    seek_key(user_key, MAX_SEQUENCE_NUMBER)
}

/// A user entry: key, value, and expiry (Unix milliseconds) for an expiring put.
type Entry = (Bytes, Bytes, Option<u64>);

/// What a visible version means for the reader now: `Some((value, expiry))` for a live
/// put, `None` for a tombstone or an expired put (which hides older versions as a
/// tombstone does).
fn live(t: ValueType, value: Bytes, clock: &dyn Clock) -> Result<Option<(Bytes, Option<u64>)>> {
    Ok(match t {
        ValueType::Value => Some((value, None)),
        ValueType::ValueWithExpiry => {
            let (ms, v) = split_expiry(&value).ok_or_else(bad_key)?;
            (clock.now_millis() < ms).then_some((v, Some(ms)))
        }
        ValueType::Deletion => None,
        ValueType::RangeDeletion => return Err(bad_key()),
    })
}

/// Moves forward from the cursor's position to the newest visible version of the next user
/// key that is not `skip` and not deleted or expired. Leaves the cursor on that entry.
/// `stop(user_key)` ends the search (an upper bound).
/// `view` holds the range tombstones: a version older than a covering one reads as
/// deleted.
fn find_forward(
    it: &mut MergingIterator,
    seqno: SequenceNumber,
    skip: Option<&[u8]>,
    stop: &dyn Fn(&[u8]) -> bool,
    clock: &dyn Clock,
    view: &RangeTombstoneView,
) -> Result<Option<Entry>> {
    // The key whose older versions are skipped: the caller's (the key returned last) until
    // this walk decides one itself, then a copy in `decided` (one buffer, reused, so a
    // forward scan allocates only the key it returns).
    let mut decided: Vec<u8> = Vec::new();
    let mut own = false;
    while it.valid() {
        let p = ParsedInternalKey::decode(it.key()).ok_or_else(bad_key)?;
        if stop(p.user_key) {
            return Ok(None); // past the end bound: no need to read further tombstones
        }
        let skipped = if own { decided.as_slice() == p.user_key } else { skip == Some(p.user_key) };
        if p.seqno > seqno || skipped {
            it.next()?; // invisible, or an older version of a key already decided
            continue;
        }
        match live(p.value_type, it.value(), clock)? {
            Some((v, ms)) if !covered(view, p.user_key, p.seqno, seqno) => {
                return Ok(Some((Bytes::copy_from_slice(p.user_key), v, ms)));
            }
            // Deleted, expired or covered by a range tombstone: its older versions are too.
            _ => {
                decided.clear();
                decided.extend_from_slice(p.user_key);
                own = true;
                it.next()?;
            }
        }
    }
    Ok(None)
}

/// Moves backward from the cursor's position and returns the previous user key whose
/// newest visible version is a live put. Leaves the cursor on the entry before all of that
/// key's versions. `stop(user_key)` ends the search (a lower bound).
fn find_backward(
    it: &mut MergingIterator,
    seqno: SequenceNumber,
    stop: &dyn Fn(&[u8]) -> bool,
    clock: &dyn Clock,
    view: &RangeTombstoneView,
) -> Result<Option<Entry>> {
    // Walking backward meets a user key's versions oldest first, so the last visible one
    // seen before the key changes is the newest visible one.
    let mut key: Option<Vec<u8>> = None;
    let mut newest: Option<(SequenceNumber, ValueType, Bytes)> = None;
    let judge = |k: Vec<u8>, (s, t, v): (SequenceNumber, ValueType, Bytes)| -> Result<Option<Entry>> {
        Ok(match live(t, v, clock)? {
            Some((v, ms)) if !covered(view, &k, s, seqno) => Some((Bytes::from(k), v, ms)),
            _ => None,
        })
    };
    while it.valid() {
        let p = ParsedInternalKey::decode(it.key()).ok_or_else(bad_key)?;
        if key.as_deref() != Some(p.user_key) {
            if let (Some(k), Some(n)) = (key.take(), newest.take()) {
                if let Some(e) = judge(k, n)? {
                    return Ok(Some(e));
                }
            }
            newest = None;
            if stop(p.user_key) {
                return Ok(None);
            }
            key = Some(p.user_key.to_vec());
        }
        if p.seqno <= seqno {
            newest = Some((p.seqno, p.value_type, it.value()));
        }
        it.prev()?;
    }
    match (key, newest) {
        (Some(k), Some(n)) => judge(k, n),
        _ => Ok(None),
    }
}

/// True if a range tombstone visible at `read_seqno` covers version `seqno` of `key`.
fn covered(view: &RangeTombstoneView, key: &[u8], seqno: SequenceNumber, read_seqno: SequenceNumber) -> bool {
    !view.is_empty() && view.max_covering(key, read_seqno) > seqno
}

/// A double-ended iterator over `(key, value)` pairs of a key range, in ascending order
/// from the front and descending from the back, as of one sequence number. It yields
/// `Result`s: a damaged block yields an `Err` where it is met, and the iterator then ends
/// (at both ends).
/// Created by `Db::iter`, `Db::range` and `Db::prefix`, and the same on a `Snapshot`.
pub struct DbIterator {
    version: Arc<Version>,
    seqno: SequenceNumber,
    ro: BlockReadOptions,
    start: Bound<Bytes>,
    end: Bound<Bytes>,
    front: Option<MergingIterator>,
    back: Option<MergingIterator>,
    /// The last key returned from the front, and from the back: the two ends stop where
    /// they meet.
    /// Copies kept in buffers reused from item to item: cloning the returned `Bytes`
    /// would turn its vector into a shared allocation, and cost an allocation and two
    /// atomic operations per item.
    front_key: Option<Vec<u8>>,
    back_key: Option<Vec<u8>>,
    done: bool,
    /// The database's closed flag: once set, the next item is `Error::Closed`.
    closed: Arc<AtomicBool>,
    /// An error to yield first (a bad argument found when the iterator was built).
    pending: Option<Error>,
    /// The clock expiring entries are judged by, as each is met.
    clock: Arc<dyn Clock>,
    /// The version's range tombstones.
    view: RangeTombstoneView,
}

impl DbIterator {
    pub(crate) fn new(
        version: Arc<Version>,
        seqno: SequenceNumber,
        ro: BlockReadOptions,
        start: Bound<Bytes>,
        end: Bound<Bytes>,
        closed: Arc<AtomicBool>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        DbIterator {
            clock,
            view: version.range_tombstone_view(),
            version,
            seqno,
            ro,
            start,
            end,
            front: None,
            back: None,
            front_key: None,
            back_key: None,
            done: false,
            closed,
            pending: None,
        }
    }

    /// Reads as of `seqno` instead. **Requires:** no item was taken yet.
    pub(crate) fn set_seqno(&mut self, seqno: SequenceNumber) {
        self.seqno = seqno;
    }

    /// Makes the first item `Err(e)` and ends the iterator after it.
    pub(crate) fn fail_with(&mut self, e: Error) {
        self.pending = Some(e);
    }

    /// The error to yield instead of stepping, if any: a pending one, or `Closed`.
    fn blocked(&mut self) -> Option<Error> {
        if let Some(e) = self.pending.take() {
            return Some(e);
        }
        self.closed.load(Ordering::Acquire).then_some(Error::Closed)
    }

    fn below_start(&self, k: &[u8]) -> bool {
        match &self.start {
            Bound::Unbounded => false,
            Bound::Included(s) => k < s.as_ref(),
            Bound::Excluded(s) => k <= s.as_ref(),
        }
    }

    fn above_end(&self, k: &[u8]) -> bool {
        match &self.end {
            Bound::Unbounded => false,
            Bound::Included(e) => k > e.as_ref(),
            Bound::Excluded(e) => k >= e.as_ref(),
        }
    }

    fn step_front(&mut self) -> Result<Option<Entry>> {
        let it = match &mut self.front {
            Some(it) => it,
            None => {
                let mut it = merge_version(&self.version, self.ro);
                match &self.start {
                    Bound::Unbounded => it.seek_to_first()?,
                    Bound::Included(k) => it.seek(&before_all_versions(k))?,
                    Bound::Excluded(k) => it.seek(&after_all_versions(k))?,
                }
                self.front.insert(it)
            }
        };
        let (end, back_key) = (&self.end, &self.back_key);
        let stop = |k: &[u8]| {
            let above = match end {
                Bound::Unbounded => false,
                Bound::Included(e) => k > e.as_ref(),
                Bound::Excluded(e) => k >= e.as_ref(),
            };
            above || back_key.as_deref().is_some_and(|b| k >= b)
        };
        find_forward(it, self.seqno, self.front_key.as_deref(), &stop, self.clock.as_ref(), &self.view)
    }

    fn step_back(&mut self) -> Result<Option<Entry>> {
        let it = match &mut self.back {
            Some(it) => it,
            None => {
                let mut it = merge_version(&self.version, self.ro);
                match &self.end {
                    Bound::Unbounded => it.seek_to_last()?,
                    Bound::Included(k) => it.seek_for_prev(&after_all_versions(k))?,
                    Bound::Excluded(k) => it.seek_for_prev(&before_all_versions(k))?,
                }
                self.back.insert(it)
            }
        };
        let (start, front_key) = (&self.start, &self.front_key);
        let stop = |k: &[u8]| {
            let below = match start {
                Bound::Unbounded => false,
                Bound::Included(s) => k < s.as_ref(),
                Bound::Excluded(s) => k <= s.as_ref(),
            };
            below || front_key.as_deref().is_some_and(|f| k <= f)
        };
        find_backward(it, self.seqno, &stop, self.clock.as_ref(), &self.view)
    }

    fn finish(&mut self, r: Result<Option<Entry>>, front: bool) -> Option<Result<Entry>> {
        match r {
            Ok(Some((k, v, ms))) => {
                debug_assert!(!self.below_start(&k) && !self.above_end(&k));
                let last = if front { &mut self.front_key } else { &mut self.back_key };
                let buf = last.get_or_insert_with(Vec::new);
                buf.clear();
                buf.extend_from_slice(&k);
                Some(Ok((k, v, ms)))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl DbIterator {
    fn front_entry(&mut self) -> Option<Result<Entry>> {
        if self.done {
            return None;
        }
        if let Some(e) = self.blocked() {
            return self.finish(Err(e), true);
        }
        let r = self.step_front();
        self.finish(r, true)
    }

    fn back_entry(&mut self) -> Option<Result<Entry>> {
        if self.done {
            return None;
        }
        if let Some(e) = self.blocked() {
            return self.finish(Err(e), false);
        }
        let r = self.step_back();
        self.finish(r, false)
    }

    /// The next item from the front with its expiry time (`None` for a key without
    /// one): what TTL-aware callers use instead of `next`.
    pub fn next_with_expiry(&mut self) -> Option<Result<(Bytes, Bytes, Option<SystemTime>)>> {
        self.front_entry().map(|r| r.map(with_time))
    }

    /// The next item from the back with its expiry time.
    pub fn next_back_with_expiry(&mut self) -> Option<Result<(Bytes, Bytes, Option<SystemTime>)>> {
        self.back_entry().map(|r| r.map(with_time))
    }
}

/// An entry's expiry in Unix milliseconds as a `SystemTime`.
fn with_time((k, v, ms): Entry) -> (Bytes, Bytes, Option<SystemTime>) {
    (k, v, ms.map(|ms| UNIX_EPOCH + Duration::from_millis(ms)))
}

impl Iterator for DbIterator {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.front_entry().map(|r| r.map(|(k, v, _)| (k, v)))
    }
}

impl DoubleEndedIterator for DbIterator {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.back_entry().map(|r| r.map(|(k, v, _)| (k, v)))
    }
}

/// A cursor over user entries as of one sequence number, after RocksDB's raw iterator:
/// position it with a seek, then move with `next` and `prev`. Errors are kept and reported
/// by [`RawIterator::status`]; the cursor is then invalid.
pub struct RawIterator {
    _version: Arc<Version>,
    inner: MergingIterator,
    seqno: SequenceNumber,
    current: Option<Entry>,
    /// True when `inner` sits on the current entry (after a forward move); false when it
    /// sits before all versions of the current key (after a backward move).
    forward: bool,
    status: Option<Error>,
    /// The database's closed flag: once set, every seek and move fails with `Closed`.
    closed: Arc<AtomicBool>,
    /// Builds the error every seek reports, for a bad argument found at construction.
    failure: Option<fn() -> Error>,
    /// The clock expiring entries are judged by.
    clock: Arc<dyn Clock>,
    /// The version's range tombstones.
    view: RangeTombstoneView,
}

impl RawIterator {
    pub(crate) fn new(
        version: Arc<Version>,
        seqno: SequenceNumber,
        ro: BlockReadOptions,
        closed: Arc<AtomicBool>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let inner = merge_version(&version, ro);
        RawIterator {
            clock,
            view: version.range_tombstone_view(),
            _version: version,
            inner,
            seqno,
            current: None,
            forward: true,
            status: None,
            closed,
            failure: None,
        }
    }

    /// Reads as of `seqno` instead. **Requires:** not yet positioned.
    pub(crate) fn set_seqno(&mut self, seqno: SequenceNumber) {
        self.seqno = seqno;
    }

    /// Makes every seek and move fail with `f()` as the status.
    pub(crate) fn fail_with(&mut self, f: fn() -> Error) {
        self.failure = Some(f);
    }

    /// True (and the cursor invalidated, with the status set) when the database is
    /// closed or the iterator was built with a bad argument.
    fn blocked(&mut self) -> bool {
        let e = match self.failure {
            Some(f) => f(),
            None if self.closed.load(Ordering::Acquire) => Error::Closed,
            None => return false,
        };
        self.current = None;
        self.status = Some(e);
        true
    }

    fn settle(&mut self, r: Result<Option<Entry>>, forward: bool) {
        self.forward = forward;
        match r {
            Ok(c) => self.current = c,
            Err(e) => {
                self.current = None;
                self.status = Some(e);
            }
        }
    }

    fn forward_from_here(&mut self, skip: Option<&[u8]>) {
        let r = find_forward(&mut self.inner, self.seqno, skip, &|_| false, self.clock.as_ref(), &self.view);
        self.settle(r, true);
    }

    fn backward_from_here(&mut self) {
        let r = find_backward(&mut self.inner, self.seqno, &|_| false, self.clock.as_ref(), &self.view);
        self.settle(r, false);
    }

    /// True if positioned at an entry.
    pub fn valid(&self) -> bool {
        self.current.is_some()
    }

    /// The current key. `None` when not valid.
    pub fn key(&self) -> Option<&Bytes> {
        self.current.as_ref().map(|c| &c.0)
    }

    /// The current value. `None` when not valid.
    pub fn value(&self) -> Option<&Bytes> {
        self.current.as_ref().map(|c| &c.1)
    }

    /// The current entry's expiry time; `None` when not valid or for a key without one.
    pub fn expiry(&self) -> Option<SystemTime> {
        self.current.as_ref().and_then(|c| c.2).map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
    }

    /// The first error met by the last seek or move (a damaged block, an I/O failure);
    /// the cursor is then invalid.
    pub fn status(&self) -> Option<&Error> {
        self.status.as_ref()
    }

    /// Moves to the first entry.
    pub fn seek_to_first(&mut self) {
        self.status = None;
        if self.blocked() {
            return;
        }
        match self.inner.seek_to_first() {
            Ok(()) => self.forward_from_here(None),
            Err(e) => self.settle(Err(e), true),
        }
    }

    /// Moves to the last entry.
    pub fn seek_to_last(&mut self) {
        self.status = None;
        if self.blocked() {
            return;
        }
        match self.inner.seek_to_last() {
            Ok(()) => self.backward_from_here(),
            Err(e) => self.settle(Err(e), false),
        }
    }

    /// Moves to the first entry whose key is `>= key`.
    pub fn seek(&mut self, key: impl AsRef<[u8]>) {
        self.status = None;
        if self.blocked() {
            return;
        }
        match self.inner.seek(&before_all_versions(key.as_ref())) {
            Ok(()) => self.forward_from_here(None),
            Err(e) => self.settle(Err(e), true),
        }
    }

    /// Moves to the last entry whose key is `<= key`.
    pub fn seek_for_prev(&mut self, key: impl AsRef<[u8]>) {
        self.status = None;
        if self.blocked() {
            return;
        }
        match self.inner.seek_for_prev(&after_all_versions(key.as_ref())) {
            Ok(()) => self.backward_from_here(),
            Err(e) => self.settle(Err(e), false),
        }
    }

    /// Moves to the next entry. **Requires:** `valid()`.
    pub fn next(&mut self) {
        let Some((k, _, _)) = self.current.clone() else { return };
        if self.blocked() {
            return;
        }
        if self.forward {
            self.forward_from_here(Some(&k));
        } else {
            match self.inner.seek(&after_all_versions(&k)) {
                Ok(()) => self.forward_from_here(None),
                Err(e) => self.settle(Err(e), true),
            }
        }
    }

    /// Moves to the previous entry. **Requires:** `valid()`.
    pub fn prev(&mut self) {
        let Some((k, _, _)) = self.current.clone() else { return };
        if self.blocked() {
            return;
        }
        if self.forward {
            match self.inner.seek_for_prev(&before_all_versions(&k)) {
                Ok(()) => self.backward_from_here(),
                Err(e) => self.settle(Err(e), false),
            }
        } else {
            self.backward_from_here();
        }
    }
}
