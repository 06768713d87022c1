//! The write path: group commit, the WAL append, the memtable insert and memtable
//! switches, after LevelDB's `DBImpl::Write`.
//!
//! Each writer queues itself. The writer at the front is the leader: it takes the batches
//! queued behind it (up to a size limit), assigns their sequence numbers, appends them to
//! the WAL as one record, fsyncs once if any member asked for `sync`, inserts them into the
//! memtable and publishes the new visible sequence number. Every member then receives the
//! leader's result (docs/durability.md "Group commit"). Commit point: the WAL append (with
//! `sync`, the fsync) returning `Ok`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;

use super::phases::WritePhase;
use super::stats::StallCause;
use super::{BgMsg, DbInner};
use crate::batch::{insert_numbered, make_expiries_absolute, set_header, WriteBatch, BATCH_HEADER_LEN};
use crate::error::{CorruptionKind, Error, Result};
use crate::filename::wal_path;
use crate::key::SequenceNumber;
use crate::wal::LogWriter;

/// Largest group a leader assembles, in bytes of batch records.
const MAX_GROUP_BYTES: usize = 1 << 20;
/// A small leader batch only gathers this much more, so small writes keep low latency.
const SMALL_BATCH_EXTRA_BYTES: usize = 128 << 10;

/// A writer waiting in the queue.
pub(crate) struct PendingWrite {
    batch: WriteBatch,
    sync: bool,
    /// What must hold for the batch to commit, checked by the leader against the state
    /// every earlier commit left (see [`WriteCheck`]).
    check: Option<WriteCheck>,
    /// Set by the leader that committed this write; read by its owner.
    result: Mutex<Option<Result<Outcome>>>,
}

/// A condition a write commits under, checked in commit order under the `wal` lock, so
/// no other commit can come between the check and the write.
#[derive(Debug)]
pub(crate) enum WriteCheck {
    /// An optimistic transaction's validation: the newest entry of each key (a put, a
    /// tombstone or a covering range tombstone) is at or below the paired sequence number,
    /// the one the transaction read at. Keys in ascending order.
    Unchanged(Vec<(Vec<u8>, SequenceNumber)>),
    /// `compare_and_swap`: the key's current value (an expired one counts as absent) is
    /// `expected` (`None`: absent).
    ValueIs { key: Vec<u8>, expected: Option<Vec<u8>> },
}

/// What happened to a write that passed the queue.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// Committed; the sequence number of the batch's last operation (or the visible one
    /// for an empty batch).
    Committed(SequenceNumber),
    /// `WriteCheck::Unchanged` failed on this key; nothing was written.
    Conflict(Vec<u8>),
    /// `WriteCheck::ValueIs` failed; the key's current value. Nothing was written.
    Mismatch(Option<Bytes>),
}

/// The group-commit leader's state, behind `DbInner::wal`.
pub(crate) struct WalState {
    log: LogWriter,
    /// Last sequence number assigned (equals the visible one between groups).
    last_seqno: SequenceNumber,
}

impl WalState {
    pub(crate) fn new(log: LogWriter, last_seqno: SequenceNumber) -> Self {
        WalState { log, last_seqno }
    }

    /// The last sequence number assigned.
    pub(crate) fn last_seqno(&self) -> SequenceNumber {
        self.last_seqno
    }

    /// Fsyncs the WAL (`Db::sync_wal`).
    pub(crate) fn sync(&mut self) -> std::io::Result<()> {
        self.log.sync()
    }

    /// Starts a sync to run outside the `wal` lock: the handle, the WAL's number and the
    /// length it covers (`LogWriter::begin_sync`); `None` if the file has no handle.
    pub(crate) fn begin_sync(&mut self) -> std::io::Result<Option<PendingSync>> {
        let number = self.log.log_number();
        Ok(self.log.begin_sync()?.map(|(h, len)| (h, number, len)))
    }

    /// Ends a sync begun by `begin_sync` on WAL `number`, covering `len` bytes; nothing if
    /// the WAL was switched meanwhile (the old one was sealed with its own fsync).
    pub(crate) fn end_sync(&mut self, number: u64, len: u64) {
        if self.log.log_number() == number {
            self.log.note_synced(len);
        }
    }

    /// Bytes of the live WAL written (buffered ones included) but not yet synced.
    pub(crate) fn unsynced_bytes(&self) -> u64 {
        self.log.file_size().saturating_sub(self.log.synced_through())
    }

