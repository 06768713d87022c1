//! An etcd-style MVCC key-value store built only on shaledb's public API: revisions,
//! `put` returning the previous key-value, `range` at any retained revision with a total
//! count, `delete_range` returning what it deleted, `txn` (compare, then success or
//! failure operations) as one revision, `compact`, `watch` from a revision, and leases as
//! TTLs. The semantics follow etcd's API reference (etcd.io/docs/v3.5/learning/api/):
//!
//! - The store starts at revision 1; every request that changes something adds one, a
//!   request that changes nothing (deleting absent keys, a txn with only reads) does not.
//! - Each key keeps `create_revision`, `mod_revision` and `version` (1 at creation, +1
//!   per put, reset by a delete).
//! - A compare on a missing key compares a zero key-value (version, create and mod
//!   revision 0), except a value compare, which is false.
//! - `range` at a revision above the current one is `FutureRevision`; below the compacted
//!   revision `Compacted`; compacting at or below the compacted revision again is
//!   `Compacted`.
//!
//! Differences from etcd: a leased key disappears when its TTL passes (shaledb's per-key
//! TTL), at every revision, and the expiry takes no revision; a watcher sees it as a
//! DELETE at the current revision.
//!
//! How it maps onto shaledb (DESIGN.md §5.16): user keys live under the byte `0x01`, the
//! current revision under `0x00 "rev"`. Every write request is one optimistic
//! transaction that reads the revision key `for_update` (so concurrent requests serialize
//! by retrying on `Error::Conflict`) and writes the new revision first in its batch, then
//! the keys in order. The state at etcd revision `R` is then the engine snapshot at the
//! last sequence number whose revision key reads `R`, found by binary search over
//! `snapshot_at` (the history floor keeps those versions); `compact(R)` raises the
//! history floor to it. Watches are engine watches over both key ranges: the revision
//! key's put, first in each batch, tells the revision of the events after it.
//!
//! Run it: `cargo run --release --example mvcc_kv -- /tmp/mvcc-demo`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use shaledb::{Db, Error, HistoryRetention, Options, SequenceNumber, WalRetention, WatchEvent};

const REV_KEY: &[u8] = b"\x00rev";
const COMPACT_KEY: &[u8] = b"\x00compact";
const USER: u8 = 0x01;

/// What a request can fail with.
#[derive(Debug)]
pub enum KvError {
    /// The revision asked for was compacted (etcd's `ErrCompacted`).
    Compacted {
        /// The compacted revision.
        compact_revision: i64,
    },
    /// The revision asked for is above the current one (etcd's `ErrFutureRev`).
    FutureRevision,
    /// The engine failed.
    Engine(Error),
}

impl From<Error> for KvError {
    fn from(e: Error) -> Self {
        KvError::Engine(e)
    }
}

/// A key's state at a revision (etcd's `mvccpb.KeyValue`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyValue {
    /// The key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
    /// The revision that created the key (since its last deletion).
    pub create_revision: i64,
    /// The revision of its last put.
    pub mod_revision: i64,
    /// Puts since its creation (1 for the first).
    pub version: i64,
    /// The lease's TTL in milliseconds (0: none).
    pub lease_ttl_ms: i64,
}

/// `range`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeResponse {
    /// The key-values, in key order, at most `limit`.
    pub kvs: Vec<KeyValue>,
    /// Keys in the range at that revision, whatever the limit.
    pub count: usize,
    /// More keys than `limit` matched.
    pub more: bool,
    /// The store's current revision.
    pub revision: i64,
}

/// A txn's compare target.
#[derive(Debug, Clone)]
pub enum Target {
    /// The value.
    Value(Vec<u8>),
    /// The version.
    Version(i64),
    /// The create revision.
    CreateRevision(i64),
    /// The mod revision.
    ModRevision(i64),
}

/// A txn's compare operator.
#[derive(Debug, Clone, Copy)]
pub enum Cmp {
    /// `==`.
    Equal,
    /// `!=`.
    NotEqual,
    /// The key's field `>` the target.
    Greater,
    /// The key's field `<` the target.
    Less,
}

/// One compare of a txn.
#[derive(Debug, Clone)]
pub struct Compare {
    /// The key compared.
    pub key: Vec<u8>,
    /// The operator.
    pub cmp: Cmp,
    /// The field and the value it is compared with.
    pub target: Target,
}

