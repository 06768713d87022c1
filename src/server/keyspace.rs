//! The Redis keyspace on shaledb: how 16 logical databases of string keys, their expiry
//! times and their key counts are laid out in the engine's one sorted key space, and the
//! read-modify-write discipline every command goes through.
//!
//! # Layout (docs/server.md §2)
//!
//! | engine key | value | what |
//! |---|---|---|
//! | `'k' db:u8 key` | `type:u8 payload` | the key's value; type 0 = string (room for hashes, lists, sets); written with the engine's TTL when the key has one |
//! | `'e' db:u8 key` | `expiry_ms:u64be` | the key's expiry (present while the key is counted and has one) |
//! | `'x' db:u8 expiry_ms:u64be key` | empty | the expiry index in time order, for active expiry |
//! | `'m' db:u8 slot:u16be` | `keys:u64le expires:u64le` | one count record: its share of the key and expiry counts (wrapping) |
//!
//! Reads use the engine's TTL, so an expired key reads as absent from its expiry
//! millisecond on (lazy expiry is exact). A key stays *counted* (in DBSIZE, as in Redis,
//! whose DBSIZE includes expired keys not yet reclaimed) until active expiry, a lazy
//! reclaim or an overwrite removes it with its `e` and `x` entries.
//!
//! # Concurrency and counts
//! Every key hashes to one of [`STRIPES`] lock stripes. A command that writes locks the
//! stripes of its keys (in order), reads the keys' states, and writes one batch with the
//! new values and the index entries; it holds the locks until the write returns.
//!
//! A database's key count is the wrapping sum of its count records. A write that changes
//! the count takes one of [`COUNT_SLOTS`] slot locks (any free one), adds its change to
//! that slot's record, puts the record in the same atomic batch as the keys, and holds the
//! slot until the write returns, so a slot's records reach the WAL in the order they were
//! computed and the newest one recovery finds is the slot's exact share. An MSET of ten
//! new keys puts one count record, not one per key. Records of other numbers (1,024 lock
//! stripes kept per-stripe counts before count slots) are read and kept as constants.

#![allow(clippy::big_endian_bytes, reason = "big-endian numbers in keys sort in numeric order")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::{Mutex, MutexGuard};

use crate::batch::WriteBatch;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::options::WriteOptions;

/// Logical databases (SELECT 0..15).
pub const DATABASES: usize = 16;

/// Lock stripes per logical database.
pub const STRIPES: usize = 1024;

/// Count records a writer can take per logical database (the event loop and active expiry
/// are the writers; more slots only mean more records to load at open).
pub const COUNT_SLOTS: usize = 4;

/// Type byte of a string value.
pub const TYPE_STRING: u8 = 0;

const DATA: u8 = b'k';
const EXPIRY: u8 = b'e';
const EXPIRY_INDEX: u8 = b'x';
const META: u8 = b'm';

/// The engine key of `key` in logical database `db`.
pub fn data_key(db: usize, key: &[u8]) -> Vec<u8> {
    prefixed(DATA, db, key)
}

fn prefixed(tag: u8, db: usize, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + rest.len());
    k.push(tag);
    k.push(db as u8);
    k.extend_from_slice(rest);
    k
}

fn index_key(db: usize, at_ms: u64, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(10 + key.len());
    k.push(EXPIRY_INDEX);
    k.push(db as u8);
    k.extend_from_slice(&at_ms.to_be_bytes());
    k.extend_from_slice(key);
    k
}

fn meta_key(db: usize, slot: usize) -> Vec<u8> {
    let mut k = vec![META, db as u8];
    k.extend_from_slice(&(slot as u16).to_be_bytes());
    k
}

/// The lock stripe of `key` (xxh3).
pub fn stripe_of(key: &[u8]) -> usize {
    (xxhash_rust::xxh3::xxh3_64(key) % STRIPES as u64) as usize
}

/// Milliseconds since the Unix epoch now.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A key's state before a write.
#[derive(Debug, Clone, Default)]
pub struct KeyState {
    /// The live value (type byte stripped) and its expiry, if the key reads as present.
    pub live: Option<(Bytes, Option<u64>)>,
    /// The expiry of a counted key that has expired but is not reclaimed yet.
    pub stale_expiry: Option<u64>,
}

