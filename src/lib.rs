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

#[doc(hidden)]
pub mod batch;
mod checksum;
pub mod coding;
#[doc(hidden)]
pub mod compaction;
#[doc(hidden)]
pub mod crash;
mod db;
pub(crate) use db::flush_support as db_support;
mod error;
pub mod filename;
pub mod fs;
#[doc(hidden)]
pub mod iterator;
pub mod key;
#[doc(hidden)]
pub mod memtable;
mod options;
#[doc(hidden)]
pub mod sstable;
mod sys;
#[doc(hidden)]
pub mod tool;
#[doc(hidden)]
pub mod version;
#[doc(hidden)]
pub mod wal;

pub use batch::WriteBatch;
pub use bytes::Bytes;
pub use db::{CheckpointInfo, Db, DbStats, LevelStats, RecoveryReport, Snapshot, StallStats};
pub use error::{CorruptionKind, Error, Result};
pub use iterator::{DbIterator, RawIterator};
pub use options::{
    Compression, Options, ReadOptions, WalRecoveryMode, WriteOptions, MAX_BATCH_SIZE, MAX_KEY_SIZE,
    MAX_VALUE_SIZE,
};
pub use sstable::cache::CacheStats;
