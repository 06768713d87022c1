//! Optimistic transactions and compare-and-swap, after RocksDB's `OptimisticTransactionDB`
//! and sled's `compare_and_swap` (DESIGN.md §5.14).
//!
//! A [`Transaction`] buffers its writes and reads through a snapshot (or the latest state),
//! seeing its own writes first. It takes no lock until commit. Its commit is one write
//! batch carrying a [`WriteCheck::Unchanged`]: the group-commit leader checks, under the
//! `wal` lock and before assigning sequence numbers, that the newest entry of every key
//! the transaction wrote or read with `get_for_update` is no newer than what the
//! transaction saw. The check looks the key up in the whole tree (memtables and every
//! level, range tombstones included), so it stays right after the other write was flushed
//! or compacted: the transaction holds a snapshot from its first tracked read, and a
//! snapshot keeps the newest entry above it (a tombstone included) through compaction.

use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::iter::DbIterator;
use super::read::{in_bounds, own_bounds, prefix_bounds, ReadOptions};
use super::snapshot::Snapshot;
use super::write::{Outcome, WriteCheck};
use super::{Db, DbInner};
use crate::batch::WriteBatch;
use crate::error::{Error, Result};
use crate::key::SequenceNumber;
use crate::options::{MAX_KEY_SIZE, MAX_VALUE_SIZE};

/// How a [`Transaction`] reads and commits (`Db::transaction_opt`).
#[derive(Debug, Clone, Copy)]
pub struct TransactionOptions {
    /// Take a snapshot when the transaction begins (default `true`): every read sees the
    /// state at `begin`, and a key written or read with `get_for_update` conflicts if any
    /// commit changed it after `begin`. With `false` (RocksDB's default for optimistic
    /// transactions) reads see the latest state, and a key conflicts only if it changed
    /// after the transaction first read or wrote it.
    pub set_snapshot: bool,
    /// Fsync the WAL before `commit` returns (as [`crate::WriteOptions::sync`]).
    pub sync: bool,
}

impl Default for TransactionOptions {
    fn default() -> Self {
        TransactionOptions { set_snapshot: true, sync: false }
    }
}

/// `compare_and_swap` found a value other than the expected one and wrote nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasError {
    /// The key's value when the swap was attempted (`None`: absent, deleted or expired).
    pub current: Option<Bytes>,
}

impl std::fmt::Display for CasError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.current {
            Some(v) => write!(f, "compare_and_swap: the current value ({} bytes) differs", v.len()),
            None => write!(f, "compare_and_swap: the key is absent"),
        }
    }
}

impl std::error::Error for CasError {}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("snapshot", &self.snapshot_seqno())
            .field("writes", &self.writes.len())
            .field("range_deletes", &self.range_deletes.len())
            .field("tracked", &self.tracked.len())
            .finish()
    }
}

impl std::fmt::Debug for TxnIterator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxnIterator").field("own_left", &self.own.len()).finish()
    }
}

/// One buffered write of a transaction.
#[derive(Debug, Clone)]
enum TxnWrite {
    Put(Bytes, Option<Duration>),
    Delete,
}

