//! Compaction: merging tables of one level into the next to bound L0 and drop shadowed
//! versions and tombstones. The [`picker`] is a pure function of a `Version` and
//! `Options`; the [`job`] does the I/O. The compaction thread runs one job at a time.

pub mod job;
pub mod picker;

use std::sync::Arc;

use crate::version::TableHandle;

/// One compaction: inputs from two adjacent levels, merged into `output_level`.
#[derive(Debug, Clone)]
pub struct Compaction {
    /// The level whose tables are pushed down.
    pub level: usize,
    /// Input tables of `level`.
    pub inputs: Vec<Arc<TableHandle>>,
    /// Input tables of `output_level` that overlap `inputs`.
    pub output_inputs: Vec<Arc<TableHandle>>,
    /// Where the outputs go (`level + 1`).
    pub output_level: usize,
    /// True when no level below `output_level` holds a key in the inputs' range, so
    /// tombstones can be dropped (nothing older can be uncovered).
    pub bottommost: bool,
}
