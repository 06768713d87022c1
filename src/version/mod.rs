//! Versions: the immutable set of memtables and tables that a read sees.
//!
//! A [`Version`] is never mutated once published (invariant 1 of DESIGN.md §7). The
//! [`set::VersionSet`] publishes a new one through an `ArcSwap` for every memtable switch,
//! flush and compaction; readers load it without locks and keep it alive while they read.
//! A table file is deleted when the last `Version` naming it is dropped after a MANIFEST
//! edit removed it ([`TableHandle`]'s `Drop`).

pub mod edit;
pub mod level_iter;
pub mod manifest;
pub mod set;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::error::Result;
use crate::fs::FileSystem;
use crate::key::{user_key_of, SequenceNumber};
use crate::key::LookupResult;
use crate::memtable::MemTable;
use crate::sstable::{BlockReadOptions, Table};

/// Number of levels, L0 to L6, as in LevelDB and RocksDB.
pub const NUM_LEVELS: usize = 7;

/// What the MANIFEST records about one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMetaData {
    /// The file number (`NNNNNN.sst`).
    pub number: u64,
    /// File size in bytes.
    pub file_size: u64,
    /// Smallest internal key in the table.
    pub smallest: Bytes,
    /// Largest internal key in the table.
    pub largest: Bytes,
    /// Smallest sequence number in the table.
    pub smallest_seqno: SequenceNumber,
    /// Largest sequence number in the table.
    pub largest_seqno: SequenceNumber,
    /// The identity written into the table's properties (`None` for tables recorded
    /// before table ids): checked against the table when it is opened.
    pub table_id: Option<crate::sstable::TableId>,
    /// The earliest expiry (Unix milliseconds) of an expiring put in the table. Not stored
    /// in the MANIFEST: `compaction::level_metadata` reads it from the table's properties
    /// for the picker, which compacts a table once it has passed.
    pub earliest_expiry: Option<u64>,
}

impl FileMetaData {
    /// Checks the identity a table's properties carry against this record: the table id
    /// the MANIFEST recorded (if any) and the file number it is named by (if the
    /// properties give one).
    ///
    /// # Errors
    /// [`crate::error::Error::Corruption`] naming the table at `path`.
    pub fn check_identity(&self, path: &std::path::Path, props: &crate::sstable::TableProperties) -> Result<()> {
        let named_ok = props.file_number == 0 || props.file_number == self.number;
        let id_ok = self.table_id.is_none() || self.table_id == props.table_id();
        if named_ok && id_ok {
            return Ok(());
        }
        Err(crate::error::Error::corruption(
            path,
            0,
            crate::error::CorruptionKind::Malformed(
                "table identity differs from the MANIFEST's (a table swapped for another)",
            ),
        ))
    }

    /// Smallest user key.
    pub fn smallest_user_key(&self) -> &[u8] {
        user_key_of(&self.smallest)
    }
    /// Largest user key.
    pub fn largest_user_key(&self) -> &[u8] {
        user_key_of(&self.largest)
    }
    /// True if the table's user-key range intersects `[lo, hi]`.
    pub fn overlaps(&self, lo: &[u8], hi: &[u8]) -> bool {
        self.smallest_user_key() <= hi && self.largest_user_key() >= lo
    }
}

/// An open table listed in one or more Versions.
pub struct TableHandle {
    /// The table's MANIFEST record.
    pub meta: FileMetaData,
    table: Arc<Table>,
    /// Set once a durable MANIFEST edit removed the table; the file is deleted when the
    /// last Version holding this handle drops it (docs/durability.md INV-16).
    obsolete: AtomicBool,
    fs: Arc<dyn FileSystem>,
    path: PathBuf,
}

impl std::fmt::Debug for TableHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableHandle").field("meta", &self.meta).finish_non_exhaustive()
    }
}