/// An optimistic transaction (`Db::transaction`): reads see the transaction's own writes
/// over its snapshot; `commit` writes everything as one atomic batch through group commit,
/// or, if another commit changed a key this transaction wrote or read with
/// [`Transaction::get_for_update`] since the transaction saw it, writes nothing and returns
/// [`Error::Conflict`]. Dropping a transaction without `commit` rolls it back.
///
/// Isolation: snapshot isolation for plain reads; serializable for the keys read with
/// `get_for_update` (so write skew between two keys is prevented only when both are read
/// that way). `delete_range` in a transaction is blind: it is not conflict-checked.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = shaledb::Db::open(dir.path(), shaledb::Options::default()).unwrap();
/// db.put(b"counter", b"1")?;
/// let mut txn = db.transaction();
/// let n: u64 = std::str::from_utf8(&txn.get_for_update(b"counter")?.unwrap()).unwrap().parse().unwrap();
/// txn.put(b"counter", (n + 1).to_string())?;
/// txn.commit()?;
/// assert_eq!(db.get(b"counter")?.as_deref(), Some(&b"2"[..]));
/// # Ok::<(), shaledb::Error>(())
/// ```
pub struct Transaction {
    inner: Arc<DbInner>,
    opts: TransactionOptions,
    /// The snapshot reads use (`set_snapshot`), or the one taken at the first tracked key
    /// (it keeps the entries the commit-time check compares against).
    snapshot: Option<Snapshot>,
    writes: BTreeMap<Vec<u8>, TxnWrite>,
    /// Range deletes, in the order they were made; a write made after one survives it.
    range_deletes: Vec<(Vec<u8>, Vec<u8>)>,
    /// Keys to check at commit -> the sequence number the transaction saw them at.
    tracked: BTreeMap<Vec<u8>, SequenceNumber>,
}

impl Db {
    /// Begins an optimistic transaction with a snapshot taken now; see [`Transaction`].
    pub fn transaction(&self) -> Transaction {
        self.transaction_opt(&TransactionOptions::default())
    }

    /// Begins an optimistic transaction with `opts`; see [`TransactionOptions`].
    pub fn transaction_opt(&self, opts: &TransactionOptions) -> Transaction {
        Transaction {
            inner: Arc::clone(&self.inner),
            opts: *opts,
            snapshot: opts.set_snapshot.then(|| self.snapshot()),
            writes: BTreeMap::new(),
            range_deletes: Vec::new(),
            tracked: BTreeMap::new(),
        }
    }

    /// Atomically sets `key` to `new` (`None` deletes it) if its current value is
    /// `expected` (`None`: absent, deleted or expired), after sled's `compare_and_swap`.
    /// The comparison and the write happen at one point of the commit order: no other
    /// commit comes between them. Returns `Ok(Ok(seqno))` with the write's sequence number,
    /// or `Ok(Err(CasError { current }))` with the value found, having written nothing.
    ///
    /// # Errors
    /// As [`Db::put`] (the outer `Result`).
    pub fn compare_and_swap(
        &self,
        key: impl AsRef<[u8]>,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<std::result::Result<SequenceNumber, CasError>> {
        self.check_writable()?;
        let key = key.as_ref();
        check_key(key)?;
        let mut b = WriteBatch::new();
        match new {
            Some(v) => b.put(key, v),
            None => b.delete(key),
        }
        let check = WriteCheck::ValueIs { key: key.to_vec(), expected: expected.map(<[u8]>::to_vec) };
        match self.inner.write_checked(b, false, Some(check))? {
            Outcome::Committed(s) => Ok(Ok(s)),
            Outcome::Mismatch(current) => Ok(Err(CasError { current })),
            Outcome::Conflict(_) => unreachable!("a value check reports a mismatch"),
        }
    }
}

impl Transaction {
    /// The sequence number reads see: the snapshot's, or `None` for the latest state.
    pub fn snapshot_seqno(&self) -> Option<SequenceNumber> {
        self.snapshot.as_ref().filter(|_| self.opts.set_snapshot).map(Snapshot::seqno)
    }

    /// The value of `key` as this transaction sees it: its own write if it made one, else
    /// the snapshot's (or the latest) value.
    ///
    /// # Errors
    /// As [`Db::get`].
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        let key = key.as_ref();
        if let Some(own) = self.own(key) {
            return Ok(own);
        }
        self.read_base(key)
    }

    /// [`Transaction::get`], and marks `key` for the commit-time check: if another commit
    /// changes it after this transaction's snapshot (or, without one, after this read),
    /// `commit` returns [`Error::Conflict`] (RocksDB's `GetForUpdate`).
    ///
    /// # Errors
    /// As [`Db::get`].
    pub fn get_for_update(&mut self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        let key = key.as_ref();
        check_key(key)?;
        self.track(key);
        self.get(key)
    }

