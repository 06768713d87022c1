//! The compaction picker: pure functions from the shape of the levels and the options to
//! an optional [`Plan`]. No I/O, no locks, no engine types: tests and tools run it over
//! synthetic levels of [`FileMetaData`] (mini-lsm's "compaction simulator" idea).
//!
//! Policy, after RocksDB's leveled compaction with `level_compaction_dynamic_level_bytes`:
//! - **Targets.** The last level (L6) holds whatever it holds. While a level holds more
//!   than `max_bytes_for_level_base`, a level is added above it with `1/multiplier` of
//!   its size (RocksDB's `CalculateBaseBytes`, which stopped letting L0's bytes raise
//!   that bound: a large L0 then kept a large base level, whose every L0 compaction
//!   rewrote all of it, slower each time, so L0 grew further); the highest such
//!   level is the *base level*, and L0 compacts into it. Every level from the base level
//!   down targets its size but never less than the base size, as RocksDB's floor does,
//!   so the base level targets the base size and drains into the level below only once
//!   L0 compactions have filled it. Levels between L0 and the base level stay empty. A
//!   small database therefore compacts L0 straight into L6, and grows upward one level at
//!   a time. The base level is never below the first level that holds tables.
//! - **Scores.** L0: table count over `level0_file_num_compaction_trigger`, and, once L0
//!   holds more bytes than the base level's target, L0's bytes over the larger of the base
//!   level's bytes and target (RocksDB's rule: an L0 compaction rewrites the base level,
//!   so when L0 is the larger it is the better use of the work). Other levels
//!   above the last: bytes over target (a non-empty level above the base level, which
//!   cannot arise today, would score at least 1). The highest score of at least 1 wins.
//! - **Choice.** L0 takes every L0 table. A deeper level takes the one table with the
//!   smallest ratio of overlapping bytes in the next level to its own size (RocksDB's
//!   `kMinOverlappingRatio`), which minimises write amplification.
//! - **Trivial move.** Input tables that do not overlap each other (one table, or the L0
//!   tables of a sequential load), nothing to merge with below, and a bounded grandparent
//!   overlap: the tables move by one MANIFEST edit alone.
//! - **Grandparents.** The job cuts an output table once it overlaps more than
//!   `10 x target_file_size` bytes of the level below the output level, so no output forces
//!   a giant compaction later.
//! - **Claims.** Tables another running compaction owns are never picked, nor is a plan
//!   whose inputs or overlaps touch them, nor one whose outputs would overlap the key
//!   range another job writes into the same level ([`Claims`]).

use crate::key::compare_internal_keys;
use crate::options::Options;
use crate::version::{FileMetaData, NUM_LEVELS};

/// The last level: it is never compacted by size, only by `compact_range`.
pub const LAST_LEVEL: usize = NUM_LEVELS - 1;

/// What running compactions own: their input tables, and the key range each writes into
/// its output level. A new plan may touch neither, so jobs that run at once never merge
/// the same table or write overlapping tables into one level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    /// File numbers of tables being compacted.
    pub files: std::collections::HashSet<u64>,
    /// `(output level, smallest user key, largest user key)` per running job.
    pub ranges: Vec<(usize, Vec<u8>, Vec<u8>)>,
}

impl Claims {
    fn file(&self, number: u64) -> bool {
        self.files.contains(&number)
    }

    fn range(&self, level: usize, lo: &[u8], hi: &[u8]) -> bool {
        self.ranges.iter().any(|(l, a, b)| *l == level && a.as_slice() <= hi && b.as_slice() >= lo)
    }

    /// Records that a job owns `files` and writes `[lo, hi]` into `output_level`.
    pub fn claim(&mut self, files: impl IntoIterator<Item = u64>, output_level: usize, lo: &[u8], hi: &[u8]) {
        self.files.extend(files);
        self.ranges.push((output_level, lo.to_vec(), hi.to_vec()));
    }

    /// Releases what `claim` recorded.
    pub fn release(
        &mut self,
        files: impl IntoIterator<Item = u64>,
        output_level: usize,
        lo: &[u8],
        hi: &[u8],
    ) {
        for f in files {
            self.files.remove(&f);
        }
        if let Some(i) = self
            .ranges
            .iter()
            .position(|(l, a, b)| *l == output_level && a.as_slice() == lo && b.as_slice() == hi)
        {
            self.ranges.swap_remove(i);
        }
    }
}

