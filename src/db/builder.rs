//! The table writer shared by flush, recovery, compaction, repair and checkpoint (after
//! LevelDB's `db/builder.cc`): it cuts a stream of internal entries into tables, fsyncs
//! each, opens it for reading and collects its metadata for the version edit.

use std::path::Path;
use std::sync::Arc;

use crate::compaction::job::TableSink;
use crate::error::{CorruptionKind, Error, Result};
use crate::filename::table_path;
use crate::fs::FileSystem;
use crate::memtable::MemTable;
use crate::options::Options;
use crate::sstable::{Table, TableBuilder, TableContext, TableId, TableSummary};
use crate::version::{FileMetaData, TableHandle};

/// Writes tables for a flush, a recovery flush or a compaction, allocating file numbers
/// from the `VersionSet` (or a plain counter during recovery).
pub(crate) struct TableWriter<'a> {
    fs: &'a Arc<dyn FileSystem>,
    dir: &'a Path,
    opts: &'a Options,
    next_number: &'a mut dyn FnMut() -> u64,
    ctx: TableContext,
    /// The identity every table written gets (with its file number).
    id: TableId,
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
        id: TableId,
    ) -> Self {
        TableWriter { fs, dir, opts, next_number, ctx, id, open: None, outputs: Vec::new(), bytes_written: 0 }
    }

    /// Fsyncs the directory so every output's name is durable (docs/durability.md R2).
    ///
    /// # Errors
    /// [`crate::error::Error::Io`].
    pub(crate) fn sync_dir(&self) -> Result<()> {
        if !self.outputs.is_empty() && !cfg!(feature = "bug-skip-table-dir-fsync") {
            self.fs.sync_dir(self.dir)?;
        }
        Ok(())
    }
}

impl TableWriter<'_> {
    /// Creates the next output table if none is open.
    fn open_if_none(&mut self) -> Result<()> {
        if self.open.is_none() {
            let number = (self.next_number)();
            let path = table_path(self.dir, number);
            // Invariant: file numbers are never reused (recovery step 4 reserves every
            // number seen on disk), so a table being created cannot exist yet.
            if self.fs.exists(&path) {
                return Err(Error::corruption(&path, 0, CorruptionKind::Malformed("file number reused")));
            }
            let file = self.fs.create(&path)?;
            let mut b = TableBuilder::new(file, path, self.opts.table_options());
            b.set_identity(self.id, number);
            self.open = Some((number, b));
        }
        Ok(())
    }
}

impl TableSink for TableWriter<'_> {
    fn add(&mut self, ikey: &[u8], value: &[u8]) -> Result<()> {
        self.open_if_none()?;
        match self.open.as_mut() {
            Some((_, b)) => b.add(ikey, value),
            None => Ok(()),
        }
    }

    fn add_range_tombstone(
        &mut self,
        start: &[u8],
        end: &[u8],
        seqno: crate::key::SequenceNumber,
    ) -> Result<()> {
        if start >= end {
            return Ok(()); // deletes nothing (`delete_range(k, k)`): no table for it
        }
        self.open_if_none()?;
        if let Some((_, b)) = self.open.as_mut() {
            b.add_range_tombstone(start, end, seqno);
        }
        Ok(())
    }

    fn current_size(&self) -> u64 {
        self.open.as_ref().map_or(0, |(_, b)| b.estimated_file_size())
    }

    fn finish_table(&mut self) -> Result<()> {
        let Some((number, builder)) = self.open.take() else { return Ok(()) };
        let path = builder.path().to_path_buf();
        // Invariant: a table is opened only for an entry or a non-empty range tombstone,
        // so none is empty (an empty one would have no key range for the MANIFEST).
        debug_assert!(!builder.is_empty(), "an output table with nothing in it: {}", path.display());
        let s: TableSummary = builder.finish()?;
        let table = Table::open_in(&self.ctx, self.fs.as_ref(), &path, number)?;
        let meta = FileMetaData {
            number,
            file_size: s.file_size,
            smallest: s.smallest,
            largest: s.largest,
            smallest_seqno: s.smallest_seqno,
            largest_seqno: s.largest_seqno,
            table_id: Some(self.id),
            earliest_expiry: None,
        };
        self.bytes_written += s.file_size;
        self.outputs.push(Arc::new(TableHandle::new(meta, table, Arc::clone(self.fs), path)));
        Ok(())
    }
}

/// Writes every entry and range tombstone of `mem` into one table (no entry is dropped: a
/// memtable holds no tombstone that could be discarded safely at L0).
///
/// # Errors
/// [`crate::error::Error::Io`] from writing or syncing.
pub(crate) fn write_memtable(writer: &mut TableWriter<'_>, mem: &Arc<MemTable>) -> Result<()> {
    mem.for_each_entry(|k, v| writer.add(k, v))?;
    for t in mem.range_tombstones() {
        writer.add_range_tombstone(&t.start, &t.end, t.seqno)?;
    }
    writer.finish_table()?;
    writer.sync_dir()
}

impl super::DbInner {
    /// A table writer into this database's directory, with its caches and identity,
    /// numbering tables with `alloc` (the flush and compaction writers).
    pub(super) fn table_writer<'a>(&'a self, alloc: &'a mut dyn FnMut() -> u64) -> TableWriter<'a> {
        TableWriter::new(&self.fs, &self.dir, &self.opts, alloc, self.table_ctx.clone(), self.table_id)
    }
}