    /// One result per key, in input order, as [`Transaction::get`] gives them.
    pub fn multi_get<K: AsRef<[u8]>>(&self, keys: &[K]) -> Vec<Result<Option<Bytes>>> {
        keys.iter().map(|k| self.get(k)).collect()
    }

    /// Buffers a put of `key`; it is written at commit.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a key above 64 KiB or a value above 64 MiB.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.write(key.as_ref(), TxnWrite::Put(Bytes::copy_from_slice(value.as_ref()), None))
    }

    /// Buffers a put of `key` that expires `ttl` after the commit (see `Db::put_with_ttl`).
    ///
    /// # Errors
    /// As [`Transaction::put`].
    pub fn put_with_ttl(
        &mut self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> Result<()> {
        self.write(key.as_ref(), TxnWrite::Put(Bytes::copy_from_slice(value.as_ref()), Some(ttl)))
    }

    /// Buffers a deletion of `key`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a key above 64 KiB.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> Result<()> {
        self.write(key.as_ref(), TxnWrite::Delete)
    }

    /// Buffers a deletion of every key in `[start, end)` (see `Db::delete_range`). Not
    /// conflict-checked: it deletes whatever the range holds at commit.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `start > end` or a bound above 64 KiB.
    pub fn delete_range(&mut self, start: impl AsRef<[u8]>, end: impl AsRef<[u8]>) -> Result<()> {
        let (start, end) = (start.as_ref(), end.as_ref());
        check_key(start)?;
        check_key(end)?;
        if start > end {
            return Err(Error::InvalidArgument("delete_range with start > end"));
        }
        if start == end {
            return Ok(());
        }
        // Buffered writes in the range are superseded; later ones will survive.
        let doomed: Vec<Vec<u8>> =
            self.writes.range(start.to_vec()..end.to_vec()).map(|(k, _)| k.clone()).collect();
        for k in doomed {
            self.writes.remove(&k);
        }
        self.range_deletes.push((start.to_vec(), end.to_vec()));
        Ok(())
    }

    /// Every entry as this transaction sees it, in key order; double-ended.
    pub fn iter(&self) -> TxnIterator {
        self.range_bounds(Bound::Unbounded, Bound::Unbounded)
    }

    /// The entries whose keys fall in `range`, as this transaction sees them; double-ended.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> TxnIterator {
        let (s, e) = own_bounds(&range);
        self.range_bounds(s, e)
    }

    /// The entries whose keys start with `prefix`, as this transaction sees them.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> TxnIterator {
        let (s, e) = prefix_bounds(prefix.as_ref());
        self.range_bounds(s, e)
    }

    /// Writes the buffered writes as one atomic batch if no checked key changed; returns
    /// the batch's last sequence number (the commit's revision; for a transaction that
    /// wrote nothing, the sequence number it read at).
    ///
    /// # Errors
    /// [`Error::Conflict`] naming the first changed key (nothing was written);
    /// otherwise as [`Db::write_opt`].
    pub fn commit(self) -> Result<SequenceNumber> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        if self.inner.read_only {
            return Err(Error::ReadOnly);
        }
        let mut batch = WriteBatch::new();
        for (s, e) in &self.range_deletes {
            batch.delete_range(s, e);
        }
        for (k, w) in &self.writes {
            match w {
                TxnWrite::Put(v, None) => batch.put(k, v),
                TxnWrite::Put(v, Some(ttl)) => batch.put_with_ttl(k, v, *ttl),
                TxnWrite::Delete => batch.delete(k),
            }
        }
        // One revision: every operation takes the commit's sequence number (keys are
        // distinct, and range deletes come first, so the puts after them survive).
        batch.set_shared_seqno();
        if batch.is_empty() && self.tracked.is_empty() {
            return Ok(self
                .snapshot_seqno()
                .unwrap_or_else(|| self.inner.visible_seqno.load(Ordering::Acquire)));
        }
        let check = WriteCheck::Unchanged(self.tracked.iter().map(|(k, &s)| (k.clone(), s)).collect());
        match self.inner.write_checked(batch, self.opts.sync, Some(check))? {
            Outcome::Committed(s) => Ok(s),
            Outcome::Conflict(key) => Err(Error::Conflict { key }),
            Outcome::Mismatch(_) => unreachable!("a transaction checks sequence numbers"),
        }
    }

    /// Discards the buffered writes (as dropping the transaction does).
    pub fn rollback(self) {}

    fn write(&mut self, key: &[u8], w: TxnWrite) -> Result<()> {
        check_key(key)?;
        if let TxnWrite::Put(v, _) = &w {
            if v.len() > MAX_VALUE_SIZE {
                return Err(Error::InvalidArgument("value longer than MAX_VALUE_SIZE (64 MiB)"));
            }
        }
        self.track(key);
        self.writes.insert(key.to_vec(), w);
        Ok(())
    }

    /// Records the sequence number this transaction sees `key` at, once.
    fn track(&mut self, key: &[u8]) {
        if self.tracked.contains_key(key) {
            return;
        }
        let seen = match &self.snapshot {
            Some(s) if self.opts.set_snapshot => s.seqno(),
            _ => {
                if self.snapshot.is_none() {
                    // Keeps every entry newer than the first tracked read through
                    // compaction, so the commit-time check finds it.
                    self.snapshot = Some(snapshot_of(&self.inner));
                }
                self.inner.visible_seqno.load(Ordering::Acquire)
            }
        };
        self.tracked.insert(key.to_vec(), seen);
    }

    /// The transaction's own view of `key`: `Some(value or None)` if it wrote or
    /// range-deleted it, `None` if the base decides.
    fn own(&self, key: &[u8]) -> Option<Option<Bytes>> {
        match self.writes.get(key) {
            Some(TxnWrite::Put(v, _)) => Some(Some(v.clone())),
            Some(TxnWrite::Delete) => Some(None),
            None => self.range_deleted(key).then_some(None),
        }
    }

    fn range_deleted(&self, key: &[u8]) -> bool {
        self.range_deletes.iter().any(|(s, e)| s.as_slice() <= key && key < e.as_slice())
    }

    fn read_base(&self, key: &[u8]) -> Result<Option<Bytes>> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let ro = ReadOptions::default().block_options();
        self.inner.get_at(key, self.snapshot_seqno(), ro)
    }

    fn range_bounds(&self, start: Bound<Bytes>, end: Bound<Bytes>) -> TxnIterator {
        let opts = ReadOptions {
            snapshot: self.snapshot.as_ref().filter(|_| self.opts.set_snapshot),
            ..ReadOptions::default()
        };
        let base = self.inner.iter_at(start.clone(), end.clone(), &opts);
        let in_range = |k: &[u8]| in_bounds(k, &start, &end);
        let own = self
            .writes
            .iter()
            .filter(|(k, _)| in_range(k))
            .map(|(k, w)| {
                let v = match w {
                    TxnWrite::Put(v, _) => Some(v.clone()),
                    TxnWrite::Delete => None,
                };
                (Bytes::copy_from_slice(k), v)
            })
            .collect();
        TxnIterator {
            base,
            own,
            range_deletes: self.range_deletes.clone(),
            front: None,
            back: None,
            last_front: None,
            last_back: None,
        }
    }
}

