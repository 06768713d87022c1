//! Issue 11 case 7: every I/O error names the path and the operation, and an unsupported
//! table format version names the table.

use shaledb::{Db, Error, Options};

#[test]
fn a_directory_named_lock_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("LOCK")).expect("mkdir LOCK");
    match Db::open(dir.path(), Options::default()) {
        Err(Error::Io(e)) => {
            let msg = e.to_string();
            assert!(
                msg.contains("LOCK") && msg.contains(&dir.path().display().to_string()),
                "{msg}"
            );
            assert!(msg.starts_with("lock "), "names the operation: {msg}");
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

#[test]
fn an_unsupported_table_format_version_names_the_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    db.put("k", "v").expect("put");
    db.flush().expect("flush");
    drop(db);
    let table = std::fs::read_dir(dir.path())
        .expect("ls")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|x| x == "sst"))
        .expect("a table");
    // The footer's format version is the u32 at 32 bytes into the 48-byte footer; the
    // footer's CRC covers it, so recompute that too (masked CRC-32, as docs/format.md §0).
    let mut bytes = std::fs::read(&table).expect("read");
    let f = bytes.len() - 48;
    bytes[f + 32..f + 36].copy_from_slice(&99u32.to_le_bytes());
    let crc = crc32fast::hash(&bytes[f..f + 36]);
    let masked = crc.rotate_right(15).wrapping_add(0xa282_ead8);
    bytes[f + 36..f + 40].copy_from_slice(&masked.to_le_bytes());
    std::fs::write(&table, &bytes).expect("write");
    match Db::open(dir.path(), Options::default()) {
        Err(e @ Error::UnsupportedFormatVersion { .. }) => {
            let Error::UnsupportedFormatVersion { file, version } = &e else {
                unreachable!()
            };
            assert_eq!((file, *version), (&table, 99));
            assert!(e.to_string().contains(&table.display().to_string()), "{e}");
        }
        other => panic!("expected UnsupportedFormatVersion, got {other:?}"),
    }
}
