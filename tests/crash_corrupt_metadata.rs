//! Layer 3 of the crash harness: damaged or missing metadata and tables give typed errors,
//! never a panic or wrong data: CURRENT empty or naming a missing MANIFEST, a referenced
//! table missing, a table with a wrong magic number or cut short, a flipped byte in the
//! index block.

mod common;

use std::path::{Path, PathBuf};

use shaledb::{CorruptionKind, Db, Error, Options};

fn build(dir: &Path) {
    let db = Db::open(dir, Options::default()).expect("open");
    for i in 0..3000u32 {
        db.put(format!("k{i:05}"), common::value_for(u64::from(i), 40))
            .expect("put");
    }
    db.flush().expect("flush");
    db.close().expect("close");
}

fn find(dir: &Path, f: impl Fn(&str) -> bool) -> PathBuf {
    std::fs::read_dir(dir)
        .expect("ls")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&f))
        .expect("file")
}

fn open_err(dir: &Path) -> Error {
    match Db::open(dir, Options::default()) {
        Ok(_) => panic!("open must fail"),
        Err(e) => e,
    }
}

#[test]
fn empty_current_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    build(dir.path());
    std::fs::write(dir.path().join("CURRENT"), b"").expect("write");
    assert!(
        matches!(open_err(dir.path()), Error::Corruption { file, .. } if file.ends_with("CURRENT"))
    );
}

#[test]
fn current_naming_a_missing_manifest_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    build(dir.path());
    std::fs::remove_file(find(dir.path(), |n| n.starts_with("MANIFEST-"))).expect("rm");
    assert!(matches!(
        open_err(dir.path()),
        Error::Corruption {
            kind: CorruptionKind::MissingFile,
            ..
        }
    ));
}

#[test]
fn missing_table_is_corruption_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    build(dir.path());
    let t = find(dir.path(), |n| n.ends_with(".sst"));
    std::fs::remove_file(&t).expect("rm");
    assert!(
        matches!(open_err(dir.path()), Error::Corruption { file, kind: CorruptionKind::MissingFile, .. } if file == t)
    );
}

#[test]
fn wrong_magic_cut_table_and_damaged_index_are_corruption() {
    for case in 0..3 {
        let dir = tempfile::tempdir().expect("tempdir");
        build(dir.path());
        let t = find(dir.path(), |n| n.ends_with(".sst"));
        let mut bytes = std::fs::read(&t).expect("read");
        let n = bytes.len();
        match case {
            0 => bytes[n - 1] ^= 0xff, // magic
            1 => bytes.truncate(n - 100),
            _ => {
                let table =
                    shaledb::sstable::Table::open(&shaledb::fs::RealFs, &t).expect("intact");
                let (_, first) = table.index_entries().expect("index")[0];
                drop(table);
                // The index block follows the metaindex, just before the footer: flip a
                // byte 60 bytes before the footer (inside the index block).
                let _ = first;
                bytes[n - 48 - 60] ^= 0x01;
            }
        }
        std::fs::write(&t, &bytes).expect("write");
        let e = open_err(dir.path());
        assert!(e.is_corruption(), "case {case}: {e}");
        assert!(
            e.to_string()
                .contains(t.file_name().and_then(|n| n.to_str()).expect("name")),
            "case {case}: {e}"
        );
    }
}