    /// Writes buffered WAL records out (`Db::flush_wal`).
    pub(crate) fn flush(&mut self) -> std::io::Result<()> {
        self.log.flush()
    }

    /// Fsyncs the WAL and appends its seal record (see `LogWriter::seal`).
    pub(crate) fn seal(&mut self) -> std::io::Result<()> {
        self.log.seal()
    }
}

/// A WAL sync begun under the `wal` lock (`WalState::begin_sync`): the handle to fdatasync
/// with, the WAL's number and the file length it covers.
pub(crate) type PendingSync = (Box<dyn crate::fs::SyncHandle>, u64, u64);

/// What the last operation of `b` touching `key` leaves it as: `Some(Some(value))` for a
/// put, `Some(None)` for a deletion or a covering range deletion, `None` if `b` does not
/// touch `key`.
fn last_touch(b: &WriteBatch, key: &[u8]) -> Option<Option<Bytes>> {
    let mut found = None;
    for op in b.iter() {
        match op {
            crate::batch::WriteOp::Put { key: k, value, .. } if k == key => {
                found = Some(Some(Bytes::copy_from_slice(value)));
            }
            crate::batch::WriteOp::Delete { key: k } if k == key => found = Some(None),
            crate::batch::WriteOp::DeleteRange { start, end } if start <= key && key < end => {
                found = Some(None)
            }
            _ => {}
        }
    }
    found
}

/// A copy of `e` for another member of a group: `Error` is not `Clone` because
/// `std::io::Error` is not.
fn duplicate(e: &Error) -> Error {
    match e {
        Error::Io(io) => Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        Error::Poisoned(m) => Error::Poisoned(m.clone()),
        Error::InvalidArgument(m) => Error::InvalidArgument(m),
        other => Error::Poisoned(other.to_string()),
    }
}

impl DbInner {
    pub(super) fn write(&self, batch: WriteBatch, sync: bool) -> Result<SequenceNumber> {
        match self.write_checked(batch, sync, None)? {
            Outcome::Committed(s) => Ok(s),
            // Invariant: only a checked write is refused.
            Outcome::Conflict(_) | Outcome::Mismatch(_) => unreachable!("unchecked write refused"),
        }
    }

    /// Commits `batch` if `check` holds at its turn in the commit order (always without a
    /// check). A checked write leads its commit group, so it is checked against every
    /// earlier commit and against none of its own group.
    pub(super) fn write_checked(
        &self,
        batch: WriteBatch,
        sync: bool,
        check: Option<WriteCheck>,
    ) -> Result<Outcome> {
        batch.validate()?;
        self.check_poisoned()?;
        if batch.is_empty() && check.is_none() {
            return Ok(Outcome::Committed(self.visible_seqno.load(Ordering::Acquire)));
        }
        let called = self.phase_clock();
        let me = Arc::new(PendingWrite { batch, sync, check, result: Mutex::new(None) });
        let mut queue = self.write_queue.lock();
        queue.push_back(Arc::clone(&me));
        loop {
            if let Some(r) = me.result.lock().take() {
                drop(queue);
                self.phase_done(WritePhase::Queue, called);
                self.phase_done(WritePhase::Commit, called);
                return r;
            }
            if queue.front().is_some_and(|f| Arc::ptr_eq(f, &me)) {
                break;
            }
            self.write_queue_cv.wait(&mut queue);
        }
        self.phase_done(WritePhase::Queue, called);
        // Leader: gather the group, leaving it queued so later writers wait behind it.
        let first_size = me.batch.approximate_size();
        let limit = if first_size <= SMALL_BATCH_EXTRA_BYTES {
            first_size + SMALL_BATCH_EXTRA_BYTES
        } else {
            MAX_GROUP_BYTES
        };
        let mut group = vec![Arc::clone(&me)];
        let mut size = first_size;
        for w in queue.iter().skip(1) {
            size += w.batch.approximate_size();
            if size > limit {
                break;
            }
            group.push(Arc::clone(w));
        }
        drop(queue);

        let result = self.write_group(&group);

        let mut queue = self.write_queue.lock();
        let mut mine = None;
        for (i, w) in group.iter().enumerate() {
            let popped = queue.pop_front();
            // Invariant: the group is the front of the queue, in order.
            debug_assert!(popped.is_some_and(|p| Arc::ptr_eq(&p, w)));
            let r = match &result {
                Ok(outcomes) => Ok(outcomes[i].clone()),
                Err(e) => Err(duplicate(e)),
            };
            if i == 0 {
                mine = Some(r);
            } else {
                *w.result.lock() = Some(r);
            }
        }
        self.write_queue_cv.notify_all();
        drop(queue);
        self.phase_done(WritePhase::Commit, called);
        mine.unwrap_or(Err(Error::Closed))
    }

