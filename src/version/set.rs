//! [`VersionSet`]: owns the current [`Version`] (an `ArcSwap`), the file-number counter and
//! the MANIFEST writer.
//!
//! Every new Version is installed under the `manifest` mutex: the edit is appended and
//! fsynced first, then the Version is published by compare-and-swap against the exact
//! Version the edit was computed from. Because the mutex makes this the single installer,
//! the CAS cannot fail (checked below); manifest order therefore equals install order
//! (docs/durability.md INV-13, INV-14). Lock order: the writer's state lock, then this one.
//! Readers never take it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use super::edit::VersionEdit;
use super::manifest::{set_current, ManifestWriter};
use super::{TableHandle, Version};
use crate::error::Result;
use crate::filename::manifest_path;
use crate::fs::FileSystem;
use crate::key::SequenceNumber;
use crate::key::compare_internal_keys;
use crate::memtable::MemTable;

/// State guarded by the installer lock.
struct Installer {
    manifest: ManifestWriter,
    /// Set when a MANIFEST append or fsync failed: the file's tail is unknown, so nothing
    /// may be appended after it (docs/durability.md R7, R8).
    failed: bool,
    /// WALs below this number are retired.
    log_number: u64,
    /// What a new MANIFEST's snapshot edit needs beyond the current Version.
    roll: Rollover,
}

/// The state a rolled-over MANIFEST starts from, kept as the edits go by: everything
/// `ManifestState` would rebuild from the current MANIFEST besides the tables.
pub struct Rollover {
    /// The file system and database directory.
    pub fs: Arc<dyn FileSystem>,
    /// The database directory.
    pub dir: PathBuf,
    /// The database id.
    pub db_id: u64,
    /// The largest `last_sequence` of any edit so far.
    pub last_sequence: SequenceNumber,
    /// Tracked live WALs: number -> sealed size.
    pub wals: BTreeMap<u64, Option<u64>>,
    /// The history floor, `None` while history is off.
    pub history_floor: Option<u64>,
    /// A MANIFEST larger than this, in bytes, is replaced by a new one holding a single
    /// snapshot edit (RocksDB's `max_manifest_file_size`); 0 never rolls.
    pub max_manifest_bytes: u64,
}

/// See the module docs.
pub struct VersionSet {
    current: ArcSwap<Version>,
    next_file_number: AtomicU64,
    installer: Mutex<Installer>,
}

/// A table to add to a level, already open.
pub type NewTable = (usize, Arc<TableHandle>);

impl VersionSet {
    /// A set publishing `initial`, appending to `manifest`, rolling it over as `roll`
    /// says.
    pub fn new(
        initial: Version,
        manifest: ManifestWriter,
        next_file_number: u64,
        log_number: u64,
        roll: Rollover,
    ) -> Self {
        VersionSet {
            current: ArcSwap::from_pointee(initial),
            next_file_number: AtomicU64::new(next_file_number),
            installer: Mutex::new(Installer { manifest, failed: false, log_number, roll }),
        }
    }

    /// Records what `edit` changes of the rollover state.
    fn note(inst: &mut Installer, edit: &VersionEdit) {
        if let Some(s) = edit.last_sequence {
            inst.roll.last_sequence = inst.roll.last_sequence.max(s);
        }
        if let Some(f) = edit.history_floor {
            inst.roll.history_floor = (f != super::edit::HISTORY_OFF).then_some(f);
        }
        for &n in &edit.wals_added {
            inst.roll.wals.entry(n).or_insert(None);
        }
        for &(n, size) in &edit.wals_sealed {
            inst.roll.wals.insert(n, Some(size));
        }
        let floor = inst.log_number;
        inst.roll.wals.retain(|&n, _| n >= floor);
    }

