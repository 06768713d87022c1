//! [`Snapshot`]: a point-in-time view of the database. While it lives, compaction keeps
//! every version of every key that it can see; dropping it releases them.
//!
//! The live snapshots are a multiset of sequence numbers in `DbInner::snapshots`; a
//! compaction takes a copy when it starts (DESIGN.md §5.6).

use std::ops::RangeBounds;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use super::iter::{DbIterator, RawIterator};
use super::read::{own_bounds, prefix_bounds, ReadOptions};
use super::{Db, DbInner};
use crate::error::{Error, Result};
use crate::key::SequenceNumber;
use crate::options::HistoryRetention;
use crate::version::edit::HISTORY_OFF;

/// A consistent read-only view as of one sequence number. Writes made after it was taken
/// are invisible to it. Created by `Db::snapshot`; `Send + Sync`.
///
/// ```
/// # fn main() -> shaledb::Result<()> {
/// let dir = tempfile::tempdir()?;
/// let db = shaledb::Db::open(dir.path(), shaledb::Options::default())?;
/// db.put(b"k", b"old")?;
/// let snap = db.snapshot();
/// db.put(b"k", b"new")?;
/// assert_eq!(snap.get(b"k")?.as_deref(), Some(&b"old"[..]));
/// assert_eq!(db.get(b"k")?.as_deref(), Some(&b"new"[..]));
/// # Ok(())
/// # }
/// ```
pub struct Snapshot {
    pub(super) inner: Arc<DbInner>,
    pub(super) seqno: SequenceNumber,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("seqno", &self.seqno).finish()
    }
}

impl Snapshot {
    /// The sequence number it reads at: every write numbered up to it is visible.
    pub fn seqno(&self) -> SequenceNumber {
        self.seqno
    }

    /// The value of `key` as of the snapshot.
    ///
    /// # Errors
    /// As `Db::get`; [`Error::Closed`] once the database was closed.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.check_open()?;
        self.inner.get_at(key.as_ref(), Some(self.seqno), ReadOptions::default().block_options())
    }

    /// The value of `key` and its expiry time as of the snapshot (expiry is judged by the
    /// clock now, as for every read).
    ///
    /// # Errors
    /// As [`Snapshot::get`].
    pub fn get_with_expiry(
        &self,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<(Bytes, Option<std::time::SystemTime>)>> {
        self.check_open()?;
        let e = self.inner.get_entry_at(
            key.as_ref(),
            Some(self.seqno),
            ReadOptions::default().block_options(),
        )?;
        Ok(e.map(super::read::with_time))
    }

    /// The value of `key` at this snapshot and the sequence number of the put that wrote
    /// it, or `None`; see `Db::get_with_seqno`.
    ///
    /// # Errors
    /// As `Db::get`.
    pub fn get_with_seqno(&self, key: impl AsRef<[u8]>) -> Result<Option<(Bytes, SequenceNumber)>> {
        self.check_open()?;
        self.inner.get_with_seqno_at(key.as_ref(), Some(self.seqno))
    }

    /// The values of `keys` as of the snapshot, one result per key in input order.
    ///
    /// # Errors
    /// Per key, as [`Snapshot::get`].
    pub fn multi_get<K: AsRef<[u8]>>(&self, keys: &[K]) -> Vec<Result<Option<Bytes>>> {
        if self.check_open().is_err() {
            return keys.iter().map(|_| Err(Error::Closed)).collect();
        }
        self.inner.multi_get_at(keys, Some(self.seqno), ReadOptions::default().block_options())
    }

    /// Every entry as of the snapshot, in key order (double-ended). After the database is
    /// closed, the next item is [`Error::Closed`].
    pub fn iter(&self) -> DbIterator {
        self.range::<&[u8], _>(..)
    }

    /// The entries of `range` as of the snapshot.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> DbIterator {
        let (start, end) = own_bounds(&range);
        self.inner.iter_at(start, end, &self.read_options())
    }

    /// The entries whose keys start with `prefix`, as of the snapshot.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> DbIterator {
        let (start, end) = prefix_bounds(prefix.as_ref());
        self.inner.iter_at(start, end, &self.read_options())
    }

    /// A cursor over the entries as of the snapshot; see [`RawIterator`].
    pub fn raw_iterator(&self) -> RawIterator {
        self.inner.raw_iterator_at(&self.read_options())
    }

    /// Default read options reading at this snapshot.
    fn read_options(&self) -> ReadOptions<'_> {
        ReadOptions { snapshot: Some(self), ..ReadOptions::default() }
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }
}

