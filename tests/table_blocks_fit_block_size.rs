//! Data blocks end at or under `block_size` (docs/format.md §3.1, RocksDB's
//! `block_size_deviation`): a block at least 90 % full is cut before an entry that would
//! take it past `block_size`, so a decompressed block fits the allocator's size class of
//! `block_size`. Only an entry larger than a tenth of `block_size` can make a block exceed
//! it, and then by that one entry.

use shaledb::sstable::Table;
use shaledb::{Compression, Db, Options};

/// Sizes of the data blocks of every table in `dir` (stored uncompressed, so a handle's
/// size is the block's contents).
fn data_block_sizes(dir: &std::path::Path) -> Vec<u64> {
    let mut sizes = Vec::new();
    for entry in std::fs::read_dir(dir).expect("ls") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "sst") {
            let table = Table::open(&shaledb::fs::RealFs, &path).expect("table");
            sizes.extend(
                table
                    .index_entries()
                    .expect("index")
                    .iter()
                    .map(|(_, h)| h.size),
            );
        }
    }
    sizes
}

#[test]
fn data_blocks_end_at_or_under_block_size() {
    const BLOCK: usize = 4096;
    // (value bytes, the largest block allowed): small entries never pass `block_size`; an
    // entry over a tenth of it may, by at most itself.
    let cases: [(usize, usize); 4] = [
        (10, BLOCK),
        (100, BLOCK),
        (300, BLOCK),
        (1000, BLOCK + 16 + 8 + 1000 + 3 + 4),
    ];
    for (value_len, largest_allowed) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(
            dir.path(),
            Options::default()
                .block_size(BLOCK)
                .compression(Compression::None),
        )
        .expect("open");
        for i in 0..20_000u64 {
            let key = format!(
                "{:016}",
                i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % 1_000_000_007
            );
            db.put(key, vec![b'v'; value_len]).expect("put");
        }
        db.flush().expect("flush");
        let sizes = data_block_sizes(dir.path());
        assert!(
            sizes.len() > 10,
            "value {value_len}: {} blocks",
            sizes.len()
        );
        let largest = *sizes.iter().max().expect("blocks");
        assert!(
            largest as usize <= largest_allowed,
            "value {value_len}: a {largest}-byte block"
        );
        // All but the last block of a table are at least 90 % full (one table here).
        let mut full = sizes.clone();
        full.sort_unstable();
        assert!(
            full[1..]
                .iter()
                .all(|&s| s as usize * 10 >= BLOCK * 9 || value_len >= BLOCK / 10),
            "value {value_len}: blocks {:?}",
            &full[..5]
        );
    }
}