/// One operation of a txn.
#[derive(Debug, Clone)]
pub enum Op {
    /// Set `key` (with a lease TTL if given).
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// The lease, as a TTL.
        lease: Option<Duration>,
    },
    /// Delete `[key, range_end)` (etcd conventions).
    DeleteRange {
        /// The first key.
        key: Vec<u8>,
        /// The end (empty: `key` alone; `[0]`: every key from `key`).
        range_end: Vec<u8>,
    },
    /// Read `[key, range_end)`.
    Range {
        /// The first key.
        key: Vec<u8>,
        /// The end, as for `DeleteRange`.
        range_end: Vec<u8>,
    },
}

/// One operation's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResponse {
    /// A put's answer.
    Put {
        /// The key-value before the put.
        prev_kv: Option<KeyValue>,
    },
    /// A delete's answer.
    DeleteRange {
        /// What was deleted.
        deleted: Vec<KeyValue>,
    },
    /// A read's answer.
    Range {
        /// The key-values read.
        kvs: Vec<KeyValue>,
    },
}

/// `txn`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnResponse {
    /// Every compare held (the success branch ran).
    pub succeeded: bool,
    /// The store's revision after the txn.
    pub revision: i64,
    /// One answer per operation of the branch that ran.
    pub responses: Vec<OpResponse>,
}

/// One watch event: etcd's PUT or DELETE, with the revision it happened at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A put, with the key-value it wrote.
    Put(KeyValue),
    /// A deletion (or a lease expiry).
    Delete {
        /// The key.
        key: Vec<u8>,
        /// The revision of the deletion.
        mod_revision: i64,
    },
}

/// The store.
pub struct Store {
    db: Db,
    /// etcd revision -> the engine sequence number of its state (a cache of the search).
    seqno_of: Mutex<BTreeMap<i64, SequenceNumber>>,
}

fn user_key(k: &[u8]) -> Vec<u8> {
    [&[USER], k].concat()
}

fn encode(kv: &KeyValue) -> Vec<u8> {
    let mut v = Vec::with_capacity(32 + kv.value.len());
    for n in [
        kv.create_revision,
        kv.mod_revision,
        kv.version,
        kv.lease_ttl_ms,
    ] {
        v.extend_from_slice(&n.to_le_bytes());
    }
    v.extend_from_slice(&kv.value);
    v
}

