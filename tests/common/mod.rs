//! Helpers shared by the integration tests.
#![allow(dead_code, missing_docs)]

use shaledb::{Db, Options};

/// Options that make flushes and compactions happen after a few kilobytes.
pub fn tiny_options() -> Options {
    Options::default()
        .write_buffer_size(64 << 10)
        .block_size(512)
        .level0_file_num_compaction_trigger(2)
}

/// Every `(key, value)` of the database, as vectors, in iteration order.
pub fn scan_all(db: &Db) -> Vec<(Vec<u8>, Vec<u8>)> {
    db.iter()
        .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("scan"))
        .collect()
}

/// A deterministic value for key number `i`, `len` bytes long, that compresses somewhat.
pub fn value_for(i: u64, len: usize) -> Vec<u8> {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|j| {
            if j % 2 == 0 {
                b'a' + (j % 26) as u8
            } else {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            }
        })
        .collect()
}

/// Decodes an LZ4 frame file (or returns the bytes as they are if not LZ4).
pub fn read_maybe_lz4(path: &std::path::Path) -> Vec<u8> {
    use std::io::Read;
    let raw = std::fs::read(path).expect("read input");
    if raw.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
        let mut out = Vec::new();
        lz4_flex::frame::FrameDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .expect("lz4 frame");
        out
    } else {
        raw
    }
}

/// Splits a deb822 file into `(Package_Version_Architecture, stanza bytes)` records, in
/// file order. Independent of the CLI's parser on purpose.
pub fn deb822_records(text: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let s = std::str::from_utf8(text).expect("utf-8 index");
    s.split("\n\n")
        .filter(|st| !st.trim().is_empty())
        .map(|st| {
            let field = |name: &str| {
                st.lines()
                    .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
                    .map(str::trim)
                    .expect("field present")
                    .to_owned()
            };
            let key = format!(
                "{}_{}_{}",
                field("Package"),
                field("Version"),
                field("Architecture")
            );
            (key.into_bytes(), format!("{st}\n").into_bytes())
        })
        .collect()
}

/// The committed 1,983-stanza sample of the Debian index.
pub fn sample_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/debian-sample.Packages.lz4")
}

/// The full Debian index from ../shared, if present.
pub fn full_index_path() -> Option<std::path::PathBuf> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/debian-bookworm-main-amd64-Packages.lz4");
    p.exists().then_some(p)
}

/// Runs `shale` with `args`, returning its output.
pub fn shale(args: &[&std::ffi::OsStr]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_shale"))
        .args(args)
        .env_remove("SHALE_DB")
        .output()
        .expect("run shale")
}

/// Runs `shale --db DIR args...`.
pub fn shale_db(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut a = vec![std::ffi::OsStr::new("--db"), dir.as_os_str()];
    a.extend(args.iter().map(std::ffi::OsStr::new));
    shale(&a)
}

/// Total size in bytes of the files directly in `dir`.
pub fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("ls")
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// Fills `dir` with a database built by several rounds of overwrites and some deletes,
/// spread over L0 and deeper levels; returns its expected contents.
pub fn build_churned_db(dir: &std::path::Path, keys: u64, rounds: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let opts = Options::default()
        .write_buffer_size(256 << 10)
        .target_file_size(128 << 10)
        .max_bytes_for_level_base(512 << 10)
        .level0_file_num_compaction_trigger(4);
    let db = Db::open(dir, opts).expect("open");
    let mut model = std::collections::BTreeMap::new();
    for round in 0..rounds {
        for i in 0..keys {
            let k = format!("key{i:07}").into_bytes();
            if (i + round) % 9 == 0 {
                db.delete(&k).expect("delete");
                model.remove(&k);
            } else {
                let v = value_for(i * 131 + round, 120);
                db.put(&k, &v).expect("put");
                model.insert(k, v);
            }
        }
    }
    db.close().expect("close");
    model.into_iter().collect()
}

/// A `shale serve` running in this process on a free port, over a database in `dir`.
pub struct TestServer {
    pub addr: String,
    pub db: std::sync::Arc<Db>,
    stopper: shaledb::server::Stopper,
    thread: Option<std::thread::JoinHandle<shaledb::Result<()>>>,
}

impl TestServer {
    /// Starts a server with `policy` over `dir`.
    pub fn start(dir: &std::path::Path, policy: shaledb::server::FsyncPolicy) -> TestServer {
        Self::start_with(
            dir,
            shaledb::server::ServerConfig {
                appendfsync: policy,
                ..shaledb::server::ServerConfig::default()
            },
        )
    }

    /// Starts a server with `config` (its port replaced by a free one) over `dir`.
    pub fn start_with(dir: &std::path::Path, config: shaledb::server::ServerConfig) -> TestServer {
        // As `shale serve` opens it.
        let db = std::sync::Arc::new(
            Db::open(
                dir,
                Options::default()
                    .manual_wal_flush(true)
                    .memtable_bloom_size_ratio(0.01),
            )
            .expect("open"),
        );
        let config = shaledb::server::ServerConfig { port: 0, ..config };
        let server =
            shaledb::server::Server::bind(std::sync::Arc::clone(&db), config).expect("bind");
        let addr = server.local_addr();
        let stopper = server.stopper();
        let thread = std::thread::spawn(move || server.run(false));
        TestServer {
            addr,
            db,
            stopper,
            thread: Some(thread),
        }
    }

    /// A client connection.
    pub fn conn(&self) -> redis::Connection {
        let client = redis::Client::open(format!("redis://{}/", self.addr)).expect("client");
        client.get_connection().expect("connect")
    }

    /// Stops the server and closes the database.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stopper.stop();
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread").expect("server run");
            self.db.close().expect("close");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shutdown();
        }
    }
}

/// The WAL files (`*.log`) of database directory `dir`, in file-number order.
pub fn wal_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .expect("ls")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    v.sort();
    v
}
