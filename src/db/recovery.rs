//! Opening a database: lock, read CURRENT, replay the MANIFEST and the WALs, flush what
//! the WALs held into an L0 table, start a fresh WAL and MANIFEST, and only then delete
//! what is obsolete. The numbered steps below match DESIGN.md §6.
//!
//! Recovery destroys nothing until the new state is durable, so a crash at any point of
//! it leaves a directory that opens to the same contents (RELIABILITY.md R10, INV-20).
//! It never appends to a WAL or MANIFEST it read (INV-11).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use super::flush::{write_memtable, TableWriter};
use crate::batch::decode_rep;
use crate::error::{CorruptionKind, Error, Result};
use crate::filename::{
    current_path, lock_path, manifest_path, parse_file_name, table_path, wal_path, FileType,
};
use crate::fs::{FileLock, FileSystem, ReadOnlyFile};
use crate::key::SequenceNumber;
use crate::memtable::MemTable;
use crate::options::{Options, WalRecoveryMode};
use crate::sstable::cache::{BlockCache, FileCache};
use crate::sstable::{Table, TableContext};
use crate::version::edit::VersionEdit;
use crate::version::manifest::{read_current, replay, set_current, ManifestState, ManifestWriter};
use crate::version::set::{sort_levels, VersionSet};
use crate::version::{TableHandle, Version};
use crate::wal::{LogReader, LogWriter};

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
}

