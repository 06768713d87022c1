//! Component benches: block build and seek, bloom build and probe, memtable insert and get,
//! WAL append (with and without sync) and the merging iterator. Run with
//! `cargo bench --bench components`.

use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_main, BatchSize, Criterion};
use shaledb::fs::{FileSystem, RealFs};
use shaledb::iterator::merging::MergingIterator;
use shaledb::iterator::InternalIterator;
use shaledb::key::{compare_internal_keys, encode_internal_key, ValueType};
use shaledb::memtable::iter::MemTableIter;
use shaledb::memtable::MemTable;
use shaledb::sstable::block::{Block, BlockBuilder};
use shaledb::sstable::filter::{build, key_hash, BloomFilter, FilterKind};
use shaledb::wal::LogWriter;

fn ikey(i: u64) -> Vec<u8> {
    encode_internal_key(format!("key{i:012}").as_bytes(), i, ValueType::Value)
}

fn block_benches(c: &mut Criterion) {
    let entries: Vec<(Vec<u8>, Vec<u8>)> = (0..40).map(|i| (ikey(i), vec![b'v'; 100])).collect();
    c.bench_function("block_build_4KiB", |b| {
        b.iter(|| {
            let mut bb = BlockBuilder::new(16);
            for (k, v) in &entries {
                bb.add(k, v);
            }
            bb.finish()
        });
    });
    let mut bb = BlockBuilder::new(16);
    for (k, v) in &entries {
        bb.add(k, v);
    }
    let block = Block::new(Bytes::from(bb.finish())).expect("block");
    let mut i = 0u64;
    c.bench_function("block_seek", |b| {
        b.iter(|| {
            i = (i + 7) % 40;
            let mut it = block.iter(compare_internal_keys);
            it.seek(&ikey(i)).expect("seek");
            it.valid()
        });
    });
}

fn bloom_benches(c: &mut Criterion) {
    let hashes: Vec<u64> = (0..10_000u64)
        .map(|i| key_hash(format!("key{i}").as_bytes()))
        .collect();
    c.bench_function("bloom_build_10k_keys", |b| {
        b.iter(|| build(&hashes, 10, FilterKind::Blocked))
    });
    let f = BloomFilter::decode(
        Bytes::from(build(&hashes, 10, FilterKind::Blocked)),
        FilterKind::Blocked,
    )
    .expect("filter");
    let mut i = 0u64;
    c.bench_function("bloom_probe", |b| {
        b.iter(|| {
            i += 1;
            f.may_contain(key_hash(format!("absent{i}").as_bytes()))
        });
    });
}

