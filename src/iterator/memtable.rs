//! A cursor over one memtable that copies a short run of entries at a time under the
//! memtable mutex and never holds it between calls, so iterators never block the writer
//! for long. Entries are never removed from a memtable, so re-seeking after the last
//! copied key continues exactly where the run ended.

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;

use super::InternalIterator;
use crate::error::Result;
use crate::memtable::{MemKey, MemTable};

/// Entries copied per lock acquisition.
const RUN_LEN: usize = 64;

/// See the module docs.
pub struct MemTableIter {
    mem: Arc<MemTable>,
    run: Vec<(Bytes, Bytes)>,
    pos: usize,
    /// True when the last refill returned fewer than `RUN_LEN` entries.
    at_end: bool,
}

impl MemTableIter {
    /// An unpositioned cursor over `mem`.
    pub fn new(mem: Arc<MemTable>) -> Self {
        MemTableIter { mem, run: Vec::new(), pos: 0, at_end: true }
    }

    fn fill(&mut self, from: Bound<&MemKey>) {
        self.run.clear();
        self.pos = 0;
        self.mem.copy_range(from, RUN_LEN, &mut self.run);
        self.at_end = self.run.len() < RUN_LEN;
    }
}

impl InternalIterator for MemTableIter {
    fn valid(&self) -> bool {
        self.pos < self.run.len()
    }
    fn seek_to_first(&mut self) -> Result<()> {
        self.fill(Bound::Unbounded);
        Ok(())
    }
    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.fill(Bound::Included(&MemKey(Bytes::copy_from_slice(target))));
        Ok(())
    }
    fn next(&mut self) -> Result<()> {
        self.pos += 1;
        if self.pos == self.run.len() && !self.at_end {
            let last = MemKey(self.run[self.pos - 1].0.clone());
            self.fill(Bound::Excluded(&last));
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
