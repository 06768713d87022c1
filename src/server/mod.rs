//! `shale serve`: a durable Redis-compatible server on shaledb (cargo feature `server`).
//!
//! The protocol is RESP2 ([`resp`]); string and key commands follow Redis 7.0's semantics
//! and error texts ([`strings`], [`keys`], [`admin`]); the keyspace layout, counts and
//! expiry index are in [`keyspace`]. Connections are tasks on one tokio event-loop
//! thread, as Redis's; each pipeline chunk of commands runs on that thread. The database
//! is opened with `manual_wal_flush`: a round's WAL records reach the operating system
//! with one `flush_wal` before its replies go out, and under `appendfsync always` the
//! connections that wrote wait on the sync barrier (`Shared::durable`) for a `sync_wal`
//! by the sync thread, woken once the event-loop round's ready connections have run
//! (`sync_kicker`), which fsyncs while the loop goes on running other connections: one
//! fsync covers every write made before it started (group commit).
//! docs/server.md describes the guarantees next to Redis's.

pub mod admin;
pub mod glob;
pub mod keys;
pub mod keyspace;
pub mod resp;
pub mod strings;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::db::Db;
use crate::error::Error;
use keyspace::{KeyState, Keyspace, NewState};
use resp::{Parsed, Reply};

/// Redis's `appendfsync` policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Every write is acknowledged after its WAL record is fsynced (one `sync_wal` of the
    /// sync barrier covers every connection waiting).
    Always,
    /// Writes are acknowledged once in the WAL (they survive a process kill); the WAL is
    /// fsynced every second.
    EverySec,
    /// Writes are acknowledged once in the WAL; the operating system decides when they
    /// reach the disk.
    No,
}

impl FsyncPolicy {
    /// The name CONFIG GET and INFO show.
    pub fn name(self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::EverySec => "everysec",
            FsyncPolicy::No => "no",
        }
    }

    /// Parses `always`, `everysec` or `no` (any case).
    pub fn parse(s: &str) -> Option<FsyncPolicy> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Some(FsyncPolicy::Always),
            "everysec" => Some(FsyncPolicy::EverySec),
            "no" => Some(FsyncPolicy::No),
            _ => None,
        }
    }
}

/// How the server listens and behaves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind, e.g. `127.0.0.1`.
    pub bind: String,
    /// TCP port (0 picks a free one; [`Server::local_addr`] tells which).
    pub port: u16,
    /// The fsync policy.
    pub appendfsync: FsyncPolicy,
    /// Most clients connected at once; more are refused with Redis's error.
    pub maxclients: usize,
    /// The password AUTH must give, if any.
    pub requirepass: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1".into(),
            port: 6379,
            appendfsync: FsyncPolicy::EverySec,
            maxclients: 10_000,
            requirepass: None,
        }
    }
}

/// SCAN cursors: a number handed to the client names the last key returned. Bounded: the
/// oldest cursors are forgotten first (a forgotten cursor ends its scan).
#[derive(Default)]
pub struct Cursors {
    next: u64,
    by_id: BTreeMap<u64, (usize, Bytes)>,
}

impl Cursors {
    const MAX: usize = 100_000;

    fn put(&mut self, db: usize, last: Bytes) -> u64 {
        self.next += 1;
        self.by_id.insert(self.next, (db, last));
        while self.by_id.len() > Self::MAX {
            self.by_id.pop_first();
        }
        self.next
    }

    fn get(&self, id: u64, db: usize) -> Option<Bytes> {
        self.by_id.get(&id).filter(|(d, _)| *d == db).map(|(_, k)| k.clone())
    }
}

/// One connected client, as CLIENT LIST shows it.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// CLIENT ID.
    pub id: u64,
    /// Peer address.
    pub addr: String,
    /// CLIENT SETNAME's name.
    pub name: Option<Vec<u8>>,
    /// Selected database.
    pub db: usize,
    /// When it connected.
    pub since: Instant,
    /// The last command's name.
    pub last_cmd: String,
}

/// State shared by every connection.
pub struct Shared {
    /// The keyspace.
    pub ks: Keyspace,
    /// The configuration (appendfsync may change through CONFIG SET).
    pub config: Mutex<ServerConfig>,
    /// SCAN cursors.
    pub cursors: Mutex<Cursors>,
    /// Connected clients by id.
    pub clients: Mutex<HashMap<u64, ClientInfo>>,
    next_client: AtomicU64,
    /// Commands processed (INFO stats).
    pub commands: AtomicU64,
    /// Connections accepted (INFO stats).
    pub connections: AtomicU64,
    /// Connections refused at maxclients.
    pub rejected: AtomicU64,
    /// Set by SHUTDOWN or a signal.
    pub shutdown: AtomicBool,
    /// `appendfsync always`'s sync barrier: generations requested and done (see
    /// [`Shared::durable`]).
    sync_gen: Mutex<SyncGen>,
    sync_cv: parking_lot::Condvar,
    /// Set once every connection has finished: the sync thread may then exit.
    syncer_stop: AtomicBool,
    synced_tx: tokio::sync::watch::Sender<SyncGen>,
    /// Wakes [`sync_relay`] on the event loop when a sync finished: the sync thread wakes
    /// the loop once per fsync, and the relay wakes the waiting connections from the loop
    /// itself (a wake from another thread costs the loop's runtime one `eventfd` write per
    /// task; from its own thread, none).
    sync_done: tokio::sync::Notify,
    /// Wakes [`sync_kicker`] on the event loop when a connection filed a durability
    /// request.
    sync_kick: tokio::sync::Notify,
    /// Becomes true at shutdown; every connection and the accept loop watch it.
    shutdown_tx: tokio::sync::watch::Sender<bool>,
    /// When the server started.
    pub started: Instant,
    /// The address it listens on.
    pub addr: Mutex<String>,
    /// Error replies sent (INFO stats).
    pub errors: AtomicUsize,
}

