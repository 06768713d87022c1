//! `examples/raft_kv.rs` SIGKILLed during a write load, twice, and restarted from its
//! directories: every write the cluster acknowledged before the kill is present on every
//! node once they converge, and the three state machines are identical.

#[path = "../examples/raft_kv.rs"]
#[allow(dead_code)]
mod raft_kv;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use raft_kv::{BoxError, Cluster};

/// The example binary cargo built beside this test (`target/<profile>/examples/raft_kv`).
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join("examples").join("raft_kv");
    assert!(
        bin.exists(),
        "{} is missing: run with `cargo test --features raft`, which builds the examples",
        bin.display()
    );
    bin
}

/// Runs `raft_kv load` on `dir` until it has printed `acks` acknowledgements, then
/// SIGKILLs it. Returns the acknowledged keys.
fn load_then_kill(dir: &Path, round: u64, acks: usize) -> BTreeSet<String> {
    let mut child = Command::new(example_binary())
        .args(["load", "--dir"])
        .arg(dir)
        .args(["--round", &round.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn raft_kv load");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = crossbeam_channel::unbounded();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut acked = BTreeSet::new();
    while acked.len() < acks {
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => {
                let key = line.strip_prefix("ack ").expect("an `ack <key>` line");
                acked.insert(key.to_owned());
            }
            Err(e) => {
                let _ = child.kill();
                panic!(
                    "raft_kv load stopped acknowledging after {} acks: {e}",
                    acked.len()
                );
            }
        }
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    // Acknowledgements already printed before the kill count too.
    reader.join().expect("reader thread");
    acked.extend(
        rx.try_iter()
            .filter_map(|l| l.strip_prefix("ack ").map(str::to_owned)),
    );
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill_and_the_nodes_converge() -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let mut acked = BTreeSet::new();
    for round in 0..2 {
        let got = load_then_kill(dir.path(), round, 1_500);
        assert!(got.len() >= 1_500);
        acked.extend(got);
    }

    let cluster = Cluster::start(dir.path(), 500, 100).await?;
    cluster.converge().await?;
    let mut contents = Vec::new();
    for (id, node) in cluster.nodes() {
        let pairs = node.state.pairs()?;
        let keys: BTreeSet<String> = pairs
            .iter()
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
            .collect();
        let lost: Vec<_> = acked.difference(&keys).take(5).collect();
        assert!(
            lost.is_empty(),
            "node {id} lost acknowledged writes, e.g. {lost:?}"
        );
        for (k, v) in &pairs {
            assert_eq!(
                v.as_ref(),
                format!("value-{}", String::from_utf8_lossy(k)).as_bytes()
            );
        }
        contents.push(pairs);
    }
    assert!(
        contents.windows(2).all(|w| w[0] == w[1]),
        "the nodes did not converge"
    );
    cluster.stop().await?;
    Ok(())
}
