//! The CLI's one error type: it keeps the library's typed [`shaledb::Error`] up to `main`,
//! which maps it to a documented exit code (README.md, "Exit codes") and, for commands run
//! with `--json`, a JSON error object naming its kind.

use std::fmt;

/// A failed command.
#[derive(Debug)]
pub enum CliError {
    /// `get` found no value (exit 1, `not found` on stderr).
    NotFound,
    /// A bad command line or argument (exit 2).
    Usage(String),
    /// An error from the engine, kept typed.
    Db(shaledb::Error),
    /// An I/O error outside the engine (reading input, writing output).
    Io(std::io::Error),
    /// A check found problems (`verify`): exit 3, like corruption.
    Problems(String),
    /// Anything else: bad input data, a crash-harness violation (exit 7).
    Failed(String),
}

/// `Result` with [`CliError`].
pub type CliResult<T> = Result<T, CliError>;

impl CliError {
    /// The process exit code:
    /// 0 ok; 1 not found; 2 usage or invalid argument; 3 corruption (or `verify` found
    /// problems); 4 locked or busy; 5 I/O; 6 the database is poisoned, read-only or closed;
    /// 7 any other failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::NotFound => 1,
            CliError::Usage(_) => 2,
            CliError::Problems(_) => 3,
            CliError::Io(_) => 5,
            CliError::Failed(_) => 7,
            CliError::Db(e) => match e {
                shaledb::Error::InvalidArgument(_) => 2,
                shaledb::Error::Corruption { .. } | shaledb::Error::UnsupportedFormatVersion { .. } => 3,
                shaledb::Error::Busy { .. } => 4,
                shaledb::Error::Locked(_) => 4,
                shaledb::Error::Io(_) => 5,
                shaledb::Error::Poisoned(_) | shaledb::Error::ReadOnly | shaledb::Error::Closed => 6,
                _ => 7,
            },
        }
    }

    /// A stable name of the error's kind, for `--json` output.
    pub fn kind(&self) -> &'static str {
        match self {
            CliError::NotFound => "not_found",
            CliError::Usage(_) => "usage",
            CliError::Problems(_) => "problems",
            CliError::Io(_) => "io",
            CliError::Failed(_) => "failed",
            CliError::Db(e) => match e {
                shaledb::Error::InvalidArgument(_) => "invalid_argument",
                shaledb::Error::Corruption { .. } => "corruption",
                shaledb::Error::UnsupportedFormatVersion { .. } => "unsupported_format_version",
                shaledb::Error::Busy { .. } => "busy",
                shaledb::Error::Locked(_) => "locked",
                shaledb::Error::Io(_) => "io",
                shaledb::Error::Poisoned(_) => "poisoned",
                shaledb::Error::ReadOnly => "read_only",
                shaledb::Error::Closed => "closed",
                _ => "other",
            },
        }
    }

    /// True for a closed stdout (`shale scan | head`): not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        match self {
            CliError::Io(e) | CliError::Db(shaledb::Error::Io(e)) => {
                e.kind() == std::io::ErrorKind::BrokenPipe
            }
            _ => false,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::NotFound => f.write_str("not found"),
            CliError::Usage(m) | CliError::Problems(m) | CliError::Failed(m) => f.write_str(m),
            CliError::Db(e) => write!(f, "{e}"),
            CliError::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl From<shaledb::Error> for CliError {
    fn from(e: shaledb::Error) -> Self {
        CliError::Db(e)
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Io(e)
    }
}

impl From<serde_json::Error> for CliError {
    fn from(e: serde_json::Error) -> Self {
        CliError::Failed(format!("JSON: {e}"))
    }
}

impl From<String> for CliError {
    fn from(m: String) -> Self {
        CliError::Failed(m)
    }
}

impl From<&str> for CliError {
    fn from(m: &str) -> Self {
        CliError::Failed(m.to_owned())
    }
}

impl From<indicatif::style::TemplateError> for CliError {
    fn from(e: indicatif::style::TemplateError) -> Self {
        CliError::Failed(format!("progress bar template: {e}"))
    }
}
