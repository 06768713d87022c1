//! MANIFEST and version-edit decoding on arbitrary bytes: every record of a MANIFEST-framed
//! log is decoded as an edit; `Ok` or `Err`, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use shaledb::version::edit::VersionEdit;
use shaledb::wal::LogReader;

fuzz_target!(|data: &[u8]| {
    let _ = VersionEdit::decode(data, Path::new("MANIFEST-000001"), 0);
    let mut r = LogReader::new(data, 1);
    while let Ok(Some((offset, rec))) = r.next_record() {
        if let Ok(e) = VersionEdit::decode(&rec, Path::new("MANIFEST-000001"), offset) {
            // A decoded edit re-encodes to something that decodes to the same edit.
            let again = VersionEdit::decode(&e.encode(), Path::new("x"), 0).expect("round trip");
            assert_eq!(again, e);
        }
    }
});