impl Db {
    /// A snapshot at sequence number `seqno`, a past state (etcd's read at a revision):
    /// it sees exactly the writes whose sequence numbers are at most `seqno`. Pass a
    /// number a write or commit returned (the last of its batch) so that the snapshot
    /// holds whole batches. Any `seqno` from the history floor (see
    /// [`Options::history_retention`]) to [`Db::last_seqno`] works; with history off only
    /// the latest does.
    ///
    /// # Errors
    /// [`Error::Compacted`] with the floor for a `seqno` below it;
    /// [`Error::InvalidArgument`] for a `seqno` above the latest; [`Error::Closed`].
    ///
    /// [`Options::history_retention`]: crate::options::Options::history_retention
    pub fn snapshot_at(&self, seqno: SequenceNumber) -> Result<Snapshot> {
        self.check_open()?;
        let mut snaps = self.inner.snapshots.lock();
        let latest = self.inner.visible_seqno.load(Ordering::Acquire);
        if seqno > latest {
            return Err(Error::InvalidArgument("snapshot_at: sequence number above the latest"));
        }
        let floor = self.inner.effective_history_floor().unwrap_or(latest);
        if seqno < floor {
            return Err(Error::Compacted { floor });
        }
        *snaps.entry(seqno).or_insert(0) += 1;
        drop(snaps);
        Ok(Snapshot { inner: Arc::clone(&self.inner), seqno })
    }

    /// The history floor now: reads at any sequence number from it up work
    /// ([`Db::snapshot_at`]); `None` with history off.
    pub fn history_floor(&self) -> Option<SequenceNumber> {
        self.inner.effective_history_floor()
    }

    /// Moves the history floor forward to `seqno` (etcd's `compact`): versions needed only
    /// by reads below it may go at the next compactions. Durable in the MANIFEST before
    /// this returns. Setting the current floor again is a no-op.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] with history off or for a `seqno` above the latest;
    /// [`Error::Compacted`] for a `seqno` below the floor (a floor never moves back);
    /// [`Error::Io`] writing the MANIFEST (the database is then poisoned);
    /// [`Error::ReadOnly`]; [`Error::Closed`].
    pub fn set_history_floor(&self, seqno: SequenceNumber) -> Result<()> {
        self.check_writable()?;
        let snaps = self.inner.snapshots.lock();
        let stored = self.inner.history_floor.load(Ordering::Acquire);
        if stored == HISTORY_OFF {
            return Err(Error::InvalidArgument("set_history_floor: history retention is off"));
        }
        if seqno > self.inner.visible_seqno.load(Ordering::Acquire) {
            return Err(Error::InvalidArgument("set_history_floor: sequence number above the latest"));
        }
        let floor = self.inner.effective_history_floor().unwrap_or(stored);
        if seqno < floor {
            return Err(Error::Compacted { floor });
        }
        if seqno == stored {
            return Ok(());
        }
        // Raised in memory first (under the lock compactions read it with); a failed
        // MANIFEST write then only keeps more than needed until the reopen.
        self.inner.history_floor.store(seqno, Ordering::Release);
        drop(snaps);
        self.inner.versions.log_history_floor(Some(seqno)).map_err(|e| self.inner.poison(e))
    }
}

impl DbInner {
    /// The history floor now: the stored one, raised to `latest - n` under
    /// `HistoryRetention::Last(n)`; `None` with history off.
    pub(super) fn effective_history_floor(&self) -> Option<SequenceNumber> {
        let stored = self.history_floor.load(Ordering::Acquire);
        if stored == HISTORY_OFF {
            return None;
        }
        Some(match self.opts.history_retention {
            HistoryRetention::Last(n) => {
                stored.max(self.visible_seqno.load(Ordering::Acquire).saturating_sub(n))
            }
            _ => stored,
        })
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let mut snaps = self.inner.snapshots.lock();
        if let Some(n) = snaps.get_mut(&self.seqno) {
            *n -= 1;
            if *n == 0 {
                snaps.remove(&self.seqno);
            }
        }
    }
}
