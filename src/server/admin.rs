//! Connection and server commands (<https://redis.io/commands/?group=server>,
//! `?group=connection`): PING, ECHO, SELECT, FLUSHDB, FLUSHALL, INFO, TIME, COMMAND,
//! CONFIG GET/SET, FUNCTION FLUSH, CLIENT, QUIT, SHUTDOWN, AUTH, HELLO, and the
//! persistence commands, which have nothing to do (every write is in the WAL).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::glob::Pattern;
use super::keyspace::DATABASES;
use super::resp::{parse_i64, Reply};
use super::{eq, After, Ctx, FsyncPolicy, COMMANDS};

/// Dispatches the commands of this module (the caller checked the name and arity).
pub fn run(c: &mut Ctx<'_, '_>, name: &str, a: &[Vec<u8>]) -> Reply {
    match name {
        "ping" => match a.len() {
            1 => Reply::Simple("PONG"),
            2 => Reply::bulk(&a[1]),
            _ => Reply::err("wrong number of arguments for 'ping' command"),
        },
        "echo" => Reply::bulk(&a[1]),
        "select" => match parse_i64(&a[1]) {
            Some(n) if (0..DATABASES as i64).contains(&n) => {
                c.s.db = n as usize;
                Reply::OK
            }
            Some(_) => Reply::err("DB index is out of range"),
            None => Reply::err("value is not an integer or out of range"),
        },
        "flushdb" | "flushall" => {
            if a.len() > 2 || (a.len() == 2 && !eq(&a[1], "sync") && !eq(&a[1], "async")) {
                return Reply::err("syntax error");
            }
            let dbs = if name == "flushdb" { c.s.db..c.s.db + 1 } else { 0..DATABASES };
            for db in dbs {
                if let Err(e) = c.sh.ks.flush_db(db) {
                    return c.db_error(&e);
                }
            }
            Reply::OK
        }
        "info" => Reply::bulk(info(c, a.get(1).map(|s| String::from_utf8_lossy(s).to_ascii_lowercase()))),
        "time" => {
            let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            Reply::Array(vec![
                Reply::bulk(d.as_secs().to_string()),
                Reply::bulk(d.subsec_micros().to_string()),
            ])
        }
        "lastsave" => Reply::Int(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs()
                as i64,
        ),
        "save" => Reply::OK,
        "bgsave" => Reply::Simple("Background saving started"),
        "bgrewriteaof" => Reply::Simple("Background append only file rewriting started"),
        "command" => command(a),
        "config" => config(c, a),
        "function" => {
            if eq(&a[1], "flush") {
                Reply::OK
            } else {
                Reply::err(format!(
                    "unknown subcommand '{}'. Try FUNCTION HELP.",
                    String::from_utf8_lossy(&a[1])
                ))
            }
        }
        "client" => client(c, a),
        "memory" => {
            if eq(&a[1], "usage") && a.len() >= 3 {
                match c.read(&a[2]) {
                    Ok(Some((v, _))) => Reply::Int((v.len() + a[2].len() + 56) as i64),
                    Ok(None) => Reply::Nil,
                    Err(r) => r,
                }
            } else {
                Reply::err(format!(
                    "unknown subcommand '{}'. Try MEMORY HELP.",
                    String::from_utf8_lossy(&a[1])
                ))
            }
        }
        "quit" => {
            c.after = After::Close;
            Reply::OK
        }
        "reset" => {
            c.s.db = 0;
            c.s.authed = c.sh.config.lock().requirepass.is_none();
            Reply::Simple("RESET")
        }
        "shutdown" => {
            c.after = After::Shutdown;
            Reply::OK
        }
        "auth" => auth(c, a),
        "hello" => hello(c, a),
        _ => Reply::err(format!("unknown command '{name}'")),
    }
}

