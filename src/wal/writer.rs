//! Appends records to a log file, fragmenting them across 32 KiB blocks.
//!
//! Needs external synchronisation: one writer at a time (`&mut self`).

use std::io;

use super::{FragmentType, COMPACT_TYPE_BASE, HEADER_LEN, SYNC_PREFIX_MAX_LEN, WAL_BLOCK_SIZE_BYTES};
use crate::checksum::masked_crc;
use crate::coding::{put_varint, u16_bytes, u32_bytes};
use crate::fs::WritableFile;

/// Writes framed records to one log file.
pub struct LogWriter {
    file: Box<dyn WritableFile>,
    /// Bytes used in the current block.
    block_offset: usize,
    /// Low 32 bits of the file's log number, covered by every fragment's CRC (not stored)
    /// so that bytes of another file can never be read as records of this one.
    log_number: u32,
    /// The file's full number.
    number: u64,
    /// File size at the last successful sync: every record starts with it (a varint), so a reader
    /// that finds damage can tell whether the damaged bytes had been synced.
    synced_through: u64,
    scratch: Vec<u8>,
    payload: Vec<u8>,
    /// With `manual_wal_flush`: framed records not yet handed to the operating system.
    /// They reach it at [`LogWriter::flush`], at every sync, and when they pass
    /// [`MAX_BUFFERED_BYTES`].
    buffered: Option<Vec<u8>>,
    /// Bytes the file is grown by, ahead of the records, when they reach its preallocated
    /// end (0: no preallocation). See [`LogWriter::set_preallocation`].
    prealloc_chunk: u64,
    /// The file's preallocated size: records below it overwrite zeros in place.
    allocated: u64,
}

/// Most bytes a buffered log holds before it writes them out by itself.
pub const MAX_BUFFERED_BYTES: usize = 1 << 20;

impl LogWriter {
    /// The file number of the log being written.
    pub fn log_number(&self) -> u64 {
        self.number
    }

    /// A writer appending to `file` (which must be empty), stamping `log_number`.
    pub fn new(file: Box<dyn WritableFile>, log_number: u64) -> Self {
        debug_assert!(file.is_empty(), "a log is never appended after an unvalidated tail");
        LogWriter {
            file,
            block_offset: 0,
            log_number: log_number as u32,
            number: log_number,
            synced_through: 0,
            scratch: Vec::new(),
            payload: Vec::new(),
            buffered: None,
            prealloc_chunk: 0,
            allocated: 0,
        }
    }

    /// Preallocates the log `chunk_bytes` at a time (0 turns it off): whenever a write would
    /// pass the file's preallocated end, the file first grows to the next multiple of
    /// `chunk_bytes` beyond it ([`WritableFile::preallocate`], `fallocate(2)`). An
    /// fdatasync of records written over preallocated space then has no file size to
    /// update, which on ext4 makes a small synced append about 1.4× as fast (a journal
    /// commit fewer); the growth itself costs one such update per chunk. The zeros after
    /// the last record read as the log's clean end (docs/format.md §2.2), and
    /// [`LogWriter::seal`] cuts them off. If the file system refuses, the log goes on
    /// without preallocation.
    pub fn set_preallocation(&mut self, chunk_bytes: u64) {
        self.prealloc_chunk = chunk_bytes;
    }

    /// Writes `buf` at the end of the log, preallocating first when it would pass the
    /// preallocated end.
    fn write_out(&mut self, buf: &[u8]) -> io::Result<()> {
        let end = self.file.len() + buf.len() as u64;
        if self.prealloc_chunk > 0 && end > self.allocated {
            let size = (end / self.prealloc_chunk + 1) * self.prealloc_chunk;
            match self.file.preallocate(size) {
                Ok(()) => self.allocated = size,
                Err(e) => {
                    // Nothing was written: go on appending without preallocation.
                    log::debug!("WAL {:06}: preallocation off: {e}", self.number);
                    self.prealloc_chunk = 0;
                }
            }
        }
        self.file.append(buf)
    }

    /// Keeps appended records in memory until [`LogWriter::flush`] (RocksDB's
    /// `manual_wal_flush`): a record then costs no system call, and a crash loses the
    /// records not yet flushed.
    pub fn set_buffered(&mut self, on: bool) {
        self.buffered = on.then(Vec::new);
    }

    /// Hands the buffered records to the operating system in one write. A no-op when
    /// nothing is buffered.
    ///
    /// # Errors
    /// The file system's write error; the caller must poison (R7/R8): part of the
    /// buffer may have reached the file.
    pub fn flush(&mut self) -> io::Result<()> {
        let Some(mut b) = self.buffered.take() else { return Ok(()) };
        let res = if b.is_empty() { Ok(()) } else { self.write_out(&b) };
        b.clear();
        self.buffered = Some(b);
        res
    }

    /// Appends several records with one `append` (a copy into the mapped tail or one
    /// `write()`, docs/format.md §2.1; into the buffer under `manual_wal_flush`): a
    /// commit group's batches, each its own record so that a
    /// reader of the log (the change feed) sees every batch's boundaries.
    ///
    /// # Errors
    /// As [`LogWriter::add_record`].
    pub fn add_records(&mut self, bodies: &[&[u8]]) -> io::Result<()> {
        if bodies.len() == 1 || self.buffered.is_some() {
            for b in bodies {
                self.add_record(b)?;
            }
            return Ok(());
        }
        let mut payload = std::mem::take(&mut self.payload);
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        for body in bodies {
            payload.clear();
            put_varint(&mut payload, self.synced_through);
            payload.extend_from_slice(body);
            self.encode_record(&payload, &mut buf);
        }
        let res = self.write_out(&buf);
        self.scratch = buf;
        self.payload = payload;
        res
    }

