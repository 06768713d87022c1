//! Ties docs/format.md to the code: every `| constant | value |` table row there must name
//! a constant listed here with the same value, and every constant listed here must appear
//! in the document. Changing an on-disk constant without its documentation (or the other
//! way round) fails this test.

use std::collections::BTreeMap;

/// The on-disk constants, by the name docs/format.md gives them.
fn code_constants() -> BTreeMap<&'static str, u128> {
    let c: [(&str, u128); 36] = [
        ("TABLE_MAGIC", crate::sstable::format::TABLE_MAGIC.into()),
        ("FORMAT_VERSION", crate::sstable::format::FORMAT_VERSION.into()),
        ("FOOTER_LEN", crate::sstable::format::FOOTER_LEN as u128),
        ("BLOCK_TRAILER_LEN", crate::sstable::format::BLOCK_TRAILER_LEN as u128),
        ("MAX_BLOCK_BYTES", crate::sstable::format::MAX_BLOCK_BYTES as u128),
        ("WAL_BLOCK_SIZE_BYTES", crate::wal::WAL_BLOCK_SIZE_BYTES as u128),
        ("HEADER_LEN", crate::wal::HEADER_LEN as u128),
        ("SYNC_PREFIX_MAX_LEN", crate::wal::SYNC_PREFIX_MAX_LEN as u128),
        ("LEGACY_HEADER_LEN", crate::wal::LEGACY_HEADER_LEN as u128),
        ("LEGACY_SYNC_PREFIX_LEN", crate::wal::LEGACY_SYNC_PREFIX_LEN as u128),
        ("COMPACT_TYPE_BASE", crate::wal::COMPACT_TYPE_BASE.into()),
        ("BATCH_HEADER_LEN", crate::batch::BATCH_HEADER_LEN as u128),
        ("SHARED_SEQNO_FLAG", crate::batch::SHARED_SEQNO_FLAG.into()),
        ("TRAILER_LEN", crate::key::TRAILER_LEN as u128),
        ("MAX_SEQUENCE_NUMBER", crate::key::MAX_SEQUENCE_NUMBER.into()),
        ("VALUE_TYPE_FOR_SEEK", crate::key::VALUE_TYPE_FOR_SEEK.into()),
        ("MASK_DELTA", crate::checksum::MASK_DELTA.into()),
        ("TAG_LOG_NUMBER", crate::version::edit::TAG_LOG_NUMBER.into()),
        ("TAG_NEXT_FILE_NUMBER", crate::version::edit::TAG_NEXT_FILE_NUMBER.into()),
        ("TAG_LAST_SEQUENCE", crate::version::edit::TAG_LAST_SEQUENCE.into()),
        ("TAG_DELETED_FILE", crate::version::edit::TAG_DELETED_FILE.into()),
        ("TAG_NEW_FILE", crate::version::edit::TAG_NEW_FILE.into()),
        ("NUM_LEVELS", crate::version::NUM_LEVELS as u128),
        ("EXPIRY_HEADER_LEN", crate::key::EXPIRY_HEADER_LEN as u128),
        ("TAG_DB_ID", crate::version::edit::TAG_DB_ID.into()),
        ("TAG_WAL_ADDED", crate::version::edit::TAG_WAL_ADDED.into()),
        ("TAG_WAL_SEALED", crate::version::edit::TAG_WAL_SEALED.into()),
        ("TAG_NEW_FILE_WITH_ID", crate::version::edit::TAG_NEW_FILE_WITH_ID.into()),
        ("TAG_HISTORY_FLOOR", crate::version::edit::TAG_HISTORY_FLOOR.into()),
        ("HISTORY_OFF", crate::version::edit::HISTORY_OFF.into()),
        ("MAX_FILE_NUMBER", crate::filename::MAX_FILE_NUMBER.into()),
        ("FILE_NUMBER_HEADROOM", crate::filename::FILE_NUMBER_HEADROOM.into()),
        ("VALUE_TYPE_RANGE_DELETION", (crate::key::ValueType::RangeDeletion as u8).into()),
        ("RANGE_DEL_RESTART_INTERVAL", crate::sstable::range_del_block::RANGE_DEL_RESTART_INTERVAL as u128),
        ("BLOCKED_LINE_BYTES", crate::sstable::filter::BLOCKED_LINE_BYTES as u128),
        ("BLOCKED_PROBE_MULTIPLIER", crate::sstable::filter::BLOCKED_PROBE_MULTIPLIER.into()),
    ];
    #[allow(unused_mut)]
    let mut map: BTreeMap<&'static str, u128> = c.into_iter().collect();
    #[cfg(feature = "raft")]
    {
        use crate::raft::snapshot as s;
        map.insert("SNAPSHOT_MAGIC", u64::from_le_bytes(s::SNAPSHOT_MAGIC).into());
        map.insert("SNAPSHOT_FORMAT_VERSION", s::SNAPSHOT_FORMAT_VERSION.into());
        map.insert("SNAPSHOT_TAG_PAIR", s::SNAPSHOT_TAG_PAIR.into());
        map.insert("SNAPSHOT_TAG_END", s::SNAPSHOT_TAG_END.into());
        map.insert("SNAPSHOT_HEADER_LEN", s::SNAPSHOT_HEADER_LEN as u128);
        map.insert("SNAPSHOT_TRAILER_LEN", s::SNAPSHOT_TRAILER_LEN as u128);
        map.insert("SNAPSHOT_CHUNK", crate::raft::SNAPSHOT_CHUNK as u128);
    }
    map
}

