//! WAL damage at open: a torn tail (truncated) is dropped and counted and the open
//! succeeds, a zero tail is a clean end; a damaged record with valid records after it fails the open with
//! `Error::Corruption` naming the WAL.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use shaledb::{CorruptionKind, Db, Error, Options, WalRecoveryMode};

fn wal_of(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .expect("ls")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .expect("a WAL")
}

/// Writes `n` puts of 1 KiB and drops the handle without flushing: they live in the WAL.
fn fill(dir: &Path, n: u32) {
    let db = Db::open(dir, Options::default()).expect("open");
    for i in 0..n {
        db.put(format!("k{i:04}"), vec![b'x'; 1024]).expect("put");
    }
    db.close().expect("close");
}

#[test]
fn truncated_tail_is_dropped_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    fill(dir.path(), 10);
    let wal = wal_of(dir.path());
    // The records end within 8 bytes after the last non-zero byte (the seal record's
    // synced size has zero high bytes); a preallocated zero tail follows them.
    let bytes = std::fs::read(&wal).expect("read");
    let records_end = bytes.iter().rposition(|&b| b != 0).expect("records") as u64 + 1;
    OpenOptions::new()
        .write(true)
        .open(&wal)
        .expect("open wal")
        .set_len(records_end - 100)
        .expect("truncate");
    let db = Db::open(dir.path(), Options::default()).expect("torn tail is not fatal");
    let r = db.recovery_report().clone();
    assert_eq!(r.records_replayed, 9);
    assert_eq!(r.tail_records_dropped, 1);
    assert!(r.tail_bytes_dropped > 900);
    assert_eq!(db.get("k0008").expect("get").map(|v| v.len()), Some(1024));
    assert_eq!(db.get("k0009").expect("get"), None);
    assert_eq!(
        db.put("new", "v").expect("put"),
        10,
        "numbering continues after the last recovered write"
    );
}

/// Zeros to the end of the WAL are a preallocated tail (`Options::wal_preallocate_bytes`):
/// the log's clean end, so nothing is counted as dropped.
#[test]
fn zero_filled_tail_is_a_clean_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    fill(dir.path(), 3);
    let wal = wal_of(dir.path());
    OpenOptions::new()
        .append(true)
        .open(&wal)
        .expect("open")
        .write_all(&[0u8; 8192])
        .expect("zeros");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    assert_eq!(db.recovery_report().records_replayed, 3);
    assert_eq!(db.recovery_report().tail_bytes_dropped, 0);
    assert_eq!(db.recovery_report().tail_records_dropped, 0);
}

#[test]
fn damaged_middle_record_fails_open_and_names_the_wal() {
    let dir = tempfile::tempdir().expect("tempdir");
    fill(dir.path(), 100); // about 100 KiB: several 32 KiB blocks
    let wal = wal_of(dir.path());
    let mut bytes = std::fs::read(&wal).expect("read");
    bytes[40] ^= 0x10; // inside the first record's payload
    std::fs::write(&wal, &bytes).expect("write");
    match Db::open(dir.path(), Options::default()) {
        Err(Error::Corruption { file, offset, kind }) => {
            assert_eq!(file, wal);
            assert_eq!(offset, 0);
            assert_eq!(kind, CorruptionKind::MidLogCorruption);
        }
        other => panic!("expected mid-log corruption, got {other:?}"),
    }
    // Nothing was deleted or rewritten by the failed open.
    assert_eq!(std::fs::read(&wal).expect("read"), bytes);
    // Point-in-time recovery opens with what came before the damage.
    let db = Db::open(
        dir.path(),
        Options::default().wal_recovery_mode(WalRecoveryMode::PointInTimeRecovery),
    )
    .expect("point-in-time open");
    assert_eq!(db.get("k0000").expect("get"), None);
    assert_eq!(db.recovery_report().tail_records_dropped, 1);
}
