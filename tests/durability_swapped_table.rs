//! Issue 11 case 4: every table carries an identity (database id, session id, file
//! number) in its properties, recorded in the MANIFEST beside its size. A table swapped
//! for another table of the same size, with every checksum valid, is `Corruption` naming
//! it, and `shale verify` reports it.

mod common;

use std::path::{Path, PathBuf};

use shaledb::{Db, Error, Options};

fn tables(dir: &Path) -> Vec<PathBuf> {
    let mut t: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sst"))
        .collect();
    t.sort();
    t
}

/// Writes `n` same-sized records under `prefix` and flushes them into one table.
fn flush_batch(db: &Db, prefix: &str, n: u32) {
    for i in 0..n {
        db.put(format!("{prefix}{i:05}"), [b'v'; 64]).expect("put");
    }
    db.flush().expect("flush");
}

#[test]
fn a_table_swapped_for_one_of_the_same_size_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No compression and fixed-size records, so two tables of as many records under
    // prefixes of the same length have the same size.
    let opts = || {
        Options::default()
            .compression(shaledb::Compression::None)
            .level0_file_num_compaction_trigger(8)
    };
    let db = Db::open(dir.path(), opts()).expect("open");
    // A first table takes sequence numbers 1..=127, so the next two both have sequence
    // numbers of two varint bytes in their properties, and so equal sizes.
    flush_batch(&db, "w", 127);
    flush_batch(&db, "a", 500);
    flush_batch(&db, "b", 500);
    drop(db);
    let t = tables(dir.path());
    assert_eq!(t.len(), 3);
    let t = &t[1..];
    let (a, b) = (
        std::fs::read(&t[0]).expect("read"),
        std::fs::read(&t[1]).expect("read"),
    );
    assert_eq!(a.len(), b.len(), "the test needs two tables of one size");
    std::fs::write(&t[0], &b).expect("swap");
    match Db::open(dir.path(), opts()) {
        Err(Error::Corruption { file, .. }) => assert_eq!(file, t[0]),
        Ok(db) => panic!("opened; a00001 reads {:?}", db.get("a00001")),
        Err(e) => panic!("unexpected {e}"),
    }
    let out = common::shale_db(dir.path(), &["verify", "--json"]);
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let name = t[0].file_name().and_then(|n| n.to_str()).expect("name");
    assert!(
        v["files"]
            .as_array()
            .expect("files")
            .iter()
            .any(|f| f["file"] == name && f["ok"] == false),
        "{v}"
    );
}
