//! The Raft log store: openraft's `RaftLogStorage` and `RaftLogReader` on shaledb.
//!
//! Appends are written without `sync`; the syncer thread makes them durable with one
//! [`Db::sync_wal`] per group of appends queued meanwhile, then completes their
//! `LogFlushed` callbacks in order (module docs, "Durability").

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    Entry, ErrorSubject, ErrorVerb, LogId, LogState, OptionalSend, RaftLogReader, RaftTypeConfig,
    StorageError, Vote,
};

use super::keys::{decode, encode, Keys};
use super::storage_error;
use crate::batch::WriteBatch;
use crate::db::Db;
use crate::error::{Error, Result};

/// Reads log entries; a cheap clone of the store's handle (openraft's `LogReader`).
pub struct LogReader<C> {
    db: Arc<Db>,
    keys: Keys,
    _c: std::marker::PhantomData<fn() -> C>,
}

impl<C> Clone for LogReader<C> {
    fn clone(&self) -> Self {
        LogReader { db: self.db.clone(), keys: self.keys.clone(), _c: std::marker::PhantomData }
    }
}

impl<C> LogReader<C>
where
    C: RaftTypeConfig<Entry = Entry<C>>,
{
    /// The entries with indexes in `range`, ascending: one range scan.
    fn entries(&self, range: impl RangeBounds<u64>) -> Result<Vec<Entry<C>>> {
        let lo = match range.start_bound() {
            Bound::Included(&i) => Some(i),
            Bound::Excluded(&i) => i.checked_add(1),
            Bound::Unbounded => Some(0),
        };
        let Some(lo) = lo else { return Ok(Vec::new()) };
        let (_, log_end) = self.keys.log_range();
        let hi = match range.end_bound() {
            Bound::Included(&i) => i.checked_add(1).map_or(log_end, |e| self.keys.log(e)),
            Bound::Excluded(&i) => self.keys.log(i),
            Bound::Unbounded => log_end,
        };
        let lo = self.keys.log(lo);
        if lo >= hi {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for kv in self.db.range(lo..hi) {
            let (_, v) = kv?;
            out.push(decode(&v, self.db.path(), "raft log entry")?);
        }
        Ok(out)
    }

    /// The newest entry's log id, by one reverse seek.
    fn last_log_id(&self) -> Result<Option<LogId<C::NodeId>>> {
        let (lo, hi) = self.keys.log_range();
        match self.db.range(lo..hi).next_back() {
            Some(kv) => {
                let (_, v) = kv?;
                let e: Entry<C> = decode(&v, self.db.path(), "raft log entry")?;
                Ok(Some(e.log_id))
            }
            None => Ok(None),
        }
    }
}

impl<C> RaftLogReader<C> for LogReader<C>
where
    C: RaftTypeConfig<Entry = Entry<C>>,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> std::result::Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        self.entries(range).map_err(|e| storage_error::<C>(ErrorSubject::Logs, ErrorVerb::Read, &e))
    }
}

/// One write waiting for the syncer: its callback, and for an append its entry count
/// (`None` for the vote or the committed log id).
type Pending = (Box<dyn FnOnce(io::Result<()>) + Send>, Option<u64>);

/// How well appends shared fsyncs, since the store opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// `sync_wal` calls the syncer made.
    pub syncs: u64,
    /// Appends (openraft `append` calls) those syncs completed.
    pub appends: u64,
    /// Vote and committed-log-id writes those syncs completed (they share the fsyncs).
    pub metadata: u64,
    /// Log entries those appends carried.
    pub entries: u64,
}

/// Reads a [`LogStore`]'s fsync counters ([`LogStore::sync_counter`]).
#[derive(Clone)]
pub struct SyncCounter(Arc<Counters>);

impl SyncCounter {
    /// The counters now: entries per fsync is `entries / syncs`.
    pub fn stats(&self) -> SyncStats {
        SyncStats {
            syncs: self.0.syncs.load(Ordering::Relaxed),
            appends: self.0.appends.load(Ordering::Relaxed),
            metadata: self.0.metadata.load(Ordering::Relaxed),
            entries: self.0.entries.load(Ordering::Relaxed),
        }
    }
}

