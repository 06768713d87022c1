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
pub mod reader;

pub use builder::{TableBuilder, TableOptions, TableSummary};
pub use reader::{BlockReadOptions, Table, TableContext, TableIter, TableProperties};
