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

/// Payload bytes of a record with a body of `n` bytes written when the log had been
/// synced through `synced` bytes: the varint synced size, then the body.
fn payload(synced: u64, n: usize) -> usize {
    crate::coding::varint_len(synced) + n
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
    let recs = vec![vec![1u8; WAL_BLOCK_SIZE_BYTES - HEADER_LEN - payload(0, 0)], b"next".to_vec()];
    let data = write_log(&recs);
    let block = WAL_BLOCK_SIZE_BYTES as u64;
    assert_eq!(data.len(), WAL_BLOCK_SIZE_BYTES + HEADER_LEN + payload(block, 4));
    assert_eq!(read_all(&data), (recs, None));
}

#[test]
fn trailer_shorter_than_header_is_padding() {
    let recs =
        vec![vec![2u8; WAL_BLOCK_SIZE_BYTES - HEADER_LEN - payload(0, 0) - 5], b"after pad".to_vec()];
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
    let second = (HEADER_LEN + payload(0, 3)) as u64;
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
    for zeros in [3, 5000, WAL_BLOCK_SIZE_BYTES, 3 * WAL_BLOCK_SIZE_BYTES + 17] {
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
    data[HEADER_LEN + payload(0, 10)] ^= 0x40; // inside the first record's body
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

/// The log number is not stored, but it is in the CRC: the bytes of log 7 read as log 8
/// fail their checksum.
#[test]
fn fragment_of_another_log_is_rejected() {
    let data = write_log(&[b"abc".to_vec()]);
    let mut r = LogReader::new(&data, 8);
    let d = r.next_record().expect_err("another log's fragment");
    assert!(matches!(d.kind, CorruptionKind::ChecksumMismatch { .. }), "{d:?}");
    assert_eq!(d.offset, 0);
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
    assert_eq!(d.offset, (HEADER_LEN + payload(0, 5)) as u64);
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
    data[HEADER_LEN + payload(0, 10)] ^= 0x40;
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
    data[HEADER_LEN + payload(0, 3)] ^= 0x01;
    let (_, dmg) = read_all(&data);
    assert!(!dmg.expect("damage").is_tail, "the seal record proves the first record was synced");
}

#[test]
fn a_record_never_starts_without_room_for_its_sync_prefix() {
    // Leave 15 bytes in the block: more than a header, less than a header and the longest
    // prefix (the second record's prefix would fit, but the rule does not look at it).
    let first = vec![1u8; WAL_BLOCK_SIZE_BYTES - HEADER_LEN - payload(0, 0) - 15];
    let data = write_log(&[first.clone(), b"second".to_vec()]);
    let block = WAL_BLOCK_SIZE_BYTES as u64;
    assert_eq!(data.len(), WAL_BLOCK_SIZE_BYTES + HEADER_LEN + payload(block, 6), "15 bytes of padding");
    assert_eq!(read_all(&data), (vec![first, b"second".to_vec()], None));
}

/// An unsynced put's record costs the 7-byte header and a 1-byte synced size before its
/// batch; a synced log's records carry the synced size as a varint.
#[test]
fn record_overhead_is_a_seven_byte_header_and_a_varint() {
    let unsynced = write_log_with(&[vec![0u8; 131], vec![0u8; 131]], false);
    assert_eq!(unsynced.len(), 2 * (HEADER_LEN + 1 + 131));
    assert_eq!(unsynced[6], COMPACT_TYPE_BASE + FragmentType::Full as u8);
    assert_eq!(unsynced[HEADER_LEN], 0, "never synced: the prefix is the varint 0");
    let synced = write_log(&[vec![0u8; 131], vec![0u8; 131]]);
    let second = HEADER_LEN + 1 + 131;
    assert_eq!(synced[second + HEADER_LEN], 139, "the second record says 139 bytes were synced");
    assert_eq!(synced.len(), second + HEADER_LEN + payload(139, 131));
}

/// Damage to the first fragment's type byte leaves nothing that says which framing the
/// log uses; the seal later in the log still proves the damage mid-log (the legacy
/// framing's case is in tests/wal_legacy_framing.rs).
#[test]
fn damaged_first_type_byte_of_a_sealed_log_is_mid_log() {
    let f = MemFile::default();
    let mut w = LogWriter::new(Box::new(f.clone()), 7);
    for i in 0..10u8 {
        w.add_record(&[i; 100]).expect("append");
    }
    w.seal().expect("seal");
    let clean = f.bytes.lock().clone();
    for ty in [0u8, 1, 2, 10, 0x80] {
        let mut data = clean.clone();
        data[6] = ty;
        let (got, dmg) = read_all(&data);
        assert!(got.is_empty(), "type {ty}");
        let d = dmg.expect("damage");
        assert_eq!(d.offset, 0, "type {ty}");
        assert!(!d.is_tail, "type {ty}: the seal proves the first record synced");
    }
}

/// Every single-byte change to a sealed log, fragmented records and block padding
/// included, either leaves the records readable as written (a change to padding too short
/// for a header) or is reported at or before the byte changed; damage before the seal is
/// mid-log, since the seal proves every earlier byte synced. Never a wrong record.
#[test]
fn every_byte_change_to_a_sealed_log_is_caught() {
    let f = MemFile::default();
    let mut w = LogWriter::new(Box::new(f.clone()), 7);
    let mut recs: Vec<Vec<u8>> = Vec::new();
    for i in 0..40u32 {
        let len = match i % 10 {
            3 => 40_000, // FIRST, MIDDLE, LAST
            7 => WAL_BLOCK_SIZE_BYTES - 20,
            _ => (i as usize * 131) % 900,
        };
        let rec: Vec<u8> = (0..len).map(|j| (j as u32 * 7 + i) as u8).collect();
        w.add_record(&rec).expect("append");
        if i % 4 == 0 {
            w.sync().expect("sync");
        }
        recs.push(rec);
    }
    w.seal().expect("seal");
    let clean = f.bytes.lock().clone();
    recs.push(Vec::new());
    assert_eq!(read_all(&clean), (recs.clone(), None));
    let seal_at = {
        let mut r = LogReader::new(&clean, 7);
        let mut last = 0;
        while let Ok(Some((off, _))) = r.next_record() {
            last = off;
        }
        last
    };
    let positions = (0..400).chain((400..clean.len()).step_by(89)).chain(clean.len() - 12..clean.len());
    for pos in positions {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut data = clean.clone();
            data[pos] ^= flip;
            let (got, dmg) = read_all(&data);
            assert_eq!(got[..], recs[..got.len()], "byte {pos} ^ {flip:#x}: records read are as written");
            match dmg {
                None => assert_eq!(got.len(), recs.len(), "byte {pos} ^ {flip:#x}: nothing lost silently"),
                Some(d) => {
                    assert!(d.offset <= pos as u64, "byte {pos} ^ {flip:#x}: reported at {}", d.offset);
                    if d.offset < seal_at {
                        assert!(!d.is_tail, "byte {pos} ^ {flip:#x}: proven synced by the seal");
                    }
                }
            }
        }
    }
}

/// Arbitrary bytes never panic the reader, as a log of either framing.
#[test]
fn arbitrary_bytes_never_panic() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for case in 0..3000 {
        let len = (next() % 300) as usize + if case % 50 == 0 { WAL_BLOCK_SIZE_BYTES } else { 0 };
        let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Bias towards plausible headers: type bytes of both framings, small lengths.
        if len > 12 {
            data[6] = [1u8, 2, 9, 10, 11, 12][case % 6];
            data[4] = (next() % 40) as u8;
            data[5] = 0;
        }
        let mut r = LogReader::new(&data, 7);
        while let Ok(Some(_)) = r.next_record() {}
    }
}
