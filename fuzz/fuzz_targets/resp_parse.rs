//! The RESP request parser on arbitrary bytes (`shale serve`): `parse` returns a request,
//! "incomplete" or a protocol error, never panics; a request never claims more bytes
//! than it was given; and feeding the same bytes split at any point gives the same first
//! request once the rest arrives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shaledb::server::resp::{parse, Parsed};

fuzz_target!(|data: &[u8]| {
    let whole = parse(data);
    if let Parsed::Request(_, used) = &whole {
        assert!(*used <= data.len() && *used > 0);
    }
    if data.len() > 1 {
        let cut = data.len() / 2;
        match parse(&data[..cut]) {
            Parsed::Request(args, used) => {
                assert_eq!(whole, Parsed::Request(args, used), "a prefix decided differently");
            }
            Parsed::Incomplete | Parsed::Error(_) => {}
        }
    }
});
