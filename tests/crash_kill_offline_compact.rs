//! SIGKILL of `shale compact` at random moments, at least 20 times: after each kill the
//! database opens to exactly the contents it had (compaction never changes contents, so
//! "before" and "after" are the same set), and a final run completes.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shaledb::{Db, Options};

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("ls") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
    }
}

#[test]
fn killed_offline_compaction_leaves_contents_intact() {
    let base = tempfile::tempdir().expect("tempdir");
    let template = base.path().join("template");
    let expected = common::build_churned_db(&template, 20_000, 3);
    let work = base.path().join("work");

    // How long one full run takes on this machine sets the kill window.
    copy_dir(&template, &work);
    let t = Instant::now();
    let out = common::shale_db(&work, &["compact"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let full = t.elapsed();

    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let (mut killed_mid_run, mut attempts) = (0, 0);
    while killed_mid_run < 20 {
        attempts += 1;
        assert!(
            attempts <= 200,
            "could not kill a compaction mid-run 20 times in 200 attempts"
        );
        copy_dir(&template, &work);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // A random moment within the run (process start and recovery included): this is
        // the kill schedule, not synchronisation; the check below does not depend on it.
        let delay = Duration::from_micros(seed % (full.as_micros() as u64).max(1));
        let mut child = Command::new(env!("CARGO_BIN_EXE_shale"))
            .arg("--db")
            .arg(&work)
            .arg("compact")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(delay);
        let finished = child.try_wait().expect("poll").is_some();
        child.kill().expect("kill");
        child.wait().expect("reap");
        if !finished {
            killed_mid_run += 1;
        }
        let db = Db::open(&work, Options::default()).expect("opens after the kill");
        assert_eq!(
            common::scan_all(&db),
            expected,
            "attempt {attempts}: contents changed"
        );
    }
    let db = Db::open(&work, Options::default()).expect("open");
    db.compact_range(None, None)
        .expect("a later compaction completes");
    assert_eq!(common::scan_all(&db), expected);
}
