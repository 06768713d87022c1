//! Recovery step 6 without a memtable: the entries a read-write open replays from its WALs
//! are collected as references into the WAL records, sorted once in internal-key order
//! and written straight into the recovery's L0 table.
//!
//! A read-write open flushes everything it replays before it accepts a write
//! (DESIGN.md §5.5), so the memtable used to be only a sorter: every entry was copied into
//! its arena and inserted into its B+tree, then read back in order. Collecting
//! `(key, trailer, value)` references and sorting them produces the same table (the
//! test `replay_sort_matches_the_memtable` compares the two entry by entry) at a fraction
//! of the cost; a read-only open, which serves the replayed entries, still fills a
//! memtable.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use super::builder::TableWriter;
use crate::batch::BatchOp;
use crate::compaction::job::TableSink;
use crate::error::{CorruptionKind, Error, Result};
use crate::fs::FileSystem;
use crate::key::{pack_trailer, SequenceNumber, ValueType};
use crate::options::Options;
use crate::sstable::{TableContext, TableId};
use crate::version::TableHandle;

/// A point entry of a replayed record: where its key and value lie in the record.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The 8 bytes of the user key after the prefix every key shares, big-endian,
    /// zero-padded (set by `write`): two different heads decide the order without
    /// touching the records.
    head: u64,
    /// `pack_trailer(seqno, type)`.
    trailer: u64,
    /// Index of the bytes holding the entry in `SortedReplay::sources`.
    source: u32,
    /// Offsets of the key and the value in that source.
    key: (u32, u32),
    value: (u32, u32),
}

/// The entries of the replayed WALs, in replay order until [`SortedReplay::write`].
#[derive(Debug, Default)]
pub(super) struct SortedReplay {
    /// What the entries point into: each replayed WAL's bytes (its one-fragment records
    /// are slices of them), and each record that is not such a slice (assembled from
    /// fragments, or too far into a WAL for a 32-bit offset). One `Bytes` per WAL rather
    /// than per record: 2.1M records of one WAL took 68 MB of freshly zeroed memory as
    /// `Bytes`, about a tenth of the replay's time on this machine.
    sources: Vec<Bytes>,
    /// The WAL being replayed (`begin_wal`): its index in `sources`, and where its bytes
    /// start and end in memory.
    wal: Option<(u32, usize, usize)>,
    entries: Vec<Entry>,
    /// Range tombstones `(start, end, seqno)`, in replay order (as a memtable keeps them).
    ranges: Vec<(Bytes, Bytes, SequenceNumber)>,
}

#[expect(clippy::big_endian_bytes, reason = "a big-endian head orders as its bytes do")]
fn head_of(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(b)
}

/// WAL bytes per entry assumed when reserving room for the entries up front: a 16-byte
/// key with a 100-byte value takes about 130 bytes of WAL, so reserving one entry per
/// 48 bytes rarely grows the vector (each growth copies it and touches fresh memory),
/// while what is reserved and never used costs address space, not memory.
const RESERVE_WAL_BYTES_PER_ENTRY: usize = 48;

/// How many entries ahead `write` touches the next keys (see there).
const PREFETCH_DISTANCE: usize = 16;

impl SortedReplay {
    /// Room for the entries of `wal_bytes` bytes of WAL.
    pub(super) fn reserve_for(&mut self, wal_bytes: usize) {
        self.entries.reserve(wal_bytes / RESERVE_WAL_BYTES_PER_ENTRY);
    }

    /// Starts the records of a WAL whose bytes are `data`: records that are slices of it
    /// are referenced through it.
    pub(super) fn begin_wal(&mut self, data: &Bytes) {
        let Ok(index) = u32::try_from(self.sources.len()) else {
            self.wal = None;
            return;
        };
        self.sources.push(data.clone());
        let start = data.as_ptr() as usize;
        self.wal = Some((index, start, start + data.len()));
    }

    /// The source of `record` and the offset of its first byte there: the current WAL if
    /// the record is a slice of it at a 32-bit offset, else the record itself.
    fn source_of(&mut self, record: &Bytes) -> Result<(u32, usize)> {
        let at = record.as_ptr() as usize;
        if let Some((index, start, end)) = self.wal {
            if at >= start && at + record.len() <= end && at + record.len() - start <= u32::MAX as usize {
                return Ok((index, at - start));
            }
        }
        let index = u32::try_from(self.sources.len())
            .map_err(|_| Error::InvalidArgument("over 4 billion replayed records"))?;
        self.sources.push(record.clone());
        Ok((index, 0))
    }