/// Sync barrier generations: `requested` grows when a connection asks for its writes to
/// be made durable; `done` is the newest request a finished `sync_wal` covers; `failed`
/// once a sync failed (the database is then poisoned).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncGen {
    requested: u64,
    done: u64,
    failed: bool,
}

impl Shared {
    /// Waits until a WAL sync that started after this call has finished: every write this
    /// connection made before calling is then durable. The sync thread runs
    /// [`Shared::sync_pending`] once [`sync_kicker`] has let the event-loop round's ready
    /// connections run; the connections that file a request while one fsync runs share
    /// the next one. This is how `appendfsync always`
    /// acknowledges a write only after it is on disk, like Redis's one fsync per
    /// event-loop round. False if the sync failed.
    async fn durable(&self) -> bool {
        let gen = {
            let mut g = self.sync_gen.lock();
            g.requested += 1;
            g.requested
        };
        // The sync thread starts when the round ends ([`sync_kicker`]), not now.
        self.sync_kick.notify_one();
        let mut rx = self.synced_tx.subscribe();
        let ok = match rx.wait_for(|g| g.done >= gen || g.failed).await {
            Ok(g) => !g.failed,
            Err(_) => false,
        };
        ok
    }
}

impl Shared {
    /// Runs one `sync_wal` for every durability request made so far, if any is pending,
    /// and wakes the connections waiting on it. Called by the sync thread
    /// ([`spawn_syncer`]), off the event loop, so that the loop's CPU work and the fsync
    /// overlap.
    fn sync_pending(&self) {
        let target = {
            let g = self.sync_gen.lock();
            if g.requested == g.done {
                return;
            }
            g.requested
        };
        // Invariant: `target` was read before the sync starts, so every write made
        // before request `target` is covered by it.
        let ok = match self.ks.engine().sync_wal() {
            Ok(()) => true,
            Err(e) => {
                log::error!("appendfsync always: sync_wal failed: {e}");
                false
            }
        };
        let mut g = self.sync_gen.lock();
        g.done = g.done.max(target);
        g.failed |= !ok;
        drop(g);
        self.sync_done.notify_one();
        self.sync_cv.notify_all();
    }
}

/// Runs on the event loop for the server's lifetime: after each finished sync
/// ([`Shared::sync_pending`]) it publishes the barrier's generations to the connections
/// waiting in [`Shared::durable`]. One cross-thread wake per fsync instead of one per
/// waiting connection (`eventfd` writes by the sync thread: 38 per fsync with 50 clients
/// before, measured with `perf stat`).
async fn sync_relay(sh: Arc<Shared>) {
    loop {
        sh.sync_done.notified().await;
        let g = *sh.sync_gen.lock();
        sh.synced_tx.send_replace(g);
    }
}

/// Runs on the event loop for the server's lifetime: once a connection has filed a
/// durability request ([`Shared::durable`]), it lets every task that is ready run first
/// (it yields, which puts it behind them), then wakes the sync thread. So one fsync covers
/// the writes of the whole event-loop round, as Redis's `appendfsync always` fsyncs once
/// in `beforeSleep`, where waking it at the first request started an fsync that covered
/// that request alone and left the round's others to wait for a second one.
async fn sync_kicker(sh: Arc<Shared>) {
    loop {
        sh.sync_kick.notified().await;
        tokio::task::yield_now().await;
        let _g = sh.sync_gen.lock();
        sh.sync_cv.notify_one();
    }
}

/// The sync thread `shale-serve-sync`: whenever a durability request is pending it runs
/// one [`Shared::sync_pending`] for every request filed so far, then waits for the next.
fn spawn_syncer(sh: Arc<Shared>) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("shale-serve-sync".into())
        .spawn(move || loop {
            {
                let mut g = sh.sync_gen.lock();
                while g.requested == g.done && !sh.syncer_stop.load(Ordering::Acquire) {
                    sh.sync_cv.wait_for(&mut g, Duration::from_millis(100));
                }
                if g.requested == g.done {
                    return; // every connection is gone and nothing is pending
                }
            }
            sh.sync_pending();
        })
        .expect("spawn the server's sync thread")
}

