//! Names of the files in a database directory: `000042.log` (WAL), `000043.sst` (table),
//! `MANIFEST-000007`, `CURRENT`, `LOCK`, and `*.tmp` for files being written.
//!
//! # Format
//! DESIGN.md §1 ("Files in a database directory").

use std::path::{Path, PathBuf};

/// The kind of a file found in a database directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// A write-ahead log, `NNNNNN.log`.
    Wal(u64),
    /// A table, `NNNNNN.sst`.
    Table(u64),
    /// A MANIFEST, `MANIFEST-NNNNNN`.
    Manifest(u64),
    /// `CURRENT`.
    Current,
    /// `LOCK`.
    Lock,
    /// A temporary file (`CURRENT.tmp`, or another engine file name + `.tmp`), left by a
    /// crash while writing.
    Temp,
}

/// Path of WAL number `n`.
pub fn wal_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:06}.log"))
}
/// Path of table number `n`.
pub fn table_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:06}.sst"))
}
/// Path of MANIFEST number `n`.
pub fn manifest_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("MANIFEST-{n:06}"))
}
/// Path of `CURRENT`.
pub fn current_path(dir: &Path) -> PathBuf {
    dir.join("CURRENT")
}
/// Path of the temporary file that becomes `CURRENT` by rename.
pub fn current_tmp_path(dir: &Path) -> PathBuf {
    dir.join("CURRENT.tmp")
}
/// Path of `LOCK`.
pub fn lock_path(dir: &Path) -> PathBuf {
    dir.join("LOCK")
}

/// File numbers are below this (2^40). A name with a larger number cannot have been
/// created by shaledb, so it is not ours: never replayed, reserved or deleted.
pub const MAX_FILE_NUMBER: u64 = 1 << 40;

/// Numbers this close below [`MAX_FILE_NUMBER`] leave no room to allocate from: open
/// refuses a database that holds one (2^32).
pub const FILE_NUMBER_HEADROOM: u64 = 1 << 32;

/// Classifies a file name; `None` for names shaledb does not own: another form, a number
/// with more than 6 digits and a leading zero (shaledb writes `{n:06}`), or a number at or
/// above [`MAX_FILE_NUMBER`].
pub fn parse_file_name(name: &str) -> Option<FileType> {
    if name == "CURRENT" {
        return Some(FileType::Current);
    }
    if name == "LOCK" {
        return Some(FileType::Lock);
    }
    if let Some(base) = name.strip_suffix(".tmp") {
        // Only the temporary form of a name shaledb itself writes (`CURRENT.tmp`, or a
        // table, WAL or MANIFEST name + `.tmp`): a user's `notes.tmp` is not ours.
        return match parse_file_name(base) {
            Some(FileType::Current | FileType::Table(_) | FileType::Wal(_) | FileType::Manifest(_)) => {
                Some(FileType::Temp)
            }
            _ => None,
        };
    }
    if let Some(n) = name.strip_prefix("MANIFEST-") {
        return parse_number(n).map(FileType::Manifest);
    }
    if let Some(n) = name.strip_suffix(".log") {
        return parse_number(n).map(FileType::Wal);
    }
    if let Some(n) = name.strip_suffix(".sst") {
        return parse_number(n).map(FileType::Table);
    }
    None
}

fn parse_number(s: &str) -> Option<u64> {
    if s.len() < 6 || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 6 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok().filter(|&n| n < MAX_FILE_NUMBER)
}

/// What the durable state of a database still needs: the one place that decides which
/// files are obsolete (recovery's last step, the flush's WAL cleanup and `verify`'s
/// orphan list all ask it).
#[derive(Clone, Copy)]
#[expect(missing_debug_implementations, reason = "holds a closure")]
pub struct LiveFiles<'a> {
    /// WALs numbered below this are flushed (the MANIFEST's log number).
    pub log_number: u64,
    /// The MANIFEST that CURRENT names.
    pub manifest_number: u64,
    /// True for the number of a table the MANIFEST references.
    pub is_live_table: &'a dyn Fn(u64) -> bool,
}

/// True if a file of type `t` may be deleted given `live` (LevelDB's
/// `RemoveObsoleteFiles` rule): a WAL below the log number, an unreferenced table, a
/// MANIFEST other than the current one, or a temporary file. `CURRENT`, `LOCK` and names
/// shaledb does not own are never obsolete.
pub fn is_obsolete(t: FileType, live: &LiveFiles<'_>) -> bool {
    match t {
        FileType::Wal(n) => n < live.log_number,
        FileType::Table(n) => !(live.is_live_table)(n),
        FileType::Manifest(n) => n != live.manifest_number,
        FileType::Temp => true,
        FileType::Current | FileType::Lock => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let d = Path::new("/db");
        let name = |p: PathBuf| p.file_name().and_then(|n| n.to_str()).map(str::to_owned);
        assert_eq!(parse_file_name(&name(wal_path(d, 42)).expect("name")), Some(FileType::Wal(42)));
        assert_eq!(
            parse_file_name(&name(table_path(d, 1_234_567)).expect("name")),
            Some(FileType::Table(1_234_567))
        );
        assert_eq!(parse_file_name(&name(manifest_path(d, 7)).expect("name")), Some(FileType::Manifest(7)));
        assert_eq!(parse_file_name("CURRENT"), Some(FileType::Current));
        assert_eq!(parse_file_name("000001.sst.tmp"), Some(FileType::Temp));
        assert_eq!(parse_file_name("x.log"), None);
        assert_eq!(parse_file_name("notes.txt"), None);
        assert_eq!(parse_file_name("CURRENT.tmp"), Some(FileType::Temp));
        assert_eq!(parse_file_name("notes.tmp"), None);
        assert_eq!(parse_file_name("000001.tmp"), None);
        // Names shaledb cannot have written.
        assert_eq!(parse_file_name("18446744073709551614.log"), None);
        assert_eq!(parse_file_name("0000001.log"), None);
        assert_eq!(parse_file_name("1.log"), None);
        assert_eq!(parse_file_name(&format!("{}.sst", MAX_FILE_NUMBER)), None);
        assert_eq!(
            parse_file_name(&format!("{}.sst", MAX_FILE_NUMBER - 1)),
            Some(FileType::Table(MAX_FILE_NUMBER - 1))
        );
    }

    #[test]
    fn obsolete_files() {
        let live = LiveFiles { log_number: 10, manifest_number: 7, is_live_table: &|n| n == 5 };
        let cases = [
            (FileType::Wal(9), true),
            (FileType::Wal(10), false),
            (FileType::Table(5), false),
            (FileType::Table(6), true),
            (FileType::Manifest(7), false),
            (FileType::Manifest(3), true),
            (FileType::Temp, true),
            (FileType::Current, false),
            (FileType::Lock, false),
        ];
        for (t, want) in cases {
            assert_eq!(is_obsolete(t, &live), want, "{t:?}");
        }
    }
}
