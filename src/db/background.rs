//! The compaction threads (`shaledb-compact-N`, `max_background_jobs - 1` of them) and
//! manual compaction (`Db::compact_range`). A thread waits on the shared channel for
//! `Work`, then runs picked compactions until the picker finds none. (The flush thread,
//! which receives memtables, is in `flush.rs`.)
//!
//! Jobs that run at once own disjoint tables: a job registers its inputs in
//! `DbInner::compacting` when it is picked (under that lock) and the picker skips them.
//! A failure inside a job poisons the database (docs/durability.md INV-19): inputs are kept,
//! partial outputs become orphans that the next open removes.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::Receiver;

use super::{BgMsg, DbInner};
use crate::compaction::picker::{self, PickerOptions, LAST_LEVEL};
use crate::compaction::{job, level_metadata, Compaction};
use crate::error::Result;
use crate::version::set::NewTable;

/// Starts compaction thread `index`: it runs `compact_pending` on every `Work` message,
/// and at least once a second, until `Shutdown`.
///
/// # Errors
/// [`crate::error::Error::Io`] if the thread cannot be spawned.
pub(super) fn spawn(index: usize, inner: Arc<DbInner>, rx: Receiver<BgMsg>) -> Result<JoinHandle<()>> {
    let h = std::thread::Builder::new().name(format!("shaledb-compact-{index}")).spawn(move || {
        // A lower CPU priority if `Options::compaction_thread_nice` asks for one (off by
        // default): on a busy machine a compaction then yields its core to the
        // application's reads and writes (DESIGN.md §5.1).
        if let Some(n) = inner.opts.compaction_thread_nice {
            crate::fs::set_current_thread_nice(n);
        }
        loop {
            // Woken by `Work`, and once a second anyway: a table whose earliest expiry has
            // passed becomes due with no write to trigger it (TTL compaction).
            match rx.recv_timeout(std::time::Duration::from_secs(1)) {
                Ok(BgMsg::Work) | Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    inner.compact_pending()
                }
                Ok(_) | Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
            }
        }
    })?;
    Ok(h)
}

impl DbInner {
    fn picker_options(&self) -> PickerOptions {
        PickerOptions { now_ms: self.opts.clock.now_millis(), ..PickerOptions::from_options(&self.opts) }
    }

    /// Picks a compaction and claims its tables and output range, under the
    /// `compacting` lock.
    fn pick_and_claim(&self) -> Option<Compaction> {
        let mut claims = self.compacting.lock();
        let v = self.versions.current();
        let plan = picker::pick(&level_metadata(&v), &self.picker_options(), &claims)?;
        let c = Compaction::resolve(&plan, &v)?;
        claims.claim(c.input_numbers(), c.output_level, &c.range.0, &c.range.1);
        Some(c)
    }

    fn release(&self, c: &Compaction) {
        self.compacting.lock().release(c.input_numbers(), c.output_level, &c.range.0, &c.range.1);
    }

    /// Compaction thread body: runs picked compactions until the picker finds none.
    pub(super) fn compact_pending(&self) {
        while !self.is_poisoned.load(std::sync::atomic::Ordering::Acquire)
            && !self.closed.load(std::sync::atomic::Ordering::Acquire)
        {
            let Some(c) = self.pick_and_claim() else { return };
            // Another idle thread may find a disjoint compaction meanwhile.
            let _ = self.compact_tx.send(BgMsg::Work);
            let r = self.run_compaction(&c);
            self.release(&c);
            drop(c);
            if let Err(e) = r {
                self.poison(e);
                return;
            }
            self.notify_progress();
        }
    }

    /// True when no flush or compaction is running or due: no immutable memtable waits,
    /// no job holds a claim, and the picker finds nothing to do.
    fn background_idle(&self) -> bool {
        let claims = self.compacting.lock();
        let v = self.versions.current();
        v.imm.is_empty()
            && claims.files.is_empty()
            && claims.ranges.is_empty()
            && picker::pick(&level_metadata(&v), &self.picker_options(), &claims).is_none()
    }

