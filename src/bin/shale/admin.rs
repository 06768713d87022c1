//! Offline administration: `compact` (the offline compaction tool), `repair` and
//! `checkpoint`. `compact` and `repair` take the directory's lock, so a database open
//! elsewhere is refused and left untouched.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::CliResult;
use crate::output::out;
use clap::Args;
use comfy_table::Table;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use shaledb::{Db, Options};

/// Options of `shale compact`.
#[derive(Args, Debug)]
pub struct CompactArgs {
    /// Print the plan (inputs, expected outputs and bytes) and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Size of the output tables, e.g. `64MiB` (default: the database default, 64 MiB).
    #[arg(long, value_parser = crate::codec::parse_size)]
    target_file_size: Option<u64>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

fn shape(db: &Db) -> (usize, u64) {
    let s = db.stats();
    (s.levels.iter().map(|l| l.tables).sum(), s.table_bytes())
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map_or(0, |rd| rd.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
}

pub fn compact(dir: &Path, mut opts: Options, a: &CompactArgs) -> CliResult<()> {
    if let Some(t) = a.target_file_size {
        opts = opts.target_file_size(t);
    }
    if a.dry_run {
        // Read-only: nothing is locked or written.
        let db = Db::open_read_only(dir, opts.clone())?;
        let s = db.stats();
        let target = a.target_file_size.unwrap_or(64 << 20);
        let mut t = Table::new();
        t.set_header(["level", "input tables", "input bytes"]);
        for l in s.levels.iter().filter(|l| l.tables > 0) {
            t.add_row([format!("L{}", l.level), l.tables.to_string(), l.bytes.to_string()]);
        }
        let total = s.table_bytes();
        let unflushed = s.memtable_bytes;
        let plan = format!(
            "{t}\nplan: flush {unflushed} memtable bytes, then merge every level down to L6 \
             (in place for L6), dropping shadowed versions and tombstones.\n\
             expected output: at most {total} bytes plus the flushed memtable, in about {} tables of {target} bytes; \
             {} raw key and value bytes to merge.\n",
            total.div_ceil(target).max(1),
            s.raw_table_bytes
        );
        if a.json {
            let levels: Vec<_> = s
                .levels
                .iter()
                .map(|l| json!({"level": l.level, "tables": l.tables, "bytes": l.bytes}))
                .collect();
            return out(&format!(
                "{}\n",
                json!({"dry_run": true, "inputs": levels, "input_bytes": total, "memtable_bytes": unflushed, "raw_bytes": s.raw_table_bytes, "target_file_size": target})
            ));
        }
        return out(&plan);
    }
    let started = Instant::now();
    let db = Db::open(dir, opts)?;
    let (tables_before, bytes_before) = shape(&db);
    let disk_before = dir_bytes(dir);
    let total = db.stats().raw_table_bytes + db.stats().memtable_bytes;
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(ProgressStyle::with_template(
        "compacting {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )?);
    let base = db.stats().compaction_raw_bytes_processed;
    let result = std::thread::scope(|s| {
        let worker = s.spawn(|| db.compact_range(None, None));
        while !worker.is_finished() {
            bar.set_position(db.stats().compaction_raw_bytes_processed - base);
            std::thread::park_timeout(Duration::from_millis(200));
        }
        worker.join().map_err(|_| "compaction thread panicked".to_string())
    })?;
    bar.finish_and_clear();
    result?;
    let (tables_after, bytes_after) = shape(&db);
    db.close()?;
    let disk_after = dir_bytes(dir);
    let secs = started.elapsed().as_secs_f64();
    let reclaimed = disk_before.saturating_sub(disk_after);
    if a.json {
        return out(&format!(
            "{}\n",
            json!({
                "tables_before": tables_before, "bytes_before": bytes_before,
                "tables_after": tables_after, "bytes_after": bytes_after,
                "disk_bytes_before": disk_before, "disk_bytes_after": disk_after,
                "reclaimed_bytes": reclaimed, "seconds": secs,
            })
        ));
    }
    let mut t = Table::new();
    t.set_header(["", "tables", "table bytes", "bytes on disk"]);
    t.add_row([
        "before".into(),
        tables_before.to_string(),
        bytes_before.to_string(),
        disk_before.to_string(),
    ]);
    t.add_row([
        "after".to_string(),
        tables_after.to_string(),
        bytes_after.to_string(),
        disk_after.to_string(),
    ]);
    out(&format!("{t}\ncompacted in {secs:.2} s, reclaimed {reclaimed} bytes\n"))
}

/// Options of `shale repair`.
#[derive(Args, Debug)]
pub struct RepairArgs {
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

pub fn repair(dir: &Path, opts: &Options, a: &RepairArgs) -> CliResult<()> {
    let r = shaledb::tool::repair(dir, opts)?;
    if a.json {
        let kept: Vec<_> = r.tables_kept.iter().map(|(f, n)| json!({"file": f, "entries": n})).collect();
        let aside: Vec<_> = r.set_aside.iter().map(|(f, why)| json!({"file": f, "why": why})).collect();
        return out(&format!(
            "{}\n",
            json!({"kept": kept, "set_aside": aside, "wal_records": r.wal_records, "wal_ops": r.wal_ops,
                   "manifest_number": r.manifest_number, "last_sequence": r.last_sequence})
        ));
    }
    let mut t = Table::new();
    t.set_header(["file", "outcome"]);
    for (f, n) in &r.tables_kept {
        t.add_row([f.clone(), format!("kept ({n} entries)")]);
    }
    for (f, why) in &r.set_aside {
        t.add_row([f.clone(), format!("moved to lost/: {why}")]);
    }
    out(&format!(
        "{t}\nrecovered {} WAL records ({} operations); new MANIFEST-{:06}, last sequence number {}\n",
        r.wal_records, r.wal_ops, r.manifest_number, r.last_sequence
    ))
}

/// Options of `shale checkpoint`.
#[derive(Args, Debug)]
pub struct CheckpointArgs {
    /// The directory to create the copy in (must not exist or be empty).
    dest: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

pub fn checkpoint(dir: &Path, opts: Options, a: &CheckpointArgs) -> CliResult<()> {
    let db = Db::open(dir, opts)?;
    let info = db.checkpoint(&a.dest)?;
    db.close()?;
    if a.json {
        return out(&format!(
            "{}\n",
            json!({"dest": a.dest, "seqno": info.seqno, "tables_linked": info.tables_linked, "memtable_entries": info.memtable_entries})
        ));
    }
    out(&format!(
        "checkpoint in {} at sequence number {}: {} tables linked, {} memtable entries written\n",
        a.dest.display(),
        info.seqno,
        info.tables_linked,
        info.memtable_entries
    ))
}
