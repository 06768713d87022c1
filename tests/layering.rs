//! The layer rule of DESIGN.md §13, as a test (an architecture fitness function): every
//! `crate::…` path a library file names — in `use` items, grouped or not, and inline — must
//! lead to a module of the file's own layer or a lower one. The table is read from
//! DESIGN.md, so the document and the check cannot drift apart. Paths through the crate
//! root's re-exports (`crate::Error`) count as the top layer: lower modules name the
//! defining module instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Layer of the crate root (its re-exports): above every module.
const ROOT_LAYER: usize = usize::MAX;

/// Module path (`iterator::merging`) -> layer, from the table in DESIGN.md §13.
fn layer_table() -> BTreeMap<String, usize> {
    let design = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("DESIGN.md"))
        .expect("DESIGN.md is readable");
    let section = design
        .split("## §13 Layers")
        .nth(1)
        .expect("DESIGN.md has §13 Layers");
    let mut table = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let Ok(layer) = cells[0].parse::<usize>() else {
            continue;
        };
        for m in cells[1].split(',') {
            let m = m.trim().trim_matches('`');
            assert!(!m.is_empty(), "empty module name in layer {layer}");
            assert!(
                table.insert(m.to_owned(), layer).is_none(),
                "{m} listed twice"
            );
        }
    }
    assert!(table.len() >= 10, "the layer table lost rows: {table:?}");
    table
}

/// The layer of module path `m`: its longest prefix in the table. `None` if no prefix is
/// listed.
fn layer_of(table: &BTreeMap<String, usize>, m: &str) -> Option<usize> {
    let segs: Vec<&str> = m.split("::").collect();
    (1..=segs.len())
        .rev()
        .find_map(|n| table.get(&segs[..n].join("::")).copied())
}

/// Module path of a file under `src/`: `a/b.rs` -> `a::b`, `a/mod.rs` -> `a`.
fn module_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_owned());
    }
    parts.join("::")
}

/// Expands one `use` tree (`a::{b, c::{d, e}}`) into full paths.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(tree).trim();
        return if path.is_empty() {
            vec![]
        } else {
            vec![path.to_owned()]
        };
    };
    let prefix = tree[..open].trim_end_matches("::");
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    // Split `inner` at top-level commas.
    let (mut depth, mut start, mut items) = (0usize, 0usize, Vec::new());
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .flat_map(expand)
        .map(|p| {
            if p == "self" {
                prefix.to_owned()
            } else {
                format!("{prefix}::{p}")
            }
        })
        .collect()
}

