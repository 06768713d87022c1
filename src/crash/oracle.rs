//! The one oracle of both harness layers (docs/durability.md §3.3): what the workload
//! attempted (intents) and what the database acknowledged (commits, with their sequence
//! numbers), and [`verify`], which checks a recovered database against it.
//!
//! Layer 2 (`enumerate`) fills an [`Oracle`] in memory as its workload runs; layer 1 (the
//! kill loop) writes the same facts as lines of an `ops.log` outside the database
//! ([`Oracle::intent_line`], [`Oracle::commit_line`]) and reads them back with
//! [`Oracle::parse_log`]. Both then call the same [`verify`].
//!
//! A value written by operation `op` for key `k` is `make_value(k, op, _)`, so every value
//! read back names the operation that wrote it.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{key_bytes, parse_value};
use crate::db::Db;
use crate::error::Result;
use crate::key::{SequenceNumber, ValueType};
use crate::range_del::{FragmentedRangeTombstones, RangeTombstone};

/// One acknowledged write: the sequence numbers of its first and last operation, and
/// whether it was synced. A write of several items with `first == last` is a transaction's
/// commit: every item has that one sequence number (its keys are distinct).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commit {
    /// Sequence number of its first operation.
    pub first: SequenceNumber,
    /// Sequence number of its last operation.
    pub last: SequenceNumber,
    /// Written with `WriteOptions::sync`.
    pub sync: bool,
}

/// One operation of a write, over key numbers (see `key_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// A put of key `k` (plain or with a TTL the run never reaches), whose value names
    /// its operation.
    Put(u32),
    /// A delete of key `k`.
    Delete(u32),
    /// A range delete of keys `from..to` (`delete_range(key_bytes(from), key_bytes(to))`).
    DeleteRange(u32, u32),
}

impl Item {
    /// True if this item deletes key `k`.
    pub fn deletes(&self, k: u32) -> bool {
        match *self {
            Item::Put(_) => false,
            Item::Delete(d) => d == k,
            Item::DeleteRange(a, b) => a <= k && k < b,
        }
    }

    /// The keys it writes, below `keys`, and whether it puts them.
    pub fn keys(&self, keys: u32) -> Vec<(u32, bool)> {
        match *self {
            Item::Put(k) => vec![(k, true)],
            Item::Delete(k) => vec![(k, false)],
            Item::DeleteRange(a, b) => (a..b.min(keys)).map(|k| (k, false)).collect(),
        }
    }
}

/// What was attempted and what was acknowledged. An intent without a commit is a write in
/// flight when the crash came: it may or may not have become durable, but only whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Oracle {
    /// Operation id -> its items in batch order (one sequence number each).
    pub intents: BTreeMap<u64, Vec<Item>>,
    /// Operation id -> its acknowledgement. A commit without an intent is a write outside
    /// the key space (the liveness probe): it only consumes sequence numbers.
    pub commits: BTreeMap<u64, Commit>,
}

impl Oracle {
    /// Records that operation `op` is about to write `items`.
    pub fn record_intent(&mut self, op: u64, items: Vec<Item>) {
        self.intents.insert(op, items);
    }

    /// Records the acknowledgement of operation `op`.
    pub fn record_commit(&mut self, op: u64, commit: Commit) {
        self.commits.insert(op, commit);
    }

    /// Records a successful `Db::sync_wal`: every write acknowledged before it is now
    /// durable, as if written with `sync`.
    pub fn record_sync_wal(&mut self) {
        for c in self.commits.values_mut() {
            c.sync = true;
        }
    }

    /// The highest sequence number of a synced acknowledged write (0 if none).
    pub fn synced_floor(&self) -> SequenceNumber {
        self.commits.values().filter(|c| c.sync).map(|c| c.last).max().unwrap_or(0)
    }

    /// The highest acknowledged sequence number (0 if none).
    pub fn last_acked(&self) -> SequenceNumber {
        self.commits.values().map(|c| c.last).max().unwrap_or(0)
    }