/// The options the picker reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PickerOptions {
    /// L0 table count that triggers an L0 compaction.
    pub level0_trigger: usize,
    /// Minimum target size of the base level, in bytes.
    pub base_bytes: u64,
    /// Size ratio of adjacent levels.
    pub multiplier: u64,
    /// Output table size, in bytes.
    pub target_file_size: u64,
    /// The clock, in Unix milliseconds: a table whose earliest expiry is at or before it
    /// is compacted even when no level is over its target (RocksDB's TTL compaction).
    pub now_ms: u64,
}

impl PickerOptions {
    /// The picker's view of `opts`.
    pub fn from_options(opts: &Options) -> Self {
        PickerOptions {
            level0_trigger: opts.level0_file_num_compaction_trigger,
            base_bytes: opts.max_bytes_for_level_base,
            multiplier: opts.max_bytes_for_level_multiplier,
            target_file_size: opts.target_file_size,
            now_ms: 0,
        }
    }

    /// Grandparent bytes one output table may overlap before it is cut.
    pub fn max_grandparent_overlap(&self) -> u64 {
        self.target_file_size.saturating_mul(10)
    }
}

/// A chosen compaction, by file number.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The input level.
    pub level: usize,
    /// Input tables of `level`.
    pub inputs: Vec<u64>,
    /// Where the outputs go.
    pub output_level: usize,
    /// Tables of `output_level` that overlap the inputs (merged with them).
    pub output_inputs: Vec<u64>,
    /// Tables of `output_level + 1` that overlap the inputs' range.
    pub grandparents: Vec<u64>,
    /// No deeper level holds a key of the range: tombstones may be dropped.
    pub bottommost: bool,
    /// Move the single input by a MANIFEST edit, without rewriting it.
    pub trivial_move: bool,
    /// The score that chose it (0 for manual compactions).
    pub score: f64,
    /// The user-key range the outputs cover: inputs and overlapped output tables.
    pub range: (Vec<u8>, Vec<u8>),
}

/// Target sizes per level and the base level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelTargets {
    /// The level L0 compacts into.
    pub base_level: usize,
    /// Target bytes per level (0 for L0 and for the empty levels above the base level).
    pub targets: [u64; NUM_LEVELS],
}

fn level_bytes(level: &[FileMetaData]) -> u64 {
    level.iter().map(|f| f.file_size).sum()
}

/// Dynamic level targets for `levels` (see the module docs), as RocksDB's
/// `VersionStorageInfo::CalculateBaseBytes` computes them with
/// `level_compaction_dynamic_level_bytes`.
pub fn level_targets(levels: &[Vec<FileMetaData>], o: &PickerOptions) -> LevelTargets {
    let mut targets = [0u64; NUM_LEVELS];
    let largest = levels[1..].iter().map(|l| level_bytes(l)).max().unwrap_or(0);
    let Some(first) = (1..=LAST_LEVEL).find(|&l| !levels[l].is_empty()) else {
        // Nothing below L0: L0 compacts straight into the last level.
        targets[LAST_LEVEL] = o.base_bytes;
        return LevelTargets { base_level: LAST_LEVEL, targets };
    };
    let multiplier = o.multiplier.max(2);
    let base_max = o.base_bytes;
    let base_min = base_max / multiplier;
    // The size the first non-empty level would target if the largest level were the
    // last level's target.
    let mut size = largest;
    for _ in first..LAST_LEVEL {
        size /= multiplier;
    }
    let mut base_level = first;
    let base_size = if size <= base_min {
        // More levels hold data than the data needs: the first of them is the base level.
        base_min + 1
    } else {
        // Add a level above while the one below is larger than the base size, so the base
        // level's computed size ends between base / multiplier and base.
        while base_level > 1 && size > base_max {
            base_level -= 1;
            size /= multiplier;
        }
        size.min(base_max)
    };
    // No level targets less than the base size (RocksDB's floor: a smaller target would
    // make the levels below L0 score above it, so L0 would fill and stall while they
    // compact, and the base level would drain into the next level after every L0
    // compaction). The base level's target is therefore the base size itself, and the
    // levels below grow by the multiplier from its computed size.
    let mut level_size = base_size;
    for (l, t) in targets.iter_mut().enumerate().skip(base_level) {
        if l > base_level {
            level_size = level_size.saturating_mul(multiplier);
        }
        *t = level_size.max(base_max);
    }
    LevelTargets { base_level, targets }
}

