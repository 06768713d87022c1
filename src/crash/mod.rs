//! The crash-recovery harness's shared parts: seeded workloads, self-describing values and
//! the oracle that checks a recovered database against what was acknowledged
//! (docs/durability.md §3.3). [`enumerate`] is layer 2 (simulated power loss on `SimFs`); the
//! `shale crash kill-loop` command is layer 1 (SIGKILL of real processes).
//!
//! Violations are reported by invariant ID: INV-01 (a synced write lost), INV-02 (an
//! acknowledged write lost after a process kill), INV-03 (not a prefix: an acknowledged
//! value missing or wrong), INV-04 (a batch partly present), INV-05 (a value no write
//! supplied), INV-06 (a deleted key back), INV-07 (a sequence number from nowhere), INV-20
//! (open failed on a legal crash image), INV-23 (no write progress after recovery).

pub mod enumerate;
pub mod oracle;

pub use oracle::{probe_liveness, verify, Commit, Item, Oracle};

use std::collections::BTreeMap;

use crate::batch::WriteBatch;
use crate::checksum::masked_crc;
use crate::coding::{get_u32, get_u64, put_u32, put_u64};
use crate::db::{Db, TransactionOptions};
use crate::fs::sim::SimRng;
use crate::options::WriteOptions;

/// One operation of a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Put a value of `len` bytes under key `key`.
    Put {
        /// Key number (see [`key_bytes`]).
        key: u32,
        /// Payload length in bytes.
        len: u32,
        /// Write with `WriteOptions::sync`.
        sync: bool,
    },
    /// Put a value of `len` bytes under key `key` with a TTL of an hour (the run never
    /// reaches it: this exercises the expiring value format through every crash).
    PutTtl {
        /// Key number.
        key: u32,
        /// Payload length in bytes.
        len: u32,
        /// Write with `WriteOptions::sync`.
        sync: bool,
    },
    /// Delete key `key`.
    Delete {
        /// Key number.
        key: u32,
        /// Write with `WriteOptions::sync`.
        sync: bool,
    },
    /// Delete keys `from..to` with one range tombstone.
    DeleteRange {
        /// First key number deleted.
        from: u32,
        /// Key number the range ends before.
        to: u32,
        /// Write with `WriteOptions::sync`.
        sync: bool,
    },
    /// A batch: puts (`Some(len)`) and deletes (`None`).
    Batch {
        /// `(key number, Some(payload length) for a put or None for a delete)`.
        items: Vec<(u32, Option<u32>)>,
        /// Write with `WriteOptions::sync`.
        sync: bool,
    },
    /// An optimistic transaction: reads the first key `for_update` (checked against the
    /// model), then puts (`Some(len)`) and deletes (`None`), committed as one batch in key
    /// order (a later item on the same key replaces an earlier one).
    Txn {
        /// `(key number, Some(payload length) for a put or None for a delete)`.
        items: Vec<(u32, Option<u32>)>,
        /// Commit with `TransactionOptions::sync`.
        sync: bool,
    },
    /// Read one key and check it against the model.
    Get {
        /// Key number.
        key: u32,
    },
    /// `Db::sync_wal`: makes every write acknowledged so far durable (issue 16: it fsyncs
    /// without the WAL lock, so the oracle counts as synced only what preceded it).
    SyncWal,
    /// Flush the memtable.
    Flush,
    /// Compact everything (`compact_range(None, None)`).
    Compact,
}

/// A workload's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkloadSpec {
    /// Seed of everything.
    pub seed: u64,
    /// Number of operations.
    pub ops: usize,
    /// Keys are 0..keys.
    pub keys: u32,
}