    /// Acknowledged writes, counting the synced ones: `(acked, synced)`.
    pub fn acked_counts(&self) -> (u64, u64) {
        let acked = self.commits.keys().filter(|op| self.intents.contains_key(op)).count() as u64;
        let synced =
            self.commits.iter().filter(|(op, c)| c.sync && self.intents.contains_key(op)).count() as u64;
        (acked, synced)
    }

    /// Operations attempted but never acknowledged.
    pub fn pending(&self) -> impl Iterator<Item = (u64, &Vec<Item>)> + '_ {
        self.intents.iter().filter(|(op, _)| !self.commits.contains_key(op)).map(|(op, it)| (*op, it))
    }

    /// The `ops.log` line of an intent: `I <op> <item> ...`, each item `<key>:p` (put),
    /// `<key>:-` (delete) or `<from>-<to>:r` (range delete).
    pub fn intent_line(op: u64, items: &[Item]) -> String {
        let items: Vec<String> = items
            .iter()
            .map(|it| match it {
                Item::Put(k) => format!("{k}:p"),
                Item::Delete(k) => format!("{k}:-"),
                Item::DeleteRange(a, b) => format!("{a}-{b}:r"),
            })
            .collect();
        format!("I {op} {}\n", items.join(" "))
    }

    /// The `ops.log` line of a commit: `C <op> <first> <last> <sync 0|1>`.
    pub fn commit_line(op: u64, c: Commit) -> String {
        format!("C {op} {} {} {}\n", c.first, c.last, u8::from(c.sync))
    }

    /// Reads an `ops.log`. A torn last line (the writer was killed mid-`write`) is
    /// ignored, as is any line that does not parse.
    pub fn parse_log(text: &str) -> Oracle {
        let mut o = Oracle::default();
        for line in text.lines() {
            let mut f = line.split_whitespace();
            match f.next() {
                Some("I") => {
                    let Some(op) = f.next().and_then(|v| v.parse().ok()) else { continue };
                    let items = f
                        .filter_map(|it| it.split_once(':'))
                        .filter_map(|(k, v)| match v {
                            "p" => Some(Item::Put(k.parse().ok()?)),
                            "-" => Some(Item::Delete(k.parse().ok()?)),
                            "r" => {
                                let (a, b) = k.split_once('-')?;
                                Some(Item::DeleteRange(a.parse().ok()?, b.parse().ok()?))
                            }
                            _ => None,
                        })
                        .collect();
                    o.record_intent(op, items);
                }
                Some("C") => {
                    let v: Vec<u64> = f.filter_map(|x| x.parse().ok()).collect();
                    if v.len() == 4 {
                        o.record_commit(v[0], Commit { first: v[1], last: v[2], sync: v[3] == 1 });
                    }
                }
                _ => {}
            }
        }
        o
    }
}

