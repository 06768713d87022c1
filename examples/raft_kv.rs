//! A three-node replicated key-value store in one process: openraft 0.9.25 with shaledb as
//! every node's log store and state machine (`shaledb::raft`), nodes talking through an
//! in-process router (openraft's channel-router pattern), each node on its own database
//! directory. Every log append is synced before openraft counts it.
//!
//! ```text
//! cargo run --release --features raft --example raft_kv -- bench [--nodes 3] [--clients 16] [--writes 20000] [--dir D]
//! cargo run --release --features raft --example raft_kv -- load --dir D [--round R]
//! ```
//!
//! `bench` reports replicated writes per second, p50/p99 latency and log entries per
//! fsync. `load` writes keys `r{R}-{i}` from 16 clients until killed, printing
//! `ack <key>` once the cluster has acknowledged each: `tests/raft_kv_kill.rs` SIGKILLs
//! it and checks the acknowledged keys after a restart from the directories.

use std::collections::BTreeMap;
use std::error::Error;
use std::io::{Cursor, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{
    ClientWriteError, InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Raft, RaftNetwork, RaftNetworkFactory, ServerState, SnapshotPolicy};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use shaledb::raft::{Command, StateReader, StateTxn, SyncCounter};
use shaledb::{Db, Options};

/// Node ids of the cluster.
pub const NODES: [u64; 3] = [1, 2, 3];

/// A command of the replicated store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum KvCommand {
    /// Sets `key` to `value`.
    Set {
        /// The key.
        key: String,
        /// The new value.
        value: String,
    },
    /// Deletes `key`.
    Delete {
        /// The key.
        key: String,
    },
}

/// The reply to a command: the key's previous value.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KvResponse {
    /// The value before the command, if any.
    pub previous: Option<String>,
}

impl Command<KvResponse> for KvCommand {
    fn apply(&self, state: &mut StateTxn<'_>) -> shaledb::Result<KvResponse> {
        let key = match self {
            KvCommand::Set { key, .. } | KvCommand::Delete { key } => key,
        };
        let previous = state
            .get(key)?
            .map(|v| String::from_utf8_lossy(&v).into_owned());
        match self {
            KvCommand::Set { key, value } => state.put(key, value)?,
            KvCommand::Delete { key } => state.delete(key)?,
        }
        Ok(KvResponse { previous })
    }
}

openraft::declare_raft_types!(
    /// The example's openraft types: shaledb's defaults (`Entry<C>`, `Cursor<Vec<u8>>`).
    pub Config: D = KvCommand, R = KvResponse
);

/// The in-process network: the running nodes by id. A node absent from it is down.
#[derive(Clone, Default)]
pub struct Router {
    nodes: Arc<Mutex<BTreeMap<u64, Raft<Config>>>>,
}

impl Router {
    fn get(&self, id: u64) -> Option<Raft<Config>> {
        self.nodes.lock().get(&id).cloned()
    }
}

/// A connection from one node to `target` through the router.
pub struct Connection {
    router: Router,
    target: u64,
}

fn unreachable<E: std::error::Error>(target: u64) -> RPCError<u64, BasicNode, E> {
    let e = std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        format!("node {target} is down"),
    );
    RPCError::Unreachable(Unreachable::new(&e))
}

