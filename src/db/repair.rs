//! `repair`, after LevelDB's `RepairDB`: rebuilds a MANIFEST from the tables and WALs found
//! in a directory whose metadata is lost or damaged.
//!
//! 1. Take the lock (a database open elsewhere is refused with `Error::Locked`).
//! 2. Check every table completely (every block's CRC, key order). Readable tables are
//!    kept; unreadable ones move to `lost/`.
//! 3. Replay every WAL up to its first damaged record into a memtable and write that as one
//!    more table; the WALs then move to `lost/` (nothing is deleted).
//! 4. Write a new MANIFEST naming every kept table in L0 (their key and sequence ranges
//!    may overlap; L0 reads take the highest sequence number), fsync it, point CURRENT at
//!    it, and move the old MANIFESTs to `lost/`.
//!
//! The next open compacts L0 into the levels below as usual.

use std::path::Path;
use std::sync::Arc;

use super::builder::{write_memtable, TableWriter};
use super::recovery::{install_manifest, lock_dir};
use crate::batch::{decode_rep, insert_into};
use crate::error::Result;
use crate::filename::{manifest_path, parse_file_name, FileType};
use crate::fs::FileSystem;
use crate::iterator::InternalIterator;
use crate::key::{compare_internal_keys, ParsedInternalKey, SequenceNumber};
use crate::memtable::MemTable;
use crate::options::Options;
use crate::sstable::{random_id, BlockReadOptions, Table, TableContext, TableId};
use crate::version::edit::VersionEdit;
use crate::version::manifest::ManifestWriter;
use crate::version::FileMetaData;
use crate::wal::LogReader;

/// What `repair` kept and set aside.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// Tables kept, with their entry counts.
    pub tables_kept: Vec<(String, u64)>,
    /// Files moved to `lost/`, with the reason.
    pub set_aside: Vec<(String, String)>,
    /// WAL records recovered into the new table.
    pub wal_records: u64,
    /// Operations in those records.
    pub wal_ops: u64,
    /// The new MANIFEST's file number.
    pub manifest_number: u64,
    /// The largest sequence number found.
    pub last_sequence: SequenceNumber,
}

/// Scans a table completely; returns its metadata or why it is unreadable.
fn scan_table(
    fs: &dyn FileSystem,
    path: &Path,
    number: u64,
) -> std::result::Result<(FileMetaData, u64), String> {
    let size = fs.open(path).map_err(|e| e.to_string())?.size();
    let table = Arc::new(Table::open(fs, path).map_err(|e| e.to_string())?);
    let mut it = table.iter(BlockReadOptions { fill_cache: false, verify_checksums: true });
    it.seek_to_first().map_err(|e| e.to_string())?;
    let (mut smallest, mut largest): (Option<Vec<u8>>, Vec<u8>) = (None, Vec::new());
    let (mut lo, mut hi, mut n) = (SequenceNumber::MAX, 0, 0u64);
    while it.valid() {
        let k = it.key();
        let p = ParsedInternalKey::decode(k).ok_or("not an internal key")?;
        if smallest.is_some() && compare_internal_keys(&largest, k).is_ge() {
            return Err("keys out of order".into());
        }
        lo = lo.min(p.seqno);
        hi = hi.max(p.seqno);
        if smallest.is_none() {
            smallest = Some(k.to_vec());
        }
        largest = k.to_vec();
        n += 1;
        it.next().map_err(|e| e.to_string())?;
    }
    let empty = crate::range_del::FragmentedRangeTombstones::default();
    let frags = table.range_tombstones().map_or(&empty, |f| f.as_ref());
    for s in frags.tombstones().map(|t| t.seqno) {
        lo = lo.min(s);
        hi = hi.max(s);
    }
    let point_largest = smallest.is_some().then_some(largest.as_slice());
    let (smallest, largest) =
        crate::sstable::builder::table_bounds(smallest.as_deref(), point_largest, frags)
            .ok_or("no entries")?;
    let props = table.properties();
    if props.file_number != 0 && props.file_number != number {
        return Err(format!("its properties say it was written as table {}", props.file_number));
    }
    let meta = FileMetaData {
        number,
        file_size: size,
        smallest,
        largest,
        smallest_seqno: lo,
        largest_seqno: hi,
        table_id: props.table_id(),
        earliest_expiry: None,
    };
    Ok((meta, n))
}

