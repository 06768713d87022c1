//! Block handles, block trailers and the table footer; reading one checked block.
//!
//! # Format
//! DESIGN.md §3.1 (whole file), §3.4 (block trailer), §3.6 (footer).

use std::path::Path;

use bytes::Bytes;

use crate::checksum::masked_crc;
use crate::coding::{get_u32, get_u64, put_u32, put_u64, put_varint, Reader};
use crate::error::{CorruptionKind, Error, Result};
use crate::fs::RandomAccessFile;

/// How data blocks are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Store blocks as they are.
    None,
    /// LZ4 block compression (lz4_flex); a block is stored uncompressed when LZ4 saves less
    /// than 1/8 of its size.
    Lz4,
}

/// `"shaletbl"` read as a little-endian u64; the last 8 bytes of every table.
pub const TABLE_MAGIC: u64 = u64::from_le_bytes(*b"shaletbl");

/// The table format version this build writes and the newest it reads. Raise it with
/// every change to the bytes (DESIGN.md §9).
pub const FORMAT_VERSION: u32 = 4;

/// Footer length: two handles of 2 x u64, format version u32, CRC u32, magic u64.
pub const FOOTER_LEN: usize = 48;

/// Block trailer length: compression type u8 + masked CRC-32 u32.
pub const BLOCK_TRAILER_LEN: usize = 5;

/// Largest uncompressed block accepted when reading (256 MiB). Checked before allocating,
/// so a damaged size field cannot exhaust memory (docs/durability.md INV-22). A block holds a
/// whole entry, and values may be 64 MiB.
pub const MAX_BLOCK_BYTES: usize = 256 << 20;

/// Compression type byte of a block trailer; on disk, never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BlockCompression {
    /// Stored as is.
    None = 0,
    /// LZ4 block format with the uncompressed length as a u32le prefix.
    Lz4 = 1,
}

/// Where a block lives in its table: byte offset and length, trailer excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockHandle {
    /// Byte offset of the block in the file.
    pub offset: u64,
    /// Length of the stored (possibly compressed) block in bytes, without its trailer.
    pub size: u64,
}

impl BlockHandle {
    /// Appends the handle as two varints (the form used in index entries).
    pub fn encode_into(&self, dst: &mut Vec<u8>) {
        put_varint(dst, self.offset);
        put_varint(dst, self.size);
    }
    /// Decodes a varint-encoded handle; `None` if malformed or if bytes are left over.
    pub fn decode(src: &[u8]) -> Option<Self> {
        let mut r = Reader::new(src);
        let h = BlockHandle { offset: r.varint()?, size: r.varint()? };
        r.is_empty().then_some(h)
    }
}

/// The fixed tail of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    /// The metaindex block (names meta blocks such as properties).
    pub metaindex: BlockHandle,
    /// The index block.
    pub index: BlockHandle,
    /// The format version the table was written with.
    pub format_version: u32,
}

impl Footer {
    /// Encodes the footer into exactly [`FOOTER_LEN`] bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(FOOTER_LEN);
        put_u64(&mut v, self.metaindex.offset);
        put_u64(&mut v, self.metaindex.size);
        put_u64(&mut v, self.index.offset);
        put_u64(&mut v, self.index.size);
        put_u32(&mut v, self.format_version);
        let crc = masked_crc(&[&v]);
        put_u32(&mut v, crc);
        put_u64(&mut v, TABLE_MAGIC);
        debug_assert_eq!(v.len(), FOOTER_LEN);
        v
    }

    /// Decodes and checks a footer read from byte `offset` of `file`.
    ///
    /// # Errors
    /// [`Error::Corruption`] for a short footer, bad magic or checksum;
    /// [`Error::UnsupportedFormatVersion`] for a newer format.
    pub fn decode(src: &[u8], file: &Path, offset: u64) -> Result<Self> {
        let corrupt = |kind| Error::corruption(file, offset, kind);
        if src.len() != FOOTER_LEN {
            return Err(corrupt(CorruptionKind::BadLength));
        }
        if get_u64(&src[40..]) != Some(TABLE_MAGIC) {
            return Err(corrupt(CorruptionKind::BadMagic));
        }
        let stored = get_u32(&src[36..]).unwrap_or(0);
        let actual = masked_crc(&[&src[..36]]);
        if stored != actual {
            return Err(corrupt(CorruptionKind::ChecksumMismatch { expected: stored, actual }));
        }
        let u = |i: usize| get_u64(&src[i..]).unwrap_or(0);
        let format_version = get_u32(&src[32..]).unwrap_or(0);
        if format_version == 0 || format_version > FORMAT_VERSION {
            return Err(Error::UnsupportedFormatVersion { file: file.to_path_buf(), version: format_version });
        }
        Ok(Footer {
            metaindex: BlockHandle { offset: u(0), size: u(8) },
            index: BlockHandle { offset: u(16), size: u(24) },
            format_version,
        })
    }
}

