//! SIGKILL of `shale load --sync` in the middle of a load: after reopening, the database
//! holds exactly the first k records of the input for some k, and k covers every batch the
//! loader reported as acknowledged.
//!
//! The input is fed through stdin and held open after `fed` records, so the loader can
//! never finish: it is killed either inside a write or while waiting for input.

mod common;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use shaledb::{Db, Options};

#[test]
fn killed_load_leaves_an_acknowledged_prefix() {
    let records = common::deb822_records(&common::read_maybe_lz4(&common::sample_path()));
    for (round, kill_after, fed) in [(0, 200u64, 700usize), (1, 900, 1500), (2, 1600, 1983)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let db_dir = dir.path().join("db");
        let mut child = Command::new(env!("CARGO_BIN_EXE_shale"))
            .args([OsStr::new("--db"), db_dir.as_os_str()])
            .args([
                "--write-buffer-size",
                "256KiB",
                "load",
                "--format",
                "deb822",
                "--sync",
                "--batch",
                "10",
            ])
            .arg("--print-acks")
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn shale load");
        let mut stdin = child.stdin.take().expect("stdin");
        let input: Vec<u8> = records[..fed]
            .iter()
            .flat_map(|(_, v)| [v.as_slice(), b"\n"].concat())
            .collect();
        let feeder = std::thread::spawn(move || {
            // Write the first `fed` stanzas and keep the pipe open until the child dies.
            let _ = stdin.write_all(&input);
            let _ = stdin.flush();
            stdin
        });
        let stdout = child.stdout.take().expect("stdout");
        let mut acked = 0u64;
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("line");
            acked = line
                .strip_prefix("acked ")
                .and_then(|n| n.parse().ok())
                .expect("acked N");
            if acked >= kill_after {
                child.kill().expect("SIGKILL");
                break;
            }
        }
        let status = child.wait().expect("reap");
        drop(feeder.join().expect("feeder"));
        assert!(
            acked >= kill_after,
            "round {round}: load ended before the kill point"
        );
        assert_eq!(
            status.signal(),
            Some(9),
            "round {round}: the loader must die by SIGKILL"
        );

        let db = Db::open(&db_dir, Options::default()).expect("reopen after kill");
        let present = common::scan_all(&db);
        let k = present.len();
        assert!(
            k as u64 >= acked,
            "round {round}: {k} records present, {acked} acknowledged"
        );
        assert!(
            k <= fed,
            "round {round}: {k} records present, only {fed} were fed"
        );
        let mut prefix: Vec<(Vec<u8>, Vec<u8>)> = records[..k].to_vec();
        prefix.sort();
        assert_eq!(
            present, prefix,
            "round {round}: contents are not the first {k} records"
        );
    }
}
