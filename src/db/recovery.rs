//! Opening a database: lock, read CURRENT, replay the MANIFEST and the WALs, flush what
//! the WALs held into an L0 table, start a fresh WAL and MANIFEST, and only then delete
//! what is obsolete. The numbered steps below match DESIGN.md §6.
//!
//! Recovery destroys nothing until the new state is durable, so a crash at any point of
//! it leaves a directory that opens to the same contents (docs/durability.md R10, INV-20).
//! It never appends to a WAL or MANIFEST it read (INV-11).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use super::replay_sort::SortedReplay;
use super::wal_replay::{max_seqno_in, ReplaySink, WalReplay};
use crate::error::{CorruptionKind, Error, Result};
use crate::filename::{
    current_path, is_obsolete, lock_path, manifest_path, parse_file_name, table_path, wal_path, FileType,
    LiveFiles, FILE_NUMBER_HEADROOM, MAX_FILE_NUMBER,
};
use crate::fs::{FileLock, FileSystem, RandomAccessFile, ReadOnlyFile};
use crate::key::SequenceNumber;
use crate::memtable::pool::ArenaPool;
use crate::memtable::MemTable;
use crate::options::{Options, WalRecoveryMode};
use crate::sstable::cache::{BlockCache, FileCache};
use crate::sstable::{random_id, Table, TableContext, TableId};
use crate::version::edit::VersionEdit;
use crate::version::manifest::{read_current, replay, set_current, ManifestState, ManifestWriter};
use crate::version::set::{sort_levels, Rollover, VersionSet};
use crate::version::{TableHandle, Version};
use crate::wal::LogWriter;

/// What recovery did when the database was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RecoveryReport {
    /// True if the database was created by this open.
    pub created: bool,
    /// MANIFEST edits replayed.
    pub manifest_edits: u64,
    /// Bytes of a torn MANIFEST tail that were ignored.
    pub manifest_tail_bytes_dropped: u64,
    /// WAL files replayed.
    pub wals_replayed: u64,
    /// WAL records (write batches) replayed.
    pub records_replayed: u64,
    /// Operations (puts and deletes) replayed into the memtable.
    pub entries_replayed: u64,
    /// Damaged WAL records dropped (a torn tail, or more in `PointInTimeRecovery`).
    pub tail_records_dropped: u64,
    /// Bytes of WAL dropped from the first damaged record on.
    pub tail_bytes_dropped: u64,
    /// The WAL and byte offset where dropping began, if a damaged or torn tail was
    /// dropped (DESIGN.md §8 G1: a flipped bit in the last synced record reads as a torn
    /// tail; `WalRecoveryMode::AbsoluteConsistency` refuses to open instead).
    pub tail_dropped_from: Option<(std::path::PathBuf, u64)>,
    /// Files no MANIFEST referenced (crashed flush or compaction outputs, temp files,
    /// old MANIFESTs) that were deleted.
    pub orphans_removed: u64,
    /// Old WAL files deleted after their contents were flushed.
    pub wals_removed: u64,
    /// The sequence number of the last recovered write.
    pub recovered_seqno: SequenceNumber,
    /// The first file number the reopened database will allocate.
    pub next_file_number: u64,
    /// Wall time spent in recovery, in milliseconds.
    pub duration_ms: u64,
}

pub(super) struct Recovered {
    /// `None` for a read-only open, which takes no lock.
    pub lock: Option<Box<dyn FileLock>>,
    pub table_ctx: TableContext,
    pub versions: VersionSet,
    pub wal: LogWriter,
    pub last_seqno: SequenceNumber,
    pub report: RecoveryReport,
    /// The identity of the tables this session writes.
    pub table_id: TableId,
}

