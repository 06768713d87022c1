//! Range-deletion block decoding on arbitrary bytes (docs/format.md §3.8): `decode` returns
//! `Ok` or `Err`, never panics; what it accepts satisfies the fragment invariant, answers
//! lookups without panicking, and re-encodes to a block that decodes to the same fragments.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shaledb::sstable::range_del_block::{decode, encode};

fuzz_target!(|data: &[u8]| {
    let Ok(frags) = decode(bytes::Bytes::copy_from_slice(data)) else { return };
    assert!(frags.check().is_ok(), "decode accepted fragments that break the invariant");
    for probe in [&b""[..], b"a", b"m", b"\xff\xff"] {
        let _ = frags.max_covering(probe, u64::MAX);
    }
    if let Some(f) = frags.fragments().first() {
        assert!(frags.max_covering(&f.start, u64::MAX) >= f.seqnos[0]);
    }
    let again = decode(bytes::Bytes::from(encode(&frags))).expect("a re-encoded block decodes");
    assert_eq!(again, frags);
});
