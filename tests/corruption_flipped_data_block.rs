//! A byte flipped inside an SSTable data block: `get` and a scan over that block return
//! `Error::Corruption` naming the file, the CLI exits non-zero, and nothing panics or
//! returns a wrong value.

mod common;

use std::ffi::OsStr;

use shaledb::{Compression, Db, Error, Options};

#[test]
fn flipped_byte_in_data_block_is_reported_with_the_file_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = || Options::default().compression(Compression::None);
    {
        let db = Db::open(dir.path(), opts()).expect("open");
        for i in 0..2000u32 {
            db.put(format!("key{i:05}"), common::value_for(u64::from(i), 50))
                .expect("put");
        }
        db.flush().expect("flush");
        db.close().expect("close");
    }
    let sst = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "sst"))
        .expect("a table");
    let mut bytes = std::fs::read(&sst).expect("read table");
    // Offset 100 lies in the first data block (blocks are about 4 KiB).
    bytes[100] ^= 0x55;
    std::fs::write(&sst, &bytes).expect("write table");

    let db = Db::open(dir.path(), opts()).expect("open: the index and footer are intact");
    match db.get("key00000") {
        Err(Error::Corruption { file, offset, .. }) => {
            assert_eq!(file, sst);
            assert_eq!(offset, 0, "the first data block starts at offset 0");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    let scan: Vec<_> = db.iter().collect();
    assert_eq!(scan.len(), 1, "the scan stops at the damaged block");
    assert!(matches!(&scan[0], Err(Error::Corruption { file, .. }) if *file == sst));
    // Walking backwards reaches the damaged block last: every entry before it is returned,
    // then the error, and nothing after it.
    let rev: Vec<_> = db.iter().rev().collect();
    let last = rev.last().expect("items");
    assert!(matches!(last, Err(Error::Corruption { file, .. }) if *file == sst));
    assert!(rev[..rev.len() - 1].iter().all(Result::is_ok));
    assert!(
        rev.len() > 1900 && rev.len() < 2000,
        "entries of intact blocks: {}",
        rev.len() - 1
    );
    // Keys in undamaged blocks still read correctly.
    assert_eq!(
        db.get("key01999").expect("get").as_deref(),
        Some(common::value_for(1999, 50).as_slice())
    );
    db.close().expect("close");

    for cmd in [&["get", "key00000"][..], &["scan"][..]] {
        let mut args = vec![OsStr::new("--db"), dir.path().as_os_str()];
        args.extend(cmd.iter().map(OsStr::new));
        let out = common::shale(&args);
        assert!(!out.status.success(), "{cmd:?} must fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: corruption in "), "{cmd:?}: {err}");
        assert!(
            err.contains(&sst.file_name().expect("name").to_string_lossy().to_string()),
            "{err}"
        );
    }
}
