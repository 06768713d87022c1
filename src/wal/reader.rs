//! Reads the records of a whole log file and tells a torn tail from mid-log damage.
//!
//! A damaged record is a *torn tail* unless a valid record after it proves, by the synced
//! size it carries, that the damaged bytes had been synced: unsynced bytes may be lost or
//! torn in any order by a power loss, so dropping them loses nothing acknowledged as
//! durable. With that proof it is mid-log corruption (docs/durability.md R5, R9, INV-09/10).

use std::borrow::Cow;

use super::{FragmentType, HEADER_LEN, SYNC_PREFIX_LEN, WAL_BLOCK_SIZE_BYTES};
use crate::checksum::masked_crc;
use crate::coding::{get_u16, get_u32};
use crate::error::CorruptionKind;

/// Damage found while reading a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDamage {
    /// Offset of the first byte of the damaged record (its first fragment).
    pub offset: u64,
    /// What is wrong.
    pub kind: CorruptionKind,
    /// True when nothing valid follows: the damage is a torn tail.
    pub is_tail: bool,
    /// Bytes from `offset` to the end of the file.
    pub bytes_after: u64,
}

/// A whole record: the offset of its first fragment and its bytes.
pub type Record<'a> = (u64, Cow<'a, [u8]>);

/// Iterates the records of one log held in memory.
pub struct LogReader<'a> {
    data: &'a [u8],
    pos: usize,
    log_number: u32,
}

enum Physical<'a> {
    Fragment(FragmentType, &'a [u8]),
    Eof,
    Bad(CorruptionKind),
}

impl<'a> LogReader<'a> {
    /// A reader over the bytes of log `log_number`.
    pub fn new(data: &'a [u8], log_number: u64) -> Self {
        LogReader { data, pos: 0, log_number: log_number as u32 }
    }

