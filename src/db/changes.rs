//! The change feed (`Db::changes_since`), after RocksDB's `GetUpdatesSince`: every batch
//! committed after a sequence number, read back from the WALs (archived ones under
//! `Options::wal_retention`, then the live ones), with its exact boundaries: each batch
//! of a commit group is its own WAL record (DESIGN.md §5.16).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

use super::wal_archive::{archive_dir, archived_wals, wal_numbers_in};
use super::{Db, DbInner};
use crate::batch::{decode_rep, WriteBatch};
use crate::error::{Error, Result};
use crate::filename::wal_path;
use crate::fs::FileSystem;
use crate::key::SequenceNumber;
use crate::wal::LogReader;

/// The batches committed after a sequence number, oldest first (`Db::changes_since`).
/// Items are `Result<(seqno, batch)>`, `seqno` being the batch's last sequence number (what
/// `Db::write` or `Transaction::commit` returned for it). Its first is `batch.len() - 1`
/// below it, or `seqno` itself when `batch.has_one_seqno()` (a transaction's commit). Expiring puts
/// carry absolute expiry times. The feed ends at the sequence number that was the latest
/// when it was created; after an error it ends.
pub struct ChangeFeed {
    fs: Arc<dyn FileSystem>,
    /// WAL files still to read, oldest first: (number, path in the database directory,
    /// path in the archive).
    files: VecDeque<(u64, PathBuf, PathBuf)>,
    pending: VecDeque<(SequenceNumber, WriteBatch)>,
    /// The last sequence number yielded (at first, the `since` asked for).
    last: SequenceNumber,
    /// The latest sequence number when the feed was created: nothing after it is read.
    upto: SequenceNumber,
    /// An error to yield next; then the feed ends.
    error: Option<Error>,
    done: bool,
}

impl std::fmt::Debug for ChangeFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeFeed")
            .field("last", &self.last)
            .field("upto", &self.upto)
            .field("files_left", &self.files.len())
            .finish()
    }
}

impl Db {
    /// Every batch committed after sequence number `since`, in commit order, with exact
    /// batch boundaries, up to the latest write at the time of the call (RocksDB's
    /// `GetUpdatesSince`); see [`ChangeFeed`]. A batch whose sequence numbers straddle
    /// `since` is yielded whole. Read from the WALs: the live ones always, and older ones
    /// as far as [`Options::wal_retention`] keeps them. Replaying the batches into another
    /// database with `write` reproduces this one's contents.
    ///
    /// The first item is [`Error::Compacted`] (with the oldest `since` that works) if
    /// the WALs holding changes right after `since` are no longer kept, and
    /// [`Error::InvalidArgument`] if `since` is above [`Db::last_seqno`]. Later items can
    /// be [`Error::Io`] or [`Error::Corruption`] naming the WAL and offset.
    ///
    /// [`Options::wal_retention`]: crate::options::Options::wal_retention
    pub fn changes_since(&self, since: SequenceNumber) -> ChangeFeed {
        if let Err(e) = self.check_open() {
            return ChangeFeed::failed(&self.inner, e);
        }
        let upto = match self.inner.flushed_wal_point() {
            Ok(upto) => upto,
            Err(e) => return ChangeFeed::failed(&self.inner, e),
        };
        ChangeFeed::new(&self.inner, since, upto)
    }
}

impl DbInner {
    /// Hands buffered WAL records to the file system (so a reader of the file sees them)
    /// and returns the latest sequence number, all under the `wal` lock: every batch up to
    /// it is in the WAL files.
    pub(super) fn flushed_wal_point(&self) -> Result<SequenceNumber> {
        let mut wal = self.wal.lock();
        if !self.read_only {
            wal.flush().map_err(|e| self.poison(e.into()))?;
        }
        Ok(wal.last_seqno())
    }
}

impl ChangeFeed {
    fn failed(inner: &DbInner, e: Error) -> Self {
        ChangeFeed {
            fs: Arc::clone(&inner.fs),
            files: VecDeque::new(),
            pending: VecDeque::new(),
            last: 0,
            upto: 0,
            error: Some(e),
            done: false,
        }
    }

