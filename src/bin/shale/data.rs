//! `scan` and `load`: moving records between the database and text.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use shaledb::{Db, WriteBatch, WriteOptions};

use crate::codec;
use crate::error::{CliError, CliResult};

/// Options of `shale scan`.
#[derive(Args, Debug)]
pub struct ScanArgs {
    /// Only keys starting with P.
    #[arg(long)]
    prefix: Option<String>,
    /// First key (inclusive).
    #[arg(long)]
    from: Option<String>,
    /// End key (exclusive).
    #[arg(long)]
    to: Option<String>,
    /// At most N entries.
    #[arg(long)]
    limit: Option<u64>,
    /// Print keys only.
    #[arg(long)]
    keys_only: bool,
    /// Print JSON Lines, the format `load --format jsonl` reads.
    #[arg(long)]
    pub(crate) json: bool,
    /// Walk the range backwards, from the last key to the first.
    #[arg(long)]
    reverse: bool,
    /// Also print each key's expiry (Unix milliseconds, `-` for none): a third column, or
    /// `"expires_at_ms"` in JSON.
    #[arg(long)]
    expiry: bool,
}

/// Input formats of `shale load`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// `key<TAB>value` per line, escaped as `scan` prints them.
    Tsv,
    /// `{"key": …, "value": …}` per line, as `scan --json` prints them.
    Jsonl,
    /// Debian control stanzas; key `Package_Version_Architecture`, value the stanza.
    Deb822,
}

/// Options of `shale load`.
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Input format (default: from the file name: .jsonl, .tsv, else deb822 for names
    /// containing "Packages", else tsv).
    #[arg(long)]
    format: Option<Format>,
    /// Records per write batch.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Fsync the WAL after every batch.
    #[arg(long)]
    sync: bool,
    /// After every committed batch, print `acked N` (records so far) on stdout.
    #[arg(long)]
    print_acks: bool,
    /// The input file, or `-` for standard input.
    file: PathBuf,
}

/// Writes `parts` to stdout.
pub fn scan(db: &Db, a: &ScanArgs) -> CliResult<()> {
    let iter = match (&a.prefix, &a.from, &a.to) {
        (Some(p), None, None) => db.prefix(p),
        (None, from, to) => {
            use std::ops::Bound::{Excluded, Included, Unbounded};
            let lo = from.as_ref().map_or(Unbounded, |f| Included(f.as_bytes()));
            let hi = to.as_ref().map_or(Unbounded, |t| Excluded(t.as_bytes()));
            db.range::<&[u8], _>((lo, hi))
        }
        _ => return Err("--prefix cannot be combined with --from/--to".into()),
    };
    let mut iter = iter;
    let reverse = a.reverse;
    let iter =
        std::iter::from_fn(
            move || if reverse { iter.next_back_with_expiry() } else { iter.next_with_expiry() },
        );
    let mut out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut line = Vec::new();
    for (n, item) in iter.enumerate() {
        if a.limit.is_some_and(|l| n as u64 >= l) {
            break;
        }
        let (k, v, exp) = item?;
        let exp_ms = exp.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_millis());
        line.clear();
        if a.json {
            let mut j = codec::json_line(&k, (!a.keys_only).then_some(&v[..]));
            if a.expiry {
                j.pop(); // the closing brace
                j.push_str(&match exp_ms {
                    Some(ms) => format!(",\"expires_at_ms\":{ms}}}"),
                    None => ",\"expires_at_ms\":null}".to_owned(),
                });
            }
            line.extend_from_slice(j.as_bytes());
        } else {
            codec::escape_into(&k, &mut line);
            if !a.keys_only {
                line.push(b'\t');
                codec::escape_into(&v, &mut line);
            }
            if a.expiry {
                line.push(b'\t');
                line.extend_from_slice(exp_ms.map_or("-".to_owned(), |ms| ms.to_string()).as_bytes());
            }
        }
        line.push(b'\n');
        out.write_all(&line)?;
    }
    Ok(out.flush()?)
}

/// Magic number of an LZ4 frame, as its first four bytes.
const LZ4_FRAME_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];

/// Counts bytes read from the (possibly compressed) input, for the progress bar.
struct Counted<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

fn open_input(a: &LoadArgs, bar: &ProgressBar) -> CliResult<Box<dyn BufRead>> {
    let raw: Box<dyn Read> = if a.file.as_os_str() == "-" {
        Box::new(io::stdin())
    } else {
        let f = File::open(&a.file).map_err(|e| format!("{}: {e}", a.file.display()))?;
        if let Ok(m) = f.metadata() {
            bar.set_length(m.len());
        }
        Box::new(f)
    };
    let mut r = BufReader::with_capacity(1 << 20, Counted { inner: raw, bar: bar.clone() });
    let head = r.fill_buf()?;
    if head.starts_with(&LZ4_FRAME_MAGIC) {
        let checked = crate::lz4check::Lz4FrameCheck::new(r);
        Ok(Box::new(BufReader::with_capacity(1 << 20, lz4_flex::frame::FrameDecoder::new(checked))))
    } else {
        Ok(Box::new(r))
    }
}

