//! The compaction thread: it waits on its channel for `Work` and runs compactions until the
//! picker finds none, until `Shutdown`. (The flush thread, which receives memtables, is in
//! `flush.rs`.)
//! A failure inside a body poisons the database (RELIABILITY.md INV-19): inputs are kept,
//! partial outputs become orphans that the next open removes.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::Receiver;

use super::{BgMsg, DbInner};
use crate::compaction::{job, picker};
use crate::error::Result;
use crate::version::set::NewTable;

/// Starts a named thread that runs `body` on every `Work` message until `Shutdown`.
///
/// # Errors
/// [`crate::Error::Io`] if the thread cannot be spawned.
pub(super) fn spawn(
    name: &str,
    inner: Arc<DbInner>,
    rx: Receiver<BgMsg>,
    body: fn(&DbInner),
) -> Result<JoinHandle<()>> {
    let h = std::thread::Builder::new().name(name.to_owned()).spawn(move || {
        while let Ok(BgMsg::Work) = rx.recv() {
            // Coalesce queued wake-ups; the body handles all pending work at once.
            let mut shutdown = false;
            while let Ok(m) = rx.try_recv() {
                shutdown |= matches!(m, BgMsg::Shutdown);
            }
            body(&inner);
            if shutdown {
                break;
            }
        }
    })?;
    Ok(h)
}

impl DbInner {
    /// Compaction thread body: runs picked compactions until the picker finds none.
    pub(super) fn compact_pending(&self) {
        while !self.is_poisoned.load(std::sync::atomic::Ordering::Acquire) {
            let v = self.versions.current();
            let Some(c) = picker::pick(&v, &self.opts) else { return };
            drop(v);
            if let Err(e) = self.run_compaction(&c) {
                self.poison(e);
                return;
            }
            self.notify_progress();
        }
    }

    fn run_compaction(&self, c: &crate::compaction::Compaction) -> Result<()> {
        let started = Instant::now();
        let versions = &self.versions;
        let mut alloc = || versions.new_file_number();
        let mut writer = super::flush::TableWriter::new(
            &self.fs,
            &self.dir,
            &self.opts,
            &mut alloc,
            self.table_ctx.clone(),
        );
        let snapshots = self.live_snapshots();
        let js = job::run(c, self.opts.target_file_size, &snapshots, &mut writer)?;
        writer.sync_dir()?;
        let written = writer.bytes_written;
        let outputs: Vec<NewTable> = writer.outputs.drain(..).map(|t| (c.output_level, t)).collect();
        let edit = job::edit_for(c, &outputs);
        self.versions.log_and_apply(edit, outputs, None)?;
        self.stats.record_compaction(js.bytes_read, written, started.elapsed());
        log::info!(
            "compacted {}+{} tables L{}->L{}: read {} B, wrote {} B, dropped {} entries",
            c.inputs.len(),
            c.output_inputs.len(),
            c.level,
            c.output_level,
            js.bytes_read,
            written,
            js.entries_dropped
        );
        Ok(())
    }
}