#[derive(Default)]
struct Counters {
    syncs: AtomicU64,
    appends: AtomicU64,
    metadata: AtomicU64,
    entries: AtomicU64,
}

/// The Raft log store (openraft's `RaftLogStorage`). Created by [`super::open`].
pub struct LogStore<C: RaftTypeConfig> {
    reader: LogReader<C>,
    last_purged: Option<LogId<C::NodeId>>,
    last_log: Option<LogId<C::NodeId>>,
    syncer: Option<Sender<Pending>>,
    syncer_thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl<C> LogStore<C>
where
    C: RaftTypeConfig<Entry = Entry<C>>,
{
    pub(super) fn open(db: Arc<Db>, keys: Keys) -> Result<LogStore<C>> {
        let reader = LogReader { db: db.clone(), keys, _c: std::marker::PhantomData };
        let last_purged = match db.get(reader.keys.purged())? {
            Some(v) => decode(&v, db.path(), "raft last purged log id")?,
            None => None,
        };
        let last_log = reader.last_log_id()?.or_else(|| last_purged.clone());
        let counters = Arc::new(Counters::default());
        let (tx, rx) = crossbeam_channel::unbounded::<Pending>();
        let thread = {
            let counters = counters.clone();
            std::thread::Builder::new()
                .name("shaledb-raft-sync".into())
                .spawn(move || sync_loop(&db, &rx, &counters))?
        };
        Ok(LogStore {
            reader,
            last_purged,
            last_log,
            syncer: Some(tx),
            syncer_thread: Some(thread),
            counters,
        })
    }

    /// A handle on this store's fsync counters that stays valid after the store moves
    /// into openraft.
    pub fn sync_counter(&self) -> SyncCounter {
        SyncCounter(self.counters.clone())
    }

    fn db(&self) -> &Db {
        &self.reader.db
    }

    fn keys(&self) -> &Keys {
        &self.reader.keys
    }

    /// Writes `key` = `value` and returns once it is durable: the write goes to the WAL
    /// without `sync` and the syncer's next fsync, shared with the appends queued
    /// meanwhile, makes it durable. The task waits without blocking its thread.
    async fn put_durable(&self, key: Vec<u8>, value: Vec<u8>) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put(key, value);
        self.db().write(b)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let done: Box<dyn FnOnce(io::Result<()>) + Send> = Box::new(move |r| {
            let _ = tx.send(r);
        });
        self.syncer.as_ref().ok_or(Error::Closed)?.send((done, None)).map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?.map_err(Error::Io)
    }

    fn read<T: serde::de::DeserializeOwned>(&self, key: Vec<u8>, what: &'static str) -> Result<Option<T>> {
        match self.db().get(key)? {
            Some(v) => decode(&v, self.db().path(), what),
            None => Ok(None),
        }
    }
}

/// The syncer thread: waits for appends, syncs the WAL once for all that queued
/// meanwhile, completes their callbacks in order. Ends when the store is dropped.
fn sync_loop(db: &Db, rx: &Receiver<Pending>, counters: &Counters) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        group.extend(rx.try_iter());
        let result = db.sync_wal();
        counters.syncs.fetch_add(1, Ordering::Relaxed);
        for (done, entries) in group {
            match entries {
                Some(n) => {
                    counters.appends.fetch_add(1, Ordering::Relaxed);
                    counters.entries.fetch_add(n, Ordering::Relaxed);
                }
                None => {
                    counters.metadata.fetch_add(1, Ordering::Relaxed);
                }
            }
            done(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(io::Error::other(e.to_string())),
            });
        }
    }
}

impl<C: RaftTypeConfig> Drop for LogStore<C> {
    fn drop(&mut self) {
        self.syncer.take();
        if let Some(t) = self.syncer_thread.take() {
            if t.join().is_err() {
                log::error!("the raft log syncer thread panicked");
            }
        }
    }
}

impl<C> RaftLogReader<C> for LogStore<C>
where
    C: RaftTypeConfig<Entry = Entry<C>>,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> std::result::Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        self.reader.try_get_log_entries(range).await
    }
}

