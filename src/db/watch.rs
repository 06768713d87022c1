//! Watches (`Db::watch`): a live subscription to the changes of a key range, starting
//! with the history after a sequence number (read from the WALs, as the change feed does)
//! and continuing with every commit, with no gap and no duplicate (DESIGN.md §5.16).
//!
//! Registration happens under the `wal` lock at sequence number `L`: the history is the
//! feed of `(since, L]`, and every commit after `L` is sent to the watcher by the group
//! leader, still under the `wal` lock, in commit order. The leader never blocks on a
//! watcher: it uses `try_send` on a bounded channel, and a watcher whose channel is full is
//! dropped from the registry and marked lagged. Its owner then reads what was queued and
//! gets [`Error::Lagged`] with the sequence number to resume from (sled's subscribers, by
//! contrast, block writers).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};

use super::changes::ChangeFeed;
use super::read::{in_bounds, own_bounds};
use super::{Db, DbInner};
use crate::batch::{Expiry, WriteBatch, WriteOp};
use crate::error::{Error, Result};
use crate::key::SequenceNumber;
use crate::options::Clock;

/// Batches a watcher may have queued before it counts as lagging (`Db::watch`).
pub const DEFAULT_WATCH_BUFFER: usize = 4096;

/// The longest a blocked `Watcher::recv` sleeps before re-reading the clock for due expiry
/// events (the database's clock may be a manual one that no wait advances).
const EXPIRY_POLL: Duration = Duration::from_millis(100);

/// One change a [`Watcher`] reports. `seqno` is the operation's own sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// `key` was set to `value`, expiring at `expires_at` if given.
    Put {
        /// The put's sequence number.
        seqno: SequenceNumber,
        /// The key.
        key: Bytes,
        /// The value.
        value: Bytes,
        /// The expiry time, for a put with a TTL.
        expires_at: Option<SystemTime>,
    },
    /// `key` was deleted.
    Delete {
        /// The deletion's sequence number.
        seqno: SequenceNumber,
        /// The key.
        key: Bytes,
    },
    /// Every key in `[start, end)` was deleted (the whole range, which overlaps the
    /// watched one).
    DeleteRange {
        /// The range deletion's sequence number.
        seqno: SequenceNumber,
        /// The first key deleted.
        start: Bytes,
        /// The first key after the range.
        end: Bytes,
    },
    /// The value a put with a TTL wrote expired (by the database's clock) and nothing
    /// replaced it first. Reported for puts this watcher reported; `seqno` is the put's.
    Expired {
        /// The sequence number of the put that expired.
        seqno: SequenceNumber,
        /// The key.
        key: Bytes,
    },
}

impl WatchEvent {
    /// The event's sequence number (for `Expired`, the put's).
    pub fn seqno(&self) -> SequenceNumber {
        match self {
            WatchEvent::Put { seqno, .. }
            | WatchEvent::Delete { seqno, .. }
            | WatchEvent::DeleteRange { seqno, .. }
            | WatchEvent::Expired { seqno, .. } => *seqno,
        }
    }
}

/// The batches of one commit group, as the leader sends them to each watcher:
/// `(last sequence number, batch)` per member.
pub(super) type GroupMessage = Arc<Vec<(SequenceNumber, WriteBatch)>>;

/// A registered watcher, as the write path sees it.
pub(super) struct WatchSub {
    tx: Sender<GroupMessage>,
    lagged: Arc<AtomicBool>,
}

impl DbInner {
    /// Sends a committed group to every watcher; drops those that lag or are gone.
    /// **Requires:** the `wal` lock (commit order).
    pub(super) fn publish(&self, group: GroupMessage) {
        let mut subs = self.watchers.lock();
        subs.retain(|s| match s.tx.try_send(Arc::clone(&group)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                s.lagged.store(true, Ordering::Release);
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        });
        self.has_watchers.store(!subs.is_empty(), Ordering::Release);
    }

    /// Disconnects every watcher (at close).
    pub(super) fn drop_watchers(&self) {
        self.watchers.lock().clear();
        self.has_watchers.store(false, Ordering::Release);
    }
}

