//! Issue 11 case 1: planted names with huge file numbers never make the next-file counter
//! wrap or reuse a number. A name shaledb cannot have written (a number at or above
//! `MAX_FILE_NUMBER`) is not ours: ignored, never deleted; a number that leaves no room
//! below the limit is refused at open with an error naming the file.

use shaledb::{CorruptionKind, Db, Error, Options};

fn fill(db: &Db, from: u32, n: u32) {
    for i in from..from + n {
        db.put(format!("k{i:06}"), vec![b'v'; 100]).expect("put");
    }
}

#[test]
fn a_planted_huge_wal_name_is_ignored_and_nothing_is_overwritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = || Options::default().write_buffer_size(64 << 10);
    let db = Db::open(dir.path(), opts()).expect("open");
    fill(&db, 0, 3_000);
    db.close().expect("close");
    let planted = dir.path().join("18446744073709551614.log");
    std::fs::write(&planted, b"").expect("plant");
    for round in 1..=3u32 {
        let db = Db::open(dir.path(), opts()).expect("reopen with the planted name");
        fill(&db, round * 3_000, 3_000);
        db.flush().expect("flush");
        let report = db.stats().recovery;
        assert!(
            report.next_file_number < 1 << 40,
            "counter jumped: {}",
            report.next_file_number
        );
        db.close().expect("close");
    }
    let db = Db::open(dir.path(), opts()).expect("reopen");
    assert_eq!(
        db.iter().count(),
        12_000,
        "every acknowledged record is still there"
    );
    assert!(planted.exists(), "a file that is not ours is never deleted");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("ls")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf8"))
        .collect();
    assert!(
        !names.iter().any(|n| n == "000000.log" || n == "000000.sst"),
        "{names:?}"
    );
}

#[test]
fn a_number_that_leaves_no_room_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    Db::open(dir.path(), Options::default())
        .expect("create")
        .close()
        .expect("close");
    let name = format!("{}.sst", (1u64 << 40) - 10);
    std::fs::write(dir.path().join(&name), b"not a table").expect("plant");
    match Db::open(dir.path(), Options::default()) {
        Err(Error::Corruption {
            file,
            kind: CorruptionKind::Malformed(_),
            ..
        }) => {
            assert!(file.ends_with(&name), "names {}", file.display());
        }
        other => panic!("expected Corruption naming {name}, got {other:?}"),
    }
}
