//! The MANIFEST (a log of [`VersionEdit`]s in WAL framing) and `CURRENT`, which names the
//! live MANIFEST.
//!
//! `CURRENT` is replaced atomically: write `CURRENT.tmp`, fsync it, rename it over
//! `CURRENT`, fsync the directory (docs/durability.md R3). The [`ManifestWriter`] is owned by
//! the `VersionSet` under its lock.
//!
//! # Format
//! DESIGN.md §4 ("MANIFEST and CURRENT").

use std::path::Path;

use super::edit::VersionEdit;
use crate::checksum::masked_crc;
use crate::error::{CorruptionKind, Error, Result};
use crate::filename::{current_path, current_tmp_path, manifest_path};
use crate::fs::FileSystem;
use crate::wal::{LogReader, LogWriter};

/// Appends version edits to one MANIFEST file.
pub struct ManifestWriter {
    log: LogWriter,
    number: u64,
}

impl ManifestWriter {
    /// Creates `MANIFEST-<number>` holding `snapshot` and fsyncs it. `CURRENT` is not
    /// changed; call [`set_current`] next.
    ///
    /// # Errors
    /// [`Error::Io`] from create, append or fsync.
    pub fn create(fs: &dyn FileSystem, dir: &Path, number: u64, snapshot: &VersionEdit) -> Result<Self> {
        let file = fs.create(&manifest_path(dir, number))?;
        let mut log = LogWriter::new(file, number);
        log.add_record(&snapshot.encode())?;
        log.sync()?;
        Ok(ManifestWriter { log, number })
    }

    /// A writer for a read-only database: every append fails.
    pub fn read_only() -> Self {
        ManifestWriter { log: LogWriter::new(Box::new(crate::fs::ReadOnlyFile), 0), number: 0 }
    }

    /// The MANIFEST's file number.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Appends `edit` and fsyncs: when this returns `Ok` the edit is durable.
    ///
    /// # Errors
    /// [`Error::Io`]; the caller must poison the database (docs/durability.md R7).
    pub fn append(&mut self, edit: &VersionEdit) -> Result<()> {
        self.log.add_record(&edit.encode())?;
        self.log.sync()?;
        Ok(())
    }

    /// Bytes written to the MANIFEST.
    pub fn file_size(&self) -> u64 {
        self.log.file_size()
    }
}

fn current_line(number: u64) -> String {
    let name = format!("MANIFEST-{number:06}");
    format!("{name} {:08x}\n", masked_crc(&[name.as_bytes()]))
}

/// Points `CURRENT` at `MANIFEST-<number>`: temp file, fsync, rename, directory fsync.
///
/// # Errors
/// [`Error::Io`] from any step; `CURRENT` then still names the previous MANIFEST, or the
/// new one if only the directory fsync failed (the caller must poison).
pub fn set_current(fs: &dyn FileSystem, dir: &Path, number: u64) -> Result<()> {
    let tmp = current_tmp_path(dir);
    let mut f = fs.create(&tmp)?;
    f.append(current_line(number).as_bytes())?;
    f.sync_all()?;
    drop(f);
    fs.rename(&tmp, &current_path(dir))?;
    fs.sync_dir(dir)?;
    Ok(())
}

/// Reads `CURRENT` and returns the MANIFEST number it names.
///
/// # Errors
/// [`Error::Io`] if it cannot be read; [`Error::Corruption`] naming `CURRENT` if it is
/// empty, malformed or fails its checksum.
pub fn read_current(fs: &dyn FileSystem, dir: &Path) -> Result<u64> {
    let path = current_path(dir);
    let data = fs.read_all(&path)?;
    let bad = |what| Error::corruption(&path, 0, CorruptionKind::Malformed(what));
    let text = std::str::from_utf8(&data).map_err(|_| bad("CURRENT is not text"))?;
    let line = text.strip_suffix('\n').ok_or_else(|| bad("CURRENT does not end with a newline"))?;
    let (name, crc) = line.split_once(' ').ok_or_else(|| bad("CURRENT lacks its checksum"))?;
    let stored = u32::from_str_radix(crc, 16).map_err(|_| bad("CURRENT checksum is not hex"))?;
    let actual = masked_crc(&[name.as_bytes()]);
    if stored != actual {
        return Err(Error::corruption(
            &path,
            0,
            CorruptionKind::ChecksumMismatch { expected: stored, actual },
        ));
    }
    name.strip_prefix("MANIFEST-")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| bad("CURRENT does not name a MANIFEST"))
}

