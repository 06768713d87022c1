//! `SimFs`: an in-memory [`FileSystem`] that knows what is durable, after Pebble's
//! crashable MemFS and LevelDB's `fault_injection_test` (docs/durability.md §3.5).
//!
//! Per file it keeps the *live* bytes (what reads see) and the *durable* bytes (as of the
//! last successful `sync_data`/`sync_all`). Per directory it keeps live and durable entries
//! and the unsynced entry operations in order; entries become durable on `sync_dir`.
//!
//! Every mutating operation is numbered. With [`SimFs::crash_after`] the file system
//! "loses power" right after operation k: every later mutating operation fails with EIO,
//! and [`SimFs::crash_image`] builds the state a machine would find after reboot, in one of
//! the [`CrashMode`]s. [`SimFs::fail_op`] injects one error (EIO, ENOSPC, or an fsync
//! failure that discards the unsynced bytes, as Linux does after a failed fsync).
//!
//! Shared by all engine threads behind one mutex. What a reboot finds (the crash images
//! and their modes) is built in `crash_image.rs`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{FileLock, FileSystem, RandomAccessFile, SyncHandle, WritableFile};

#[path = "crash_image.rs"]
mod crash_image;
pub use crash_image::{CrashMode, PAGE_BYTES};

/// Kinds of mutating operation, for counting and fault injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    /// Create (or truncate) a file.
    Create,
    /// Append to a file.
    Append,
    /// `sync_data` / `sync_all`.
    Sync,
    /// `sync_dir`.
    SyncDir,
    /// Rename.
    Rename,
    /// Remove.
    Remove,
    /// Create a directory.
    Mkdir,
    /// Change a file's size without writing: `preallocate` (fallocate) or
    /// `truncate_to_len` (ftruncate).
    Allocate,
}

/// An injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The operation fails with EIO and changes nothing.
    Eio,
    /// The operation fails with ENOSPC and changes nothing.
    NoSpace,
    /// A sync fails, and the file's unsynced bytes are discarded, so a retried sync would
    /// succeed with the data gone ("fsyncgate").
    SyncLosesData,
}

#[derive(Debug, Clone, Default)]
struct SimFile {
    /// Bytes appended (what `WritableFile::len` counts).
    live: Vec<u8>,
    durable: Vec<u8>,
    /// The file's size when a preallocated zero tail makes it longer than `live`
    /// (`preallocate`); reads see zeros from `live.len()` up to it.
    size_live: usize,
    /// `size_live` at the last successful sync.
    size_durable: usize,
}

impl SimFile {
    /// What a reader sees: the appended bytes, then zeros up to the preallocated size.
    fn live_image(&self) -> Vec<u8> {
        let mut v = self.live.clone();
        if v.len() < self.size_live {
            v.resize(self.size_live, 0);
        }
        v
    }
}

#[derive(Debug, Clone)]
enum DirOp {
    Link(String, u64),
    Unlink(String),
}

#[derive(Debug, Clone, Default)]
struct SimDir {
    live: BTreeMap<String, u64>,
    durable: BTreeMap<String, u64>,
    pending: Vec<DirOp>,
}

#[derive(Debug, Clone, Default)]
struct SimState {
    files: HashMap<u64, SimFile>,
    dirs: BTreeMap<PathBuf, SimDir>,
    next_inode: u64,
    locks: HashSet<PathBuf>,
    ops: u64,
    crash_after: Option<u64>,
    crashed: bool,
    faults: Vec<(OpKind, u64, Fault)>,
    counts: BTreeMap<OpKind, u64>,
    sync_ops: Vec<u64>,
}

/// See the module docs. Cloning shares the same state.
#[derive(Debug, Clone, Default)]
pub struct SimFs {
    state: Arc<Mutex<SimState>>,
}

fn split(path: &Path) -> io::Result<(PathBuf, String)> {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path without a file name"))?;
    Ok((dir, name.to_owned()))
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{} not found", path.display()))
}

/// A small deterministic generator (xorshift64*) for crash images, so an image is
/// reproducible from its seed.
#[derive(Debug, Clone)]
pub struct SimRng(u64);