/// What recovery has established so far, carried from one step to the next.
struct Recovery<'a> {
    dir: &'a Path,
    opts: &'a Options,
    fs: &'a Arc<dyn FileSystem>,
    read_only: bool,
    started: Instant,
    report: RecoveryReport,
    table_ctx: TableContext,
    lock: Option<Box<dyn FileLock>>,
    /// Engine files in the directory at step 2, with their types.
    listing: Vec<(String, FileType)>,
    /// The MANIFEST's state after replay.
    state: ManifestState,
    /// Tables of the recovered Version, with their levels.
    tables: Vec<(usize, Arc<TableHandle>)>,
    /// The next file number to allocate.
    next_file: u64,
    /// What the WALs held, for a read-only open (it serves them from this memtable).
    mem: Arc<MemTable>,
    /// What the WALs held, for a read-write open (flushed by step 6 without a memtable).
    sorted: SortedReplay,
    /// The MANIFEST replayed in step 2 and the bytes of its tail that were dropped.
    manifest: Option<(u64, u64)>,
    /// The sequence number new writes continue after.
    last_seqno: SequenceNumber,
    /// The database id (from the MANIFEST, or new) and this session's id.
    table_id: TableId,
    /// Read-only opens: the referenced tables' files, opened right after the MANIFEST was
    /// read, so a writer that deletes one later cannot take it away mid-open.
    pinned_tables: std::collections::HashMap<u64, Arc<dyn RandomAccessFile>>,
    /// Read-only opens: the contents of the WALs to replay, read right after the MANIFEST.
    wal_data: std::collections::BTreeMap<u64, bytes::Bytes>,
}

/// Recovers the database in `dir` by running the steps of DESIGN.md §6 in order. With
/// `read_only`, nothing is created, locked, written or deleted: the WALs are replayed into
/// the memtable of the returned Version and the procedure stops after step 5.
pub(super) fn recover(dir: &Path, opts: &Options, read_only: bool) -> Result<Recovered> {
    let mut r = Recovery {
        dir,
        opts,
        fs: &opts.fs,
        read_only,
        started: Instant::now(),
        report: RecoveryReport::default(),
        table_ctx: TableContext {
            block_cache: (opts.block_cache_size > 0)
                .then(|| Arc::new(BlockCache::new(opts.block_cache_size))),
            // A read-only handle pins every table's file instead: a writer beside it may
            // delete a table after a compaction, and an open descriptor keeps it readable.
            file_cache: (!read_only).then(|| {
                Arc::new(FileCache::new(Arc::clone(&opts.fs), opts.max_open_files, opts.mmap_reads))
            }),
        },
        lock: None,
        listing: Vec::new(),
        manifest: None,
        state: ManifestState::default(),
        tables: Vec::new(),
        next_file: 0,
        mem: Arc::new(MemTable::new(0)),
        last_seqno: 0,
        table_id: TableId { db_id: 0, session_id: random_id() & 0xffff_ffff | 1 },
        pinned_tables: std::collections::HashMap::new(),
        wal_data: std::collections::BTreeMap::new(),
        sorted: SortedReplay::default(),
    };
    r.lock_directory()?; // 1
    r.read_current_and_replay_manifest()?; // 2
    if read_only {
        r.pin_files()?; // 2b
    }
    r.open_tables()?; // 3
    r.reserve_file_numbers()?; // 4
    r.check_tracked_wals()?; // 5, first half
    r.replay_wals()?; // 5
    if read_only {
        return Ok(r.finish_read_only());
    }
    r.flush_recovered_memtable()?; // 6
    let (wal, manifest, wal_number, manifest_number) = r.install_fresh_wal_and_manifest()?; // 7
    r.delete_obsolete_files(wal_number, manifest_number)?; // 8
    Ok(r.finish(wal, manifest, wal_number))
}

/// Attempts of a read-only open before it gives up with [`Error::Busy`].
const READ_ONLY_ATTEMPTS: u32 = 200;

/// What a read-only open saw of CURRENT and the MANIFEST it names: a writer changed the
/// database if this changes.
fn metadata_fingerprint(fs: &dyn FileSystem, dir: &Path) -> Option<(u64, u64)> {
    let number = read_current(fs, dir).ok()?;
    let size = fs.open(&manifest_path(dir, number)).ok()?.size();
    Some((number, size))
}

