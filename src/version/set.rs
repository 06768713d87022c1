//! [`VersionSet`]: owns the current [`Version`] (an `ArcSwap`), the file-number counter and
//! the MANIFEST writer.
//!
//! Every new Version is installed under the `manifest` mutex: the edit is appended and
//! fsynced first, then the Version is published by compare-and-swap against the exact
//! Version the edit was computed from. Because the mutex makes this the single installer,
//! the CAS cannot fail (checked below); manifest order therefore equals install order
//! (docs/durability.md INV-13, INV-14). Lock order: the writer's state lock, then this one.
//! Readers never take it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use super::edit::VersionEdit;
use super::manifest::ManifestWriter;
use super::{TableHandle, Version};
use crate::error::Result;
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
    /// A set publishing `initial`, appending to `manifest`.
    pub fn new(initial: Version, manifest: ManifestWriter, next_file_number: u64, log_number: u64) -> Self {
        VersionSet {
            current: ArcSwap::from_pointee(initial),
            next_file_number: AtomicU64::new(next_file_number),
            installer: Mutex::new(Installer { manifest, failed: false, log_number }),
        }
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
        if let Err(e) = inst.manifest.append(&edit) {
            inst.failed = true;
            return Err(e);
        }
        Ok(())
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