    /// Replaces a MANIFEST grown past `max_manifest_bytes` with a new one whose snapshot
    /// edit describes `version` (LevelDB and RocksDB roll it the same way): the new file
    /// is written and fsynced, its directory entry made durable, then CURRENT swapped;
    /// only then is the old MANIFEST deleted. A crash before the CURRENT swap leaves an
    /// orphan the next open deletes; after it, the old file is the orphan. A failure after
    /// the swap began fences the set (`failed`), so the next edit poisons the database.
    fn maybe_roll(&self, inst: &mut Installer, version: &Version) {
        let max = inst.roll.max_manifest_bytes;
        if max == 0 || inst.manifest.file_size() <= max {
            return;
        }
        let number = self.new_file_number();
        let r = &inst.roll;
        let snapshot = VersionEdit {
            log_number: Some(inst.log_number),
            next_file_number: Some(self.peek_next_file_number()),
            last_sequence: Some(r.last_sequence),
            deleted_files: Vec::new(),
            new_files: version
                .levels
                .iter()
                .enumerate()
                .flat_map(|(l, ts)| ts.iter().map(move |t| (l, t.meta.clone())))
                .collect(),
            db_id: Some(r.db_id),
            wals_added: r.wals.keys().copied().collect(),
            wals_sealed: r.wals.iter().filter_map(|(&n, s)| s.map(|s| (n, s))).collect(),
            history_floor: r.history_floor,
        };
        let (fs, dir) = (Arc::clone(&r.fs), r.dir.clone());
        let writer = match ManifestWriter::create(fs.as_ref(), &dir, number, &snapshot) {
            Ok(w) => w,
            Err(e) => {
                // Nothing names the new file: keep appending to the old one.
                log::warn!("MANIFEST rollover to {number} failed, keeping the current one: {e}");
                return;
            }
        };
        let switched = fs.sync_dir(&dir).map_err(crate::error::Error::from).and_then(|()| set_current(fs.as_ref(), &dir, number));
        if let Err(e) = switched {
            log::error!("MANIFEST rollover to {number} failed while switching CURRENT: {e}");
            inst.failed = true;
            return;
        }
        let old = std::mem::replace(&mut inst.manifest, writer).number();
        if let Err(e) = fs.remove(&manifest_path(&dir, old)) {
            log::warn!("could not delete the old MANIFEST-{old:06}: {e}");
        }
        log::info!("MANIFEST rolled over from {old} to {number}");
    }

    /// The current Version, without locking.
    pub fn current(&self) -> Arc<Version> {
        self.current.load_full()
    }

    /// The current Version for a short read, without locking or touching its reference
    /// count (an `arc_swap` guard; hold it only for the read).
    pub fn load(&self) -> arc_swap::Guard<Arc<Version>> {
        self.current.load()
    }

    /// Allocates a new, never used file number.
    pub fn new_file_number(&self) -> u64 {
        self.next_file_number.fetch_add(1, Ordering::SeqCst)
    }

    /// The next file number that will be allocated.
    pub fn peek_next_file_number(&self) -> u64 {
        self.next_file_number.load(Ordering::SeqCst)
    }

    /// The MANIFEST's file number and size in bytes.
    pub fn manifest_info(&self) -> (u64, u64) {
        let i = self.installer.lock();
        (i.manifest.number(), i.manifest.file_size())
    }

    fn install(&self, base: &Arc<Version>, next: Version) {
        let prev = self.current.compare_and_swap(base, Arc::new(next));
        // Invariant: the installer lock makes this the only writer of `current`, so the
        // Version we built on is still current.
        assert!(Arc::ptr_eq(&prev, base), "Version installed outside the installer lock");
    }

    /// Publishes a Version in which `mem` receives writes and the old memtable is the
    /// newest immutable one. No MANIFEST edit: the new WAL is found by listing on recovery.
    pub fn switch_memtable(&self, mem: Arc<MemTable>) {
        let _guard = self.installer.lock();
        let base = self.current.load_full();
        let mut next = (*base).clone();
        let old = std::mem::replace(&mut next.mem, mem);
        next.imm.insert(0, old);
        self.install(&base, next);
    }

    /// Makes a WAL switch durable in the MANIFEST: WAL `sealed.0` was sealed at
    /// `sealed.1` bytes and WAL `added` now takes writes. No Version changes. Called by
    /// the write path after the new WAL's directory entry is durable and before any write
    /// goes to it.
    ///
    /// # Errors
    /// As [`VersionSet::log_and_apply`]; the caller must poison the database.
    pub fn log_wal_switch(&self, sealed: (u64, u64), added: u64) -> Result<()> {
        let mut inst = self.installer.lock();
        if inst.failed {
            return Err(crate::error::Error::Poisoned("an earlier MANIFEST write failed".into()));
        }
        // No next file number: the new WAL's own name reserves its number at open.
        let edit = VersionEdit {
            wals_sealed: if cfg!(feature = "bug-skip-wal-tracking") { Vec::new() } else { vec![sealed] },
            wals_added: if cfg!(feature = "bug-skip-wal-tracking") { Vec::new() } else { vec![added] },
            ..VersionEdit::default()
        };
        self.append_counters_only(&mut inst, &edit)
    }