/// The compaction score of every level (see the module docs); the last level scores 0.
pub fn scores(levels: &[Vec<FileMetaData>], o: &PickerOptions) -> [f64; NUM_LEVELS] {
    let t = level_targets(levels, o);
    let mut s = [0.0; NUM_LEVELS];
    s[0] = levels[0].len() as f64 / o.level0_trigger.max(1) as f64;
    let l0_bytes = level_bytes(&levels[0]);
    let base_target = t.targets[t.base_level];
    if l0_bytes > base_target {
        let base_bytes = level_bytes(&levels[t.base_level]).max(base_target);
        s[0] = s[0].max(l0_bytes as f64 / base_bytes as f64);
    }
    for l in 1..LAST_LEVEL {
        let bytes = level_bytes(&levels[l]) as f64;
        s[l] = if t.targets[l] == 0 {
            // A level above the base level should be empty: move what it holds down.
            if bytes > 0.0 {
                (bytes / o.base_bytes as f64).max(1.0)
            } else {
                0.0
            }
        } else {
            bytes / t.targets[l] as f64
        };
    }
    s
}

fn user_range<'a>(files: impl Iterator<Item = &'a FileMetaData>) -> Option<(&'a [u8], &'a [u8])> {
    let mut range: Option<(&[u8], &[u8])> = None;
    for f in files {
        let (lo, hi) = (f.smallest_user_key(), f.largest_user_key());
        range = Some(match range {
            None => (lo, hi),
            Some((a, b)) => (a.min(lo), b.max(hi)),
        });
    }
    range
}

fn overlapping<'a>(level: &'a [FileMetaData], lo: &[u8], hi: &[u8]) -> Vec<&'a FileMetaData> {
    level.iter().filter(|f| f.overlaps(lo, hi)).collect()
}

/// True if no two of `tables` overlap in user keys (ends inclusive), so they can sit in
/// one sorted level side by side: one table always, and several L0 tables of a
/// sequential load (RocksDB moves those too).
fn disjoint(tables: &[&FileMetaData]) -> bool {
    let mut ranges: Vec<(&[u8], &[u8])> = tables.iter().map(|f| (f.smallest_user_key(), f.largest_user_key())).collect();
    ranges.sort_unstable();
    ranges.windows(2).all(|w| w[0].1 < w[1].0)
}

/// The picker's inputs, bundled.
struct View<'a> {
    levels: &'a [Vec<FileMetaData>],
    o: &'a PickerOptions,
    busy: &'a Claims,
}

/// Completes a plan for `inputs` of `level` going to `output_level`. `None` if a table it
/// needs is busy.
fn plan_for(
    view: &View<'_>,
    level: usize,
    inputs: &[&FileMetaData],
    output_level: usize,
    allow_trivial_move: bool,
    score: f64,
) -> Option<Plan> {
    let View { levels, o, busy } = *view;
    let (lo, hi) = user_range(inputs.iter().copied())?;
    let output_inputs: Vec<&FileMetaData> =
        if output_level == level { Vec::new() } else { overlapping(&levels[output_level], lo, hi) };
    if inputs.iter().chain(&output_inputs).any(|f| busy.file(f.number)) {
        return None;
    }
    let (lo, hi) = user_range(inputs.iter().chain(&output_inputs).copied())?;
    if busy.range(output_level, lo, hi) {
        return None;
    }
    let grandparents: Vec<&FileMetaData> =
        if output_level < LAST_LEVEL { overlapping(&levels[output_level + 1], lo, hi) } else { Vec::new() };
    let bottommost = levels[output_level + 1..].iter().all(|l| overlapping(l, lo, hi).is_empty());
    let gp_bytes: u64 = grandparents.iter().map(|f| f.file_size).sum();
    let trivial_move = allow_trivial_move
        && level != output_level
        && disjoint(inputs)
        && output_inputs.is_empty()
        && gp_bytes <= o.max_grandparent_overlap();
    Some(Plan {
        level,
        range: (lo.to_vec(), hi.to_vec()),
        inputs: inputs.iter().map(|f| f.number).collect(),
        output_level,
        output_inputs: output_inputs.iter().map(|f| f.number).collect(),
        grandparents: grandparents.iter().map(|f| f.number).collect(),
        bottommost,
        trivial_move,
        score,
    })
}

