//! Table open and full iteration on arbitrary bytes: `Ok` or `Err`, never a panic, a hang
//! or an unbounded allocation.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use shaledb::fs::sim::SimFs;
use shaledb::fs::FileSystem;
use shaledb::iterator::InternalIterator;
use shaledb::sstable::{BlockReadOptions, Table};

fuzz_target!(|data: &[u8]| {
    let fs = SimFs::new();
    let _ = fs.create_dir_all(Path::new("/t"));
    let Ok(mut f) = fs.create(Path::new("/t/000001.sst")) else { return };
    let _ = f.append(data);
    let Ok(table) = Table::open(&fs, Path::new("/t/000001.sst")) else { return };
    let table = std::sync::Arc::new(table);
    let _ = table.get(b"key", u64::MAX >> 8, shaledb::sstable::filter::key_hash(b"key"), BlockReadOptions::default());
    let mut it = table.iter(BlockReadOptions::default());
    if it.seek_to_first().is_ok() {
        let mut n = 0;
        while it.valid() && n < 1_000_000 && it.next().is_ok() {
            n += 1;
        }
    }
    if it.seek_to_last().is_ok() {
        let mut n = 0;
        while it.valid() && n < 1_000_000 && it.prev().is_ok() {
            n += 1;
        }
    }
});