/// One connection's state.
pub struct Session {
    /// The selected database.
    pub db: usize,
    /// CLIENT ID.
    pub id: u64,
    /// False until AUTH succeeds when a password is required.
    pub authed: bool,
    /// RESP protocol version (HELLO).
    pub proto: u8,
    /// The last known command's name, copied to CLIENT LIST's record after each chunk
    /// (and before a CLIENT command), not under the clients lock for every command.
    pub last_cmd: String,
}

/// What to do after a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Read the next request.
    Continue,
    /// Close this connection (QUIT, protocol error).
    Close,
    /// Stop the server (SHUTDOWN).
    Shutdown,
}

/// A command's view: the shared state, its session and, for the commands that may join
/// them ([`stages_writes`]), the chunk's staged writes.
pub struct Ctx<'a, 'k> {
    /// Shared state.
    pub sh: &'k Shared,
    /// The session.
    pub s: &'a mut Session,
    /// Set by QUIT and SHUTDOWN.
    pub after: After,
    /// The pipeline chunk's staged writes: [`Ctx::write`] adds to them and [`Ctx::read`]
    /// reads through them. `None`: writes commit one by one.
    pub staged: Option<&'a mut StagedChunk<'k>>,
}

/// A pipeline chunk's staged writes ([`keyspace::Staged`]) and which of the chunk's
/// commands they answer for.
#[derive(Default)]
pub struct StagedChunk<'k> {
    /// The writes.
    pub writes: keyspace::Staged<'k>,
    /// Index in the chunk of the command running now.
    pub command: usize,
    /// Indexes of the commands whose writes are staged (their replies hold until the
    /// writes commit).
    pub commands: Vec<usize>,
    /// Commands whose staged writes failed to commit, with the error reply each gets in
    /// place of its own.
    pub failed: Vec<(usize, Reply)>,
}

/// Bytes of staged writes after which a chunk commits them before its next command.
pub const STAGED_BATCH_BYTES: usize = 1 << 20;

impl<'k> StagedChunk<'k> {
    /// Commits the staged writes, if any: on failure every command that staged them gets
    /// the error reply instead of its own (they were not acknowledged yet).
    pub fn commit(&mut self, ks: &'k Keyspace) {
        if self.writes.is_empty() {
            return;
        }
        if let Err(e) = ks.commit_staged(&mut self.writes) {
            let r = db_err(&e);
            self.failed.extend(self.commands.iter().map(|&i| (i, r.clone())));
        }
        self.commands.clear();
    }
}

/// True for the commands that may stage their writes in the chunk's batch: string
/// commands that read and write only through [`Ctx::read`] and [`Ctx::write`]. Any other
/// command commits what is staged before it runs, so it sees every earlier write in the
/// engine (key counts, SCAN, TTL, …).
pub fn stages_writes(lower_name: &str) -> bool {
    matches!(
        lower_name,
        "set"
            | "setnx"
            | "setex"
            | "psetex"
            | "getset"
            | "mset"
            | "msetnx"
            | "append"
            | "setrange"
            | "incr"
            | "decr"
            | "incrby"
            | "decrby"
            | "incrbyfloat"
            | "get"
            | "mget"
            | "strlen"
            | "getrange"
            | "substr"
    )
}

/// Longest key the server stores, in bytes: the engine's key limit less the 10 bytes the
/// expiry index adds (`'x' db expiry_ms`).
pub const MAX_REDIS_KEY: usize = crate::options::MAX_KEY_SIZE - 10;

/// Case-insensitive comparison of an argument with a lower-case word.
pub fn eq(a: &[u8], word: &str) -> bool {
    a.eq_ignore_ascii_case(word.as_bytes())
}

/// An engine error as an error reply, logged (the server keeps serving).
pub fn db_err(e: &Error) -> Reply {
    log::error!("database error: {e}");
    match e {
        Error::InvalidArgument(what) => Reply::err(what),
        e => Reply::err(format!("database error: {e}")),
    }
}

impl Ctx<'_, '_> {
    /// An engine error as a reply.
    pub fn db_error(&self, e: &Error) -> Reply {
        db_err(e)
    }

    /// Reads `key` in the session's database; on a miss, reclaims it if it is counted
    /// with a passed expiry (lazy expiry).
    ///
    /// # Errors
    /// The error reply for an engine error.
    pub fn read(&mut self, key: &[u8]) -> Result<Option<(Bytes, Option<u64>)>, Reply> {
        if key.len() > MAX_REDIS_KEY {
            return Ok(None); // such a key can never have been written
        }
        let db = self.s.db;
        if let Some(st) = self.staged.as_ref().and_then(|s| s.writes.overlay(db, key)) {
            return Ok(st.live.clone().filter(|(_, t)| t.is_none_or(|t| t > keyspace::now_ms())));
        }
        let v = self.sh.ks.get(db, key).map_err(|e| db_err(&e))?;
        if v.is_none() && self.sh.ks.expires(db) > 0 {
            // The reclaim locks the key's stripe, which staged writes may hold.
            if let Some(st) = self.staged.as_deref_mut() {
                st.commit(&self.sh.ks);
            }
            self.sh.ks.reclaim_if_expired(db, key).map_err(|e| db_err(&e))?;
        }
        Ok(v)
    }

