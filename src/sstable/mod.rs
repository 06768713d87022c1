//! Block-based tables (SSTables), after LevelDB's `table_format.md`: data blocks of
//! prefix-compressed internal keys with restart points, a properties block, a metaindex
//! block, a sparse index block with one entry per data block, and a fixed 48-byte footer.
//! Every block carries a 5-byte trailer: compression type and a CRC-32.
//!
//! A [`TableBuilder`] has one owner (a flush or compaction job). A [`Table`] is immutable
//! and shared by every `Version` that lists it; reads on it are concurrent.
//!
//! # Format
//! DESIGN.md §3 ("Table format").

pub mod block;
pub mod builder;
pub mod cache;
pub mod filter;
pub mod format;
pub mod range_del_block;
pub mod readahead;
pub mod reader;

pub use builder::{TableBuilder, TableOptions, TableSummary};

/// A table's identity, after RocksDB's unique SST id: the database that wrote it (a
/// random id fixed when the database is created), the session (a random id per open,
/// repair or checkpoint) and the file number. Written into the table's properties and
/// recorded in the MANIFEST beside its size; the two must agree when the table is opened,
/// so a table swapped for another one of the same size is caught.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TableId {
    /// The database id.
    pub db_id: u64,
    /// The session id.
    pub session_id: u64,
}

/// A fresh random 64-bit id (for database ids; session ids take its low 32 bits, which
/// keeps MANIFEST records short), never 0: the standard library's per-process random
/// hasher keys, mixed with the time and process id.
pub fn random_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    h.write_u128(now.as_nanos());
    h.write_u32(std::process::id());
    h.finish().max(1)
}
pub use reader::{BlockReadOptions, Table, TableContext, TableIter, TableProperties};