/// Checks a recovered database against `oracle` for keys `0..keys`. `keeps_unsynced` says
/// whether every acknowledged write must have survived (a process kill) or only the synced
/// ones (a power loss). Returns the violations, each starting with its invariant ID, and
/// whether an acknowledged write was (legally) lost.
///
/// With `m` the recovered sequence number, the database must hold exactly the
/// acknowledged writes numbered up to `m` (a prefix of the write order, INV-03), plus
/// possibly writes that were in flight: INV-01 (`m` below a synced write), INV-02 (below
/// any acknowledged write, for a kill), INV-04 (`m` inside a batch), INV-05 (a value no
/// write supplied, or `get` and a scan disagree), INV-06 (a deleted key back), INV-07 (a
/// sequence number no write explains).
///
/// # Errors
/// A read of the recovered database that fails.
pub fn verify(db: &Db, oracle: &Oracle, keys: u32, keeps_unsynced: bool) -> Result<(Vec<String>, bool)> {
    let m = db.last_seqno();
    let mut v = Vec::new();
    let last_acked = oracle.last_acked();
    if m < oracle.synced_floor() {
        v.push(format!("INV-01 recovered seqno {m} below the last synced write {}", oracle.synced_floor()));
    }
    if keeps_unsynced && m < last_acked {
        v.push(format!("INV-02 recovered seqno {m} below the last acknowledged write {last_acked}"));
    }
    if let Some(c) = oracle.commits.values().find(|c| c.first <= m && m < c.last) {
        v.push(format!("INV-04 recovered seqno {m} falls inside the batch {}..={}", c.first, c.last));
    }
    let pending: HashSet<u64> = oracle.pending().map(|(op, _)| op).collect();
    let pending_ops: u64 = oracle.pending().map(|(_, it)| it.len() as u64).sum();
    if m > last_acked + pending_ops {
        v.push(format!("INV-07 recovered seqno {m} beyond anything written ({last_acked} acknowledged)"));
    }
    let pending_deletes: HashSet<u32> = oracle
        .pending()
        .flat_map(|(_, it)| it.iter().flat_map(|i| i.keys(keys)).filter(|(_, put)| !put).map(|(k, _)| k))
        .collect();

    // The acknowledged writes the recovered prefix must hold, in sequence order, and the
    // last one of each key.
    let mut by_seq: Vec<(SequenceNumber, SequenceNumber, u64)> =
        oracle.commits.iter().filter(|(_, c)| c.last <= m).map(|(op, c)| (c.first, c.last, *op)).collect();
    by_seq.sort_unstable();
    let mut last_committed: HashMap<u32, (SequenceNumber, bool)> = HashMap::new();
    for &(first, last, op) in &by_seq {
        for (i, item) in oracle.intents.get(&op).into_iter().flatten().enumerate() {
            for (k, put) in item.keys(keys) {
                let seq = if first == last { first } else { first + i as u64 };
                last_committed.insert(k, (seq, put));
            }
        }
    }

    // The newest entry of every key, with its sequence number (internal-key order puts it
    // first), the range tombstones, and the user view by a scan.
    let mut newest: BTreeMap<Vec<u8>, (SequenceNumber, ValueType, Vec<u8>)> = BTreeMap::new();
    let mut ranges = Vec::new();
    db.for_each_internal_entry(&mut |k, seq, t, val| {
        if t == ValueType::RangeDeletion {
            ranges.push(RangeTombstone { start: k.to_vec().into(), end: val.to_vec().into(), seqno: seq });
        } else {
            newest.entry(k.to_vec()).or_insert_with(|| (seq, t, val.to_vec()));
        }
        true
    })?;
    let ranges = FragmentedRangeTombstones::new(ranges);
    let mut scanned: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for item in db.iter() {
        let (k, val) = item?;
        scanned.insert(k.to_vec(), val.to_vec());
    }

    for k in 0..keys {
        let kb = key_bytes(k);
        let point = db.get(&kb)?.map(|b| b.to_vec());
        if point.as_ref() != scanned.get(&kb) {
            v.push(format!("INV-05 key {k}: get and scan disagree"));
        }
        // The key's newest event: its newest point entry, or a newer range tombstone
        // covering it.
        let covering_range = ranges.max_covering(&kb, SequenceNumber::MAX);
        let range_event =
            (covering_range > 0).then(|| (covering_range, ValueType::RangeDeletion, Vec::new()));
        let event = match (newest.get(&kb), range_event.as_ref()) {
            (Some(p), Some(r)) => Some(if r.0 > p.0 { r } else { p }),
            (p, r) => p.or(r),
        };
        let Some((seq, t, val)) = event else {
            // No entry at all (a tombstone at the last level is dropped with what it
            // hides): fine unless the key's last acknowledged write is a put and no
            // delete was in flight.
            if let Some(&(c, true)) = last_committed.get(&k) {
                if !pending_deletes.contains(&k) {
                    v.push(format!(
                        "INV-03 key {k}: the acknowledged put at seqno {c} is missing (recovered {m})"
                    ));
                }
            }
            continue;
        };
        let (seq, t) = (*seq, *t);
        let visible =
            matches!(t, ValueType::Value | ValueType::ValueWithExpiry).then(|| user_value(t, val).to_vec());
        if visible.as_ref() != scanned.get(&kb) {
            v.push(format!("INV-05 key {k}: the scan does not show its newest entry"));
        }
        if seq > m {
            v.push(format!("INV-07 key {k}: an entry at seqno {seq}, beyond the recovered seqno {m}"));
            continue;
        }
        let value_op = match t {
            ValueType::Value | ValueType::ValueWithExpiry => match parse_value(user_value(t, val)) {
                Some((vk, op)) if vk == k => Some(op),
                Some((vk, _)) => {
                    v.push(format!("INV-05 key {k} holds the value of key {vk}"));
                    continue;
                }
                None => {
                    v.push(format!("INV-05 key {k} holds a value no write supplied"));
                    continue;
                }
            },
            ValueType::Deletion | ValueType::RangeDeletion => None,
        };
        if let Some(&(c, put)) = last_committed.get(&k) {
            if seq < c {
                let id = if put { "INV-03" } else { "INV-06" };
                v.push(format!(
                    "{id} key {k}: newest entry has seqno {seq}, the acknowledged write at {c} is missing"
                ));
                continue;
            }
        }
        let i = by_seq.partition_point(|&(f, _, _)| f <= seq);
        let covering = i.checked_sub(1).map(|i| by_seq[i]).filter(|&(_, l, _)| seq <= l);
        match covering {
            Some((first, last, op)) => {
                let items = oracle.intents.get(&op);
                let item = if first == last {
                    // One sequence number for every item: the key's last item decides.
                    items.and_then(|it| it.iter().rev().find(|i| i.keys(keys).iter().any(|&(ik, _)| ik == k)))
                } else {
                    items.and_then(|it| it.get((seq - first) as usize))
                }
                .copied();
                let ok = match (item, t) {
                    (Some(Item::Put(ik)), ValueType::Value | ValueType::ValueWithExpiry) => {
                        ik == k && value_op == Some(op)
                    }
                    (Some(Item::Delete(ik)), ValueType::Deletion) => ik == k,
                    (Some(r @ Item::DeleteRange(..)), ValueType::RangeDeletion) => r.deletes(k),
                    _ => false,
                };
                if !ok {
                    v.push(format!(
                        "INV-03 key {k}: entry at seqno {seq} does not match acknowledged op {op}"
                    ));
                }
            }
            None => {
                // Only a write in flight at the crash may be there.
                let from_pending = match value_op {
                    Some(op) => pending.contains(&op),
                    None => pending_deletes.contains(&k),
                };
                if !from_pending {
                    v.push(format!(
                        "INV-07 key {k}: seqno {seq} belongs to no acknowledged or pending write"
                    ));
                }
            }
        }
    }
    Ok((v, m < last_acked))
}

