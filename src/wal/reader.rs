//! Reads the records of a whole log file and tells a torn tail from mid-log damage.
//!
//! A damaged record is a *torn tail* unless a valid record after it proves, by the synced
//! size it carries, that the damaged bytes had been synced: unsynced bytes may be lost or
//! torn in any order by a power loss, so dropping them loses nothing acknowledged as
//! durable. With that proof it is mid-log corruption (docs/durability.md R5, R9, INV-09/10).

use std::borrow::Cow;

use super::{
    FragmentType, COMPACT_TYPE_BASE, HEADER_LEN, LEGACY_HEADER_LEN, LEGACY_SYNC_PREFIX_LEN, SYNC_PREFIX_MAX_LEN,
    WAL_BLOCK_SIZE_BYTES,
};
use crate::checksum::masked_crc;
use crate::coding::{get_u16, get_u32, get_u64, get_varint, u32_bytes};
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

/// What a legacy fragment whose stored log number is not the expected one reports.
const ANOTHER_LOG: &str = "fragment of another log";

/// A whole record: the offset of its first fragment and its bytes.
pub type Record<'a> = (u64, Cow<'a, [u8]>);

/// Iterates the records of one log held in memory.
pub struct LogReader<'a> {
    data: &'a [u8],
    pos: usize,
    log_number: u32,
    framing: Framing,
}

/// Which framing a log uses; its first fragment says (docs/format.md §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// 7-byte headers, type bytes 9–12, the log number in the CRC, a varint synced size.
    Compact,
    /// 11-byte headers with the log number, type bytes 1–4, a `u64le` synced size.
    Legacy,
}

impl Framing {
    fn header_len(self) -> usize {
        match self {
            Framing::Compact => HEADER_LEN,
            Framing::Legacy => LEGACY_HEADER_LEN,
        }
    }

    /// A block tail shorter than this, all zero, is padding: the writer starts no record in
    /// it (a record's first fragment holds its whole synced-size prefix).
    fn record_start_min(self) -> usize {
        match self {
            Framing::Compact => HEADER_LEN + SYNC_PREFIX_MAX_LEN,
            Framing::Legacy => LEGACY_HEADER_LEN + LEGACY_SYNC_PREFIX_LEN,
        }
    }

    fn kind(self, ty: u8) -> Option<FragmentType> {
        match self {
            Framing::Compact => FragmentType::from_kind(ty.checked_sub(COMPACT_TYPE_BASE)?),
            Framing::Legacy => FragmentType::from_kind(ty),
        }
    }

    /// Splits a record payload (or the start of one) into its synced size and the rest.
    fn split_prefix(self, payload: &[u8]) -> Option<(u64, &[u8])> {
        match self {
            Framing::Compact => {
                let (synced, n) = get_varint(payload)?;
                Some((synced, &payload[n..]))
            }
            Framing::Legacy => Some((get_u64(payload)?, payload.get(LEGACY_SYNC_PREFIX_LEN..)?)),
        }
    }
}

enum Physical<'a> {
    Fragment(FragmentType, &'a [u8]),
    Eof,
    Bad(CorruptionKind),
}