    /// Runs a read-modify-write on `keys`: locks their stripes, reads their states,
    /// calls `f`, and writes the new states it returns (one per key, in order; none for
    /// no write) in one atomic batch.
    pub fn write<F>(&mut self, keys: &[&Vec<u8>], f: F) -> Reply
    where
        F: FnOnce(&Self, &[KeyState]) -> crate::error::Result<(Reply, Vec<NewState>)>,
    {
        if let Some(k) = keys.iter().find(|k| k.len() > MAX_REDIS_KEY) {
            return Reply::err(format!(
                "key of {} bytes is above the limit of {MAX_REDIS_KEY} bytes",
                k.len()
            ));
        }
        let slices: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
        if let Some(staged) = self.staged.take() {
            return self.write_staged(staged, &slices, f);
        }
        let mut lock = self.sh.ks.lock(self.s.db, &slices);
        let run = || -> crate::error::Result<Reply> {
            let states: Vec<KeyState> =
                slices.iter().map(|k| self.sh.ks.state(&lock, k)).collect::<crate::error::Result<_>>()?;
            let (reply, news) = f(self, &states)?;
            if !news.is_empty() {
                match checked_changes(&slices, &states, news) {
                    Err(r) => return Ok(r),
                    Ok(changes) => self.sh.ks.write(&mut lock, &changes)?,
                }
            }
            Ok(reply)
        };
        run().unwrap_or_else(|e| db_err(&e))
    }
}

impl<'a, 'k> Ctx<'a, 'k> {
    /// [`Ctx::write`] joining the chunk's staged writes: the new states are staged, not
    /// written, and later commands of the chunk read them.
    fn write_staged<F>(&mut self, staged: &'a mut StagedChunk<'k>, keys: &[&[u8]], f: F) -> Reply
    where
        F: FnOnce(&Self, &[KeyState]) -> crate::error::Result<(Reply, Vec<NewState>)>,
    {
        let ks: &'k Keyspace = &self.sh.ks;
        let db = self.s.db;
        if !ks.lock_staged(&mut staged.writes, db, keys) {
            staged.commit(ks);
            // Nothing is staged now, so this waits for the stripes in stripe order.
            let locked = ks.lock_staged(&mut staged.writes, db, keys);
            debug_assert!(locked);
        }
        let states: crate::error::Result<Vec<KeyState>> =
            keys.iter().map(|k| ks.staged_state(&staged.writes, k)).collect();
        let states = match states {
            Ok(s) => s,
            Err(e) => {
                self.staged = Some(staged);
                return db_err(&e);
            }
        };
        let result = f(self, &states);
        let reply = match result {
            Err(e) => db_err(&e),
            Ok((reply, news)) if news.is_empty() => reply,
            Ok((reply, news)) => match checked_changes(keys, &states, news) {
                Err(r) => r,
                Ok(changes) => match ks.stage_write(&mut staged.writes, &changes) {
                    Err(e) => db_err(&e),
                    Ok(()) => {
                        staged.commands.push(staged.command);
                        reply
                    }
                },
            },
        };
        if staged.writes.batch_bytes() >= STAGED_BATCH_BYTES {
            staged.commit(ks);
        }
        self.staged = Some(staged);
        reply
    }
}

/// A write's changes: each key with its state before and its new state.
type Changes<'x> = Vec<(&'x [u8], &'x KeyState, NewState)>;

/// The changes of a write: one per distinct key (a key named twice, as in `MSET k a k b`,
/// takes its last new state), or the error reply for a value over the size limit.
fn checked_changes<'x>(
    keys: &[&'x [u8]],
    states: &'x [KeyState],
    news: Vec<NewState>,
) -> Result<Changes<'x>, Reply> {
    if let Some((_, NewState::Set(v, _))) = keys
        .iter()
        .zip(&news)
        .find(|(_, n)| matches!(n, NewState::Set(v, _) if v.len() + 1 > crate::options::MAX_VALUE_SIZE))
    {
        return Err(Reply::err(format!("value of {} bytes is above the 64 MiB limit", v.len())));
    }
    let mut changes: Vec<(&[u8], &KeyState, NewState)> = Vec::with_capacity(keys.len());
    let mut seen = std::collections::HashSet::new();
    for ((k, st), n) in keys.iter().zip(states).zip(news).rev() {
        let first = if keys.len() <= 16 { !changes.iter().any(|(c, _, _)| c == k) } else { seen.insert(*k) };
        if first {
            changes.push((k, st, n));
        }
    }
    changes.reverse();
    Ok(changes)
}

