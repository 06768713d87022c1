//! Runs one [`Compaction`]: merges its inputs, keeps the newest version of each user key,
//! drops tombstones at the bottommost level, and cuts outputs at `target_file_size` on user
//! key boundaries. The outputs are fsynced and the directory synced before the caller
//! writes the MANIFEST edit (RELIABILITY.md INV-13).

use super::Compaction;
use crate::error::Result;
use crate::iterator::level::LevelIter;
use crate::iterator::merging::MergingIterator;
use crate::iterator::InternalIterator;
use crate::key::{ParsedInternalKey, ValueType};
use crate::version::edit::VersionEdit;
use crate::version::set::NewTable;

/// Writes tables numbered by `new_table` from entries passed to `add`.
pub trait TableSink {
    /// Starts a new output table if none is open, and appends an entry to it.
    ///
    /// # Errors
    /// [`crate::Error::Io`] from the write.
    fn add(&mut self, ikey: &[u8], value: &[u8]) -> Result<()>;
    /// Size in bytes of the open output table so far (0 if none).
    fn current_size(&self) -> u64;
    /// Finishes the open output table, if any.
    ///
    /// # Errors
    /// [`crate::Error::Io`] from the write or fsync.
    fn finish_table(&mut self) -> Result<()>;
}

/// Bytes read and written by a finished job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobStats {
    /// Bytes of input tables.
    pub bytes_read: u64,
    /// Entries dropped (shadowed versions and tombstones).
    pub entries_dropped: u64,
}

/// Merges the inputs of `c` into `sink`, cutting outputs at `target_file_size`.
///
/// # Errors
/// [`crate::Error::Corruption`] from a damaged input; [`crate::Error::Io`].
pub fn run(c: &Compaction, target_file_size: u64, sink: &mut dyn TableSink) -> Result<JobStats> {
    let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
    for t in &c.inputs {
        if c.level == 0 {
            children.push(Box::new(t.table().iter()));
        }
    }
    if c.level > 0 {
        children.push(Box::new(LevelIter::new(c.inputs.clone())));
    }
    children.push(Box::new(LevelIter::new(c.output_inputs.clone())));
    let mut it = MergingIterator::new(children);
    it.seek_to_first()?;
    let mut stats = JobStats {
        bytes_read: c.inputs.iter().chain(&c.output_inputs).map(|t| t.meta.file_size).sum(),
        ..JobStats::default()
    };
    let mut last_user_key: Option<Vec<u8>> = None;
    while it.valid() {
        let key = it.key();
        let p = ParsedInternalKey::decode(key).ok_or_else(|| crate::Error::Corruption {
            file: "<compaction input>".into(),
            offset: 0,
            kind: crate::error::CorruptionKind::Malformed("bad internal key"),
        })?;
        let shadowed = last_user_key.as_deref() == Some(p.user_key);
        if shadowed || (c.bottommost && p.value_type == ValueType::Deletion) {
            // A newer version of this key was already kept (no snapshots can see older
            // ones yet), or a tombstone at the bottommost level hides nothing below.
            stats.entries_dropped += 1;
        } else {
            if sink.current_size() >= target_file_size {
                sink.finish_table()?; // a new user key: a legal place to cut
            }
            sink.add(key, &it.value())?;
        }
        if !shadowed {
            last_user_key = Some(p.user_key.to_vec());
        }
        it.next()?;
    }
    sink.finish_table()?;
    Ok(stats)
}

/// The edit that removes the inputs of `c` and adds `outputs`.
pub fn edit_for(c: &Compaction, outputs: &[NewTable]) -> VersionEdit {
    let mut edit = VersionEdit::default();
    for t in &c.inputs {
        edit.deleted_files.push((c.level, t.meta.number));
    }
    for t in &c.output_inputs {
        edit.deleted_files.push((c.output_level, t.meta.number));
    }
    for (level, t) in outputs {
        edit.new_files.push((*level, t.meta.clone()));
    }
    edit
}