impl RaftNetwork<Config> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<Config>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        let raft = self
            .router
            .get(self.target)
            .ok_or_else(|| unreachable(self.target))?;
        raft.append_entries(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<Config>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        let raft = self
            .router
            .get(self.target)
            .ok_or_else(|| unreachable(self.target))?;
        raft.install_snapshot(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        let raft = self
            .router
            .get(self.target)
            .ok_or_else(|| unreachable(self.target))?;
        raft.vote(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetworkFactory<Config> for Router {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, _node: &BasicNode) -> Connection {
        Connection {
            router: self.clone(),
            target,
        }
    }
}

/// One running node: its Raft handle, its database and its applied state.
pub struct Node {
    /// openraft's handle.
    pub raft: Raft<Config>,
    /// The node's database (log and state machine).
    pub db: Arc<Db>,
    /// Reads the node's applied state.
    pub state: StateReader,
    /// The log store's fsync counters.
    pub syncs: SyncCounter,
}

/// Three nodes (or one, for comparison), each on `base/node-{id}`.
pub struct Cluster {
    base: PathBuf,
    ids: Vec<u64>,
    config: Arc<openraft::Config>,
    router: Router,
    nodes: BTreeMap<u64, Node>,
}

/// A boxed error.
pub type BoxError = Box<dyn Error + Send + Sync>;

impl Cluster {
    /// Starts every node from its directory under `base` (creating missing ones) and
    /// initialises the membership if the cluster is new. Snapshots every
    /// `snapshot_every` applied entries and keeps `keep_logs` entries behind a snapshot.
    pub async fn start(
        base: &Path,
        snapshot_every: u64,
        keep_logs: u64,
    ) -> Result<Cluster, BoxError> {
        Cluster::start_nodes(base, &NODES, snapshot_every, keep_logs).await
    }

    /// As [`Cluster::start`], with the nodes `ids`.
    pub async fn start_nodes(
        base: &Path,
        ids: &[u64],
        snapshot_every: u64,
        keep_logs: u64,
    ) -> Result<Cluster, BoxError> {
        let config = openraft::Config {
            cluster_name: "shaledb-raft-kv".into(),
            heartbeat_interval: 100,
            election_timeout_min: 400,
            election_timeout_max: 800,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(snapshot_every),
            max_in_snapshot_log_to_keep: keep_logs,
            purge_batch_size: 1,
            ..Default::default()
        };
        let mut cluster = Cluster {
            base: base.to_path_buf(),
            ids: ids.to_vec(),
            config: Arc::new(config.validate()?),
            router: Router::default(),
            nodes: BTreeMap::new(),
        };
        for &id in ids {
            cluster.start_node(id).await?;
        }
        let first = &cluster.nodes[&ids[0]].raft;
        if !first.is_initialized().await? {
            let members: BTreeMap<u64, BasicNode> =
                ids.iter().map(|&id| (id, BasicNode::default())).collect();
            first.initialize(members).await?;
        }
        Ok(cluster)
    }

    /// Starts node `id` from its directory.
    pub async fn start_node(&mut self, id: u64) -> Result<(), BoxError> {
        let dir = self.base.join(format!("node-{id}"));
        let db = Arc::new(Db::open(&dir, Options::default())?);
        let (log, sm) = shaledb::raft::open::<Config>(db.clone(), b"raft/")?;
        let (state, syncs) = (sm.reader(), log.sync_counter());
        let raft = Raft::new(id, self.config.clone(), self.router.clone(), log, sm).await?;
        self.router.nodes.lock().insert(id, raft.clone());
        self.nodes.insert(
            id,
            Node {
                raft,
                db,
                state,
                syncs,
            },
        );
        Ok(())
    }

    /// Stops node `id`: cuts it off the router, shuts openraft down, closes its database.
    pub async fn stop_node(&mut self, id: u64) -> Result<(), BoxError> {
        self.router.nodes.lock().remove(&id);
        if let Some(node) = self.nodes.remove(&id) {
            node.raft.shutdown().await?;
            node.db.close()?;
        }
        Ok(())
    }

    /// Stops every node.
    pub async fn stop(mut self) -> Result<(), BoxError> {
        for id in self.ids.clone() {
            self.stop_node(id).await?;
        }
        Ok(())
    }

    /// The running nodes.
    pub fn nodes(&self) -> &BTreeMap<u64, Node> {
        &self.nodes
    }

    /// Waits (up to 30 s) for a running node that is leader, and returns its id.
    pub async fn leader(&self) -> Result<u64, BoxError> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut watches: Vec<_> = self.nodes.values().map(|n| n.raft.metrics()).collect();
            for w in &mut watches {
                let m = w.borrow_and_update().clone();
                if m.state == ServerState::Leader && self.nodes.contains_key(&m.id) {
                    return Ok(m.id);
                }
            }
            if Instant::now() > deadline {
                return Err("no leader elected within 30 s".into());
            }
            // Any election changes every live node's metrics; wake on the first node's
            // change, re-checking all of them at least every 100 ms.
            if let Some(w) = watches.first_mut() {
                let _ = tokio::time::timeout(Duration::from_millis(100), w.changed()).await;
            }
        }
    }

    /// Writes `cmd` through the current leader, following leader changes. Returns once a
    /// majority has the entry durably in its log and the leader has applied it.
    pub async fn write(&self, cmd: KvCommand) -> Result<KvResponse, BoxError> {
        for _ in 0..20 {
            let id = self.leader().await?;
            let Some(node) = self.nodes.get(&id) else {
                continue;
            };
            match node.raft.client_write(cmd.clone()).await {
                Ok(r) => return Ok(r.data),
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err("the leader kept changing".into())
    }

    /// Waits (up to 60 s) until every running node has applied everything the leader
    /// has in its log.
    pub async fn converge(&self) -> Result<(), BoxError> {
        let leader = self.leader().await?;
        let last = self.nodes[&leader].raft.metrics().borrow().last_log_index;
        for node in self.nodes.values() {
            node.raft
                .wait(Some(Duration::from_secs(60)))
                .applied_index_at_least(last, "converge")
                .await?;
        }
        Ok(())
    }
}

/// Command-line options of the example.
struct Args {
    mode: String,
    dir: Option<PathBuf>,
    clients: usize,
    writes: usize,
    round: u64,
    nodes: u64,
}

fn parse_args() -> Result<Args, BoxError> {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        mode: it.next().unwrap_or_else(|| "bench".into()),
        dir: None,
        clients: 16,
        writes: 20_000,
        round: 0,
        nodes: 3,
    };
    while let Some(flag) = it.next() {
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--dir" => a.dir = Some(v.into()),
            "--clients" => a.clients = v.parse()?,
            "--writes" => a.writes = v.parse()?,
            "--round" => a.round = v.parse()?,
            "--nodes" => a.nodes = v.parse()?,
            _ => return Err(format!("unknown option {flag}").into()),
        }
    }
    Ok(a)
}