impl SimRng {
    /// A generator seeded with `seed` (0 is replaced by a constant).
    pub fn new(seed: u64) -> Self {
        SimRng(if seed == 0 { 0x9e37_79b9_7f4a_7c15 } else { seed })
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// True with probability 1/2.
    pub fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
}

impl SimState {
    /// Counts a mutating operation; fails it if the power is off or a fault targets it.
    /// Returns the fault to apply, if any.
    fn begin(&mut self, kind: OpKind) -> io::Result<Option<Fault>> {
        // The power fails right after operation k even if k itself failed (and so never
        // reached `end`).
        if self.crash_after.is_some_and(|k| self.ops >= k) {
            self.crashed = true;
        }
        if self.crashed {
            return Err(io::Error::other("simulated power loss"));
        }
        self.ops += 1;
        *self.counts.entry(kind).or_insert(0) += 1;
        let n = self.counts[&kind];
        if let Some(i) = self.faults.iter().position(|&(k, at, _)| k == kind && at == n) {
            let (_, _, f) = self.faults.remove(i);
            return Ok(Some(f));
        }
        Ok(None)
    }

    /// Called after an operation took effect: the power fails right after op k.
    fn end(&mut self) {
        if self.crash_after == Some(self.ops) {
            self.crashed = true;
        }
    }

    fn dir(&mut self, dir: &Path) -> io::Result<&mut SimDir> {
        self.dirs.get_mut(dir).ok_or_else(|| not_found(dir))
    }

    fn lookup(&self, path: &Path) -> io::Result<u64> {
        let (dir, name) = split(path)?;
        self.dirs.get(&dir).and_then(|d| d.live.get(&name)).copied().ok_or_else(|| not_found(path))
    }
}

fn fault_error(f: Fault) -> io::Error {
    match f {
        Fault::NoSpace => io::Error::new(io::ErrorKind::StorageFull, "injected ENOSPC"),
        Fault::Eio | Fault::SyncLosesData => io::Error::other("injected EIO"),
    }
}

struct SimWritable {
    fs: SimFs,
    inode: u64,
    len: u64,
}

/// A [`SyncHandle`] on a simulated file.
struct SimSyncHandle {
    fs: SimFs,
    inode: u64,
}

impl SyncHandle for SimSyncHandle {
    fn sync_data(&self) -> io::Result<()> {
        // A file removed since the handle was taken has nothing left to make durable.
        sync_inode(&self.fs, self.inode, true).0
    }
}

/// The one simulated fdatasync of inode `inode`: its live bytes become durable. A file
/// removed meanwhile is an error unless `gone_ok`. Also returns the file's new length when
/// the `SyncLosesData` fault dropped its unsynced bytes.
fn sync_inode(fs: &SimFs, inode: u64, gone_ok: bool) -> (io::Result<()>, Option<u64>) {
    let mut st = fs.state.lock();
    let fault = match st.begin(OpKind::Sync) {
        Ok(f) => f,
        Err(e) => return (Err(e), None),
    };
    let op = st.ops;
    let Some(file) = st.files.get_mut(&inode) else {
        if gone_ok {
            st.end();
            return (Ok(()), None);
        }
        return (Err(io::Error::other("file vanished")), None);
    };
    match fault {
        Some(Fault::SyncLosesData) => {
            file.live = file.durable.clone();
            file.size_live = file.size_durable;
            let len = file.live.len() as u64;
            return (Err(fault_error(Fault::SyncLosesData)), Some(len));
        }
        Some(f) => return (Err(fault_error(f)), None),
        None => {
            file.durable = file.live.clone();
            file.size_durable = file.size_live;
        }
    }
    st.sync_ops.push(op);
    st.end();
    (Ok(()), None)
}

impl WritableFile for SimWritable {
    fn sync_handle(&self) -> Option<Box<dyn SyncHandle>> {
        Some(Box::new(SimSyncHandle { fs: self.fs.clone(), inode: self.inode }))
    }
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        let mut st = self.fs.state.lock();
        if let Some(f) = st.begin(OpKind::Append)? {
            return Err(fault_error(f));
        }
        let file = st.files.get_mut(&self.inode).ok_or_else(|| io::Error::other("file vanished"))?;
        file.live.extend_from_slice(data);
        self.len = file.live.len() as u64;
        st.end();
        Ok(())
    }
    fn sync_data(&mut self) -> io::Result<()> {
        let (r, len) = sync_inode(&self.fs, self.inode, false);
        if let Some(len) = len {
            self.len = len;
        }
        r
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.sync_data()
    }
    fn len(&self) -> u64 {
        self.len
    }
    fn preallocate(&mut self, size: u64) -> io::Result<()> {
        self.set_size(|_| usize::try_from(size).unwrap_or(usize::MAX), true)
    }
    fn truncate_to_len(&mut self) -> io::Result<()> {
        self.set_size(|f| f.live.len(), false)
    }
}

