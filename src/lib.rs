//! # shaledb
//!
//! A persistent LSM-tree key-value storage engine. Writes go to a write-ahead log and a
//! memtable; full memtables are flushed to block-based tables (SSTables) by a background
//! thread, and a compaction thread merges tables across levels. A MANIFEST records every
//! change to the set of tables, and recovery replays it and the WALs on open.
//!
//! ```
//! use shaledb::{Db, Options, WriteBatch};
//!
//! # fn main() -> shaledb::Result<()> {
//! let dir = tempfile::tempdir()?;
//! let db = Db::open(dir.path(), Options::default().write_buffer_size(1 << 20))?;
//! db.put(b"apple", b"red")?;
//! let mut batch = WriteBatch::new();
//! batch.put(b"banana", b"yellow");
//! batch.delete(b"apple");
//! db.write(batch)?;
//! assert_eq!(db.get(b"banana")?.as_deref(), Some(&b"yellow"[..]));
//! assert_eq!(db.get(b"apple")?, None);
//! let keys: Vec<_> = db.iter().map(|r| r.map(|(k, _)| k)).collect::<Result<_, _>>()?;
//! assert_eq!(keys, vec![bytes::Bytes::from_static(b"banana")]);
//! db.close()?;
//! # Ok(())
//! # }
//! ```
//!
//! The on-disk formats, threads, locks and recovery steps are documented in DESIGN.md.

// Layers, bottom to top (DESIGN.md §13; `tests/layering.rs` enforces them): a module may
// import only modules of its own or a lower layer.
//
// 0: coding, checksum, error, filename, fs    1: key, iterator (the trait), range_del
// 2: wal, memtable, sstable                   3: version
// 4: options, batch                           5: iterator::merging
// 6: compaction                               7: db
// 8: tool                                     9: crash (feature `sim`), server (feature
//                                                `server`), raft (feature `raft`)
//
// Modules marked `internal!` are private unless the `internals` feature is on: then they
// are public, hidden from the docs and outside the semver promise, for the fuzz targets,
// the component benches and white-box tests.

/// Declares a module that is public only with the `internals` feature.
macro_rules! internal {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[cfg(feature = "internals")]
        #[doc(hidden)]
        pub mod $name;
        $(#[$m])*
        #[cfg(not(feature = "internals"))]
        #[allow(dead_code, unreachable_pub)]
        pub(crate) mod $name;
    };
}

mod batch;
mod checksum;
internal!(coding);
internal!(compaction);
#[cfg(feature = "sim")]
pub mod crash;
mod db;
mod error;
pub mod filename;
pub mod fs;
internal!(iterator);
pub mod key;
internal!(memtable);
mod options;
#[cfg(feature = "raft")]
pub mod raft;
pub mod range_del;
#[cfg(feature = "server")]
pub mod server;
internal!(sstable);
pub mod tool;
internal!(version);
internal!(wal);

#[cfg(test)]
mod format_doc;

pub use batch::{Expiry, WriteBatch, WriteOp};
pub use bytes::Bytes;
pub use db::{
    CasError, ChangeFeed, CheckpointInfo, Db, DbIterator, DbStats, EntryVisitor, LevelStats, MemoryStats,
    PhaseLatency, RawIterator, ReadOptions, RecoveryReport, RepairReport, Snapshot, StallStats, Transaction,
    TransactionOptions, TxnIterator, WatchEvent, Watcher, WritePhase, DEFAULT_WATCH_BUFFER,
};
pub use error::{CorruptionKind, Error, Result};
pub use key::{SequenceNumber, ValueType};
pub use options::{
    Clock, CompactionFilter, Compression, Decision, HistoryRetention, ManualClock, Options, SystemClock,
    WalRecoveryMode, WalRetention, WriteOptions, COMPACTION_THREAD_NICE, MAX_BATCH_SIZE, MAX_KEY_SIZE,
    MAX_VALUE_SIZE,
};
pub use sstable::cache::CacheStats;
