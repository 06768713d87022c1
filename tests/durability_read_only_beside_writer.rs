//! Issue 11 case 6: `open_read_only` beside a writer at full speed never fails because
//! the writer legitimately replaced CURRENT, a MANIFEST, a WAL or a table mid-open: it
//! starts again from CURRENT. 200 opens at a 64 KiB and at a 4 KiB write buffer, no
//! failure, and each open sees a prefix of the writes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use shaledb::{Db, Options};

/// `per_open` writes are allowed ahead of each read-only open, so the writer keeps racing
/// the opens while the database stays a bounded size (each open scans all of it).
fn opens_beside_a_writer(write_buffer: usize, per_open: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = move || {
        Options::default()
            .write_buffer_size(write_buffer)
            .level0_file_num_compaction_trigger(2)
    };
    let db = Arc::new(Db::open(dir.path(), opts()).expect("open"));
    db.put("k0000000", "v").expect("first write");
    let stop = Arc::new(AtomicBool::new(false));
    let opened = Arc::new(AtomicU64::new(0));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (db, stop, opened, written) = (
            Arc::clone(&db),
            Arc::clone(&stop),
            Arc::clone(&opened),
            Arc::clone(&written),
        );
        std::thread::spawn(move || {
            let mut i = 1u64;
            while !stop.load(Ordering::Relaxed) {
                if i > (opened.load(Ordering::Relaxed) + 2) * per_open {
                    std::thread::yield_now(); // ahead of the reader: let it catch up
                    continue;
                }
                db.put(format!("k{i:07}"), [b'v'; 100]).expect("put");
                written.store(i, Ordering::Relaxed);
                i += 1;
            }
            i
        })
    };
    let mut failures = Vec::new();
    for n in 0..200u64 {
        // In step with the writer: each open follows `per_open` more writes.
        while written.load(Ordering::Relaxed) < n * per_open {
            std::thread::yield_now();
        }
        match Db::open_read_only(dir.path(), opts()) {
            Ok(ro) => {
                // Keys are written in order, so a consistent view holds k0..kN without a gap.
                let keys: Vec<_> = ro.iter().map(|r| r.expect("scan").0).collect();
                assert!(!keys.is_empty(), "open {n} sees the first write");
                let last = String::from_utf8(keys.last().expect("a key").to_vec()).expect("utf8");
                let count: usize = last[1..].parse::<usize>().expect("number") + 1;
                assert_eq!(keys.len(), count, "open {n}: a gap in the writes it sees");
            }
            Err(e) => failures.push(format!("open {n}: {e}")),
        }
        opened.fetch_add(1, Ordering::Relaxed);
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().expect("writer");
    assert!(
        written >= 199 * per_open,
        "the writer kept pace with the opens ({written} writes)"
    );
    assert!(
        failures.is_empty(),
        "{} of 200 read-only opens failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}

// One test, so the two runs do not share the machine's two cores with each other.
#[test]
fn read_only_opens_beside_a_writer_with_64_and_4_kib_buffers() {
    opens_beside_a_writer(64 << 10, 200);
    // A 4 KiB memtable holds about 14 entries: every few writes switch the WAL and flush
    // (seven fsyncs), so this writer is slow and its allowance small.
    opens_beside_a_writer(4 << 10, 2);
}