    /// Evaluates `check` against the state every commit so far left, then the batches
    /// `ahead` of it in its own group (they commit first). `None`: the write may commit.
    /// **Requires:** the `wal` lock, so no commit runs meanwhile.
    fn evaluate(&self, check: &WriteCheck, ahead: &[&WriteBatch]) -> Result<Option<Outcome>> {
        let version = self.versions.current();
        let latest = self.visible_seqno.load(Ordering::Acquire);
        let ro = crate::sstable::BlockReadOptions::default();
        match check {
            WriteCheck::Unchanged(keys) => {
                for (key, seen) in keys {
                    // A batch ahead in the group that touches the key commits after the
                    // transaction's view of it, so it is a change too.
                    if ahead.iter().any(|b| last_touch(b, key).is_some()) {
                        return Ok(Some(Outcome::Conflict(key.clone())));
                    }
                    if let Some((s, _)) = version.get_with_seqno(key, latest, ro)? {
                        if s > *seen {
                            return Ok(Some(Outcome::Conflict(key.clone())));
                        }
                    }
                }
                Ok(None)
            }
            WriteCheck::ValueIs { key, expected } => {
                let current = match ahead.iter().rev().find_map(|b| last_touch(b, key)) {
                    Some(v) => v,
                    None => self.unexpired(version.get(key, latest, ro)?).map(|(v, _)| v),
                };
                if current.as_deref() == expected.as_deref() {
                    Ok(None)
                } else {
                    Ok(Some(Outcome::Mismatch(current)))
                }
            }
        }
    }

