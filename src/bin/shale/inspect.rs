//! Inspection: `verify`, `dump sst|wal|manifest` and `idump`. None of them changes the
//! database: `verify` and `dump` read files directly, `idump` opens it read-only.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use comfy_table::Table;
use serde_json::json;
use shaledb::fs::RealFs;
use shaledb::{tool, Db, Options, ValueType};

use crate::codec;
use crate::error::{CliError, CliResult};
use crate::output::out;

/// What `shale dump` reads.
#[derive(Subcommand, Debug)]
pub enum DumpWhat {
    /// A table: properties, index entries and entries with sequence numbers and types.
    Sst {
        /// The `.sst` file.
        file: PathBuf,
        /// Print only the properties.
        #[arg(long)]
        properties: bool,
        /// Also print the index block (each data block's separator and handle).
        #[arg(long)]
        raw: bool,
    },
    /// A WAL: each record's offset, first sequence number and operations.
    Wal {
        /// The `.log` file.
        file: PathBuf,
    },
    /// The live MANIFEST (named by CURRENT in --db): its version edits and the levels
    /// they produce.
    Manifest,
}

/// Options of `shale idump`.
#[derive(Args, Debug)]
pub struct IdumpArgs {
    /// At most N entries.
    #[arg(long)]
    limit: Option<u64>,
}

fn esc(b: &[u8]) -> String {
    let mut v = Vec::new();
    codec::escape_into(b, &mut v);
    String::from_utf8_lossy(&v).into_owned()
}

fn kind(t: ValueType) -> &'static str {
    match t {
        ValueType::Value => "PUT",
        ValueType::ValueWithExpiry => "PUTX",
        ValueType::Deletion => "DEL",
        ValueType::RangeDeletion => "RANGEDEL",
    }
}

/// A stored value as `dump` and `idump` print it: an expiring put shows its expiry
/// (Unix milliseconds) before the value.
fn show_value(t: ValueType, v: &[u8]) -> String {
    match t {
        ValueType::ValueWithExpiry if v.len() >= 8 => {
            let ms = u64::from_le_bytes(v[..8].try_into().unwrap_or([0; 8]));
            format!("expires@{ms} {}", esc(&v[8..]))
        }
        _ => esc(v),
    }
}

/// `shale verify`: returns Err if any file has a problem.
pub fn verify(dir: &Path, as_json: bool) -> CliResult<()> {
    let checks = tool::verify(&RealFs, dir);
    let bad = checks.iter().filter(|c| !c.ok).count();
    if as_json {
        let rows: Vec<_> = checks
            .iter()
            .map(|c| json!({"file": c.file, "kind": c.kind, "ok": c.ok, "detail": c.detail}))
            .collect();
        out(&format!("{}\n", json!({"files": rows, "problems": bad})))?;
    } else {
        let mut t = Table::new();
        t.set_header(["file", "kind", "status", "detail"]);
        for c in &checks {
            t.add_row([
                c.file.clone(),
                c.kind.clone(),
                if c.ok { "ok".into() } else { "PROBLEM".into() },
                c.detail.clone(),
            ]);
        }
        out(&format!("{t}\n{} files checked, {bad} problems\n", checks.len()))?;
    }
    if bad > 0 {
        return Err(CliError::Problems(format!("verify found {bad} problem(s)")));
    }
    Ok(())
}