fn auth(c: &mut Ctx<'_, '_>, a: &[Vec<u8>]) -> Reply {
    let pass = match a.len() {
        2 => &a[1],
        3 if eq(&a[1], "default") => &a[2],
        3 => return Reply::Error("WRONGPASS invalid username-password pair or user is disabled.".into()),
        _ => return Reply::err("syntax error"),
    };
    let Some(want) = c.sh.config.lock().requirepass.clone() else {
        return Reply::err(
            "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        );
    };
    if pass.as_slice() == want.as_bytes() {
        c.s.authed = true;
        Reply::OK
    } else {
        Reply::Error("WRONGPASS invalid username-password pair or user is disabled.".into())
    }
}

fn hello(c: &mut Ctx<'_, '_>, a: &[Vec<u8>]) -> Reply {
    let mut i = 1;
    if let Some(v) = a.get(1) {
        match parse_i64(v) {
            Some(2) => {}
            Some(_) => return Reply::Error("NOPROTO unsupported protocol version".into()),
            None => return Reply::err("Protocol version is not an integer or out of range"),
        }
        i = 2;
    }
    while i < a.len() {
        if eq(&a[i], "auth") && i + 2 < a.len() {
            let r = auth(c, &[b"auth".to_vec(), a[i + 1].clone(), a[i + 2].clone()]);
            if r.is_error() {
                return r;
            }
            i += 3;
        } else if eq(&a[i], "setname") && i + 1 < a.len() {
            if let Some(ci) = c.sh.clients.lock().get_mut(&c.s.id) {
                ci.name = Some(a[i + 1].clone());
            }
            i += 2;
        } else {
            return Reply::err(format!("Syntax error in HELLO option '{}'", String::from_utf8_lossy(&a[i])));
        }
    }
    if !c.s.authed {
        return Reply::Error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into());
    }
    c.s.proto = 2;
    Reply::Array(vec![
        Reply::bulk("server"),
        Reply::bulk("redis"),
        Reply::bulk("version"),
        Reply::bulk(REDIS_VERSION),
        Reply::bulk("proto"),
        Reply::Int(2),
        Reply::bulk("id"),
        Reply::Int(c.s.id as i64),
        Reply::bulk("mode"),
        Reply::bulk("standalone"),
        Reply::bulk("role"),
        Reply::bulk("master"),
        Reply::bulk("modules"),
        Reply::Array(vec![]),
    ])
}

/// The Redis version this server's commands follow.
pub const REDIS_VERSION: &str = "7.0.15";

fn command(a: &[Vec<u8>]) -> Reply {
    let info = |name: &str| -> Reply {
        let arity = super::command_arity(name);
        let (first, last) = match name {
            "mget" | "del" | "unlink" | "exists" => (1, -1),
            "mset" | "msetnx" => (1, -1),
            "rename" | "renamenx" => (1, 2),
            n if arity.abs() >= 2
                && !matches!(
                    n,
                    "echo"
                        | "select"
                        | "ping"
                        | "config"
                        | "client"
                        | "command"
                        | "info"
                        | "auth"
                        | "hello"
                        | "function"
                        | "scan"
                        | "keys"
                        | "object"
                        | "memory"
                        | "flushdb"
                        | "flushall"
                        | "quit"
                        | "shutdown"
                        | "reset"
                        | "save"
                        | "bgsave"
                        | "bgrewriteaof"
                ) =>
            {
                (1, 1)
            }
            _ => (0, 0),
        };
        let step = i64::from(matches!(name, "mset" | "msetnx")) + 1;
        let step = if first == 0 { 0 } else { step };
        Reply::Array(vec![
            Reply::bulk(name),
            Reply::Int(i64::from(arity)),
            Reply::Array(vec![]),
            Reply::Int(first),
            Reply::Int(last),
            Reply::Int(step),
            Reply::Array(vec![]),
            Reply::Array(vec![]),
            Reply::Array(vec![]),
            Reply::Array(vec![]),
        ])
    };
    match a.get(1) {
        None => Reply::Array(COMMANDS.iter().map(|n| info(n)).collect()),
        Some(sub) if eq(sub, "count") => Reply::Int(COMMANDS.len() as i64),
        Some(sub) if eq(sub, "info") => Reply::Array(
            a[2..]
                .iter()
                .map(|n| {
                    let n = String::from_utf8_lossy(n).to_ascii_lowercase();
                    if COMMANDS.contains(&n.as_str()) {
                        info(&n)
                    } else {
                        Reply::NilArray
                    }
                })
                .collect(),
        ),
        Some(sub) if eq(sub, "docs") => Reply::Array(vec![]),
        Some(sub) if eq(sub, "list") => Reply::Array(COMMANDS.iter().map(Reply::bulk).collect()),
        Some(sub) => {
            Reply::err(format!("unknown subcommand '{}'. Try COMMAND HELP.", String::from_utf8_lossy(sub)))
        }
    }
}

