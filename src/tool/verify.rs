//! `verify`: checks every byte a database depends on and reports per file.
//!
//! - `CURRENT` parses and its checksum holds;
//! - every MANIFEST record checks out and decodes;
//! - every table the MANIFEST names exists with its recorded size, and every block of it
//!   (footer, index, filter, properties, data) checks out; its internal keys are strictly
//!   increasing and match the recorded smallest and largest keys;
//! - tables of each level below L0 are sorted and do not overlap;
//! - every WAL record checks out and decodes. A damaged tail counts as a problem too, with
//!   a note that a crash leaves one (the next open drops it): verify flags every byte that
//!   fails its checksum;
//! - files no MANIFEST names are listed as orphans (not a problem: the next open deletes
//!   them).

use std::path::Path;
use std::sync::Arc;

use crate::batch::decode_rep;
use crate::filename::{
    current_path, is_obsolete, manifest_path, parse_file_name, table_path, wal_path, FileType, LiveFiles,
};
use crate::fs::FileSystem;
use crate::iterator::InternalIterator;
use crate::key::{compare_internal_keys, user_key_of, ParsedInternalKey};
use crate::sstable::Table;
use crate::version::manifest::{read_current, replay, ManifestState};
use crate::wal::LogReader;

/// A table's smallest and largest user key and its number.
type KeyRange = (Vec<u8>, Vec<u8>, u64);

/// The outcome for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    /// File name in the database directory.
    pub file: String,
    /// What the file is: `CURRENT`, `MANIFEST`, `table Ln`, `WAL`, `orphan`.
    pub kind: String,
    /// True if nothing is wrong with it.
    pub ok: bool,
    /// What was checked, or what is wrong.
    pub detail: String,
}

fn check(file: &str, kind: &str, r: Result<String, String>) -> FileCheck {
    let (ok, detail) = match r {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    };
    FileCheck { file: file.to_owned(), kind: kind.to_owned(), ok, detail }
}