impl<C> RaftLogStorage<C> for LogStore<C>
where
    C: RaftTypeConfig<Entry = Entry<C>>,
{
    type LogReader = LogReader<C>;

    async fn get_log_state(&mut self) -> std::result::Result<LogState<C>, StorageError<C::NodeId>> {
        Ok(LogState { last_purged_log_id: self.last_purged.clone(), last_log_id: self.last_log.clone() })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.reader.clone()
    }

    async fn save_vote(
        &mut self,
        vote: &Vote<C::NodeId>,
    ) -> std::result::Result<(), StorageError<C::NodeId>> {
        self.put_durable(self.keys().vote(), encode(vote))
            .await
            .map_err(|e| storage_error::<C>(ErrorSubject::Vote, ErrorVerb::Write, &e))
    }

    async fn read_vote(&mut self) -> std::result::Result<Option<Vote<C::NodeId>>, StorageError<C::NodeId>> {
        self.read(self.keys().vote(), "raft vote")
            .map_err(|e| storage_error::<C>(ErrorSubject::Vote, ErrorVerb::Read, &e))
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<C::NodeId>>,
    ) -> std::result::Result<(), StorageError<C::NodeId>> {
        self.put_durable(self.keys().committed(), encode(&committed))
            .await
            .map_err(|e| storage_error::<C>(ErrorSubject::Store, ErrorVerb::Write, &e))
    }

    async fn read_committed(
        &mut self,
    ) -> std::result::Result<Option<LogId<C::NodeId>>, StorageError<C::NodeId>> {
        Ok(self
            .read::<Option<LogId<C::NodeId>>>(self.keys().committed(), "raft committed log id")
            .map_err(|e| storage_error::<C>(ErrorSubject::Store, ErrorVerb::Read, &e))?
            .flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<C>,
    ) -> std::result::Result<(), StorageError<C::NodeId>>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = WriteBatch::new();
        let mut last = None;
        let mut n = 0u64;
        for e in entries {
            batch.put(self.keys().log(e.log_id.index), encode(&e));
            last = Some(e.log_id);
            n += 1;
        }
        let written = if n == 0 { Ok(()) } else { self.db().write(batch).map(|_| ()) };
        if let Err(e) = written {
            return Err(storage_error::<C>(ErrorSubject::Logs, ErrorVerb::Write, &e));
        }
        if last.is_some() {
            self.last_log = last;
        }
        let done: Box<dyn FnOnce(io::Result<()>) + Send> = Box::new(move |r| callback.log_io_completed(r));
        match &self.syncer {
            Some(tx) => tx
                .send((done, Some(n)))
                .map_err(|_| storage_error::<C>(ErrorSubject::Logs, ErrorVerb::Write, &Error::Closed)),
            None => Err(storage_error::<C>(ErrorSubject::Logs, ErrorVerb::Write, &Error::Closed)),
        }
    }

    async fn truncate(
        &mut self,
        log_id: LogId<C::NodeId>,
    ) -> std::result::Result<(), StorageError<C::NodeId>> {
        let err = |e: &Error| storage_error::<C>(ErrorSubject::Logs, ErrorVerb::Delete, e);
        let (_, end) = self.keys().log_range();
        self.db().delete_range(self.keys().log(log_id.index), end).map_err(|e| err(&e))?;
        // The new last entry is the one before `log_id`, or the purged one.
        let before = match log_id.index.checked_sub(1) {
            Some(i) if self.last_purged.as_ref().is_none_or(|p| i > p.index) => {
                self.reader.entries(i..=i).map_err(|e| err(&e))?.pop().map(|e| e.log_id)
            }
            _ => None,
        };
        self.last_log = before.or_else(|| self.last_purged.clone());
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<C::NodeId>) -> std::result::Result<(), StorageError<C::NodeId>> {
        let (start, end) = self.keys().log_range();
        let upto = log_id.index.checked_add(1).map_or(end, |i| self.keys().log(i));
        let mut b = WriteBatch::new();
        b.delete_range(start, upto);
        b.put(self.keys().purged(), encode(&Some(log_id.clone())));
        self.db().write(b).map_err(|e| storage_error::<C>(ErrorSubject::Logs, ErrorVerb::Delete, &e))?;
        if self.last_log.as_ref().is_none_or(|l| l.index < log_id.index) {
            self.last_log = Some(log_id.clone());
        }
        self.last_purged = Some(log_id);
        Ok(())
    }
}
