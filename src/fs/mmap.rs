//! Operating-system interfaces that need `unsafe`; this is the only module with `unsafe`
//! code, and `fs::RealFs` is its only caller.
//!
//! Memory-mapped table reads (the `mmap_reads` option) and WAL replay: mapping a file is
//! unsafe because the mapping aliases the file's bytes. Shared by concurrent readers; a
//! block read returns a `Bytes` slice of the mapping, so an uncompressed block is never
//! copied.
//!
//! Appends to the live WAL: [`AppendMap`] maps a window of its preallocated tail shared
//! and writable, so an append is a copy into the page cache, not a `write(2)`.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use memmap2::Mmap;

use super::RandomAccessFile;

/// A read-only mapping of a whole table file.
struct MmapFile {
    /// The mapping, shared with every `Bytes` slice handed out.
    bytes: Bytes,
}

/// Maps the file at `path` read-only.
///
/// # Errors
/// The `io::Error` from opening or mapping it.
pub fn open(path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
    let file = File::open(path)?;
    if file.metadata()?.len() == 0 {
        // A zero-length mapping is an error on some systems; nothing to map anyway.
        return Ok(Arc::new(MmapFile { bytes: Bytes::new() }));
    }
    // SAFETY: a mapping is sound while no one modifies or truncates the file. shaledb maps
    // table files, which it writes once, fsyncs and never changes again (it deletes them
    // only after every reader released them, and unlinking keeps a mapping valid), and,
    // during a read-write open that holds `LOCK`, the WALs it replays: no writer exists
    // yet, and the new WAL is a fresh file.
    // Another process modifying the database directory behind shaledb's lock would break
    // this, as it would break any database (RocksDB and LMDB make the same assumption).
    #[expect(unsafe_code, reason = "memory-mapped reads of immutable table files")]
    let map = unsafe { Mmap::map(&file)? };
    Ok(Arc::new(MmapFile { bytes: Bytes::from_owner(map) }))
}

impl RandomAccessFile for MmapFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let b = self.read_bytes_at(offset, buf.len())?;
        buf.copy_from_slice(&b);
        Ok(())
    }

    fn read_bytes_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let end = start.checked_add(len).filter(|&e| e <= self.bytes.len());
        let end =
            end.ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past end of mapping"))?;
        Ok(self.bytes.slice(start..end))
    }

    fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn is_mapped(&self) -> bool {
        true
    }
}

/// A shared, writable mapping of a preallocated region of a file being appended to (the
/// live WAL): an append inside it is a copy into the page cache instead of a `write(2)`.
///
/// The bytes land in the same page cache a `write` fills, so they survive the death of the
/// process the moment the copy is done, reads of the file see them, and `fdatasync` on the
/// file writes them back (on Linux, `msync(MS_SYNC)` is itself `vfs_fsync_range`: pages
/// dirtied through a shared mapping are the file's dirty pages).
pub(crate) struct AppendMap {
    map: memmap2::MmapMut,
    /// File offset of the mapping's first byte (a multiple of the page size).
    start: u64,
    /// File offset up to which the pages were made writable ahead of the appends
    /// ([`WRITABLE_AHEAD_BYTES`]); a page boundary.
    writable_to: u64,
}

/// Bytes of the window made writable at once ahead of an append that reaches a page not
/// yet made writable (`MADV_POPULATE_WRITE`, Linux 5.14; 32 KiB, 8 pages, about 280
/// records of a 16-byte key and a 100-byte value). Each page's first store would
/// otherwise take a write-protect fault (`page_mkwrite`) of a few microseconds, one in
/// every 35 such records: the p99 of a fill. One call for 8 pages puts that cost on one
/// append in 280, past the 99th percentile. The pages it dirties ahead of the records hold
/// zeros until the records reach them; a WAL writeback (every `wal_bytes_per_sync`) that
/// comes first writes those zeros, at most 32 KiB more per writeback, where populating
/// the whole window at once wrote up to 256 KiB of zeros (see [`AppendMap::new`]). A
/// writeback also write-protects the pages again; the appends after it take their
/// faults until they reach `writable_to`.
const WRITABLE_AHEAD_BYTES: u64 = 32 << 10;