/// A registered snapshot of the latest state, for a transaction without `set_snapshot`.
fn snapshot_of(inner: &Arc<DbInner>) -> Snapshot {
    let mut snaps = inner.snapshots.lock();
    let seqno = inner.visible_seqno.load(Ordering::Acquire);
    *snaps.entry(seqno).or_insert(0) += 1;
    drop(snaps);
    Snapshot { inner: Arc::clone(inner), seqno }
}

fn check_key(key: &[u8]) -> Result<()> {
    if key.len() > MAX_KEY_SIZE {
        return Err(Error::InvalidArgument("key longer than MAX_KEY_SIZE (64 KiB)"));
    }
    Ok(())
}

/// A transaction's iterator (`Transaction::iter`, `range`, `prefix`): its buffered writes
/// merged over the snapshot's entries, in key order from either end. A buffered write
/// replaces the base entry of its key; a buffered delete or range delete hides it. Items
/// are `Result<(key, value)>`; a base read error ends the iteration after it is yielded.
pub struct TxnIterator {
    base: DbIterator,
    /// Buffered writes in the range, ascending; `None` is a delete.
    own: std::collections::VecDeque<(Bytes, Option<Bytes>)>,
    range_deletes: Vec<(Vec<u8>, Vec<u8>)>,
    /// The next base entry from the front (back), taken but not yet yielded.
    front: Option<(Bytes, Bytes)>,
    back: Option<(Bytes, Bytes)>,
    /// The last key yielded from the front (back): the two ends never cross.
    last_front: Option<Bytes>,
    last_back: Option<Bytes>,
}

