//! The write-ahead log: a sequence of records framed into 32 KiB blocks, after LevelDB's
//! `log_format.md`, with the RocksDB "recyclable" header that also names the log number.
//! The MANIFEST uses the same framing for its version edits.
//!
//! [`LogWriter`] has one owner (the group-commit leader, or the MANIFEST writer under its
//! lock). [`LogReader`] reads a whole file that is no longer written.
//!
//! # Format
//! DESIGN.md §2 ("WAL format").

mod reader;
mod writer;

pub use reader::{LogDamage, LogReader};
pub use writer::LogWriter;

/// Size of a WAL block in bytes. 32 KiB as in LevelDB: large enough that the 11-byte
/// header costs little, small enough that a reader resynchronises quickly after damage.
pub const WAL_BLOCK_SIZE_BYTES: usize = 32 * 1024;

/// Length of a fragment header: crc32 (4) | length u16 (2) | type (1) | log number u32 (4).
pub const HEADER_LEN: usize = 11;

/// Bytes every record's payload starts with: the log's synced size (u64le) when the
/// record was written.
pub const SYNC_PREFIX_LEN: usize = 8;

/// A fragment type byte.
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
    fn from_u8(b: u8) -> Option<Self> {
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