/// Generates the seeded operation list: put 38%, put with TTL 7%, delete 10%, batch 10%,
/// transaction 5%,
/// range delete (of 1 to 8 keys) 3%, get 20%, `sync_wal` 2%, flush or compact 5%; 1 write in 4 asks for `sync`; values of 0 B to 2 KiB, a few to 40 KiB so
/// WAL records fragment.
pub fn generate(spec: &WorkloadSpec) -> Vec<Op> {
    let mut rng = SimRng::new(spec.seed);
    let keys = spec.keys.max(1);
    let len = |rng: &mut SimRng| -> u32 {
        if rng.below(50) == 0 {
            16_000 + rng.below(24_000) as u32
        } else {
            rng.below(2_048) as u32
        }
    };
    (0..spec.ops)
        .map(|_| {
            let roll = rng.below(100);
            let sync = rng.below(4) == 0;
            let key = rng.below(u64::from(keys)) as u32;
            match roll {
                0..=37 => Op::Put { key, len: len(&mut rng), sync },
                38..=44 => Op::PutTtl { key, len: len(&mut rng), sync },
                45..=54 => Op::Delete { key, sync },
                55..=64 => {
                    let n = 2 + rng.below(14);
                    let items = (0..n)
                        .map(|_| {
                            let k = rng.below(u64::from(keys)) as u32;
                            (k, if rng.below(5) == 0 { None } else { Some(len(&mut rng)) })
                        })
                        .collect();
                    Op::Batch { items, sync }
                }
                65..=69 => {
                    let n = 1 + rng.below(6);
                    let items = (0..n)
                        .map(|_| {
                            let k = rng.below(u64::from(keys)) as u32;
                            (k, if rng.below(4) == 0 { None } else { Some(len(&mut rng)) })
                        })
                        .collect();
                    Op::Txn { items, sync }
                }
                70..=72 => Op::DeleteRange { from: key, to: key + 1 + rng.below(8) as u32, sync },
                73..=92 => Op::Get { key },
                93..=94 => Op::SyncWal,
                95..=97 => Op::Flush,
                _ => Op::Compact,
            }
        })
        .collect()
}

/// Applies an acknowledged write's items to the workload's model (key -> op id).
fn apply(model: &mut BTreeMap<u32, u64>, items: &[Item], op_id: u64) {
    for item in items {
        match *item {
            Item::Put(k) => {
                model.insert(k, op_id);
            }
            Item::Delete(k) => {
                model.remove(&k);
            }
            Item::DeleteRange(a, b) => model.retain(|k, _| !(a..b).contains(k)),
        }
    }
}

/// The user key of key number `k`.
pub fn key_bytes(k: u32) -> Vec<u8> {
    format!("key{k:06}").into_bytes()
}

/// A self-describing value: `key u32 | op_id u64 | payload_len u32 | payload | crc u32`.
/// The payload is derived from `(op_id, key)`, so any value read back can be checked on its
/// own terms and names the operation that wrote it (docs/durability.md §3.3).
pub fn make_value(key: u32, op_id: u64, len: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(len as usize + 20);
    put_u32(&mut v, key);
    put_u64(&mut v, op_id);
    put_u32(&mut v, len);
    let mut x = op_id.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(key);
    for _ in 0..len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(x as u8);
    }
    let crc = masked_crc(&[&v]);
    put_u32(&mut v, crc);
    v
}

/// Decodes a value made by [`make_value`]: `(key, op_id)`, or `None` if it is not one.
pub fn parse_value(v: &[u8]) -> Option<(u32, u64)> {
    let n = v.len().checked_sub(4)?;
    if get_u32(&v[n..])? != masked_crc(&[&v[..n]]) {
        return None;
    }
    let key = get_u32(v)?;
    let op = get_u64(&v[4..])?;
    let len = get_u32(&v[12..])? as usize;
    (n == 16 + len).then_some((key, op))
}

