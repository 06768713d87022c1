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
    /// True while moving forward: every valid child is then at or after the current key.
    /// Moving backward, every valid child is at or before it.
    forward: bool,
}

impl MergingIterator {
    /// A merging cursor over `children` (unpositioned).
    pub fn new(children: Vec<Box<dyn InternalIterator>>) -> Self {
        MergingIterator { children, current: None, forward: true }
    }

    fn find(&mut self, want_smallest: bool) {
        let mut best: Option<usize> = None;
        for (i, c) in self.children.iter().enumerate() {
            if !c.valid() {
                continue;
            }
            let better = best.is_none_or(|b| {
                let ord = compare_internal_keys(c.key(), self.children[b].key());
                if want_smallest {
                    ord.is_lt()
                } else {
                    ord.is_gt()
                }
            });
            if better {
                best = Some(i);
            }
        }
        self.current = best;
    }

    fn each(&mut self, f: impl Fn(&mut dyn InternalIterator) -> Result<()>) -> Result<()> {
        self.current = None;
        for c in &mut self.children {
            f(c.as_mut())?;
        }
        Ok(())
    }
}

impl InternalIterator for MergingIterator {
    fn valid(&self) -> bool {
        self.current.is_some()
    }
    fn seek_to_first(&mut self) -> Result<()> {
        self.each(|c| c.seek_to_first())?;
        self.forward = true;
        self.find(true);
        Ok(())
    }
    fn seek_to_last(&mut self) -> Result<()> {
        self.each(|c| c.seek_to_last())?;
        self.forward = false;
        self.find(false);
        Ok(())
    }
    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.each(|c| c.seek(target))?;
        self.forward = true;
        self.find(true);
        Ok(())
    }
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        self.each(|c| c.seek_for_prev(target))?;
        self.forward = false;
        self.find(false);
        Ok(())
    }
    fn next(&mut self) -> Result<()> {
        let Some(cur) = self.current else { return Ok(()) };
        if !self.forward {
            // Switch direction: put every other child at its first entry after the
            // current key (keys are unique, so none equals it).
            let key = self.children[cur].key().to_vec();
            for (i, c) in self.children.iter_mut().enumerate() {
                if i != cur {
                    if let Err(e) = c.seek(&key) {
                        self.current = None;
                        return Err(e);
                    }
                }
            }
            self.forward = true;
        }
        if let Err(e) = self.children[cur].next() {
            self.current = None;
            return Err(e);
        }
        self.find(true);
        Ok(())
    }
    fn prev(&mut self) -> Result<()> {
        let Some(cur) = self.current else { return Ok(()) };
        if self.forward {
            // Switch direction: put every other child at its last entry before the key.
            let key = self.children[cur].key().to_vec();
            for (i, c) in self.children.iter_mut().enumerate() {
                if i != cur {
                    if let Err(e) = c.seek_for_prev(&key) {
                        self.current = None;
                        return Err(e);
                    }
                }
            }
            self.forward = false;
        }
        if let Err(e) = self.children[cur].prev() {
            self.current = None;
            return Err(e);
        }
        self.find(false);
        Ok(())
    }
    fn key(&self) -> &[u8] {
        self.current.map_or(&[], |i| self.children[i].key())
    }
    fn value(&self) -> Bytes {
        self.current.map_or_else(Bytes::new, |i| self.children[i].value())
    }
}