    /// The next whole record and the offset of its first fragment; `Ok(None)` at a clean
    /// end of file.
    ///
    /// # Errors
    /// [`LogDamage`] at the first damaged record; reading stops there for good.
    pub fn next_record(&mut self) -> Result<Option<Record<'a>>, LogDamage> {
        let mut assembled: Option<(u64, Vec<u8>)> = None;
        loop {
            let frag_start = self.pos as u64;
            let record_start = assembled.as_ref().map_or(frag_start, |a| a.0);
            match self.read_physical() {
                Physical::Eof => {
                    return match assembled {
                        None => Ok(None),
                        Some(_) => Err(self.damage(
                            record_start,
                            frag_start,
                            CorruptionKind::Malformed("record cut"),
                        )),
                    };
                }
                Physical::Bad(kind) => return Err(self.damage(record_start, frag_start, kind)),
                Physical::Fragment(ty, frag) => match (ty, assembled.as_mut()) {
                    (FragmentType::Full, None) => match frag.get(SYNC_PREFIX_LEN..) {
                        Some(body) => return Ok(Some((frag_start, Cow::Borrowed(body)))),
                        None => return Err(self.damage(frag_start, frag_start, CorruptionKind::BadLength)),
                    },
                    (FragmentType::First, None) => assembled = Some((frag_start, frag.to_vec())),
                    (FragmentType::Middle, Some((_, buf))) => buf.extend_from_slice(frag),
                    (FragmentType::Last, Some((_, buf))) => {
                        buf.extend_from_slice(frag);
                        let (off, mut buf) = assembled.take().expect("matched Some");
                        if buf.len() < SYNC_PREFIX_LEN {
                            return Err(self.damage(off, frag_start, CorruptionKind::BadLength));
                        }
                        buf.drain(..SYNC_PREFIX_LEN);
                        return Ok(Some((off, Cow::Owned(buf))));
                    }
                    _ => {
                        return Err(self.damage(
                            record_start,
                            frag_start,
                            CorruptionKind::Malformed("fragment out of sequence"),
                        ))
                    }
                },
            }
        }
    }

    /// Damage in the record starting at `offset`, detected at the fragment at `bad_at`.
    /// It is a torn tail unless a valid record after it proves that the damaged bytes had
    /// been synced (see `synced_after`).
    fn damage(&mut self, offset: u64, bad_at: u64, kind: CorruptionKind) -> LogDamage {
        let is_tail = !self.synced_after(offset, bad_at);
        self.pos = self.data.len();
        LogDamage { offset, kind, is_tail, bytes_after: self.data.len() as u64 - offset }
    }

    /// Does a valid record starting after `bad_at` say the log was synced past
    /// `record_start`? Every record begins with the log's synced size when it was written
    /// (`LogWriter`), so such a record proves that the damaged record was durable, and the
    /// damage is corruption, not a torn write. Unsynced records after the damage prove
    /// nothing: a power loss may keep later pages and lose earlier ones (docs/durability.md R9,
    /// INV-10). Every byte position is a candidate; the log-number and type bytes of a
    /// header rule out almost all of them before a CRC is computed.
    fn synced_after(&self, record_start: u64, bad_at: u64) -> bool {
        let Ok(bad_at) = usize::try_from(bad_at) else { return false };
        let lognum = crate::coding::u32_bytes(self.log_number);
        let data = self.data;
        (bad_at + 1..data.len().saturating_sub(HEADER_LEN - 1)).any(|pos| {
            WAL_BLOCK_SIZE_BYTES - pos % WAL_BLOCK_SIZE_BYTES >= HEADER_LEN
                && data[pos + 7..pos + 11] == lognum
                && matches!(data[pos + 6], 1 | 2)
                && match self.parse_at(pos) {
                    Physical::Fragment(FragmentType::Full | FragmentType::First, frag) => {
                        crate::coding::get_u64(frag).is_some_and(|synced| synced > record_start)
                    }
                    _ => false,
                }
        })
    }

    fn read_physical(&mut self) -> Physical<'a> {
        loop {
            let left_in_block = WAL_BLOCK_SIZE_BYTES - self.pos % WAL_BLOCK_SIZE_BYTES;
            let padding = left_in_block < HEADER_LEN
                || (left_in_block < HEADER_LEN + SYNC_PREFIX_LEN
                    && self
                        .data
                        .get(self.pos..self.pos + left_in_block)
                        .is_some_and(|b| b.iter().all(|&x| x == 0)));
            if padding {
                self.pos += left_in_block; // block trailer padding
                continue;
            }
            if self.pos >= self.data.len() {
                return Physical::Eof;
            }
            let p = self.parse_at(self.pos);
            if let Physical::Fragment(_, frag) = &p {
                self.pos += HEADER_LEN + frag.len();
            }
            return p;
        }
    }

    fn parse_at(&self, pos: usize) -> Physical<'a> {
        let data = self.data;
        let Some(header) = data.get(pos..pos + HEADER_LEN) else {
            return Physical::Bad(CorruptionKind::Malformed("truncated fragment header"));
        };
        let stored_crc = get_u32(header).unwrap_or(0);
        let len = usize::from(get_u16(&header[4..]).unwrap_or(0));
        let ty_byte = header[6];
        if stored_crc == 0 && len == 0 && ty_byte == 0 {
            // Zeros to the end of the file are a preallocated tail (`LogWriter::
            // set_preallocation`): the log's clean end. Zeros with anything after them
            // are damage (a lost page, R5), judged as any damage is.
            if data[pos..].iter().all(|&b| b == 0) {
                return Physical::Eof;
            }
            return Physical::Bad(CorruptionKind::Malformed("zero-filled region"));
        }
        let left_in_block = WAL_BLOCK_SIZE_BYTES - pos % WAL_BLOCK_SIZE_BYTES;
        if HEADER_LEN + len > left_in_block {
            return Physical::Bad(CorruptionKind::BadLength);
        }
        let Some(frag) = data.get(pos + HEADER_LEN..pos + HEADER_LEN + len) else {
            return Physical::Bad(CorruptionKind::Malformed("truncated fragment payload"));
        };
        let actual = masked_crc(&[&header[4..], frag]);
        if actual != stored_crc {
            return Physical::Bad(CorruptionKind::ChecksumMismatch { expected: stored_crc, actual });
        }
        if get_u32(&header[7..]) != Some(self.log_number) {
            return Physical::Bad(CorruptionKind::Malformed("fragment of another log"));
        }
        match FragmentType::from_u8(ty_byte) {
            Some(ty) => Physical::Fragment(ty, frag),
            None => Physical::Bad(CorruptionKind::Malformed("unknown fragment type")),
        }
    }
}
