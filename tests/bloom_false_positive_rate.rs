//! Bloom filters of both kinds (docs/format.md §3.5): the false-positive rate at 10 bits
//! per key is within 25% of the theoretical rate for its 7 probes, no added key is ever
//! missed, and a table whose filter block is damaged fails with `Corruption` instead of
//! answering "not found".

use shaledb::sstable::filter::{
    build, key_hash, num_probes, BloomFilter, FilterKind, BLOCKED_LINE_BYTES,
};
use shaledb::{Db, Error, Options};

/// The false-positive rate of a standard bloom filter of `b` bits per key and `k` probes.
fn standard_theory(b: f64, k: f64) -> f64 {
    (1.0 - (-k / b).exp()).powf(k)
}

/// The false-positive rate of a blocked one (Putze, Sanders and Singler 2007): the keys
/// per line are Poisson with mean `line_bits / b`, and each line is a standard filter.
fn blocked_theory(b: f64, k: f64) -> f64 {
    let line_bits = (BLOCKED_LINE_BYTES * 8) as f64;
    let mean = line_bits / b;
    let mut p = (-mean).exp(); // P(j = 0)
    let mut rate = 0.0;
    for j in 0..400 {
        if j > 0 {
            p *= mean / f64::from(j);
        }
        rate += p * (1.0 - (1.0 - 1.0 / line_bits).powf(k * f64::from(j))).powf(k);
    }
    rate
}

#[test]
fn false_positive_rate_matches_theory_at_10_bits_per_key() {
    let n = 200_000u64;
    let hashes: Vec<u64> = (0..n)
        .map(|i| key_hash(format!("present-{i:08}").as_bytes()))
        .collect();
    let k = f64::from(num_probes(10));
    for (kind, theory) in [
        (FilterKind::Blocked, blocked_theory(10.0, k)),
        (FilterKind::Standard, standard_theory(10.0, k)),
    ] {
        let filter =
            BloomFilter::decode(bytes::Bytes::from(build(&hashes, 10, kind)), kind).expect("valid");
        assert_eq!(filter.kind(), kind);
        assert!(
            hashes.iter().all(|&h| filter.may_contain(h)),
            "no false negatives ({kind:?})"
        );
        let probes = 1_000_000u64;
        let fp = (0..probes)
            .filter(|i| filter.may_contain(key_hash(format!("absent-{i:08}").as_bytes())))
            .count();
        let rate = fp as f64 / probes as f64;
        eprintln!(
            "{kind:?}: measured false-positive rate {rate:.5}, theoretical {theory:.5} (k = {k})"
        );
        assert!(
            (rate - theory).abs() <= 0.25 * theory,
            "{kind:?}: rate {rate} vs theory {theory}"
        );
    }
}

#[test]
fn damaged_filter_block_is_corruption_not_a_miss() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path(), Options::default()).expect("open");
        for i in 0..1000u32 {
            db.put(format!("k{i:04}"), "v").expect("put");
        }
        db.flush().expect("flush");
        db.close().expect("close");
    }
    let sst = std::fs::read_dir(dir.path())
        .expect("ls")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "sst"))
        .expect("table");
    let table = shaledb::sstable::Table::open(&shaledb::fs::RealFs, &sst).expect("open table");
    let filter = table.filter().expect("a filter");
    assert_eq!(
        filter.kind(),
        FilterKind::Blocked,
        "new tables get blocked filters"
    );
    let filter_len = filter.size();
    let data_size = table.properties().data_size;
    drop(table);
    // The filter block is written right after the data blocks.
    let mut bytes = std::fs::read(&sst).expect("read");
    bytes[usize::try_from(data_size).expect("fits") + filter_len / 2] ^= 0x01;
    std::fs::write(&sst, &bytes).expect("write");
    match Db::open(dir.path(), Options::default()) {
        Err(Error::Corruption { file, offset, .. }) => {
            assert_eq!(file, sst);
            assert_eq!(offset, data_size);
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn filters_can_be_turned_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default().bits_per_key(0)).expect("open");
    db.put("a", "1").expect("put");
    db.flush().expect("flush");
    assert_eq!(db.get("a").expect("get").as_deref(), Some(&b"1"[..]));
    assert_eq!(db.get("b").expect("get"), None);
}