    /// Commits a group: checks each checked member in order (against the database and
    /// the members accepted before it), and commits the members that pass as one WAL
    /// append. Returns each member's outcome, in group order: its batch's last sequence
    /// number (the visible one for an empty batch), or the failed check.
    fn write_group(&self, group: &[Arc<PendingWrite>]) -> Result<Vec<Outcome>> {
        let mut wal = self.wal.lock();
        self.check_poisoned()?;
        let t = self.phase_clock();
        self.make_room_for_write(&mut wal, false)?;
        self.phase_done(WritePhase::MakeRoom, t);
        let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(group.len());
        let mut ahead: Vec<&WriteBatch> = Vec::new();
        for w in group {
            let refused = match &w.check {
                Some(c) => self.evaluate(c, &ahead)?,
                None => None,
            };
            if refused.is_none() {
                ahead.push(&w.batch);
            }
            outcomes.push(refused);
        }
        let members: Vec<&Arc<PendingWrite>> =
            group.iter().zip(&outcomes).filter(|(_, o)| o.is_none()).map(|(w, _)| w).collect();
        let sync = members.iter().any(|w| w.sync);
        let total: usize = members.iter().map(|w| w.batch.len()).sum();
        // Each member's batch is its own WAL record (header + records), so readers of the
        // log see batch boundaries; the records go out in one write.
        let mut rep = Vec::with_capacity(
            members.iter().map(|w| BATCH_HEADER_LEN + w.batch.records().len()).sum::<usize>(),
        );
        let mut member_last = Vec::with_capacity(members.len());
        // Where each member's records start in the group rep: its operations' byte
        // ranges are shifted there, so the memtable insert needs no decode.
        let mut member_base = Vec::with_capacity(members.len());
        let mut bounds = Vec::with_capacity(members.len());
        let mut seq = wal.last_seqno;
        for w in &members {
            let start = rep.len();
            rep.resize(start + BATCH_HEADER_LEN, 0);
            set_header(&mut rep[start..], seq + 1, w.batch.header_count());
            member_base.push(rep.len());
            rep.extend_from_slice(w.batch.records());
            seq += w.batch.seqnos_used();
            member_last.push(seq);
            bounds.push((start, rep.len()));
        }
        // Every member's outcome, in group order: a refusal, or its last sequence number.
        let finish = |member_last: &[SequenceNumber]| -> Vec<Outcome> {
            let mut lasts = member_last.iter();
            outcomes
                .iter()
                .map(|o| match o {
                    Some(refused) => refused.clone(),
                    None => Outcome::Committed(lasts.next().copied().unwrap_or_default()),
                })
                .collect()
        };
        if total == 0 {
            // Only checked, empty batches: nothing to log.
            return Ok(finish(&member_last));
        }
        // TTLs become absolute expiry times at commit, before the WAL sees them.
        if members.iter().any(|w| w.batch.relative_ttl_offsets(0).next().is_some()) {
            let now = self.opts.clock.now_millis();
            let offsets: Vec<usize> = members
                .iter()
                .zip(&member_base)
                .flat_map(|(w, &base)| w.batch.relative_ttl_offsets(base))
                .collect();
            make_expiries_absolute(&mut rep, offsets, now);
        }
        let records: Vec<&[u8]> =
            bounds.iter().filter(|(a, b)| b - a > BATCH_HEADER_LEN).map(|&(a, b)| &rep[a..b]).collect();
        let t = self.phase_clock();
        if let Err(e) = wal.log.add_records(&records) {
            return Err(self.poison(e.into()));
        }
        let t = self.phase_done(WritePhase::WalAppend, t);
        if sync && !cfg!(feature = "bug-skip-wal-sync") {
            if let Err(e) = wal.log.sync() {
                return Err(self.poison(e.into()));
            }
            self.phase_done(WritePhase::WalSync, t);
        } else {
            self.maybe_request_writeback(&wal);
        }
        let user_bytes: u64 = members.iter().map(|w| w.batch.data_bytes()).sum();
        self.stats.record_write(user_bytes, rep.len() as u64, total as u64, sync);
        // Only now, after the WAL holds the group, may it reach the memtable
        // (docs/durability.md INV-17).
        let rep = Bytes::from(rep);
        let mem = Arc::clone(&self.versions.current().mem);
        let firsts = member_last.iter().zip(&members);
        let ops = firsts.zip(&member_base).flat_map(|((&last, w), &base)| {
            let first = last + 1 - w.batch.seqnos_used();
            let shared = w.batch.has_one_seqno();
            w.batch
                .ops_at(base)
                .enumerate()
                .map(move |(i, op)| (op, if shared { first } else { first + i as u64 }))
        });
        let t = self.phase_clock();
        insert_numbered(&mem, &rep, ops);
        self.phase_done(WritePhase::Memtable, t);
        if self.has_watchers.load(Ordering::Acquire) {
            let lasts = &member_last;
            let batches = members
                .iter()
                .zip(&bounds)
                .zip(lasts)
                .filter(|((w, _), _)| !w.batch.is_empty())
                .map(|((w, &(a, b)), &last)| {
                    let ops = w.batch.ops_at(BATCH_HEADER_LEN).collect();
                    (last, WriteBatch::from_rep(rep[a..b].to_vec(), ops, w.batch.has_one_seqno()))
                })
                .collect();
            self.publish(Arc::new(batches));
        }
        wal.last_seqno = seq;
        self.visible_seqno.store(seq, Ordering::Release);
        Ok(finish(&member_last))
    }

    /// The time now if the write phases are timed (`Options::write_phase_histograms`).
    fn phase_clock(&self) -> Option<Instant> {
        self.phases.as_ref().map(|_| Instant::now())
    }

    /// Records `phase` as lasting from `since` (from [`DbInner::phase_clock`]) until now,
    /// and returns now; nothing if the phases are not timed.
    fn phase_done(&self, phase: WritePhase, since: Option<Instant>) -> Option<Instant> {
        let (p, since) = (self.phases.as_ref()?, since?);
        let now = Instant::now();
        p.record(phase, now - since);
        Some(now)
    }

