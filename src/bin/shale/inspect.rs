//! Inspection: `verify`, `dump sst|wal|manifest` and `idump`. None of them changes the
//! database: `verify` and `dump` read files directly, `idump` opens it read-only.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use comfy_table::Table;
use serde_json::json;
use shaledb::fs::RealFs;
use shaledb::iterator::InternalIterator;
use shaledb::key::{ParsedInternalKey, ValueType};
use shaledb::sstable::{BlockReadOptions, Table as SsTable};
use shaledb::{Db, Options};

use crate::codec;

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
        ValueType::Deletion => "DEL",
    }
}

fn out(text: &str) -> Result<(), String> {
    crate::data::write_stdout(&[text.as_bytes()]).map_err(|e| e.to_string())
}

/// `shale verify`: returns Err if any file has a problem.
pub fn verify(dir: &Path, as_json: bool) -> Result<(), String> {
    let checks = shaledb::tool::verify::verify(&RealFs, dir);
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
        return Err(format!("verify found {bad} problem(s)"));
    }
    Ok(())
}

pub fn dump(db: Option<&Path>, what: &DumpWhat) -> Result<(), String> {
    let mut o = std::io::BufWriter::new(std::io::stdout().lock());
    let w = |o: &mut std::io::BufWriter<_>, s: String| writeln!(o, "{s}").map_err(|e| e.to_string());
    match what {
        DumpWhat::Sst { file, properties, raw } => {
            let table = Arc::new(SsTable::open(&RealFs, file).map_err(|e| e.to_string())?);
            let p = table.properties();
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
                    table.filter().map_or("none".into(), |f| format!("{} B", f.size()))
                ),
            )?;
            if *properties {
                return o.flush().map_err(|e| e.to_string());
            }
            if *raw {
                for (sep, h) in table.index_entries().map_err(|e| e.to_string())? {
                    let k = ParsedInternalKey::decode(&sep).ok_or("bad separator")?;
                    w(
                        &mut o,
                        format!(
                            "index {}#{},{} -> block @{} size {}",
                            esc(k.user_key),
                            k.seqno,
                            kind(k.value_type),
                            h.offset,
                            h.size
                        ),
                    )?;
                }
            }
            let mut it = table.iter(BlockReadOptions { fill_cache: false, verify_checksums: true });
            it.seek_to_first().map_err(|e| e.to_string())?;
            while it.valid() {
                let k = ParsedInternalKey::decode(it.key()).ok_or("bad internal key")?;
                w(
                    &mut o,
                    format!("{}#{},{} {}", esc(k.user_key), k.seqno, kind(k.value_type), esc(&it.value())),
                )?;
                it.next().map_err(|e| e.to_string())?;
            }
        }
        DumpWhat::Wal { file } => {
            let n = shaledb::tool::dump::wal_number(file).map_err(|e| e.to_string())?;
            let (records, damage) =
                shaledb::tool::dump::wal_records(&RealFs, file, n).map_err(|e| e.to_string())?;
            for r in &records {
                w(&mut o, format!("record @{} seqno {} ({} ops)", r.offset, r.first_seqno, r.ops.len()))?;
                for (i, (t, k, v)) in r.ops.iter().enumerate() {
                    let seq = r.first_seqno + i as u64;
                    match t {
                        ValueType::Value => w(&mut o, format!("  {seq} PUT {} {}", esc(k), esc(v)))?,
                        ValueType::Deletion => w(&mut o, format!("  {seq} DEL {}", esc(k)))?,
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
            let dir = db.ok_or("no database: pass --db DIR")?;
            use shaledb::version::manifest::{read_current, replay, ManifestState};
            let number = read_current(&RealFs, dir).map_err(|e| e.to_string())?;
            let r = replay(&RealFs, dir, number).map_err(|e| e.to_string())?;
            w(&mut o, format!("MANIFEST-{number:06}: {} version edits", r.edits.len()))?;
            let mut state = ManifestState::default();
            for (i, e) in r.edits.into_iter().enumerate() {
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
                state.apply(e);
            }
            if r.tail_bytes_dropped > 0 {
                w(&mut o, format!("torn tail of {} bytes ignored", r.tail_bytes_dropped))?;
            }
            let mut t = Table::new();
            t.set_header(["level", "table", "bytes", "smallest", "largest", "seqno"]);
            let mut files: Vec<_> = state.files.values().collect();
            files.sort_by_key(|(l, f)| (*l, f.number));
            for (l, f) in files {
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
                    state.log_number, state.next_file_number, state.last_sequence
                ),
            )?;
        }
    }
    o.flush().map_err(|e| e.to_string())
}

pub fn idump(dir: &Path, opts: Options, a: &IdumpArgs) -> Result<(), String> {
    let db = Db::open_read_only(dir, opts).map_err(|e| e.to_string())?;
    let mut o = std::io::BufWriter::new(std::io::stdout().lock());
    let mut n = 0u64;
    let mut err = None;
    db.for_each_internal_entry(&mut |k, seq, t, v| {
        if a.limit.is_some_and(|l| n >= l) {
            return false;
        }
        n += 1;
        let line = match t {
            ValueType::Value => format!("{}#{seq},PUT {}", esc(k), esc(v)),
            ValueType::Deletion => format!("{}#{seq},DEL", esc(k)),
        };
        if let Err(e) = writeln!(o, "{line}") {
            err = Some(e.to_string());
            return false;
        }
        true
    })
    .map_err(|e| e.to_string())?;
    if let Some(e) = err {
        return Err(e);
    }
    o.flush().map_err(|e| e.to_string())
}