impl SimWritable {
    /// One `Allocate` operation: the file's size becomes `size(file)` (never below the
    /// appended bytes), growing only when `grow`.
    fn set_size(&mut self, size: impl Fn(&SimFile) -> usize, grow: bool) -> io::Result<()> {
        let mut st = self.fs.state.lock();
        if let Some(f) = st.begin(OpKind::Allocate)? {
            return Err(fault_error(f));
        }
        let file = st.files.get_mut(&self.inode).ok_or_else(|| io::Error::other("file vanished"))?;
        let new = size(file).max(file.live.len());
        file.size_live = if grow { file.size_live.max(new) } else { new };
        st.end();
        Ok(())
    }
}

struct SimReader {
    data: Vec<u8>,
}

impl RandomAccessFile for SimReader {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let src = start
            .checked_add(buf.len())
            .and_then(|end| self.data.get(start..end))
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end"))?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn size(&self) -> u64 {
        self.data.len() as u64
    }
}

struct SimLock {
    fs: SimFs,
    path: PathBuf,
}

impl FileLock for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        self.fs.state.lock().locks.remove(&self.path);
    }
}

impl SimFs {
    /// An empty file system.
    pub fn new() -> Self {
        SimFs::default()
    }

    /// Makes the power fail right after mutating operation `k` (1-based).
    pub fn crash_after(&self, k: u64) {
        self.state.lock().crash_after = Some(k);
    }

    /// Injects `fault` into the `n`-th (1-based) operation of `kind` from now on.
    pub fn fail_op(&self, kind: OpKind, n: u64, fault: Fault) {
        let mut st = self.state.lock();
        let base = st.counts.get(&kind).copied().unwrap_or(0);
        st.faults.push((kind, base + n, fault));
    }

    /// Mutating operations performed so far.
    pub fn ops(&self) -> u64 {
        self.state.lock().ops
    }

    /// True once the simulated power failed.
    pub fn crashed(&self) -> bool {
        self.state.lock().crashed
    }

    /// The numbers of the operations that were successful syncs.
    pub fn sync_ops(&self) -> Vec<u64> {
        self.state.lock().sync_ops.clone()
    }

    /// Operations performed, by kind.
    pub fn op_counts(&self) -> BTreeMap<OpKind, u64> {
        self.state.lock().counts.clone()
    }
}

