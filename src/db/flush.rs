//! The flush path: writing immutable memtables to L0 tables, and the table-writing
//! helpers shared with recovery and compaction.
//!
//! Commit point of a flush: the MANIFEST edit {add table, raise the WAL watermark} is
//! fsynced. Order (RELIABILITY.md INV-13): table written and fsynced, directory fsynced,
//! edit appended and fsynced, Version published, then old WALs deleted (R4).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use std::thread::JoinHandle;

use crossbeam_channel::Receiver;

use super::{BgMsg, DbInner};
use crate::compaction::job::TableSink;
use crate::error::Result;
use crate::filename::{parse_file_name, table_path, FileType};
use crate::fs::FileSystem;
use crate::iterator::memtable::MemTableIter;
use crate::iterator::InternalIterator;
use crate::memtable::MemTable;
use crate::options::Options;
use crate::sstable::{Table, TableBuilder, TableContext, TableSummary};
use crate::version::edit::VersionEdit;
use crate::version::set::{NewTable, VersionSet};
use crate::version::{FileMetaData, TableHandle};

/// Writes tables for a flush, a recovery flush or a compaction, allocating file numbers
/// from the `VersionSet` (or a plain counter during recovery).
pub(crate) struct TableWriter<'a> {
    fs: &'a Arc<dyn FileSystem>,
    dir: &'a Path,
    opts: &'a Options,
    next_number: &'a mut dyn FnMut() -> u64,
    ctx: TableContext,
    open: Option<(u64, TableBuilder)>,
    /// Finished tables, fsynced; the directory is not yet synced.
    pub outputs: Vec<Arc<TableHandle>>,
    /// Bytes written to finished tables.
    pub bytes_written: u64,
}

impl<'a> TableWriter<'a> {
    pub(crate) fn new(
        fs: &'a Arc<dyn FileSystem>,
        dir: &'a Path,
        opts: &'a Options,
        next_number: &'a mut dyn FnMut() -> u64,
        ctx: TableContext,
    ) -> Self {
        TableWriter { fs, dir, opts, next_number, ctx, open: None, outputs: Vec::new(), bytes_written: 0 }
    }

    /// Fsyncs the directory so every output's name is durable (RELIABILITY.md R2).
    ///
    /// # Errors
    /// [`crate::Error::Io`].
    pub(crate) fn sync_dir(&self) -> Result<()> {
        if !self.outputs.is_empty() && !cfg!(feature = "bug-skip-table-dir-fsync") {
            self.fs.sync_dir(self.dir)?;
        }
        Ok(())
    }
}

impl TableSink for TableWriter<'_> {
    fn add(&mut self, ikey: &[u8], value: &[u8]) -> Result<()> {
        if self.open.is_none() {
            let number = (self.next_number)();
            let path = table_path(self.dir, number);
            let file = self.fs.create(&path)?;
            let b = TableBuilder::new(file, path, self.opts.table_options());
            self.open = Some((number, b));
        }
        match self.open.as_mut() {
            Some((_, b)) => b.add(ikey, value),
            None => Ok(()),
        }
    }

    fn current_size(&self) -> u64 {
        self.open.as_ref().map_or(0, |(_, b)| b.estimated_file_size())
    }

    fn finish_table(&mut self) -> Result<()> {
        let Some((number, builder)) = self.open.take() else { return Ok(()) };
        let path = builder.path().to_path_buf();
        let s: TableSummary = builder.finish()?;
        let table = Table::open_in(&self.ctx, self.fs.as_ref(), &path, number)?;
        let meta = FileMetaData {
            number,
            file_size: s.file_size,
            smallest: s.smallest,
            largest: s.largest,
            smallest_seqno: s.smallest_seqno,
            largest_seqno: s.largest_seqno,
        };
        self.bytes_written += s.file_size;
        self.outputs.push(Arc::new(TableHandle::new(meta, table, Arc::clone(self.fs), path)));
        Ok(())
    }
}

/// Writes every entry of `mem` into one table (no entry is dropped: a memtable holds no
/// tombstone that could be discarded safely at L0).
///
/// # Errors
/// [`crate::Error::Io`] from writing or syncing.
pub(crate) fn write_memtable(writer: &mut TableWriter<'_>, mem: &Arc<MemTable>) -> Result<()> {
    let mut it = MemTableIter::new(Arc::clone(mem));
    it.seek_to_first()?;
    while it.valid() {
        writer.add(it.key(), &it.value())?;
        it.next()?;
    }
    writer.finish_table()?;
    writer.sync_dir()
}

/// Deletes WAL files numbered below `log_number`. **Requires:** a durable MANIFEST edit
/// has raised the watermark to `log_number` (RELIABILITY.md R4, INV-16).
pub(crate) fn delete_old_wals(fs: &dyn FileSystem, dir: &Path, log_number: u64) {
    let Ok(names) = fs.list(dir) else { return };
    for name in names {
        if let Some(FileType::Wal(n)) = parse_file_name(&name) {
            if n < log_number {
                if let Err(e) = fs.remove(&dir.join(&name)) {
                    log::warn!("could not delete WAL {name}: {e}");
                }
            }
        }
    }
}

/// Starts the flush thread: it flushes each memtable it receives until `Shutdown`.
///
/// # Errors
/// [`crate::Error::Io`] if the thread cannot be spawned.
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
        let mut writer =
            TableWriter::new(&self.fs, &self.dir, &self.opts, &mut alloc, self.table_ctx.clone());
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
        delete_old_wals(self.fs.as_ref(), &self.dir, newer_log);
        self.stats.record_flush(bytes, started.elapsed());
        Ok(())
    }
}