fn name_of(p: &Path) -> String {
    p.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// Verifies the database in `dir` (see the module docs). Returns one entry per file.
pub fn verify(fs: &dyn FileSystem, dir: &Path) -> Vec<FileCheck> {
    let mut out = Vec::new();
    let number = match read_current(fs, dir) {
        Ok(n) => {
            out.push(check("CURRENT", "CURRENT", Ok(format!("names MANIFEST-{n:06}"))));
            n
        }
        Err(e) => {
            out.push(check("CURRENT", "CURRENT", Err(e.to_string())));
            return out;
        }
    };
    let mpath = manifest_path(dir, number);
    let mut state = ManifestState::default();
    match replay(fs, dir, number) {
        Ok(r) => {
            let n = r.edits.len();
            for e in r.edits {
                state.apply(e);
            }
            let summary = format!("{n} version edits, {} tables", state.files.len());
            let r = if r.tail_bytes_dropped > 0 {
                Err(format!(
                    "{summary}; the last {} bytes fail their checksum (a torn or damaged last edit, ignored at open)",
                    r.tail_bytes_dropped
                ))
            } else {
                Ok(summary)
            };
            out.push(check(&name_of(&mpath), "MANIFEST", r));
        }
        Err(e) => {
            out.push(check(&name_of(&mpath), "MANIFEST", Err(e.to_string())));
            return out;
        }
    }
    // Tables, and the order of each level.
    let mut levels: Vec<Vec<KeyRange>> = vec![Vec::new(); crate::version::NUM_LEVELS];
    for (level, meta) in state.files.values() {
        let path = table_path(dir, meta.number);
        let r = check_table(fs, &path, meta);
        if r.is_ok() {
            levels[*level].push((
                user_key_of(&meta.smallest).to_vec(),
                user_key_of(&meta.largest).to_vec(),
                meta.number,
            ));
        }
        out.push(check(&name_of(&path), &format!("table L{level}"), r));
    }
    for (level, tables) in levels.iter_mut().enumerate().skip(1) {
        tables.sort();
        for w in tables.windows(2) {
            if w[0].1 >= w[1].0 {
                out.push(check(
                    &format!("L{level}"),
                    "level",
                    Err(format!("tables {} and {} overlap", w[0].2, w[1].2)),
                ));
            }
        }
    }
    // WALs.
    let names = fs.list(dir).unwrap_or_default();
    let mut wals: Vec<u64> = names
        .iter()
        .filter_map(|n| match parse_file_name(n) {
            Some(FileType::Wal(w)) if w >= state.log_number => Some(w),
            _ => None,
        })
        .collect();
    wals.sort_unstable();
    for (i, &w) in wals.iter().enumerate() {
        let path = wal_path(dir, w);
        out.push(check(&name_of(&path), "WAL", check_wal(fs, &path, w, i + 1 == wals.len())));
    }
    // WALs the MANIFEST tracks: each must exist, and a sealed one be at least its size.
    for (&w, &sealed) in &state.wals {
        let path = wal_path(dir, w);
        let size = fs.open(&path).map(|f| f.size()).ok();
        let problem = match (size, sealed) {
            (None, _) => Some("the MANIFEST tracks this live WAL, but it is missing".to_owned()),
            (Some(have), Some(want)) if have < want => {
                Some(format!("{have} bytes, but the MANIFEST recorded it sealed at {want}"))
            }
            _ => None,
        };
        if let Some(p) = problem {
            out.push(check(&name_of(&path), "WAL", Err(p)));
        }
    }
    // Orphans.
    let is_live_table = |t: u64| state.files.contains_key(&t);
    let live =
        LiveFiles { log_number: state.log_number, manifest_number: number, is_live_table: &is_live_table };
    for n in &names {
        let orphan = parse_file_name(n).is_some_and(|t| is_obsolete(t, &live));
        if orphan {
            out.push(check(n, "orphan", Ok("not referenced; the next open deletes it".into())));
        }
    }
    if !fs.exists(&current_path(dir)) {
        out.push(check("CURRENT", "CURRENT", Err("missing".into())));
    }
    out
}

fn check_table(
    fs: &dyn FileSystem,
    path: &Path,
    meta: &crate::version::FileMetaData,
) -> Result<String, String> {
    let size = fs.open(path).map_err(|e| format!("cannot open: {e}"))?.size();
    if size != meta.file_size {
        return Err(format!("size {size} bytes, MANIFEST says {}", meta.file_size));
    }
    let table = Arc::new(Table::open(fs, path).map_err(|e| e.to_string())?);
    meta.check_identity(path, table.properties()).map_err(|e| e.to_string())?;
    let mut it = table.iter(crate::sstable::BlockReadOptions { fill_cache: false, verify_checksums: true });
    it.seek_to_first().map_err(|e| e.to_string())?;
    let mut prev: Option<Vec<u8>> = None;
    let mut first: Option<Vec<u8>> = None;
    let mut n = 0u64;
    while it.valid() {
        let k = it.key();
        if ParsedInternalKey::decode(k).is_none() {
            return Err(format!("entry {n}: not an internal key"));
        }
        if let Some(p) = &prev {
            if compare_internal_keys(p, k).is_ge() {
                return Err(format!("entry {n}: keys out of order"));
            }
        } else {
            first = Some(k.to_vec());
        }
        prev = Some(k.to_vec());
        n += 1;
        it.next().map_err(|e| e.to_string())?;
    }
    let empty = crate::range_del::FragmentedRangeTombstones::default();
    let frags = table.range_tombstones().map_or(&empty, |f| f.as_ref());
    let bounds = crate::sstable::builder::table_bounds(first.as_deref(), prev.as_deref(), frags);
    match bounds {
        Some((lo, _)) if lo != meta.smallest => {
            return Err("first key differs from the MANIFEST's smallest key".into());
        }
        Some((_, hi)) if hi != meta.largest => {
            return Err("last key differs from the MANIFEST's largest key".into());
        }
        None => return Err("the table holds no entry and no range tombstone".into()),
        Some(_) => {}
    }
    let props = table.properties();
    if props.num_entries != n {
        return Err(format!("{n} entries, properties say {}", props.num_entries));
    }
    Ok(format!("{n} entries in {} data blocks, all checksums match", props.num_data_blocks))
}

fn check_wal(fs: &dyn FileSystem, path: &Path, number: u64, newest: bool) -> Result<String, String> {
    let data = fs.read_all(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut reader = LogReader::new(&data, number);
    let (mut records, mut ops) = (0u64, 0u64);
    loop {
        match reader.next_record() {
            Ok(None) => return Ok(format!("{records} records, {ops} operations")),
            Ok(Some((_, rec))) if rec.is_empty() => {} // a seal record
            Ok(Some((offset, rec))) => {
                let d = decode_rep(&rec, path, offset).map_err(|e| e.to_string())?;
                records += 1;
                ops += d.ops.len() as u64;
            }
            Err(d) if d.is_tail && newest => {
                return Err(format!(
                    "{records} records, {ops} operations; then {} bytes from offset {} fail their checksum: \
                     a torn tail (normal after a crash; the next open drops it) or damage",
                    d.bytes_after, d.offset
                ));
            }
            Err(d) => return Err(format!("damaged record at offset {}: {}", d.offset, d.kind)),
        }
    }
}