/// Constants of docs/format.md that only a build with the cargo feature `raft` has.
fn feature_gated(name: &str) -> bool {
    !cfg!(feature = "raft") && name.starts_with("SNAPSHOT_")
}

/// Parses `48`, `0x30` or `268435456`.
fn parse_value(s: &str) -> Option<u128> {
    let s = s.trim().replace('_', "");
    match s.strip_prefix("0x") {
        Some(h) => u128::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The rows of every `| constant | value |` table in `doc`.
fn doc_constants(doc: &str) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in doc.lines() {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').map(str::trim).collect();
        if !line.trim_start().starts_with('|') {
            in_table = false;
        } else if cells == ["constant", "value"] {
            in_table = true;
        } else if in_table && !cells[0].starts_with("---") && cells.len() >= 2 {
            rows.push((cells[0].trim_matches('`').to_owned(), cells[1].to_owned()));
        }
    }
    rows
}

#[test]
fn format_doc_constants_match_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/format.md");
    let doc = std::fs::read_to_string(&path).expect("docs/format.md is readable");
    let code = code_constants();
    let rows = doc_constants(&doc);
    assert!(!rows.is_empty(), "no `| constant | value |` table in docs/format.md");
    let mut seen = std::collections::BTreeSet::new();
    for (name, value) in &rows {
        if feature_gated(name) {
            continue;
        }
        let want = code
            .get(name.as_str())
            .unwrap_or_else(|| panic!("docs/format.md names {name}, unknown to the code"));
        let got = parse_value(value).unwrap_or_else(|| panic!("{name}: bad value {value:?}"));
        assert_eq!(got, *want, "{name}: docs/format.md says {value}, the code {want:#x}");
        seen.insert(name.as_str());
    }
    for name in code.keys() {
        assert!(seen.contains(name), "{name} is missing from docs/format.md's constant tables");
    }
}

#[test]
fn the_parser_reads_tables_and_values() {
    let doc = "x\n| constant | value |\n|---|---|\n| `A` | 0x10 |\n| `B` | 7 |\n\n| other | value |\n|---|---|\n| `C` | 1 |\n";
    assert_eq!(doc_constants(doc), vec![("A".into(), "0x10".into()), ("B".into(), "7".into())]);
    assert_eq!(parse_value("0x10"), Some(16));
    assert_eq!(parse_value("268435456"), Some(256 << 20));
    assert_eq!(parse_value("big"), None);
}
