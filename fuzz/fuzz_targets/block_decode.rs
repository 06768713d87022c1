//! Block decoding on arbitrary bytes: seek and iterate return `Ok` or `Err`, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shaledb::sstable::block::Block;

fuzz_target!(|data: &[u8]| {
    let Ok(block) = Block::new(bytes::Bytes::copy_from_slice(data)) else { return };
    let mut it = block.iter(|a, b| a.cmp(b));
    if it.seek_to_first().is_ok() {
        let mut steps = 0;
        while it.valid() && steps < 1_000_000 {
            if it.next().is_err() {
                break;
            }
            steps += 1;
        }
    }
    let _ = it.seek(b"m");
});
