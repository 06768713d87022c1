//! Decoded views of single files for `shale dump`: WAL records with their batches, and the
//! entries of a table's index block.

use std::path::Path;

use crate::batch::decode_rep;
use crate::error::{Error, Result};
use crate::fs::FileSystem;
use crate::key::{SequenceNumber, ValueType};
use crate::sstable::format::BlockHandle;
use crate::wal::{LogDamage, LogReader};

/// One WAL record: a committed write group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalRecord {
    /// Byte offset of the record's first fragment.
    pub offset: u64,
    /// Sequence number of its first operation (the next ones follow in order).
    pub first_seqno: SequenceNumber,
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
                let (first_seqno, ops) = decode_rep(&rec, path, offset)?;
                let ops = ops
                    .iter()
                    .map(|o| {
                        (o.value_type, rec[o.key.0..o.key.1].to_vec(), rec[o.value.0..o.value.1].to_vec())
                    })
                    .collect();
                out.push(WalRecord { offset, first_seqno, ops });
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

/// A separator and the handle of its data block, from a table's index block.
pub type IndexEntry = (Vec<u8>, BlockHandle);
