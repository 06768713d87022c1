//! Whole-database criterion benches: random puts into the memtable and point gets from
//! a flushed table. Component benches (block, bloom, WAL, merge) come with the
//! benchmarking issue.

use criterion::{criterion_main, Criterion};
use shaledb::{Db, Options};

fn key(i: u64) -> [u8; 16] {
    let mut k = [b'0'; 16];
    let s = format!("{:016}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % 1_000_000);
    k.copy_from_slice(s.as_bytes());
    k
}

fn bench_db(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let value = [b'v'; 100];
    let mut i = 0u64;
    c.bench_function("put_random_100B", |b| {
        b.iter(|| {
            i += 1;
            db.put(key(i), value).expect("put");
        });
    });
    for j in 0..100_000 {
        db.put(key(j), value).expect("put");
    }
    db.flush().expect("flush");
    let mut j = 0u64;
    c.bench_function("get_from_table", |b| {
        b.iter(|| {
            j = (j + 7) % 100_000;
            db.get(key(j)).expect("get")
        });
    });
}

mod group {
    criterion::criterion_group!(benches, super::bench_db);
}
criterion_main!(group::benches);