    /// The feed of batches in `(since, upto]`. **Requires:** every batch up to `upto` is
    /// in the WAL files (`flushed_wal_point`).
    pub(super) fn new(inner: &DbInner, since: SequenceNumber, upto: SequenceNumber) -> Self {
        let mut feed = ChangeFeed::failed(inner, Error::Closed);
        feed.error = None;
        feed.last = since;
        feed.upto = upto;
        if since > upto {
            feed.error = Some(Error::InvalidArgument("changes_since: sequence number above the latest"));
            return feed;
        }
        let (fs, dir) = (inner.fs.as_ref(), inner.dir.as_path());
        let archive = archive_dir(dir);
        // The live directory first, then the archive: a WAL a flush moves meanwhile is
        // then in one of the two listings (and `fill` looks in the archive for a listed
        // live WAL that is gone).
        let mut numbers = wal_numbers_in(fs, dir);
        numbers.extend(archived_wals(fs, dir));
        numbers.sort_unstable();
        numbers.dedup();
        feed.files = numbers.into_iter().map(|n| (n, wal_path(dir, n), wal_path(&archive, n))).collect();
        // Find the first batch after `since` now, so a gap is the first item.
        if since < upto {
            if let Err(e) = feed.fill() {
                feed.error = Some(e);
            } else {
                match feed.pending.front() {
                    Some((last, b)) if last + 1 - b.seqnos_used() > since + 1 => {
                        feed.error = Some(Error::Compacted { floor: last - b.seqnos_used() });
                    }
                    None => feed.error = Some(Error::Compacted { floor: upto }),
                    _ => {}
                }
            }
        }
        feed
    }

    /// Reads WAL files until a batch after `last` is pending or the files run out.
    fn fill(&mut self) -> Result<()> {
        while self.pending.is_empty() {
            let Some((number, live, archived)) = self.files.pop_front() else { return Ok(()) };
            // A live WAL may have moved to the archive since the listing; an archived one
            // may have been trimmed (the gap then shows in the sequence numbers).
            let (path, data) = match self.fs.read_all(&live) {
                Ok(d) => (live, d),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => match self.fs.read_all(&archived) {
                    Ok(d) => (archived, d),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e.into()),
                },
                Err(e) => return Err(e.into()),
            };
            let mut reader = LogReader::new(&data, number);
            // Damage ends the file's readable records: a torn tail, or the live WAL's
            // record being written. Recovery decides what it means for the database.
            while let Ok(Some((offset, rec))) = reader.next_record() {
                if rec.is_empty() {
                    continue; // a seal record
                }
                let d = decode_rep(&rec, &path, offset)?;
                if d.ops.is_empty() {
                    continue;
                }
                let (first, last) = (d.first, d.last());
                if first > self.upto {
                    self.files.clear();
                    break;
                }
                if last <= self.last || self.pending.back().is_some_and(|(l, _)| last <= *l) {
                    continue;
                }
                self.pending.push_back((last, WriteBatch::from_rep(rec.into_owned(), d.ops, d.shared_seqno)));
            }
        }
        Ok(())
    }
}

impl Iterator for ChangeFeed {
    type Item = Result<(SequenceNumber, WriteBatch)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some(e) = self.error.take() {
            self.done = true;
            return Some(Err(e));
        }
        if let Err(e) = self.fill() {
            self.done = true;
            return Some(Err(e));
        }
        let Some((last, batch)) = self.pending.pop_front() else {
            self.done = true;
            return None;
        };
        let first = last + 1 - batch.seqnos_used();
        if first > self.last + 1 {
            // Sequence numbers are never skipped, so the batches between are gone: an
            // archived WAL was trimmed while the feed ran.
            self.done = true;
            return Some(Err(Error::Compacted { floor: first - 1 }));
        }
        self.last = last;
        Some(Ok((last, batch)))
    }
}
