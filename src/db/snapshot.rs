//! [`Snapshot`]: a point-in-time view of the database. While it lives, compaction keeps
//! every version of every key that it can see; dropping it releases them.
//!
//! The live snapshots are a multiset of sequence numbers in `DbInner::snapshots`; a
//! compaction takes a copy when it starts (DESIGN.md §5.6).

use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use bytes::Bytes;

use super::{own_bounds, prefix_bounds, DbInner};
use crate::error::Result;
use crate::iterator::DbIterator;
use crate::key::SequenceNumber;
use crate::options::ReadOptions;

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
    /// As `Db::get`; [`crate::Error::Closed`] once the database was closed.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        if self.inner.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(crate::Error::Closed);
        }
        self.inner.get_at(key.as_ref(), Some(self.seqno), &ReadOptions::default())
    }

    /// Every entry as of the snapshot, in key order (double-ended).
    pub fn iter(&self) -> DbIterator {
        self.range::<&[u8], _>(..)
    }

    /// The entries of `range` as of the snapshot.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> DbIterator {
        let (start, end) = own_bounds(&range);
        self.inner.iter_at(start, end, Some(self.seqno), &ReadOptions::default())
    }

    /// The entries whose keys start with `prefix`, as of the snapshot.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> DbIterator {
        let (start, end): (Bound<Bytes>, Bound<Bytes>) = prefix_bounds(prefix.as_ref());
        self.inner.iter_at(start, end, Some(self.seqno), &ReadOptions::default())
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