/// Runs `ops` against `db`, recording acknowledgements in `oracle`. Stops at the first
/// failed write (a crash or an injected fault poisons the database), which becomes the
/// pending write. Reads are checked against the acknowledged state as they go.
///
/// # Errors
/// A read that disagrees with the model is reported as `Err(description)`.
pub fn run_workload(db: &Db, ops: &[Op], oracle: &mut Oracle) -> std::result::Result<(), String> {
    // Key -> op id of its acknowledged value, for the reads the workload checks.
    let mut model: BTreeMap<u32, u64> = BTreeMap::new();
    for (op_id, op) in ops.iter().enumerate() {
        let op_id = op_id as u64 + 1;
        let (mut batch, mut items, sync) = (
            WriteBatch::new(),
            Vec::new(),
            matches!(
                op,
                Op::Put { sync: true, .. }
                    | Op::PutTtl { sync: true, .. }
                    | Op::Delete { sync: true, .. }
                    | Op::DeleteRange { sync: true, .. }
                    | Op::Batch { sync: true, .. }
                    | Op::Txn { sync: true, .. }
            ),
        );
        match op {
            Op::Put { key, len, .. } => {
                batch.put(key_bytes(*key), make_value(*key, op_id, *len));
                items.push(Item::Put(*key));
            }
            Op::PutTtl { key, len, .. } => {
                let ttl = std::time::Duration::from_secs(3600);
                batch.put_with_ttl(key_bytes(*key), make_value(*key, op_id, *len), ttl);
                items.push(Item::Put(*key));
            }
            Op::Delete { key, .. } => {
                batch.delete(key_bytes(*key));
                items.push(Item::Delete(*key));
            }
            Op::DeleteRange { from, to, .. } => {
                batch.delete_range(key_bytes(*from), key_bytes(*to));
                items.push(Item::DeleteRange(*from, *to));
            }
            Op::Batch { items: its, .. } => {
                for &(k, len) in its {
                    match len {
                        Some(l) => {
                            batch.put(key_bytes(k), make_value(k, op_id, l));
                            items.push(Item::Put(k));
                        }
                        None => {
                            batch.delete(key_bytes(k));
                            items.push(Item::Delete(k));
                        }
                    }
                }
            }
            Op::Txn { items: its, .. } => {
                // Key order is commit order: key_bytes pads, so it matches number order.
                let last_write: BTreeMap<u32, Option<u32>> = its.iter().copied().collect();
                let mut txn = db.transaction_opt(&TransactionOptions { set_snapshot: true, sync });
                let first = its[0].0;
                match txn.get_for_update(key_bytes(first)) {
                    Ok(v) => {
                        let want = model.get(&first).copied();
                        let have = v.as_deref().map(|v| parse_value(v).map(|p| p.1));
                        if have != want.map(Some) {
                            return Err(format!(
                                "INV-05 transaction read of key {first} returned {have:?}, expected op {want:?}"
                            ));
                        }
                    }
                    Err(_) => return Ok(()),
                }
                for (&k, len) in &last_write {
                    let r = match len {
                        Some(l) => {
                            items.push(Item::Put(k));
                            txn.put(key_bytes(k), make_value(k, op_id, *l))
                        }
                        None => {
                            items.push(Item::Delete(k));
                            txn.delete(key_bytes(k))
                        }
                    };
                    if r.is_err() {
                        return Err(format!("transaction {op_id} refused a valid write"));
                    }
                }
                oracle.record_intent(op_id, items.clone());
                match txn.commit() {
                    Ok(last) => {
                        apply(&mut model, &items, op_id);
                        // A transaction's commit takes one sequence number.
                        oracle.record_commit(op_id, Commit { first: last, last, sync });
                        continue;
                    }
                    Err(crate::error::Error::Conflict { key }) => {
                        return Err(format!(
                            "transaction {op_id} conflicted on {key:?} with no concurrent writer"
                        ));
                    }
                    Err(_) => return Ok(()), // the commit in flight stays a pending intent
                }
            }
            Op::Get { key } => {
                match db.get(key_bytes(*key)) {
                    Ok(v) => {
                        let want = model.get(key).copied();
                        let have = v.as_deref().map(|v| parse_value(v).map(|p| p.1));
                        if have != want.map(Some) {
                            return Err(format!(
                                "INV-05 read of key {key} returned {have:?}, expected op {want:?}"
                            ));
                        }
                    }
                    Err(_) => return Ok(()), // the power failed under a read
                }
                continue;
            }
            Op::SyncWal => {
                if db.sync_wal().is_err() {
                    return Ok(());
                }
                oracle.record_sync_wal();
                continue;
            }
            Op::Flush => {
                if db.flush().is_err() {
                    return Ok(());
                }
                continue;
            }
            Op::Compact => {
                if db.compact_range(None, None).is_err() {
                    return Ok(());
                }
                continue;
            }
        }
        let n = batch.len() as u64;
        oracle.record_intent(op_id, items.clone());
        match db.write_opt(batch, &WriteOptions { sync }) {
            Ok(last) => {
                apply(&mut model, &items, op_id);
                oracle.record_commit(op_id, Commit { first: last + 1 - n, last, sync });
            }
            Err(_) => return Ok(()), // the write in flight stays a pending intent
        }
    }
    Ok(())
}
