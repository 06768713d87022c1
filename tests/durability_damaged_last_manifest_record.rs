//! Issue 11 case 3: a damaged last MANIFEST record that was acted on (a flush whose WAL
//! was then deleted) is `Corruption` naming the MANIFEST, not an open that silently drops
//! the flushed records; `shale repair` then brings every record back. A MANIFEST cut
//! inside that record is the same case.

mod common;

use std::path::{Path, PathBuf};

use shaledb::{Db, Error, Options};

fn manifest(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("MANIFEST-"))
        })
        .expect("a MANIFEST")
}

/// A database whose MANIFEST's last record is a flush that retired the WAL holding
/// `n` records; returns the MANIFEST's path and its size before that record.
fn build(dir: &Path, n: u32) -> (PathBuf, u64) {
    let db = Db::open(dir, Options::default()).expect("open");
    for i in 0..n {
        db.put(format!("k{i:05}"), common::value_for(u64::from(i), 40))
            .expect("put");
    }
    let m = manifest(dir);
    let before = std::fs::metadata(&m).expect("stat").len();
    db.flush().expect("flush");
    drop(db);
    (m, before)
}

fn assert_corruption_naming(dir: &Path, m: &Path) {
    match Db::open(dir, Options::default()) {
        Err(Error::Corruption { file, .. }) => assert_eq!(file, m, "the error names the MANIFEST"),
        Ok(db) => panic!(
            "open succeeded with {} of the flushed records",
            db.iter().count()
        ),
        Err(e) => panic!("unexpected {e}"),
    }
}

fn repair_brings_everything_back(dir: &Path, n: u32) {
    let out = common::shale_db(dir, &["repair"]);
    assert!(
        out.status.success(),
        "repair: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = Db::open(dir, Options::default()).expect("open after repair");
    assert_eq!(db.iter().count(), n as usize);
}

#[test]
fn a_bit_flip_in_the_last_edit_is_corruption_and_repair_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (m, before) = build(dir.path(), 1_500);
    let mut bytes = std::fs::read(&m).expect("read");
    let last = bytes.len() - 3;
    assert!(last as u64 > before, "the flush appended an edit");
    bytes[last] ^= 0x40;
    std::fs::write(&m, &bytes).expect("write");
    assert_corruption_naming(dir.path(), &m);
    repair_brings_everything_back(dir.path(), 1_500);
}

#[test]
fn a_manifest_cut_inside_the_last_edit_is_corruption_and_repair_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (m, before) = build(dir.path(), 1_500);
    let len = std::fs::metadata(&m).expect("stat").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&m)
        .expect("open");
    f.set_len(before + (len - before) / 2).expect("cut");
    assert_corruption_naming(dir.path(), &m);
    repair_brings_everything_back(dir.path(), 1_500);
}