impl KeyState {
    fn counted(&self) -> bool {
        self.live.is_some() || self.stale_expiry.is_some()
    }
    fn expiry(&self) -> Option<u64> {
        self.live.as_ref().and_then(|l| l.1).or(self.stale_expiry)
    }
    /// The live value, if any.
    pub fn value(&self) -> Option<&Bytes> {
        self.live.as_ref().map(|l| &l.0)
    }
    /// The live value's expiry, if it has one.
    pub fn ttl_ms(&self) -> Option<u64> {
        self.live.as_ref().and_then(|l| l.1)
    }
}

/// What a write leaves a key as.
#[derive(Debug, Clone)]
pub enum NewState {
    /// Absent.
    Delete,
    /// A string value, with an expiry (Unix milliseconds) or none. An expiry already
    /// past deletes the key, as Redis does.
    Set(Vec<u8>, Option<u64>),
    /// Unchanged (for multi-key writes that change only some keys).
    Keep,
}

/// One count record's share: keys counted, and of those, keys with an expiry. Shares are
/// added with wrapping arithmetic, so one may be "negative" (a slot that deleted more
/// keys than it created); the sum over a database's records is exact.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    keys: u64,
    expires: u64,
}

/// The locks and counts of one logical database.
struct LogicalDb {
    stripes: Vec<Mutex<()>>,
    /// The shares stored in the records of slots `0..COUNT_SLOTS`, each under its lock.
    slots: Vec<Mutex<Counts>>,
    /// The sums of every count record of the database, so DBSIZE reads one number.
    keys: AtomicU64,
    expires: AtomicU64,
}

/// The keyspace over one engine database; see the module docs.
pub struct Keyspace {
    db: Arc<Db>,
    dbs: Vec<LogicalDb>,
    /// Whether writes wait for their WAL record to be fsynced (`appendfsync always`).
    sync: std::sync::atomic::AtomicBool,
    /// Keys removed because their expiry passed (INFO's `expired_keys`).
    pub expired_keys: AtomicU64,
}

/// Locks held on some stripes of one logical database, in stripe order.
pub struct Locked<'a> {
    db: usize,
    guards: Vec<(usize, MutexGuard<'a, ()>)>,
}

