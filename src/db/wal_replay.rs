//! Recovery step 5's inner loop: replaying one WAL's records into the recovery memtable
//! under a `WalRecoveryMode` (docs/format.md §2.2 decides torn tail versus mid-log
//! damage), and reading the largest sequence number of a WAL that is not replayed.

use std::path::Path;

use super::recovery::RecoveryReport;
use super::replay_sort::SortedReplay;
use crate::batch::{decode_rep, insert_into};
use crate::error::{CorruptionKind, Error, Result};
use crate::filename::wal_path;
use crate::fs::FileSystem;
use crate::key::SequenceNumber;
use crate::memtable::MemTable;
use crate::options::WalRecoveryMode;
use crate::wal::LogReader;

/// Where replayed records go.
pub(super) enum ReplaySink<'a> {
    /// Into a memtable: a read-only open serves them from it.
    Mem(&'a MemTable),
    /// Into one sort, then straight into a table: a read-write open flushes them at once
    /// (`replay_sort`).
    Sorted(&'a mut SortedReplay),
}

/// Replays WALs into one sink under one recovery mode.
pub(super) struct WalReplay<'a> {
    /// The database directory.
    pub dir: &'a Path,
    /// What to do with damage.
    pub mode: WalRecoveryMode,
    /// Where the records go.
    pub sink: ReplaySink<'a>,
}

impl WalReplay<'_> {
    /// Replays WAL `number` (its bytes are `data`) into the sink. Returns true if replay
    /// must stop here (point-in-time mode met damage).
    pub(super) fn replay(
        &mut self,
        number: u64,
        data: &bytes::Bytes,
        is_last: bool,
        last_seqno: &mut SequenceNumber,
        report: &mut RecoveryReport,
    ) -> Result<bool> {
        let (dir, mode) = (self.dir, self.mode);
        let path = wal_path(dir, number);
        report.wals_replayed += 1;
        let mut reader = LogReader::new(data, number);
        if let ReplaySink::Sorted(sorted) = &mut self.sink {
            sorted.begin_wal(data);
        }
        loop {
            match reader.next_record() {
                Ok(None) => return Ok(false),
                Ok(Some((_, rec))) if rec.is_empty() => {} // the seal record of a retired WAL
                Ok(Some((offset, rec))) => {
                    // A record in one fragment is a slice of the WAL's bytes (no copy).
                    let rec = match rec {
                        std::borrow::Cow::Borrowed(body) => data.slice_ref(body),
                        std::borrow::Cow::Owned(v) => bytes::Bytes::from(v),
                    };
                    let d = decode_rep(&rec, &path, offset)?;
                    let (first, last) = (d.first, d.last());
                    if first <= *last_seqno && !d.ops.is_empty() && last > *last_seqno {
                        return Err(Error::corruption(
                            &path,
                            offset,
                            CorruptionKind::Malformed("sequence numbers overlap"),
                        ));
                    }
                    if first > *last_seqno && !d.ops.is_empty() {
                        match &mut self.sink {
                            ReplaySink::Mem(mem) => {
                                insert_into(mem, &rec, first, d.ops.iter().copied(), d.shared_seqno);
                            }
                            ReplaySink::Sorted(sorted) => {
                                sorted.add(rec, first, &d.ops, d.shared_seqno, &path, offset)?;
                            }
                        }
                        *last_seqno = last;
                        report.entries_replayed += d.ops.len() as u64;
                    }
                    report.records_replayed += 1;
                }
                Err(d) => {
                    let tolerated = match mode {
                        WalRecoveryMode::TolerateCorruptedTailRecords => d.is_tail && is_last,
                        WalRecoveryMode::AbsoluteConsistency => false,
                        WalRecoveryMode::PointInTimeRecovery => true,
                    };
                    if !tolerated {
                        let kind = if d.is_tail { d.kind } else { CorruptionKind::MidLogCorruption };
                        return Err(Error::corruption(&path, d.offset, kind));
                    }
                    log::warn!(
                        "{}: dropping {} bytes from offset {}: {}",
                        path.display(),
                        d.bytes_after,
                        d.offset,
                        d.kind
                    );
                    report.tail_records_dropped += 1;
                    report.tail_bytes_dropped += d.bytes_after;
                    report.tail_dropped_from.get_or_insert_with(|| (path.clone(), d.offset));
                    return Ok(mode == WalRecoveryMode::PointInTimeRecovery);
                }
            }
        }
    }
}

/// The largest sequence number among the readable records of a WAL that is not replayed.
pub(super) fn max_seqno_in(fs: &dyn FileSystem, dir: &Path, number: u64) -> Result<SequenceNumber> {
    let data = fs.read_all(&wal_path(dir, number))?;
    let mut reader = LogReader::new(&data, number);
    let mut max = 0;
    while let Ok(Some((_, rec))) = reader.next_record() {
        if rec.is_empty() {
            continue;
        }
        let first = crate::coding::get_u64(&rec).unwrap_or(0);
        let raw = rec.get(8..).and_then(crate::coding::get_u32).unwrap_or(0);
        let flag = crate::batch::SHARED_SEQNO_FLAG;
        let used = if raw & flag != 0 { u64::from(raw != flag) } else { u64::from(raw) };
        max = max.max((first + used).saturating_sub(1));
    }
    Ok(max)
}
