//! The data stream of a Raft snapshot: the state machine's key-value pairs in key order,
//! in a versioned, checksummed format (docs/format.md §7).
//!
//! ```text
//! magic     bytes[8]   "SHLRSNAP"
//! version   u32le      1 (SNAPSHOT_FORMAT_VERSION)
//! then per key-value pair, in ascending key order:
//!   tag       u8         1 (SNAPSHOT_TAG_PAIR)
//!   key_len   varint64
//!   key       bytes[key_len]
//!   value_len varint64
//!   value     bytes[value_len]
//! then the trailer:
//!   tag       u8         0 (SNAPSHOT_TAG_END)
//!   count     u64le      number of pairs
//!   checksum  u32le      masked CRC-32 (DESIGN.md §0) of every byte before it
//! ```
//!
//! The stream ends at the checksum: trailing bytes are corruption too. A reader checks
//! the checksum before it yields anything, so a damaged snapshot is refused whole.

use std::path::PathBuf;

use crate::checksum::masked_crc;
use crate::coding::{get_u32, get_u64, get_varint, put_u32, put_u64, put_varint};
use crate::error::{CorruptionKind, Error, Result};

/// The first 8 bytes of every snapshot stream.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"SHLRSNAP";
/// The format version this build writes and reads.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;
/// Tag byte before each key-value pair.
pub const SNAPSHOT_TAG_PAIR: u8 = 1;
/// Tag byte before the trailer.
pub const SNAPSHOT_TAG_END: u8 = 0;
/// Bytes of the header: magic and version.
pub const SNAPSHOT_HEADER_LEN: usize = 12;
/// Bytes of the trailer after its tag: count and checksum.
pub const SNAPSHOT_TRAILER_LEN: usize = 12;

/// Builds a snapshot stream pair by pair.
#[derive(Debug)]
pub struct SnapshotWriter {
    buf: Vec<u8>,
    count: u64,
}

impl Default for SnapshotWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl SnapshotWriter {
    /// An empty stream (the header only).
    pub fn new() -> SnapshotWriter {
        let mut buf = SNAPSHOT_MAGIC.to_vec();
        put_u32(&mut buf, SNAPSHOT_FORMAT_VERSION);
        SnapshotWriter { buf, count: 0 }
    }

    /// Appends one pair; callers add keys in ascending order.
    pub fn add(&mut self, key: &[u8], value: &[u8]) {
        self.buf.push(SNAPSHOT_TAG_PAIR);
        put_varint(&mut self.buf, key.len() as u64);
        self.buf.extend_from_slice(key);
        put_varint(&mut self.buf, value.len() as u64);
        self.buf.extend_from_slice(value);
        self.count += 1;
    }

    /// Appends the trailer and returns the stream's bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(SNAPSHOT_TAG_END);
        put_u64(&mut self.buf, self.count);
        let crc = masked_crc(&[&self.buf]);
        put_u32(&mut self.buf, crc);
        self.buf
    }
}

