//! `shale stats`: the database's shape and counters as tables, or `--json`.

use crate::error::CliResult;
use comfy_table::Table;
use shaledb::{Db, DbStats};

fn mib(b: u64) -> String {
    format!("{:.1}", b as f64 / f64::from(1u32 << 20))
}

/// The per-level table: shape, compaction traffic and each level's share of the write
/// amplification (`LevelStats`).
pub fn level_table(s: &DbStats) -> Table {
    let mut t = Table::new();
    t.set_header([
        "level",
        "tables",
        "MiB",
        "target MiB",
        "score",
        "read MiB",
        "written MiB",
        "compactions",
        "moves",
        "W-amp",
    ]);
    for l in &s.levels {
        t.add_row([
            format!("L{}{}", l.level, if l.level == s.base_level { " (base)" } else { "" }),
            l.tables.to_string(),
            mib(l.bytes),
            if l.target_bytes == 0 { "-".into() } else { mib(l.target_bytes) },
            format!("{:.2}", l.score),
            mib(l.bytes_read),
            mib(l.bytes_written),
            l.compactions.to_string(),
            l.trivial_moves.to_string(),
            format!("{:.2}", l.write_amplification),
        ]);
    }
    t
}

pub fn print(db: &Db, as_json: bool) -> CliResult<()> {
    let s = db.stats();
    if as_json {
        let v = serde_json::to_string(&s)?;
        return Ok(crate::output::write_stdout(&[v.as_bytes(), b"\n"])?);
    }
    let levels = level_table(&s).to_string();
    let r = &s.recovery;
    let c = &s.block_cache;
    let rows: Vec<(&str, String)> = vec![
        ("last sequence number", s.last_seqno.to_string()),
        ("estimated keys", s.estimated_num_keys.to_string()),
        ("approximate size (tables)", format!("{} bytes", s.approximate_size_bytes)),
        ("user bytes written", s.user_bytes.to_string()),
        ("WAL bytes", s.wal_bytes.to_string()),
        ("flush bytes", s.flush_bytes.to_string()),
        (
            "compaction bytes read / written",
            format!("{} / {}", s.compaction_bytes_read, s.compaction_bytes_written),
        ),
        ("write amplification", format!("{:.2}", s.write_amplification)),
        ("space amplification", format!("{:.2}", s.space_amplification)),
        ("stalls: memtables full", format!("{} ({} us)", s.stall_memtables.count, s.stall_memtables.micros)),
        ("stalls: L0 slowdown", format!("{} ({} us)", s.stall_l0_slowdown.count, s.stall_l0_slowdown.micros)),
        ("stalls: L0 stop", format!("{} ({} us)", s.stall_l0_stop.count, s.stall_l0_stop.micros)),
        ("block cache", format!("{} of {} bytes, {} hits, {} misses", c.usage, c.capacity, c.hits, c.misses)),
        ("open table files", format!("{} ({} opens)", s.open_table_files, s.table_file_opens)),
        (
            "memory: memtables / block cache / table readers",
            format!("{} / {} / {} bytes", s.memory.memtables, s.memory.block_cache, s.memory.table_readers),
        ),
        ("memory: total", format!("{} bytes", s.memory.total)),
        ("memory: budget", s.memory.budget.map_or_else(|| "-".to_string(), |b| format!("{b} bytes"))),
        ("MANIFEST", format!("MANIFEST-{:06} ({} bytes)", s.manifest_number, s.manifest_bytes)),
        ("recovery: created", r.created.to_string()),
        ("recovery: MANIFEST edits replayed", r.manifest_edits.to_string()),
        ("recovery: WALs replayed", r.wals_replayed.to_string()),
        ("recovery: records replayed", r.records_replayed.to_string()),
        ("recovery: entries replayed", r.entries_replayed.to_string()),
        ("recovery: tail records dropped", r.tail_records_dropped.to_string()),
        ("recovery: tail bytes dropped", r.tail_bytes_dropped.to_string()),
        (
            "recovery: tail dropped from",
            r.tail_dropped_from.as_ref().map_or("-".into(), |(p, o)| format!("{} at byte {o}", p.display())),
        ),
        ("recovery: MANIFEST tail bytes dropped", r.manifest_tail_bytes_dropped.to_string()),
        ("recovery: orphans removed", r.orphans_removed.to_string()),
        ("recovery: old WALs removed", r.wals_removed.to_string()),
        ("recovery: next file number", r.next_file_number.to_string()),
        ("recovery: duration (ms)", r.duration_ms.to_string()),
    ];
    let mut t = Table::new();
    t.set_header(["counter", "value"]);
    for (k, v) in rows {
        t.add_row([k.to_owned(), v]);
    }
    let text = format!("{levels}\n{t}\n");
    Ok(crate::output::write_stdout(&[text.as_bytes()])?)
}
