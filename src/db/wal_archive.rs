//! WAL retention (`Options::wal_retention`): a WAL whose memtable is flushed moves to
//! `archive/` under the database directory instead of being deleted, and the archive is
//! trimmed by size (oldest first) and age. The change feed (`Db::changes_since`, `Db::watch`)
//! reads archived and live WALs (DESIGN.md §5.16).
//!
//! Nothing in the archive is needed for recovery: every archived WAL's data is in tables
//! the MANIFEST names. A crash between a flush's MANIFEST edit and the move leaves the WAL
//! in the database directory, and the next open moves it (R4 holds: the move comes after
//! the durable edit, as a deletion would).

use std::path::{Path, PathBuf};

use crate::filename::{parse_file_name, wal_path, FileType};
use crate::fs::FileSystem;
use crate::options::WalRetention;

/// The archive directory of the database at `dir`.
pub(crate) fn archive_dir(dir: &Path) -> PathBuf {
    dir.join("archive")
}

/// Retires the WAL file `name` of `dir`: archives it if `retention` keeps WALs, else
/// deletes it.
///
/// # Errors
/// The file system's error from the rename or removal.
pub(crate) fn retire_wal(
    fs: &dyn FileSystem,
    dir: &Path,
    name: &str,
    retention: &WalRetention,
) -> std::io::Result<()> {
    if !retention.is_enabled() {
        return fs.remove(&dir.join(name));
    }
    let archive = archive_dir(dir);
    fs.create_dir_all(&archive)?;
    fs.rename(&dir.join(name), &archive.join(name))
}

/// The archived WALs' numbers, ascending.
pub(crate) fn archived_wals(fs: &dyn FileSystem, dir: &Path) -> Vec<u64> {
    wal_numbers_in(fs, &archive_dir(dir))
}

/// The numbers of the WAL files in directory `dir` (none if it cannot be listed),
/// ascending.
pub(crate) fn wal_numbers_in(fs: &dyn FileSystem, dir: &Path) -> Vec<u64> {
    let mut numbers: Vec<u64> = fs
        .list(dir)
        .unwrap_or_default()
        .iter()
        .filter_map(|n| match parse_file_name(n) {
            Some(FileType::Wal(n)) => Some(n),
            _ => None,
        })
        .collect();
    numbers.sort_unstable();
    numbers
}

/// Deletes archived WALs beyond `retention`: the oldest while the archive is over
/// `max_bytes`, and every one older than `max_age` by its modification time. Failures are
/// logged: the archive is a convenience, never needed for recovery.
pub(crate) fn trim_archive(fs: &dyn FileSystem, dir: &Path, retention: &WalRetention) {
    let archive = archive_dir(dir);
    let numbers = archived_wals(fs, dir);
    let sizes: Vec<u64> =
        numbers.iter().map(|&n| fs.open(&wal_path(&archive, n)).map_or(0, |f| f.size())).collect();
    let mut total: u64 = sizes.iter().sum();
    for (i, &n) in numbers.iter().enumerate() {
        let path = wal_path(&archive, n);
        let too_big = retention.max_bytes > 0 && total > retention.max_bytes;
        let too_old = !retention.max_age.is_zero()
            && std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > retention.max_age);
        if !(too_big || too_old) {
            // Younger files follow; only size could still remove them, and it is met.
            if retention.max_bytes == 0 || total <= retention.max_bytes {
                break;
            }
            continue;
        }
        match fs.remove(&path) {
            Ok(()) => total -= sizes[i],
            Err(e) => log::warn!("could not delete archived WAL {}: {e}", path.display()),
        }
    }
}