/// Compresses `raw` if that saves at least 1/8, and appends block + trailer to `out`.
/// Returns the handle's size (the stored block length without trailer).
pub fn write_block(raw: &[u8], compression: Compression, out: &mut Vec<u8>) -> u64 {
    let start = out.len();
    let mut ty = BlockCompression::None;
    if compression == Compression::Lz4 && raw.len() >= 64 {
        let compressed = lz4_flex::block::compress_prepend_size(raw);
        if compressed.len() < raw.len() - raw.len() / 8 {
            out.extend_from_slice(&compressed);
            ty = BlockCompression::Lz4;
        }
    }
    if ty == BlockCompression::None {
        out.extend_from_slice(raw);
    }
    let size = (out.len() - start) as u64;
    let crc = masked_crc(&[&out[start..], &[ty as u8]]);
    out.push(ty as u8);
    put_u32(out, crc);
    size
}

/// Reads the block at `handle`, checks its CRC (unless `verify_checksum` is false) and
/// decompresses it.
///
/// # Errors
/// [`Error::Corruption`] naming `path` and the block offset for an out-of-range handle, a
/// checksum mismatch, an unknown compression type or a failed decompression;
/// [`Error::Io`] for a failed read.
pub fn read_block(
    file: &dyn RandomAccessFile,
    path: &Path,
    handle: BlockHandle,
    data_end: u64,
    verify_checksum: bool,
) -> Result<Bytes> {
    let len = block_len(path, handle, data_end)?;
    let raw = file.read_bytes_at(handle.offset, len)?;
    decode_block(raw, path, handle, verify_checksum)
}

/// The bytes a block at `handle` takes in its file, trailer included, checked against the
/// end of the data blocks.
///
/// # Errors
/// [`Error::Corruption`] naming `path` and the block offset for an out-of-range handle.
pub fn block_len(path: &Path, handle: BlockHandle, data_end: u64) -> Result<usize> {
    let corrupt = || Error::corruption(path, handle.offset, CorruptionKind::BadLength);
    let end = handle
        .offset
        .checked_add(handle.size)
        .and_then(|e| e.checked_add(BLOCK_TRAILER_LEN as u64))
        .filter(|&e| e <= data_end && handle.size <= MAX_BLOCK_BYTES as u64)
        .ok_or_else(corrupt)?;
    usize::try_from(end - handle.offset).map_err(|_| corrupt())
}

/// Checks the CRC of a block's bytes as read (`raw`: contents, type byte and CRC; unless
/// `verify_checksum` is false) and decompresses it.
///
/// # Errors
/// As [`read_block`], but no I/O.
pub fn decode_block(raw: Bytes, path: &Path, handle: BlockHandle, verify_checksum: bool) -> Result<Bytes> {
    let corrupt = |kind| Error::corruption(path, handle.offset, kind);
    if raw.len() < BLOCK_TRAILER_LEN {
        return Err(corrupt(CorruptionKind::BadLength));
    }
    let n = raw.len() - BLOCK_TRAILER_LEN;
    let ty = raw[n];
    let stored = get_u32(&raw[n + 1..]).unwrap_or(0);
    let actual = if verify_checksum { masked_crc(&[&raw[..n + 1]]) } else { stored };
    if stored != actual {
        return Err(corrupt(CorruptionKind::ChecksumMismatch { expected: stored, actual }));
    }
    let buf = raw.slice(..n);
    match ty {
        t if t == BlockCompression::None as u8 => Ok(buf),
        t if t == BlockCompression::Lz4 as u8 => {
            let len = get_u32(&buf).map(|l| l as usize).filter(|&l| l <= MAX_BLOCK_BYTES);
            let len = len.ok_or_else(|| corrupt(CorruptionKind::BadLength))?;
            let mut out = vec![0u8; len];
            match lz4_flex::block::decompress_into(&buf[4..], &mut out) {
                Ok(m) if m == len => Ok(Bytes::from(out)),
                _ => Err(corrupt(CorruptionKind::Malformed("lz4 block does not decompress"))),
            }
        }
        _ => Err(corrupt(CorruptionKind::Malformed("unknown block compression type"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footer_length_matches_design() {
        let f = Footer {
            metaindex: BlockHandle { offset: 1, size: 2 },
            index: BlockHandle { offset: 3, size: 4 },
            format_version: FORMAT_VERSION,
        };
        let enc = f.encode();
        assert_eq!(enc.len(), FOOTER_LEN);
        assert_eq!(Footer::decode(&enc, Path::new("t"), 0).expect("valid"), f);
        assert_eq!(&enc[40..], b"shaletbl");
    }

    #[test]
    fn damaged_footer_is_rejected() {
        let f =
            Footer { metaindex: BlockHandle::default(), index: BlockHandle::default(), format_version: 1 };
        let mut enc = f.encode();
        enc[3] ^= 1;
        assert!(matches!(
            Footer::decode(&enc, Path::new("t"), 0),
            Err(Error::Corruption { kind: CorruptionKind::ChecksumMismatch { .. }, .. })
        ));
        enc[47] ^= 1;
        assert!(matches!(
            Footer::decode(&enc, Path::new("t"), 0),
            Err(Error::Corruption { kind: CorruptionKind::BadMagic, .. })
        ));
    }

    #[test]
    fn block_trailer_length_matches_design() {
        let mut out = Vec::new();
        let size = write_block(b"abc", Compression::None, &mut out);
        assert_eq!(size, 3);
        assert_eq!(out.len(), 3 + BLOCK_TRAILER_LEN);
    }
}