/// A read-only recovery that retries while a live writer changes the database under it
/// (CURRENT swapped, MANIFEST appended, WALs and tables removed). A failure with the
/// metadata unchanged is real and returned as is.
///
/// # Errors
/// As [`recover`]; [`Error::Busy`] after `READ_ONLY_ATTEMPTS` lost races.
pub(super) fn recover_read_only(dir: &Path, opts: &Options) -> Result<Recovered> {
    let fs = opts.fs.as_ref();
    let mut last_err = None;
    for attempt in 0..READ_ONLY_ATTEMPTS {
        let before = metadata_fingerprint(fs, dir);
        match recover(dir, opts, true) {
            Ok(r) => return Ok(r),
            Err(e) => {
                if before.is_none() || metadata_fingerprint(fs, dir) == before {
                    return Err(e);
                }
                log::debug!(
                    "read-only open of {} raced a writer (attempt {}): {e}",
                    dir.display(),
                    attempt + 1
                );
                last_err = Some(e);
                std::thread::sleep(std::time::Duration::from_millis(u64::from(attempt.min(10))));
            }
        }
    }
    Err(Error::Busy {
        dir: dir.to_path_buf(),
        reason: format!(
            "{READ_ONLY_ATTEMPTS} read-only opens raced a writer; last: {}",
            last_err.map_or_else(String::new, |e| e.to_string())
        ),
    })
}

/// Takes the directory lock, mapping "already held" to [`Error::Locked`].
///
/// # Errors
/// [`Error::Locked`]; [`Error::Io`] for any other failure.
pub(super) fn lock_dir(fs: &dyn FileSystem, dir: &Path) -> Result<Box<dyn FileLock>> {
    fs.lock(&lock_path(dir)).map_err(|e| {
        if e.kind() == std::io::ErrorKind::WouldBlock {
            Error::Locked(dir.to_path_buf())
        } else {
            Error::Io(e)
        }
    })
}

/// Makes `manifest_number` the live MANIFEST: its directory entry is made durable before
/// CURRENT can name it (R1, R2), then CURRENT is swapped (the commit point).
///
/// # Errors
/// [`Error::Io`].
pub(super) fn install_manifest(fs: &dyn FileSystem, dir: &Path, manifest_number: u64) -> Result<()> {
    fs.sync_dir(dir)?;
    set_current(fs, dir, manifest_number)
}