impl TableHandle {
    /// Wraps an open table.
    pub fn new(meta: FileMetaData, table: Table, fs: Arc<dyn FileSystem>, path: PathBuf) -> Self {
        TableHandle { meta, table: Arc::new(table), obsolete: AtomicBool::new(false), fs, path }
    }
    /// The open table.
    pub fn table(&self) -> &Arc<Table> {
        &self.table
    }
    /// Marks the file for deletion when the last reference goes.
    /// **Requires:** a durable MANIFEST edit no longer names it.
    pub fn mark_obsolete(&self) {
        self.obsolete.store(true, Ordering::Release);
    }
}

impl Drop for TableHandle {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::Acquire) {
            self.table.evict_from_caches();
            if let Err(e) = self.fs.remove(&self.path) {
                log::warn!("could not delete obsolete table {}: {e}", self.path.display());
            }
        }
    }
}

/// One immutable view of the database: the mutable memtable, the immutable memtables
/// (newest first), and the tables of each level. L0 tables may overlap and are ordered
/// newest first; tables of each deeper level are sorted by key and never overlap.
#[derive(Debug, Clone)]
pub struct Version {
    /// The memtable receiving writes.
    pub mem: Arc<MemTable>,
    /// Frozen memtables waiting to flush, newest first.
    pub imm: Vec<Arc<MemTable>>,
    /// Tables per level, `NUM_LEVELS` entries.
    pub levels: Vec<Vec<Arc<TableHandle>>>,
}

impl Version {
    /// An empty version around `mem`.
    pub fn new(mem: Arc<MemTable>) -> Self {
        Version { mem, imm: Vec::new(), levels: vec![Vec::new(); NUM_LEVELS] }
    }

    /// The newest version of `user_key` visible at `seqno`: memtable, immutable
    /// memtables, L0 newest to oldest, then one table per deeper level. Returns its value
    /// and, for an expiring put, its expiry (Unix milliseconds), which the caller checks
    /// against its clock: an expired newest version hides every older one.
    ///
    /// # Errors
    /// [`crate::error::Error::Corruption`] naming the table if a block on the path is damaged;
    /// [`crate::error::Error::Io`].
    pub fn get(
        &self,
        user_key: &[u8],
        seqno: SequenceNumber,
        ro: BlockReadOptions,
    ) -> Result<Option<(Bytes, Option<u64>)>> {
        let found = |r: LookupResult| match r {
            LookupResult::Found(v) => Some((v, None)),
            LookupResult::Expiring(ms, v) => Some((v, Some(ms))),
            LookupResult::Deleted => None,
        };
        for m in std::iter::once(&self.mem).chain(&self.imm) {
            if let Some(r) = m.get(user_key, seqno) {
                return Ok(found(r));
            }
        }
        let hash = crate::sstable::filter::key_hash(user_key);
        // L0 tables are ordered by largest sequence number, newest first. Tables from
        // flushes have disjoint sequence ranges, so the first hit is the newest and the
        // loop stops at the next table; tables whose ranges overlap (rebuilt by repair)
        // are all consulted and the highest sequence number wins.
        let mut best: Option<(SequenceNumber, LookupResult)> = None;
        for t in &self.levels[0] {
            if best.as_ref().is_some_and(|(s, _)| t.meta.largest_seqno <= *s) {
                break;
            }
            if t.meta.overlaps(user_key, user_key) {
                if let Some((s, r)) = t.table().get(user_key, seqno, hash, ro)? {
                    if best.as_ref().is_none_or(|(b, _)| s > *b) {
                        best = Some((s, r));
                    }
                }
            }
        }
        if let Some((_, r)) = best {
            return Ok(found(r));
        }
        for level in &self.levels[1..] {
            let i = level.partition_point(|t| t.meta.largest_user_key() < user_key);
            if let Some(t) = level.get(i) {
                if t.meta.smallest_user_key() <= user_key {
                    if let Some((_, r)) = t.table().get(user_key, seqno, hash, ro)? {
                        return Ok(found(r));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Total bytes of the tables in `level`.
    pub fn level_bytes(&self, level: usize) -> u64 {
        self.levels[level].iter().map(|t| t.meta.file_size).sum()
    }
}
