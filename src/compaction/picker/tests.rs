//! Data-driven picker tests, after Pebble's `datadriven` package: each file in
//! `testdata/compaction_picker/` describes levels of synthetic tables and the plans the
//! pure picker must produce for them. No disk, no engine.
//!
//! A case is a command line, optional input lines, a `----` line, and the expected output
//! up to a blank line. Lines starting with `#` are comments. Commands:
//!
//! - `define` with lines `L<n>: <number>:<smallest>-<largest>:<size>[MiB|GiB] ...`: replaces
//!   the levels (sizes in bytes unless suffixed). Prints `ok`.
//! - `pick [busy=<n>,<n>...] [now=<ms>]`: the background picker's plan, or `none`; tables
//!   may carry `:exp=<ms>`, their earliest expiry, which `now` is compared with.
//! - `pick_manual level=<n> [start=<key>] [end=<key>] [busy=...]`: a manual compaction's
//!   plan, `none`, or `busy`.
//! - `targets`: the base level and the target bytes of each level, in MiB.
//! - `scores`: each level's score, two decimals.
//! - `claim files=<n>,... level=<n> range=<lo>-<hi>` / `release ...`: change the claims
//!   that later `pick`s see. `claims` prints whether any claim is left.
//!
//! A plan prints as `L<in> -> L<out> inputs=[..] output_inputs=[..] grandparents=[..]
//! bottommost=<b> trivial_move=<b> score=<s>`. With `SHALE_REWRITE=1` the runner writes the
//! actual outputs back into the files instead of comparing (review the diff).
//! Picker options are fixed: L0 trigger 4, base level 256 MiB, multiplier 10, target file
//! size 64 MiB.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::*;
use crate::key::{encode_internal_key, ValueType};

const MIB: u64 = 1 << 20;

fn opts() -> PickerOptions {
    PickerOptions { level0_trigger: 4, base_bytes: 256 * MIB, multiplier: 10, target_file_size: 64 * MIB, now_ms: 0 }
}

/// A table `number` over `[lo, hi]` of `size` bytes.
fn table(number: u64, lo: &str, hi: &str, size: u64) -> FileMetaData {
    FileMetaData {
        number,
        file_size: size,
        smallest: Bytes::from(encode_internal_key(lo.as_bytes(), number * 10 + 1, ValueType::Value)),
        largest: Bytes::from(encode_internal_key(hi.as_bytes(), number * 10, ValueType::Value)),
        smallest_seqno: number * 10,
        largest_seqno: number * 10 + 1,
        table_id: None,
        earliest_expiry: None,
    }
}

fn parse_size(s: &str) -> u64 {
    let num = |t: &str| t.parse::<u64>().unwrap_or_else(|_| panic!("bad size {s:?}"));
    if let Some(n) = s.strip_suffix("GiB") {
        num(n) * 1024 * MIB
    } else if let Some(n) = s.strip_suffix("MiB") {
        num(n) * MIB
    } else {
        num(s)
    }
}

/// `<number>:<lo>-<hi>:<size>[:exp=<ms>]`.
fn parse_table(spec: &str) -> FileMetaData {
    let parts: Vec<&str> = spec.split(':').collect();
    assert!(parts.len() == 3 || parts.len() == 4, "table spec {spec:?}");
    let (lo, hi) = parts[1].split_once('-').unwrap_or_else(|| panic!("range in {spec:?}"));
    let mut t = table(parts[0].parse().unwrap_or_else(|_| panic!("number in {spec:?}")), lo, hi, parse_size(parts[2]));
    if let Some(e) = parts.get(3) {
        let ms = e.strip_prefix("exp=").and_then(|m| m.parse().ok()).unwrap_or_else(|| panic!("expiry in {spec:?}"));
        t.earliest_expiry = Some(ms);
    }
    t
}

fn numbers(s: &str) -> Vec<u64> {
    s.split(',').filter(|x| !x.is_empty()).map(|x| x.parse().unwrap_or_else(|_| panic!("number {x:?}"))).collect()
}

fn show_plan(p: &Plan) -> String {
    format!(
        "L{} -> L{} inputs={:?} output_inputs={:?} grandparents={:?} bottommost={} trivial_move={} score={:.2}",
        p.level, p.output_level, p.inputs, p.output_inputs, p.grandparents, p.bottommost, p.trivial_move, p.score
    )
}

/// The state one file's cases share.
struct Harness {
    levels: Vec<Vec<FileMetaData>>,
    claims: Claims,
}

