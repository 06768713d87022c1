//! The compaction picker: a pure function from a `Version` and `Options` to an optional
//! [`Compaction`]. It does no I/O. The policy here is the simple one of the engine core:
//! once L0 holds `level0_file_num_compaction_trigger` tables, merge all of L0 with the L1
//! tables it overlaps. Leveled compaction by score replaces it later.

use super::Compaction;
use crate::options::Options;
use crate::version::{Version, NUM_LEVELS};

/// Picks the next compaction, or `None` if the shape of the tree needs none.
pub fn pick(version: &Version, opts: &Options) -> Option<Compaction> {
    let l0 = &version.levels[0];
    if l0.is_empty() || l0.len() < opts.level0_file_num_compaction_trigger {
        return None;
    }
    let lo = l0.iter().map(|t| t.meta.smallest_user_key()).min()?;
    let hi = l0.iter().map(|t| t.meta.largest_user_key()).max()?;
    let output_inputs = version.levels[1].iter().filter(|t| t.meta.overlaps(lo, hi)).cloned().collect();
    let bottommost = version.levels[2..NUM_LEVELS].iter().flatten().all(|t| !t.meta.overlaps(lo, hi));
    Some(Compaction { level: 0, inputs: l0.clone(), output_inputs, output_level: 1, bottommost })
}
