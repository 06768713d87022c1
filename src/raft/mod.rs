//! Storage for the [openraft](https://docs.rs/openraft/0.9.25) consensus library (cargo
//! feature `raft`): a Raft log store ([`LogStore`], openraft's `RaftLogStorage` and
//! `RaftLogReader`) and a state machine ([`StateMachine`], `RaftStateMachine`) on one
//! shaledb database, generic over the application's `RaftTypeConfig`.
//!
//! Written against openraft **0.9.25** with its `storage-v2` feature (pinned in
//! Cargo.toml) and checked by openraft's own conformance suite
//! (`openraft::testing::Suite::test_all`, `tests/raft_storage_suite.rs`).
//!
//! # Plugging it in
//! The application's type configuration must use openraft's `Entry<C>` as its entry type
//! and `std::io::Cursor<Vec<u8>>` as its snapshot data; its command type (`C::D`)
//! implements [`Command`], which turns one command into reads and writes of the
//! replicated state through a [`StateTxn`]:
//!
//! ```ignore
//! openraft::declare_raft_types!(pub Config: D = KvCommand, R = KvResponse);
//! impl shaledb::raft::Command<KvResponse> for KvCommand {
//!     fn apply(&self, state: &mut shaledb::raft::StateTxn<'_>) -> shaledb::Result<KvResponse> {
//!         match self {
//!             KvCommand::Set { key, value } => state.put(key, value)?,
//!         }
//!         Ok(KvResponse::default())
//!     }
//! }
//! let db = std::sync::Arc::new(shaledb::Db::open(dir, shaledb::Options::default())?);
//! let (log_store, state_machine) = shaledb::raft::open::<Config>(db, b"raft/")?;
//! let raft = openraft::Raft::new(node_id, config, network, log_store, state_machine).await?;
//! ```
//!
//! `examples/raft_kv.rs` is a complete three-node cluster.
//!
//! # Key layout (DESIGN.md §5.17)
//! Everything lives under the namespace prefix `ns` given to [`open`], followed by a
//! one-byte tag:
//!
//! | key | value |
//! |---|---|
//! | `ns 'l' index:u64be` | a log entry (serde JSON of `Entry<C>`) |
//! | `ns 'v'` | the vote (JSON), durable before `save_vote` returns |
//! | `ns 'c'` | the committed log id (JSON), durable before `save_committed` returns |
//! | `ns 'p'` | the last purged log id (JSON) |
//! | `ns 'a'` | the last applied log id and the last membership (JSON) |
//! | `ns 'd' key` | the replicated state: the application's key `key` |
//! | `ns 's'` | the current snapshot's metadata (JSON) and its data length |
//! | `ns 't' chunk:u64be` | the current snapshot's data, in chunks of [`SNAPSHOT_CHUNK`] bytes |
//!
//! Big-endian indexes make the log sort by index, so `truncate` and `purge` are one range
//! deletion each. The data stream of a snapshot has its own versioned, checksummed format
//! ([`snapshot`], docs/format.md §7).
//!
//! # Durability
//! The log and the state machine share one database and so one WAL, whose records become
//! durable in order (a synced write makes every earlier write durable). Appends, votes and
//! committed log ids are written without `sync`; a syncer thread then calls
//! [`crate::Db::sync_wal`] once for every such write queued meanwhile, and only then
//! completes the appends' `LogFlushed` callbacks and lets `save_vote` and `save_committed`
//! return. So each is durable before openraft learns it is done, and they share fsyncs.
//! Installed snapshots are written with `sync`. Applies, purges, truncations and built
//! snapshots are not: any of them that a crash loses is redone by openraft from the log,
//! and a purge, which follows in the WAL the applies and the snapshot it relies on, cannot
//! survive a crash that loses them. DESIGN.md §5.17 has the whole argument.

mod keys;
mod log_store;
pub mod snapshot;
mod state_machine;

use std::sync::Arc;

use openraft::{AnyError, ErrorSubject, ErrorVerb, RaftTypeConfig, StorageError, StorageIOError};

use crate::db::Db;
use crate::error::Result;

pub use log_store::{LogReader, LogStore, SyncCounter, SyncStats};
pub use state_machine::{Command, SnapshotBuilder, StateMachine, StateReader, StateTxn};

/// Size of one stored snapshot chunk (`ns 't' chunk` value), in bytes: 1 MiB.
pub const SNAPSHOT_CHUNK: usize = 1 << 20;

/// Opens the Raft log store and the state machine kept in `db` under the key prefix `ns`
/// (any bytes; nothing else in the database may use keys starting with it). Reads the
/// stored vote, last purged and last log ids (one reverse seek, no scan) and the applied
/// state, and starts the log store's syncer thread.
///
/// # Errors
/// The database's errors from those reads ([`crate::Error::Io`],
/// [`crate::Error::Corruption`], …); [`crate::Error::InvalidArgument`] for a stored value
/// that is not what this module wrote.
pub fn open<C>(db: Arc<Db>, ns: &[u8]) -> Result<(LogStore<C>, StateMachine<C>)>
where
    C: RaftTypeConfig<Entry = openraft::Entry<C>, SnapshotData = std::io::Cursor<Vec<u8>>>,
    C::D: Command<C::R>,
    C::R: Default,
{
    let keys = keys::Keys::new(ns);
    let log = LogStore::open(db.clone(), keys.clone())?;
    let sm = StateMachine::open(db, keys)?;
    Ok((log, sm))
}

/// Wraps a database error as openraft's storage error for `subject` and `verb`.
fn storage_error<C: RaftTypeConfig>(
    subject: ErrorSubject<C::NodeId>,
    verb: ErrorVerb,
    e: &crate::error::Error,
) -> StorageError<C::NodeId> {
    StorageIOError::new(subject, verb, AnyError::new(e)).into()
}