/// Repairs the database in `dir` (see the module docs).
///
/// # Errors
/// [`crate::error::Error::Locked`] if it is open elsewhere; [`crate::error::Error::Io`] if a move, write or fsync
/// fails (nothing is deleted either way, so the repair can be run again).
pub fn repair(dir: &Path, opts: &Options) -> Result<RepairReport> {
    let fs: &Arc<dyn FileSystem> = &opts.fs;
    let _lock = lock_dir(fs.as_ref(), dir)?;
    let lost = dir.join("lost");
    fs.create_dir_all(&lost)?;
    let set_aside = |name: &str, why: String, report: &mut RepairReport| -> Result<()> {
        fs.rename(&dir.join(name), &lost.join(name))?;
        report.set_aside.push((name.to_owned(), why));
        Ok(())
    };
    let mut report = RepairReport::default();
    // The repaired database is a new one: a new database id, and this run's session.
    let repair_id = TableId { db_id: random_id(), session_id: random_id() & 0xffff_ffff | 1 };
    let mut names = fs.list(dir)?;
    names.sort();
    let mut max_number = 0;
    let mut kept: Vec<FileMetaData> = Vec::new();
    let mut wals = Vec::new();
    let mut manifests = Vec::new();
    for name in &names {
        match parse_file_name(name) {
            Some(FileType::Table(n)) => {
                max_number = max_number.max(n);
                match scan_table(fs.as_ref(), &dir.join(name), n) {
                    Ok((meta, entries)) => {
                        report.last_sequence = report.last_sequence.max(meta.largest_seqno);
                        report.tables_kept.push((name.clone(), entries));
                        kept.push(meta);
                    }
                    Err(why) => set_aside(name, why, &mut report)?,
                }
            }
            Some(FileType::Wal(n)) => {
                max_number = max_number.max(n);
                wals.push((n, name.clone()));
            }
            Some(FileType::Manifest(n)) => {
                max_number = max_number.max(n);
                manifests.push(name.clone());
            }
            _ => {}
        }
    }
    // WALs, oldest first, into one memtable.
    wals.sort();
    let mem = Arc::new(MemTable::new(0));
    for (n, name) in &wals {
        let path = dir.join(name);
        let data = bytes::Bytes::from(fs.read_all(&path)?);
        let mut reader = LogReader::new(&data, *n);
        while let Ok(Some((offset, rec))) = reader.next_record() {
            if rec.is_empty() {
                continue; // a seal record
            }
            let rec = bytes::Bytes::copy_from_slice(&rec);
            let Ok(d) = decode_rep(&rec, &path, offset) else { break };
            insert_into(&mem, &rec, d.first, d.ops.iter().copied(), d.shared_seqno);
            report.wal_records += 1;
            report.wal_ops += d.ops.len() as u64;
            if !d.ops.is_empty() {
                report.last_sequence = report.last_sequence.max(d.last());
            }
        }
    }
    let mut next = max_number + 1;
    if !mem.is_empty() {
        let mut alloc = || {
            next += 1;
            next - 1
        };
        let mut writer = TableWriter::new(fs, dir, opts, &mut alloc, TableContext::default(), repair_id);
        write_memtable(&mut writer, &mem)?;
        for t in &writer.outputs {
            report
                .tables_kept
                .push((format!("{:06}.sst", t.meta.number), t.table().properties().num_entries));
            kept.push(t.meta.clone());
        }
    }
    // The new MANIFEST, then CURRENT; only then set the old metadata and WALs aside.
    let manifest_number = next;
    next += 1;
    let edit = VersionEdit {
        log_number: Some(next),
        next_file_number: Some(next + 1),
        last_sequence: Some(report.last_sequence),
        deleted_files: Vec::new(),
        new_files: kept.into_iter().map(|m| (0, m)).collect(),
        db_id: Some(repair_id.db_id),
        wals_added: Vec::new(),
        wals_sealed: Vec::new(),
        // Repair keeps no history: what survives is each key's newest version.
        history_floor: None,
    };
    drop(ManifestWriter::create(fs.as_ref(), dir, manifest_number, &edit)?);
    install_manifest(fs.as_ref(), dir, manifest_number)?;
    for name in manifests {
        set_aside(&name, "replaced by the repaired MANIFEST".into(), &mut report)?;
    }
    for (_, name) in wals {
        set_aside(&name, "replayed into the repaired tables".into(), &mut report)?;
    }
    fs.sync_dir(&lost)?;
    fs.sync_dir(dir)?;
    report.manifest_number = manifest_number;
    debug_assert!(fs.exists(&manifest_path(dir, manifest_number)));
    Ok(report)
}
