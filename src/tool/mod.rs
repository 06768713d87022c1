//! Offline inspection and repair, the public API the `shale` tool formats (after LevelDB's
//! `DumpFile` and `RepairDB`). Every function returns data structures; none prints.
//!
//! - [`verify`]: checks every checksum, MANIFEST reference and key order of a database
//!   directory and reports per file ([`FileCheck`]);
//! - [`dump_table`], [`for_each_table_entry`]: a table's properties, index block and
//!   entries; [`wal_records`]: a WAL's records and the damage that ended it;
//!   [`dump_manifest`]: the live MANIFEST's version edits and the levels they produce;
//! - [`repair`]: rebuilds the MANIFEST from the tables and WALs found ([`RepairReport`]).
//!
//! They read through the engine's own decoders and never change a file, except `repair`.
//! The formats they decode are in docs/format.md; the tools are described in
//! docs/tools.md.

mod dump;
mod verify;

pub use crate::db::{repair, RepairReport};
pub use crate::filename::{parse_file_name, FileType};
pub use crate::sstable::format::BlockHandle;
pub use crate::sstable::TableProperties;
pub use crate::version::edit::VersionEdit;
pub use crate::version::FileMetaData;
pub use crate::wal::LogDamage;
pub use dump::{
    dump_manifest, dump_table, for_each_table_entry, wal_number, wal_records, IndexEntry, ManifestDump,
    TableDump, WalRecord,
};
pub use verify::{verify, FileCheck};
