//! Leveled compaction: merging tables of one level into the next to bound L0, keep each
//! level near its target size, and drop shadowed versions and tombstones. The [`picker`]
//! is a pure function of the levels and the options; the [`job`] does the I/O. Each
//! compaction thread runs one job at a time; jobs running at once own disjoint tables.

pub mod job;
pub mod picker;

use std::sync::Arc;

use crate::version::{FileMetaData, TableHandle, Version};

/// One compaction: a [`picker::Plan`] resolved to open tables of one `Version`.
#[derive(Debug, Clone)]
pub struct Compaction {
    /// The level whose tables are pushed down (or rewritten, for the last level).
    pub level: usize,
    /// Input tables of `level`.
    pub inputs: Vec<Arc<TableHandle>>,
    /// Input tables of `output_level` that overlap `inputs`.
    pub output_inputs: Vec<Arc<TableHandle>>,
    /// Where the outputs go.
    pub output_level: usize,
    /// Tables of `output_level + 1` overlapping the range, sorted: outputs are cut so none
    /// overlaps too many of them.
    pub grandparents: Vec<FileMetaData>,
    /// True when no level below `output_level` holds a key in the inputs' range, so
    /// tombstones can be dropped (nothing older can be uncovered).
    pub bottommost: bool,
    /// Move the single input to `output_level` by a MANIFEST edit alone.
    pub trivial_move: bool,
    /// The user-key range the outputs cover (claimed while the job runs).
    pub range: (Vec<u8>, Vec<u8>),
}

impl Compaction {
    /// Resolves `plan` against `version`; `None` if a table it names is gone.
    pub fn resolve(plan: &picker::Plan, version: &Version) -> Option<Self> {
        let find = |level: usize, n: u64| version.levels[level].iter().find(|t| t.meta.number == n).cloned();
        let inputs = plan.inputs.iter().map(|&n| find(plan.level, n)).collect::<Option<Vec<_>>>()?;
        let output_inputs =
            plan.output_inputs.iter().map(|&n| find(plan.output_level, n)).collect::<Option<Vec<_>>>()?;
        let grandparents = plan
            .grandparents
            .iter()
            .map(|&n| find(plan.output_level + 1, n).map(|t| t.meta.clone()))
            .collect::<Option<Vec<_>>>()?;
        Some(Compaction {
            level: plan.level,
            inputs,
            output_inputs,
            output_level: plan.output_level,
            grandparents,
            bottommost: plan.bottommost,
            trivial_move: plan.trivial_move,
            range: plan.range.clone(),
        })
    }

    /// Every input table's file number.
    pub fn input_numbers(&self) -> impl Iterator<Item = u64> + '_ {
        self.inputs.iter().chain(&self.output_inputs).map(|t| t.meta.number)
    }
}

/// The levels of `v` as the picker sees them.
pub fn level_metadata(v: &Version) -> Vec<Vec<FileMetaData>> {
    v.levels
        .iter()
        .map(|l| {
            l.iter()
                .map(|t| {
                    let mut m = t.meta.clone();
                    let e = t.table().properties().earliest_expiry;
                    m.earliest_expiry = (e != 0).then_some(e);
                    m
                })
                .collect()
        })
        .collect()
}
