//! Operating-system interfaces that need `unsafe`; this is the only module with `unsafe`
//! code, and `fs::RealFs` is its only caller.
//!
//! Memory-mapped table reads (the `mmap_reads` option) and WAL replay: mapping a file is
//! unsafe because the mapping aliases the file's bytes. Shared by concurrent readers; a
//! block read returns a `Bytes` slice of the mapping, so an uncompressed block is never
//! copied.

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