fn memtable_benches(c: &mut Criterion) {
    let value = Bytes::from(vec![b'v'; 100]);
    c.bench_function("memtable_insert", |b| {
        b.iter_batched(
            || MemTable::new(1),
            |m| {
                for i in 0..1000u64 {
                    m.insert_many([(
                        Bytes::from(format!("key{:012}", i * 7919 % 1000)),
                        i + 1,
                        ValueType::Value,
                        value.clone(),
                    )]);
                }
                m
            },
            BatchSize::SmallInput,
        );
    });
    let m = MemTable::new(1);
    for i in 0..100_000u64 {
        m.insert_many([(
            Bytes::from(format!("key{i:012}")),
            i + 1,
            ValueType::Value,
            value.clone(),
        )]);
    }
    // A full-size memtable (500K entries, random order) as the server and fillrandom see
    // it: lookups and inserts miss the cache.
    let big = MemTable::new(1);
    let mut seq = 0u64;
    for i in 0..500_000u64 {
        seq += 1;
        let k = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 10_000_000;
        big.insert_many([(
            Bytes::from(format!("key{k:012}")),
            seq,
            ValueType::Value,
            value.clone(),
        )]);
    }
    let mut j = 0u64;
    c.bench_function("memtable_get_500k_random", |b| {
        b.iter(|| {
            j += 1;
            let k = j.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 10_000_000;
            big.get(format!("key{k:012}").as_bytes(), u64::MAX >> 8)
        });
    });
    c.bench_function("memtable_insert_at_500k_random", |b| {
        b.iter(|| {
            seq += 1;
            let k = seq.wrapping_mul(0x2545_F491_4F6C_DD1D) % 10_000_000;
            big.insert_many([(
                Bytes::from(format!("key{k:012}")),
                seq,
                ValueType::Value,
                value.clone(),
            )]);
        });
    });
    // Two kinds of key with long prefixes, as `shale serve` writes them: a SET load, then
    // an INCR load (keys `k\0key:…` then `k\0counter:…`, 12-digit numbers).
    let kinds = MemTable::new(1);
    let mut kseq = 0u64;
    for kind in ["key", "counter"] {
        for i in 0..250_000u64 {
            kseq += 1;
            let k = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 1_000_000;
            kinds.insert_many([(
                Bytes::from(format!("k\0{kind}:{k:012}")),
                kseq,
                ValueType::Value,
                value.clone(),
            )]);
        }
    }
    let mut j2 = 0u64;
    c.bench_function("memtable_get_500k_two_kinds", |b| {
        b.iter(|| {
            j2 += 1;
            let k = j2.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 1_000_000;
            kinds.get(format!("k\0counter:{k:012}").as_bytes(), u64::MAX >> 8)
        });
    });
    c.bench_function("memtable_insert_at_500k_two_kinds", |b| {
        b.iter(|| {
            kseq += 1;
            let k = kseq.wrapping_mul(0x2545_F491_4F6C_DD1D) % 1_000_000;
            kinds.insert_many([(
                Bytes::from(format!("k\0counter:{k:012}")),
                kseq,
                ValueType::Value,
                value.clone(),
            )]);
        });
    });
    // One kind of key, each new one with its count record (`m\0` and a slot), as a SET
    // load on `shale serve` writes them.
    let counted = MemTable::new(1);
    let mut cseq = 0u64;
    let put_counted = |m: &MemTable, seq: &mut u64, k: u64| {
        *seq += 2;
        m.insert_many([
            (
                Bytes::from(format!("k\0key:{k:012}")),
                *seq - 1,
                ValueType::Value,
                value.clone(),
            ),
            (
                Bytes::from_static(b"m\0\0\0"),
                *seq,
                ValueType::Value,
                Bytes::from_static(&[0; 16]),
            ),
        ]);
    };
    for i in 0..250_000u64 {
        put_counted(
            &counted,
            &mut cseq,
            i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 1_000_000,
        );
    }
    c.bench_function("memtable_insert_at_500k_keys_and_counts", |b| {
        b.iter(|| {
            let k = cseq.wrapping_mul(0x2545_F491_4F6C_DD1D) % 1_000_000;
            put_counted(&counted, &mut cseq, k);
        });
    });
    let mut j3 = 0u64;
    c.bench_function("memtable_get_500k_keys_and_counts", |b| {
        b.iter(|| {
            j3 += 1;
            let k = j3.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 1_000_000;
            counted.get(format!("k\0key:{k:012}").as_bytes(), u64::MAX >> 8)
        });
    });
    let mut i = 0u64;
    c.bench_function("memtable_get_100k", |b| {
        b.iter(|| {
            i = (i + 7919) % 100_000;
            m.get(format!("key{i:012}").as_bytes(), u64::MAX >> 8)
        });
    });
}

fn wal_benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let record = vec![b'r'; 128];
    for sync in [false, true] {
        let file = RealFs
            .create(&dir.path().join(format!("{}.log", u8::from(sync))))
            .expect("create");
        let mut w = LogWriter::new(file, 1);
        let name = if sync {
            "wal_append_128B_sync"
        } else {
            "wal_append_128B"
        };
        c.bench_function(name, |b| {
            b.iter(|| {
                w.add_record(&record).expect("append");
                if sync {
                    w.sync().expect("sync");
                }
            });
        });
    }
}

fn merge_benches(c: &mut Criterion) {
    let mems: Vec<Arc<MemTable>> = (0..4u64)
        .map(|t| {
            let m = Arc::new(MemTable::new(t));
            for i in 0..25_000u64 {
                m.insert_many([(
                    Bytes::from(format!("key{:012}", i * 4 + t)),
                    i * 4 + t + 1,
                    ValueType::Value,
                    Bytes::from_static(b"v"),
                )]);
            }
            m
        })
        .collect();
    c.bench_function("merging_iterator_100k_over_4", |b| {
        b.iter(|| {
            let children: Vec<Box<dyn InternalIterator>> = mems
                .iter()
                .map(|m| Box::new(MemTableIter::new(Arc::clone(m))) as Box<dyn InternalIterator>)
                .collect();
            let mut it = MergingIterator::new(children);
            it.seek_to_first().expect("seek");
            let mut n = 0;
            while it.valid() {
                n += 1;
                it.next().expect("next");
            }
            n
        });
    });
}

mod group {
    criterion::criterion_group!(
        benches,
        super::block_benches,
        super::bloom_benches,
        super::memtable_benches,
        super::wal_benches,
        super::merge_benches
    );
}
criterion_main!(group::benches);
