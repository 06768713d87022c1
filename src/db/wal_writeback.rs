//! WAL writeback (RocksDB's `wal_bytes_per_sync`): a background thread fdatasyncs the live
//! WAL whenever `Options::wal_bytes_per_sync` bytes have been appended since its last
//! sync, so that the WAL never holds much unsynced data.
//!
//! Why: retiring a full WAL at a memtable switch fsyncs it under the `wal` lock (R6: an
//! old WAL is durable before a newer one holds acknowledged data). Without writeback that
//! fsync writes the whole log at once (a 64 MiB write buffer's worth, about 200 ms on this
//! machine's disk) while every writer waits; with it, it writes at most a few MiB.
//!
//! It changes no guarantee. A writeback is a `Db::sync_wal` run by this thread: begun
//! under the `wal` lock, fdatasynced without it, and recorded as the WAL's synced length
//! (which later records carry as evidence, docs/format.md §2). An extra sync only makes
//! more of the log durable earlier; a failed one poisons the database as every failed
//! fsync does (docs/durability.md R7).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Receiver;

use super::write::WalState;
use super::{BgMsg, DbInner};
use crate::error::Result;

/// Starts the writeback thread: it runs one `sync_wal` per `BgMsg::Work` until
/// `BgMsg::Shutdown`.
///
/// # Errors
/// [`crate::error::Error::Io`] if the thread cannot be spawned.
pub(super) fn spawn(inner: Arc<DbInner>, rx: Receiver<BgMsg>) -> Result<JoinHandle<()>> {
    let h = std::thread::Builder::new().name("shaledb-wal-sync".to_owned()).spawn(move || {
        while let Ok(msg) = rx.recv() {
            match msg {
                BgMsg::Work => {
                    // An error has poisoned the database; writers see it.
                    if inner.sync_wal().is_ok() {
                        inner.stats.record_wal_writeback();
                    }
                    inner.writeback_in_flight.store(false, Ordering::Release);
                }
                BgMsg::Flush(_) => {}
                BgMsg::Shutdown => break,
            }
        }
    })?;
    Ok(h)
}

impl DbInner {
    /// Fdatasyncs the live WAL without holding the `wal` lock during the sync (the body
    /// of `Db::sync_wal`). **Requires:** the `wal` lock is not held by the caller.
    ///
    /// # Errors
    /// [`crate::error::Error::Io`] from the fsync (the database is then poisoned);
    /// [`crate::error::Error::Poisoned`].
    pub(super) fn sync_wal(&self) -> Result<()> {
        let (handle, number, len) = {
            let mut wal = self.wal.lock();
            self.check_poisoned()?;
            match wal.begin_sync().map_err(|e| self.poison(e.into()))? {
                Some(h) => h,
                None => return wal.sync().map_err(|e| self.poison(e.into())),
            }
        };
        // The fdatasync runs without the `wal` lock, so writers keep committing meanwhile;
        // it covers every record that was written before `begin_sync`.
        if !cfg!(feature = "bug-skip-sync-wal") {
            handle.sync_data().map_err(|e| self.poison(e.into()))?;
        }
        self.wal.lock().end_sync(number, len);
        Ok(())
    }

    /// Asks the writeback thread for a sync if `wal` holds `Options::wal_bytes_per_sync`
    /// unsynced bytes and no request is pending. **Requires:** the `wal` lock (the guard
    /// proves it).
    pub(super) fn maybe_request_writeback(&self, wal: &WalState) {
        let every = self.opts.wal_bytes_per_sync;
        if every == 0 || wal.unsynced_bytes() < every {
            return;
        }
        if !self.writeback_in_flight.swap(true, Ordering::AcqRel)
            && self.writeback_tx.send(BgMsg::Work).is_err()
        {
            // No writeback thread (read-only or inline schedule): nothing will clear it.
            self.writeback_in_flight.store(false, Ordering::Release);
        }
    }
}
