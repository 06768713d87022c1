//! `shale verify` passes a healthy database and catches a flipped byte in each kind of
//! file: table, WAL, MANIFEST and CURRENT, naming the file and exiting non-zero.

mod common;

use std::path::{Path, PathBuf};

use shaledb::{Db, Options};

fn build(dir: &Path) {
    let db = Db::open(dir, Options::default()).expect("open");
    for i in 0..2_000u32 {
        db.put(format!("k{i:05}"), common::value_for(u64::from(i), 64))
            .expect("put");
    }
    db.flush().expect("flush");
    for i in 0..50u32 {
        db.put(format!("w{i:05}"), "in the WAL").expect("put");
    }
    // Dropped without close: the last writes stay in the WAL only.
    drop(db);
}

/// A kind of file, how to recognise its name, and a byte offset to flip.
type Case = (&'static str, fn(&str) -> bool, usize);

fn find(dir: &Path, pred: impl Fn(&str) -> bool) -> PathBuf {
    std::fs::read_dir(dir)
        .expect("ls")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&pred))
        .expect("file present")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("ls") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
    }
}

#[test]
fn verify_catches_a_flipped_byte_in_every_kind_of_file() {
    let base = tempfile::tempdir().expect("tempdir");
    let healthy = base.path().join("healthy");
    build(&healthy);
    let ok = common::shale_db(&healthy, &["verify"]);
    assert!(
        ok.status.success(),
        "{}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("0 problems"));

    let kinds: [Case; 4] = [
        ("table", |n| n.ends_with(".sst"), 200),
        ("WAL", |n| n.ends_with(".log"), 30),
        ("MANIFEST", |n| n.starts_with("MANIFEST-"), 20),
        ("CURRENT", |n| n == "CURRENT", 3),
    ];
    for (i, (kind, pick, offset)) in kinds.into_iter().enumerate() {
        let dir = base.path().join(format!("case{i}"));
        copy_dir(&healthy, &dir);
        let victim = find(&dir, pick);
        let mut bytes = std::fs::read(&victim).expect("read");
        bytes[offset] ^= 0x20;
        std::fs::write(&victim, &bytes).expect("write");
        let out = common::shale_db(&dir, &["verify", "--json"]);
        assert!(
            !out.status.success(),
            "{kind}: verify must fail: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let name = victim.file_name().and_then(|n| n.to_str()).expect("name");
        let bad: Vec<_> = v["files"]
            .as_array()
            .expect("files")
            .iter()
            .filter(|f| f["ok"] == false)
            .collect();
        assert!(
            bad.iter().any(|f| f["file"] == name),
            "{kind}: the report names {name}: {v}"
        );
    }
}