impl TxnIterator {
    fn hidden(&self, key: &[u8]) -> bool {
        self.range_deletes.iter().any(|(s, e)| s.as_slice() <= key && key < e.as_slice())
    }

    /// Fills `front` from the base, taking the back's pending entry when the base is dry.
    fn fill_front(&mut self) -> Result<()> {
        if self.front.is_none() {
            self.front = match self.base.next() {
                Some(r) => Some(r?),
                None => self.back.take(),
            };
        }
        Ok(())
    }

    fn fill_back(&mut self) -> Result<()> {
        if self.back.is_none() {
            self.back = match self.base.next_back() {
                Some(r) => Some(r?),
                None => self.front.take(),
            };
        }
        Ok(())
    }
}

impl Iterator for TxnIterator {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Err(e) = self.fill_front() {
                return Some(Err(e));
            }
            let base_key = self.front.as_ref().map(|(k, _)| k.clone());
            let own_key = self.own.front().map(|(k, _)| k.clone());
            let (key, value) = match (base_key, own_key) {
                (None, None) => return None,
                (Some(b), Some(o)) if o <= b => {
                    if o == b {
                        self.front = None;
                    }
                    let (k, v) = self.own.pop_front()?;
                    (k, v)
                }
                (Some(_), _) => {
                    let (k, v) = self.front.take()?;
                    if self.hidden(&k) {
                        (k, None)
                    } else {
                        (k, Some(v))
                    }
                }
                (None, Some(_)) => self.own.pop_front()?,
            };
            if self.last_back.as_ref().is_some_and(|b| key >= *b) {
                self.own.clear();
                self.front = None;
                return None;
            }
            self.last_front = Some(key.clone());
            if let Some(v) = value {
                return Some(Ok((key, v)));
            }
        }
    }
}

impl DoubleEndedIterator for TxnIterator {
    fn next_back(&mut self) -> Option<Self::Item> {
        loop {
            if let Err(e) = self.fill_back() {
                return Some(Err(e));
            }
            let base_key = self.back.as_ref().map(|(k, _)| k.clone());
            let own_key = self.own.back().map(|(k, _)| k.clone());
            let (key, value) = match (base_key, own_key) {
                (None, None) => return None,
                (Some(b), Some(o)) if o >= b => {
                    if o == b {
                        self.back = None;
                    }
                    self.own.pop_back()?
                }
                (Some(_), _) => {
                    let (k, v) = self.back.take()?;
                    if self.hidden(&k) {
                        (k, None)
                    } else {
                        (k, Some(v))
                    }
                }
                (None, Some(_)) => self.own.pop_back()?,
            };
            if self.last_front.as_ref().is_some_and(|f| key <= *f) {
                self.own.clear();
                self.back = None;
                return None;
            }
            self.last_back = Some(key.clone());
            if let Some(v) = value {
                return Some(Ok((key, v)));
            }
        }
    }
}
