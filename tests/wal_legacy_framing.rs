//! Logs in the legacy framing (11-byte headers with the log number, a `u64le` synced size;
//! written before issue 15's fifth stop, docs/format.md §2.1 and §9) still read: record by
//! record, with the torn-tail rule intact, and as the WALs and MANIFEST of a database that
//! then opens with every write.

mod common;

use shaledb::wal::{LogReader, LEGACY_HEADER_LEN, LEGACY_SYNC_PREFIX_LEN, WAL_BLOCK_SIZE_BYTES};
use shaledb::{Db, Options};

/// The masked CRC as docs/format.md (DESIGN.md §0) defines it: CRC-32 (IEEE), rotated right by
/// 15 bits, plus `MASK_DELTA`.
fn masked_crc(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for part in parts {
        for &b in *part {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
    }
    let crc = !crc;
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Encodes `records` (synced size, body) in the legacy framing, as the writer did before
/// the compact framing: a record never starts with fewer than 19 bytes left in a block,
/// a later fragment never with fewer than 11.
fn legacy_log(records: &[(u64, Vec<u8>)], log_number: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for (synced, body) in records {
        let mut payload = synced.to_le_bytes().to_vec();
        payload.extend_from_slice(body);
        let mut rest = &payload[..];
        let mut first = true;
        loop {
            let left = WAL_BLOCK_SIZE_BYTES - out.len() % WAL_BLOCK_SIZE_BYTES;
            let need = if first {
                LEGACY_HEADER_LEN + LEGACY_SYNC_PREFIX_LEN
            } else {
                LEGACY_HEADER_LEN
            };
            if left < need {
                out.extend(std::iter::repeat_n(0u8, left));
                continue;
            }
            let n = rest.len().min(left - LEGACY_HEADER_LEN);
            let last = n == rest.len();
            let ty: u8 = match (first, last) {
                (true, true) => 1,
                (true, false) => 2,
                (false, true) => 4,
                (false, false) => 3,
            };
            let (frag, tail) = rest.split_at(n);
            let len = u16::try_from(n).expect("fits").to_le_bytes();
            let lognum = log_number.to_le_bytes();
            let crc = masked_crc(&[&len, &[ty], &lognum, frag]);
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&len);
            out.push(ty);
            out.extend_from_slice(&lognum);
            out.extend_from_slice(frag);
            rest = tail;
            first = false;
            if last {
                break;
            }
        }
    }
    out
}

fn read_all(data: &[u8], log_number: u64) -> (Vec<Vec<u8>>, Option<shaledb::wal::LogDamage>) {
    let mut r = LogReader::new(data, log_number);
    let mut out = Vec::new();
    loop {
        match r.next_record() {
            Ok(Some((_, rec))) => out.push(rec.into_owned()),
            Ok(None) => return (out, None),
            Err(d) => return (out, Some(d)),
        }
    }
}

/// A legacy log reads back record for record, fragmented records included, and only as
/// the log it names.
#[test]
fn legacy_log_reads_back() {
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let recs = vec![
        (0, b"a".to_vec()),
        (0, big.clone()),
        (0, Vec::new()),
        (40, b"z".to_vec()),
    ];
    let data = legacy_log(&recs, 7);
    assert_eq!(
        read_all(&data, 7),
        (vec![b"a".to_vec(), big, Vec::new(), b"z".to_vec()], None)
    );
    let (got, dmg) = read_all(&data, 8);
    assert!(got.is_empty());
    assert_eq!(
        dmg.expect("another log").kind,
        shaledb::CorruptionKind::Malformed("fragment of another log")
    );
}

/// The legacy reader keeps the torn-tail rule: damage proven synced by a later record's
/// `u64le` synced size is mid-log, and unproven damage is a torn tail.
#[test]
fn legacy_log_damage_is_judged_by_its_synced_sizes() {
    let record_len = LEGACY_HEADER_LEN + LEGACY_SYNC_PREFIX_LEN + 100;
    let recs: Vec<(u64, Vec<u8>)> = (0..10u8).map(|i| (0, vec![i; 100])).collect();
    let mut proven = recs.clone();
    proven.push((10 * record_len as u64, Vec::new())); // a seal covering every record
    for (records, mid_log) in [(recs, false), (proven, true)] {
        let mut data = legacy_log(&records, 7);
        data[record_len + LEGACY_HEADER_LEN + LEGACY_SYNC_PREFIX_LEN + 30] ^= 0x10; // the second record
        let (got, dmg) = read_all(&data, 7);
        assert_eq!(got, vec![vec![0u8; 100]]);
        let d = dmg.expect("damage");
        assert_eq!(d.offset, record_len as u64);
        assert_eq!(d.is_tail, !mid_log, "mid-log: {mid_log}");
    }
}

/// A damaged type byte in a legacy log's first fragment makes it unreadable as legacy;
/// the legacy seal still proves the damage mid-log.
#[test]
fn damaged_first_type_byte_of_a_sealed_legacy_log_is_mid_log() {
    let record_len = LEGACY_HEADER_LEN + LEGACY_SYNC_PREFIX_LEN + 100;
    let recs: Vec<(u64, Vec<u8>)> = (0..10u8)
        .map(|i| (0, vec![i; 100]))
        .chain([(10 * record_len as u64, Vec::new())])
        .collect();
    let clean = legacy_log(&recs, 7);
    for ty in [0u8, 2, 9, 10, 0x80] {
        let mut data = clean.clone();
        data[6] = ty;
        let (got, dmg) = read_all(&data, 7);
        assert!(got.is_empty(), "type {ty}");
        let d = dmg.expect("damage");
        assert_eq!(d.offset, 0, "type {ty}");
        assert!(
            !d.is_tail,
            "type {ty}: the seal proves the first record synced"
        );
    }
}

/// Rewrites a log file of this build in the legacy framing: its records unsynced but for
/// an empty last record (a WAL's seal), which carries its own offset.
fn to_legacy(path: &std::path::Path, number: u64) {
    let data = std::fs::read(path).expect("read log");
    let (records, damage) = read_all(&data, number);
    assert_eq!(damage, None, "{}", path.display());
    let mut out: Vec<(u64, Vec<u8>)> = Vec::new();
    let n = records.len();
    for (i, body) in records.into_iter().enumerate() {
        let synced = if i + 1 == n && body.is_empty() {
            legacy_log(&out, number as u32).len() as u64
        } else {
            0
        };
        out.push((synced, body));
    }
    std::fs::write(path, legacy_log(&out, number as u32)).expect("write legacy log");
}

/// A database whose MANIFEST and WALs are all in the legacy framing (as an older build
/// leaves them at a clean close) opens with every write: the flushed ones through the
/// MANIFEST, the others replayed from the WAL.
#[test]
fn a_database_with_legacy_logs_opens_with_every_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut expect = Vec::new();
    {
        let db = Db::open(dir.path(), Options::default()).expect("open");
        for i in 0..2000u64 {
            let (k, v) = (format!("key{i:05}").into_bytes(), common::value_for(i, 60));
            db.put(&k, &v).expect("put");
            expect.push((k, v));
            if i == 999 {
                db.flush().expect("flush");
            }
        }
        db.close().expect("close");
    }
    let mut converted = 0;
    for entry in std::fs::read_dir(dir.path()).expect("ls") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_owned();
        let number = if let Some(n) = name.strip_suffix(".log") {
            n.parse::<u64>().ok()
        } else {
            name.strip_prefix("MANIFEST-")
                .and_then(|n| n.parse::<u64>().ok())
        };
        if let Some(number) = number {
            to_legacy(&path, number);
            converted += 1;
        }
    }
    assert!(converted >= 2, "a MANIFEST and a WAL: {converted}");
    let db = Db::open(dir.path(), Options::default()).expect("open legacy logs");
    assert!(
        db.recovery_report().records_replayed >= 1000,
        "{:?}",
        db.recovery_report()
    );
    expect.sort();
    assert_eq!(common::scan_all(&db), expect);
}
