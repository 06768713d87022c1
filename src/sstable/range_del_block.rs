//! The range-deletion block (after RocksDB's range-deletion meta block): a table's range
//! tombstones, fragmented, stored as one block named [`RANGE_DEL_BLOCK_NAME`] in the
//! metaindex.
//!
//! # Format
//! docs/format.md §3.8. A block in the usual block format (prefix-compressed entries,
//! restart array, trailer with compression type and CRC), uncompressed. One entry per
//! (fragment, covering sequence number): the key is the internal key
//! `fragment.start ++ (seqno << 8 | 3)` ([`ValueType::RangeDeletion`]), the value is
//! `fragment.end`. Entries sort in internal-key order (start ascending, then sequence
//! number descending), so the entries of one fragment are adjacent, newest first.
//! Decoding checks that fragments are disjoint, non-empty and sorted.

use bytes::Bytes;

use super::block::{Block, BlockBuilder};
use crate::key::{compare_internal_keys, encode_internal_key, ParsedInternalKey, ValueType};
use crate::range_del::{Fragment, FragmentedRangeTombstones};

/// Name of the range-deletion block in the metaindex block.
pub const RANGE_DEL_BLOCK_NAME: &[u8] = b"shaledb.range_del";

/// Entries between restart points in a range-deletion block.
pub const RANGE_DEL_RESTART_INTERVAL: usize = 16;

/// Encodes `frags` as a range-deletion block's contents (before the block trailer).
pub fn encode(frags: &FragmentedRangeTombstones) -> Vec<u8> {
    let mut b = BlockBuilder::new(RANGE_DEL_RESTART_INTERVAL);
    for f in frags.fragments() {
        for &s in &f.seqnos {
            b.add(&encode_internal_key(&f.start, s, ValueType::RangeDeletion), &f.end);
        }
    }
    b.finish()
}

/// Decodes a range-deletion block's contents (after the trailer was checked and removed).
///
/// # Errors
/// A static description of what is malformed; the caller names the file and offset.
pub fn decode(data: Bytes) -> std::result::Result<FragmentedRangeTombstones, &'static str> {
    let block = Block::new(data)?;
    let mut it = block.iter(compare_internal_keys);
    it.seek_to_first()?;
    let mut frags: Vec<Fragment> = Vec::new();
    while it.valid() {
        let p = ParsedInternalKey::decode(it.key()).ok_or("bad range tombstone key")?;
        if p.value_type != ValueType::RangeDeletion {
            return Err("range tombstone with a wrong value type");
        }
        let end = it.value();
        match frags.last_mut() {
            Some(f) if f.start.as_ref() == p.user_key => {
                if f.end != end {
                    return Err("range tombstone fragment with two ends");
                }
                f.seqnos.push(p.seqno);
            }
            _ => frags.push(Fragment { start: Bytes::copy_from_slice(p.user_key), end, seqnos: vec![p.seqno] }),
        }
        it.next()?;
    }
    FragmentedRangeTombstones::from_fragments(frags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::range_del::RangeTombstone;

    #[test]
    fn round_trips() {
        let t = |s: &'static str, e: &'static str, seqno| RangeTombstone { start: s.into(), end: e.into(), seqno };
        let f = FragmentedRangeTombstones::new(vec![t("a", "k", 3), t("c", "e", 9), t("c", "z", 4)]);
        let bytes = encode(&f);
        assert_eq!(decode(Bytes::from(bytes)).expect("decodes"), f);
        assert!(decode(Bytes::from_static(b"\x01\x02")).is_err());
    }
}