impl Db {
    /// Watches the keys in `range`: first every change committed after `since` (from
    /// the WALs, as [`Db::changes_since`] reads them), then every new commit, in commit
    /// order, with no gap and no duplicate across memtable switches and WAL rotation; see
    /// [`Watcher`] and [`WatchEvent`]. Uses a buffer of [`DEFAULT_WATCH_BUFFER`] batches.
    ///
    /// A watcher that cannot start yields its error as its first item (and
    /// [`Watcher::startup_error`] shows it): [`Error::Compacted`] if the WALs holding
    /// changes right after `since` are no longer kept (see `Options::wal_retention`),
    /// [`Error::InvalidArgument`] for a `since` above the latest, [`Error::Io`],
    /// [`Error::Closed`].
    pub fn watch<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R, since: SequenceNumber) -> Watcher {
        self.watch_with_buffer(range, since, DEFAULT_WATCH_BUFFER)
    }

    /// [`Db::watch`] with a buffer of `buffer` commit groups (at least 1): a watcher whose
    /// owner leaves that many queued is disconnected with [`Error::Lagged`].
    pub fn watch_with_buffer<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        range: R,
        since: SequenceNumber,
        buffer: usize,
    ) -> Watcher {
        let (start, end) = own_bounds(&range);
        self.start_watcher(start, end, since, buffer).unwrap_or_else(|e| Watcher::failed(e, since))
    }

    /// Registers a watcher of `[start, end]` bounds from `since`.
    ///
    /// # Errors
    /// As [`Db::watch`] describes.
    fn start_watcher(
        &self,
        start: Bound<Bytes>,
        end: Bound<Bytes>,
        since: SequenceNumber,
        buffer: usize,
    ) -> Result<Watcher> {
        self.check_open()?;
        let (tx, rx) = crossbeam_channel::bounded(buffer.max(1));
        let lagged = Arc::new(AtomicBool::new(false));
        let upto = {
            // No commit runs while the watcher registers: history is `(since, upto]`,
            // the channel gets everything after.
            let mut wal = self.inner.wal.lock();
            if !self.inner.read_only {
                wal.flush().map_err(|e| self.inner.poison(e.into()))?;
            }
            let upto = wal.last_seqno();
            if since > upto {
                return Err(Error::InvalidArgument("watch: sequence number above the latest"));
            }
            let mut subs = self.inner.watchers.lock();
            subs.push(WatchSub { tx, lagged: Arc::clone(&lagged) });
            self.inner.has_watchers.store(true, Ordering::Release);
            upto
        };
        let mut history = ChangeFeed::new(&self.inner, since, upto);
        // A gap right after `since` is the caller's error now, not an event later.
        let mut first = None;
        if since < upto {
            match history.next() {
                Some(Err(e)) => return Err(e),
                Some(Ok(b)) => first = Some(b),
                None => {}
            }
        }
        let mut w = Watcher::idle(rx, start, end, Arc::clone(&self.inner.opts.clock), since);
        (w.history, w.first, w.lagged) = (Some(history), first, lagged);
        Ok(w)
    }
}

/// A live subscription to a key range (`Db::watch`): [`Watcher::recv`] blocks for the next
/// [`WatchEvent`], [`Watcher::try_recv`] does not, and the watcher is an `Iterator` of
/// `Result<WatchEvent>` that ends after an error. The errors: [`Error::Lagged`] when the
/// owner fell more than the buffer behind (resume with `Db::watch(range, resume_from)`),
/// [`Error::Closed`] when the database closed, and the change feed's errors while the
/// history is read. Dropping the watcher unsubscribes it.
pub struct Watcher {
    /// Why the watcher could not start: yielded first, then the watcher ends.
    startup: Option<Error>,
    history: Option<ChangeFeed>,
    /// The history's first batch, read ahead at registration.
    first: Option<(SequenceNumber, WriteBatch)>,
    rx: Receiver<GroupMessage>,
    lagged: Arc<AtomicBool>,
    start: Bound<Bytes>,
    end: Bound<Bytes>,
    clock: Arc<dyn Clock>,
    /// Events of the batch being delivered.
    events: VecDeque<WatchEvent>,
    /// The last sequence number of the last batch whose events were all delivered.
    delivered: SequenceNumber,
    /// The batch whose events are in `events`: becomes `delivered` once they are out.
    batch_done: Option<SequenceNumber>,
    /// Pending expiries: (expiry in Unix ms, key, put's seqno).
    expiries: BTreeSet<(u64, Bytes, SequenceNumber)>,
    /// Key -> its pending expiry entry.
    expiry_of: HashMap<Bytes, (u64, SequenceNumber)>,
    finished: bool,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("delivered", &self.delivered)
            .field("queued_events", &self.events.len())
            .field("pending_expiries", &self.expiries.len())
            .finish()
    }
}

