//! Writing to stdout: the one helper every command prints through.

use std::io::{self, Write};

/// Writes `parts` to stdout in order and flushes.
///
/// # Errors
/// The `io::Error` of the write (a closed pipe is `BrokenPipe`, which `main` treats as
/// success).
pub fn write_stdout(parts: &[&[u8]]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    for p in parts {
        out.write_all(p)?;
    }
    out.flush()
}

/// Writes `text` to stdout and flushes.
///
/// # Errors
/// [`crate::error::CliError::Io`], as [`write_stdout`].
pub fn out(text: &str) -> crate::error::CliResult<()> {
    Ok(write_stdout(&[text.as_bytes()])?)
}
