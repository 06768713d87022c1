//! Compaction threads run at the nice value `Options::compaction_thread_nice` gives
//! (`Some(19)`: the lowest CPU priority), keep the opener's by default (`None`), and a
//! value outside -20..=19 is refused at open. Linux only: the nice value is read from
//! `/proc/self/task/<tid>/stat`.
#![cfg(target_os = "linux")]

use shaledb::{Db, Error, Options};

/// Nice values of this process's threads whose name starts with `prefix`.
fn nice_of_threads(prefix: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc/self/task")
        .expect("tasks")
        .flatten()
    {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // "tid (comm) state ppid ...": comm may hold spaces, so split at the last ')'.
        let (head, rest) = stat.rsplit_once(')').expect("stat format");
        let comm = head.split_once('(').expect("stat format").1;
        if comm.starts_with(prefix) {
            // Fields after ')' start at field 3 (state); nice is field 19.
            let nice = rest.split_whitespace().nth(16).expect("nice field");
            out.push(nice.parse().expect("a number"));
        }
    }
    out
}

/// Opens a database at `dir` with `opts`, makes a compaction run on a background thread
/// (two overlapping L0 tables at a trigger of 2) and waits for it, so every compaction
/// thread has started, and returns the database with the compaction threads' nice values.
fn compacted(dir: &std::path::Path, opts: Options) -> (Db, Vec<i32>) {
    let db = Db::open(dir, opts.level0_file_num_compaction_trigger(2)).expect("open");
    for round in 0..2 {
        for i in 0..100u32 {
            db.put(format!("k{i:03}"), format!("v{round}"))
                .expect("put");
        }
        db.flush().expect("flush");
    }
    db.wait_for_compaction().expect("wait");
    assert!(
        db.stats().levels.iter().map(|l| l.compactions).sum::<u64>() >= 1,
        "a compaction ran"
    );
    // "shaledb-compact-N" is cut to 15 bytes in /proc: "shaledb-compact".
    let nice = nice_of_threads("shaledb-compact");
    assert!(!nice.is_empty(), "no compaction thread found");
    (db, nice)
}

#[test]
fn compaction_threads_run_at_the_configured_nice_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, nice) = compacted(
        dir.path(),
        Options::default().compaction_thread_nice(Some(shaledb::COMPACTION_THREAD_NICE)),
    );
    assert!(
        nice.iter().all(|&n| n == 19),
        "Some(19): nice 19, got {nice:?}"
    );
    assert_eq!(db.get("k007").expect("get").as_deref(), Some(&b"v1"[..]));
    db.close().expect("close");

    let dir = tempfile::tempdir().expect("tempdir");
    let opener = {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
        let rest = stat.rsplit_once(')').expect("stat format").1;
        rest.split_whitespace()
            .nth(16)
            .expect("nice")
            .parse::<i32>()
            .expect("number")
    };
    let (db, nice) = compacted(dir.path(), Options::default());
    assert!(
        nice.iter().all(|&n| n == opener),
        "default (None): the opener's nice {opener}, got {nice:?}"
    );
    db.close().expect("close");
}

#[test]
fn out_of_range_nice_values_are_refused() {
    for n in [-21, 20, i32::MAX] {
        let dir = tempfile::tempdir().expect("tempdir");
        match Db::open(
            dir.path(),
            Options::default().compaction_thread_nice(Some(n)),
        ) {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("compaction_thread_nice"), "{m}"),
            other => panic!("nice {n}: expected InvalidArgument, got {other:?}"),
        }
    }
}
