//! `Db::checkpoint`: a consistent point-in-time copy of a running database in another
//! directory, which opens as a normal database.
//!
//! 1. Take a read point: the current Version (pinned, so its tables stay on disk) and the
//!    visible sequence number S.
//! 2. Hard-link every table of the Version into the destination (copy across file
//!    systems).
//! 3. Write the memtables' entries numbered up to S (tombstones and range tombstones
//!    included) as one new L0 table there. This takes the place of copying the live WAL
//!    up to S, and leaves the copy with no WAL to replay.
//! 4. Write a MANIFEST naming those tables with `last_sequence = S`, fsync it and the
//!    directory, then CURRENT (temp, fsync, rename, directory fsync).
//!
//! Writes may continue meanwhile; the copy holds exactly the writes numbered up to S that
//! were in the Version's memtables or tables, which is a prefix of the write order.

use std::path::Path;
use std::sync::Arc;

use super::builder::TableWriter;
use super::recovery::install_manifest;
use super::{Db, DbInner};
use crate::compaction::job::TableSink;
use crate::error::{Error, Result};
use crate::filename::table_path;
use crate::iterator::merging::MergingIterator;
use crate::iterator::InternalIterator;
use crate::key::ParsedInternalKey;
use crate::memtable::iter::MemTableIter;
use crate::sstable::TableContext;
use crate::version::edit::VersionEdit;
use crate::version::manifest::ManifestWriter;

/// What a checkpoint holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckpointInfo {
    /// The sequence number it is consistent at.
    pub seqno: u64,
    /// Tables hard-linked (or copied) from the database.
    pub tables_linked: usize,
    /// Entries written from the memtables.
    pub memtable_entries: u64,
}

impl Db {
    /// Writes a consistent copy of the database as of now into `dest`, a directory that
    /// must not exist yet (or be empty); see the module docs. The copy opens with
    /// `Db::open`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `dest` holds files; [`Error::Io`] from linking,
    /// writing or syncing; [`Error::Closed`].
    pub fn checkpoint(&self, dest: impl AsRef<Path>) -> Result<CheckpointInfo> {
        self.check_open()?;
        self.inner.checkpoint(dest.as_ref())
    }
}

impl DbInner {
    fn checkpoint(&self, dest: &Path) -> Result<CheckpointInfo> {
        let fs = &self.fs;
        if fs.exists(dest) && !fs.list(dest)?.is_empty() {
            return Err(Error::InvalidArgument("checkpoint directory is not empty"));
        }
        fs.create_dir_all(dest)?;
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs.sync_dir(parent)?;
        }
        let (version, seqno) = self.read_point();
        let mut edit = VersionEdit { last_sequence: Some(seqno), ..VersionEdit::default() };
        let mut info = CheckpointInfo { seqno, ..CheckpointInfo::default() };
        for (level, tables) in version.levels.iter().enumerate() {
            for t in tables {
                fs.hard_link_or_copy(
                    &table_path(&self.dir, t.meta.number),
                    &table_path(dest, t.meta.number),
                )?;
                edit.new_files.push((level, t.meta.clone()));
                info.tables_linked += 1;
            }
        }
        // The memtables' entries up to the read point, merged into one table.
        let children: Vec<Box<dyn InternalIterator>> = std::iter::once(&version.mem)
            .chain(&version.imm)
            .map(|m| Box::new(MemTableIter::new(Arc::clone(m))) as Box<dyn InternalIterator>)
            .collect();
        let mut it = MergingIterator::new(children);
        it.seek_to_first()?;
        let versions = &self.versions;
        let mut alloc = || versions.new_file_number();
        let mut writer =
            TableWriter::new(fs, dest, &self.opts, &mut alloc, TableContext::default(), self.table_id);
        while it.valid() {
            if ParsedInternalKey::decode(it.key()).is_some_and(|p| p.seqno <= seqno) {
                writer.add(it.key(), &it.value())?;
                info.memtable_entries += 1;
            }
            it.next()?;
        }
        // And their range tombstones up to the read point.
        for m in std::iter::once(&version.mem).chain(&version.imm) {
            for t in m.range_tombstones().into_iter().filter(|t| t.seqno <= seqno) {
                writer.add_range_tombstone(&t.start, &t.end, t.seqno)?;
                info.memtable_entries += 1;
            }
        }
        writer.finish_table()?;
        for t in &writer.outputs {
            edit.new_files.push((0, t.meta.clone()));
        }
        let manifest_number = self.versions.new_file_number();
        let next = self.versions.new_file_number();
        edit.log_number = Some(next);
        edit.next_file_number = Some(next + 1);
        drop(ManifestWriter::create(fs.as_ref(), dest, manifest_number, &edit)?);
        install_manifest(fs.as_ref(), dest, manifest_number)?;
        Ok(info)
    }
}