impl FileSystem for SimFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.state.lock();
        if st.dirs.contains_key(dir) {
            return Ok(());
        }
        if let Some(f) = st.begin(OpKind::Mkdir)? {
            return Err(fault_error(f));
        }
        // Directories are durable at once: the harness creates them before any workload.
        let mut p = dir.to_path_buf();
        loop {
            st.dirs.entry(p.clone()).or_default();
            if !p.pop() || p.as_os_str().is_empty() {
                break;
            }
        }
        st.end();
        Ok(())
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let (dir, name) = split(path)?;
        let mut st = self.state.lock();
        if let Some(f) = st.begin(OpKind::Create)? {
            return Err(fault_error(f));
        }
        st.next_inode += 1;
        let inode = st.next_inode;
        st.files.insert(inode, SimFile::default());
        let d = st.dir(&dir)?;
        d.live.insert(name.clone(), inode);
        d.pending.push(DirOp::Link(name, inode));
        st.end();
        Ok(Box::new(SimWritable { fs: self.clone(), inode, len: 0 }))
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        let st = self.state.lock();
        let inode = st.lookup(path)?;
        let data = st.files.get(&inode).map(SimFile::live_image).ok_or_else(|| not_found(path))?;
        Ok(Arc::new(SimReader { data }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (fd, fname) = split(from)?;
        let (td, tname) = split(to)?;
        let mut st = self.state.lock();
        if let Some(f) = st.begin(OpKind::Rename)? {
            return Err(fault_error(f));
        }
        let inode = st.lookup(from)?;
        let d = st.dir(&fd)?;
        d.live.remove(&fname);
        d.pending.push(DirOp::Unlink(fname));
        let d = st.dir(&td)?;
        d.live.insert(tname.clone(), inode);
        d.pending.push(DirOp::Link(tname, inode));
        st.end();
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let (dir, name) = split(path)?;
        let mut st = self.state.lock();
        if let Some(f) = st.begin(OpKind::Remove)? {
            return Err(fault_error(f));
        }
        let d = st.dir(&dir)?;
        if d.live.remove(&name).is_none() {
            return Err(not_found(path));
        }
        d.pending.push(DirOp::Unlink(name));
        st.end();
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let st = self.state.lock();
        let d = st.dirs.get(dir).ok_or_else(|| not_found(dir))?;
        let mut names: Vec<String> = d.live.keys().cloned().collect();
        names.extend(
            st.dirs
                .keys()
                .filter(|p| p.parent() == Some(dir))
                .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_owned)),
        );
        Ok(names)
    }

    fn exists(&self, path: &Path) -> bool {
        let st = self.state.lock();
        st.dirs.contains_key(path) || st.lookup(path).is_ok()
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.state.lock();
        if let Some(f) = st.begin(OpKind::SyncDir)? {
            return Err(fault_error(f));
        }
        let op = st.ops;
        let d = st.dir(dir)?;
        d.durable = d.live.clone();
        d.pending.clear();
        st.sync_ops.push(op);
        st.end();
        Ok(())
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        let mut st = self.state.lock();
        if !st.locks.insert(path.to_path_buf()) {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "locked"));
        }
        Ok(Box::new(SimLock { fs: self.clone(), path: path.to_path_buf() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(fs: &SimFs, path: &str, data: &[u8], sync: bool) {
        let mut f = fs.create(Path::new(path)).expect("create");
        f.append(data).expect("append");
        if sync {
            f.sync_data().expect("sync");
        }
    }

    #[test]
    fn durable_image_keeps_only_synced_bytes_and_entries() {
        let fs = SimFs::new();
        fs.create_dir_all(Path::new("/db")).expect("mkdir");
        write(&fs, "/db/a", b"synced", true);
        fs.sync_dir(Path::new("/db")).expect("sync dir");
        write(&fs, "/db/b", b"not synced", false);
        let img = fs.crash_image(CrashMode::Durable, &mut SimRng::new(1));
        assert_eq!(img.read_all(Path::new("/db/a")).expect("a"), b"synced");
        assert!(!img.exists(Path::new("/db/b")), "b's entry was never synced");
        let proc = fs.crash_image(CrashMode::Process, &mut SimRng::new(1));
        assert_eq!(proc.read_all(Path::new("/db/b")).expect("b"), b"not synced");
    }

    #[test]
    fn power_fails_right_after_the_chosen_operation() {
        let fs = SimFs::new();
        fs.create_dir_all(Path::new("/d")).expect("mkdir");
        fs.crash_after(fs.ops() + 2);
        let mut f = fs.create(Path::new("/d/x")).expect("op 1");
        f.append(b"1").expect("op 2");
        assert!(fs.crashed());
        assert!(f.append(b"2").is_err(), "nothing works after the power failed");
    }

    #[test]
    fn failed_sync_discards_unsynced_bytes() {
        let fs = SimFs::new();
        fs.create_dir_all(Path::new("/d")).expect("mkdir");
        let mut f = fs.create(Path::new("/d/x")).expect("create");
        f.append(b"kept").expect("append");
        f.sync_data().expect("sync");
        f.append(b" lost").expect("append");
        fs.fail_op(OpKind::Sync, 1, Fault::SyncLosesData);
        assert!(f.sync_data().is_err());
        assert!(f.sync_data().is_ok(), "a retried sync succeeds");
        assert_eq!(fs.read_all(Path::new("/d/x")).expect("read"), b"kept", "but the data is gone");
    }

    #[test]
    fn pages_image_may_keep_later_pages_without_earlier_ones() {
        let fs = SimFs::new();
        fs.create_dir_all(Path::new("/d")).expect("mkdir");
        let mut f = fs.create(Path::new("/d/x")).expect("create");
        fs.sync_dir(Path::new("/d")).expect("sync dir");
        f.append(&vec![7u8; PAGE_BYTES * 8]).expect("append");
        let mut seen_hole = false;
        for seed in 1..50 {
            let img = fs.crash_image(CrashMode::Pages, &mut SimRng::new(seed));
            let data = img.read_all(Path::new("/d/x")).expect("read");
            assert!(data.len() <= PAGE_BYTES * 8 && data.len().is_multiple_of(PAGE_BYTES));
            if data.len() > PAGE_BYTES && data[..PAGE_BYTES].iter().any(|&b| b != 7) {
                seen_hole = true;
            }
        }
        assert!(seen_hole, "some image lost an early page but kept a later one");
    }
}