/// Arity of a command as Redis's command table gives it: `n` exactly `n` arguments
/// (the name included), `-n` at least `n`.
fn arity(name: &str) -> Option<i32> {
    Some(match name {
        "get" | "getdel" | "strlen" | "incr" | "decr" | "type" | "ttl" | "pttl" | "expiretime"
        | "pexpiretime" | "persist" | "echo" | "select" | "keys" => 2,
        "setnx" | "getset" | "append" | "incrby" | "decrby" | "incrbyfloat" | "rename" | "renamenx" => 3,
        "setex" | "psetex" | "setrange" | "getrange" | "substr" => 4,
        "set" | "mset" | "msetnx" | "expire" | "pexpire" | "expireat" | "pexpireat" => -3,
        "getex" | "mget" | "del" | "unlink" | "exists" | "scan" | "object" | "config" | "client"
        | "function" | "auth" | "memory" => -2,
        "randomkey" | "dbsize" | "time" | "lastsave" => 1,
        "ping" | "flushdb" | "flushall" | "info" | "command" | "quit" | "shutdown" | "hello" | "save"
        | "bgsave" | "bgrewriteaof" | "reset" => -1,
        _ => return None,
    })
}

/// Every command name this server knows (COMMAND COUNT, COMMAND INFO).
pub const COMMANDS: &[&str] = &[
    "get",
    "set",
    "setnx",
    "setex",
    "psetex",
    "getset",
    "getdel",
    "getex",
    "mget",
    "mset",
    "msetnx",
    "append",
    "strlen",
    "setrange",
    "getrange",
    "substr",
    "incr",
    "incrby",
    "decr",
    "decrby",
    "incrbyfloat",
    "del",
    "unlink",
    "exists",
    "type",
    "rename",
    "renamenx",
    "keys",
    "scan",
    "randomkey",
    "expire",
    "pexpire",
    "expireat",
    "pexpireat",
    "ttl",
    "pttl",
    "expiretime",
    "pexpiretime",
    "persist",
    "object",
    "dbsize",
    "ping",
    "echo",
    "select",
    "flushdb",
    "flushall",
    "info",
    "time",
    "command",
    "config",
    "function",
    "client",
    "quit",
    "shutdown",
    "auth",
    "hello",
    "lastsave",
    "save",
    "bgsave",
    "bgrewriteaof",
    "memory",
    "reset",
];

/// The command's arity, for COMMAND INFO.
pub fn command_arity(name: &str) -> i32 {
    arity(name).unwrap_or(0)
}

/// Runs one request.
pub fn execute(sh: &Shared, s: &mut Session, args: &[Vec<u8>]) -> (Reply, After) {
    execute_staged(sh, s, args, None)
}

/// Runs one request; a command that may stage its writes ([`stages_writes`]) joins
/// `staged`, any other runs after committing what `staged` holds.
pub fn execute_staged<'k>(
    sh: &'k Shared,
    s: &mut Session,
    args: &[Vec<u8>],
    staged: Option<&mut StagedChunk<'k>>,
) -> (Reply, After) {
    sh.commands.fetch_add(1, Ordering::Relaxed);
    let (r, after) = dispatch(sh, s, args, staged);
    if r.is_error() {
        sh.errors.fetch_add(1, Ordering::Relaxed);
    }
    (r, after)
}

/// The lower-cased command name, if it is ASCII and at most 24 bytes (every command this
/// server knows is); no allocation.
fn lower_name<'b>(raw: &[u8], buf: &'b mut [u8; 24]) -> Option<&'b str> {
    if raw.len() > buf.len() || !raw.is_ascii() {
        return None;
    }
    let b = &mut buf[..raw.len()];
    b.copy_from_slice(raw);
    b.make_ascii_lowercase();
    std::str::from_utf8(b).ok()
}

impl Shared {
    /// Copies a session's selected database and last command to its CLIENT LIST record.
    fn publish_client(&self, s: &Session) {
        if let Some(c) = self.clients.lock().get_mut(&s.id) {
            if !s.last_cmd.is_empty() {
                c.last_cmd.clone_from(&s.last_cmd);
            }
            c.db = s.db;
        }
    }
}