/// Checks a whole stream and returns its pairs in order. `name` (the snapshot id) names
/// the stream in errors.
///
/// # Errors
/// [`Error::Corruption`] naming `name` and the byte offset: a wrong magic
/// ([`CorruptionKind::BadMagic`]), a checksum mismatch, a length past the end
/// ([`CorruptionKind::BadLength`]), an unknown version or tag, keys out of order, or a
/// count that disagrees with the pairs ([`CorruptionKind::Malformed`]).
pub fn decode<'a>(data: &'a [u8], name: &str) -> Result<Vec<(&'a [u8], &'a [u8])>> {
    let bad = |offset: usize, kind: CorruptionKind| Error::Corruption {
        file: PathBuf::from(format!("raft snapshot {name}")),
        offset: offset as u64,
        kind,
    };
    if data.len() < SNAPSHOT_HEADER_LEN + 1 + SNAPSHOT_TRAILER_LEN {
        return Err(bad(0, CorruptionKind::BadLength));
    }
    if data[..8] != SNAPSHOT_MAGIC {
        return Err(bad(0, CorruptionKind::BadMagic));
    }
    let crc_at = data.len() - 4;
    let stored = get_u32(&data[crc_at..]).ok_or_else(|| bad(crc_at, CorruptionKind::BadLength))?;
    let actual = masked_crc(&[&data[..crc_at]]);
    if stored != actual {
        return Err(bad(crc_at, CorruptionKind::ChecksumMismatch { expected: stored, actual }));
    }
    if get_u32(&data[8..]) != Some(SNAPSHOT_FORMAT_VERSION) {
        return Err(bad(8, CorruptionKind::Malformed("unsupported snapshot format version")));
    }
    let end_at = data.len() - 1 - SNAPSHOT_TRAILER_LEN;
    let mut pos = SNAPSHOT_HEADER_LEN;
    let mut pairs: Vec<(&[u8], &[u8])> = Vec::new();
    let field = |pos: &mut usize| -> Result<&'a [u8]> {
        let at = *pos;
        let (len, n) = get_varint(&data[at..end_at]).ok_or_else(|| bad(at, CorruptionKind::BadLength))?;
        let start = at + n;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| start.checked_add(l))
            .filter(|&e| e <= end_at)
            .ok_or_else(|| bad(at, CorruptionKind::BadLength))?;
        *pos = end;
        Ok(&data[start..end])
    };
    while pos < end_at {
        let at = pos;
        if data[pos] != SNAPSHOT_TAG_PAIR {
            return Err(bad(at, CorruptionKind::Malformed("unknown tag in a snapshot")));
        }
        pos += 1;
        let key = field(&mut pos)?;
        let value = field(&mut pos)?;
        if pairs.last().is_some_and(|(k, _)| *k >= key) {
            return Err(bad(at, CorruptionKind::Malformed("snapshot keys out of order")));
        }
        pairs.push((key, value));
    }
    if data[end_at] != SNAPSHOT_TAG_END {
        return Err(bad(end_at, CorruptionKind::Malformed("snapshot trailer tag missing")));
    }
    if get_u64(&data[end_at + 1..]) != Some(pairs.len() as u64) {
        return Err(bad(end_at + 1, CorruptionKind::Malformed("snapshot pair count mismatch")));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = SnapshotWriter::new();
        w.add(b"a", b"1");
        w.add(b"b", b"");
        w.add(b"c", &[7; 300]);
        w.finish()
    }

    #[test]
    fn round_trips_and_the_layout_matches_the_doc() {
        let s = sample();
        assert_eq!(&s[..8], b"SHLRSNAP");
        assert_eq!(get_u32(&s[8..]), Some(SNAPSHOT_FORMAT_VERSION));
        assert_eq!(s[SNAPSHOT_HEADER_LEN], SNAPSHOT_TAG_PAIR);
        assert_eq!(s[s.len() - 1 - SNAPSHOT_TRAILER_LEN], SNAPSHOT_TAG_END);
        let pairs = decode(&s, "t").expect("decodes");
        assert_eq!(pairs.len(), 3);
        assert_eq!(pairs[2].1.len(), 300);
        let empty = SnapshotWriter::new().finish();
        assert_eq!(empty.len(), SNAPSHOT_HEADER_LEN + 1 + SNAPSHOT_TRAILER_LEN);
        assert!(decode(&empty, "t").expect("decodes").is_empty());
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_refused() {
        let s = sample();
        for i in 0..s.len() {
            let mut d = s.clone();
            d[i] ^= 0x40;
            assert!(matches!(decode(&d, "t"), Err(Error::Corruption { .. })), "flip at {i}");
        }
        for n in 0..s.len() {
            assert!(decode(&s[..n], "t").is_err(), "truncated to {n}");
        }
        let mut longer = s.clone();
        longer.push(0);
        assert!(decode(&longer, "t").is_err());
    }
}