    /// True if no entry and no range tombstone was added.
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.ranges.is_empty()
    }

    /// Adds a decoded batch record: operation `i` gets sequence number `first + i`, or
    /// `first` for a batch that shares one (as `batch::insert_into` numbers them).
    ///
    /// # Errors
    /// [`Error::Corruption`] if an offset does not fit 32 bits (a record is at most
    /// `MAX_BATCH_SIZE`, 1 GiB, so only a malformed record could).
    pub(super) fn add(
        &mut self,
        record: Bytes,
        first: SequenceNumber,
        ops: &[BatchOp],
        shared_seqno: bool,
        file: &std::path::Path,
        offset: u64,
    ) -> Result<()> {
        let (source, base) = if ops.iter().any(|op| op.value_type != ValueType::RangeDeletion) {
            self.source_of(&record)?
        } else {
            (0, 0)
        };
        let narrow = |(a, b): (usize, usize)| -> Result<(u32, u32)> {
            match (u32::try_from(base + a), u32::try_from(base + b)) {
                (Ok(a), Ok(b)) => Ok((a, b)),
                _ => {
                    Err(Error::corruption(file, offset, CorruptionKind::Malformed("write batch over 4 GiB")))
                }
            }
        };
        for (i, op) in ops.iter().enumerate() {
            let seqno = if shared_seqno { first } else { first + i as u64 };
            if op.value_type == ValueType::RangeDeletion {
                self.ranges.push((
                    record.slice(op.key.0..op.key.1),
                    record.slice(op.value.0..op.value.1),
                    seqno,
                ));
                continue;
            }
            self.entries.push(Entry {
                head: 0,
                trailer: pack_trailer(seqno, op.value_type),
                source,
                key: narrow(op.key)?,
                value: narrow(op.value)?,
            });
        }
        Ok(())
    }

    /// Sorts the entries by internal key (user key ascending, then trailer descending, as
    /// `key::compare_internal_keys`).
    fn sort(&mut self) {
        let records = &self.sources;
        let user_key = |e: &Entry| &records[e.source as usize][e.key.0 as usize..e.key.1 as usize];
        // Keys often share a long prefix (`user:`, zero-padded numbers): the heads start
        // after it.
        let shared = match self.entries.first() {
            None => 0,
            Some(e0) => {
                let k0 = user_key(e0);
                self.entries.iter().fold(k0.len(), |n, e| {
                    let k = user_key(e);
                    k0[..n].iter().zip(k).take_while(|(a, b)| a == b).count()
                })
            }
        };
        for e in &mut self.entries {
            let k = &records[e.source as usize][e.key.0 as usize..e.key.1 as usize];
            e.head = head_of(&k[shared..]);
        }
        // Invariant: sequence numbers are unique per user key (a batch sharing one
        // sequence number repeats no key, `batch::decode_rep`), so this order is total
        // and an unstable sort gives the memtable's order.
        self.entries.sort_unstable_by(|a, b| {
            a.head
                .cmp(&b.head)
                .then_with(|| user_key(a).cmp(user_key(b)))
                .then_with(|| b.trailer.cmp(&a.trailer))
        });
    }

    /// Sorts the entries and writes them, then the range tombstones, into one table, as
    /// `builder::write_memtable` writes a memtable.
    ///
    /// # Errors
    /// [`Error::Io`] from writing or syncing.
    pub(super) fn write(&mut self, writer: &mut TableWriter<'_>) -> Result<()> {
        self.sort();
        write_entries(&self.sources, &self.entries, writer)?;
        for (start, end, seqno) in &self.ranges {
            writer.add_range_tombstone(start, end, *seqno)?;
        }
        writer.finish_table()?;
        writer.sync_dir()
    }

    /// Sorts the entries and writes them into L0 tables: one, or, for a large replay
    /// without range tombstones, two tables of disjoint key ranges written at once by two
    /// threads (the table writes, block building, LZ4 and the filter, are most of a
    /// replay's time). Two L0 tables whose key ranges are disjoint never hold versions of
    /// the same user key, so a lookup finds a key in at most one of them and their
    /// interleaved sequence numbers do not matter (`Version::get_with_seqno` consults
    /// every L0 table that overlaps the key). The split falls between two user keys.
    /// Tables are created with numbers from `next_file`, which is advanced.
    ///
    /// # Errors
    /// [`Error::Io`] from writing or syncing; the thread's spawn error.
    pub(super) fn write_tables(
        &mut self,
        fs: &Arc<dyn FileSystem>,
        dir: &Path,
        opts: &Options,
        next_file: &mut u64,
        ctx: &TableContext,
        id: TableId,
    ) -> Result<Vec<Arc<TableHandle>>> {
        self.write_tables_at(fs, dir, opts, next_file, ctx, id, PARALLEL_MIN_ENTRIES)
    }

    /// [`SortedReplay::write_tables`] with the entry count at which it splits.
    #[expect(clippy::too_many_arguments, reason = "write_tables' arguments and the threshold")]
    fn write_tables_at(
        &mut self,
        fs: &Arc<dyn FileSystem>,
        dir: &Path,
        opts: &Options,
        next_file: &mut u64,
        ctx: &TableContext,
        id: TableId,
        parallel_min: usize,
    ) -> Result<Vec<Arc<TableHandle>>> {
        let split = self.entries.len() >= parallel_min.max(2) && self.ranges.is_empty();
        if !split {
            let mut alloc = || {
                *next_file += 1;
                *next_file - 1
            };
            let mut writer = TableWriter::new(fs, dir, opts, &mut alloc, ctx.clone(), id);
            self.write(&mut writer)?;
            return Ok(std::mem::take(&mut writer.outputs));
        }
        self.sort();
        let records = &self.sources;
        let user_key = |e: &Entry| &records[e.source as usize][e.key.0 as usize..e.key.1 as usize];
        let mut mid = self.entries.len() / 2;
        while mid < self.entries.len() && user_key(&self.entries[mid]) == user_key(&self.entries[mid - 1]) {
            mid += 1;
        }
        let (low, high) = self.entries.split_at(mid);
        let numbers = AtomicU64::new(*next_file);
        let write_half = |half: &[Entry]| -> Result<Vec<Arc<TableHandle>>> {
            let mut alloc = || numbers.fetch_add(1, Ordering::Relaxed);
            let mut writer = TableWriter::new(fs, dir, opts, &mut alloc, ctx.clone(), id);
            write_entries(records, half, &mut writer)?;
            writer.finish_table()?;
            Ok(std::mem::take(&mut writer.outputs))
        };
        let (mut outputs, high_outputs) = std::thread::scope(|s| -> Result<_> {
            let h = std::thread::Builder::new()
                .name("shaledb-replay".into())
                .spawn_scoped(s, || write_half(high))
                .map_err(Error::Io)?;
            let low_outputs = write_half(low);
            let high_outputs = h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            Ok((low_outputs?, high_outputs?))
        })?;
        *next_file = numbers.into_inner();
        outputs.extend(high_outputs);
        if !outputs.is_empty() {
            fs.sync_dir(dir)?;
        }
        Ok(outputs)
    }
}

