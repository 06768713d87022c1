//! The Raft state machine: openraft's `RaftStateMachine` and `RaftSnapshotBuilder` on
//! shaledb, applying the application's commands ([`Command`]) to keys under the
//! namespace's data prefix.

use std::io::Cursor;
use std::sync::Arc;

use bytes::Bytes;
use openraft::storage::RaftStateMachine;
use openraft::{
    Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftSnapshotBuilder, RaftTypeConfig,
    Snapshot, SnapshotMeta, StorageError, StoredMembership,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::keys::{decode, encode, Keys};
use super::snapshot::{self, SnapshotWriter};
use super::{storage_error, SNAPSHOT_CHUNK};
use crate::batch::WriteBatch;
use crate::db::{Db, Transaction};
use crate::error::{CorruptionKind, Error, Result};
use crate::options::WriteOptions;

/// An application command that the state machine applies: implemented by the
/// application's `RaftTypeConfig::D` with `R` its response type. `apply` reads and writes
/// the replicated state through `state`; every command of one `apply` call commits as
/// one atomic write batch together with the new last applied log id. It must be
/// deterministic: every node applies the same commands in the same order and must reach
/// the same state (no clocks, no randomness).
pub trait Command<R> {
    /// Applies the command and returns its response.
    ///
    /// # Errors
    /// Only the database's errors from `state` ([`Error::Io`], [`Error::Corruption`],
    /// [`Error::InvalidArgument`] for an oversized key or value, …): they stop the Raft
    /// node, as any storage error does. Application-level failures belong in `R`.
    fn apply(&self, state: &mut StateTxn<'_>) -> Result<R>;
}

/// The replicated state as one `apply` call sees it: reads see the writes of earlier
/// commands in the same call. Keys are the application's; they are stored under the
/// namespace's data prefix.
pub struct StateTxn<'a> {
    txn: &'a mut Transaction,
    keys: &'a Keys,
}

impl StateTxn<'_> {
    /// The value of `key`, or `None`.
    ///
    /// # Errors
    /// As [`Db::get`].
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.txn.get(self.keys.data(key.as_ref()))
    }

    /// Sets `key` to `value`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a key or value over the engine's limits (the key
    /// limit counts the namespace prefix and one tag byte).
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.txn.put(self.keys.data(key.as_ref()), value)
    }

    /// Deletes `key`.
    ///
    /// # Errors
    /// As [`StateTxn::put`].
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> Result<()> {
        self.txn.delete(self.keys.data(key.as_ref()))
    }

    /// Deletes every key in `[start, end)` (one range tombstone).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `start > end` or an oversized bound.
    pub fn delete_range(&mut self, start: impl AsRef<[u8]>, end: impl AsRef<[u8]>) -> Result<()> {
        self.txn.delete_range(self.keys.data(start.as_ref()), self.keys.data(end.as_ref()))
    }
}

/// The last applied log id and the last membership, stored at `ns 'a'`.
type Applied<C> = (
    Option<LogId<<C as RaftTypeConfig>::NodeId>>,
    StoredMembership<<C as RaftTypeConfig>::NodeId, <C as RaftTypeConfig>::Node>,
);

/// The stored current snapshot's metadata (`ns 's'`): openraft's meta and the data length
/// in bytes.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct StoredSnapshot<C: RaftTypeConfig> {
    meta: SnapshotMeta<C::NodeId, C::Node>,
    len: u64,
}

/// What the state machine and its snapshot builders share.
struct Shared {
    db: Arc<Db>,
    keys: Keys,
    /// Serialises replacing the stored current snapshot, so that an older build never
    /// overwrites a newer snapshot.
    snapshot_lock: Mutex<()>,
}

impl Shared {
    fn read_applied<C: RaftTypeConfig>(&self, snap: &crate::db::Snapshot) -> Result<Applied<C>> {
        match snap.get(self.keys.applied())? {
            Some(v) => decode(&v, self.db.path(), "raft applied state"),
            None => Ok((None, StoredMembership::default())),
        }
    }