/// What waiting for the next live batch gave.
enum Next {
    Batch(SequenceNumber, WriteBatch),
    Group(GroupMessage),
    Timeout,
    Err(Error),
}

impl Watcher {
    /// A watcher that could not start: it yields `e`, then ends.
    fn failed(e: Error, since: SequenceNumber) -> Watcher {
        let (_, rx) = crossbeam_channel::bounded(1);
        let mut w = Watcher::idle(
            rx,
            Bound::Unbounded,
            Bound::Unbounded,
            Arc::new(crate::options::SystemClock),
            since,
        );
        w.startup = Some(e);
        w
    }

    /// A watcher of `[start, end]` on `rx`, with nothing read and no history yet.
    fn idle(
        rx: Receiver<GroupMessage>,
        start: Bound<Bytes>,
        end: Bound<Bytes>,
        clock: Arc<dyn Clock>,
        since: SequenceNumber,
    ) -> Watcher {
        Watcher {
            startup: None,
            history: None,
            first: None,
            rx,
            lagged: Arc::new(AtomicBool::new(false)),
            start,
            end,
            clock,
            events: VecDeque::new(),
            delivered: since,
            batch_done: None,
            expiries: BTreeSet::new(),
            expiry_of: HashMap::new(),
            finished: false,
        }
    }

    /// The error that kept this watcher from starting (`Compacted`, `InvalidArgument`,
    /// `Io`, `Closed`), if any; the first `recv` returns it.
    pub fn startup_error(&self) -> Option<&Error> {
        self.startup.as_ref()
    }

    /// The next event, blocking until there is one.
    ///
    /// # Errors
    /// See [`Watcher`].
    pub fn recv(&mut self) -> Result<WatchEvent> {
        loop {
            if let Some(r) = self.poll(Some(EXPIRY_POLL)) {
                return r;
            }
        }
    }

    /// The next event if one is ready now (a queued change or a due expiry).
    pub fn try_recv(&mut self) -> Option<Result<WatchEvent>> {
        self.poll(None)
    }

