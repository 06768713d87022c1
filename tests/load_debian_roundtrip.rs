//! Loading the Debian package index with `shale load` (1 MiB write buffer, so dozens of
//! flushes and several compactions), then reading every record back byte-identical by
//! `get` and by a full scan, across reopens and after deleting every tenth key.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;

use shaledb::{Db, Options};

fn verify(db: &Db, expected: &BTreeMap<Vec<u8>, Vec<u8>>) {
    for (k, v) in expected {
        let got = db.get(k).expect("get");
        assert_eq!(
            got.as_deref(),
            Some(v.as_slice()),
            "key {}",
            String::from_utf8_lossy(k)
        );
    }
    let scanned = common::scan_all(db);
    assert_eq!(scanned.len(), expected.len());
    assert!(
        scanned.iter().map(|(k, v)| (k, v)).eq(expected.iter()),
        "scan differs from the input"
    );
}

fn round_trip(input: &Path, expect_compactions: bool) {
    let records = common::deb822_records(&common::read_maybe_lz4(input));
    let expected: BTreeMap<Vec<u8>, Vec<u8>> = records.into_iter().collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let db_dir = dir.path().join("db");
    let out = common::shale(&[
        OsStr::new("--db"),
        db_dir.as_os_str(),
        OsStr::new("--write-buffer-size"),
        OsStr::new("1MiB"),
        OsStr::new("load"),
        OsStr::new("--format"),
        OsStr::new("deb822"),
        input.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "load failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains(&format!("loaded {} records", expected.len())));

    let opts = || Options::default().write_buffer_size(1 << 20);
    let db = Db::open(&db_dir, opts()).expect("reopen");
    let levels = db.stats().levels;
    if expect_compactions {
        assert!(
            levels[1..].iter().any(|l| l.tables > 0),
            "compactions must have filled a deeper level: {levels:?}"
        );
    }
    verify(&db, &expected);

    let mut expected = expected;
    let doomed: Vec<Vec<u8>> = expected.keys().step_by(10).cloned().collect();
    for k in &doomed {
        db.delete(k).expect("delete");
        expected.remove(k);
    }
    db.close().expect("close");
    let db = Db::open(&db_dir, opts()).expect("reopen after deletes");
    verify(&db, &expected);
    for k in &doomed {
        assert_eq!(db.get(k).expect("get"), None);
    }
}

#[test]
fn committed_sample_round_trips() {
    round_trip(&common::sample_path(), false);
}

#[test]
fn full_debian_index_round_trips() {
    let Some(path) = common::full_index_path() else {
        eprintln!("skipped: ../shared/data/debian-bookworm-main-amd64-Packages.lz4 is absent");
        return;
    };
    round_trip(&path, true);
}
