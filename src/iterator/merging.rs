//! Merges several internal iterators into one stream in internal-key order. With few
//! children (memtables, L0 tables, one cursor per deeper level) a linear scan for the
//! smallest key beats a heap; entries with equal keys cannot occur (sequence numbers are
//! unique). The scan also remembers the runner-up (the best of the other children), so a
//! step that leaves the current child still ahead of it, as most steps of a scan do where
//! one level holds most of the data, costs one key comparison, not one per child.

use bytes::Bytes;

use super::InternalIterator;
use crate::error::Result;
use crate::key::compare_internal_keys;

/// See the module docs.
pub struct MergingIterator {
    children: Vec<Box<dyn InternalIterator>>,
    current: Option<usize>,
    /// The best valid child other than `current` in the direction of travel, as of the
    /// last full scan; only `current` has moved since.
    runner_up: Option<usize>,
    /// True while moving forward: every valid child is then at or after the current key.
    /// Moving backward, every valid child is at or before it.
    forward: bool,
}

impl MergingIterator {
    /// A merging cursor over `children` (unpositioned).
    pub fn new(children: Vec<Box<dyn InternalIterator>>) -> Self {
        MergingIterator { children, current: None, runner_up: None, forward: true }
    }

    /// True if child `a`'s key comes before child `b`'s in the direction of travel.
    fn ahead(&self, a: usize, b: usize, want_smallest: bool) -> bool {
        let ord = compare_internal_keys(self.children[a].key(), self.children[b].key());
        if want_smallest {
            ord.is_lt()
        } else {
            ord.is_gt()
        }
    }

    /// Scans every child for the best and the runner-up.
    fn find(&mut self, want_smallest: bool) {
        let (mut best, mut second): (Option<usize>, Option<usize>) = (None, None);
        for i in 0..self.children.len() {
            if !self.children[i].valid() {
                continue;
            }
            match best {
                Some(b) if !self.ahead(i, b, want_smallest) => {
                    if second.is_none_or(|s| self.ahead(i, s, want_smallest)) {
                        second = Some(i);
                    }
                }
                _ => {
                    second = best;
                    best = Some(i);
                }
            }
        }
        self.current = best;
        self.runner_up = second;
    }

    /// After the current child `cur` moved one step: keeps it current if it is still
    /// valid and ahead of the runner-up (the other children have not moved), else scans.
    fn after_step(&mut self, cur: usize, want_smallest: bool) {
        // Invariant: every other valid child is at or behind `runner_up` in the direction
        // of travel, since `find` chose it and only `cur` moved.
        if self.children[cur].valid() && self.runner_up.is_none_or(|r| self.ahead(cur, r, want_smallest)) {
            self.current = Some(cur);
        } else {
            self.find(want_smallest);
        }
    }

    fn each(&mut self, f: impl Fn(&mut dyn InternalIterator) -> Result<()>) -> Result<()> {
        self.current = None;
        self.runner_up = None;
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
        let switched = !self.forward;
        if switched {
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
        if switched {
            self.find(true);
        } else {
            self.after_step(cur, true);
        }
        Ok(())
    }
    fn prev(&mut self) -> Result<()> {
        let Some(cur) = self.current else { return Ok(()) };
        let switched = self.forward;
        if switched {
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
        if switched {
            self.find(false);
        } else {
            self.after_step(cur, false);
        }
        Ok(())
    }
    fn key(&self) -> &[u8] {
        self.current.map_or(&[], |i| self.children[i].key())
    }
    fn value(&self) -> Bytes {
        self.current.map_or_else(Bytes::new, |i| self.children[i].value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{encode_internal_key, ValueType};

    /// A sorted vector as a cursor.
    struct VecIter {
        keys: Vec<Vec<u8>>,
        at: Option<usize>,
    }

    impl InternalIterator for VecIter {
        fn valid(&self) -> bool {
            self.at.is_some()
        }
        fn seek_to_first(&mut self) -> Result<()> {
            self.at = (!self.keys.is_empty()).then_some(0);
            Ok(())
        }
        fn seek(&mut self, target: &[u8]) -> Result<()> {
            self.at = self.keys.iter().position(|k| compare_internal_keys(k, target).is_ge());
            Ok(())
        }
        fn seek_to_last(&mut self) -> Result<()> {
            self.at = self.keys.len().checked_sub(1);
            Ok(())
        }
        fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
            self.at = self.keys.iter().rposition(|k| compare_internal_keys(k, target).is_le());
            Ok(())
        }
        fn next(&mut self) -> Result<()> {
            self.at = self.at.map(|i| i + 1).filter(|&i| i < self.keys.len());
            Ok(())
        }
        fn prev(&mut self) -> Result<()> {
            self.at = self.at.and_then(|i| i.checked_sub(1));
            Ok(())
        }
        fn key(&self) -> &[u8] {
            self.at.map_or(&[], |i| &self.keys[i])
        }
        fn value(&self) -> Bytes {
            Bytes::new()
        }
    }

    proptest::proptest! {
        /// Children of random sizes (long runs from one child and interleavings alike),
        /// walked by a random mix of next and prev from a random start: the merge visits
        /// exactly the sorted union, whatever the runner-up shortcut skipped.
        #[test]
        fn random_walks_match_the_sorted_union(
            owners in proptest::collection::vec(0usize..4, 0..200),
            moves in proptest::collection::vec(proptest::bool::weighted(0.7), 0..400),
            start in 0usize..200,
        ) {
            let mut children: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 4];
            let mut all = Vec::new();
            for (i, &c) in owners.iter().enumerate() {
                // Runs: key i goes to child c; several user keys with 2 versions each.
                let k = encode_internal_key(format!("k{:04}", i / 2).as_bytes(), 100 - (i % 2) as u64, ValueType::Value);
                children[c].push(k.clone());
                all.push(k);
            }
            all.sort_by(|a, b| compare_internal_keys(a, b));
            let kids: Vec<Box<dyn InternalIterator>> = children
                .into_iter()
                .map(|keys| Box::new(VecIter { keys, at: None }) as Box<dyn InternalIterator>)
                .collect();
            let mut m = MergingIterator::new(kids);
            let mut at: Option<usize> = if all.is_empty() { None } else { Some(start % all.len()) };
            match at {
                Some(i) => m.seek(&all[i]).expect("seek"),
                None => m.seek_to_first().expect("seek"),
            }
            for forward in moves {
                match at {
                    None => proptest::prop_assert!(!m.valid()),
                    Some(i) => {
                        proptest::prop_assert!(m.valid());
                        proptest::prop_assert_eq!(m.key(), all[i].as_slice());
                    }
                }
                let Some(i) = at else { break };
                if forward {
                    m.next().expect("next");
                    at = (i + 1 < all.len()).then_some(i + 1);
                } else {
                    m.prev().expect("prev");
                    at = i.checked_sub(1);
                }
            }
        }
    }
}