/// Writes `writes` keys from `clients` concurrent clients; returns each write's latency.
async fn run_clients(
    cluster: &Arc<Cluster>,
    clients: usize,
    writes: usize,
    prefix: &str,
    print_acks: bool,
) -> Result<Vec<Duration>, BoxError> {
    let mut tasks = Vec::new();
    for c in 0..clients {
        let cluster = cluster.clone();
        let prefix = prefix.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = c;
            while i < writes {
                let key = format!("{prefix}{i:08}");
                let t = Instant::now();
                cluster
                    .write(KvCommand::Set {
                        key: key.clone(),
                        value: format!("value-{key}"),
                    })
                    .await?;
                lat.push(t.elapsed());
                if print_acks {
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {key}")?;
                    out.flush()?;
                }
                i += clients;
            }
            Ok::<_, BoxError>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

async fn bench(a: &Args) -> Result<(), BoxError> {
    let tmp = tempfile::tempdir()?;
    let base = a.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let ids: Vec<u64> = (1..=a.nodes).collect();
    let cluster = Arc::new(Cluster::start_nodes(&base, &ids, 100_000, 10_000).await?);
    cluster.leader().await?;
    let totals = |c: &Cluster| {
        c.nodes()
            .values()
            .map(|n| n.syncs.stats())
            .fold((0, 0, 0), |(s, e, m), x| {
                (s + x.syncs, e + x.entries, m + x.metadata)
            })
    };
    let before = totals(&cluster);
    let t = Instant::now();
    let mut lat = run_clients(&cluster, a.clients, a.writes, "k", false).await?;
    let secs = t.elapsed().as_secs_f64();
    lat.sort();
    let pct =
        |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1e3;
    let after = totals(&cluster);
    let (syncs, entries, metadata) = (after.0 - before.0, after.1 - before.1, after.2 - before.2);
    println!(
        "nodes {}  clients {:>3}  writes {:>7}  {:>9.0} writes/s  p50 {:.2} ms  p99 {:.2} ms  \
         log entries per fsync {:.2} ({} fsyncs on all nodes, shared with {} vote/committed writes)",
        a.nodes,
        a.clients,
        lat.len(),
        lat.len() as f64 / secs,
        pct(0.50),
        pct(0.99),
        entries as f64 / syncs.max(1) as f64,
        syncs,
        metadata
    );
    if let Ok(c) = Arc::try_unwrap(cluster) {
        c.stop().await?;
    }
    Ok(())
}

async fn load(a: &Args) -> Result<(), BoxError> {
    let base = a.dir.clone().ok_or("load needs --dir")?;
    let cluster = Arc::new(Cluster::start(&base, 500, 100).await?);
    run_clients(
        &cluster,
        a.clients,
        usize::MAX,
        &format!("r{}-", a.round),
        true,
    )
    .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let a = parse_args()?;
    match a.mode.as_str() {
        "bench" => bench(&a).await,
        "load" => load(&a).await,
        m => Err(format!("unknown mode {m} (bench or load)").into()),
    }
}