fn dispatch<'k>(
    sh: &'k Shared,
    s: &mut Session,
    args: &[Vec<u8>],
    staged: Option<&mut StagedChunk<'k>>,
) -> (Reply, After) {
    let mut buf = [0u8; 24];
    let name = lower_name(&args[0], &mut buf).unwrap_or_default();
    let Some(ar) = arity(name) else {
        let mut msg = format!(
            "unknown command '{}', with args beginning with: ",
            String::from_utf8_lossy(&args[0]).chars().take(128).collect::<String>()
        );
        for a in args[1..].iter().take(10) {
            msg.push_str(&format!("'{}' ", String::from_utf8_lossy(a).chars().take(128).collect::<String>()));
        }
        return (Reply::err(msg), After::Continue);
    };
    let n = args.len() as i32;
    if (ar > 0 && n != ar) || (ar < 0 && n < -ar) {
        return (Reply::err(format!("wrong number of arguments for '{name}' command")), After::Continue);
    }
    s.last_cmd.clear();
    s.last_cmd.push_str(name);
    if name == "client" {
        sh.publish_client(s);
    }
    // Any other command first commits what is staged (a command it does not know, or
    // with the wrong arity, only answers an error).
    let staged = match staged {
        Some(st) if stages_writes(name) => Some(st),
        Some(st) => {
            st.commit(&sh.ks);
            None
        }
        None => None,
    };
    if !s.authed && !matches!(name, "auth" | "hello" | "quit") {
        return (Reply::Error("NOAUTH Authentication required.".into()), After::Continue);
    }
    let mut c = Ctx { sh, s, after: After::Continue, staged };
    let a = args;
    let r = match name {
        "get" => strings::get(&mut c, a),
        "set" => strings::set(&mut c, a),
        "setnx" => strings::setnx(&mut c, a),
        "setex" => strings::setex(&mut c, a, 1000),
        "psetex" => strings::setex(&mut c, a, 1),
        "getset" => strings::getset(&mut c, a),
        "getdel" => strings::getdel(&mut c, a),
        "getex" => strings::getex(&mut c, a),
        "mget" => strings::mget(&mut c, a),
        "mset" => strings::mset(&mut c, a, false),
        "msetnx" => strings::mset(&mut c, a, true),
        "append" => strings::append(&mut c, a),
        "strlen" => strings::strlen(&mut c, a),
        "setrange" => strings::setrange(&mut c, a),
        "getrange" | "substr" => strings::getrange(&mut c, a),
        "incr" => strings::incr(&mut c, a, Some(1), 1),
        "decr" => strings::incr(&mut c, a, Some(-1), 1),
        "incrby" => strings::incr(&mut c, a, None, 1),
        "decrby" => strings::incr(&mut c, a, None, -1),
        "incrbyfloat" => strings::incrbyfloat(&mut c, a),
        "del" | "unlink" => keys::del(&mut c, a),
        "exists" => keys::exists(&mut c, a),
        "type" => keys::type_(&mut c, a),
        "rename" => keys::rename(&mut c, a, false),
        "renamenx" => keys::rename(&mut c, a, true),
        "keys" => keys::keys(&mut c, a),
        "scan" => keys::scan(&mut c, a),
        "randomkey" => keys::randomkey(&mut c, a),
        "expire" => keys::expire(&mut c, a, 1000, false, "expire"),
        "pexpire" => keys::expire(&mut c, a, 1, false, "pexpire"),
        "expireat" => keys::expire(&mut c, a, 1000, true, "expireat"),
        "pexpireat" => keys::expire(&mut c, a, 1, true, "pexpireat"),
        "ttl" => keys::ttl(&mut c, a, 1000, false),
        "pttl" => keys::ttl(&mut c, a, 1, false),
        "expiretime" => keys::ttl(&mut c, a, 1000, true),
        "pexpiretime" => keys::ttl(&mut c, a, 1, true),
        "persist" => keys::persist(&mut c, a),
        "object" => keys::object(&mut c, a),
        "dbsize" => keys::dbsize(&mut c, a),
        other => admin::run(&mut c, other, a),
    };
    (r, c.after)
}

/// A running server: its shared state and the address it listens on.
pub struct Server {
    shared: Arc<Shared>,
    listener: std::net::TcpListener,
}

impl Server {
    /// Binds the listener and opens the keyspace over `db` (reads the stored key counts;
    /// no scan of the data).
    ///
    /// # Errors
    /// [`Error::Io`] if the address cannot be bound; engine read errors.
    pub fn bind(db: Arc<Db>, config: ServerConfig) -> crate::error::Result<Server> {
        let listener = std::net::TcpListener::bind((config.bind.as_str(), config.port))?;
        listener.set_nonblocking(true)?;
        // Writes never fsync one by one: under `always` the connection waits on the sync
        // barrier after its chunk instead (Shared::durable).
        let ks = Keyspace::open(db, false)?;
        let addr = listener.local_addr()?.to_string();
        let shared = Arc::new(Shared {
            ks,
            config: Mutex::new(config),
            cursors: Mutex::new(Cursors::default()),
            clients: Mutex::new(HashMap::new()),
            next_client: AtomicU64::new(1),
            commands: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            shutdown: AtomicBool::new(false),
            shutdown_tx: tokio::sync::watch::channel(false).0,
            sync_gen: Mutex::new(SyncGen::default()),
            sync_cv: parking_lot::Condvar::new(),
            syncer_stop: AtomicBool::new(false),
            synced_tx: tokio::sync::watch::channel(SyncGen::default()).0,
            sync_done: tokio::sync::Notify::new(),
            sync_kick: tokio::sync::Notify::new(),
            started: Instant::now(),
            addr: Mutex::new(addr),
            errors: AtomicUsize::new(0),
        });
        Ok(Server { shared, listener })
    }

    /// Keys counted in every logical database (the start-up log line).
    pub fn total_keys(&self) -> u64 {
        (0..keyspace::DATABASES).map(|d| self.shared.ks.dbsize(d)).sum()
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> String {
        self.shared.addr.lock().clone()
    }

    /// A handle that stops the server from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper(Arc::clone(&self.shared))
    }

