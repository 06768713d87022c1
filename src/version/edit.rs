//! [`VersionEdit`]: one MANIFEST record, the difference between two Versions.
//!
//! # Format
//! DESIGN.md §4.2 ("Version edit"): a sequence of `tag varint` + field, LevelDB style.
//! Unknown tags are corruption, so an older build never half-applies a newer edit.

use std::path::Path;

use bytes::Bytes;

use super::{FileMetaData, NUM_LEVELS};
use crate::coding::{put_length_prefixed, put_varint, Reader};
use crate::error::{CorruptionKind, Error, Result};
use crate::key::{ParsedInternalKey, SequenceNumber};

pub(crate) const TAG_LOG_NUMBER: u64 = 1;
pub(crate) const TAG_NEXT_FILE_NUMBER: u64 = 2;
pub(crate) const TAG_LAST_SEQUENCE: u64 = 3;
pub(crate) const TAG_DELETED_FILE: u64 = 4;
pub(crate) const TAG_NEW_FILE: u64 = 5;
pub(crate) const TAG_DB_ID: u64 = 6;
pub(crate) const TAG_WAL_ADDED: u64 = 7;
pub(crate) const TAG_WAL_SEALED: u64 = 8;
pub(crate) const TAG_NEW_FILE_WITH_ID: u64 = 9;
pub(crate) const TAG_HISTORY_FLOOR: u64 = 10;

/// The history floor value that means "history is off" (`VersionEdit::history_floor`).
pub(crate) const HISTORY_OFF: u64 = u64::MAX;

/// A change to the set of live files and counters, applied atomically.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionEdit {
    /// WALs numbered below this are fully flushed and no longer needed.
    pub log_number: Option<u64>,
    /// Every file number ever used is below this.
    pub next_file_number: Option<u64>,
    /// The largest sequence number held in tables.
    pub last_sequence: Option<SequenceNumber>,
    /// Tables removed: `(level, file number)`.
    pub deleted_files: Vec<(usize, u64)>,
    /// Tables added: `(level, metadata)`.
    pub new_files: Vec<(usize, FileMetaData)>,
    /// The database's id (in the snapshot edit that starts a MANIFEST).
    pub db_id: Option<u64>,
    /// WALs created: from now on each must exist until a log number retires it (after
    /// RocksDB's `track_and_verify_wals_in_manifest`).
    pub wals_added: Vec<u64>,
    /// WALs sealed: `(number, size in bytes)`; each must be at least that long until a
    /// log number retires it.
    pub wals_sealed: Vec<(u64, u64)>,
    /// The history floor from now on (`HISTORY_OFF`: history is off). See
    /// `Options::history_retention`.
    pub history_floor: Option<u64>,
}