    /// Blocks until [`DbInner::background_idle`] holds (RocksDB's `WaitForCompact`).
    ///
    /// # Errors
    /// [`crate::error::Error::Poisoned`] if background work failed meanwhile.
    pub(super) fn wait_for_compaction(&self) -> Result<()> {
        if self.opts.inline_background {
            self.compact_pending();
            return self.check_poisoned();
        }
        let mut g = self.bg_mutex.lock();
        loop {
            self.check_poisoned()?;
            if self.background_idle() {
                return Ok(());
            }
            // Every state change above is followed by `notify_progress`, which takes
            // `bg_mutex`, so no wakeup is lost between the check and the wait. The bound
            // only re-nudges the compaction threads if a pick was refused meanwhile.
            let _ = self.compact_tx.send(BgMsg::Work);
            self.bg_cv.wait_for(&mut g, std::time::Duration::from_millis(100));
        }
    }

    /// Runs one compaction: a MANIFEST edit alone for a trivial move, else a merge job
    /// whose outputs are made durable before the edit that swaps them in.
    pub(super) fn run_compaction(&self, c: &Compaction) -> Result<()> {
        let started = Instant::now();
        if c.trivial_move {
            // Every input moves in one edit (several only when they do not overlap).
            let mut edit = crate::version::edit::VersionEdit::default();
            for t in &c.inputs {
                edit.deleted_files.push((c.level, t.meta.number));
                edit.new_files.push((c.output_level, t.meta.clone()));
            }
            let moved = c.inputs.iter().map(|t| (c.output_level, Arc::clone(t))).collect();
            self.versions.log_and_apply(edit, moved, None)?;
            self.stats.record_compaction(c.output_level, 0, 0, true, started.elapsed());
            let numbers: Vec<u64> = c.inputs.iter().map(|t| t.meta.number).collect();
            log::info!("trivial move of tables {numbers:?} from L{} to L{}", c.level, c.output_level);
            return Ok(());
        }
        let versions = &self.versions;
        let mut alloc = || versions.new_file_number();
        let mut writer = self.table_writer(&mut alloc);
        let (snapshots, history_floor) = self.retention_view();
        let po = self.picker_options();
        let progress = self.stats.compaction_progress();
        let params = job::JobParams {
            target_file_size: po.target_file_size,
            max_grandparent_overlap: po.max_grandparent_overlap(),
            snapshots: &snapshots,
            history_floor,
            now_ms: self.opts.clock.now_millis(),
            filter: self.opts.compaction_filter.as_deref(),
        };
        let js = job::run(c, &params, &mut writer, progress)?;
        writer.sync_dir()?;
        let written = writer.bytes_written;
        let outputs: Vec<NewTable> = writer.outputs.drain(..).map(|t| (c.output_level, t)).collect();
        let edit = job::edit_for(c, &outputs);
        self.versions.log_and_apply(edit, outputs, None)?;
        self.rebalance_memory_budget();
        self.stats.record_compaction(c.output_level, js.bytes_read, written, false, started.elapsed());
        self.stats.record_expired(js.expired);
        self.stats.record_filtered(js.filtered);
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

    /// Compacts every table overlapping `[start, end]` down to the last level, which drops
    /// the tombstones and shadowed versions no snapshot needs, and waits for it.
    pub(super) fn compact_range(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
        self.flush_and_wait()?;
        for level in 0..=LAST_LEVEL {
            loop {
                self.check_poisoned()?;
                let claimed = {
                    let mut g = self.bg_mutex.lock();
                    loop {
                        let mut claims = self.compacting.lock();
                        let v = self.versions.current();
                        let plan = picker::pick_manual(
                            &level_metadata(&v),
                            &self.picker_options(),
                            &claims,
                            level,
                            start,
                            end,
                        );
                        match plan {
                            Ok(None) => break None,
                            Ok(Some(p)) => {
                                if let Some(c) = Compaction::resolve(&p, &v) {
                                    claims.claim(c.input_numbers(), c.output_level, &c.range.0, &c.range.1);
                                    break Some(c);
                                }
                            }
                            Err(picker::Busy) => {
                                // A background job owns a table or range we need: wait.
                                drop(claims);
                                self.check_poisoned()?;
                                self.bg_cv.wait(&mut g);
                            }
                        }
                    }
                };
                let Some(c) = claimed else { break };
                let r = self.run_compaction(&c);
                self.release(&c);
                r.map_err(|e| self.poison(e))?;
                self.notify_progress();
                if level == LAST_LEVEL {
                    break; // the last level is rewritten in place once
                }
            }
        }
        Ok(())
    }
}