    /// Adds to `b` the replacement of the stored current snapshot by `meta` and `data`,
    /// unless the stored one is newer; call with `snapshot_lock` held.
    fn store_snapshot<C: RaftTypeConfig>(
        &self,
        b: &mut WriteBatch,
        meta: &SnapshotMeta<C::NodeId, C::Node>,
        data: &[u8],
    ) -> Result<()> {
        if let Some(v) = self.db.get(self.keys.snapshot_meta())? {
            let cur: StoredSnapshot<C> = decode(&v, self.db.path(), "raft snapshot metadata")?;
            if cur.meta.last_log_id > meta.last_log_id {
                return Ok(());
            }
        }
        let (lo, hi) = self.keys.snapshot_chunk_range();
        b.delete_range(lo, hi);
        for (i, chunk) in data.chunks(SNAPSHOT_CHUNK).enumerate() {
            b.put(self.keys.snapshot_chunk(i as u64), chunk);
        }
        let stored = StoredSnapshot::<C> { meta: meta.clone(), len: data.len() as u64 };
        b.put(self.keys.snapshot_meta(), encode(&stored));
        Ok(())
    }
}

/// The Raft state machine (openraft's `RaftStateMachine`). Created by [`super::open`].
pub struct StateMachine<C: RaftTypeConfig> {
    shared: Arc<Shared>,
    applied: Applied<C>,
}

impl<C> StateMachine<C>
where
    C: RaftTypeConfig<Entry = Entry<C>, SnapshotData = Cursor<Vec<u8>>>,
    C::D: Command<C::R>,
    C::R: Default,
{
    pub(super) fn open(db: Arc<Db>, keys: Keys) -> Result<StateMachine<C>> {
        let shared = Arc::new(Shared { db, keys, snapshot_lock: Mutex::new(()) });
        let applied = shared.read_applied::<C>(&shared.db.snapshot())?;
        Ok(StateMachine { shared, applied })
    }

    /// The applied value of `key` (what every command applied so far left), or `None`.
    ///
    /// # Errors
    /// As [`Db::get`].
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.shared.db.get(self.shared.keys.data(key.as_ref()))
    }

    /// A reader of the applied state that stays valid after the state machine moves into
    /// openraft: `reader()(key)` is [`StateMachine::get`].
    pub fn reader(&self) -> StateReader {
        StateReader { db: self.shared.db.clone(), keys: self.shared.keys.clone() }
    }

    fn apply_entries(&mut self, entries: impl IntoIterator<Item = Entry<C>>) -> Result<Vec<C::R>> {
        let db = &self.shared.db;
        let mut txn = db.transaction_opt(&crate::db::TransactionOptions { set_snapshot: false, sync: false });
        let mut applied = self.applied.clone();
        let mut replies = Vec::new();
        for e in entries {
            applied.0 = Some(e.log_id.clone());
            replies.push(match e.payload {
                EntryPayload::Blank => C::R::default(),
                EntryPayload::Normal(cmd) => {
                    cmd.apply(&mut StateTxn { txn: &mut txn, keys: &self.shared.keys })?
                }
                EntryPayload::Membership(m) => {
                    applied.1 = StoredMembership::new(Some(e.log_id), m);
                    C::R::default()
                }
            });
        }
        if replies.is_empty() {
            return Ok(replies);
        }
        txn.put(self.shared.keys.applied(), encode(&applied))?;
        txn.commit()?;
        self.applied = applied;
        Ok(replies)
    }

    fn install(&mut self, meta: &SnapshotMeta<C::NodeId, C::Node>, data: &[u8]) -> Result<()> {
        let pairs = snapshot::decode(data, &meta.snapshot_id)?;
        let keys = &self.shared.keys;
        let mut b = WriteBatch::new();
        let (lo, hi) = keys.data_range();
        b.delete_range(lo, hi);
        for (k, v) in pairs {
            b.put(keys.data(k), v);
        }
        let applied: Applied<C> = (meta.last_log_id.clone(), meta.last_membership.clone());
        b.put(keys.applied(), encode(&applied));
        let _guard = self.shared.snapshot_lock.lock();
        self.shared.store_snapshot::<C>(&mut b, meta, data)?;
        self.shared.db.write_opt(b, &WriteOptions { sync: true })?;
        self.applied = applied;
        Ok(())
    }

    fn current_snapshot(&self) -> Result<Option<Snapshot<C>>> {
        let db = &self.shared.db;
        let snap = db.snapshot();
        let Some(v) = snap.get(self.shared.keys.snapshot_meta())? else {
            return Ok(None);
        };
        let stored: StoredSnapshot<C> = decode(&v, db.path(), "raft snapshot metadata")?;
        // The stored length is checked against the chunks, never trusted for an allocation.
        let mut data = Vec::new();
        let (lo, hi) = self.shared.keys.snapshot_chunk_range();
        for kv in snap.range(lo..hi) {
            data.extend_from_slice(&kv?.1);
        }
        if data.len() as u64 != stored.len {
            return Err(Error::Corruption {
                file: db.path().to_path_buf(),
                offset: data.len() as u64,
                kind: CorruptionKind::Malformed("raft snapshot chunks disagree with its length"),
            });
        }
        Ok(Some(Snapshot { meta: stored.meta, snapshot: Box::new(Cursor::new(data)) }))
    }
}