/// The user's value of a stored value: an expiring put's value follows its expiry header.
fn user_value(t: ValueType, stored: &[u8]) -> &[u8] {
    match t {
        ValueType::ValueWithExpiry => stored.get(crate::key::EXPIRY_HEADER_LEN..).unwrap_or_default(),
        _ => stored,
    }
}

/// The liveness probe after recovery (INV-23): one synced write outside the key space.
/// Returns its sequence number.
///
/// # Errors
/// The write's error: the recovered database cannot make progress.
pub fn probe_liveness(db: &Db) -> Result<SequenceNumber> {
    let mut b = crate::batch::WriteBatch::new();
    b.put(b"liveness", b"after recovery");
    db.write_opt(b, &crate::options::WriteOptions { sync: true })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_round_trip_and_torn_lines_are_ignored() {
        let mut text = Oracle::intent_line(7, &[Item::Put(1), Item::Delete(2), Item::DeleteRange(3, 9)]);
        text.push_str(&Oracle::commit_line(7, Commit { first: 10, last: 12, sync: true }));
        text.push_str(&Oracle::intent_line(8, &[Item::Put(3)]));
        text.push_str("C 8 12"); // torn
        let o = Oracle::parse_log(&text);
        assert_eq!(o.intents[&7], vec![Item::Put(1), Item::Delete(2), Item::DeleteRange(3, 9)]);
        assert_eq!(o.commits[&7], Commit { first: 10, last: 12, sync: true });
        assert!(!o.commits.contains_key(&8));
        assert_eq!(o.pending().map(|(op, _)| op).collect::<Vec<_>>(), vec![8]);
        assert_eq!((o.synced_floor(), o.last_acked()), (12, 12));
    }
}