pub fn dump(db: Option<&Path>, what: &DumpWhat) -> CliResult<()> {
    let mut o = std::io::BufWriter::new(std::io::stdout().lock());
    let w = |o: &mut std::io::BufWriter<_>, s: String| writeln!(o, "{s}");
    match what {
        DumpWhat::Sst { file, properties, raw } => {
            let t = tool::dump_table(&RealFs, file, *raw)?;
            let p = &t.properties;
            w(
                &mut o,
                format!(
                    "{}: {} entries ({} deletions) in {} data blocks",
                    file.display(),
                    p.num_entries,
                    p.num_deletions,
                    p.num_data_blocks
                ),
            )?;
            w(
                &mut o,
                format!(
                    "data {} B, index {} B, raw keys {} B, raw values {} B, seqno {}..{}, filter {}",
                    p.data_size,
                    p.index_size,
                    p.raw_key_size,
                    p.raw_value_size,
                    p.smallest_seqno,
                    p.largest_seqno,
                    t.filter_bytes.map_or("none".into(), |n| format!("{n} B"))
                ),
            )?;
            if *properties {
                return Ok(o.flush()?);
            }
            for e in &t.index {
                w(
                    &mut o,
                    format!(
                        "index {}#{},{} -> block @{} size {}",
                        esc(&e.user_key),
                        e.seqno,
                        kind(e.value_type),
                        e.handle.offset,
                        e.handle.size
                    ),
                )?;
            }
            let mut err = None;
            tool::for_each_table_entry(&RealFs, file, &mut |k, seq, t, v| match w(
                &mut o,
                format!("{}#{},{} {}", esc(k), seq, kind(t), show_value(t, v)),
            ) {
                Ok(()) => true,
                Err(e) => {
                    err = Some(e);
                    false
                }
            })?;
            if let Some(e) = err {
                return Err(e.into());
            }
        }
        DumpWhat::Wal { file } => {
            let n = tool::wal_number(file)?;
            let (records, damage) = tool::wal_records(&RealFs, file, n)?;
            for r in &records {
                w(&mut o, format!("record @{} seqno {} ({} ops)", r.offset, r.first_seqno, r.ops.len()))?;
                for (i, (t, k, v)) in r.ops.iter().enumerate() {
                    let seq = if r.one_seqno { r.first_seqno } else { r.first_seqno + i as u64 };
                    match t {
                        ValueType::Deletion => w(&mut o, format!("  {seq} DEL {}", esc(k)))?,
                        _ => w(&mut o, format!("  {seq} {} {} {}", kind(*t), esc(k), show_value(*t, v)))?,
                    }
                }
            }
            if let Some(d) = damage {
                let what = if d.is_tail { "torn tail" } else { "DAMAGE" };
                w(
                    &mut o,
                    format!("{what} at offset {}: {} ({} bytes after it)", d.offset, d.kind, d.bytes_after),
                )?;
            }
            w(&mut o, format!("{} records", records.len()))?;
        }
        DumpWhat::Manifest => {
            let dir = db.ok_or(CliError::Usage("no database: pass --db DIR".into()))?;
            let m = tool::dump_manifest(&RealFs, dir)?;
            w(&mut o, format!("MANIFEST-{:06}: {} version edits", m.number, m.edits.len()))?;
            for (i, e) in m.edits.iter().enumerate() {
                let mut parts = Vec::new();
                if let Some(n) = e.log_number {
                    parts.push(format!("log_number {n}"));
                }
                if let Some(n) = e.next_file_number {
                    parts.push(format!("next_file {n}"));
                }
                if let Some(n) = e.last_sequence {
                    parts.push(format!("last_seq {n}"));
                }
                for (l, n) in &e.deleted_files {
                    parts.push(format!("-L{l}:{n}"));
                }
                for (l, f) in &e.new_files {
                    parts.push(format!("+L{l}:{} ({} B)", f.number, f.file_size));
                }
                w(&mut o, format!("edit {i}: {}", parts.join(" ")))?;
            }
            if m.tail_bytes_dropped > 0 {
                w(&mut o, format!("torn tail of {} bytes ignored", m.tail_bytes_dropped))?;
            }
            let mut t = Table::new();
            t.set_header(["level", "table", "bytes", "smallest", "largest", "seqno"]);
            for (l, f) in &m.tables {
                t.add_row([
                    format!("L{l}"),
                    f.number.to_string(),
                    f.file_size.to_string(),
                    esc(f.smallest_user_key()),
                    esc(f.largest_user_key()),
                    format!("{}..{}", f.smallest_seqno, f.largest_seqno),
                ]);
            }
            w(
                &mut o,
                format!(
                    "{t}\nlog_number {}, next_file_number {}, last_sequence {}",
                    m.log_number, m.next_file_number, m.last_sequence
                ),
            )?;
        }
    }
    Ok(o.flush()?)
}

pub fn idump(dir: &Path, opts: Options, a: &IdumpArgs) -> CliResult<()> {
    let db = Db::open_read_only(dir, opts)?;
    let mut o = std::io::BufWriter::new(std::io::stdout().lock());
    let mut n = 0u64;
    let mut err = None;
    db.for_each_internal_entry(&mut |k, seq, t, v| {
        if a.limit.is_some_and(|l| n >= l) {
            return false;
        }
        n += 1;
        let line = match t {
            ValueType::Deletion => format!("{}#{seq},DEL", esc(k)),
            _ => format!("{}#{seq},{} {}", esc(k), kind(t), show_value(t, v)),
        };
        if let Err(e) = writeln!(o, "{line}") {
            err = Some(e.to_string());
            return false;
        }
        true
    })?;
    if let Some(e) = err {
        return Err(e.into());
    }
    Ok(o.flush()?)
}
