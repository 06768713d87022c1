//! `shale delete-range FROM TO` deletes `[FROM, TO)`; `idump` and `dump sst` show the range
//! tombstone (`start#seq,RANGEDEL end`); an inverted range is a usage error (exit 2).

mod common;

fn stdout(o: &std::process::Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn delete_range_scan_idump_and_dump_sst() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    // One load, not four puts: every open with a non-empty WAL writes an L0 table, and
    // four of them would trigger a compaction that, finishing before some later command
    // closes, could merge the tombstone into the last level and drop it before `idump`.
    let input = dir.path().join("in.tsv");
    std::fs::write(&input, "a\tv\nb\tv\nc\tv\nd\tv\n").expect("write input");
    stdout(&common::shale_db(
        &db,
        &["load", input.to_str().expect("utf-8 path")],
    ));
    stdout(&common::shale_db(&db, &["delete-range", "b", "d"]));
    assert_eq!(stdout(&common::shale_db(&db, &["scan"])), "a\tv\nd\tv\n");
    let idump = stdout(&common::shale_db(&db, &["idump"]));
    assert!(
        idump
            .lines()
            .any(|l| l.starts_with("b#") && l.ends_with(",RANGEDEL d")),
        "{idump}"
    );
    let bad = common::shale_db(&db, &["delete-range", "z", "a"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an inverted range is an invalid argument"
    );

    // Compacting into a table keeps the tombstone only while something below could need
    // it; flush alone writes it into an L0 table, which `dump sst` shows.
    let opened = shaledb::Db::open(&db, shaledb::Options::default()).expect("open");
    opened.flush().expect("flush");
    opened.close().expect("close");
    let sst = std::fs::read_dir(&db)
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sst"))
        .max()
        .expect("a table");
    let dump = stdout(&common::shale(&[
        std::ffi::OsStr::new("dump"),
        "sst".as_ref(),
        sst.as_os_str(),
    ]));
    assert!(
        dump.lines()
            .any(|l| l.starts_with("b#") && l.ends_with(",RANGEDEL d")),
        "{dump}"
    );
}
