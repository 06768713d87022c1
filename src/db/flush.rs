//! The flush path: writing immutable memtables to L0 tables (through `builder`).
//!
//! Commit point of a flush: the MANIFEST edit {add table, raise the WAL watermark} is
//! fsynced. Order (docs/durability.md INV-13): table written and fsynced, directory fsynced,
//! edit appended and fsynced, Version published, then old WALs deleted (R4).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use std::thread::JoinHandle;

use crossbeam_channel::Receiver;

use super::builder::write_memtable;
use super::wal_archive::{retire_wal, trim_archive};
use super::{BgMsg, DbInner};
use crate::error::Result;
use crate::filename::{is_obsolete, parse_file_name, FileType, LiveFiles};
use crate::fs::FileSystem;
use crate::memtable::MemTable;
use crate::options::WalRetention;
use crate::version::edit::VersionEdit;
use crate::version::set::{NewTable, VersionSet};

/// Retires WAL files numbered below `log_number`: deletes them, or archives them under
/// `Options::wal_retention` (then trims the archive). **Requires:** a durable MANIFEST
/// edit has raised the watermark to `log_number` (docs/durability.md R4, INV-16).
pub(crate) fn delete_old_wals(fs: &dyn FileSystem, dir: &Path, log_number: u64, retention: &WalRetention) {
    let Ok(names) = fs.list(dir) else { return };
    // Only WALs are cleaned here; tables and MANIFESTs are the Version's and recovery's.
    let live = LiveFiles { log_number, manifest_number: 0, is_live_table: &|_| true };
    for name in names {
        if let Some(t @ FileType::Wal(_)) = parse_file_name(&name) {
            if is_obsolete(t, &live) {
                if let Err(e) = retire_wal(fs, dir, &name, retention) {
                    log::warn!("could not retire WAL {name}: {e}");
                }
            }
        }
    }
    if retention.is_enabled() {
        trim_archive(fs, dir, retention);
    }
}

/// Starts the flush thread: it flushes each memtable it receives until `Shutdown`.
///
/// # Errors
/// [`crate::error::Error::Io`] if the thread cannot be spawned.
pub(super) fn spawn(inner: Arc<DbInner>, rx: Receiver<BgMsg>) -> Result<JoinHandle<()>> {
    let h = std::thread::Builder::new().name("shaledb-flush".to_owned()).spawn(move || {
        while let Ok(msg) = rx.recv() {
            match msg {
                BgMsg::Flush(imm) => inner.flush_one(&imm),
                BgMsg::Work => {}
                BgMsg::Shutdown => break,
            }
        }
    })?;
    Ok(h)
}

impl DbInner {
    /// Writes `imm`, the oldest immutable memtable, to L0. On failure the database is
    /// poisoned and `imm` stays in the Version (its WAL is kept).
    pub(super) fn flush_one(&self, imm: &Arc<MemTable>) {
        if self.is_poisoned.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        let v = self.versions.current();
        // Invariant: memtables arrive oldest first, so `imm` is the last immutable one.
        debug_assert!(v.imm.last().is_some_and(|m| Arc::ptr_eq(m, imm)));
        // The WAL watermark: the log of the next newer memtable.
        let pos = v.imm.iter().position(|m| Arc::ptr_eq(m, imm));
        let newer_log = match pos {
            Some(p) if p > 0 => v.imm[p - 1].log_number(),
            _ => v.mem.log_number(),
        };
        drop(v);
        if let Err(e) = self.flush_memtable(imm, newer_log) {
            self.poison(e);
            return;
        }
        self.notify_progress();
        let _ = self.compact_tx.send(super::BgMsg::Work);
    }

    fn flush_memtable(&self, imm: &Arc<MemTable>, newer_log: u64) -> Result<()> {
        let started = Instant::now();
        let versions: &VersionSet = &self.versions;
        let mut alloc = || versions.new_file_number();
        let mut writer = self.table_writer(&mut alloc);
        write_memtable(&mut writer, imm)?;
        let bytes = writer.bytes_written;
        let added: Vec<NewTable> = writer.outputs.drain(..).map(|t| (0, t)).collect();
        let edit = VersionEdit {
            log_number: Some(newer_log),
            last_sequence: Some(imm.largest_seqno()),
            new_files: added.iter().map(|(l, t)| (*l, t.meta.clone())).collect(),
            ..VersionEdit::default()
        };
        self.versions.log_and_apply(edit, added, Some(imm))?;
        self.rebalance_memory_budget();
        delete_old_wals(self.fs.as_ref(), &self.dir, newer_log, &self.opts.wal_retention);
        self.stats.record_flush(bytes, started.elapsed());
        Ok(())
    }
}
