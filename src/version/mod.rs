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
use crate::range_del::FragmentedRangeTombstones;
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

/// The range tombstones of one version, for an iterator: the fragmented lists of the
/// memtables and L0 tables that have any, and for each deeper level that has any, its
/// tables' largest user keys and lists, so a key finds its one table by binary search.
#[derive(Debug, Clone, Default)]
pub struct RangeTombstoneView {
    flat: Vec<Arc<FragmentedRangeTombstones>>,
    levels: Vec<Vec<(Bytes, Option<Arc<FragmentedRangeTombstones>>)>>,
}

impl RangeTombstoneView {
    /// True if the version holds no range tombstone (reads then skip every check).
    pub fn is_empty(&self) -> bool {
        self.flat.is_empty() && self.levels.is_empty()
    }

    /// The newest sequence number `<= seqno` of a tombstone covering `user_key`; 0 if none.
    pub fn max_covering(&self, user_key: &[u8], seqno: SequenceNumber) -> SequenceNumber {
        let mut max = 0;
        for f in &self.flat {
            max = max.max(f.max_covering(user_key, seqno));
        }
        for level in &self.levels {
            let i = level.partition_point(|(largest, _)| largest.as_ref() < user_key);
            if let Some((_, Some(f))) = level.get(i) {
                max = max.max(f.max_covering(user_key, seqno));
            }
        }
        max
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

/// What [`Version::get_with_seqno`] finds: the deciding entry's sequence number, and the
/// value with its expiry (Unix milliseconds) or `None` for a deletion.
pub type Lookup = (SequenceNumber, Option<(Bytes, Option<u64>)>);

impl Version {
    /// An empty version around `mem`.
    pub fn new(mem: Arc<MemTable>) -> Self {
        Version { mem, imm: Vec::new(), levels: vec![Vec::new(); NUM_LEVELS] }
    }

    /// The newest version of `user_key` visible at `seqno`: memtable, immutable
    /// memtables, L0 newest to oldest, then one table per deeper level. Returns its value
    /// and, for an expiring put, its expiry (Unix milliseconds), which the caller checks
    /// against its clock: an expired newest version hides every older one. A version older
    /// than a visible range tombstone covering the key (in any source) reads as deleted.
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
        Ok(self.get_with_seqno(user_key, seqno, ro)?.and_then(|(_, v)| v))
    }

    /// As [`Version::get`], with the sequence number of the newest entry that decides the
    /// key's state at `seqno`: a put, a point tombstone (the value is then `None`) or a
    /// covering range tombstone newer than every point version (`None` too). `None` when
    /// nothing visible at `seqno` ever touched the key. The optimistic transactions'
    /// conflict check compares this number with their snapshot.
    ///
    /// # Errors
    /// As [`Version::get`].
    pub fn get_with_seqno(
        &self,
        user_key: &[u8],
        seqno: SequenceNumber,
        ro: BlockReadOptions,
    ) -> Result<Option<Lookup>> {
        let hash = crate::sstable::filter::key_hash(user_key);
        let covered = self.max_covering_tombstone(user_key, seqno, hash);
        let by_tombstone = (covered > 0).then_some((covered, None));
        let found = |s: SequenceNumber, r: LookupResult| match r {
            _ if s < covered => by_tombstone.clone(),
            LookupResult::Found(v) => Some((s, Some((v, None)))),
            LookupResult::Expiring(ms, v) => Some((s, Some((v, Some(ms))))),
            LookupResult::Deleted => Some((s, None)),
        };
        for m in std::iter::once(&self.mem).chain(&self.imm) {
            if let Some((s, r)) = m.get(user_key, seqno) {
                return Ok(found(s, r));
            }
        }
        // L0 tables are ordered by largest sequence number, newest first. Tables from
        // flushes have disjoint sequence ranges, so the first hit is the newest and the
        // loop stops at the next table; tables whose ranges overlap (rebuilt by repair)
        // are all consulted and the highest sequence number wins. Invariant (per user
        // key, every source holds only versions older than those of the sources before
        // it): once a table's newest sequence number is below the covering tombstone,
        // every version still to be found is covered.
        let mut best: Option<(SequenceNumber, LookupResult)> = None;
        for t in &self.levels[0] {
            if best.as_ref().is_some_and(|(s, _)| t.meta.largest_seqno <= *s) || t.meta.largest_seqno < covered {
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
        if let Some((s, r)) = best {
            return Ok(found(s, r));
        }
        for level in &self.levels[1..] {
            let i = level.partition_point(|t| t.meta.largest_user_key() < user_key);
            if let Some(t) = level.get(i) {
                if t.meta.smallest_user_key() <= user_key {
                    if t.meta.largest_seqno < covered {
                        return Ok(by_tombstone);
                    }
                    if let Some((s, r)) = t.table().get(user_key, seqno, hash, ro)? {
                        return Ok(found(s, r));
                    }
                }
            }
        }
        Ok(by_tombstone)
    }

    /// The newest sequence number `<= seqno` of a range tombstone covering `user_key` in
    /// any memtable or table of this version; 0 if none. `hash` is
    /// `filter::key_hash(user_key)`. Cost: one binary search per memtable and L0 table
    /// that holds range tombstones, and one table search per deeper level.
    pub fn max_covering_tombstone(&self, user_key: &[u8], seqno: SequenceNumber, hash: u64) -> SequenceNumber {
        let _ = hash;
        let mut max = 0;
        for m in std::iter::once(&self.mem).chain(&self.imm) {
            if let Some(f) = m.fragmented_range_tombstones() {
                max = max.max(f.max_covering(user_key, seqno));
            }
        }
        let table_max = |t: &TableHandle| -> SequenceNumber {
            let Some(f) = t.table().range_tombstones() else { return 0 };
            // Planted bug for the model test: a table whose filter says the key is absent
            // has its tombstones ignored, as if the filter guarded them too.
            #[cfg(feature = "bug-range-del-filter-miss")]
            if t.table().filter().is_some_and(|bf| !bf.may_contain(hash)) {
                return 0;
            }
            if t.meta.overlaps(user_key, user_key) {
                f.max_covering(user_key, seqno)
            } else {
                0
            }
        };
        for t in &self.levels[0] {
            max = max.max(table_max(t));
        }
        for level in &self.levels[1..] {
            let i = level.partition_point(|t| t.meta.largest_user_key() < user_key);
            if let Some(t) = level.get(i) {
                max = max.max(table_max(t));
            }
        }
        max
    }

    /// The range tombstones a reader of this version must apply, per source: see
    /// [`RangeTombstoneView`].
    pub fn range_tombstone_view(&self) -> RangeTombstoneView {
        let mut flat = Vec::new();
        for m in std::iter::once(&self.mem).chain(&self.imm) {
            flat.extend(m.fragmented_range_tombstones());
        }
        flat.extend(self.levels[0].iter().filter_map(|t| t.table().range_tombstones().cloned()));
        let mut levels = Vec::new();
        for level in &self.levels[1..] {
            if level.iter().any(|t| t.table().range_tombstones().is_some()) {
                levels.push(
                    level
                        .iter()
                        .map(|t| (Bytes::copy_from_slice(t.meta.largest_user_key()), t.table().range_tombstones().cloned()))
                        .collect(),
                );
            }
        }
        RangeTombstoneView { flat, levels }
    }

    /// Total bytes of the tables in `level`.
    pub fn level_bytes(&self, level: usize) -> u64 {
        self.levels[level].iter().map(|t| t.meta.file_size).sum()
    }
}