    /// Serves until SHUTDOWN, [`Stopper::stop`], SIGTERM or SIGINT: accepts connections,
    /// runs active expiry (10 passes a second) and, with `everysec`, syncs the WAL every
    /// second. On the way out it stops accepting, lets in-flight commands finish, syncs
    /// the WAL and returns (the caller closes the database).
    ///
    /// # Errors
    /// [`Error::Io`] from the runtime or the listener; the final `sync_wal`'s error.
    pub fn run(self, handle_signals: bool) -> crate::error::Result<()> {
        // One event-loop thread, as Redis: commands that do not wait for an fsync run on it
        // directly (no cross-thread wake-ups); those that do run on the blocking pool.
        let rt =
            tokio::runtime::Builder::new_current_thread().enable_all().thread_name("shale-serve").build()?;
        let shared = Arc::clone(&self.shared);
        let background = spawn_background(Arc::clone(&shared));
        let syncer = spawn_syncer(Arc::clone(&shared));
        let inner = Arc::clone(&shared);
        let r = rt.block_on(async move {
            let shared = inner;
            let listener = tokio::net::TcpListener::from_std(self.listener)?;
            tokio::spawn(sync_relay(Arc::clone(&shared)));
            tokio::spawn(sync_kicker(Arc::clone(&shared)));
            if handle_signals {
                let sh = Arc::clone(&shared);
                tokio::spawn(async move {
                    wait_for_signal().await;
                    log::info!("signal received: shutting down");
                    Stopper(sh).stop();
                });
            }
            let mut tasks = tokio::task::JoinSet::new();
            let mut stop = shared.shutdown_tx.subscribe();
            loop {
                if *stop.borrow_and_update() {
                    break;
                }
                tokio::select! {
                    _ = stop.changed() => break,
                    accepted = listener.accept() => {
                        let Ok((sock, peer)) = accepted else { continue };
                        if shared.shutdown.load(Ordering::Acquire) {
                            break;
                        }
                        let sh = Arc::clone(&shared);
                        tasks.spawn(connection(sh, sock, peer.to_string()));
                    }
                }
                while tasks.try_join_next().is_some() {}
            }
            drop(listener);
            // Every connection finishes the chunk it is running, sends its replies and
            // closes; one that does not within 10 s is dropped.
            let drain = async { while tasks.join_next().await.is_some() {} };
            if tokio::time::timeout(Duration::from_secs(10), drain).await.is_err() {
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
            }
            Ok::<(), Error>(())
        });
        shared.shutdown.store(true, Ordering::Release);
        let _ = background.join();
        shared.syncer_stop.store(true, Ordering::Release);
        shared.sync_cv.notify_all();
        let _ = syncer.join();
        rt.shutdown_timeout(Duration::from_secs(5));
        r?;
        shared.ks.engine().sync_wal()
    }
}

/// Stops a running [`Server`].
#[derive(Clone)]
pub struct Stopper(Arc<Shared>);

impl Stopper {
    /// Asks the server to shut down.
    pub fn stop(&self) {
        self.0.shutdown.store(true, Ordering::Release);
        self.0.shutdown_tx.send_replace(true);
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
        else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The active-expiry and `everysec` thread: 10 expiry passes a second (each reclaims at
/// most 200 keys per database, so its CPU is bounded), and a WAL sync every second.
fn spawn_background(sh: Arc<Shared>) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("shale-serve-bg".into())
        .spawn(move || {
            let mut last_sync = Instant::now();
            while !sh.shutdown.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(100));
                let now = keyspace::now_ms();
                for db in 0..keyspace::DATABASES {
                    if let Err(e) = sh.ks.expire_pass(db, now, 200) {
                        log::error!("active expiry of db {db}: {e}");
                    }
                }
                let policy = sh.config.lock().appendfsync;
                if policy == FsyncPolicy::EverySec && last_sync.elapsed() >= Duration::from_secs(1) {
                    last_sync = Instant::now();
                    if let Err(e) = sh.ks.engine().sync_wal() {
                        log::error!("appendfsync everysec: sync_wal failed: {e}");
                    }
                }
            }
        })
        .expect("spawn the server's background thread")
}

/// Runs a chunk of pipelined requests in order; stops after one that closes the
/// connection or the server.
///
/// Consecutive string commands stage their writes ([`StagedChunk`]): they commit as one
/// engine write, with one count record, before any other command, when the staged batch
/// reaches [`STAGED_BATCH_BYTES`], and at the end of the chunk, and always before any
/// reply of the chunk goes out. A commit that fails turns the replies of the commands
/// that staged into its error reply.
fn run_chunk(sh: &Shared, mut s: Session, requests: &[Vec<Vec<u8>>]) -> (Vec<u8>, After, Session) {
    let mut replies: Vec<Option<Reply>> = Vec::with_capacity(requests.len());
    let mut after = After::Continue;
    let mut staged = StagedChunk::default();
    for (i, args) in requests.iter().enumerate() {
        staged.command = i;
        let (r, a) = execute_staged(sh, &mut s, args, Some(&mut staged));
        // SHUTDOWN does not answer (as Redis): the connection closes.
        replies.push((a != After::Shutdown).then_some(r));
        if a != After::Continue {
            after = a;
            break;
        }
    }
    staged.commit(&sh.ks);
    for (i, r) in staged.failed.drain(..) {
        sh.errors.fetch_add(1, Ordering::Relaxed);
        replies[i] = Some(r);
    }
    let mut out = Vec::new();
    for r in replies.iter().flatten() {
        r.encode(&mut out);
    }
    sh.publish_client(&s);
    (out, after, s)
}