impl VersionEdit {
    /// Encodes the edit.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        let field = |tag: u64, val: Option<u64>, v: &mut Vec<u8>| {
            if let Some(x) = val {
                put_varint(v, tag);
                put_varint(v, x);
            }
        };
        field(TAG_LOG_NUMBER, self.log_number, &mut v);
        field(TAG_NEXT_FILE_NUMBER, self.next_file_number, &mut v);
        field(TAG_LAST_SEQUENCE, self.last_sequence, &mut v);
        field(TAG_HISTORY_FLOOR, self.history_floor, &mut v);
        for &(level, number) in &self.deleted_files {
            put_varint(&mut v, TAG_DELETED_FILE);
            put_varint(&mut v, level as u64);
            put_varint(&mut v, number);
        }
        if let Some(id) = self.db_id {
            put_varint(&mut v, TAG_DB_ID);
            put_varint(&mut v, id);
        }
        for &n in &self.wals_added {
            put_varint(&mut v, TAG_WAL_ADDED);
            put_varint(&mut v, n);
        }
        for &(n, size) in &self.wals_sealed {
            put_varint(&mut v, TAG_WAL_SEALED);
            put_varint(&mut v, n);
            put_varint(&mut v, size);
        }
        for (level, f) in &self.new_files {
            put_varint(&mut v, if f.table_id.is_some() { TAG_NEW_FILE_WITH_ID } else { TAG_NEW_FILE });
            put_varint(&mut v, *level as u64);
            put_varint(&mut v, f.number);
            put_varint(&mut v, f.file_size);
            put_length_prefixed(&mut v, &f.smallest);
            put_length_prefixed(&mut v, &f.largest);
            put_varint(&mut v, f.smallest_seqno);
            put_varint(&mut v, f.largest_seqno);
            if let Some(id) = f.table_id {
                put_varint(&mut v, id.db_id);
                put_varint(&mut v, id.session_id);
            }
        }
        v
    }

    /// Decodes an edit read from `file` at `offset` (for error messages).
    ///
    /// # Errors
    /// [`Error::Corruption`] for a truncated field, an unknown tag, a level out of range or
    /// a malformed key.
    pub fn decode(src: &[u8], file: &Path, offset: u64) -> Result<Self> {
        let bad = |what| Error::corruption(file, offset, CorruptionKind::Malformed(what));
        let mut r = Reader::new(src);
        let mut e = VersionEdit::default();
        let level = |r: &mut Reader<'_>| -> Result<usize> {
            let l = r.varint().ok_or_else(|| bad("truncated level"))?;
            usize::try_from(l).ok().filter(|&l| l < NUM_LEVELS).ok_or_else(|| bad("level out of range"))
        };
        while !r.is_empty() {
            let tag = r.varint().ok_or_else(|| bad("truncated tag"))?;
            let num = |r: &mut Reader<'_>| r.varint().ok_or_else(|| bad("truncated number"));
            match tag {
                TAG_LOG_NUMBER => e.log_number = Some(num(&mut r)?),
                TAG_NEXT_FILE_NUMBER => e.next_file_number = Some(num(&mut r)?),
                TAG_LAST_SEQUENCE => e.last_sequence = Some(num(&mut r)?),
                TAG_DELETED_FILE => {
                    let l = level(&mut r)?;
                    e.deleted_files.push((l, num(&mut r)?));
                }
                TAG_DB_ID => e.db_id = Some(num(&mut r)?),
                TAG_HISTORY_FLOOR => e.history_floor = Some(num(&mut r)?),
                TAG_WAL_ADDED => e.wals_added.push(num(&mut r)?),
                TAG_WAL_SEALED => {
                    let n = num(&mut r)?;
                    e.wals_sealed.push((n, num(&mut r)?));
                }
                TAG_NEW_FILE | TAG_NEW_FILE_WITH_ID => {
                    let l = level(&mut r)?;
                    let number = num(&mut r)?;
                    let file_size = num(&mut r)?;
                    let mut key = || -> Result<Bytes> {
                        let k = r.length_prefixed().ok_or_else(|| bad("truncated key"))?;
                        ParsedInternalKey::decode(k).ok_or_else(|| bad("bad internal key"))?;
                        Ok(Bytes::copy_from_slice(k))
                    };
                    let smallest = key()?;
                    let largest = key()?;
                    let smallest_seqno = num(&mut r)?;
                    let largest_seqno = num(&mut r)?;
                    let table_id = if tag == TAG_NEW_FILE_WITH_ID {
                        let db_id = num(&mut r)?;
                        Some(crate::sstable::TableId { db_id, session_id: num(&mut r)? })
                    } else {
                        None
                    };
                    e.new_files.push((
                        l,
                        FileMetaData {
                            number,
                            file_size,
                            smallest,
                            largest,
                            smallest_seqno,
                            largest_seqno,
                            table_id,
                            earliest_expiry: None,
                        },
                    ));
                }
                _ => return Err(bad("unknown version edit tag")),
            }
        }
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{encode_internal_key, ValueType};

    #[test]
    fn edit_round_trips() {
        let e = VersionEdit {
            log_number: Some(7),
            next_file_number: Some(12),
            last_sequence: Some(99),
            deleted_files: vec![(0, 3), (1, 4)],
            new_files: vec![(
                1,
                FileMetaData {
                    number: 11,
                    file_size: 4096,
                    smallest: Bytes::from(encode_internal_key(b"a", 5, ValueType::Value)),
                    largest: Bytes::from(encode_internal_key(b"z", 9, ValueType::Deletion)),
                    smallest_seqno: 5,
                    largest_seqno: 9,
                    table_id: Some(crate::sstable::TableId { db_id: 77, session_id: 78 }),
                    earliest_expiry: None,
                },
            )],
            db_id: Some(42),
            wals_added: vec![13],
            wals_sealed: vec![(12, 4096)],
            history_floor: Some(31),
        };
        let enc = e.encode();
        assert_eq!(VersionEdit::decode(&enc, Path::new("M"), 0).expect("decodes"), e);
        for cut in 0..enc.len() {
            // Every strict prefix either decodes to something else or fails; never panics.
            let _ = VersionEdit::decode(&enc[..cut], Path::new("M"), 0);
        }
        assert!(VersionEdit::decode(&[99, 1], Path::new("M"), 0).is_err());
        assert!(VersionEdit::decode(&[4, 9, 1], Path::new("M"), 0).is_err());
    }
}