    /// Appends an edit that changes no table (WAL tracking, the history floor), notes it
    /// for rollover and rolls the MANIFEST over if it grew too big. **Requires:** the
    /// installer lock (the guard proves it) and `!inst.failed`.
    fn append_counters_only(&self, inst: &mut Installer, edit: &VersionEdit) -> Result<()> {
        if let Err(e) = inst.manifest.append(edit) {
            inst.failed = true;
            return Err(e);
        }
        Self::note(inst, edit);
        let version = self.current.load_full();
        self.maybe_roll(inst, &version);
        Ok(())
    }

    /// Makes a history floor durable in the MANIFEST (`None`: history off). No Version
    /// changes.
    ///
    /// # Errors
    /// As [`VersionSet::log_and_apply`]; the caller must poison the database.
    pub fn log_history_floor(&self, floor: Option<u64>) -> Result<()> {
        let mut inst = self.installer.lock();
        if inst.failed {
            return Err(crate::error::Error::Poisoned("an earlier MANIFEST write failed".into()));
        }
        let edit = VersionEdit {
            history_floor: Some(floor.unwrap_or(super::edit::HISTORY_OFF)),
            ..VersionEdit::default()
        };
        self.append_counters_only(&mut inst, &edit)
    }

    /// The history floor the MANIFEST holds.
    pub fn history_floor(&self) -> Option<u64> {
        self.installer.lock().roll.history_floor
    }

    /// Makes `edit` durable in the MANIFEST, then publishes the Version with its tables
    /// added and removed and, if given, the flushed immutable memtable dropped.
    /// Tables removed are marked obsolete and deleted when no Version holds them.
    ///
    /// # Errors
    /// [`crate::error::Error::Io`] from the MANIFEST append or fsync. Nothing is published then,
    /// and the caller must poison the database. [`crate::error::Error::Poisoned`] once an
    /// earlier append failed.
    pub fn log_and_apply(
        &self,
        mut edit: VersionEdit,
        added: Vec<NewTable>,
        flushed: Option<&Arc<MemTable>>,
    ) -> Result<()> {
        let mut inst = self.installer.lock();
        edit.next_file_number = Some(self.peek_next_file_number());
        // Invariant: the edit lists exactly the tables being added.
        debug_assert_eq!(edit.new_files.len(), added.len());
        if inst.failed {
            return Err(crate::error::Error::Poisoned("an earlier MANIFEST write failed".into()));
        }
        if let Err(e) = inst.manifest.append(&edit) {
            inst.failed = true;
            return Err(e);
        }
        if let Some(n) = edit.log_number {
            inst.log_number = inst.log_number.max(n);
        }
        Self::note(&mut inst, &edit);
        let base = self.current.load_full();
        let mut next = (*base).clone();
        let mut removed = Vec::new();
        for &(level, number) in &edit.deleted_files {
            if let Some(pos) = next.levels[level].iter().position(|t| t.meta.number == number) {
                removed.push(next.levels[level].remove(pos));
            }
        }
        let added_numbers: Vec<u64> = added.iter().map(|(_, t)| t.meta.number).collect();
        for (level, t) in added {
            next.levels[level].push(t);
        }
        sort_levels(&mut next);
        // Invariant: tables of a level below L0 never overlap (compaction cuts outputs
        // between user keys and merges every overlapping table of the output level).
        debug_assert!(next.levels[1..]
            .iter()
            .all(|l| l.windows(2).all(|w| { w[0].meta.largest_user_key() < w[1].meta.smallest_user_key() })));
        if let Some(m) = flushed {
            next.imm.retain(|x| !Arc::ptr_eq(x, m));
        }
        self.install(&base, next);
        let version = self.current.load_full();
        self.maybe_roll(&mut inst, &version);
        for t in removed {
            // A trivial move removes and re-adds the same table: its file stays.
            if !added_numbers.contains(&t.meta.number) {
                t.mark_obsolete();
            }
        }
        Ok(())
    }
}

/// Orders L0 newest first (by largest sequence number) and deeper levels by smallest key.
pub fn sort_levels(v: &mut Version) {
    v.levels[0].sort_by_key(|t| std::cmp::Reverse(t.meta.largest_seqno));
    for level in &mut v.levels[1..] {
        level.sort_by(|a, b| compare_internal_keys(&a.meta.smallest, &b.meta.smallest));
    }
}
