//! Read-ahead for sequential scans through positional reads (RocksDB's automatic
//! iterator readahead): after two data blocks read back to back, a cursor reads 16 KiB
//! at once, doubling up to 256 KiB, and serves the next blocks from that buffer: one
//! `pread` per 64 blocks instead of one per block. Memory-mapped files are not read
//! ahead (their reads are already slices of the mapping).

use std::io;

use bytes::{Bytes, BytesMut};

use crate::fs::RandomAccessFile;

/// First read-ahead size, in bytes.
pub const READAHEAD_MIN_BYTES: usize = 16 << 10;
/// Largest read-ahead size, in bytes.
pub const READAHEAD_MAX_BYTES: usize = 256 << 10;
/// Back-to-back block reads before read-ahead starts.
const SEQUENTIAL_READS_BEFORE: u32 = 2;

/// One cursor's read-ahead state.
#[derive(Debug, Default)]
pub struct Readahead {
    /// The bytes read ahead, starting at file offset `start`.
    buf: Bytes,
    start: u64,
    /// Where the last block read ended: a read starting here is sequential.
    next: u64,
    /// Sequential reads in a row.
    run: u32,
    /// The current read-ahead size (0 until it starts).
    size: usize,
}

impl Readahead {
    /// Reads `len` bytes at `offset`, never past `limit` (the end of the data blocks;
    /// **requires** `offset + len <= limit`). Returns the bytes and whether they are a
    /// slice of the read-ahead buffer (a caller that keeps them should copy them, so as
    /// not to pin the whole buffer).
    ///
    /// # Errors
    /// The `io::Error` of the read.
    pub fn read(
        &mut self,
        file: &dyn RandomAccessFile,
        offset: u64,
        len: usize,
        limit: u64,
    ) -> io::Result<(Bytes, bool)> {
        let end = offset + len as u64;
        let sequential = offset == self.next;
        self.next = end;
        if offset >= self.start && end <= self.start + self.buf.len() as u64 {
            #[expect(clippy::cast_possible_truncation, reason = "within a buffer of at most 256 KiB")]
            let s = (offset - self.start) as usize;
            return Ok((self.buf.slice(s..s + len), true));
        }
        if !sequential {
            self.run = 0;
            self.size = 0;
        } else {
            self.run += 1;
        }
        if self.run < SEQUENTIAL_READS_BEFORE || file.is_mapped() {
            return Ok((file.read_bytes_at(offset, len)?, false));
        }
        self.size = (self.size * 2).clamp(READAHEAD_MIN_BYTES, READAHEAD_MAX_BYTES);
        let want = usize::try_from((self.size.max(len) as u64).min(limit.saturating_sub(offset)))
            .unwrap_or(len)
            .max(len);
        // Reuse the old buffer when no block still points into it (blocks decompressed
        // into their own memory, the usual case with LZ4).
        let mut b = match std::mem::take(&mut self.buf).try_into_mut() {
            Ok(b) => b,
            Err(_) => BytesMut::new(),
        };
        if b.len() < want {
            b.resize(want, 0);
        } else {
            b.truncate(want);
        }
        if let Err(e) = file.read_exact_at(&mut b, offset) {
            self.buf = Bytes::new();
            return Err(e);
        }
        self.buf = b.freeze();
        self.start = offset;
        Ok((self.buf.slice(..len), true))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A file of `n` bytes where byte i is `i as u8`, counting reads.
    struct Counted {
        n: u64,
        reads: AtomicUsize,
    }

    impl RandomAccessFile for Counted {
        fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            if offset + buf.len() as u64 > self.n {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            for (i, b) in buf.iter_mut().enumerate() {
                *b = (offset + i as u64) as u8;
            }
            Ok(())
        }
        fn size(&self) -> u64 {
            self.n
        }
    }

    fn check(bytes: &[u8], offset: u64) {
        for (i, b) in bytes.iter().enumerate() {
            assert_eq!(*b, (offset + i as u64) as u8, "byte {} of a read at {offset}", i);
        }
    }

    /// A sequential scan of 4 KiB blocks returns the right bytes with far fewer reads; a
    /// jump resets it; the last read stops at the limit.
    #[test]
    fn sequential_reads_are_served_from_larger_reads() {
        let n = 4 << 20;
        let f = Counted { n, reads: AtomicUsize::new(0) };
        let mut ra = Readahead::default();
        let mut off = 0;
        let mut blocks = 0;
        while off + 4100 <= n {
            let (b, _) = ra.read(&f, off, 4100, n).expect("read");
            check(&b, off);
            off += 4100;
            blocks += 1;
        }
        let reads = f.reads.load(Ordering::Relaxed);
        assert!(reads * 20 < blocks, "{reads} reads for {blocks} blocks");
        // A jump back: read directly, then sequential again.
        let before = f.reads.load(Ordering::Relaxed);
        let (b, from_buf) = ra.read(&f, 100, 50, n).expect("read");
        check(&b, 100);
        assert!(!from_buf);
        assert_eq!(f.reads.load(Ordering::Relaxed), before + 1);
        // The tail: never past the limit.
        let (b, _) = ra.read(&f, n - 10, 10, n).expect("read");
        check(&b, n - 10);
    }
}
