//! Internal iterators: the [`InternalIterator`] cursor trait every sorted source implements
//! (layer 1), and the merging iterator over many of them (`merging`, layer 5).
//!
//! Every source of entries (memtable, table, level of tables) is an [`InternalIterator`],
//! a cursor that moves both ways; [`merging::MergingIterator`] merges them in internal-key
//! order, and the `db` layer's `DbIterator` and `RawIterator` turn that stream into user entries:
//! newest visible version per key, tombstones hidden. Each iterator has one owner; it is
//! `Send` but not shared.

pub mod merging;

use bytes::Bytes;

use crate::error::Result;

/// A cursor over encoded internal keys in internal-key order, after LevelDB's
/// `Iterator`. It is invalid before the first seek and after the last entry. After an
/// `Err`, the cursor is invalid and must not be used except to seek again.
pub trait InternalIterator: Send {
    /// True if positioned at an entry.
    fn valid(&self) -> bool;
    /// Moves to the first entry.
    ///
    /// # Errors
    /// [`crate::error::Error::Corruption`] or [`crate::error::Error::Io`] from the underlying source.
    fn seek_to_first(&mut self) -> Result<()>;
    /// Moves to the first entry whose internal key is `>= target`.
    ///
    /// # Errors
    /// As [`InternalIterator::seek_to_first`].
    fn seek(&mut self, target: &[u8]) -> Result<()>;
    /// Moves to the last entry.
    ///
    /// # Errors
    /// As [`InternalIterator::seek_to_first`].
    fn seek_to_last(&mut self) -> Result<()>;
    /// Moves to the last entry whose internal key is `<= target`.
    ///
    /// # Errors
    /// As [`InternalIterator::seek_to_first`].
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()>;
    /// Moves to the next entry. **Requires:** `valid()`.
    ///
    /// # Errors
    /// As [`InternalIterator::seek_to_first`].
    fn next(&mut self) -> Result<()>;
    /// Moves to the previous entry. **Requires:** `valid()`.
    ///
    /// # Errors
    /// As [`InternalIterator::seek_to_first`].
    fn prev(&mut self) -> Result<()>;
    /// The current encoded internal key. **Requires:** `valid()`.
    fn key(&self) -> &[u8];
    /// The current value. **Requires:** `valid()`.
    fn value(&self) -> Bytes;
}