fn guess_format(a: &LoadArgs) -> Format {
    if let Some(f) = a.format {
        return f;
    }
    let name = a.file.to_string_lossy();
    if name.contains(".jsonl") {
        Format::Jsonl
    } else if name.contains("Packages") || name.contains(".deb822") {
        Format::Deb822
    } else {
        Format::Tsv
    }
}

/// Reads one deb822 stanza (lines up to a blank line); returns its exact bytes without
/// the separator, or `None` at the end of input. Adds the bytes consumed to `offset`.
fn next_stanza(r: &mut dyn BufRead, buf: &mut Vec<u8>, offset: &mut u64) -> io::Result<Option<Vec<u8>>> {
    let mut stanza = Vec::new();
    loop {
        buf.clear();
        let n = r.read_until(b'\n', buf)?;
        *offset += n as u64;
        if n == 0 {
            return Ok((!stanza.is_empty()).then_some(stanza));
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            if stanza.is_empty() {
                continue;
            }
            return Ok(Some(stanza));
        }
        stanza.extend_from_slice(buf);
    }
}

/// The key of a deb822 stanza: `Package_Version_Architecture`.
pub fn deb822_key(stanza: &[u8]) -> Option<Vec<u8>> {
    let field = |name: &[u8]| {
        stanza.split(|&b| b == b'\n').find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(b":")?;
            Some(rest.trim_ascii())
        })
    };
    let (p, v, a) = (field(b"Package")?, field(b"Version")?, field(b"Architecture")?);
    Some([p, b"_", v, b"_", a].concat())
}

/// A loaded record: key and value.
type Record = (Vec<u8>, Vec<u8>);

/// Reads record number `n + 1`, starting at byte `*offset` of the (decompressed) input,
/// and advances `offset` past it. Every error names the record and its byte offset.
fn next_record(
    fmt: Format,
    r: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    n: u64,
    offset: &mut u64,
) -> CliResult<Option<Record>> {
    let start = *offset;
    let at = |e: String| CliError::Failed(format!("record {} at byte offset {start}: {e}", n + 1));
    match fmt {
        Format::Deb822 => {
            let Some(stanza) = next_stanza(r, buf, offset).map_err(|e| at(e.to_string()))? else {
                return Ok(None);
            };
            let key = deb822_key(&stanza)
                .ok_or_else(|| at("stanza lacks Package, Version or Architecture".into()))?;
            Ok(Some((key, stanza)))
        }
        Format::Tsv | Format::Jsonl => loop {
            buf.clear();
            let got = r.read_until(b'\n', buf).map_err(|e| at(e.to_string()))?;
            *offset += got as u64;
            if got == 0 {
                return Ok(None);
            }
            let line = buf.strip_suffix(b"\n").unwrap_or(buf);
            if line.is_empty() {
                continue;
            }
            if fmt == Format::Jsonl {
                return Ok(Some(codec::parse_json_line(line).map_err(at)?));
            }
            let tab = line.iter().position(|&b| b == b'\t').ok_or_else(|| at("no TAB".into()))?;
            return Ok(Some((
                codec::unescape(&line[..tab]).map_err(at)?,
                codec::unescape(&line[tab + 1..]).map_err(at)?,
            )));
        },
    }
}

pub fn load(db: &Db, a: &LoadArgs) -> CliResult<()> {
    let fmt = guess_format(a);
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
    )?);
    let mut input = open_input(a, &bar)?;
    let started = Instant::now();
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut batch = WriteBatch::new();
    let wopts = WriteOptions { sync: a.sync };
    let mut buf = Vec::new();
    let batch_size = a.batch.max(1);
    let commit = |batch: &mut WriteBatch, records: u64| -> CliResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        db.write_opt(std::mem::take(batch), &wopts)?;
        if a.print_acks {
            crate::output::write_stdout(&[format!("acked {records}\n").as_bytes()])?;
        }
        Ok(())
    };
    let mut offset = 0u64;
    while let Some((k, v)) = next_record(fmt, input.as_mut(), &mut buf, records, &mut offset)? {
        bytes += (k.len() + v.len()) as u64;
        batch.put(&k, &v);
        records += 1;
        if batch.len() >= batch_size {
            commit(&mut batch, records)?;
            bar.set_message(format!("{records} records"));
        }
    }
    commit(&mut batch, records)?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "loaded {records} records, {bytes} bytes in {secs:.2} s ({:.1} MB/s)",
        bytes as f64 / 1e6 / secs.max(1e-9)
    );
    Ok(())
}
