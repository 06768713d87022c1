//! Bloom filters: the false-positive rate at 10 bits per key is within 25% of the
//! theoretical rate for its 7 probes, no added key is ever missed, and a table whose filter
//! block is damaged fails with `Corruption` instead of answering "not found".

use shaledb::sstable::filter::{build, key_hash, num_probes, BloomFilter};
use shaledb::{Db, Error, Options};

#[test]
fn false_positive_rate_matches_theory_at_10_bits_per_key() {
    let n = 200_000u64;
    let hashes: Vec<u64> = (0..n)
        .map(|i| key_hash(format!("present-{i:08}").as_bytes()))
        .collect();
    let filter = BloomFilter::decode(bytes::Bytes::from(build(&hashes, 10))).expect("valid");
    assert!(
        hashes.iter().all(|&h| filter.may_contain(h)),
        "no false negatives"
    );
    let probes = 1_000_000u64;
    let fp = (0..probes)
        .filter(|i| filter.may_contain(key_hash(format!("absent-{i:08}").as_bytes())))
        .count();
    let rate = fp as f64 / probes as f64;
    let k = f64::from(num_probes(10));
    let theory = (1.0 - (-k / 10.0).exp()).powf(k);
    eprintln!("measured false-positive rate {rate:.5}, theoretical {theory:.5} (k = {k})");
    assert!(
        (rate - theory).abs() <= 0.25 * theory,
        "rate {rate} vs theory {theory}"
    );
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
    let filter_len = table.filter().expect("a filter").size();
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