fn config(c: &mut Ctx<'_, '_>, a: &[Vec<u8>]) -> Reply {
    let cfg = c.sh.config.lock().clone();
    let params: Vec<(&str, String)> = vec![
        ("appendfsync", cfg.appendfsync.name().into()),
        ("appendonly", "yes".into()),
        ("bind", cfg.bind.clone()),
        ("databases", DATABASES.to_string()),
        ("maxclients", cfg.maxclients.to_string()),
        ("maxmemory", "0".into()),
        ("maxmemory-policy", "noeviction".into()),
        ("port", listening_port(c)),
        ("proto-max-bulk-len", super::resp::PROTO_MAX_BULK_LEN.to_string()),
        ("requirepass", cfg.requirepass.clone().unwrap_or_default()),
        ("save", String::new()),
        ("timeout", "0".into()),
    ];
    if eq(&a[1], "get") {
        if a.len() < 3 {
            return Reply::err("wrong number of arguments for 'config|get' command");
        }
        let mut out = Vec::new();
        for (name, value) in &params {
            if a[2..].iter().any(|p| Pattern::new(&p.to_ascii_lowercase()).matches(name.as_bytes())) {
                out.push(Reply::bulk(name));
                out.push(Reply::bulk(value));
            }
        }
        Reply::Array(out)
    } else if eq(&a[1], "set") {
        if a.len() < 4 || !a.len().is_multiple_of(2) {
            return Reply::err("wrong number of arguments for 'config|set' command");
        }
        for pair in a[2..].chunks(2) {
            let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
            let value = String::from_utf8_lossy(&pair[1]).into_owned();
            match name.as_str() {
                "appendfsync" => match FsyncPolicy::parse(&value) {
                    Some(p) => {
                        c.sh.config.lock().appendfsync = p;
                    }
                    None => {
                        return Reply::err(
                            "CONFIG SET failed (possibly related to argument 'appendfsync') - argument(s) must be one of the following: always, everysec, no",
                        )
                    }
                },
                "maxclients" => match value.parse() {
                    Ok(n) => c.sh.config.lock().maxclients = n,
                    Err(_) => return Reply::err("CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer"),
                },
                "requirepass" => c.sh.config.lock().requirepass = (!value.is_empty()).then_some(value),
                // Accepted and without effect: there is no RDB snapshot, memory is the
                // engine's block cache, and every key is durable through the WAL.
                "save" | "appendonly" | "maxmemory" | "maxmemory-policy" | "timeout" | "lazyfree-lazy-user-del"
                | "lazyfree-lazy-expire" | "lazyfree-lazy-server-del" | "hz" | "latency-tracking" => {}
                _ => {
                    return Reply::err(format!(
                        "Unknown option or number of arguments for CONFIG SET - '{name}'"
                    ))
                }
            }
        }
        Reply::OK
    } else if eq(&a[1], "resetstat") || eq(&a[1], "rewrite") {
        Reply::OK
    } else {
        Reply::err(format!("unknown subcommand '{}'. Try CONFIG HELP.", String::from_utf8_lossy(&a[1])))
    }
}