    /// The next event, waiting at most `timeout`; `None` if none came.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Result<WatchEvent>> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let r = self.poll(Some(left.min(EXPIRY_POLL)));
            if r.is_some() || left.is_zero() {
                return r;
            }
        }
    }

    /// The last sequence number of the last batch whose events were all delivered: the
    /// `since` to resume from with a new watcher.
    pub fn resume_point(&self) -> SequenceNumber {
        self.delivered
    }

    /// One step: a queued event, a due expiry, or the next batch's first event (waiting
    /// up to `wait` for a live batch; `None`: not at all). `None` if nothing came.
    fn poll(&mut self, wait: Option<Duration>) -> Option<Result<WatchEvent>> {
        if let Some(e) = self.startup.take() {
            self.finished = true;
            return Some(Err(e));
        }
        if self.finished {
            return Some(Err(Error::Closed));
        }
        loop {
            if let Some(e) = self.due_expiry() {
                return Some(Ok(e));
            }
            if let Some(e) = self.events.pop_front() {
                if self.events.is_empty() {
                    if let Some(s) = self.batch_done.take() {
                        self.delivered = s;
                    }
                }
                return Some(Ok(e));
            }
            if let Some(s) = self.batch_done.take() {
                self.delivered = s;
            }
            let wait = wait.map(|w| self.until_next_expiry().map_or(w, |d| d.min(w)));
            match self.next_batch(wait) {
                Next::Batch(last, b) => self.queue(last, &b),
                Next::Group(g) => {
                    for (last, b) in g.iter() {
                        self.queue(*last, b);
                    }
                }
                Next::Timeout => return None,
                Next::Err(e) => {
                    self.finished = true;
                    return Some(Err(e));
                }
            }
        }
    }

    fn next_batch(&mut self, wait: Option<Duration>) -> Next {
        if let Some((s, b)) = self.first.take() {
            return Next::Batch(s, b);
        }
        if let Some(h) = self.history.as_mut() {
            match h.next() {
                Some(Ok((s, b))) => return Next::Batch(s, b),
                Some(Err(e)) => return Next::Err(e),
                None => self.history = None,
            }
        }
        let r = match wait {
            None => self.rx.try_recv().map_err(|e| e.is_disconnected()),
            Some(w) => self.rx.recv_timeout(w).map_err(|e| e == RecvTimeoutError::Disconnected),
        };
        match r {
            Ok(g) => Next::Group(g),
            Err(false) => Next::Timeout,
            Err(true) if self.lagged.load(Ordering::Acquire) => {
                Next::Err(Error::Lagged { resume_from: self.delivered })
            }
            Err(true) => Next::Err(Error::Closed),
        }
    }

    fn in_range(&self, k: &[u8]) -> bool {
        in_bounds(k, &self.start, &self.end)
    }

    /// True if `[start, end)` shares a key with the watched range.
    fn overlaps(&self, start: &[u8], end: &[u8]) -> bool {
        if start >= end {
            return false;
        }
        let below_end = match &self.end {
            Bound::Included(e) => start <= e.as_ref(),
            Bound::Excluded(e) => start < e.as_ref(),
            Bound::Unbounded => true,
        };
        // Some key of [start, end) is past the start bound: the smallest candidate,
        // max(start, the bound's first key), is below `end`.
        let above_start = match &self.start {
            Bound::Included(s) => end > s.as_ref(),
            Bound::Excluded(s) => {
                let after: Vec<u8> = [s.as_ref(), &[0]].concat();
                start.max(after.as_slice()) < end
            }
            Bound::Unbounded => true,
        };
        below_end && above_start
    }

    /// Turns a batch into events for the watched range and tracks expiries.
    fn queue(&mut self, last: SequenceNumber, b: &WriteBatch) {
        let first = last + 1 - b.seqnos_used();
        for (i, op) in b.iter().enumerate() {
            let seqno = if b.has_one_seqno() { last } else { first + i as u64 };
            match op {
                WriteOp::Put { key, value, expiry } if self.in_range(key) => {
                    let key = Bytes::copy_from_slice(key);
                    self.cancel_expiry(&key);
                    let expires_at = match expiry {
                        Some(Expiry::At(t)) => Some(t),
                        // Committed batches carry absolute times.
                        Some(Expiry::After(d)) => {
                            Some(UNIX_EPOCH + Duration::from_millis(self.clock.now_millis()) + d)
                        }
                        None => None,
                    };
                    if let Some(t) = expires_at {
                        let ms = t
                            .duration_since(UNIX_EPOCH)
                            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                        self.expiries.insert((ms, key.clone(), seqno));
                        self.expiry_of.insert(key.clone(), (ms, seqno));
                    }
                    self.events.push_back(WatchEvent::Put {
                        seqno,
                        key,
                        value: Bytes::copy_from_slice(value),
                        expires_at,
                    });
                }
                WriteOp::Delete { key } if self.in_range(key) => {
                    let key = Bytes::copy_from_slice(key);
                    self.cancel_expiry(&key);
                    self.events.push_back(WatchEvent::Delete { seqno, key });
                }
                WriteOp::DeleteRange { start, end } if self.overlaps(start, end) => {
                    let doomed: Vec<Bytes> = self
                        .expiry_of
                        .keys()
                        .filter(|k| k.as_ref() >= start && k.as_ref() < end)
                        .cloned()
                        .collect();
                    for k in doomed {
                        self.cancel_expiry(&k);
                    }
                    self.events.push_back(WatchEvent::DeleteRange {
                        seqno,
                        start: Bytes::copy_from_slice(start),
                        end: Bytes::copy_from_slice(end),
                    });
                }
                _ => {}
            }
        }
        if self.events.is_empty() {
            self.delivered = last;
        } else {
            self.batch_done = Some(last);
        }
    }

    fn cancel_expiry(&mut self, key: &Bytes) {
        if let Some((ms, s)) = self.expiry_of.remove(key) {
            self.expiries.remove(&(ms, key.clone(), s));
        }
    }

    /// An `Expired` event whose time has come by the clock, if any.
    fn due_expiry(&mut self) -> Option<WatchEvent> {
        let &(ms, _, _) = self.expiries.first()?;
        if ms > self.clock.now_millis() {
            return None;
        }
        let (_, key, seqno) = self.expiries.pop_first()?;
        self.expiry_of.remove(&key);
        Some(WatchEvent::Expired { seqno, key })
    }

    /// Time until the next pending expiry, if any.
    fn until_next_expiry(&self) -> Option<Duration> {
        let &(ms, _, _) = self.expiries.first()?;
        Some(Duration::from_millis(ms.saturating_sub(self.clock.now_millis())))
    }
}

impl Iterator for Watcher {
    type Item = Result<WatchEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished && self.startup.is_none() {
            return None;
        }
        Some(self.recv())
    }
}
