//! `shale serve`: the Redis-compatible server (`shaledb::server`) on the database in
//! `--db`. Logs one line at start (address, database, fsync policy, keys) and shuts down
//! cleanly on SIGTERM, SIGINT and SHUTDOWN: stops accepting, answers what is in flight,
//! syncs the WAL and closes the database.

use std::path::Path;
use std::sync::Arc;

use clap::Args;
use shaledb::server::{FsyncPolicy, Server, ServerConfig};
use shaledb::{Db, Options};

use crate::error::{CliError, CliResult};

/// Options of `shale serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// TCP port (0 picks a free one).
    #[arg(long, default_value_t = 6379)]
    port: u16,
    /// Redis's fsync policy: always (acknowledge after fsync; connections share fsyncs),
    /// everysec (acknowledge once in the WAL, fsync every second) or no.
    #[arg(long, default_value = "everysec")]
    appendfsync: String,
    /// Most clients connected at once.
    #[arg(long, default_value_t = 10_000)]
    maxclients: usize,
    /// Require AUTH with this password.
    #[arg(long)]
    requirepass: Option<String>,
}

pub fn run(a: &ServeArgs, dir: &Path, opts: Options) -> CliResult<()> {
    let policy = FsyncPolicy::parse(&a.appendfsync).ok_or_else(|| {
        CliError::Usage(format!("--appendfsync {:?}: expected always, everysec or no", a.appendfsync))
    })?;
    // The server writes each event-loop round's WAL records with one write() (flush_wal
    // before its replies go out), as Redis writes its append-only file once per round.
    // Every write reads its key first (counts, expiry index), mostly keys the memtable
    // does not hold: a memtable key filter answers those without a tree search.
    let db = Arc::new(Db::open(dir, opts.manual_wal_flush(true).memtable_bloom_size_ratio(0.01))?);
    let config = ServerConfig {
        bind: a.bind.clone(),
        port: a.port,
        appendfsync: policy,
        maxclients: a.maxclients,
        requirepass: a.requirepass.clone(),
    };
    let server = Server::bind(Arc::clone(&db), config)?;
    eprintln!(
        "shale serve: listening on {}, database {}, appendfsync {}, {} keys",
        server.local_addr(),
        dir.display(),
        policy.name(),
        server.total_keys()
    );
    server.run(true)?;
    db.close()?;
    eprintln!("shale serve: shut down cleanly");
    Ok(())
}
