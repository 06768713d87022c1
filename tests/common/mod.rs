//! Helpers shared by the integration tests.
#![allow(dead_code, missing_docs)]

use shaledb::{Db, Options};

/// Options that make flushes and compactions happen after a few kilobytes.
pub fn tiny_options() -> Options {
    Options::default().write_buffer_size(64 << 10).block_size(512).level0_file_num_compaction_trigger(2)
}

/// Every `(key, value)` of the database, as vectors, in iteration order.
pub fn scan_all(db: &Db) -> Vec<(Vec<u8>, Vec<u8>)> {
    db.iter().map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("scan")).collect()
}

/// A deterministic value for key number `i`, `len` bytes long, that compresses somewhat.
pub fn value_for(i: u64, len: usize) -> Vec<u8> {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|j| {
            if j % 2 == 0 {
                b'a' + (j % 26) as u8
            } else {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            }
        })
        .collect()
}