/// Recovers the database in `dir`. With `read_only`, nothing is created, locked, written
/// or deleted: the WALs are replayed into the memtable of the returned Version and the
/// procedure stops after step 5.
pub(super) fn recover(dir: &Path, opts: &Options, read_only: bool) -> Result<Recovered> {
    let started = Instant::now();
    let fs: &Arc<dyn FileSystem> = &opts.fs;
    let mut report = RecoveryReport::default();
    let table_ctx = TableContext {
        block_cache: (opts.block_cache_size > 0).then(|| Arc::new(BlockCache::new(opts.block_cache_size))),
        file_cache: Some(Arc::new(FileCache::new(
            Arc::clone(&opts.fs),
            opts.max_open_files,
            opts.mmap_reads,
        ))),
    };

    // 1. Create the directory if allowed, and take the lock.
    if !fs.exists(dir) {
        if !opts.create_if_missing || read_only {
            return Err(Error::InvalidArgument("database does not exist and create_if_missing is false"));
        }
        fs.create_dir_all(dir)?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs.sync_dir(parent)?;
        }
    }
    let lock = if read_only {
        None
    } else {
        Some(fs.lock(&lock_path(dir)).map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                Error::Locked(dir.to_path_buf())
            } else {
                Error::Io(e)
            }
        })?)
    };

    // 2. Read CURRENT and replay the MANIFEST it names.
    let names = fs.list(dir)?;
    let kinds: Vec<(String, FileType)> =
        names.iter().filter_map(|n| parse_file_name(n).map(|t| (n.clone(), t))).collect();
    let mut state = ManifestState::default();
    if fs.exists(&current_path(dir)) {
        if opts.error_if_exists {
            return Err(Error::InvalidArgument("database exists and error_if_exists is true"));
        }
        let number = read_current(fs.as_ref(), dir)?;
        if !fs.exists(&manifest_path(dir, number)) {
            return Err(Error::corruption(manifest_path(dir, number), 0, CorruptionKind::MissingFile));
        }
        let r = replay(fs.as_ref(), dir, number)?;
        report.manifest_edits = r.edits.len() as u64;
        report.manifest_tail_bytes_dropped = r.tail_bytes_dropped;
        for e in r.edits {
            state.apply(e);
        }
        state.next_file_number = state.next_file_number.max(number + 1);
    } else if kinds.iter().any(|(name, t)| match t {
        FileType::Table(_) => true,
        // An empty WAL is what a crash during the very first open leaves behind: no write
        // can have been acknowledged before CURRENT existed (redb#547).
        FileType::Wal(_) => fs.open(&dir.join(name)).map_or(true, |f| f.size() > 0),
        _ => false,
    }) {
        // Data without CURRENT: the metadata was lost; refuse rather than guess.
        return Err(Error::corruption(current_path(dir), 0, CorruptionKind::MissingFile));
    } else if !opts.create_if_missing || read_only {
        return Err(Error::InvalidArgument("database does not exist and create_if_missing is false"));
    } else {
        report.created = true;
    }

    // 3. Check and open every table the MANIFEST references.
    let mut version_levels: Vec<(usize, Arc<TableHandle>)> = Vec::new();
    for (level, meta) in state.files.values() {
        let path = table_path(dir, meta.number);
        let size = fs.open(&path).map(|f| f.size()).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::corruption(&path, 0, CorruptionKind::MissingFile),
            _ => Error::Io(e),
        })?;
        if size != meta.file_size {
            return Err(Error::corruption(&path, size, CorruptionKind::MissingFile));
        }
        let table = Table::open_in(&table_ctx, fs.as_ref(), &path, meta.number)?;
        version_levels.push((*level, Arc::new(TableHandle::new(meta.clone(), table, Arc::clone(fs), path))));
    }

    // 4. Never reuse a number that ever appeared on disk (R11).
    let max_on_disk = kinds
        .iter()
        .filter_map(|(_, t)| match t {
            FileType::Wal(n) | FileType::Table(n) | FileType::Manifest(n) => Some(*n),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let mut next_file = state.next_file_number.max(max_on_disk + 1).max(2);

    // 5. Replay the WALs at or above the watermark, oldest first.
    let mut wals: Vec<u64> = kinds
        .iter()
        .filter_map(|(_, t)| match t {
            FileType::Wal(n) if *n >= state.log_number => Some(*n),
            _ => None,
        })
        .collect();
    wals.sort_unstable();
    let mem = Arc::new(MemTable::new(0));
    let mut last_seqno = state.last_sequence;
    let sizes: Vec<u64> =
        wals.iter().map(|&n| fs.open(&wal_path(dir, n)).map(|f| f.size())).collect::<Result<_, _>>()?;
    let mut stopped = false;
    let mut max_seen_seqno = 0;
    for (i, &number) in wals.iter().enumerate() {
        if stopped {
            // Point-in-time recovery stopped earlier: this WAL's bytes are dropped too, but
            // its sequence numbers are never handed out again (R11).
            report.tail_bytes_dropped += sizes[i];
            max_seen_seqno = max_seen_seqno.max(max_seqno_in(fs.as_ref(), dir, number)?);
            continue;
        }
        // The newest WAL with data: only empty WALs follow it (a crash inside a previous
        // recovery can leave a new, empty WAL behind the one whose tail was torn).
        let is_last = sizes[i + 1..].iter().all(|&s| s == 0);
        let mode = opts.wal_recovery_mode;
        stopped = replay_wal(fs.as_ref(), dir, number, is_last, mode, &mem, &mut last_seqno, &mut report)?;
    }
    report.recovered_seqno = last_seqno;
    let last_seqno = last_seqno.max(max_seen_seqno);

    if read_only {
        // Serve the replayed WALs from the memtable; write nothing.
        let mut version = Version::new(mem);
        for (level, t) in version_levels {
            version.levels[level].push(t);
        }
        sort_levels(&mut version);
        report.next_file_number = next_file;
        report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        return Ok(Recovered {
            lock: None,
            table_ctx,
            versions: VersionSet::new(version, ManifestWriter::read_only(), next_file, state.log_number),
            wal: LogWriter::new(Box::new(ReadOnlyFile), 0),
            last_seqno,
            report,
        });
    }

    // 6. Flush what the WALs held into an L0 table (it becomes durable before the
    //    MANIFEST that names it).
    if !mem.is_empty() {
        let mut alloc = || {
            next_file += 1;
            next_file - 1
        };
        let mut writer = TableWriter::new(fs, dir, opts, &mut alloc, table_ctx.clone());
        write_memtable(&mut writer, &mem)?;
        for t in writer.outputs.drain(..) {
            version_levels.push((0, t));
        }
    }

    // 7. A fresh WAL (directory-synced), then a fresh MANIFEST with a snapshot edit, then
    //    CURRENT: new writes never go to a file whose tail was not validated (INV-11).
    let wal_number = next_file;
    let manifest_number = next_file + 1;
    next_file += 2;
    let wal_file = fs.create(&wal_path(dir, wal_number))?;
    fs.sync_dir(dir)?;
    let snapshot = VersionEdit {
        log_number: Some(wal_number),
        next_file_number: Some(next_file),
        last_sequence: Some(last_seqno),
        deleted_files: Vec::new(),
        new_files: version_levels.iter().map(|(l, t)| (*l, t.meta.clone())).collect(),
    };
    let manifest = ManifestWriter::create(fs.as_ref(), dir, manifest_number, &snapshot)?;
    // R1/R2: the MANIFEST's directory entry is durable before CURRENT can name it.
    fs.sync_dir(dir)?;
    set_current(fs.as_ref(), dir, manifest_number)?;

    // 8. Only now delete what the durable state no longer needs. If the MANIFEST's last
    //    record was dropped as torn, unreferenced tables might be what that record named
    //    (a damaged, not torn, edit): they move to lost/ instead of being deleted (R10).
    let live: std::collections::HashSet<u64> = version_levels.iter().map(|(_, t)| t.meta.number).collect();
    let keep_orphan_tables = report.manifest_tail_bytes_dropped > 0;
    let mut moved_to_lost = false;
    for name in fs.list(dir)? {
        let obsolete = match parse_file_name(&name) {
            Some(FileType::Wal(n)) if n < wal_number => {
                report.wals_removed += 1;
                true
            }
            Some(FileType::Table(n)) if !live.contains(&n) => {
                report.orphans_removed += 1;
                true
            }
            Some(FileType::Manifest(n)) if n != manifest_number => {
                report.orphans_removed += 1;
                true
            }
            Some(FileType::Temp) => {
                report.orphans_removed += 1;
                true
            }
            _ => false,
        };
        if obsolete && keep_orphan_tables && matches!(parse_file_name(&name), Some(FileType::Table(_))) {
            // After the commit point: a failure here is logged, not fatal (the table then
            // stays where it is, unreferenced, and is handled at the next open).
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
        } else if obsolete {
            if let Err(e) = fs.remove(&dir.join(&name)) {
                log::warn!("could not delete {name}: {e}");
            }
        }
    }

    if moved_to_lost {
        // Make the moves durable, so the evidence cannot reappear as orphans.
        let _ = fs.sync_dir(&dir.join("lost")).and_then(|()| fs.sync_dir(dir));
    }

    let mut version = Version::new(Arc::new(MemTable::new(wal_number)));
    for (level, t) in version_levels {
        version.levels[level].push(t);
    }
    sort_levels(&mut version);
    report.next_file_number = next_file;
    report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    log::info!("recovered {}: {report:?}", dir.display());
    Ok(Recovered {
        lock,
        table_ctx,
        versions: VersionSet::new(version, manifest, next_file, wal_number),
        wal: LogWriter::new(wal_file, wal_number),
        last_seqno,
        report,
    })
}

/// Replays one WAL into `mem`. Returns true if replay must stop here (point-in-time mode
/// met damage).
#[expect(clippy::too_many_arguments, reason = "recovery state threaded through one helper")]
fn replay_wal(
    fs: &dyn FileSystem,
    dir: &Path,
    number: u64,
    is_last: bool,
    mode: WalRecoveryMode,
    mem: &MemTable,
    last_seqno: &mut SequenceNumber,
    report: &mut RecoveryReport,
) -> Result<bool> {
    let path = wal_path(dir, number);
    let data = bytes::Bytes::from(fs.read_all(&path)?);
    report.wals_replayed += 1;
    let mut reader = LogReader::new(&data, number);
    loop {
        match reader.next_record() {
            Ok(None) => return Ok(false),
            Ok(Some((_, rec))) if rec.is_empty() => {} // the seal record of a retired WAL
            Ok(Some((offset, rec))) => {
                let rec = bytes::Bytes::copy_from_slice(&rec);
                let (first, ops) = decode_rep(&rec, &path, offset)?;
                if first <= *last_seqno && !ops.is_empty() && first + ops.len() as u64 - 1 > *last_seqno {
                    return Err(Error::corruption(
                        &path,
                        offset,
                        CorruptionKind::Malformed("sequence numbers overlap"),
                    ));
                }
                if first > *last_seqno {
                    mem.insert_many(ops.iter().enumerate().map(|(i, op)| {
                        (
                            rec.slice(op.key.0..op.key.1),
                            first + i as u64,
                            op.value_type,
                            rec.slice(op.value.0..op.value.1),
                        )
                    }));
                    *last_seqno = first + ops.len() as u64 - 1;
                    report.entries_replayed += ops.len() as u64;
                }
                report.records_replayed += 1;
            }
            Err(d) => {
                let tolerated = match mode {
                    WalRecoveryMode::TolerateCorruptedTailRecords => d.is_tail && is_last,
                    WalRecoveryMode::AbsoluteConsistency => false,
                    WalRecoveryMode::PointInTimeRecovery => true,
                };
                if !tolerated {
                    let kind = if d.is_tail { d.kind } else { CorruptionKind::MidLogCorruption };
                    return Err(Error::corruption(&path, d.offset, kind));
                }
                log::warn!(
                    "{}: dropping {} bytes from offset {}: {}",
                    path.display(),
                    d.bytes_after,
                    d.offset,
                    d.kind
                );
                report.tail_records_dropped += 1;
                report.tail_bytes_dropped += d.bytes_after;
                return Ok(mode == WalRecoveryMode::PointInTimeRecovery);
            }
        }
    }
}

/// The largest sequence number among the readable records of a WAL that is not replayed.
fn max_seqno_in(fs: &dyn FileSystem, dir: &Path, number: u64) -> Result<SequenceNumber> {
    let data = fs.read_all(&wal_path(dir, number))?;
    let mut reader = LogReader::new(&data, number);
    let mut max = 0;
    while let Ok(Some((_, rec))) = reader.next_record() {
        if rec.is_empty() {
            continue;
        }
        let first = crate::coding::get_u64(&rec).unwrap_or(0);
        let count = rec.get(8..).and_then(crate::coding::get_u32).unwrap_or(0);
        max = max.max((first + u64::from(count)).saturating_sub(1));
    }
    Ok(max)
}
