//! Unit tests of the log framing, one edge case each, after LevelDB's `log_test`.

use std::sync::Arc;

use parking_lot::Mutex;

use super::*;
use crate::error::CorruptionKind;
use crate::fs::WritableFile;

/// A log file in memory. It preallocates like `fallocate`: `preallocate` zero-extends the
/// bytes (and records the size asked for), `len` stays the appended count, appends
/// overwrite the zeros in place; `truncate_to_len` drops the zeros.
#[derive(Clone, Default)]
struct MemFile {
    bytes: Arc<Mutex<Vec<u8>>>,
    len: Arc<Mutex<usize>>,
    calls: Arc<Mutex<Vec<u64>>>,
}

impl WritableFile for MemFile {
    fn append(&mut self, data: &[u8]) -> std::io::Result<()> {
        let (mut b, mut len) = (self.bytes.lock(), self.len.lock());
        let end = *len + data.len();
        if b.len() < end {
            b.resize(end, 0);
        }
        b[*len..end].copy_from_slice(data);
        *len = end;
        Ok(())
    }
    fn sync_data(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn sync_all(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn len(&self) -> u64 {
        *self.len.lock() as u64
    }
    fn preallocate(&mut self, size: u64) -> std::io::Result<()> {
        self.calls.lock().push(size);
        let mut b = self.bytes.lock();
        let size = usize::try_from(size).expect("small");
        if b.len() < size {
            b.resize(size, 0);
        }
        Ok(())
    }
    fn truncate_to_len(&mut self) -> std::io::Result<()> {
        let len = *self.len.lock();
        self.bytes.lock().truncate(len);
        Ok(())
    }
}

/// Writes `records`, syncing after each one (so every record proves the earlier ones
/// durable), as a synced workload would.
fn write_log(records: &[Vec<u8>]) -> Vec<u8> {
    write_log_with(records, true)
}

fn write_log_with(records: &[Vec<u8>], sync_each: bool) -> Vec<u8> {
    let f = MemFile::default();
    let mut w = LogWriter::new(Box::new(f.clone()), 7);
    for r in records {
        w.add_record(r).expect("append");
        if sync_each {
            w.sync().expect("sync");
        }
    }
    let data = f.bytes.lock().clone();
    data
}

/// Payload bytes of a record with a body of `n` bytes.
fn payload(n: usize) -> usize {
    SYNC_PREFIX_LEN + n
}

fn read_all(data: &[u8]) -> (Vec<Vec<u8>>, Option<LogDamage>) {
    let mut r = LogReader::new(data, 7);
    let mut out = Vec::new();
    loop {
        match r.next_record() {
            Ok(Some((_, rec))) => out.push(rec.into_owned()),
            Ok(None) => return (out, None),
            Err(d) => return (out, Some(d)),
        }
    }
}

#[test]
fn empty_log() {
    assert_eq!(read_all(&[]), (vec![], None));
}

#[test]
fn small_records_round_trip() {
    let recs = vec![b"a".to_vec(), Vec::new(), b"hello".to_vec()];
    assert_eq!(read_all(&write_log(&recs)), (recs, None));
}

#[test]
fn record_fills_block_exactly() {
    let recs = vec![vec![1u8; WAL_BLOCK_SIZE_BYTES - HEADER_LEN - SYNC_PREFIX_LEN], b"next".to_vec()];
    let data = write_log(&recs);
    assert_eq!(data.len(), WAL_BLOCK_SIZE_BYTES + HEADER_LEN + payload(4));
    assert_eq!(read_all(&data), (recs, None));
}

#[test]
fn trailer_shorter_than_header_is_padding() {
    let recs =
        vec![vec![2u8; WAL_BLOCK_SIZE_BYTES - HEADER_LEN - SYNC_PREFIX_LEN - 5], b"after pad".to_vec()];
    assert_eq!(read_all(&write_log(&recs)), (recs, None));
}

#[test]
fn fragmented_record_spans_blocks() {
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let recs = vec![b"x".to_vec(), big, b"y".to_vec()];
    assert_eq!(read_all(&write_log(&recs)), (recs, None));
}

#[test]
fn truncated_tail_is_a_torn_tail() {
    let recs = vec![b"one".to_vec(), vec![3u8; 100]];
    let data = write_log(&recs);
    let second = (HEADER_LEN + payload(3)) as u64;
    for cut in [data.len() - 1, data.len() - 50, second as usize + 5] {
        let (got, dmg) = read_all(&data[..cut]);
        assert_eq!(got, vec![b"one".to_vec()]);
        let d = dmg.expect("damage");
        assert!(d.is_tail);
        assert_eq!(d.offset, second);
    }
}

/// Zeros to the end of the file are a preallocated tail: the log's clean end, whether
/// they start inside a block or at a block boundary.
#[test]
fn zeros_to_the_end_are_a_clean_end() {
    for zeros in [5000, WAL_BLOCK_SIZE_BYTES, 3 * WAL_BLOCK_SIZE_BYTES + 17] {
        let mut data = write_log(&[b"one".to_vec()]);
        data.extend(std::iter::repeat_n(0u8, zeros));
        assert_eq!(read_all(&data), (vec![b"one".to_vec()], None), "{zeros} zeros");
    }
}

/// Zeros with anything non-zero after them are a lost page, not the end: damage, a torn
/// tail since nothing after it proves it synced.
#[test]
fn zeros_then_garbage_are_a_torn_tail() {
    let mut data = write_log(&[b"one".to_vec()]);
    let hole = data.len() as u64;
    data.extend(std::iter::repeat_n(0u8, 5000));
    data.push(0x5a);
    let (got, dmg) = read_all(&data);
    assert_eq!(got, vec![b"one".to_vec()]);
    let d = dmg.expect("damage");
    assert!(d.is_tail);
    assert_eq!(d.offset, hole);
    assert_eq!(d.kind, CorruptionKind::Malformed("zero-filled region"));
}

/// The writer grows the file a chunk ahead of its records, always to a multiple of the
/// chunk; every state of the file reads back as exactly the records written (the zero
/// tail is a clean end); sealing cuts the tail off.
#[test]
fn preallocated_log_grows_by_chunks_and_seal_cuts_the_tail() {
    const CHUNK: u64 = 4096;
    let f = MemFile::default();
    let mut w = LogWriter::new(Box::new(f.clone()), 7);
    w.set_preallocation(CHUNK);
    let mut recs = Vec::new();
    for i in 0..200u32 {
        let rec = vec![(i % 251) as u8; (i as usize * 37) % 700];
        w.add_record(&rec).expect("append");
        w.sync().expect("sync");
        recs.push(rec);
        let data = f.bytes.lock().clone();
        let size = data.len() as u64;
        assert!(size > w.file_size(), "the file stays ahead of the records");
        assert_eq!(size % CHUNK, 0, "grown to a multiple of the chunk");
        assert_eq!(read_all(&data), (recs.clone(), None), "after record {i}");
    }
    let calls = f.calls.lock().clone();
    assert!(calls.len() > 1 && calls.len() < 200, "one growth per chunk: {calls:?}");
    assert!(calls.windows(2).all(|w| w[0] < w[1]));
    w.seal().expect("seal");
    let data = f.bytes.lock().clone();
    assert_eq!(data.len() as u64, w.file_size(), "a sealed log is exactly its records");
    recs.push(Vec::new()); // the seal record
    assert_eq!(read_all(&data), (recs, None));
}

#[test]
fn checksum_mismatch_before_valid_block_is_mid_log_corruption() {
    let recs: Vec<Vec<u8>> = (0..100).map(|i| vec![i as u8; 1000]).collect();
    let mut data = write_log(&recs);
    data[HEADER_LEN + SYNC_PREFIX_LEN + 10] ^= 0x40; // inside the first record's body
    let (got, dmg) = read_all(&data);
    assert!(got.is_empty());
    let d = dmg.expect("damage");
    assert!(!d.is_tail, "valid blocks follow, so this is not a torn tail");
    assert_eq!(d.offset, 0);
    assert!(matches!(d.kind, CorruptionKind::ChecksumMismatch { .. }));
}

#[test]
fn bad_length_is_detected() {
    let mut data = write_log(&[b"abc".to_vec()]);
    data[4] = 0xff;
    data[5] = 0xff;
    let (_, dmg) = read_all(&data);
    assert_eq!(dmg.expect("damage").kind, CorruptionKind::BadLength);
}

#[test]
fn unexpected_middle_fragment_is_damage() {
    let big = vec![9u8; WAL_BLOCK_SIZE_BYTES * 2];
    let data = write_log(&[big]);
    // Start reading at the second block: it begins with a MIDDLE fragment.
    let (got, dmg) = read_all(&data[WAL_BLOCK_SIZE_BYTES..]);
    assert!(got.is_empty());
    assert!(matches!(dmg.expect("damage").kind, CorruptionKind::Malformed(_)));
}

#[test]
fn fragment_of_another_log_is_rejected() {
    let data = write_log(&[b"abc".to_vec()]);
    let mut r = LogReader::new(&data, 8);
    assert!(r.next_record().is_err());
}

#[test]
fn torn_record_spanning_many_blocks_is_a_torn_tail() {
    let big = vec![5u8; WAL_BLOCK_SIZE_BYTES * 3];
    let data = write_log(&[b"first".to_vec(), big]);
    // Cut inside the last block: the record's FIRST and MIDDLE fragments before the cut
    // are valid, and must not count as evidence of later data.
    let cut = data.len() - 100;
    assert!(cut > WAL_BLOCK_SIZE_BYTES * 2);
    let (got, dmg) = read_all(&data[..cut]);
    assert_eq!(got, vec![b"first".to_vec()]);
    let d = dmg.expect("damage");
    assert!(d.is_tail);
    assert_eq!(d.offset, (HEADER_LEN + payload(5)) as u64);
}

#[test]
fn damage_followed_by_a_valid_record_in_the_same_block_is_mid_log() {
    let recs: Vec<Vec<u8>> = (0..20).map(|i| vec![i as u8; 30]).collect();
    let mut data = write_log(&recs);
    assert!(data.len() < WAL_BLOCK_SIZE_BYTES, "all records in one block");
    data[HEADER_LEN + 5] ^= 0x01; // the first record's payload
    let (got, dmg) = read_all(&data);
    assert!(got.is_empty());
    assert!(!dmg.expect("damage").is_tail, "19 valid records follow it");
}

#[test]
fn unsynced_damage_before_unsynced_records_is_a_torn_tail() {
    // A power loss may keep later unsynced pages and lose earlier ones: nothing after the
    // damage proves it had been synced, so the whole unsynced suffix is a torn tail.
    let recs: Vec<Vec<u8>> = (0..100).map(|i| vec![i as u8; 1000]).collect();
    let mut data = write_log_with(&recs, false);
    data[HEADER_LEN + SYNC_PREFIX_LEN + 10] ^= 0x40;
    let (got, dmg) = read_all(&data);
    assert!(got.is_empty());
    assert!(dmg.expect("damage").is_tail);
}

#[test]
fn seal_record_proves_everything_before_it_durable() {
    let f = MemFile::default();
    let mut w = LogWriter::new(Box::new(f.clone()), 7);
    for i in 0..10u8 {
        w.add_record(&[i; 100]).expect("append");
    }
    w.seal().expect("seal");
    let mut data = f.bytes.lock().clone();
    data[HEADER_LEN + SYNC_PREFIX_LEN + 3] ^= 0x01;
    let (_, dmg) = read_all(&data);
    assert!(!dmg.expect("damage").is_tail, "the seal record proves the first record was synced");
}

#[test]
fn a_record_never_starts_without_room_for_its_sync_prefix() {
    // Leave 15 bytes in the block: more than a header, less than header + prefix.
    let first = vec![1u8; WAL_BLOCK_SIZE_BYTES - HEADER_LEN - SYNC_PREFIX_LEN - 15];
    let data = write_log(&[first.clone(), b"second".to_vec()]);
    assert_eq!(data.len(), WAL_BLOCK_SIZE_BYTES + HEADER_LEN + payload(6), "15 bytes of padding");
    assert_eq!(read_all(&data), (vec![first, b"second".to_vec()], None));
}
