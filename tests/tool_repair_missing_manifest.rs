//! `shale repair` rebuilds a database whose MANIFEST (and CURRENT) were deleted, from the
//! tables and WALs it finds; a damaged table goes to `lost/`, never to deletion.

mod common;

use shaledb::{Db, Options};

#[test]
fn repair_recovers_tables_and_wal_after_manifest_loss() {
    let dir = tempfile::tempdir().expect("tempdir");
    let expected = common::build_churned_db(dir.path(), 2_000, 3);
    // Add writes that live only in the WAL.
    let mut expected = expected;
    {
        let db = Db::open(dir.path(), Options::default()).expect("open");
        db.put("zz-wal-only", "still here").expect("put");
        expected.push((b"zz-wal-only".to_vec(), b"still here".to_vec()));
        drop(db);
    }
    for e in std::fs::read_dir(dir.path()).expect("ls") {
        let p = e.expect("entry").path();
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if name.starts_with("MANIFEST-") || name == "CURRENT" {
            std::fs::remove_file(&p).expect("delete metadata");
        }
    }
    assert!(
        Db::open(dir.path(), Options::default()).is_err(),
        "no metadata: open refuses"
    );

    let out = common::shale_db(dir.path(), &["repair", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["kept"].as_array().is_some_and(|k| !k.is_empty()));
    assert!(v["wal_records"].as_u64().is_some_and(|n| n >= 1));

    let db = Db::open(dir.path(), Options::default()).expect("open after repair");
    assert_eq!(common::scan_all(&db), expected);
    for (k, v) in &expected {
        assert_eq!(db.get(k).expect("get").as_deref(), Some(v.as_slice()));
    }
    db.put("after", "repair").expect("writable");
}

#[test]
fn repair_sets_a_damaged_table_aside() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path(), Options::default()).expect("open");
        for i in 0..100u32 {
            db.put(format!("a{i:03}"), "first table").expect("put");
        }
        db.flush().expect("flush");
        for i in 0..100u32 {
            db.put(format!("b{i:03}"), "second table").expect("put");
        }
        db.flush().expect("flush");
        db.close().expect("close");
    }
    let mut tables: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sst"))
        .collect();
    tables.sort();
    let victim = tables[0].clone();
    let mut bytes = std::fs::read(&victim).expect("read");
    bytes[10] ^= 0xff;
    std::fs::write(&victim, &bytes).expect("write");
    let out = common::shale_db(dir.path(), &["repair"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let name = victim.file_name().expect("name");
    assert!(
        dir.path().join("lost").join(name).exists(),
        "damaged table moved to lost/"
    );
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let keys: Vec<_> = common::scan_all(&db).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys.len(), 100, "the intact table's keys survive");
}