fn client(c: &mut Ctx<'_, '_>, a: &[Vec<u8>]) -> Reply {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    match (sub.as_str(), a.len()) {
        ("id", 2) => Reply::Int(c.s.id as i64),
        ("getname", 2) => Reply::opt_bulk(c.sh.clients.lock().get(&c.s.id).and_then(|ci| ci.name.clone())),
        ("setname", 3) => {
            if a[2].iter().any(|&b| b <= b' ' || b > b'~') {
                return Reply::err("Client names cannot contain spaces, newlines or special characters.");
            }
            if let Some(ci) = c.sh.clients.lock().get_mut(&c.s.id) {
                ci.name = (!a[2].is_empty()).then(|| a[2].clone());
            }
            Reply::OK
        }
        ("list", _) | ("info", 2) => {
            let clients = c.sh.clients.lock();
            let mut ids: Vec<_> = clients.keys().copied().collect();
            ids.sort_unstable();
            if sub == "info" {
                ids.retain(|i| *i == c.s.id);
            }
            let mut s = String::new();
            for id in ids {
                let ci = &clients[&id];
                let _ = writeln!(
                    s,
                    "id={} addr={} laddr={} fd=8 name={} age={} idle=0 flags=N db={} sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp=2",
                    ci.id,
                    ci.addr,
                    c.sh.addr.lock(),
                    ci.name.as_deref().map(String::from_utf8_lossy).unwrap_or_default(),
                    ci.since.elapsed().as_secs(),
                    ci.db,
                    ci.last_cmd
                );
            }
            Reply::bulk(s)
        }
        ("setinfo", 4) | ("no-evict", 3) | ("no-touch", 3) => Reply::OK,
        _ => Reply::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(&a[1])
        )),
    }
}

/// The port the server listens on (the configured one may be 0: "any free port").
fn listening_port(c: &Ctx<'_, '_>) -> String {
    c.sh.addr.lock().rsplit(':').next().unwrap_or("0").to_string()
}

fn info(c: &Ctx<'_, '_>, section: Option<String>) -> String {
    let want = |s: &str| {
        section.as_deref().is_none_or(|x| x == s || x == "all" || x == "default" || x == "everything")
    };
    let sh = c.sh;
    let mut o = String::new();
    let cfg = sh.config.lock().clone();
    let up = sh.started.elapsed().as_secs();
    if want("server") {
        let _ = write!(
            o,
            "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_mode:standalone\r\nshaledb_version:{}\r\nos:{}\r\narch_bits:64\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{up}\r\nuptime_in_days:{}\r\nexecutable:shale\r\n\r\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::process::id(),
            listening_port(c),
            up / 86_400
        );
    }
    if want("clients") {
        let _ = write!(
            o,
            "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:0\r\n\r\n",
            sh.clients.lock().len(),
            cfg.maxclients
        );
    }
    if want("memory") {
        let s = sh.ks.engine().stats();
        let mem = s.block_cache.usage;
        let _ = write!(
            o,
            "# Memory\r\nused_memory:{mem}\r\nused_memory_human:{:.2}M\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\nmem_fragmentation_ratio:1.00\r\n\r\n",
            mem as f64 / 1_048_576.0
        );
    }
    if want("persistence") {
        let _ = write!(
            o,
            "# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\nrdb_last_bgsave_status:ok\r\naof_enabled:1\r\naof_rewrite_in_progress:0\r\naof_last_write_status:ok\r\nappendfsync:{}\r\nengine:shaledb\r\n\r\n",
            cfg.appendfsync.name()
        );
    }
    if want("stats") {
        let _ = write!(
            o,
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:0\r\ntotal_error_replies:{}\r\n\r\n",
            sh.connections.load(Ordering::Relaxed),
            sh.commands.load(Ordering::Relaxed),
            sh.rejected.load(Ordering::Relaxed),
            sh.ks.expired_keys.load(Ordering::Relaxed),
            sh.errors.load(Ordering::Relaxed)
        );
    }
    if want("keyspace") {
        o.push_str("# Keyspace\r\n");
        for db in 0..DATABASES {
            let keys = sh.ks.dbsize(db);
            if keys > 0 {
                let _ = write!(o, "db{db}:keys={keys},expires={},avg_ttl=0\r\n", sh.ks.expires(db));
            }
        }
        o.push_str("\r\n");
    }
    o
}
