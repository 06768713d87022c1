//! Issue 11 case 2: the MANIFEST tracks every live WAL (its number when created, its size
//! when sealed), so a removed or cut live WAL holding acknowledged, synced writes is
//! `Corruption` naming it, never a silent loss. `shale verify` reports it too.

mod common;

use shaledb::{CorruptionKind, Db, Error, Options, WalRecoveryMode, WriteBatch, WriteOptions};

fn newest_wal(dir: &std::path::Path) -> std::path::PathBuf {
    let mut wals: Vec<_> = std::fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    wals.sort();
    wals.pop().expect("a WAL")
}

fn write_synced(db: &Db, n: u32) {
    for i in 0..n {
        let mut b = WriteBatch::new();
        b.put(format!("k{i:05}"), vec![b'v'; 50]);
        db.write_opt(b, &WriteOptions { sync: true })
            .expect("synced write");
    }
}

#[test]
fn a_deleted_live_wal_is_corruption_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    write_synced(&db, 1_200);
    drop(db); // like a crash: nothing flushed, the writes live only in the WAL
    let wal = newest_wal(dir.path());
    std::fs::remove_file(&wal).expect("rm WAL");
    for mode in [
        WalRecoveryMode::TolerateCorruptedTailRecords,
        WalRecoveryMode::AbsoluteConsistency,
    ] {
        match Db::open(dir.path(), Options::default().wal_recovery_mode(mode)) {
            Err(Error::Corruption {
                file,
                kind: CorruptionKind::MissingFile,
                ..
            }) => assert_eq!(file, wal),
            other => panic!(
                "{mode:?}: expected MissingFile naming {}, got {other:?}",
                wal.display()
            ),
        }
    }
    let out = common::shale_db(dir.path(), &["verify", "--json"]);
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let name = wal.file_name().and_then(|n| n.to_str()).expect("name");
    assert!(
        v["files"]
            .as_array()
            .expect("files")
            .iter()
            .any(|f| f["file"] == name && f["ok"] == false),
        "{v}"
    );
}

#[test]
fn a_sealed_wal_cut_below_its_recorded_size_is_corruption() {
    use shaledb::fs::sim::{Fault, OpKind, SimFs};
    use shaledb::fs::FileSystem;
    use std::path::Path;
    let fs = SimFs::new();
    fs.create_dir_all(Path::new("/db")).expect("mkdir");
    let opts = || {
        Options::default()
            .file_system(std::sync::Arc::new(fs.clone()))
            .mmap_reads(false)
    };
    let db = Db::open("/db", opts()).expect("open");
    write_synced(&db, 300);
    // `flush` switches the memtable: WAL 000002 is sealed and its size recorded, WAL
    // 000004 tracked. The table (the next Create) cannot be written, so WAL 000002 stays
    // live: the flush fails and nothing retires it.
    fs.fail_op(OpKind::Create, 2, Fault::NoSpace);
    assert!(db.flush().is_err());
    drop(db);
    let sealed = Path::new("/db/000002.log");
    let bytes = fs.read_all(sealed).expect("the sealed WAL");
    let mut f = fs.create(sealed).expect("rewrite");
    f.append(&bytes[..bytes.len() / 2]).expect("append");
    f.sync_all().expect("sync");
    match Db::open("/db", opts()) {
        Err(Error::Corruption {
            file,
            kind: CorruptionKind::MissingFile,
            offset,
        }) => {
            assert_eq!(file, sealed);
            assert_eq!(
                offset,
                (bytes.len() / 2) as u64,
                "the offset is the size found"
            );
        }
        other => panic!(
            "expected MissingFile naming {}, got {other:?}",
            sealed.display()
        ),
    }
}

#[test]
fn point_in_time_recovery_opens_without_the_missing_wal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    write_synced(&db, 10);
    drop(db);
    std::fs::remove_file(newest_wal(dir.path())).expect("rm");
    let db = Db::open(
        dir.path(),
        Options::default().wal_recovery_mode(WalRecoveryMode::PointInTimeRecovery),
    )
    .expect("point-in-time recovery does not promise synced writes");
    assert_eq!(db.iter().count(), 0);
}