/// Picks the next compaction by score, skipping busy tables; `None` if no level scores 1
/// or more, or every candidate touches a busy table.
pub fn pick(levels: &[Vec<FileMetaData>], o: &PickerOptions, busy: &Claims) -> Option<Plan> {
    debug_assert_eq!(levels.len(), NUM_LEVELS);
    let targets = level_targets(levels, o);
    let s = scores(levels, o);
    let mut order: Vec<usize> = (0..LAST_LEVEL).filter(|&l| s[l] >= 1.0).collect();
    order.sort_by(|&a, &b| s[b].total_cmp(&s[a]));
    for level in order {
        let plan = if level == 0 {
            let inputs: Vec<&FileMetaData> = levels[0].iter().collect();
            plan_for(&View { levels, o, busy }, 0, &inputs, targets.base_level, true, s[0])
        } else {
            pick_in_level(levels, o, busy, level, s[level])
        };
        if plan.is_some() {
            return plan;
        }
    }
    pick_expired(levels, o, busy)
}

/// A compaction of the first table (by level, then number) whose earliest expiry has
/// passed, so expired data does not sit in a level nobody compacts by size (the last
/// level in particular): the table with what overlaps it below, or rewritten in place at
/// the last level. Its outputs hold tombstones for the expired entries (or nothing, at the
/// bottom), so the same table is not picked again.
fn pick_expired(levels: &[Vec<FileMetaData>], o: &PickerOptions, busy: &Claims) -> Option<Plan> {
    for (level, tables) in levels.iter().enumerate() {
        for f in tables {
            if f.earliest_expiry.is_some_and(|e| e <= o.now_ms) && !busy.file(f.number) {
                let (lo, hi) = (f.smallest_user_key(), f.largest_user_key());
                if let Ok(Some(p)) = pick_manual(levels, o, busy, level, Some(lo), Some(hi)) {
                    return Some(p);
                }
            }
        }
    }
    None
}

/// The table of `level` with the least overlap in the next level per byte, as a plan.
fn pick_in_level(
    levels: &[Vec<FileMetaData>],
    o: &PickerOptions,
    busy: &Claims,
    level: usize,
    score: f64,
) -> Option<Plan> {
    let next = level + 1;
    let mut candidates: Vec<(u128, &FileMetaData)> = levels[level]
        .iter()
        .filter(|f| !busy.file(f.number))
        .map(|f| {
            let overlap: u64 = overlapping(&levels[next], f.smallest_user_key(), f.largest_user_key())
                .iter()
                .map(|g| g.file_size)
                .sum();
            // Ratio overlap / size, compared exactly as overlap * 2^20 / size.
            ((u128::from(overlap) << 20) / u128::from(f.file_size.max(1)), f)
        })
        .collect();
    candidates
        .sort_by(|a, b| a.0.cmp(&b.0).then_with(|| compare_internal_keys(&a.1.smallest, &b.1.smallest)));
    let view = View { levels, o, busy };
    candidates.into_iter().find_map(|(_, f)| plan_for(&view, level, &[f], next, true, score))
}

/// A manual compaction (`compact_range`) of the tables of `level` that overlap the user-key
/// range `[start, end]` (either end open). L0 takes every L0 table (a subset could move
/// newer data below older); it outputs into the base level, a deeper level into the next
/// one, and the last level into itself (a rewrite that drops tombstones and shadowed
/// versions). Never a trivial move, so every table in the range is rewritten.
pub fn pick_manual(
    levels: &[Vec<FileMetaData>],
    o: &PickerOptions,
    busy: &Claims,
    level: usize,
    start: Option<&[u8]>,
    end: Option<&[u8]>,
) -> Result<Option<Plan>, Busy> {
    let in_range = |f: &&FileMetaData| {
        start.is_none_or(|s| f.largest_user_key() >= s) && end.is_none_or(|e| f.smallest_user_key() <= e)
    };
    let inputs: Vec<&FileMetaData> = if level == 0 {
        if levels[0].iter().any(|f| in_range(&f)) {
            levels[0].iter().collect()
        } else {
            Vec::new()
        }
    } else {
        levels[level].iter().filter(in_range).collect()
    };
    if inputs.is_empty() {
        return Ok(None);
    }
    let output_level = match level {
        0 => level_targets(levels, o).base_level,
        LAST_LEVEL => LAST_LEVEL,
        l => l + 1,
    };
    plan_for(&View { levels, o, busy }, level, &inputs, output_level, false, 0.0).map(Some).ok_or(Busy)
}

/// A manual compaction could not start because another compaction owns a table it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

#[cfg(test)]
mod tests;
