//! `Db::checkpoint` taken while writers run produces a copy that opens as a normal
//! database in a consistent state: every batch is whole, and the writes present are a
//! prefix of the write order (with a snapshot's guarantees: nothing newer than its
//! sequence number, nothing older missing). `shale checkpoint` does the same offline.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use shaledb::{Db, Options, WriteBatch};

const KEYS: u64 = 50;

#[test]
fn checkpoint_during_concurrent_writes_is_consistent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = || {
        Options::default()
            .write_buffer_size(64 << 10)
            .level0_file_num_compaction_trigger(2)
    };
    let db = Arc::new(Db::open(dir.path(), opts()).expect("open"));
    let stop = Arc::new(AtomicBool::new(false));
    // The writer sets every key to the round number in one batch per round, so any
    // consistent state has all keys equal.
    let writer = {
        let (db, stop) = (Arc::clone(&db), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut round = 0u64;
            while !stop.load(Ordering::Acquire) {
                round += 1;
                let mut b = WriteBatch::new();
                for k in 0..KEYS {
                    b.put(
                        format!("key{k:03}"),
                        format!("{round:010}{}", "x".repeat(100)),
                    );
                }
                db.write(b).expect("write");
            }
            round
        })
    };
    // Let the writer get going (its progress, not time, decides).
    while db.last_seqno() < 200 * KEYS {
        std::thread::yield_now();
    }
    let copies: Vec<_> = (0..3)
        .map(|i| {
            let dest = dir.path().with_extension(format!("ckpt{i}"));
            let info = db.checkpoint(&dest).expect("checkpoint");
            (dest, info)
        })
        .collect();
    stop.store(true, Ordering::Release);
    let rounds = writer.join().expect("writer");

    for (dest, info) in copies {
        let c = Db::open(&dest, Options::default()).expect("checkpoint opens");
        let entries = common::scan_all(&c);
        assert_eq!(entries.len() as u64, KEYS, "{}", dest.display());
        let round = &entries[0].1[..10];
        assert!(
            entries.iter().all(|(_, v)| &v[..10] == round),
            "a batch is whole in {}",
            dest.display()
        );
        let round: u64 = std::str::from_utf8(round)
            .expect("digits")
            .parse()
            .expect("number");
        assert!(round >= 200 && round <= rounds);
        assert!(
            round * KEYS <= info.seqno,
            "nothing newer than the checkpoint's sequence number"
        );
        assert_eq!(c.last_seqno(), info.seqno);
        drop(c);
        std::fs::remove_dir_all(&dest).expect("cleanup");
    }
}

#[test]
fn shale_checkpoint_copies_a_closed_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    let expected = common::build_churned_db(&src, 1_000, 2);
    let dest = dir.path().join("copy");
    let out = common::shale_db(
        &src,
        &["checkpoint", dest.to_str().expect("utf-8"), "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = Db::open(&dest, Options::default()).expect("open copy");
    assert_eq!(common::scan_all(&c), expected);
    let again = common::shale_db(&src, &["checkpoint", dest.to_str().expect("utf-8")]);
    assert!(
        !again.status.success(),
        "an existing, non-empty destination is refused"
    );
}