impl Harness {
    fn run(&mut self, cmd: &str, input: &[&str]) -> String {
        let mut words = cmd.split_whitespace();
        let name = words.next().unwrap_or_default();
        let args: std::collections::BTreeMap<&str, &str> =
            words.map(|w| w.split_once('=').unwrap_or_else(|| panic!("argument {w:?} in {cmd:?}"))).collect();
        let busy = || {
            let mut c = self.claims.clone();
            c.files.extend(args.get("busy").map_or_else(Vec::new, |b| numbers(b)));
            c
        };
        match name {
            "define" => {
                self.levels = vec![Vec::new(); NUM_LEVELS];
                for line in input {
                    let (l, specs) = line.split_once(':').unwrap_or_else(|| panic!("level line {line:?}"));
                    let l: usize = l.trim().trim_start_matches('L').parse().expect("level number");
                    self.levels[l] = specs.split_whitespace().map(parse_table).collect();
                }
                "ok".into()
            }
            "pick" => {
                let now_ms = args.get("now").map_or(0, |n| n.parse().expect("now=<ms>"));
                pick(&self.levels, &PickerOptions { now_ms, ..opts() }, &busy()).map_or("none".into(), |p| show_plan(&p))
            }
            "pick_manual" => {
                let level: usize = args.get("level").expect("level=").parse().expect("level");
                let start = args.get("start").map(|s| s.as_bytes());
                let end = args.get("end").map(|s| s.as_bytes());
                match pick_manual(&self.levels, &opts(), &busy(), level, start, end) {
                    Ok(Some(p)) => show_plan(&p),
                    Ok(None) => "none".into(),
                    Err(Busy) => "busy".into(),
                }
            }
            "targets" => {
                let t = level_targets(&self.levels, &opts());
                let mut s = format!("base_level={}", t.base_level);
                for (l, b) in t.targets.iter().enumerate() {
                    let _ = write!(s, " L{l}={}MiB", b / MIB);
                }
                s
            }
            "scores" => {
                let s = scores(&self.levels, &opts());
                s.iter().enumerate().map(|(l, x)| format!("L{l}={x:.2}")).collect::<Vec<_>>().join(" ")
            }
            "claim" | "release" => {
                let files = numbers(args.get("files").expect("files="));
                let level: usize = args.get("level").expect("level=").parse().expect("level");
                let (lo, hi) = args.get("range").and_then(|r| r.split_once('-')).expect("range=lo-hi");
                if name == "claim" {
                    self.claims.claim(files, level, lo.as_bytes(), hi.as_bytes());
                } else {
                    self.claims.release(files, level, lo.as_bytes(), hi.as_bytes());
                }
                "ok".into()
            }
            "claims" => if self.claims == Claims::default() { "none" } else { "some" }.into(),
            other => panic!("unknown command {other:?}"),
        }
    }
}

/// Runs one file; returns its text with actual outputs (for rewriting) and the mismatches.
fn run_file(path: &Path) -> (String, Vec<String>) {
    let text = std::fs::read_to_string(path).expect("testdata readable");
    let lines: Vec<&str> = text.lines().collect();
    let mut h = Harness { levels: vec![Vec::new(); NUM_LEVELS], claims: Claims::default() };
    let (mut out, mut failures, mut i) = (String::new(), Vec::new(), 0);
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() || line.starts_with('#') {
            out.push_str(line);
            out.push('\n');
            i += 1;
            continue;
        }
        let start = i;
        let sep = (i..lines.len()).find(|&j| lines[j] == "----").expect("---- after a command");
        let end = (sep + 1..lines.len()).find(|&j| lines[j].trim().is_empty()).unwrap_or(lines.len());
        let actual = h.run(line, &lines[start + 1..sep]);
        let expected = lines[sep + 1..end].join("\n");
        if actual != expected {
            failures.push(format!(
                "{}:{}: {line}\n  expected: {expected}\n  actual:   {actual}",
                path.display(),
                start + 1
            ));
        }
        for l in &lines[start..=sep] {
            out.push_str(l);
            out.push('\n');
        }
        out.push_str(&actual);
        out.push('\n');
        i = end;
    }
    (out, failures)
}

#[test]
fn picker_testdata() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/compaction_picker");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("testdata/compaction_picker exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "found only {} testdata files", files.len());
    let rewrite = std::env::var_os("SHALE_REWRITE").is_some();
    let mut failures = Vec::new();
    for f in &files {
        let (text, fails) = run_file(f);
        if rewrite {
            std::fs::write(f, text).expect("rewrite testdata");
        } else {
            failures.extend(fails);
        }
    }
    assert!(failures.is_empty(), "{} case(s) differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn the_runner_reports_a_wrong_expectation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("case.txt");
    std::fs::write(&p, "define\nL0: 1:a-z:1MiB\n----\nok\n\npick\n----\nL0 -> L6 inputs=[1]\n").expect("write");
    let (_, failures) = run_file(&p);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains("actual:   none"), "{}", failures[0]);
}
