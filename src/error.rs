//! The one public error type of shaledb, [`Error`], and its [`Result`] alias.
//!
//! Every fallible public function returns [`Result`]. "Key not found" is `Ok(None)`,
//! never an error. Corruption always names the file and the byte offset where the bad
//! bytes start, so an operator can find them.

use std::path::PathBuf;

/// What kind of damage a [`Error::Corruption`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptionKind {
    /// A stored CRC-32 did not match the bytes it covers.
    ChecksumMismatch {
        /// The checksum stored on disk.
        expected: u32,
        /// The checksum computed over the bytes read.
        actual: u32,
    },
    /// A length, count or offset field points outside the bytes that exist.
    BadLength,
    /// A magic number (table footer) is wrong.
    BadMagic,
    /// The bytes parsed but break a rule of the format (the string says which).
    Malformed(&'static str),
    /// A record in the middle of a log is damaged while later records are intact, so the
    /// damage cannot be a torn tail (docs/durability.md INV-10).
    MidLogCorruption,
    /// A file the MANIFEST references is missing or has the wrong size.
    MissingFile,
}

impl std::fmt::Display for CorruptionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ChecksumMismatch { expected, actual } => {
                write!(f, "checksum mismatch (stored {expected:#010x}, computed {actual:#010x})")
            }
            Self::BadLength => f.write_str("length field out of bounds"),
            Self::BadMagic => f.write_str("bad magic number"),
            Self::Malformed(what) => write!(f, "malformed: {what}"),
            Self::MidLogCorruption => f.write_str("damaged record followed by valid records"),
            Self::MissingFile => f.write_str("referenced file missing or of the wrong size"),
        }
    }
}

/// Every error shaledb returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error (open, read, write, fsync, rename, ...).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// Bytes on disk are damaged. `file` is the path, `offset` the byte offset in it where
    /// the damaged structure starts.
    #[error("corruption in {} at offset {offset}: {kind}", file.display())]
    Corruption {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the damaged record, block or footer.
        offset: u64,
        /// What is wrong.
        kind: CorruptionKind,
    },

    /// The table `file` was written by a format version this build does not read (a newer
    /// one, or 0).
    #[error("unsupported table format version {version} in {}", file.display())]
    UnsupportedFormatVersion {
        /// The table.
        file: PathBuf,
        /// The format version its footer gives.
        version: u32,
    },

    /// A read-only open lost its race with a writer more times than it retries: CURRENT,
    /// a MANIFEST, a WAL or a table it was reading was replaced or removed meanwhile.
    /// Nothing is wrong with the database; open it again.
    #[error("database {} is busy: {reason}", dir.display())]
    Busy {
        /// The database directory.
        dir: PathBuf,
        /// What changed under the open.
        reason: String,
    },

    /// A caller-supplied argument breaks a documented limit (key or value too large, an
    /// option out of range, a missing database without `create_if_missing`).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),

    /// The database directory is locked by another `Db` (in this process or another one).
    #[error("database directory {} is locked by another process or handle", .0.display())]
    Locked(PathBuf),

    /// An earlier write-path I/O failure (WAL append or sync, MANIFEST write, directory
    /// sync, or a failed background flush) poisoned the database. Reads still work; writes
    /// need a close and reopen (docs/durability.md R7, INV-17).
    #[error("database is poisoned by an earlier write-path failure: {0}")]
    Poisoned(String),

    /// The database was opened with `Db::open_read_only`: writes, flushes and
    /// compactions are refused.
    #[error("database was opened read-only")]
    ReadOnly,

    /// The database was closed; the handle can no longer be used.
    #[error("database is closed")]
    Closed,

    /// An optimistic transaction's commit found that `key` (written by the transaction,
    /// or read with `get_for_update`) was changed by another commit after the
    /// transaction's snapshot. Nothing of the transaction was written; retry it from the
    /// start (after RocksDB's `Status::Busy` from `OptimisticTransactionDB`).
    #[error("transaction conflict on key {}", crate::error::printable(key))]
    Conflict {
        /// The first conflicting key, in key order.
        key: Vec<u8>,
    },

    /// The history a read or a change feed asked for is gone: versions older than
    /// `floor` were compacted away (`Db::snapshot_at` below the history floor), or the
    /// WALs holding changes at or before `floor` were not retained (`Db::changes_since`,
    /// `Db::watch`). `floor` is the oldest sequence number still available: start there.
    #[error("history before sequence number {floor} is compacted")]
    Compacted {
        /// The oldest sequence number that can still be read or followed.
        floor: u64,
    },

    /// A watcher fell behind by more than its buffer and was disconnected, so that it never
    /// blocks writers. Every event up to and including `resume_from` was delivered; call
    /// `Db::watch(range, resume_from)` to continue with no gap.
    #[error("watcher fell behind and was disconnected; resume from sequence number {resume_from}")]
    Lagged {
        /// The sequence number of the last event delivered (the `since` to resume from).
        resume_from: u64,
    },
}

/// `key` for an error message: printable ASCII as is, other bytes as `\xNN`, cut at 64 bytes.
pub(crate) fn printable(key: &[u8]) -> String {
    let mut s: String = key[..key.len().min(64)].escape_ascii().to_string();
    if key.len() > 64 {
        s.push_str("...");
    }
    s
}

/// `std::result::Result` with shaledb's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Builds a [`Error::Corruption`] for `file` at `offset`.
    pub(crate) fn corruption(file: impl Into<PathBuf>, offset: u64, kind: CorruptionKind) -> Self {
        Error::Corruption { file: file.into(), offset, kind }
    }

    /// True for [`Error::Corruption`] and [`Error::UnsupportedFormatVersion`].
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption { .. } | Error::UnsupportedFormatVersion { .. })
    }
}
