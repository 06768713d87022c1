//! The replicated store of `examples/raft_kv.rs` through a leader failure and two
//! catch-ups: elect a leader and write 10,000 keys; stop the leader, let the others elect
//! a new one and write more; restart the stopped node from its directory and watch it
//! catch up from the log (it installs no snapshot); stop a follower, write until the
//! others have purged their logs past it, restart it and watch it catch up by installing
//! a snapshot. Then all three state machines hold identical contents and every
//! acknowledged write is present.

#[path = "../examples/raft_kv.rs"]
#[allow(dead_code)]
mod raft_kv;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use raft_kv::{BoxError, Cluster, KvCommand};

/// Writes `n` keys `{prefix}{i}` from 16 concurrent clients; returns the acknowledged
/// key-value pairs.
async fn write_keys(
    cluster: &Arc<Cluster>,
    prefix: &str,
    n: usize,
) -> Result<BTreeMap<String, String>, BoxError> {
    let mut tasks = Vec::new();
    for c in 0..16 {
        let cluster = cluster.clone();
        let prefix = prefix.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in (c..n).step_by(16) {
                let (key, value) = (format!("{prefix}{i:06}"), format!("v{i}"));
                cluster
                    .write(KvCommand::Set {
                        key: key.clone(),
                        value: value.clone(),
                    })
                    .await?;
                acked.push((key, value));
            }
            Ok::<_, BoxError>(acked)
        }));
    }
    let mut all = BTreeMap::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

fn cluster_mut(c: &mut Arc<Cluster>) -> &mut Cluster {
    Arc::get_mut(c).expect("no client task holds the cluster")
}

fn last_log_index(cluster: &Cluster, id: u64) -> u64 {
    cluster.nodes()[&id]
        .raft
        .metrics()
        .borrow()
        .last_log_index
        .unwrap_or(0)
}

fn snapshot_index(cluster: &Cluster, id: u64) -> Option<u64> {
    cluster.nodes()[&id]
        .raft
        .metrics()
        .borrow()
        .snapshot
        .map(|l| l.index)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_failure_then_catch_up_by_log_and_by_snapshot() -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    // A snapshot every 3,000 applied entries, keeping 500 entries behind it.
    let mut cluster = Arc::new(Cluster::start(dir.path(), 3_000, 500).await?);

    let mut model = write_keys(&cluster, "a", 10_000).await?;
    assert_eq!(model.len(), 10_000);

    // The leader fails; the other two elect a new one and go on.
    let old_leader = cluster.leader().await?;
    let old_last = last_log_index(&cluster, old_leader);
    let old_snapshot = snapshot_index(&cluster, old_leader);
    cluster_mut(&mut cluster).stop_node(old_leader).await?;
    let new_leader = cluster.leader().await?;
    assert_ne!(new_leader, old_leader);
    model.extend(write_keys(&cluster, "b", 300).await?);

    // Back from its directory, it catches up from the log: the entries it lacks are
    // still there (fewer than the 500 kept behind a snapshot), so it installs nothing.
    cluster_mut(&mut cluster).start_node(old_leader).await?;
    cluster.nodes()[&old_leader]
        .raft
        .wait(Some(Duration::from_secs(10)))
        .log_index_at_least(Some(old_last), "the log survived the restart")
        .await?;
    cluster.converge().await?;
    assert_eq!(
        snapshot_index(&cluster, old_leader),
        old_snapshot,
        "caught up by log, without a snapshot"
    );

    // A follower stops; the others write until their logs are purged past its end.
    let leader = cluster.leader().await?;
    let follower = *cluster
        .nodes()
        .keys()
        .find(|&&id| id != leader)
        .expect("a follower");
    let follower_last = last_log_index(&cluster, follower);
    cluster_mut(&mut cluster).stop_node(follower).await?;
    model.extend(write_keys(&cluster, "c", 4_000).await?);
    let leader = cluster.leader().await?;
    cluster.nodes()[&leader]
        .raft
        .wait(Some(Duration::from_secs(60)))
        .metrics(
            |m| m.purged.is_some_and(|p| p.index > follower_last),
            "the leader purges its log past the stopped follower's end",
        )
        .await?;

    // Back, it can only catch up by installing the leader's snapshot.
    cluster_mut(&mut cluster).start_node(follower).await?;
    cluster.converge().await?;
    assert!(
        snapshot_index(&cluster, follower).is_some_and(|s| s > follower_last),
        "caught up by snapshot: {:?} after {follower_last}",
        snapshot_index(&cluster, follower)
    );

    // One more write after everything, so that all three apply the same last entry.
    cluster
        .write(KvCommand::Set {
            key: "z".into(),
            value: "last".into(),
        })
        .await?;
    model.insert("z".into(), "last".into());
    cluster.converge().await?;

    let mut contents = Vec::new();
    for (id, node) in cluster.nodes() {
        let pairs = node.state.pairs()?;
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect();
        for (k, v) in &model {
            assert_eq!(map.get(k), Some(v), "node {id} lost acknowledged key {k}");
        }
        contents.push(pairs);
    }
    assert_eq!(contents.len(), 3);
    assert!(
        contents.windows(2).all(|w| w[0] == w[1]),
        "the three state machines differ"
    );

    Arc::try_unwrap(cluster)
        .map_err(|_| "cluster still shared")?
        .stop()
        .await?;
    Ok(())
}