/// Every `crate::…` and `super::…` path a file names, as written.
fn named_paths(src: &str) -> Vec<String> {
    // Drop comments, so doc links and prose do not count.
    let code: String = src
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut paths = Vec::new();
    // `use` items (possibly spanning lines); the rest of the text is scanned inline.
    let mut rest = String::new();
    let mut remaining = code.as_str();
    while let Some(i) = remaining.find("use ") {
        let at_word_start = i == 0
            || !remaining.as_bytes()[i - 1].is_ascii_alphanumeric()
                && remaining.as_bytes()[i - 1] != b'_';
        rest.push_str(&remaining[..i]);
        let after = &remaining[i + 4..];
        let Some(end) = after.find(';') else {
            rest.push_str(&remaining[i..]);
            remaining = "";
            break;
        };
        if at_word_start {
            let tree: String = after[..end]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            paths.extend(expand(&tree));
        } else {
            rest.push_str(&remaining[i..i + 4]);
            remaining = &remaining[i + 4..];
            continue;
        }
        remaining = &after[end + 1..];
    }
    rest.push_str(remaining);
    // Inline paths: `crate::a::b` and `super::a`.
    for marker in ["crate::", "super::"] {
        let mut s = rest.as_str();
        while let Some(i) = s.find(marker) {
            let tail = &s[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            paths.push(tail[..end].trim_end_matches(':').to_owned());
            s = &s[i + marker.len()..];
        }
    }
    paths
        .into_iter()
        .filter(|p| p.starts_with("crate::") || p.starts_with("super::"))
        .collect()
}

/// Resolves `super::…` from module path `base` (the file's module, or for code inside an
/// inline `mod tests`, one level deeper).
fn resolve_super(base: &str, p: &str) -> Option<String> {
    let mut base: Vec<&str> = base.split("::").collect();
    let mut r = p;
    while let Some(x) = r.strip_prefix("super::") {
        base.pop()?;
        r = x;
    }
    Some(if base.is_empty() {
        r.to_owned()
    } else {
        format!("{}::{r}", base.join("::"))
    })
}

/// The path `p` names, from the crate root (without `crate::`), and its layer. `None` for
/// a `super::` path that stays inside the file's own module.
fn target_of(
    table: &BTreeMap<String, usize>,
    module: &str,
    p: &str,
) -> Option<(String, Option<usize>)> {
    if let Some(r) = p.strip_prefix("crate::") {
        let first = r.split("::").next().unwrap_or(r);
        let is_module = table.keys().any(|m| m.split("::").next() == Some(first));
        // Not a module: a name the crate root re-exports (`crate::Error`).
        let layer = if is_module {
            layer_of(table, r)
        } else {
            Some(ROOT_LAYER)
        };
        return Some((r.to_owned(), layer));
    }
    // `super::` as seen from the file's module, then from an inline module inside it.
    let parent = module.rsplit_once("::").map_or("", |(a, _)| a);
    [format!("{parent}::x"), format!("{module}::x")]
        .iter()
        .filter_map(|b| resolve_super(b.trim_start_matches("::"), p))
        .find_map(|r| layer_of(table, &r).map(|l| (r, Some(l))))
}

/// The violations of the layer rule among `files` (module path, source).
fn violations(table: &BTreeMap<String, usize>, files: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (module, src) in files {
        let Some(own) = layer_of(table, module) else {
            out.push(format!("{module}: not in the layer table of DESIGN.md §13"));
            continue;
        };
        for raw in named_paths(src) {
            let Some((path, layer)) = target_of(table, module, &raw) else {
                continue;
            };
            let Some(target) = layer else {
                out.push(format!(
                    "{module}: names crate::{path}, whose module is not in the table"
                ));
                continue;
            };
            if target > own {
                let t = if target == ROOT_LAYER {
                    "the crate root".to_owned()
                } else {
                    format!("layer {target}")
                };
                out.push(format!(
                    "{module} (layer {own}) imports crate::{path} ({t})"
                ));
            }
        }
    }
    out
}

/// Top-level modules `lib.rs` declares under `#[cfg(test)]`: tests of the whole crate
/// (such as the docs-to-code check), outside the layers.
fn test_only_modules(src: &Path) -> Vec<String> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs is readable");
    let lines: Vec<&str> = lib.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0].trim() == "#[cfg(test)]")
        .filter_map(|w| {
            w[1].trim()
                .strip_prefix("mod ")
                .map(|m| m.trim_end_matches(';').to_owned())
        })
        .collect()
}

/// Every library source file (not the binary, not `lib.rs`, not a crate-level test
/// module), as (module path, source).
fn library_files() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let skip = test_only_modules(&src);
    let mut stack = vec![src.clone()];
    let mut files: Vec<PathBuf> = Vec::new();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("src is readable") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                if p != src.join("bin") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "rs") && p != src.join("lib.rs") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&src).expect("under src");
            (
                module_of(rel),
                std::fs::read_to_string(&p).expect("readable"),
            )
        })
        .filter(|(m, _)| !skip.contains(m))
        .collect()
}

#[test]
fn every_import_points_down_the_layer_table() {
    let table = layer_table();
    let files = library_files();
    assert!(files.len() > 40, "found only {} files", files.len());
    let v = violations(&table, &files);
    assert!(v.is_empty(), "upward imports:\n{}", v.join("\n"));
}

#[test]
fn a_planted_upward_import_is_caught() {
    let table = layer_table();
    let mut files = library_files();
    // (module, planted source, upward names in it)
    let cases = [
        ("key", "use crate::db::Db;\n", 1),
        (
            "sstable::reader",
            "use crate::{error::Error, compaction::{picker::Claims, Compaction as C}};\n",
            2,
        ),
        (
            "wal::reader",
            "fn f() -> crate::version::Version { todo!() }\n",
            1,
        ),
        ("compaction::job", "use crate::Error;\n", 1),
        ("memtable::iter", "use super::super::options::Options;\n", 1),
        (
            "version",
            "mod tests {\n    use super::super::db::Db;\n}\n",
            1,
        ),
        (
            "iterator",
            "use crate::iterator::merging::MergingIterator;\n",
            1,
        ),
        (
            "sstable::block",
            "use crate::{coding::put_u32, key::ValueType};\n",
            0,
        ),
    ];
    let baseline = violations(&table, &files).len();
    for (module, planted, upward) in cases {
        files.push((module.to_owned(), planted.to_owned()));
        let v = violations(&table, &files);
        assert_eq!(
            v.len(),
            baseline + upward,
            "planted {planted:?} in {module}: {v:?}"
        );
        files.pop();
    }
    // And the checker's own parsing: grouped, nested and aliased items all expand.
    assert_eq!(
        expand("crate::a::{b, c::{d as e, self}}"),
        vec!["crate::a::b", "crate::a::c::d", "crate::a::c"]
    );
}