/// True for a command that may write (and so wait for an fsync under `always`).
fn is_write(name: &[u8]) -> bool {
    const READS: &[&str] = &[
        "get",
        "mget",
        "strlen",
        "getrange",
        "substr",
        "exists",
        "type",
        "keys",
        "scan",
        "randomkey",
        "ttl",
        "pttl",
        "expiretime",
        "pexpiretime",
        "object",
        "dbsize",
        "ping",
        "echo",
        "select",
        "info",
        "time",
        "command",
        "client",
        "hello",
        "auth",
        "quit",
        "lastsave",
        "memory",
        "config",
    ];
    !READS.iter().any(|r| eq(name, r))
}

/// Serves one connection: reads, parses every complete request, runs them as one chunk
/// on the blocking pool, writes the replies in order.
async fn connection(sh: Arc<Shared>, mut sock: tokio::net::TcpStream, peer: String) {
    let _ = sock.set_nodelay(true);
    let max = sh.config.lock().maxclients;
    let id = sh.next_client.fetch_add(1, Ordering::Relaxed);
    let admitted = {
        // Check and insert under one lock, so two connections cannot both take the
        // last place.
        let mut clients = sh.clients.lock();
        let ok = clients.len() < max;
        if ok {
            clients.insert(
                id,
                ClientInfo {
                    id,
                    addr: peer,
                    name: None,
                    db: 0,
                    since: Instant::now(),
                    last_cmd: "NULL".into(),
                },
            );
        }
        ok
    };
    if !admitted {
        sh.rejected.fetch_add(1, Ordering::Relaxed);
        let _ = sock.write_all(b"-ERR max number of clients reached\r\n").await;
        return;
    }
    // As Redis: a refused connection counts in rejected_connections only.
    sh.connections.fetch_add(1, Ordering::Relaxed);
    let authed = sh.config.lock().requirepass.is_none();
    let mut session = Some(Session { db: 0, id, authed, proto: 2, last_cmd: String::new() });
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut stop = sh.shutdown_tx.subscribe();
    'conn: loop {
        if *stop.borrow_and_update() {
            break;
        }
        let n = tokio::select! {
            r = sock.read(&mut chunk) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            _ = stop.changed() => break,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut requests = Vec::new();
        let mut consumed = 0;
        let mut protocol_error = None;
        loop {
            match resp::parse(&buf[consumed..]) {
                Parsed::Request(args, used) => {
                    consumed += used;
                    if !args.is_empty() {
                        requests.push(args);
                    }
                }
                Parsed::Incomplete => break,
                Parsed::Error(e) => {
                    protocol_error = Some(e);
                    break;
                }
            }
        }
        buf.drain(..consumed);
        let mut out = Vec::new();
        let mut after = After::Continue;
        // Under `always` the sync barrier's fsync writes the records out first.
        let mut wrote_in_loop = false;
        if !requests.is_empty() {
            let Some(s) = session.take() else { break };
            // A chunk runs right here on the event loop: engine calls return in
            // microseconds (with `manual_wal_flush` a write appends to the WAL buffer).
            // Under `always`, the connection then waits on the sync barrier before its
            // replies go out: the writes filed while one fsync runs share the next one
            // (the sync thread's; the loop goes on running other connections).
            let always = sh.config.lock().appendfsync == FsyncPolicy::Always;
            let wrote = requests.iter().any(|r| is_write(&r[0]));
            wrote_in_loop = wrote && !always;
            let (o, a, s) = run_chunk(&sh, s, &requests);
            if always && wrote && !sh.durable().await {
                // Not durable: no acknowledgement, the client sees the connection drop. A
                // SHUTDOWN in the chunk still stops the server.
                if a == After::Shutdown {
                    Stopper(Arc::clone(&sh)).stop();
                }
                break;
            }
            session = Some(s);
            out = o;
            after = a;
        }
        if let Some(e) = protocol_error {
            Reply::err(e).encode(&mut out);
            after = After::Close;
        }
        // As Redis's beforeSleep: let every other connection with a request ready run its
        // chunk before this reply goes out, so the replies of one event-loop round leave
        // together (the client wakes once for them, not once per reply) and so do the
        // round's WAL records: with `manual_wal_flush` the first connection of the round
        // to get here writes them all with one write(), the others find nothing left.
        tokio::task::yield_now().await;
        if wrote_in_loop {
            // Acknowledge only what reached the operating system (it survives kill -9).
            if let Err(e) = sh.ks.engine().flush_wal(false) {
                log::error!("flushing the WAL: {e}");
                // No acknowledgement: the client sees the connection drop. A SHUTDOWN in
                // the chunk still stops the server.
                if after == After::Shutdown {
                    Stopper(Arc::clone(&sh)).stop();
                }
                break;
            }
        }
        if !out.is_empty() && sock.write_all(&out).await.is_err() {
            break;
        }
        match after {
            After::Continue => {}
            After::Close => break 'conn,
            After::Shutdown => {
                Stopper(Arc::clone(&sh)).stop();
                break 'conn;
            }
        }
    }
    sh.clients.lock().remove(&id);
}