impl Keyspace {
    /// Opens the keyspace over `db`, loading the stored count records (a few small keys
    /// per logical database; no scan of the data).
    ///
    /// # Errors
    /// Engine read errors; [`Error::Corruption`] for a count record of the wrong size or
    /// records whose sum is negative.
    pub fn open(db: Arc<Db>, sync: bool) -> Result<Keyspace> {
        let bad = || Error::Corruption {
            file: "<keyspace counts>".into(),
            offset: 0,
            kind: crate::error::CorruptionKind::Malformed("bad key count record"),
        };
        let mut dbs = Vec::with_capacity(DATABASES);
        for d in 0..DATABASES {
            let mut slots: Vec<Mutex<Counts>> =
                (0..COUNT_SLOTS).map(|_| Mutex::new(Counts::default())).collect();
            let mut total = Counts::default();
            for item in db.prefix([META, d as u8]) {
                let (k, v) = item?;
                let (Some(n), Some(keys), Some(expires)) = (
                    k.get(2..4).map(|s| u16::from_be_bytes([s[0], s[1]]) as usize),
                    v.get(0..8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes),
                    v.get(8..16).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes),
                ) else {
                    return Err(bad());
                };
                if let Some(slot) = slots.get_mut(n) {
                    *slot.get_mut() = Counts { keys, expires };
                }
                total.keys = total.keys.wrapping_add(keys);
                total.expires = total.expires.wrapping_add(expires);
            }
            // Invariant: a database never holds a negative number of keys, nor more keys
            // with an expiry than keys.
            if total.keys > i64::MAX as u64 || total.expires > total.keys {
                return Err(bad());
            }
            dbs.push(LogicalDb {
                stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
                slots,
                keys: total.keys.into(),
                expires: total.expires.into(),
            });
        }
        Ok(Keyspace { db, dbs, sync: sync.into(), expired_keys: AtomicU64::new(0) })
    }

    /// The engine database.
    pub fn engine(&self) -> &Arc<Db> {
        &self.db
    }

    /// Sets whether writes wait for fsync.
    pub fn set_sync(&self, sync: bool) {
        self.sync.store(sync, Ordering::Relaxed);
    }

    /// Keys counted in `db` (DBSIZE): O(1), no data read.
    pub fn dbsize(&self, db: usize) -> u64 {
        self.dbs[db].keys.load(Ordering::Acquire)
    }

    /// Keys with an expiry in `db`.
    pub fn expires(&self, db: usize) -> u64 {
        self.dbs[db].expires.load(Ordering::Acquire)
    }

    /// Locks the stripes of `keys` in `db`, in stripe order (so two commands never wait
    /// on each other in a cycle).
    pub fn lock<'a>(&'a self, db: usize, keys: &[&[u8]]) -> Locked<'a> {
        let mut s: Vec<usize> = keys.iter().map(|k| stripe_of(k)).collect();
        s.sort_unstable();
        s.dedup();
        Locked { db, guards: s.into_iter().map(|i| (i, self.dbs[db].stripes[i].lock())).collect() }
    }

    /// Locks every stripe of `db` (FLUSHDB).
    fn lock_all(&self, db: usize) -> Locked<'_> {
        Locked { db, guards: (0..STRIPES).map(|i| (i, self.dbs[db].stripes[i].lock())).collect() }
    }

    /// The live value and expiry of `key`, without locks (a read command). A key that has
    /// expired reads as absent.
    ///
    /// # Errors
    /// Engine read errors.
    pub fn get(&self, db: usize, key: &[u8]) -> Result<Option<(Bytes, Option<u64>)>> {
        Ok(self.db.get_with_expiry(data_key(db, key))?.map(|(v, t)| {
            let ms = t.and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_millis() as u64);
            (v.slice(1.min(v.len())..), ms)
        }))
    }

    /// The state of `key` for a write. **Requires:** `lock` holds its stripe.
    ///
    /// # Errors
    /// Engine read errors.
    pub fn state(&self, lock: &Locked<'_>, key: &[u8]) -> Result<KeyState> {
        let db = lock.db;
        let live = self.get(db, key)?;
        // Only a database with keys that have an expiry can hold a counted expired key.
        let stale_expiry = if live.is_none() && self.expires(db) > 0 {
            self.db
                .get(prefixed(EXPIRY, db, key))?
                .and_then(|v| v.get(..8).map(|b| u64::from_be_bytes(b.try_into().unwrap_or_default())))
        } else {
            None
        };
        Ok(KeyState { live, stale_expiry })
    }

    /// Writes the new states of keys (each with its state before) in one atomic batch,
    /// with their index entries and, if the key counts change, one count record.
    /// **Requires:** `lock` holds the stripes of every key.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a key whose stripe `lock` does not hold; engine write
    /// errors (the batch is then not applied and no count changes).
    pub fn write(&self, lock: &mut Locked<'_>, changes: &[(&[u8], &KeyState, NewState)]) -> Result<()> {
        let mut batch = WriteBatch::new();
        // The change of the database's counts, as wrapping deltas.
        let mut delta = Counts::default();
        Self::stage(lock, changes, &mut batch, &mut delta)?;
        self.commit(lock.db, batch, delta)
    }

    /// Adds the entries of `changes` (new states of keys, each with its state before) to
    /// `batch` and their count changes to `delta`. **Requires:** `lock` holds the
    /// stripes of every key.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a key whose stripe `lock` does not hold (nothing is
    /// added for it or the keys after it).
    fn stage(
        lock: &Locked<'_>,
        changes: &[(&[u8], &KeyState, NewState)],
        batch: &mut WriteBatch,
        delta: &mut Counts,
    ) -> Result<()> {
        let db = lock.db;
        let now = now_ms();
        for (key, old, new) in changes {
            let new = match new {
                NewState::Keep => continue,
                NewState::Set(_, Some(t)) if *t <= now => &NewState::Delete,
                n => n,
            };
            let s = stripe_of(key);
            if !lock.guards.iter().any(|(i, _)| *i == s) {
                return Err(Error::InvalidArgument("keyspace write without the key's stripe lock"));
            }
            let dk = data_key(db, key);
            if let Some(t) = old.expiry() {
                batch.delete(index_key(db, t, key));
            }
            delta.keys = delta.keys.wrapping_sub(u64::from(old.counted()));
            delta.expires = delta.expires.wrapping_sub(u64::from(old.expiry().is_some()));
            match new {
                NewState::Keep => {}
                NewState::Delete => {
                    batch.delete(&dk);
                    if old.expiry().is_some() {
                        batch.delete(prefixed(EXPIRY, db, key));
                    }
                }
                NewState::Set(v, expiry) => {
                    let mut stored = Vec::with_capacity(1 + v.len());
                    stored.push(TYPE_STRING);
                    stored.extend_from_slice(v);
                    delta.keys = delta.keys.wrapping_add(1);
                    match expiry {
                        Some(t) => {
                            batch.put_expire_at(&dk, &stored, UNIX_EPOCH + Duration::from_millis(*t));
                            batch.put(prefixed(EXPIRY, db, key), t.to_be_bytes());
                            batch.put(index_key(db, *t, key), []);
                            delta.expires = delta.expires.wrapping_add(1);
                        }
                        None => {
                            batch.put(&dk, &stored);
                            if old.expiry().is_some() {
                                batch.delete(prefixed(EXPIRY, db, key));
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes `batch` (staged changes of logical database `db`) with, if `delta` changes
    /// the counts, one count record, in one atomic write; then moves the counts.
    ///
    /// # Errors
    /// Engine write errors (the batch is then not applied and no count changes).
    fn commit(&self, db: usize, mut batch: WriteBatch, delta: Counts) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let opts = WriteOptions { sync: self.sync.load(Ordering::Relaxed) };
        if delta.keys == 0 && delta.expires == 0 {
            self.db.write_opt(batch, &opts)?;
            return Ok(());
        }
        let ldb = &self.dbs[db];
        // Any free slot; the slot is held until the write returns, so its records reach the
        // WAL in the order their shares were computed.
        let mut slot = None;
        for (i, m) in ldb.slots.iter().enumerate() {
            if let Some(g) = m.try_lock() {
                slot = Some((i, g));
                break;
            }
        }
        let (i, mut share) = match slot {
            Some(s) => s,
            None => (0, ldb.slots[0].lock()),
        };
        let new = Counts {
            keys: share.keys.wrapping_add(delta.keys),
            expires: share.expires.wrapping_add(delta.expires),
        };
        let mut v = Vec::with_capacity(16);
        v.extend_from_slice(&new.keys.to_le_bytes());
        v.extend_from_slice(&new.expires.to_le_bytes());
        batch.put(meta_key(db, i), v);
        self.db.write_opt(batch, &opts)?;
        // Invariant: the sums move by exactly the records' changes, and only after the
        // batch holding them is written.
        *share = new;
        ldb.keys.fetch_add(delta.keys, Ordering::AcqRel);
        ldb.expires.fetch_add(delta.expires, Ordering::AcqRel);
        Ok(())
    }

    /// FLUSHDB: removes every key of `db` with range deletions (O(1) in the number of
    /// keys) and zeroes its counts.
    ///
    /// # Errors
    /// Engine write errors.
    pub fn flush_db(&self, db: usize) -> Result<()> {
        let _lock = self.lock_all(db);
        let ldb = &self.dbs[db];
        let mut slots: Vec<MutexGuard<'_, Counts>> = ldb.slots.iter().map(|m| m.lock()).collect();
        let mut batch = WriteBatch::new();
        for tag in [DATA, EXPIRY, EXPIRY_INDEX, META] {
            batch.delete_range([tag, db as u8], [tag, db as u8 + 1]);
        }
        self.db.write_opt(batch, &WriteOptions { sync: self.sync.load(Ordering::Relaxed) })?;
        for g in &mut slots {
            **g = Counts::default();
        }
        ldb.keys.store(0, Ordering::Release);
        ldb.expires.store(0, Ordering::Release);
        Ok(())
    }

    /// Keys of `db` from `after` (exclusive; `None` = the start), in key order, at most
    /// `limit`, with the last key read (for a cursor) and whether the end was reached.
    ///
    /// # Errors
    /// Engine read errors.
    pub fn scan(&self, db: usize, after: Option<&[u8]>, limit: usize) -> Result<(Vec<Bytes>, bool)> {
        let start = match after {
            Some(a) => std::ops::Bound::Excluded(data_key(db, a)),
            None => std::ops::Bound::Included(vec![DATA, db as u8]),
        };
        let end = std::ops::Bound::Excluded(vec![DATA, db as u8 + 1]);
        let mut out = Vec::new();
        for item in self.db.range::<Vec<u8>, _>((start, end)) {
            let (k, _) = item?;
            out.push(k.slice(2..));
            if out.len() >= limit {
                return Ok((out, false));
            }
        }
        Ok((out, true))
    }

    /// The first key of `db` at or after `from` (wrapping to the first key), if any.
    ///
    /// # Errors
    /// Engine read errors.
    pub fn key_at_or_after(&self, db: usize, from: &[u8]) -> Result<Option<Bytes>> {
        let end = std::ops::Bound::Excluded(vec![DATA, db as u8 + 1]);
        let start = std::ops::Bound::Included(data_key(db, from));
        if let Some(item) = self.db.range::<Vec<u8>, _>((start, end.clone())).next() {
            return Ok(Some(item?.0.slice(2..)));
        }
        let first = std::ops::Bound::Included(vec![DATA, db as u8]);
        match self.db.range::<Vec<u8>, _>((first, end)).next() {
            Some(item) => Ok(Some(item?.0.slice(2..))),
            None => Ok(None),
        }
    }

    /// One pass of active expiry over `db`: reclaims up to `budget` keys whose expiry is
    /// at or before `now`, in expiry order, through the expiry index. Returns how many
    /// index entries it looked at and how many keys it reclaimed.
    ///
    /// # Errors
    /// Engine read or write errors.
    pub fn expire_pass(&self, db: usize, now: u64, budget: usize) -> Result<(usize, usize)> {
        if self.expires(db) == 0 {
            return Ok((0, 0));
        }
        let start = std::ops::Bound::Included(vec![EXPIRY_INDEX, db as u8]);
        let mut end_key = vec![EXPIRY_INDEX, db as u8];
        end_key.extend_from_slice(&now.saturating_add(1).to_be_bytes());
        let end = std::ops::Bound::Excluded(end_key);
        let due: Vec<Bytes> = self
            .db
            .range::<Vec<u8>, _>((start, end))
            .take(budget)
            .map(|r| r.map(|(k, _)| k))
            .collect::<Result<_>>()?;
        let mut reclaimed = 0;
        for ik in &due {
            let (Some(t), Some(key)) =
                (ik.get(2..10).map(|b| u64::from_be_bytes(b.try_into().unwrap_or_default())), ik.get(10..))
            else {
                continue;
            };
            let mut lock = self.lock(db, &[key]);
            let st = self.state(&lock, key)?;
            if st.live.is_none() && st.stale_expiry == Some(t) {
                self.write(&mut lock, &[(key, &st, NewState::Delete)])?;
                self.expired_keys.fetch_add(1, Ordering::Relaxed);
                reclaimed += 1;
            } else if st.expiry() != Some(t) {
                // A stale index entry (the key's expiry changed under a crash window):
                // drop it alone.
                let mut b = WriteBatch::new();
                b.delete(ik);
                self.db.write(b)?;
            }
        }
        Ok((due.len(), reclaimed))
    }

    /// Lazy reclaim after a read found `key` absent: if it is counted with a passed
    /// expiry, removes it now (as Redis deletes an expired key its read meets).
    ///
    /// # Errors
    /// Engine read or write errors.
    pub fn reclaim_if_expired(&self, db: usize, key: &[u8]) -> Result<()> {
        if self.expires(db) == 0 {
            return Ok(());
        }
        let mut lock = self.lock(db, &[key]);
        let st = self.state(&lock, key)?;
        if st.live.is_none() && st.stale_expiry.is_some() {
            self.write(&mut lock, &[(key, &st, NewState::Delete)])?;
            self.expired_keys.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Locks the stripes of `keys` in `db` for a write that joins `staged`. Stripes it
    /// does not hold yet are only tried (`try_lock`): the staged writes hold theirs in
    /// the order their commands came, not in stripe order, so waiting here could close a
    /// cycle with the active-expiry thread. False when a stripe is busy or `staged` holds
    /// another database's writes: the caller commits them ([`Keyspace::commit_staged`],
    /// which releases every stripe) and calls again, which then waits in stripe order.
    pub fn lock_staged<'a>(&'a self, staged: &mut Staged<'a>, db: usize, keys: &[&[u8]]) -> bool {
        let lock = match &mut staged.lock {
            None => {
                staged.lock = Some(self.lock(db, keys));
                return true;
            }
            Some(l) if l.db != db => return false,
            Some(l) => l,
        };
        for k in keys {
            let s = stripe_of(k);
            if lock.guards.iter().any(|(i, _)| *i == s) {
                continue;
            }
            match self.dbs[db].stripes[s].try_lock() {
                Some(g) => lock.guards.push((s, g)),
                None => return false,
            }
        }
        true
    }

    /// The state of `key` for a write joining `staged`: as its staged writes left it, or
    /// as stored. **Requires:** [`Keyspace::lock_staged`] returned true for it.
    ///
    /// # Errors
    /// Engine read errors; [`Error::InvalidArgument`] if nothing is locked.
    pub fn staged_state(&self, staged: &Staged<'_>, key: &[u8]) -> Result<KeyState> {
        if let Some(st) = staged.overlay.get(key) {
            return Ok(st.clone());
        }
        let lock = staged.lock.as_ref().ok_or(Error::InvalidArgument("staged read without a lock"))?;
        self.state(lock, key)
    }

    /// Adds the new states of keys (each with its state before, from
    /// [`Keyspace::staged_state`]) to `staged`'s batch; they take effect, and count, at
    /// [`Keyspace::commit_staged`]. Reads through `staged` see them at once.
    ///
    /// # Errors
    /// As [`Keyspace::write`] before it writes.
    pub fn stage_write(
        &self,
        staged: &mut Staged<'_>,
        changes: &[(&[u8], &KeyState, NewState)],
    ) -> Result<()> {
        let lock = staged.lock.as_ref().ok_or(Error::InvalidArgument("staged write without a lock"))?;
        Self::stage(lock, changes, &mut staged.batch, &mut staged.delta)?;
        let now = now_ms();
        for (key, _, new) in changes {
            let after = match new {
                NewState::Keep => continue,
                NewState::Set(v, t) if t.is_none_or(|t| t > now) => {
                    KeyState { live: Some((Bytes::copy_from_slice(v), *t)), stale_expiry: None }
                }
                _ => KeyState::default(),
            };
            staged.overlay.insert(key.to_vec(), after);
        }
        Ok(())
    }

    /// Writes `staged`'s batch with its count record in one atomic write (as
    /// [`Keyspace::write`]), then releases its stripes and empties it, whether or not the
    /// write succeeded.
    ///
    /// # Errors
    /// Engine write errors: none of the staged writes is applied.
    pub fn commit_staged(&self, staged: &mut Staged<'_>) -> Result<()> {
        let Some(lock) = staged.lock.take() else { return Ok(()) };
        let batch = std::mem::take(&mut staged.batch);
        let delta = std::mem::take(&mut staged.delta);
        staged.overlay.clear();
        let r = self.commit(lock.db, batch, delta);
        drop(lock);
        r
    }
}

/// Writes that a pipeline chunk's commands staged and have not committed yet (see
/// [`Keyspace::lock_staged`]): their batch and count changes, the stripes they hold, and
/// each written key's state after them, which later commands of the chunk read. A
/// chunk's consecutive writes then cost one engine write and one count record, not one
/// each.
#[derive(Default)]
pub struct Staged<'a> {
    lock: Option<Locked<'a>>,
    batch: WriteBatch,
    delta: Counts,
    overlay: std::collections::HashMap<Vec<u8>, KeyState>,
}

impl Staged<'_> {
    /// True if no write is staged (and no stripe held).
    pub fn is_empty(&self) -> bool {
        self.lock.is_none()
    }

    /// Approximate bytes of the staged batch.
    pub fn batch_bytes(&self) -> usize {
        self.batch.approximate_size()
    }

    /// The logical database of the staged writes, if any.
    pub fn db(&self) -> Option<usize> {
        self.lock.as_ref().map(|l| l.db)
    }

    /// The state of `key` of logical database `db` as the staged writes leave it, if they
    /// wrote it.
    pub fn overlay(&self, db: usize, key: &[u8]) -> Option<&KeyState> {
        if self.db() != Some(db) {
            return None;
        }
        self.overlay.get(key)
    }
}