impl Recovery<'_> {
    /// Step 1: create the directory if allowed, and take the lock.
    fn lock_directory(&mut self) -> Result<()> {
        let (fs, dir) = (self.fs, self.dir);
        if !fs.exists(dir) {
            if !self.opts.create_if_missing || self.read_only {
                return Err(Error::InvalidArgument("database does not exist and create_if_missing is false"));
            }
            fs.create_dir_all(dir)?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs.sync_dir(parent)?;
            }
        }
        if !self.read_only {
            self.lock = Some(lock_dir(fs.as_ref(), dir)?);
        }
        Ok(())
    }

    /// Step 2: read CURRENT and replay the MANIFEST it names; or, without CURRENT, decide
    /// between a new database and lost metadata.
    fn read_current_and_replay_manifest(&mut self) -> Result<()> {
        let (fs, dir, opts) = (self.fs, self.dir, self.opts);
        let names = fs.list(dir)?;
        self.listing = names.iter().filter_map(|n| parse_file_name(n).map(|t| (n.clone(), t))).collect();
        if fs.exists(&current_path(dir)) {
            if opts.error_if_exists {
                return Err(Error::InvalidArgument("database exists and error_if_exists is true"));
            }
            let number = read_current(fs.as_ref(), dir)?;
            if !fs.exists(&manifest_path(dir, number)) {
                return Err(Error::corruption(manifest_path(dir, number), 0, CorruptionKind::MissingFile));
            }
            let r = replay(fs.as_ref(), dir, number)?;
            self.report.manifest_edits = r.edits.len() as u64;
            self.report.manifest_tail_bytes_dropped = r.tail_bytes_dropped;
            for e in r.edits {
                self.state.apply(e);
            }
            self.state.next_file_number = self.state.next_file_number.max(number + 1);
            self.manifest = Some((number, r.tail_bytes_dropped));
        } else if self.listing.iter().any(|(name, t)| match t {
            FileType::Table(_) => true,
            // An empty WAL is what a crash during the very first open leaves behind: no
            // write can have been acknowledged before CURRENT existed (redb#547).
            FileType::Wal(_) => fs.open(&dir.join(name)).map_or(true, |f| f.size() > 0),
            _ => false,
        }) {
            // Data without CURRENT: the metadata was lost; refuse rather than guess.
            return Err(Error::corruption(current_path(dir), 0, CorruptionKind::MissingFile));
        } else if !opts.create_if_missing || self.read_only {
            return Err(Error::InvalidArgument("database does not exist and create_if_missing is false"));
        } else {
            self.report.created = true;
        }
        self.table_id.db_id = self.state.db_id.unwrap_or_else(random_id);
        Ok(())
    }

    /// Step 2b, read-only opens only: open every referenced table and read every WAL to
    /// replay at once, before the slow work, so a writer beside us has the least time to
    /// retire one (a race lost anyway makes the open start again from CURRENT).
    fn pin_files(&mut self) -> Result<()> {
        let (fs, dir) = (self.fs, self.dir);
        for meta in self.state.files.values().map(|(_, m)| m) {
            let path = table_path(dir, meta.number);
            let f = fs.open(&path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::corruption(&path, 0, CorruptionKind::MissingFile),
                _ => Error::Io(e),
            })?;
            self.pinned_tables.insert(meta.number, f);
        }
        for (_, t) in &self.listing {
            if let FileType::Wal(n) = *t {
                if n >= self.state.log_number {
                    self.wal_data.insert(n, bytes::Bytes::from(fs.read_all(&wal_path(dir, n))?));
                }
            }
        }
        Ok(())
    }

    /// Step 3: check and open every table the MANIFEST references.
    fn open_tables(&mut self) -> Result<()> {
        let (fs, dir) = (self.fs, self.dir);
        for (level, meta) in self.state.files.values() {
            let path = table_path(dir, meta.number);
            let pinned = self.pinned_tables.get(&meta.number).cloned();
            let size = match &pinned {
                Some(f) => f.size(),
                None => fs.open(&path).map(|f| f.size()).map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => Error::corruption(&path, 0, CorruptionKind::MissingFile),
                    _ => Error::Io(e),
                })?,
            };
            if size != meta.file_size {
                return Err(Error::corruption(&path, size, CorruptionKind::MissingFile));
            }
            let table = match pinned {
                Some(f) => Table::open_with_file(&self.table_ctx, &path, meta.number, f)?,
                None => Table::open_in(&self.table_ctx, fs.as_ref(), &path, meta.number)?,
            };
            meta.check_identity(&path, table.properties())?;
            self.tables.push((*level, Arc::new(TableHandle::new(meta.clone(), table, Arc::clone(fs), path))));
        }
        Ok(())
    }

    /// Step 4: never reuse a number that ever appeared on disk (R11), and refuse numbers
    /// that leave no room below `MAX_FILE_NUMBER` (names above it are not ours: step 2's
    /// listing never holds them).
    fn reserve_file_numbers(&mut self) -> Result<()> {
        let limit = MAX_FILE_NUMBER - FILE_NUMBER_HEADROOM;
        for (name, t) in &self.listing {
            if let FileType::Wal(n) | FileType::Table(n) | FileType::Manifest(n) = t {
                if *n >= limit {
                    return Err(Error::corruption(
                        self.dir.join(name),
                        0,
                        CorruptionKind::Malformed("file number leaves no room below MAX_FILE_NUMBER"),
                    ));
                }
            }
        }
        if self.state.next_file_number >= limit {
            let (number, _) = self.manifest.unwrap_or_default();
            return Err(Error::corruption(
                manifest_path(self.dir, number),
                0,
                CorruptionKind::Malformed("next file number leaves no room below MAX_FILE_NUMBER"),
            ));
        }
        let max_on_disk = self
            .listing
            .iter()
            .filter_map(|(_, t)| match t {
                FileType::Wal(n) | FileType::Table(n) | FileType::Manifest(n) => Some(*n),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        self.next_file = self.state.next_file_number.max(max_on_disk + 1).max(2);
        Ok(())
    }

    /// Step 5, first half: every WAL the MANIFEST tracks as live must exist, and a sealed
    /// one must be at least its recorded size (after RocksDB's
    /// `track_and_verify_wals_in_manifest`). Skipped in `PointInTimeRecovery`, which does
    /// not promise to keep synced writes. When the MANIFEST's last record was dropped as
    /// torn and a WAL it tracked is gone, that record was acted on (a flush retired the
    /// WAL): the error names the MANIFEST, and `shale repair` recovers the flushed table.
    fn check_tracked_wals(&self) -> Result<()> {
        if self.opts.wal_recovery_mode == WalRecoveryMode::PointInTimeRecovery {
            return Ok(());
        }
        let (fs, dir) = (self.fs, self.dir);
        for (&n, &sealed) in &self.state.wals {
            let path = wal_path(dir, n);
            let size = match (self.wal_data.get(&n), fs.open(&path)) {
                (Some(data), _) => Some(data.len() as u64),
                (None, Ok(f)) => Some(f.size()),
                (None, Err(e)) if e.kind() == std::io::ErrorKind::NotFound => None,
                (None, Err(e)) => return Err(Error::Io(e)),
            };
            let short = match (size, sealed) {
                (None, _) => true,
                (Some(have), Some(want)) => have < want,
                (Some(_), None) => false,
            };
            if !short {
                continue;
            }
            if let Some((number, dropped)) = self.manifest.filter(|&(_, dropped)| dropped > 0) {
                log::error!(
                    "{}: the MANIFEST's damaged last record ({dropped} bytes) retired {}, which is gone",
                    dir.display(),
                    path.display()
                );
                let m = manifest_path(dir, number);
                let at = fs.open(&m).map(|f| f.size().saturating_sub(dropped)).unwrap_or(0);
                return Err(Error::corruption(
                    m,
                    at,
                    CorruptionKind::Malformed(
                        "damaged last MANIFEST record was acted on: a WAL it retired is gone",
                    ),
                ));
            }
            return Err(Error::corruption(&path, size.unwrap_or(0), CorruptionKind::MissingFile));
        }
        Ok(())
    }

    /// Step 5: replay the WALs at or above the watermark, oldest first, into one memtable.
    fn replay_wals(&mut self) -> Result<()> {
        let (fs, dir) = (self.fs, self.dir);
        let mut wals: Vec<u64> = self
            .listing
            .iter()
            .filter_map(|(_, t)| match t {
                FileType::Wal(n) if *n >= self.state.log_number => Some(*n),
                _ => None,
            })
            .collect();
        wals.sort_unstable();
        let mut last_seqno = self.state.last_sequence;
        let datas: Vec<bytes::Bytes> = wals
            .iter()
            .map(|&n| match self.wal_data.remove(&n) {
                Some(d) => Ok(d),
                // Mapped, not read: a read-write open holds `LOCK`, so no one changes the
                // file, and its records are sliced, not copied (`replay_sort`).
                None => fs
                    .open_mmap(&wal_path(dir, n))
                    .and_then(|f| f.read_bytes_at(0, usize::try_from(f.size()).unwrap_or(usize::MAX))),
            })
            .collect::<Result<_, _>>()?;
        let sizes: Vec<u64> = datas.iter().map(|d| d.len() as u64).collect();
        if !self.read_only {
            self.sorted.reserve_for(datas.iter().map(bytes::Bytes::len).sum());
        }
        let mut stopped = false;
        let mut max_seen_seqno = 0;
        for (i, &number) in wals.iter().enumerate() {
            if stopped {
                // Point-in-time recovery stopped earlier: this WAL's bytes are dropped too,
                // but its sequence numbers are never handed out again (R11).
                self.report.tail_bytes_dropped += sizes[i];
                max_seen_seqno = max_seen_seqno.max(max_seqno_in(fs.as_ref(), dir, number)?);
                continue;
            }
            // The newest WAL with data: only empty WALs follow it (a crash inside a
            // previous recovery can leave a new, empty WAL behind the one whose tail was
            // torn).
            let is_last = sizes[i + 1..].iter().all(|&s| s == 0);
            let sink = if self.read_only {
                ReplaySink::Mem(&self.mem)
            } else {
                ReplaySink::Sorted(&mut self.sorted)
            };
            let mut replay = WalReplay { dir, mode: self.opts.wal_recovery_mode, sink };
            stopped = replay.replay(number, &datas[i], is_last, &mut last_seqno, &mut self.report)?;
        }
        self.report.recovered_seqno = last_seqno;
        self.last_seqno = last_seqno.max(max_seen_seqno);
        Ok(())
    }

    /// The rollover state the open database's `VersionSet` starts from (its live WALs are
    /// the caller's to set).
    fn rollover(&self, max_manifest_bytes: u64) -> Rollover {
        Rollover {
            fs: Arc::clone(self.fs),
            dir: self.dir.to_path_buf(),
            db_id: self.table_id.db_id,
            last_sequence: self.last_seqno,
            wals: std::collections::BTreeMap::new(),
            history_floor: self.history_floor(),
            max_manifest_bytes,
        }
    }

    /// The history floor the database continues with: the stored one, or the latest
    /// sequence number where history is turned on now; none with history off (a
    /// read-only open keeps what is stored).
    fn history_floor(&self) -> Option<u64> {
        match self.opts.history_retention {
            _ if self.read_only => self.state.history_floor,
            crate::options::HistoryRetention::Off => None,
            _ => Some(self.state.history_floor.unwrap_or(self.last_seqno)),
        }
    }

    /// The end of a read-only recovery: serve the replayed WALs from the memtable; write
    /// nothing.
    fn finish_read_only(mut self) -> Recovered {
        let mut version = Version::new(Arc::clone(&self.mem));
        for (level, t) in self.tables.drain(..) {
            version.levels[level].push(t);
        }
        sort_levels(&mut version);
        self.report.next_file_number = self.next_file;
        self.report.duration_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let roll = self.rollover(0);
        Recovered {
            lock: None,
            table_ctx: self.table_ctx,
            versions: VersionSet::new(
                version,
                ManifestWriter::read_only(),
                self.next_file,
                self.state.log_number,
                roll,
            ),
            wal: LogWriter::new(Box::new(ReadOnlyFile), 0),
            last_seqno: self.last_seqno,
            report: self.report,
            table_id: self.table_id,
        }
    }

    /// Step 6: flush what the WALs held into an L0 table (it becomes durable before the
    /// MANIFEST that names it).
    fn flush_recovered_memtable(&mut self) -> Result<()> {
        if self.sorted.is_empty() {
            return Ok(());
        }
        let outputs = self.sorted.write_tables(
            self.fs,
            self.dir,
            self.opts,
            &mut self.next_file,
            &self.table_ctx,
            self.table_id,
        )?;
        // Release the references and with them the WALs' mappings.
        self.sorted = SortedReplay::default();
        for t in outputs {
            self.tables.push((0, t));
        }
        Ok(())
    }

    /// Step 7: a fresh WAL (directory-synced), then a fresh MANIFEST with a snapshot edit,
    /// then CURRENT: new writes never go to a file whose tail was not validated (INV-11).
    /// Returns the WAL file, the MANIFEST writer and their numbers.
    fn install_fresh_wal_and_manifest(
        &mut self,
    ) -> Result<(Box<dyn crate::fs::WritableFile>, ManifestWriter, u64, u64)> {
        let (fs, dir) = (self.fs, self.dir);
        let wal_number = self.next_file;
        let manifest_number = self.next_file + 1;
        self.next_file += 2;
        for path in [wal_path(dir, wal_number), manifest_path(dir, manifest_number)] {
            // Invariant: step 4 reserved every number on disk.
            if fs.exists(&path) {
                return Err(Error::corruption(&path, 0, CorruptionKind::Malformed("file number reused")));
            }
        }
        let wal_file = fs.create(&wal_path(dir, wal_number))?;
        fs.sync_dir(dir)?;
        let snapshot = VersionEdit {
            log_number: Some(wal_number),
            next_file_number: Some(self.next_file),
            last_sequence: Some(self.last_seqno),
            deleted_files: Vec::new(),
            new_files: self.tables.iter().map(|(l, t)| (*l, t.meta.clone())).collect(),
            db_id: Some(self.table_id.db_id),
            wals_added: vec![wal_number],
            wals_sealed: Vec::new(),
            history_floor: Some(self.history_floor().unwrap_or(crate::version::edit::HISTORY_OFF)),
        };
        let manifest = ManifestWriter::create(fs.as_ref(), dir, manifest_number, &snapshot)?;
        install_manifest(fs.as_ref(), dir, manifest_number)?;
        Ok((wal_file, manifest, wal_number, manifest_number))
    }

    /// Step 8: only now delete what the durable state no longer needs. If the MANIFEST's
    /// last record was dropped as torn, unreferenced tables might be what that record
    /// named (a damaged, not torn, edit): they move to lost/ instead of being deleted
    /// (R10).
    fn delete_obsolete_files(&mut self, wal_number: u64, manifest_number: u64) -> Result<()> {
        let (fs, dir) = (self.fs, self.dir);
        let live_tables: std::collections::HashSet<u64> =
            self.tables.iter().map(|(_, t)| t.meta.number).collect();
        let is_live_table = |n: u64| live_tables.contains(&n);
        let live = LiveFiles { log_number: wal_number, manifest_number, is_live_table: &is_live_table };
        let keep_orphan_tables = self.report.manifest_tail_bytes_dropped > 0;
        let mut moved_to_lost = false;
        for name in fs.list(dir)? {
            let Some(t) = parse_file_name(&name).filter(|&t| is_obsolete(t, &live)) else { continue };
            if matches!(t, FileType::Wal(_)) {
                self.report.wals_removed += 1;
            } else {
                self.report.orphans_removed += 1;
            }
            if keep_orphan_tables && matches!(t, FileType::Table(_)) {
                // After the commit point: a failure here is logged, not fatal (the table
                // then stays where it is, unreferenced, and is handled at the next open).
                let lost = dir.join("lost");
                let moved =
                    fs.create_dir_all(&lost).and_then(|()| fs.rename(&dir.join(&name), &lost.join(&name)));
                match moved {
                    Ok(()) => {
                        moved_to_lost = true;
                        log::warn!(
                            "moved unreferenced table {name} to lost/ (the MANIFEST's last record was damaged)"
                        );
                    }
                    Err(e) => log::warn!("could not move {name} to lost/: {e}"),
                }
            } else if matches!(t, FileType::Wal(_)) {
                if let Err(e) =
                    super::wal_archive::retire_wal(fs.as_ref(), dir, &name, &self.opts.wal_retention)
                {
                    log::warn!("could not retire WAL {name}: {e}");
                }
            } else if let Err(e) = fs.remove(&dir.join(&name)) {
                log::warn!("could not delete {name}: {e}");
            }
        }
        if moved_to_lost {
            // Make the moves durable, so the evidence cannot reappear as orphans.
            let _ = fs.sync_dir(&dir.join("lost")).and_then(|()| fs.sync_dir(dir));
        }
        Ok(())
    }

    /// The end of recovery: the Version (an empty memtable for the fresh WAL) and the
    /// handles the open database continues with.
    fn finish(
        mut self,
        wal: Box<dyn crate::fs::WritableFile>,
        manifest: ManifestWriter,
        wal_number: u64,
    ) -> Recovered {
        let mut version = Version::new(Arc::new(MemTable::with_pool(
            wal_number,
            self.opts.memtable_filter_bytes(),
            // One write buffer's chunks (see `memtable::pool` for why that is within
            // the memtables' reservation).
            Arc::new(ArenaPool::new(self.opts.write_buffer_size, crate::memtable::btree::CHUNK_BYTES)),
        )));
        for (level, t) in self.tables.drain(..) {
            version.levels[level].push(t);
        }
        sort_levels(&mut version);
        self.report.next_file_number = self.next_file;
        self.report.duration_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        log::info!("recovered {}: {:?}", self.dir.display(), self.report);
        let roll =
            Rollover { wals: [(wal_number, None)].into(), ..self.rollover(self.opts.max_manifest_file_size) };
        let mut wal = LogWriter::new(wal, wal_number);
        wal.set_buffered(self.opts.manual_wal_flush);
        wal.set_preallocation(self.opts.wal_prealloc_chunk());
        Recovered {
            lock: self.lock,
            table_ctx: self.table_ctx,
            versions: VersionSet::new(version, manifest, self.next_file, wal_number, roll),
            wal,
            last_seqno: self.last_seqno,
            report: self.report,
            table_id: self.table_id,
        }
    }
}
