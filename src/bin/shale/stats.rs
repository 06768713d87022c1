//! `shale stats`: the database's shape and counters as a table or JSON.

use comfy_table::Table;
use serde_json::json;
use shaledb::Db;

pub fn print(db: &Db, as_json: bool) -> Result<(), String> {
    let s = db.stats();
    let r = &s.recovery;
    if as_json {
        let levels: Vec<_> = s
            .levels
            .iter()
            .map(|l| json!({"level": l.level, "tables": l.tables, "bytes": l.bytes}))
            .collect();
        let v = json!({
            "levels": levels,
            "last_seqno": s.last_seqno,
            "manifest_number": s.manifest_number,
            "manifest_bytes": s.manifest_bytes,
            "block_cache": {
                "capacity": s.block_cache.capacity,
                "usage": s.block_cache.usage,
                "blocks": s.block_cache.blocks,
                "hits": s.block_cache.hits,
                "misses": s.block_cache.misses,
            },
            "recovery": {
                "created": r.created,
                "manifest_edits": r.manifest_edits,
                "manifest_tail_bytes_dropped": r.manifest_tail_bytes_dropped,
                "wals_replayed": r.wals_replayed,
                "records_replayed": r.records_replayed,
                "entries_replayed": r.entries_replayed,
                "tail_records_dropped": r.tail_records_dropped,
                "tail_bytes_dropped": r.tail_bytes_dropped,
                "orphans_removed": r.orphans_removed,
                "wals_removed": r.wals_removed,
                "recovered_seqno": r.recovered_seqno,
                "next_file_number": r.next_file_number,
                "duration_ms": r.duration_ms,
            },
        });
        return crate::data::write_stdout(&[v.to_string().as_bytes(), b"\n"]).map_err(|e| e.to_string());
    }
    let mut t = Table::new();
    t.set_header(["level", "tables", "bytes"]);
    for l in &s.levels {
        t.add_row([format!("L{}", l.level), l.tables.to_string(), l.bytes.to_string()]);
    }
    let levels = t.to_string();
    let mut t = Table::new();
    t.set_header(["counter", "value"]);
    let c = &s.block_cache;
    let rows: [(&str, String); 15] = [
        ("block cache", format!("{} of {} bytes, {} hits, {} misses", c.usage, c.capacity, c.hits, c.misses)),
        ("last sequence number", s.last_seqno.to_string()),
        ("MANIFEST", format!("MANIFEST-{:06} ({} bytes)", s.manifest_number, s.manifest_bytes)),
        ("recovery: created", r.created.to_string()),
        ("recovery: MANIFEST edits replayed", r.manifest_edits.to_string()),
        ("recovery: WALs replayed", r.wals_replayed.to_string()),
        ("recovery: records replayed", r.records_replayed.to_string()),
        ("recovery: entries replayed", r.entries_replayed.to_string()),
        ("recovery: tail records dropped", r.tail_records_dropped.to_string()),
        ("recovery: tail bytes dropped", r.tail_bytes_dropped.to_string()),
        ("recovery: MANIFEST tail bytes dropped", r.manifest_tail_bytes_dropped.to_string()),
        ("recovery: orphans removed", r.orphans_removed.to_string()),
        ("recovery: old WALs removed", r.wals_removed.to_string()),
        ("recovery: next file number", r.next_file_number.to_string()),
        ("recovery: duration (ms)", r.duration_ms.to_string()),
    ];
    for (k, v) in rows {
        t.add_row([k.to_owned(), v]);
    }
    let text = format!("{levels}\n{t}\n");
    crate::data::write_stdout(&[text.as_bytes()]).map_err(|e| e.to_string())
}
