//! The write-ahead log: a sequence of records framed into 32 KiB blocks, after LevelDB's
//! `log_format.md`. The log number is not stored in a fragment header, as in RocksDB's
//! "recyclable" format, but enters each fragment's CRC, so that bytes of another log never
//! read as records of this one. The MANIFEST uses the same framing for its version edits.
//!
//! [`LogWriter`] has one owner (the group-commit leader, or the MANIFEST writer under its
//! lock). [`LogReader`] reads a whole file that is no longer written; it also reads the
//! *legacy* framing of logs written before issue 15's fifth stop (an 11-byte header that
//! stores the log number, and a fixed 8-byte synced size).
//!
//! # Format
//! docs/format.md §2 ("WAL format").

mod reader;
mod writer;

pub use reader::{LogDamage, LogReader};
pub use writer::LogWriter;

/// Size of a WAL block in bytes. 32 KiB as in LevelDB: large enough that the 7-byte
/// header costs little, small enough that a reader resynchronises quickly after damage.
pub const WAL_BLOCK_SIZE_BYTES: usize = 32 * 1024;

/// Length of a fragment header: crc32 (4) | length u16 (2) | type (1). The CRC covers the
/// log number (u32le, not stored), the length, the type and the payload.
pub const HEADER_LEN: usize = 7;

/// Most bytes of the synced size every record's payload starts with: a LEB128 varint of
/// a `u64` (1 byte while the log has never been synced).
pub const SYNC_PREFIX_MAX_LEN: usize = 10;

/// Length of a legacy fragment header: crc32 (4) | length u16 (2) | type (1) | log number
/// u32 (4). Read, never written.
pub const LEGACY_HEADER_LEN: usize = 11;

/// Bytes of the synced size (u64le) a legacy record's payload starts with.
pub const LEGACY_SYNC_PREFIX_LEN: usize = 8;

/// Added to a fragment kind to give its type byte in the current framing (9 FULL to
/// 12 LAST); the legacy framing's type bytes are the kinds themselves (1 to 4). The
/// first fragment of a log therefore says which framing the whole log uses.
pub const COMPACT_TYPE_BASE: u8 = 8;

/// A fragment's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FragmentType {
    /// A whole record in one fragment.
    Full = 1,
    /// The first fragment of a record that spans blocks.
    First = 2,
    /// A fragment in the middle of a record.
    Middle = 3,
    /// The last fragment of a record.
    Last = 4,
}

impl FragmentType {
    fn from_kind(b: u8) -> Option<Self> {
        match b {
            1 => Some(Self::Full),
            2 => Some(Self::First),
            3 => Some(Self::Middle),
            4 => Some(Self::Last),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
