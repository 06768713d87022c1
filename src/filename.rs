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
    /// A temporary file (`*.tmp`), left by a crash while writing.
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

/// Classifies a file name; `None` for names shaledb does not own.
pub fn parse_file_name(name: &str) -> Option<FileType> {
    if name == "CURRENT" {
        return Some(FileType::Current);
    }
    if name == "LOCK" {
        return Some(FileType::Lock);
    }
    if name.ends_with(".tmp") {
        return Some(FileType::Temp);
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
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
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
    }
}