/// Entries at or above which a replay without range tombstones is written as two tables
/// by two threads (about 30 MB of WAL for 116-byte entries).
const PARALLEL_MIN_ENTRIES: usize = 256 * 1024;

/// Writes `entries` (sorted) into `writer`, reading their bytes from `records`.
fn write_entries(records: &[Bytes], entries: &[Entry], writer: &mut TableWriter<'_>) -> Result<()> {
    let mut ikey = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        // The entries point all over the WALs: load an entry a few places ahead now,
        // so its cache miss overlaps this entry's work (a prefetch without `unsafe`).
        if let Some(ahead) = entries.get(i + PREFETCH_DISTANCE) {
            std::hint::black_box(records[ahead.source as usize].get(ahead.key.0 as usize));
        }
        let record = &records[e.source as usize];
        ikey.clear();
        ikey.extend_from_slice(&record[e.key.0 as usize..e.key.1 as usize]);
        crate::coding::put_u64(&mut ikey, e.trailer);
        writer.add(&ikey, &record[e.value.0 as usize..e.value.1 as usize])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::SortedReplay;
    use crate::batch::{decode_rep, insert_into, set_header, WriteBatch, BATCH_HEADER_LEN};
    use crate::db::builder::{write_memtable, TableWriter};
    use crate::filename::table_path;
    use crate::fs::{FileSystem, RealFs};
    use crate::iterator::InternalIterator;
    use crate::memtable::MemTable;
    use crate::options::Options;
    use crate::sstable::{BlockReadOptions, Table, TableContext, TableId};

    /// xorshift64: a fixed pseudo-random sequence.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Keys with a long shared prefix, of many lengths, some prefixes of others.
    fn key(rng: &mut Rng) -> Vec<u8> {
        match rng.below(4) {
            0 => format!("user:{}", rng.below(300)).into_bytes(),
            1 => format!("user:{:012}", rng.below(300)).into_bytes(),
            2 => {
                let mut k = format!("user:{}", rng.below(30)).into_bytes();
                k.push(rng.below(3) as u8); // "user:7\0", "user:7\x01", ...
                k
            }
            _ => format!("user:{:04}:{}", rng.below(50), "x".repeat(rng.below(20) as usize)).into_bytes(),
        }
    }

    /// Entries and range tombstones of the table(s) a writer produced, in order.
    fn contents(dir: &std::path::Path, fs: &Arc<dyn FileSystem>, numbers: &[u64]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        for &n in numbers {
            let table =
                Table::open_in(&TableContext::default(), fs.as_ref(), &table_path(dir, n), n).expect("open");
            let table = Arc::new(table);
            let mut it = table.iter(BlockReadOptions::default());
            it.seek_to_first().expect("seek");
            while it.valid() {
                out.push((it.key().to_vec(), it.value().to_vec()));
                it.next().expect("next");
            }
            for f in table.range_tombstones().map(|r| r.fragments().to_vec()).unwrap_or_default() {
                out.push((format!("range {f:?}").into_bytes(), Vec::new()));
            }
        }
        out
    }

    /// Replays `batch`, numbered from `seqno`, as recovery would: into a memtable and into
    /// the sorted references. Returns its last sequence number.
    fn replay_both(batch: &WriteBatch, seqno: u64, mem: &Arc<MemTable>, sorted: &mut SortedReplay) -> u64 {
        let mut rep = vec![0u8; BATCH_HEADER_LEN];
        rep.extend_from_slice(batch.records());
        set_header(&mut rep, seqno, batch.header_count());
        let rep = Bytes::from(rep);
        let at = std::path::Path::new("replay");
        let d = decode_rep(&rep, at, 0).expect("a valid batch");
        insert_into(mem, &rep, seqno, d.ops.iter().copied(), d.shared_seqno);
        sorted.add(rep.clone(), seqno, &d.ops, d.shared_seqno, at, 0).expect("add");
        d.last()
    }

    /// The table written from the sorted references holds exactly what the table written
    /// from a memtable holds, entry by entry, for puts, deletes, expiring puts, range
    /// deletes, overwritten keys and batches that share one sequence number.
    #[test]
    fn replay_sort_matches_the_memtable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs: Arc<dyn FileSystem> = Arc::new(RealFs);
        let opts = Options::default();
        let mem = Arc::new(MemTable::new(0));
        let mut sorted = SortedReplay::default();
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut seqno = 1u64;
        for _ in 0..3000 {
            let mut batch = WriteBatch::new();
            let shared = rng.below(10) == 0;
            let mut used = std::collections::HashSet::new();
            if shared && rng.below(2) == 0 {
                let (a, b) = (key(&mut rng), key(&mut rng));
                batch.delete_range(a.clone().min(b.clone()), a.max(b));
            }
            for _ in 0..=rng.below(8) {
                let k = key(&mut rng);
                if shared && !used.insert(k.clone()) {
                    continue; // a one-seqno batch repeats no key
                }
                match rng.below(20) {
                    0..=11 => batch.put(&k, format!("v{seqno}-{}", rng.below(1000))),
                    12..=15 => batch.delete(&k),
                    16..=17 => batch.put_with_ttl(&k, b"expiring", std::time::Duration::from_secs(60)),
                    _ if !shared => {
                        let e = key(&mut rng);
                        batch.delete_range(k.clone().min(e.clone()), k.max(e));
                    }
                    _ => batch.put(&k, b"late"),
                }
            }
            if batch.is_empty() {
                continue;
            }
            if shared {
                batch.set_shared_seqno();
            }
            seqno = replay_both(&batch, seqno, &mem, &mut sorted) + 1;
        }
        let id = TableId { db_id: 1, session_id: 1 };
        let mut next = 10u64;
        let mut alloc = || {
            next += 1;
            next
        };
        // The numbers and key and seqno ranges of the tables a writer produced.
        type Meta = (u64, Vec<u8>, Vec<u8>, u64, u64);
        let metas = |w: &TableWriter<'_>| -> Vec<Meta> {
            w.outputs
                .iter()
                .map(|t| {
                    let m = &t.meta;
                    (m.number, m.smallest.to_vec(), m.largest.to_vec(), m.smallest_seqno, m.largest_seqno)
                })
                .collect()
        };
        let mut a = TableWriter::new(&fs, dir.path(), &opts, &mut alloc, TableContext::default(), id);
        write_memtable(&mut a, &mem).expect("write the memtable");
        let from_mem = metas(&a);
        drop(a);
        let mut b = TableWriter::new(&fs, dir.path(), &opts, &mut alloc, TableContext::default(), id);
        sorted.write(&mut b).expect("write the sorted entries");
        let from_sorted = metas(&b);
        drop(b);
        let numbers = |m: &[Meta]| m.iter().map(|t| t.0).collect::<Vec<_>>();
        let ranges = |m: &[Meta]| m.iter().map(|t| (t.1.clone(), t.2.clone(), t.3, t.4)).collect::<Vec<_>>();
        let (metas_mem, metas_sorted) = (ranges(&from_mem), ranges(&from_sorted));
        let (from_mem, from_sorted) = (numbers(&from_mem), numbers(&from_sorted));
        let (want, got) = (contents(dir.path(), &fs, &from_mem), contents(dir.path(), &fs, &from_sorted));
        assert!(want.len() > 5000, "the workload wrote {} entries", want.len());
        assert!(want.iter().any(|(k, _)| k.starts_with(b"range ")), "no range tombstone was written");
        assert_eq!(want.len(), got.len());
        for (i, (w, g)) in want.iter().zip(&got).enumerate() {
            assert_eq!(w, g, "entry {i} differs");
        }
        assert_eq!(metas_mem, metas_sorted);
    }

    /// Past the threshold, the entries go to two tables written by two threads: together
    /// they hold exactly what one table from a memtable holds, in order, and the split
    /// falls between user keys (here inside the run of a key that has most of the
    /// versions, so the split moves past its run).
    #[test]
    fn two_tables_hold_the_memtable_split_between_user_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs: Arc<dyn FileSystem> = Arc::new(RealFs);
        let opts = Options::default();
        let mem = Arc::new(MemTable::new(0));
        let mut sorted = SortedReplay::default();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for seqno in 1..=4000u64 {
            let mut batch = WriteBatch::new();
            // "user:5" sorts in the middle and gets 60 % of the writes.
            let k = if rng.below(10) < 6 { b"user:5".to_vec() } else { key(&mut rng) };
            if rng.below(5) == 0 {
                batch.delete(&k);
            } else {
                batch.put(&k, format!("v{seqno}"));
            }
            replay_both(&batch, seqno, &mem, &mut sorted);
        }
        let id = TableId { db_id: 1, session_id: 1 };
        let mut next = 10u64;
        let mut alloc = || {
            next += 1;
            next
        };
        let mut a = TableWriter::new(&fs, dir.path(), &opts, &mut alloc, TableContext::default(), id);
        write_memtable(&mut a, &mem).expect("write the memtable");
        let want_numbers: Vec<u64> = a.outputs.iter().map(|t| t.meta.number).collect();
        drop(a);
        let mut next_file = 100u64;
        let tables = sorted
            .write_tables_at(&fs, dir.path(), &opts, &mut next_file, &TableContext::default(), id, 1000)
            .expect("write two tables");
        assert_eq!(tables.len(), 2, "split into two tables");
        assert_eq!(next_file, 102, "two numbers used");
        let (lo, hi) = (&tables[0].meta, &tables[1].meta);
        assert!(lo.largest_user_key() < hi.smallest_user_key(), "disjoint user-key ranges");
        let got_numbers: Vec<u64> = tables.iter().map(|t| t.meta.number).collect();
        let (want, got) = (contents(dir.path(), &fs, &want_numbers), contents(dir.path(), &fs, &got_numbers));
        assert_eq!(want.len(), 4000);
        assert_eq!(want, got);
    }
}
