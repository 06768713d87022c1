//! The WAL reader on arbitrary bytes: every record read or damage reported, never a
//! panic, a hang or an unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shaledb::wal::LogReader;

fuzz_target!(|data: &[u8]| {
    let mut reader = LogReader::new(data, 7);
    // Each call consumes at least one fragment header or ends the log, so this terminates.
    while let Ok(Some(_)) = reader.next_record() {}
});
