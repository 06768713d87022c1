//! Appends into a preallocated file (the live WAL) go through a moving shared mapping of
//! its tail on Linux (`fs::RealFs`, docs/format.md §2.1 "Preallocation"). Whatever the
//! path of each append (a copy into the mapped window, a remap at the window's end, a
//! `pwrite` of a long append or past the preallocated end), the file reads back as exactly the appended bytes
//! followed by preallocated zeros, while it is being written and after `truncate_to_len`.

use shaledb::fs::{FileSystem, RealFs};

/// A deterministic byte pattern that differs at every offset of interest.
fn pattern(seed: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((seed * 131 + i * 7) % 251) as u8 + 1)
        .collect()
}

#[test]
fn mapped_appends_read_back_exactly_across_windows_and_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("000001.log");
    let fs = RealFs;
    let mut f = fs.create(&path).expect("create");
    let mut written: Vec<u8> = Vec::new();
    let mut allocated = 0u64;
    // Sizes chosen to straddle 4 KiB pages, the 256 KiB mapping window and the 1 MiB
    // preallocation chunks: small records, one record bigger than a window, odd sizes.
    let sizes: Vec<usize> = (0..3000)
        .map(|i| match i % 7 {
            0 => 150,
            1 => 1,
            2 => 4093,
            3 => 32 << 10,
            4 => 17,
            5 if i % 500 == 5 => 300 << 10,
            _ => 999,
        })
        .collect();
    let chunk = 1u64 << 20;
    for (i, &n) in sizes.iter().enumerate() {
        let data = pattern(i, n);
        let end = written.len() as u64 + n as u64;
        // As the WAL writer does, except that every 11th append outruns the preallocation
        // and so must be written, not copied.
        if end > allocated && i % 11 != 0 {
            let size = (end / chunk + 1) * chunk;
            f.preallocate(size).expect("fallocate");
            allocated = size;
        }
        f.append(&data).expect("append");
        written.extend_from_slice(&data);
        assert_eq!(f.len(), written.len() as u64);
        if i % 250 == 0 {
            let on_disk = fs.read_all(&path).expect("read");
            assert!(on_disk.len() as u64 >= written.len() as u64, "append {i}");
            assert!(
                on_disk[..written.len()] == written[..],
                "append {i}: a prefix differs"
            );
            assert!(
                on_disk[written.len()..].iter().all(|&b| b == 0),
                "append {i}: the preallocated tail is not zero"
            );
        }
    }
    f.sync_data().expect("fdatasync");
    f.truncate_to_len().expect("truncate");
    f.sync_all().expect("fsync");
    drop(f);
    let on_disk = std::fs::read(&path).expect("read");
    assert_eq!(
        on_disk.len(),
        written.len(),
        "truncated to the appended bytes"
    );
    assert!(on_disk == written, "the file is exactly the appended bytes");
}

#[test]
fn a_file_without_preallocation_is_appended_by_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("000002.log");
    let fs = RealFs;
    let mut f = fs.create(&path).expect("create");
    let mut written = Vec::new();
    for i in 0..100 {
        let data = pattern(i, 1000 + i);
        f.append(&data).expect("append");
        written.extend_from_slice(&data);
    }
    f.sync_all().expect("fsync");
    drop(f);
    assert!(std::fs::read(&path).expect("read") == written);
}
