//! Decoded views of single files for `shale dump`: a table's properties, index and
//! entries; WAL records with their batches; the MANIFEST's edits and resulting levels.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::batch::decode_rep;
use crate::db::EntryVisitor;
use crate::error::{CorruptionKind, Error, Result};
use crate::fs::FileSystem;
use crate::iterator::InternalIterator;
use crate::key::{ParsedInternalKey, SequenceNumber, ValueType};
use crate::sstable::format::BlockHandle;
use crate::sstable::{BlockReadOptions, Table, TableProperties};
use crate::version::edit::VersionEdit;
use crate::version::manifest::{read_current, replay, ManifestState};
use crate::version::FileMetaData;
use crate::wal::{LogDamage, LogReader};

/// One WAL record: a committed write group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalRecord {
    /// Byte offset of the record's first fragment.
    pub offset: u64,
    /// Sequence number of its first operation (the next ones follow in order).
    pub first_seqno: SequenceNumber,
    /// Every operation has `first_seqno` (a transaction's commit).
    pub one_seqno: bool,
    /// The operations: type, key, value (empty for deletions).
    pub ops: Vec<(ValueType, Vec<u8>, Vec<u8>)>,
}

/// Every record of WAL `number` at `path`, and the damage that ended reading, if any.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::Corruption`] for a record whose
/// batch does not decode.
pub fn wal_records(
    fs: &dyn FileSystem,
    path: &Path,
    number: u64,
) -> Result<(Vec<WalRecord>, Option<LogDamage>)> {
    let data = fs.read_all(path)?;
    let mut reader = LogReader::new(&data, number);
    let mut out = Vec::new();
    loop {
        match reader.next_record() {
            Ok(None) => return Ok((out, None)),
            Err(d) => return Ok((out, Some(d))),
            Ok(Some((_, rec))) if rec.is_empty() => {} // a seal record
            Ok(Some((offset, rec))) => {
                let d = decode_rep(&rec, path, offset)?;
                let (first_seqno, one_seqno) = (d.first, d.shared_seqno);
                let ops = d
                    .ops
                    .iter()
                    .map(|o| {
                        (o.value_type, rec[o.key.0..o.key.1].to_vec(), rec[o.value.0..o.value.1].to_vec())
                    })
                    .collect();
                out.push(WalRecord { offset, first_seqno, one_seqno, ops });
            }
        }
    }
}

/// The WAL number of a file named like `000012.log`.
///
/// # Errors
/// [`Error::InvalidArgument`] for any other name.
pub fn wal_number(path: &Path) -> Result<u64> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    match crate::filename::parse_file_name(name) {
        Some(crate::filename::FileType::Wal(n)) => Ok(n),
        _ => Err(Error::InvalidArgument("a WAL file is named NNNNNN.log")),
    }
}

/// One entry of a table's index block: the separator (an internal key at or after every
/// key of its data block and before the next block's keys) and the block's handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The separator's user key.
    pub user_key: Vec<u8>,
    /// The separator's sequence number.
    pub seqno: SequenceNumber,
    /// The separator's value type.
    pub value_type: ValueType,
    /// Where the data block is: byte offset and stored size (without its 5-byte trailer).
    pub handle: BlockHandle,
}

/// What `dump_table` reads of a table without walking its data blocks.
#[derive(Debug, Clone)]
pub struct TableDump {
    /// The table file.
    pub path: PathBuf,
    /// Its properties block (docs/format.md §3.5).
    pub properties: TableProperties,
    /// Size of its bloom filter block in bytes, if it has one.
    pub filter_bytes: Option<usize>,
    /// Its index block, one entry per data block (empty unless asked for).
    pub index: Vec<IndexEntry>,
}

fn bad_key(path: &Path) -> Error {
    Error::corruption(path, 0, CorruptionKind::Malformed("bad internal key"))
}

