//! Reads the records of a whole log file and tells a torn tail from mid-log damage.
//!
//! A damaged fragment is a *torn tail* when no valid fragment of this log starts anywhere
//! after it: nothing after it was ever durable, so dropping it loses nothing acknowledged.
//! Otherwise it is mid-log corruption (RELIABILITY.md R5, R9, INV-09/10).

use std::borrow::Cow;

use super::{FragmentType, HEADER_LEN, WAL_BLOCK_SIZE_BYTES};
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
                    (FragmentType::Full, None) => return Ok(Some((frag_start, Cow::Borrowed(frag)))),
                    (FragmentType::First, None) => assembled = Some((frag_start, frag.to_vec())),
                    (FragmentType::Middle, Some((_, buf))) => buf.extend_from_slice(frag),
                    (FragmentType::Last, Some((_, buf))) => {
                        buf.extend_from_slice(frag);
                        let (off, buf) = assembled.take().expect("matched Some");
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
    /// Only fragments after the bad one count as evidence: the damaged record's own
    /// earlier fragments are valid but say nothing about later data.
    fn damage(&mut self, offset: u64, bad_at: u64, kind: CorruptionKind) -> LogDamage {
        let is_tail = !self.valid_fragment_after(bad_at);
        self.pos = self.data.len();
        LogDamage { offset, kind, is_tail, bytes_after: self.data.len() as u64 - offset }
    }

    /// Is there a valid fragment of this log anywhere after `offset`? Every byte position
    /// is a candidate; the log-number and type bytes of a header rule out almost all of
    /// them before a CRC is computed, so the scan costs about one pass over the bytes.
    fn valid_fragment_after(&self, offset: u64) -> bool {
        let Ok(offset) = usize::try_from(offset) else { return false };
        let lognum = crate::coding::u32_bytes(self.log_number);
        let data = self.data;
        (offset + 1..data.len().saturating_sub(HEADER_LEN - 1)).any(|pos| {
            WAL_BLOCK_SIZE_BYTES - pos % WAL_BLOCK_SIZE_BYTES >= HEADER_LEN
                && data[pos + 7..pos + 11] == lognum
                && (1..=4).contains(&data[pos + 6])
                && matches!(self.parse_at(pos), Physical::Fragment(..))
        })
    }

    fn read_physical(&mut self) -> Physical<'a> {
        loop {
            let left_in_block = WAL_BLOCK_SIZE_BYTES - self.pos % WAL_BLOCK_SIZE_BYTES;
            if left_in_block < HEADER_LEN {
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
