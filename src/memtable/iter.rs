//! A cursor over one memtable that copies a short run of entries at a time under the
//! memtable mutex and never holds it between calls, so iterators never block the writer
//! for long. Entries are never removed from a memtable, so re-seeking after the last
//! copied key continues exactly where the run ended.

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;

use crate::iterator::InternalIterator;
use crate::error::Result;
use super::{MemKey, MemTable};

/// Entries copied per lock acquisition once a scan is under way.
const RUN_LEN: usize = 64;

/// Entries copied by a seek: a seek is often followed by a few steps only (seekrandom
/// reads 10), so it copies little and later refills copy `RUN_LEN`.
const SEEK_RUN_LEN: usize = 16;

/// See the module docs.
pub struct MemTableIter {
    mem: Arc<MemTable>,
    /// A run of consecutive entries in ascending order; the cursor is `run[pos]`.
    run: Vec<(Bytes, Bytes)>,
    pos: usize,
}

impl MemTableIter {
    /// An unpositioned cursor over `mem`.
    pub fn new(mem: Arc<MemTable>) -> Self {
        MemTableIter { mem, run: Vec::new(), pos: 0 }
    }

    fn fill_forward(&mut self, from: Bound<&MemKey>, max: usize) {
        self.run.clear();
        self.mem.copy_range(from, max, &mut self.run);
        self.pos = 0;
    }

    fn fill_backward(&mut self, to: Bound<&MemKey>, max: usize) {
        self.run.clear();
        self.mem.copy_range_rev(to, max, &mut self.run);
        self.pos = self.run.len().saturating_sub(1);
    }

    fn target(target: &[u8]) -> MemKey {
        MemKey(Bytes::copy_from_slice(target))
    }
}

impl InternalIterator for MemTableIter {
    fn valid(&self) -> bool {
        self.pos < self.run.len()
    }
    fn seek_to_first(&mut self) -> Result<()> {
        self.fill_forward(Bound::Unbounded, RUN_LEN);
        Ok(())
    }
    fn seek_to_last(&mut self) -> Result<()> {
        self.fill_backward(Bound::Unbounded, RUN_LEN);
        Ok(())
    }
    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.fill_forward(Bound::Included(&Self::target(target)), SEEK_RUN_LEN);
        Ok(())
    }
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        self.fill_backward(Bound::Included(&Self::target(target)), SEEK_RUN_LEN);
        Ok(())
    }
    fn next(&mut self) -> Result<()> {
        if self.pos + 1 < self.run.len() {
            self.pos += 1;
        } else if let Some((k, _)) = self.run.last() {
            let last = MemKey(k.clone());
            self.fill_forward(Bound::Excluded(&last), RUN_LEN);
        }
        Ok(())
    }
    fn prev(&mut self) -> Result<()> {
        if self.pos > 0 && self.pos < self.run.len() {
            self.pos -= 1;
        } else if let Some((k, _)) = self.run.first() {
            let first = MemKey(k.clone());
            self.fill_backward(Bound::Excluded(&first), RUN_LEN);
        }
        Ok(())
    }
    fn key(&self) -> &[u8] {
        &self.run[self.pos].0
    }
    fn value(&self) -> Bytes {
        self.run[self.pos].1.clone()
    }
}
