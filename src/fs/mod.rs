//! The `FileSystem` trait: every file operation the engine performs goes through it, so a
//! test can swap the real disk for a simulated one that crashes (docs/durability.md §3.2).
//! [`RealFs`] is the only place in the crate that touches `std::fs`.
//!
//! [`sim::SimFs`] is the simulated one: it keeps live and durable bytes apart and builds
//! crash images, for the crash harness (docs/durability.md §3.5).
//!
//! Threads: a `FileSystem` is shared (`Send + Sync`). A [`WritableFile`] has one owner at a
//! time; a [`RandomAccessFile`] serves concurrent positional reads.

use std::collections::HashSet;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

/// A file opened for appending. Writes go straight to the operating system (no userspace
/// buffer), so once `append` returns the bytes survive the death of the process.
pub trait WritableFile: Send + Sync {
    /// Appends all of `data` at the end of the file.
    fn append(&mut self, data: &[u8]) -> io::Result<()>;
    /// Makes the file's data durable (`fdatasync`).
    fn sync_data(&mut self) -> io::Result<()>;
    /// Makes the file's data and metadata, including its length, durable (`fsync`).
    fn sync_all(&mut self) -> io::Result<()>;
    /// Bytes written so far (the file's length).
    fn len(&self) -> u64;
    /// True if nothing was written yet.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A handle that fdatasyncs this file without `&mut` access, so that a sync can run
    /// while the owner goes on appending (`Db::sync_wal` syncs the WAL outside the `wal`
    /// lock with it). The sync makes durable at least every byte appended before it began.
    /// `None` if the file has none; callers then use [`WritableFile::sync_data`].
    fn sync_handle(&self) -> Option<Box<dyn SyncHandle>> {
        None
    }
    /// Makes the file at least `size` bytes long with its space allocated (`fallocate(2)`
    /// mode 0), so that later appends below `size` overwrite zeros in place and a
    /// `sync_data` after them needs no metadata update. [`WritableFile::len`] is unchanged:
    /// it stays the number of bytes appended, and appends go on at that offset. The bytes
    /// from `len()` to the file's end read as zeros. A no-op by default and where the file
    /// system cannot preallocate.
    ///
    /// # Errors
    /// The file system's error; nothing was written, so the caller may go on without
    /// preallocation.
    fn preallocate(&mut self, size: u64) -> io::Result<()> {
        let _ = size;
        Ok(())
    }
    /// Cuts the file back to [`WritableFile::len`] bytes, dropping a preallocated tail
    /// (`ftruncate(2)`). The new size is metadata: `sync_all` makes it durable.
    ///
    /// # Errors
    /// The file system's error.
    fn truncate_to_len(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Fdatasyncs a file shared with its writer ([`WritableFile::sync_handle`]).
pub trait SyncHandle: Send {
    /// Makes durable every byte appended to the file before this call (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;
}

/// A writable file that refuses every write: what a read-only database writes to.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadOnlyFile;

impl WritableFile for ReadOnlyFile {
    fn append(&mut self, _data: &[u8]) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::PermissionDenied, "database opened read-only"))
    }
    fn sync_data(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn sync_all(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn len(&self) -> u64 {
        0
    }
}

/// A file opened for positional reads.
pub trait RandomAccessFile: Send + Sync {
    /// Fills `buf` from byte `offset`; an `UnexpectedEof` error if the file is shorter.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// The file's length in bytes when it was opened.
    fn size(&self) -> u64;

    /// Reads `len` bytes from `offset` into a `Bytes` (a memory-mapped file returns a slice
    /// of its mapping without copying).
    ///
    /// # Errors
    /// As [`RandomAccessFile::read_exact_at`].
    fn read_bytes_at(&self, offset: u64, len: usize) -> io::Result<bytes::Bytes> {
        let mut buf = vec![0u8; len];
        self.read_exact_at(&mut buf, offset)?;
        Ok(bytes::Bytes::from(buf))
    }

    /// True if reads are slices of a memory mapping (no system call, no copy), so reading
    /// ahead would gain nothing.
    fn is_mapped(&self) -> bool {
        false
    }
}

/// A held directory lock; dropping it releases the lock.
pub trait FileLock: Send + Sync {}

/// Every file operation of the engine. Paths are absolute or relative to the process's
/// working directory; the engine only passes paths inside the database directory.
pub trait FileSystem: Send + Sync + Debug {
    /// Creates `dir` and its parents if they do not exist.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Creates `path`, truncating an existing file, for appending.
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>>;
    /// Opens `path` for positional reads.
    fn open(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>>;
    /// Opens `path` for reads through a read-only memory mapping. The default opens it for
    /// positional reads instead (a simulated file system has nothing to map).
    fn open_mmap(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        self.open(path)
    }
    /// Renames `from` to `to`, replacing `to` atomically if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes the file `path`.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// The names (not paths) of the entries of `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> bool;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes the exclusive lock on `path` (creating it). Fails with
    /// `io::ErrorKind::WouldBlock` if another handle, in this process or another, holds it.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>>;

    /// Makes `to` a hard link to `from`, or, where that is impossible (another file
    /// system), a copy of it. The new file's data is fsynced; its directory entry is not.
    fn hard_link_or_copy(&self, from: &Path, to: &Path) -> io::Result<()> {
        let data = self.read_all(from)?;
        let mut f = self.create(to)?;
        f.append(&data)?;
        f.sync_all()
    }

    /// Reads the whole file.
    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        let f = self.open(path)?;
        let len = usize::try_from(f.size())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file too large"))?;
        let mut buf = vec![0u8; len];
        f.read_exact_at(&mut buf, 0)?;
        Ok(buf)
    }
}

/// Sets the calling thread's nice value (Linux: `setpriority(PRIO_PROCESS, tid)` acts on
/// one thread); a failure is logged and ignored.
pub(crate) fn set_current_thread_nice(nice: i32) {
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(tid), nice) {
            log::debug!("setpriority({nice}): {e}");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

/// The real file system, through `std::fs`. Every error it returns names the operation
/// and the path (`open /db/LOCK: Is a directory (os error 21)`) and keeps the original
/// `io::ErrorKind`, so callers can still tell `NotFound` and `WouldBlock` apart.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

/// `e` with the operation and path in front of its message; the kind is kept.
pub(crate) fn annotate(e: io::Error, op: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{op} {}: {e}", path.display()))
}

struct RealWritable {
    /// Shared with the sync handles (`&File` writes and syncs).
    file: Arc<File>,
    len: u64,
    path: PathBuf,
    /// End of the space `preallocate` allocated (0: none).
    allocated: u64,
    /// On Linux, a shared mapping of a window of the preallocated tail starting at the
    /// append offset: appends inside it are copies, not `write(2)` calls (docs/format.md
    /// §2.1, "Preallocation").
    tail_map: Option<mmap::AppendMap>,
    /// Set when mapping the tail failed once: every later append is a `pwrite`, instead of
    /// retrying the `mmap` on each one.
    mapping_off: bool,
}

/// Bytes of preallocated WAL mapped at a time (256 KiB, about 1,700 records of a 16-byte
/// key and a 100-byte value). Small on purpose: every page still mapped when the file is
/// fdatasynced (every `wal_bytes_per_sync`) must be write-protected again, one
/// TLB-shootdown interrupt to the writer's CPU per page, so pages already written are
/// unmapped as the window moves on. Measured with `shale bench --benchmarks
/// fillseq,fillrandom,overwrite --num 3000000`: a whole 4 MiB chunk mapped doubled p99
/// (6.7 µs against 3.5 with `write(2)`); 64 KiB windows cost p99.9 (a remap every 430
/// records); 256 KiB gave the best p99 and p99.9 of 64 KiB to 1 MiB.
const APPEND_WINDOW_BYTES: u64 = 256 << 10;

/// The largest append copied through the mapping (4 KiB). A longer one (a large batch)
/// is one `pwrite`: the kernel copies it page by page within one system call, where the
/// mapping would take a write-protect fault for every page it covers. Measured with
/// `shaledb-peers --num 10000000`: fillbatch (1,000 puts, about 120 KiB, per append) fell
/// from 4.16M to 2.84M puts/s with every append mapped.
const MAPPED_APPEND_MAX_BYTES: usize = 4 << 10;

impl RealWritable {
    /// Copies `data` through the mapped window, moving the window to the append offset
    /// when `data` lies in the preallocated space beyond it; false if `data` does not lie
    /// wholly in preallocated space or nothing could be mapped (the caller writes).
    fn append_mapped(&mut self, data: &[u8]) -> bool {
        if data.len() > MAPPED_APPEND_MAX_BYTES {
            return false;
        }
        if let Some(m) = &mut self.tail_map {
            if m.write_at(self.len, data) {
                return true;
            }
        }
        let end = self.len + data.len() as u64;
        if !cfg!(target_os = "linux") || self.mapping_off || end > self.allocated {
            return false;
        }
        self.tail_map = None;
        let window_end = (end.max(self.len + APPEND_WINDOW_BYTES)).min(self.allocated);
        match mmap::AppendMap::new(&self.file, self.len, window_end) {
            Ok(m) => self.tail_map = Some(m),
            Err(e) => {
                log::debug!("{}: appends without a mapping from now on: {e}", self.path.display());
                self.mapping_off = true;
                return false;
            }
        }
        self.tail_map.as_mut().is_some_and(|m| m.write_at(self.len, data))
    }
}

struct RealSyncHandle {
    file: Arc<File>,
    path: PathBuf,
}

impl SyncHandle for RealSyncHandle {
    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data().map_err(|e| annotate(e, "fdatasync", &self.path))
    }
}

impl WritableFile for RealWritable {
    fn sync_handle(&self) -> Option<Box<dyn SyncHandle>> {
        Some(Box::new(RealSyncHandle { file: Arc::clone(&self.file), path: self.path.clone() }))
    }
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        if !self.append_mapped(data) {
            // A positioned write: appends that went through the mapping did not move the
            // descriptor's offset.
            self.file.write_all_at(data, self.len).map_err(|e| {
                annotate(e, &format!("write {} bytes at offset {} of", data.len(), self.len), &self.path)
            })?;
        }
        self.len += data.len() as u64;
        Ok(())
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.file.sync_data().map_err(|e| annotate(e, "fdatasync", &self.path))
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.file.sync_all().map_err(|e| annotate(e, "fsync", &self.path))
    }
    fn len(&self) -> u64 {
        self.len
    }
    fn preallocate(&mut self, size: u64) -> io::Result<()> {
        let extra = size.saturating_sub(self.len);
        if extra == 0 {
            return Ok(());
        }
        rustix::fs::fallocate(&*self.file, rustix::fs::FallocateFlags::empty(), self.len, extra).map_err(
            |e| annotate(e.into(), &format!("fallocate {extra} bytes at offset {} of", self.len), &self.path),
        )?;
        self.allocated = size;
        Ok(())
    }
    fn truncate_to_len(&mut self) -> io::Result<()> {
        // Unmap first: the mapping must not outlive the bytes it covers.
        self.tail_map = None;
        self.allocated = 0;
        self.file
            .set_len(self.len)
            .map_err(|e| annotate(e, &format!("truncate to {} bytes", self.len), &self.path))
    }
}