/// The state a MANIFEST describes: live tables by file number, and the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestState {
    /// Live tables: file number -> (level, metadata).
    pub files: std::collections::BTreeMap<u64, (usize, crate::version::FileMetaData)>,
    /// WALs below this number are retired.
    pub log_number: u64,
    /// Every file number ever used is below this.
    pub next_file_number: u64,
    /// The largest sequence number held in tables.
    pub last_sequence: crate::key::SequenceNumber,
    /// The database's id, once a snapshot edit recorded one.
    pub db_id: Option<u64>,
    /// Tracked live WALs (at or above `log_number`): number -> sealed size, `None` while
    /// the WAL is still being written.
    pub wals: std::collections::BTreeMap<u64, Option<u64>>,
    /// The history floor, `None` while history is off.
    pub history_floor: Option<u64>,
}

impl ManifestState {
    /// Applies one edit: counters only ever grow, deleted tables go, new tables come.
    pub fn apply(&mut self, e: VersionEdit) {
        if let Some(n) = e.log_number {
            self.log_number = self.log_number.max(n);
        }
        if let Some(n) = e.next_file_number {
            self.next_file_number = self.next_file_number.max(n);
        }
        if let Some(s) = e.last_sequence {
            self.last_sequence = self.last_sequence.max(s);
        }
        for (_, n) in e.deleted_files {
            self.files.remove(&n);
        }
        for (level, f) in e.new_files {
            self.files.insert(f.number, (level, f));
        }
        if e.db_id.is_some() {
            self.db_id = e.db_id;
        }
        if let Some(f) = e.history_floor {
            self.history_floor = (f != crate::version::edit::HISTORY_OFF).then_some(f);
        }
        for n in e.wals_added {
            self.wals.entry(n).or_insert(None);
        }
        for (n, size) in e.wals_sealed {
            self.wals.insert(n, Some(size));
        }
        let floor = self.log_number;
        self.wals.retain(|&n, _| n >= floor);
    }
}

/// What replaying a MANIFEST found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestReplay {
    /// The edits, in order.
    pub edits: Vec<VersionEdit>,
    /// Bytes of a torn final record that were ignored.
    pub tail_bytes_dropped: u64,
}

/// Reads every edit of `MANIFEST-<number>`. A torn final record is ignored (an edit is
/// acknowledged only after its fsync, so a torn one was never acted on), unless it is the
/// first record: the snapshot edit was fsynced before `CURRENT` named the file, so damage to
/// it is corruption.
///
/// # Errors
/// [`Error::Io`]; [`Error::Corruption`] naming the MANIFEST and offset for damage with
/// valid records after it, or for an edit that does not decode.
pub fn replay(fs: &dyn FileSystem, dir: &Path, number: u64) -> Result<ManifestReplay> {
    let path = manifest_path(dir, number);
    let data = fs.read_all(&path)?;
    let mut reader = LogReader::new(&data, number);
    let mut out = ManifestReplay::default();
    // Invariant: CURRENT names a MANIFEST only after its snapshot edit was fsynced, so a
    // MANIFEST without records is damage, never a new database (that would delete every
    // table as an orphan).
    if data.is_empty() {
        return Err(Error::corruption(
            &path,
            0,
            CorruptionKind::Malformed("MANIFEST without its snapshot edit"),
        ));
    }
    loop {
        match reader.next_record() {
            Ok(Some((offset, rec))) => out.edits.push(VersionEdit::decode(&rec, &path, offset)?),
            Ok(None) => break,
            // The first record is the snapshot edit, fsynced before CURRENT named this
            // MANIFEST: damage there is never a torn write.
            Err(d) if d.is_tail && d.offset > 0 => {
                out.tail_bytes_dropped = d.bytes_after;
                break;
            }
            Err(d) => return Err(Error::corruption(&path, d.offset, CorruptionKind::MidLogCorruption)),
        }
    }
    Ok(out)
}