impl<'a> LogReader<'a> {
    /// A reader over the bytes of log `log_number`. The log is read in the legacy framing
    /// if its first fragment is a valid legacy one (of this log, or of another, which the
    /// first read then reports), and in the current framing otherwise.
    pub fn new(data: &'a [u8], log_number: u64) -> Self {
        let mut r = LogReader { data, pos: 0, log_number: log_number as u32, framing: Framing::Legacy };
        if !matches!(
            r.parse_at(Framing::Legacy, 0),
            Physical::Fragment(..) | Physical::Bad(CorruptionKind::Malformed(ANOTHER_LOG))
        ) {
            r.framing = Framing::Compact;
        }
        r
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
                    (FragmentType::Full, None) => match self.framing.split_prefix(frag) {
                        Some((_, body)) => return Ok(Some((frag_start, Cow::Borrowed(body)))),
                        None => return Err(self.damage(frag_start, frag_start, CorruptionKind::BadLength)),
                    },
                    (FragmentType::First, None) => assembled = Some((frag_start, frag.to_vec())),
                    (FragmentType::Middle, Some((_, buf))) => buf.extend_from_slice(frag),
                    (FragmentType::Last, Some((_, buf))) => {
                        buf.extend_from_slice(frag);
                        let (off, mut buf) = assembled.take().expect("matched Some");
                        let Some(prefix) = self.framing.split_prefix(&buf).map(|(_, body)| buf.len() - body.len())
                        else {
                            return Err(self.damage(off, frag_start, CorruptionKind::BadLength));
                        };
                        buf.drain(..prefix);
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
    /// been synced (see `synced_after`). Damage at offset 0 of a log read in the current
    /// framing may be a legacy log whose first fragment is damaged: records of either
    /// framing count as proof then.
    fn damage(&mut self, offset: u64, bad_at: u64, kind: CorruptionKind) -> LogDamage {
        let proven = self.synced_after(self.framing, offset, bad_at)
            || (offset == 0 && self.framing == Framing::Compact && self.synced_after(Framing::Legacy, offset, bad_at));
        self.pos = self.data.len();
        LogDamage { offset, kind, is_tail: !proven, bytes_after: self.data.len() as u64 - offset }
    }

    /// Does a valid record starting after `bad_at` say the log was synced past
    /// `record_start`? Every record begins with the log's synced size when it was written
    /// (`LogWriter`), so such a record proves that the damaged record was durable, and the
    /// damage is corruption, not a torn write. Unsynced records after the damage prove
    /// nothing: a power loss may keep later pages and lose earlier ones (docs/durability.md R9,
    /// INV-10). Every byte position is a candidate; the type byte, the length and the
    /// synced size (above `record_start`, at most the candidate's own position) rule out
    /// almost all of them before a CRC is computed.
    fn synced_after(&self, framing: Framing, record_start: u64, bad_at: u64) -> bool {
        let Ok(bad_at) = usize::try_from(bad_at) else { return false };
        let h = framing.header_len();
        let data = self.data;
        (bad_at + 1..data.len().saturating_sub(h - 1)).any(|pos| {
            let left_in_block = WAL_BLOCK_SIZE_BYTES - pos % WAL_BLOCK_SIZE_BYTES;
            if left_in_block < h || !matches!(framing.kind(data[pos + 6]), Some(FragmentType::Full | FragmentType::First)) {
                return false;
            }
            let len = usize::from(get_u16(&data[pos + 4..]).unwrap_or(0));
            let Some(payload) = data.get(pos + h..pos + h + len) else { return false };
            h + len <= left_in_block
                && framing
                    .split_prefix(payload)
                    .is_some_and(|(synced, _)| synced > record_start && synced <= pos as u64)
                && matches!(
                    self.parse_at(framing, pos),
                    Physical::Fragment(FragmentType::Full | FragmentType::First, _)
                )
        })
    }

    fn read_physical(&mut self) -> Physical<'a> {
        let h = self.framing.header_len();
        loop {
            let left_in_block = WAL_BLOCK_SIZE_BYTES - self.pos % WAL_BLOCK_SIZE_BYTES;
            let padding = left_in_block < h
                || (left_in_block < self.framing.record_start_min()
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
            let p = self.parse_at(self.framing, self.pos);
            if let Physical::Fragment(_, frag) = &p {
                self.pos += h + frag.len();
            }
            return p;
        }
    }

    fn parse_at(&self, framing: Framing, pos: usize) -> Physical<'a> {
        let data = self.data;
        let h = framing.header_len();
        let Some(header) = data.get(pos..pos + h) else {
            // Fewer bytes than a header are left: zeros are the end of a preallocated tail
            // that happens to stop here, anything else a cut header.
            if data[pos.min(data.len())..].iter().all(|&b| b == 0) {
                return Physical::Eof;
            }
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
        if h + len > left_in_block {
            return Physical::Bad(CorruptionKind::BadLength);
        }
        let Some(frag) = data.get(pos + h..pos + h + len) else {
            return Physical::Bad(CorruptionKind::Malformed("truncated fragment payload"));
        };
        let lognum = u32_bytes(self.log_number);
        let actual = match framing {
            Framing::Compact => masked_crc(&[&lognum, &header[4..], frag]),
            Framing::Legacy => masked_crc(&[&header[4..], frag]),
        };
        if actual != stored_crc {
            return Physical::Bad(CorruptionKind::ChecksumMismatch { expected: stored_crc, actual });
        }
        if framing == Framing::Legacy && header[7..] != lognum {
            return Physical::Bad(CorruptionKind::Malformed(ANOTHER_LOG));
        }
        match framing.kind(ty_byte) {
            Some(ty) => Physical::Fragment(ty, frag),
            None => Physical::Bad(CorruptionKind::Malformed("unknown fragment type")),
        }
    }
}