fn decode(key: &[u8], v: &[u8]) -> KeyValue {
    let n = |i: usize| i64::from_le_bytes(v[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    KeyValue {
        key: key[1..].to_vec(),
        create_revision: n(0),
        mod_revision: n(1),
        version: n(2),
        lease_ttl_ms: n(3),
        value: v[32..].to_vec(),
    }
}

fn rev_of(v: Option<&[u8]>) -> i64 {
    v.map_or(1, |b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
}

/// The engine key range of etcd's `(key, range_end)`: empty `range_end` is the key alone,
/// `[0]` every key from `key` on.
fn bounds(key: &[u8], range_end: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let start = user_key(key);
    let end = match range_end {
        [] => [start.as_slice(), &[0]].concat(),
        [0] => vec![USER + 1],
        e => user_key(e),
    };
    (start, end)
}

impl Store {
    /// Opens (creating) a store in `dir`.
    pub fn open(dir: &Path) -> Result<Store, KvError> {
        Self::open_with(dir, Options::default())
    }

    /// Opens a store with `opts` (history and WAL retention are set here).
    pub fn open_with(dir: &Path, opts: Options) -> Result<Store, KvError> {
        let opts = opts
            .history_retention(HistoryRetention::Manual)
            .wal_retention(WalRetention {
                max_bytes: 1 << 30,
                max_age: Duration::from_secs(24 * 3600),
            });
        Ok(Store {
            db: Db::open(dir, opts)?,
            seqno_of: Mutex::new(BTreeMap::new()),
        })
    }

    /// The current revision.
    pub fn revision(&self) -> Result<i64, KvError> {
        Ok(rev_of(self.db.get(REV_KEY)?.as_deref()))
    }

    /// The compacted revision (0: never compacted).
    pub fn compact_revision(&self) -> Result<i64, KvError> {
        Ok(self.db.get(COMPACT_KEY)?.map_or(0, |b| rev_of(Some(&b))))
    }

    /// Sets `key`; returns the new revision and the previous key-value.
    pub fn put(
        &self,
        key: &[u8],
        value: &[u8],
        lease: Option<Duration>,
    ) -> Result<(i64, Option<KeyValue>), KvError> {
        let r = self.txn(
            &[],
            &[Op::Put {
                key: key.to_vec(),
                value: value.to_vec(),
                lease,
            }],
            &[],
        )?;
        match r.responses.into_iter().next() {
            Some(OpResponse::Put { prev_kv }) => Ok((r.revision, prev_kv)),
            _ => unreachable!("a put answers a put"),
        }
    }

    /// Deletes `[key, range_end)` (etcd conventions); returns the revision and the deleted
    /// key-values. Deleting nothing does not bump the revision.
    pub fn delete_range(
        &self,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<(i64, Vec<KeyValue>), KvError> {
        let op = Op::DeleteRange {
            key: key.to_vec(),
            range_end: range_end.to_vec(),
        };
        let r = self.txn(&[], &[op], &[])?;
        match r.responses.into_iter().next() {
            Some(OpResponse::DeleteRange { deleted }) => Ok((r.revision, deleted)),
            _ => unreachable!("a delete answers a delete"),
        }
    }

    /// The keys in `[key, range_end)` at revision `rev` (0: current), at most `limit` (0:
    /// all), or only their count.
    pub fn range(
        &self,
        key: &[u8],
        range_end: &[u8],
        rev: i64,
        limit: usize,
        count_only: bool,
    ) -> Result<RangeResponse, KvError> {
        let current = self.revision()?;
        let snap = if rev == 0 || rev == current {
            self.db.snapshot()
        } else {
            if rev > current {
                return Err(KvError::FutureRevision);
            }
            let compacted = self.compact_revision()?;
            if rev < compacted {
                return Err(KvError::Compacted {
                    compact_revision: compacted,
                });
            }
            let s = self.seqno_at(rev)?;
            match self.db.snapshot_at(s) {
                Ok(snap) => snap,
                Err(Error::Compacted { .. }) => {
                    return Err(KvError::Compacted {
                        compact_revision: compacted,
                    })
                }
                Err(e) => return Err(e.into()),
            }
        };
        let (start, end) = bounds(key, range_end);
        let mut kvs = Vec::new();
        let mut count = 0;
        for r in snap.range(start.as_slice()..end.as_slice()) {
            let (k, v) = r?;
            count += 1;
            if !count_only && (limit == 0 || kvs.len() < limit) {
                kvs.push(decode(&k, &v));
            }
        }
        let more = limit > 0 && count > limit;
        Ok(RangeResponse {
            kvs,
            count,
            more,
            revision: current,
        })
    }

    /// Compares, then applies `success` or `failure`, as one revision (none if nothing
    /// changed).
    pub fn txn(
        &self,
        compares: &[Compare],
        success: &[Op],
        failure: &[Op],
    ) -> Result<TxnResponse, KvError> {
        loop {
            let mut t = self.db.transaction();
            let current = rev_of(t.get_for_update(REV_KEY)?.as_deref());
            let mut succeeded = true;
            for c in compares {
                let kv = t
                    .get(user_key(&c.key))?
                    .map(|v| decode(&user_key(&c.key), &v));
                if !compare(kv.as_ref(), c) {
                    succeeded = false;
                    break;
                }
            }
            let next = current + 1;
            let mut changed = false;
            let mut responses = Vec::new();
            for op in if succeeded { success } else { failure } {
                match op {
                    Op::Put { key, value, lease } => {
                        let k = user_key(key);
                        let prev = t.get(&k)?.map(|v| decode(&k, &v));
                        let kv = KeyValue {
                            key: key.clone(),
                            value: value.clone(),
                            create_revision: prev.as_ref().map_or(next, |p| p.create_revision),
                            mod_revision: next,
                            version: prev.as_ref().map_or(1, |p| p.version + 1),
                            lease_ttl_ms: lease
                                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
                        };
                        match lease {
                            Some(ttl) => t.put_with_ttl(&k, encode(&kv), *ttl)?,
                            None => t.put(&k, encode(&kv))?,
                        }
                        changed = true;
                        responses.push(OpResponse::Put { prev_kv: prev });
                    }
                    Op::DeleteRange { key, range_end } => {
                        let (s, e) = bounds(key, range_end);
                        let doomed: Vec<KeyValue> = t
                            .range(s.as_slice()..e.as_slice())
                            .map(|r| r.map(|(k, v)| decode(&k, &v)))
                            .collect::<Result<_, _>>()?;
                        for kv in &doomed {
                            t.delete(user_key(&kv.key))?;
                        }
                        changed |= !doomed.is_empty();
                        responses.push(OpResponse::DeleteRange { deleted: doomed });
                    }
                    Op::Range { key, range_end } => {
                        let (s, e) = bounds(key, range_end);
                        let kvs = t
                            .range(s.as_slice()..e.as_slice())
                            .map(|r| r.map(|(k, v)| decode(&k, &v)))
                            .collect::<Result<_, _>>()?;
                        responses.push(OpResponse::Range { kvs });
                    }
                }
            }
            if !changed {
                return Ok(TxnResponse {
                    succeeded,
                    revision: current,
                    responses,
                });
            }
            // The revision key sorts first, so it is the batch's first operation.
            t.put(REV_KEY, next.to_le_bytes())?;
            match t.commit() {
                Ok(_) => {
                    return Ok(TxnResponse {
                        succeeded,
                        revision: next,
                        responses,
                    })
                }
                Err(Error::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Discards the history before revision `rev` (etcd's `compact`).
    pub fn compact(&self, rev: i64) -> Result<(), KvError> {
        let compacted = self.compact_revision()?;
        if rev <= compacted {
            return Err(KvError::Compacted {
                compact_revision: compacted,
            });
        }
        if rev > self.revision()? {
            return Err(KvError::FutureRevision);
        }
        let s = self.seqno_at(rev)?;
        // Recorded first: a crash before the floor moves leaves history readable but
        // answers below `rev` with Compacted, as etcd does.
        self.db.put(COMPACT_KEY, rev.to_le_bytes())?;
        self.db.set_history_floor(s)?;
        self.seqno_of.lock().expect("lock").retain(|&r, _| r >= rev);
        Ok(())
    }

    /// Events for `[key, range_end)` from revision `start_rev` on (0: from now).
    pub fn watch(&self, key: &[u8], range_end: &[u8], start_rev: i64) -> Result<Watch, KvError> {
        let current = self.revision()?;
        let (since, rev) = if start_rev == 0 || start_rev > current {
            (self.db.last_seqno(), current)
        } else {
            let compacted = self.compact_revision()?;
            if start_rev <= compacted {
                return Err(KvError::Compacted {
                    compact_revision: compacted,
                });
            }
            (self.seqno_at(start_rev - 1)?, start_rev - 1)
        };
        let mut inner = self.db.watch::<&[u8], _>(..&[USER + 1][..], since);
        if inner.startup_error().is_some() {
            return match inner.recv() {
                Err(Error::Compacted { .. }) => Err(KvError::Compacted {
                    compact_revision: self.compact_revision()?,
                }),
                Err(e) => Err(e.into()),
                Ok(_) => unreachable!("a watcher that failed to start yields its error first"),
            };
        }
        Ok(Watch {
            inner,
            bounds: bounds(key, range_end),
            rev,
        })
    }

    /// The last engine sequence number at which the revision key reads `rev`.
    fn seqno_at(&self, rev: i64) -> Result<SequenceNumber, KvError> {
        if let Some(&s) = self.seqno_of.lock().expect("lock").get(&rev) {
            return Ok(s);
        }
        let rev_at = |s: SequenceNumber| -> Result<i64, KvError> {
            match self.db.snapshot_at(s) {
                Ok(snap) => Ok(rev_of(snap.get(REV_KEY)?.as_deref())),
                Err(Error::Compacted { .. }) => Err(KvError::Compacted {
                    compact_revision: self.compact_revision()?,
                }),
                Err(e) => Err(e.into()),
            }
        };
        // The largest s in [floor, latest] with rev_at(s) <= rev; rev_at grows with s.
        let (mut lo, mut hi) = (self.db.history_floor().unwrap_or(0), self.db.last_seqno());
        if rev_at(lo)? > rev {
            return Err(KvError::Compacted {
                compact_revision: self.compact_revision()?,
            });
        }
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if rev_at(mid)? <= rev {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        self.seqno_of.lock().expect("lock").insert(rev, lo);
        Ok(lo)
    }

    /// Closes the store.
    pub fn close(self) -> Result<(), KvError> {
        Ok(self.db.close()?)
    }
}

fn compare(kv: Option<&KeyValue>, c: &Compare) -> bool {
    let ord = match (&c.target, kv) {
        // etcd: a value compare on a missing key is false whatever the operator.
        (Target::Value(_), None) => return false,
        (Target::Value(v), Some(kv)) => kv.value.as_slice().cmp(v.as_slice()),
        (Target::Version(n), kv) => kv.map_or(0, |k| k.version).cmp(n),
        (Target::CreateRevision(n), kv) => kv.map_or(0, |k| k.create_revision).cmp(n),
        (Target::ModRevision(n), kv) => kv.map_or(0, |k| k.mod_revision).cmp(n),
    };
    match c.cmp {
        Cmp::Equal => ord.is_eq(),
        Cmp::NotEqual => ord.is_ne(),
        Cmp::Greater => ord.is_gt(),
        Cmp::Less => ord.is_lt(),
    }
}

/// A watch (`Store::watch`).
pub struct Watch {
    inner: shaledb::Watcher,
    bounds: (Vec<u8>, Vec<u8>),
    /// The revision of the batch being read.
    rev: i64,
}

impl Watch {
    /// The next event, waiting at most `timeout`.
    pub fn next_event(&mut self, timeout: Duration) -> Option<Result<Event, KvError>> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let e = match self.inner.recv_timeout(left)? {
                Ok(e) => e,
                Err(e) => return Some(Err(e.into())),
            };
            let inside = |k: &[u8]| k >= self.bounds.0.as_slice() && k < self.bounds.1.as_slice();
            match e {
                WatchEvent::Put { key, value, .. } if key.as_ref() == REV_KEY => {
                    self.rev = rev_of(Some(&value))
                }
                WatchEvent::Put { key, value, .. } if inside(&key) => {
                    return Some(Ok(Event::Put(decode(&key, &value))))
                }
                WatchEvent::Delete { key, .. } | WatchEvent::Expired { key, .. }
                    if inside(&key) =>
                {
                    return Some(Ok(Event::Delete {
                        key: key[1..].to_vec(),
                        mod_revision: self.rev,
                    }));
                }
                _ => {}
            }
            if left.is_zero() {
                return None;
            }
        }
    }
}

#[allow(dead_code, reason = "the test includes this file without calling main")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/mvcc-kv-demo".into());
    let store = Store::open(Path::new(&dir)).map_err(|e| format!("{e:?}"))?;
    let (r1, _) = store
        .put(b"/config/a", b"1", None)
        .map_err(|e| format!("{e:?}"))?;
    let (r2, prev) = store
        .put(b"/config/a", b"2", None)
        .map_err(|e| format!("{e:?}"))?;
    println!(
        "put at revision {r1}, then {r2} (previous value {:?})",
        prev.map(|p| String::from_utf8_lossy(&p.value).into_owned())
    );
    let then = store
        .range(b"/config/a", b"", r1, 0, false)
        .map_err(|e| format!("{e:?}"))?;
    println!(
        "at revision {r1}: {:?}",
        then.kvs
            .iter()
            .map(|kv| String::from_utf8_lossy(&kv.value).into_owned())
            .collect::<Vec<_>>()
    );
    let swap = store
        .txn(
            &[Compare {
                key: b"/config/a".to_vec(),
                cmp: Cmp::Equal,
                target: Target::ModRevision(r2),
            }],
            &[Op::Put {
                key: b"/config/a".to_vec(),
                value: b"3".to_vec(),
                lease: None,
            }],
            &[],
        )
        .map_err(|e| format!("{e:?}"))?;
    println!(
        "txn succeeded: {} at revision {}",
        swap.succeeded, swap.revision
    );
    store.compact(r2).map_err(|e| format!("{e:?}"))?;
    println!(
        "compacted at {r2}; a read at {r1} now answers {:?}",
        store.range(b"/config/a", b"", r1, 0, false).err()
    );
    store.close().map_err(|e| format!("{e:?}"))?;
    Ok(())
}
