//! Known gap G1 (DESIGN.md §8), made visible: a flipped bit in the last synced WAL record
//! reads as a torn tail in the default recovery mode, so the record is dropped; the
//! recovery report names the WAL and the offset (and `shale stats` shows them), and
//! `WalRecoveryMode::AbsoluteConsistency` refuses to open.

mod common;

use shaledb::{Db, Error, Options, WalRecoveryMode, WriteBatch, WriteOptions};

#[test]
fn a_flipped_last_synced_record_is_reported_or_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    for i in 0..20u32 {
        let mut b = WriteBatch::new();
        b.put(format!("k{i:02}"), [b'v'; 30]);
        db.write_opt(b, &WriteOptions { sync: true })
            .expect("write");
    }
    drop(db);
    let wal = std::fs::read_dir(dir.path())
        .expect("ls")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .expect("the WAL");
    // As a crash would leave it: without the seal record that a clean close appends
    // (header 7 + its own offset as a varint, docs/format.md §2.1), and with a bit flipped
    // in the last data record (7 + its own offset as a varint, since every write was
    // synced + batch 12 + type 1 + lengths 2 + key 3 + value 30).
    let mut bytes = std::fs::read(&wal).expect("read");
    let header = shaledb::wal::HEADER_LEN;
    let seal = ends_record(bytes.len(), header);
    let record = ends_record(bytes.len() - seal, header + 48);
    let n = bytes.len() - seal;
    bytes.truncate(n);
    bytes[n - 10] ^= 0x10;
    std::fs::write(&wal, &bytes).expect("write");
    let record_start = (n - record) as u64;

    let strict = Options::default().wal_recovery_mode(WalRecoveryMode::AbsoluteConsistency);
    match Db::open(dir.path(), strict) {
        Err(Error::Corruption { file, offset, .. }) => {
            assert_eq!((file, offset), (wal.clone(), record_start))
        }
        other => panic!("AbsoluteConsistency must refuse, got {other:?}"),
    }
    let out = common::shale_db(dir.path(), &["stats"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("tail dropped from"))
        .expect("a stats row");
    assert!(
        line.contains(wal.file_name().and_then(|n| n.to_str()).expect("name")),
        "{line}"
    );
    assert!(line.contains(&format!("at byte {record_start}")), "{line}");

    // The `stats` run above opened (and so recovered) the database; a fresh copy of the
    // damaged state shows the report directly.
    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    let r = db.recovery_report();
    assert_eq!(
        r.tail_records_dropped, 0,
        "the dropped tail was handled by the previous open"
    );
    assert_eq!(db.iter().count(), 19, "the damaged record stays dropped");
}

/// Bytes in a LEB128 varint of `v`.
fn varint_len(v: usize) -> usize {
    (1..10).find(|&n| v >> (7 * n) == 0).unwrap_or(10)
}

/// The length of the record that ends at `end` and is `fixed` bytes plus a varint of its
/// own offset (the synced size it carries when every earlier record was synced).
fn ends_record(end: usize, fixed: usize) -> usize {
    (fixed + 1..=fixed + 10)
        .find(|&len| fixed + varint_len(end - len) == len)
        .expect("a consistent length")
}