    /// Ensures the memtable has room: delays or stops writes while L0 is at its slowdown or
    /// stop trigger, switches to a new memtable and WAL when it is full (or, with `force`,
    /// when it is not empty), and stalls while the immutable memtables are at their limit.
    /// **Requires:** the `wal` lock (the guard proves it).
    pub(super) fn make_room_for_write(&self, wal: &mut WalState, force: bool) -> Result<()> {
        let mut slowed = false;
        loop {
            let v = self.versions.current();
            let l0 = v.levels[0].len();
            if !force && !slowed && l0 >= self.opts.level0_slowdown_writes_trigger {
                // Give compaction some room, once per commit group, as LevelDB does once
                // per write: a steady delay is kinder than a long stop later.
                drop(v);
                log::debug!("write slowed down: L0 holds {l0} tables (slowdown trigger)");
                let started = Instant::now();
                std::thread::sleep(std::time::Duration::from_millis(1));
                self.stats.record_stall(StallCause::L0Slowdown, started.elapsed());
                slowed = true;
                continue;
            }
            if !force && l0 >= self.opts.level0_stop_writes_trigger {
                drop(v);
                let stop = self.opts.level0_stop_writes_trigger;
                self.stall_until(StallCause::L0Stop, &|v| v.levels[0].len() < stop)?;
                continue;
            }
            let full = v.mem.approximate_size() >= self.opts.write_buffer_size;
            if !(full || force && !v.mem.is_empty()) {
                return Ok(());
            }
            if v.imm.len() + 1 >= self.opts.max_write_buffer_number {
                drop(v);
                let max = self.opts.max_write_buffer_number;
                self.stall_until(StallCause::Memtables, &|v| v.imm.len() + 1 < max)?;
                continue;
            }
            // R6: the old WAL is durable before a newer one can hold acknowledged data; its
            // seal record proves that to a reader that finds damage in it.
            wal.log.seal().map_err(|e| self.poison(e.into()))?;
            let sealed = (wal.log.log_number(), wal.log.file_size());
            let number = self.versions.new_file_number();
            let path = wal_path(&self.dir, number);
            // Invariant: file numbers are never reused.
            if self.fs.exists(&path) {
                return Err(self.poison(Error::corruption(
                    &path,
                    0,
                    CorruptionKind::Malformed("file number reused"),
                )));
            }
            let file = self.fs.create(&path).map_err(|e| self.poison(e.into()))?;
            // R2: the new WAL's directory entry is durable before a write is acked in it.
            self.fs.sync_dir(&self.dir).map_err(|e| self.poison(e.into()))?;
            // The MANIFEST tracks the sealed WAL's size and the new WAL, so open can tell a
            // missing or cut WAL from one that never held data.
            self.versions.log_wal_switch(sealed, number).map_err(|e| self.poison(e))?;
            wal.log = LogWriter::new(file, number);
            wal.log.set_buffered(self.opts.manual_wal_flush);
            wal.log.set_preallocation(self.opts.wal_prealloc_chunk());
            let old = Arc::clone(&v.mem);
            self.versions.switch_memtable(Arc::new(old.successor(number, self.opts.memtable_filter_bytes())));
            if self.opts.inline_background {
                // The deterministic schedule: flush and compact right here.
                self.flush_one(&old);
                self.compact_pending();
                self.check_poisoned()?;
            } else {
                // The channel is FIFO, so memtables reach the flush thread oldest first.
                let _ = self.flush_tx.send(BgMsg::Flush(old));
            }
            return Ok(());
        }
    }

    /// Waits (a write stall) until `ready` holds for the current Version, woken by
    /// background progress. Writes never fail because of a stall, only if the database is
    /// poisoned meanwhile.
    fn stall_until(&self, cause: StallCause, ready: &dyn Fn(&crate::version::Version) -> bool) -> Result<()> {
        let started = Instant::now();
        let why = match cause {
            StallCause::Memtables => "all memtables are full, waiting for a flush",
            StallCause::L0Slowdown => "L0 reached level0_slowdown_writes_trigger",
            StallCause::L0Stop => "L0 reached level0_stop_writes_trigger, waiting for compaction",
        };
        log::info!("write stall: {why}");
        let mut g = self.bg_mutex.lock();
        loop {
            self.check_poisoned()?;
            if ready(&self.versions.current()) {
                break;
            }
            self.bg_cv.wait(&mut g);
        }
        drop(g);
        self.stats.record_stall(cause, started.elapsed());
        Ok(())
    }

    /// Switches the memtable if it holds data and waits until every immutable memtable
    /// that exists then is flushed.
    pub(super) fn flush_and_wait(&self) -> Result<()> {
        {
            let mut wal = self.wal.lock();
            self.check_poisoned()?;
            self.make_room_for_write(&mut wal, true)?;
        }
        let pending = self.versions.current().imm.clone();
        let mut g = self.bg_mutex.lock();
        loop {
            self.check_poisoned()?;
            let v = self.versions.current();
            if !pending.iter().any(|p| v.imm.iter().any(|m| Arc::ptr_eq(m, p))) {
                return Ok(());
            }
            self.bg_cv.wait(&mut g);
        }
    }
}