struct RealRandomAccess {
    file: File,
    size: u64,
    path: PathBuf,
}

impl RandomAccessFile for RealRandomAccess {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| annotate(e, &format!("read {} bytes at offset {offset} of", buf.len()), &self.path))
    }
    fn size(&self) -> u64 {
        self.size
    }
}

/// Paths locked by this process. A second `flock` of the same path from this process
/// would fail too, but only after opening LOCK again; the registry answers first, without
/// touching the file, and names the cause (docs/durability.md INV-24).
fn locked_paths() -> &'static Mutex<HashSet<PathBuf>> {
    static LOCKED: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    LOCKED.get_or_init(|| Mutex::new(HashSet::new()))
}

struct RealLock {
    file: File,
    path: PathBuf,
}

impl FileLock for RealLock {}

impl Drop for RealLock {
    fn drop(&mut self) {
        // Unlock explicitly before closing: a child process forked by another thread and
        // not yet exec'd holds a copy of this descriptor, which would otherwise keep the
        // shared open file description, and so the lock, alive for a moment.
        let _ = self.file.unlock();
        locked_paths().lock().remove(&self.path);
    }
}

impl FileSystem for RealFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| annotate(e, "create directory", dir))
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        // Readable as well: a shared writable mapping (`preallocate`) needs `O_RDWR`.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| annotate(e, "create", path))?;
        Ok(Box::new(RealWritable {
            file: Arc::new(file),
            len: 0,
            path: path.to_path_buf(),
            allocated: 0,
            tail_map: None,
            mapping_off: false,
        }))
    }
    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        // To the end of the file as it is while being read, not to a size taken before: a
        // WAL sealed meanwhile by a writer loses its preallocated zero tail (docs/format.md
        // §2.1), and a read-only open beside the writer must still read it whole.
        std::fs::read(path).map_err(|e| annotate(e, "read", path))
    }
    fn open(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        let file = File::open(path).map_err(|e| annotate(e, "open", path))?;
        let size = file.metadata().map_err(|e| annotate(e, "stat", path))?.len();
        Ok(Arc::new(RealRandomAccess { file, size, path: path.to_path_buf() }))
    }
    fn open_mmap(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        mmap::open(path).map_err(|e| annotate(e, "map", path))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to).map_err(|e| annotate(e, &format!("rename to {} from", to.display()), from))
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path).map_err(|e| annotate(e, "remove", path))
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| annotate(e, "list", dir))? {
            if let Ok(name) = entry.map_err(|e| annotate(e, "list", dir))?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| annotate(e, "fsync directory", dir))
    }
    fn hard_link_or_copy(&self, from: &Path, to: &Path) -> io::Result<()> {
        match std::fs::hard_link(from, to) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
                std::fs::copy(from, to)
                    .map_err(|e| annotate(e, &format!("copy to {} from", to.display()), from))?;
                File::open(to).and_then(|f| f.sync_all()).map_err(|e| annotate(e, "fsync", to))
            }
            Err(e) => Err(annotate(e, &format!("hard-link {} to", to.display()), from)),
        }
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        self.lock_inner(path).map_err(|e| annotate(e, "lock", path))
    }
}

impl RealFs {
    fn lock_inner(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        let canonical = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => std::fs::canonicalize(p)?
                .join(path.file_name().ok_or_else(|| io::Error::other("lock path has no file name"))?),
            _ => path.to_path_buf(),
        };
        if !locked_paths().lock().insert(canonical.clone()) {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "locked in this process"));
        }
        // An flock lock belongs to the open file description: closing other descriptors of
        // LOCK (a backup reading the directory) does not release it, unlike a POSIX
        // record lock.
        let locked =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).and_then(|f| {
                match f.try_lock() {
                    Ok(()) => Ok(f),
                    Err(std::fs::TryLockError::WouldBlock) => {
                        Err(io::Error::new(io::ErrorKind::WouldBlock, "locked by another process"))
                    }
                    Err(std::fs::TryLockError::Error(e)) => Err(e),
                }
            });
        match locked {
            Ok(file) => Ok(Box::new(RealLock { file, path: canonical })),
            Err(e) => {
                locked_paths().lock().remove(&canonical);
                Err(e)
            }
        }
    }
}
mod mmap;
#[cfg(feature = "sim")]
pub mod sim;