impl AppendMap {
    /// Maps `[start, end)` of `file`, which must be open for reading and writing and at
    /// least `end` bytes long with its space allocated (`fallocate`), so no store into the
    /// mapping can fault for want of space. `start` is rounded down to a page boundary.
    ///
    /// # Errors
    /// The `io::Error` from `mmap(2)`; an empty or inverted range is `InvalidInput`.
    pub(crate) fn new(file: &File, start: u64, end: u64) -> io::Result<AppendMap> {
        let start = start & !(page_size() - 1);
        let len = usize::try_from(end.saturating_sub(start)).map_err(|_| io::ErrorKind::InvalidInput)?;
        if len == 0 {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        // SAFETY: the mapping aliases bytes of a WAL that only this writer modifies (it
        // holds the database's `LOCK`), and only through this mapping or `pwrite` at
        // offsets past everything written, never both at once (`&mut self`). The file is
        // at least `end` bytes long and is cut back (`truncate_to_len`) only after the
        // mapping is dropped, so no access lies past the end of the file (which would be
        // SIGBUS). Readers use `read(2)`, which sees the same page cache.
        #[expect(unsafe_code, reason = "a writable mapping of the live WAL's preallocated tail")]
        let map = unsafe { memmap2::MmapOptions::new().offset(start).len(len).map_mut(file)? };
        // Map the window's pages now, in one call (`MADV_POPULATE_READ`, Linux 5.14), so the
        // first store to each page takes only a write-protect fault (`page_mkwrite`), not a
        // full one. Not `MADV_POPULATE_WRITE`: that dirties every page at once, and the next
        // WAL writeback (an fdatasync) then writes zeros ahead of the records, which are
        // written again later (measured: write amplification 1.82 -> 2.77 on fillseq).
        // Where the kernel lacks it, appends take the full faults.
        #[cfg(target_os = "linux")]
        if let Err(e) = map.advise(memmap2::Advice::PopulateRead) {
            log::debug!("MADV_POPULATE_READ: {e}");
        }
        Ok(AppendMap { map, start, writable_to: start })
    }

    /// Copies `data` to file offset `offset` if the mapping covers all of it; false
    /// (nothing copied) otherwise.
    pub(crate) fn write_at(&mut self, offset: u64, data: &[u8]) -> bool {
        let Some(at) = offset.checked_sub(self.start).and_then(|a| usize::try_from(a).ok()) else {
            return false;
        };
        let end = offset + data.len() as u64;
        if end > self.writable_to && at + data.len() <= self.map.len() {
            self.make_writable_ahead(offset, end);
        }
        match self.map.get_mut(at..).and_then(|m| m.get_mut(..data.len())) {
            Some(dst) => {
                dst.copy_from_slice(data);
                true
            }
            None => false,
        }
    }
}

impl AppendMap {
    /// Makes the pages from the one holding `offset` (or from `writable_to`, if further)
    /// to [`WRITABLE_AHEAD_BYTES`] past `end` writable in one `MADV_POPULATE_WRITE`,
    /// within the mapping. It changes no byte: a failure (an older kernel) only leaves the
    /// faults to the stores, and turns the call off.
    fn make_writable_ahead(&mut self, offset: u64, end: u64) {
        let page = page_size();
        let map_end = self.start + self.map.len() as u64;
        let from = self.writable_to.max(offset & !(page - 1));
        let to = ((end + WRITABLE_AHEAD_BYTES + page - 1) & !(page - 1)).min(map_end);
        // Invariant: `from` and `to` lie in the mapping, `from` on a page boundary.
        debug_assert!(self.start <= from && from <= to && to <= map_end);
        self.writable_to = to;
        #[cfg(target_os = "linux")]
        if let Err(e) = self.map.advise_range(
            memmap2::Advice::PopulateWrite,
            (from - self.start) as usize,
            (to - from) as usize,
        ) {
            log::debug!("MADV_POPULATE_WRITE: {e}");
            self.writable_to = u64::MAX;
        }
    }
}

/// The system's page size in bytes (mapping offsets are multiples of it).
fn page_size() -> u64 {
    rustix::param::page_size() as u64
}
