//! A table answers point lookups the same whichever filter kind it carries: the blocked
//! filter this build writes, or the standard one of tables written before it
//! (docs/format.md §3.5), which it still reads by its metaindex name.

use shaledb::fs::FileSystem;
use shaledb::key::{encode_internal_key, LookupResult};
use shaledb::sstable::filter::{key_hash, FilterKind};
use shaledb::sstable::{BlockReadOptions, Table, TableBuilder, TableOptions};
use shaledb::{Compression, ValueType};

#[test]
fn lookups_agree_across_filter_kinds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = TableOptions {
        block_size: 4096,
        restart_interval: 16,
        compression: Compression::Lz4,
        bits_per_key: 10,
    };
    for kind in [FilterKind::Blocked, FilterKind::Standard] {
        let path = dir.path().join(format!("{kind:?}.sst"));
        let file = shaledb::fs::RealFs.create(&path).expect("create");
        let mut b = TableBuilder::new(file, path.clone(), opts);
        b.filter_kind(kind);
        for i in 0..5_000u32 {
            let k = format!("key{:06}", i * 2);
            b.add(
                &encode_internal_key(k.as_bytes(), u64::from(i) + 1, ValueType::Value),
                k.as_bytes(),
            )
            .expect("add");
        }
        b.finish().expect("finish");
        let table = Table::open(&shaledb::fs::RealFs, &path).expect("open");
        assert_eq!(table.filter().expect("a filter").kind(), kind);
        for i in 0..10_000u32 {
            let k = format!("key{i:06}");
            let got = table
                .get(
                    k.as_bytes(),
                    u64::MAX >> 8,
                    key_hash(k.as_bytes()),
                    BlockReadOptions::default(),
                )
                .expect("get");
            match got {
                Some((_, LookupResult::Found(v))) => {
                    assert_eq!(i % 2, 0, "{kind:?}: {k} was never added");
                    assert_eq!(&v[..], k.as_bytes());
                }
                None => assert_eq!(i % 2, 1, "{kind:?}: {k} not found"),
                other => panic!("{kind:?}: {k}: {other:?}"),
            }
        }
    }
}