    /// Appends one record with a single write to the operating system.
    ///
    /// # Errors
    /// The file system's write error. The caller must then stop using this log
    /// (docs/durability.md R7/R8): part of the record may have reached the file.
    pub fn add_record(&mut self, body: &[u8]) -> io::Result<()> {
        let mut payload = std::mem::take(&mut self.payload);
        payload.clear();
        put_varint(&mut payload, self.synced_through);
        payload.extend_from_slice(body);
        if let Some(mut pending) = self.buffered.take() {
            self.encode_record(&payload, &mut pending);
            self.payload = payload;
            let full = pending.len() >= MAX_BUFFERED_BYTES;
            self.buffered = Some(pending);
            return if full { self.flush() } else { Ok(()) };
        }
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        self.encode_record(&payload, &mut buf);
        let res = self.write_out(&buf);
        self.scratch = buf;
        self.payload = payload;
        res
    }

    /// Syncs, then appends an empty record (which carries the synced size, and so proves
    /// every earlier record durable to a reader that finds damage), and syncs again. Used
    /// when a log is retired or closed. A preallocated tail is cut off first
    /// (`ftruncate`, then `fsync` for the new size), so a sealed log is exactly its records.
    ///
    /// # Errors
    /// The sync, write or truncate error; the caller must poison.
    pub fn seal(&mut self) -> io::Result<()> {
        self.sync()?;
        self.add_record(&[])?;
        self.flush()?;
        if self.allocated > self.file.len() {
            self.file.truncate_to_len()?;
            self.allocated = 0;
            self.file.sync_all()?;
            self.synced_through = self.file.len();
            return Ok(());
        }
        self.sync()
    }

    fn encode_record(&mut self, mut payload: &[u8], out: &mut Vec<u8>) {
        // A record's first fragment always holds the whole sync prefix, so a reader can use
        // it as evidence: a record never starts with fewer than header + prefix bytes left
        // in the block; those bytes are zero padding.
        let left_in_block = WAL_BLOCK_SIZE_BYTES - self.block_offset;
        if left_in_block < HEADER_LEN + SYNC_PREFIX_MAX_LEN {
            out.extend(std::iter::repeat_n(0u8, left_in_block));
            self.block_offset = 0;
        }
        let mut first = true;
        loop {
            let left_in_block = WAL_BLOCK_SIZE_BYTES - self.block_offset;
            if left_in_block < HEADER_LEN {
                // Too small for a header: pad with zeros and start a new block.
                out.extend(std::iter::repeat_n(0u8, left_in_block));
                self.block_offset = 0;
                continue;
            }
            let avail = left_in_block - HEADER_LEN;
            let n = payload.len().min(avail);
            let last = n == payload.len();
            let ty = match (first, last) {
                (true, true) => FragmentType::Full,
                (true, false) => FragmentType::First,
                (false, true) => FragmentType::Last,
                (false, false) => FragmentType::Middle,
            };
            let (frag, rest) = payload.split_at(n);
            #[expect(clippy::cast_possible_truncation, reason = "n <= 32 KiB - 7")]
            let len = u16_bytes(n as u16);
            let ty_byte = COMPACT_TYPE_BASE + ty as u8;
            let crc = masked_crc(&[&u32_bytes(self.log_number), &len, &[ty_byte], frag]);
            out.extend_from_slice(&u32_bytes(crc));
            out.extend_from_slice(&len);
            out.push(ty_byte);
            out.extend_from_slice(frag);
            self.block_offset += HEADER_LEN + n;
            payload = rest;
            first = false;
            if last {
                return;
            }
        }
    }

    /// Makes every appended record durable (`fdatasync`), flushing buffered ones first.
    ///
    /// # Errors
    /// The write or sync error; the caller must poison, never retry (docs/durability.md
    /// R7).
    pub fn sync(&mut self) -> io::Result<()> {
        self.flush()?;
        self.file.sync_data()?;
        self.synced_through = self.file.len();
        Ok(())
    }

    /// Writes buffered records out and returns a handle that fdatasyncs the file outside
    /// `&mut self`, with the file length it will cover: after the handle's sync, call
    /// [`LogWriter::note_synced`] with that length. `None` if the file has no handle (use
    /// [`LogWriter::sync`]).
    pub fn begin_sync(&mut self) -> io::Result<Option<(Box<dyn crate::fs::SyncHandle>, u64)>> {
        self.flush()?;
        Ok(self.file.sync_handle().map(|h| (h, self.file.len())))
    }

    /// Records that the bytes up to `len` were synced by a handle from
    /// [`LogWriter::begin_sync`] (records written from now on carry it).
    pub fn note_synced(&mut self, len: u64) {
        self.synced_through = self.synced_through.max(len);
    }

    /// Bytes of the log known to be synced (by `sync`, `seal` or `note_synced`).
    pub fn synced_through(&self) -> u64 {
        self.synced_through
    }

    /// Bytes of the log so far, buffered ones included.
    pub fn file_size(&self) -> u64 {
        self.file.len() + self.buffered.as_ref().map_or(0, |b| b.len() as u64)
    }
}