/// Reads the applied state of a [`StateMachine`] (see [`StateMachine::reader`]).
#[derive(Clone)]
pub struct StateReader {
    db: Arc<Db>,
    keys: Keys,
}

impl StateReader {
    /// The applied value of `key`, or `None`.
    ///
    /// # Errors
    /// As [`Db::get`].
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.db.get(self.keys.data(key.as_ref()))
    }

    /// Every applied key-value pair in key order, read from one engine snapshot.
    ///
    /// # Errors
    /// As [`Db::iter`]'s items.
    pub fn pairs(&self) -> Result<Vec<(Bytes, Bytes)>> {
        let (lo, hi) = self.keys.data_range();
        let n = lo.len();
        self.db.range(lo..hi).map(|kv| kv.map(|(k, v)| (k.slice(n..), v))).collect()
    }
}

/// Builds snapshots from an engine snapshot while the state machine keeps applying
/// (openraft's `RaftSnapshotBuilder`).
pub struct SnapshotBuilder<C> {
    shared: Arc<Shared>,
    _c: std::marker::PhantomData<fn() -> C>,
}

impl<C> SnapshotBuilder<C>
where
    C: RaftTypeConfig<Entry = Entry<C>, SnapshotData = Cursor<Vec<u8>>>,
{
    fn build(&self) -> Result<Snapshot<C>> {
        let shared = &self.shared;
        let snap = shared.db.snapshot();
        let (last_log_id, last_membership) = shared.read_applied::<C>(&snap)?;
        let mut w = SnapshotWriter::new();
        let (lo, hi) = shared.keys.data_range();
        for kv in snap.range(lo..hi) {
            let (k, v) = kv?;
            w.add(shared.keys.data_key(&k).unwrap_or_default(), &v);
        }
        let data = w.finish();
        let snapshot_id = match &last_log_id {
            Some(l) => format!("{}-{}-{}", l.leader_id, l.index, snap.seqno()),
            None => format!("none-{}", snap.seqno()),
        };
        let meta = SnapshotMeta { last_log_id, last_membership, snapshot_id };
        let mut b = WriteBatch::new();
        let guard = shared.snapshot_lock.lock();
        shared.store_snapshot::<C>(&mut b, &meta, &data)?;
        if !b.is_empty() {
            shared.db.write(b)?;
        }
        drop(guard);
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

impl<C> RaftSnapshotBuilder<C> for SnapshotBuilder<C>
where
    C: RaftTypeConfig<Entry = Entry<C>, SnapshotData = Cursor<Vec<u8>>>,
{
    async fn build_snapshot(&mut self) -> std::result::Result<Snapshot<C>, StorageError<C::NodeId>> {
        self.build().map_err(|e| storage_error::<C>(ErrorSubject::Snapshot(None), ErrorVerb::Write, &e))
    }
}

impl<C> RaftStateMachine<C> for StateMachine<C>
where
    C: RaftTypeConfig<Entry = Entry<C>, SnapshotData = Cursor<Vec<u8>>>,
    C::D: Command<C::R>,
    C::R: Default,
{
    type SnapshotBuilder = SnapshotBuilder<C>;

    async fn applied_state(&mut self) -> std::result::Result<Applied<C>, StorageError<C::NodeId>> {
        Ok(self.applied.clone())
    }

    async fn apply<I>(&mut self, entries: I) -> std::result::Result<Vec<C::R>, StorageError<C::NodeId>>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.apply_entries(entries)
            .map_err(|e| storage_error::<C>(ErrorSubject::StateMachine, ErrorVerb::Write, &e))
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder { shared: self.shared.clone(), _c: std::marker::PhantomData }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> std::result::Result<Box<Cursor<Vec<u8>>>, StorageError<C::NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<C::NodeId, C::Node>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> std::result::Result<(), StorageError<C::NodeId>> {
        self.install(meta, snapshot.get_ref()).map_err(|e| {
            storage_error::<C>(ErrorSubject::Snapshot(Some(meta.signature())), ErrorVerb::Write, &e)
        })
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> std::result::Result<Option<Snapshot<C>>, StorageError<C::NodeId>> {
        self.current_snapshot()
            .map_err(|e| storage_error::<C>(ErrorSubject::Snapshot(None), ErrorVerb::Read, &e))
    }
}
