//! Merges several internal iterators into one stream in internal-key order. With few
//! children (memtables, L0 tables, one cursor per deeper level) a linear scan for the
//! smallest key beats a heap; entries with equal keys cannot occur (sequence numbers are
//! unique).

use bytes::Bytes;

use super::InternalIterator;
use crate::error::Result;
use crate::key::compare_internal_keys;

/// See the module docs.
pub struct MergingIterator {
    children: Vec<Box<dyn InternalIterator>>,
    current: Option<usize>,
}

impl MergingIterator {
    /// A merging cursor over `children` (unpositioned).
    pub fn new(children: Vec<Box<dyn InternalIterator>>) -> Self {
        MergingIterator { children, current: None }
    }

    fn find_smallest(&mut self) {
        let mut best: Option<usize> = None;
        for (i, c) in self.children.iter().enumerate() {
            if c.valid()
                && best.is_none_or(|b| compare_internal_keys(c.key(), self.children[b].key()).is_lt())
            {
                best = Some(i);
            }
        }
        self.current = best;
    }
}

impl InternalIterator for MergingIterator {
    fn valid(&self) -> bool {
        self.current.is_some()
    }
    fn seek_to_first(&mut self) -> Result<()> {
        self.current = None;
        for c in &mut self.children {
            c.seek_to_first()?;
        }
        self.find_smallest();
        Ok(())
    }
    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.current = None;
        for c in &mut self.children {
            c.seek(target)?;
        }
        self.find_smallest();
        Ok(())
    }
    fn next(&mut self) -> Result<()> {
        if let Some(i) = self.current {
            if let Err(e) = self.children[i].next() {
                self.current = None;
                return Err(e);
            }
        }
        self.find_smallest();
        Ok(())
    }
    fn key(&self) -> &[u8] {
        self.current.map_or(&[], |i| self.children[i].key())
    }
    fn value(&self) -> Bytes {
        self.current.map_or_else(Bytes::new, |i| self.children[i].value())
    }
}
