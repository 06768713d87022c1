//! `shale compact`, the offline compaction tool: contents unchanged and size reduced on a
//! database built by overwrites and deletes; `--dry-run` changes nothing; `--json`
//! summarises; a database open elsewhere is refused and left untouched.

mod common;

use shaledb::{Db, Options};

fn snapshot_files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .expect("ls")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn compact_keeps_contents_and_reclaims_space() {
    let dir = tempfile::tempdir().expect("tempdir");
    let expected = common::build_churned_db(dir.path(), 4_000, 4);
    let before = common::dir_bytes(dir.path());

    let files_before = snapshot_files(dir.path());
    let dry = common::shale_db(dir.path(), &["compact", "--dry-run"]);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(String::from_utf8_lossy(&dry.stdout).contains("plan:"));
    assert_eq!(
        snapshot_files(dir.path()),
        files_before,
        "--dry-run changes nothing"
    );

    let out = common::shale_db(
        dir.path(),
        &["compact", "--target-file-size", "64KiB", "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json summary");
    let after = common::dir_bytes(dir.path());
    assert_eq!(v["disk_bytes_after"].as_u64(), Some(after));
    assert!(after < before * 9 / 10, "size reduced: {before} -> {after}");
    assert!(v["reclaimed_bytes"].as_u64().is_some_and(|r| r > 0));
    assert!(
        v["tables_after"].as_u64().is_some_and(|t| t > 1),
        "64 KiB outputs: {v}"
    );

    let db = Db::open(dir.path(), Options::default()).expect("open");
    assert_eq!(common::scan_all(&db), expected, "contents unchanged");
    let s = db.stats();
    assert_eq!(
        s.levels
            .iter()
            .filter(|l| l.tables > 0)
            .map(|l| l.level)
            .collect::<Vec<_>>(),
        vec![6]
    );
}

#[test]
fn compact_refuses_a_locked_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    common::build_churned_db(dir.path(), 500, 2);
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let files_before = snapshot_files(dir.path());
    let out = common::shale_db(dir.path(), &["compact"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("locked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        snapshot_files(dir.path()),
        files_before,
        "nothing on disk changed"
    );
    drop(db);
}