/// Opens the table at `path` (checking its footer, index, filter and properties blocks)
/// and returns its properties, filter size and, with `with_index`, its index entries.
///
/// # Errors
/// [`Error::Io`] if it cannot be read; [`Error::Corruption`] naming the table and offset
/// of a damaged block; [`Error::UnsupportedFormatVersion`].
pub fn dump_table(fs: &dyn FileSystem, path: &Path, with_index: bool) -> Result<TableDump> {
    let table = Table::open(fs, path)?;
    let mut index = Vec::new();
    if with_index {
        for (sep, handle) in table.index_entries()? {
            let k = ParsedInternalKey::decode(&sep).ok_or_else(|| bad_key(path))?;
            index.push(IndexEntry {
                user_key: k.user_key.to_vec(),
                seqno: k.seqno,
                value_type: k.value_type,
                handle,
            });
        }
    }
    Ok(TableDump {
        path: path.to_path_buf(),
        properties: table.properties().clone(),
        filter_bytes: table.filter().map(|f| f.size()),
        index,
    })
}

/// Calls `f(user_key, seqno, value_type, value)` for every entry of the table at `path`
/// in internal-key order (every block's checksum verified, the block cache bypassed), then
/// `f(start, seqno, ValueType::RangeDeletion, end)` for every range tombstone fragment of
/// its range-deletion block, until `f` returns false.
///
/// # Errors
/// As [`dump_table`]; [`Error::Corruption`] for a damaged data block.
pub fn for_each_table_entry(fs: &dyn FileSystem, path: &Path, f: &mut EntryVisitor<'_>) -> Result<()> {
    let table = Arc::new(Table::open(fs, path)?);
    let mut it = table.iter(BlockReadOptions { fill_cache: false, verify_checksums: true });
    it.seek_to_first()?;
    while it.valid() {
        let k = ParsedInternalKey::decode(it.key()).ok_or_else(|| bad_key(path))?;
        if !f(k.user_key, k.seqno, k.value_type, &it.value()) {
            return Ok(());
        }
        it.next()?;
    }
    for t in table.range_tombstones().map(|f| f.tombstones().collect::<Vec<_>>()).unwrap_or_default() {
        if !f(&t.start, t.seqno, crate::key::ValueType::RangeDeletion, &t.end) {
            break;
        }
    }
    Ok(())
}

/// The live MANIFEST of a database, decoded.
#[derive(Debug, Clone, Default)]
pub struct ManifestDump {
    /// The MANIFEST's number (`MANIFEST-NNNNNN`), as CURRENT names it.
    pub number: u64,
    /// Its version edits, in order.
    pub edits: Vec<VersionEdit>,
    /// Bytes of a torn or damaged last record that replay ignored.
    pub tail_bytes_dropped: u64,
    /// The tables of the resulting Version: `(level, metadata)`, by level then number.
    pub tables: Vec<(usize, FileMetaData)>,
    /// WALs numbered below this are flushed.
    pub log_number: u64,
    /// The next file number the database allocates.
    pub next_file_number: u64,
    /// The largest sequence number held in tables.
    pub last_sequence: SequenceNumber,
}

/// Reads CURRENT in `dir` and replays the MANIFEST it names.
///
/// # Errors
/// [`Error::Io`]; [`Error::Corruption`] naming CURRENT or the MANIFEST and the offset of
/// a damaged record.
pub fn dump_manifest(fs: &dyn FileSystem, dir: &Path) -> Result<ManifestDump> {
    let number = read_current(fs, dir)?;
    let r = replay(fs, dir, number)?;
    let mut state = ManifestState::default();
    for e in &r.edits {
        state.apply(e.clone());
    }
    let mut tables: Vec<(usize, FileMetaData)> = state.files.into_values().collect();
    tables.sort_by_key(|(l, f)| (*l, f.number));
    Ok(ManifestDump {
        number,
        edits: r.edits,
        tail_bytes_dropped: r.tail_bytes_dropped,
        tables,
        log_number: state.log_number,
        next_file_number: state.next_file_number,
        last_sequence: state.last_sequence,
    })
}
