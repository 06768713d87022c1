//! Range tombstones and their fragmented form (after RocksDB's
//! `FragmentedRangeTombstoneList`).
//!
//! `delete_range(start, end)` writes one [`RangeTombstone`]: every key `k` with
//! `start <= k < end` and a sequence number below the tombstone's is deleted for readers
//! at or above the tombstone's sequence number. Tombstones may overlap. A
//! [`FragmentedRangeTombstones`] cuts a set of them at every start and end into
//! non-overlapping *fragments*, each with the descending list of sequence numbers of the
//! tombstones that cover it, so "which tombstones cover key `k`" is one binary search.
//!
//! Memtables keep their tombstones in a list and fragment them when a read needs them;
//! tables store their fragments in the range-deletion block (docs/format.md §3.8).

use bytes::Bytes;

use crate::key::SequenceNumber;

/// One `delete_range(start, end)` at sequence number `seqno`: deletes `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeTombstone {
    /// First deleted key (inclusive).
    pub start: Bytes,
    /// End of the range (exclusive).
    pub end: Bytes,
    /// Sequence number of the write.
    pub seqno: SequenceNumber,
}

/// A piece of key space `[start, end)` and the sequence numbers (descending, distinct) of
/// the tombstones that cover all of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// First key (inclusive).
    pub start: Bytes,
    /// End (exclusive). `start < end`.
    pub end: Bytes,
    /// Covering tombstones' sequence numbers, newest first; never empty.
    pub seqnos: Vec<SequenceNumber>,
}

impl Fragment {
    /// The newest covering sequence number visible at `read_seqno`, if any.
    pub fn visible_seqno(&self, read_seqno: SequenceNumber) -> Option<SequenceNumber> {
        // Descending list: the first one at or below the read point.
        let i = self.seqnos.partition_point(|&s| s > read_seqno);
        self.seqnos.get(i).copied()
    }
}

/// Non-overlapping fragments sorted by start key; see the module docs.
///
/// Invariant (checked by [`FragmentedRangeTombstones::check`] when decoded from disk):
/// for consecutive fragments `a`, `b`: `a.start < a.end <= b.start`, and each fragment's
/// sequence numbers are strictly descending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FragmentedRangeTombstones {
    fragments: Vec<Fragment>,
    /// Every fragment's start key, concatenated, and where each ends in it: the binary
    /// search of [`Self::fragment_for`] runs over these two contiguous arrays instead of
    /// chasing each fragment's separately allocated key (keys of a memtable's tombstones
    /// are scattered over its whole arena), which costs one cache miss per step.
    starts: Vec<u8>,
    start_ends: Vec<usize>,
}

impl FragmentedRangeTombstones {
    /// Fragments `tombstones` (any order, overlapping or not; empty ranges are ignored).
    /// Cost: O(n log n) plus, per boundary, the number of tombstones open across it.
    pub fn new(tombstones: impl IntoIterator<Item = RangeTombstone>) -> Self {
        let mut ts: Vec<RangeTombstone> = tombstones.into_iter().filter(|t| t.start < t.end).collect();
        if ts.is_empty() {
            return Self::default();
        }
        ts.sort_by(|a, b| a.start.cmp(&b.start));
        let mut bounds: Vec<Bytes> = ts.iter().flat_map(|t| [t.start.clone(), t.end.clone()]).collect();
        bounds.sort();
        bounds.dedup();
        let mut fragments: Vec<Fragment> = Vec::new();
        let mut active: Vec<(Bytes, SequenceNumber)> = Vec::new();
        let mut next = 0;
        for w in bounds.windows(2) {
            let (lo, hi) = (&w[0], &w[1]);
            active.retain(|(end, _)| end > lo);
            while next < ts.len() && ts[next].start <= *lo {
                active.push((ts[next].end.clone(), ts[next].seqno));
                next += 1;
            }
            if active.is_empty() {
                continue;
            }
            let mut seqnos: Vec<SequenceNumber> = active.iter().map(|(_, s)| *s).collect();
            seqnos.sort_unstable_by(|a, b| b.cmp(a));
            seqnos.dedup();
            push_merged(&mut fragments, Fragment { start: lo.clone(), end: hi.clone(), seqnos });
        }
        Self::indexed(fragments)
    }

    /// Wraps `fragments` and builds the search arrays.
    fn indexed(fragments: Vec<Fragment>) -> Self {
        let mut starts = Vec::with_capacity(fragments.iter().map(|f| f.start.len()).sum());
        let mut start_ends = Vec::with_capacity(fragments.len());
        for f in &fragments {
            starts.extend_from_slice(&f.start);
            start_ends.push(starts.len());
        }
        FragmentedRangeTombstones { fragments, starts, start_ends }
    }

    /// The start key of fragment `i`, from the search arrays.
    fn start_at(&self, i: usize) -> &[u8] {
        let from = if i == 0 { 0 } else { self.start_ends[i - 1] };
        &self.starts[from..self.start_ends[i]]
    }

    /// Wraps fragments decoded from a table.
    ///
    /// # Errors
    /// The broken invariant's description, if `fragments` are not sorted, disjoint,
    /// non-empty ranges with strictly descending sequence numbers.
    pub fn from_fragments(fragments: Vec<Fragment>) -> std::result::Result<Self, &'static str> {
        let f = Self::indexed(fragments);
        f.check()?;
        Ok(f)
    }

    /// Checks the invariant in the type's docs.
    ///
    /// # Errors
    /// What is wrong, as a static description.
    pub fn check(&self) -> std::result::Result<(), &'static str> {
        for f in &self.fragments {
            if f.start >= f.end {
                return Err("range tombstone fragment with start >= end");
            }
            if f.seqnos.is_empty() || f.seqnos.windows(2).any(|w| w[0] <= w[1]) {
                return Err("range tombstone sequence numbers not strictly descending");
            }
        }
        if self.fragments.windows(2).any(|w| w[0].end > w[1].start) {
            return Err("range tombstone fragments overlap or are out of order");
        }
        Ok(())
    }

    /// True if there are no fragments.
    pub fn is_empty(&self) -> bool {
        self.fragments.is_empty()
    }

    /// The fragments, in key order.
    pub fn fragments(&self) -> &[Fragment] {
        &self.fragments
    }

    /// The fragment containing `key`, if any: one binary search.
    pub fn fragment_for(&self, key: &[u8]) -> Option<&Fragment> {
        // Binary search over the contiguous start keys (see the field docs).
        let (mut lo, mut hi) = (0, self.fragments.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.start_at(mid) <= key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let f = self.fragments.get(lo.checked_sub(1)?)?;
        (key < f.end.as_ref()).then_some(f)
    }

    /// The newest sequence number of a tombstone covering `key` that a reader at
    /// `read_seqno` sees (0 if none; real sequence numbers start at 1).
    pub fn max_covering(&self, key: &[u8], read_seqno: SequenceNumber) -> SequenceNumber {
        self.fragment_for(key).and_then(|f| f.visible_seqno(read_seqno)).unwrap_or(0)
    }

    /// Every (start, end, seqno) triple, in key order then newest first: the unfragmented
    /// view a table builder or compaction re-fragments.
    pub fn tombstones(&self) -> impl Iterator<Item = RangeTombstone> + '_ {
        self.fragments.iter().flat_map(|f| {
            f.seqnos.iter().map(|&seqno| RangeTombstone { start: f.start.clone(), end: f.end.clone(), seqno })
        })
    }

    /// The smallest start and the largest end, if any.
    pub fn bounds(&self) -> Option<(&Bytes, &Bytes)> {
        Some((&self.fragments.first()?.start, &self.fragments.last()?.end))
    }

    /// The fragments clipped to `[lower, upper)` (`None` = unbounded), pieces outside
    /// dropped.
    pub fn clipped(&self, lower: Option<&[u8]>, upper: Option<&[u8]>) -> Vec<Fragment> {
        let mut out = Vec::new();
        for f in &self.fragments {
            let start = match lower {
                Some(l) if f.start.as_ref() < l => Bytes::copy_from_slice(l),
                _ => f.start.clone(),
            };
            let end = match upper {
                Some(u) if f.end.as_ref() > u => Bytes::copy_from_slice(u),
                _ => f.end.clone(),
            };
            if start < end {
                out.push(Fragment { start, end, seqnos: f.seqnos.clone() });
            }
        }
        out
    }

    /// Keeps, per fragment, only the sequence numbers `keep` accepts (given the fragment's
    /// descending list and an index into it), and drops fragments left empty.
    pub fn retain(&mut self, mut keep: impl FnMut(&[SequenceNumber], usize) -> bool) {
        for f in &mut self.fragments {
            let all = f.seqnos.clone();
            let mut i = 0;
            f.seqnos.retain(|_| {
                let k = keep(&all, i);
                i += 1;
                k
            });
        }
        self.fragments.retain(|f| !f.seqnos.is_empty());
        *self = Self::indexed(std::mem::take(&mut self.fragments));
    }
}

/// Appends `f`, merging it into the previous fragment when they touch and carry the same
/// sequence numbers.
fn push_merged(out: &mut Vec<Fragment>, f: Fragment) {
    if let Some(last) = out.last_mut() {
        if last.end == f.start && last.seqnos == f.seqnos {
            last.end = f.end;
            return;
        }
    }
    out.push(f);
}

/// The smallest key greater than `k`: `k ++ [0x00]`. A range ending (exclusive) there ends
/// inclusively at `k`.
pub fn successor(k: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(k.len() + 1);
    v.extend_from_slice(k);
    v.push(0);
    Bytes::from(v)
}

/// The largest user key a range ending (exclusive) at `end` can hold, as a table's
/// inclusive largest key: `k` if `end` is `successor(k)`, else `end` itself (one key too
/// many, which only makes the table's range conservative).
pub fn inclusive_end(end: &[u8]) -> &[u8] {
    match end.split_last() {
        Some((0, k)) => k,
        _ => end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str, e: &str, seqno: u64) -> RangeTombstone {
        RangeTombstone {
            start: Bytes::copy_from_slice(s.as_bytes()),
            end: Bytes::copy_from_slice(e.as_bytes()),
            seqno,
        }
    }

    fn brute(ts: &[RangeTombstone], key: &str, read: u64) -> u64 {
        ts.iter()
            .filter(|t| {
                t.start.as_ref() <= key.as_bytes() && key.as_bytes() < t.end.as_ref() && t.seqno <= read
            })
            .map(|t| t.seqno)
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn fragments_agree_with_brute_force() {
        let ts = vec![t("b", "f", 5), t("d", "h", 7), t("a", "c", 3), t("e", "e", 9), t("g", "k", 2)];
        let f = FragmentedRangeTombstones::new(ts.clone());
        f.check().expect("invariant");
        for key in ["", "a", "b", "bb", "c", "d", "e", "f", "g", "h", "j", "k", "z"] {
            for read in [0, 2, 3, 4, 5, 6, 7, 100] {
                assert_eq!(f.max_covering(key.as_bytes(), read), brute(&ts, key, read), "{key}@{read}");
            }
        }
    }

    #[test]
    fn touching_fragments_with_equal_seqnos_merge() {
        let f = FragmentedRangeTombstones::new(vec![t("a", "c", 4), t("c", "e", 4)]);
        assert_eq!(f.fragments().len(), 1);
        assert_eq!(
            f.bounds().map(|(s, e)| (s.clone(), e.clone())),
            Some((Bytes::from("a"), Bytes::from("e")))
        );
    }

    #[test]
    fn clipping_and_inclusive_end() {
        let f = FragmentedRangeTombstones::new(vec![t("a", "z", 4)]);
        let c = f.clipped(Some(b"c"), Some(&successor(b"m")));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].start.as_ref(), b"c");
        assert_eq!(inclusive_end(&c[0].end), b"m");
        assert_eq!(inclusive_end(b"z"), b"z");
    }

    #[test]
    fn decoded_fragments_are_checked() {
        let bad = vec![Fragment { start: "b".into(), end: "a".into(), seqnos: vec![1] }];
        assert!(FragmentedRangeTombstones::from_fragments(bad).is_err());
        let overlapping = vec![
            Fragment { start: "a".into(), end: "c".into(), seqnos: vec![1] },
            Fragment { start: "b".into(), end: "d".into(), seqnos: vec![2] },
        ];
        assert!(FragmentedRangeTombstones::from_fragments(overlapping).is_err());
        let unsorted_seqnos = vec![Fragment { start: "a".into(), end: "c".into(), seqnos: vec![1, 2] }];
        assert!(FragmentedRangeTombstones::from_fragments(unsorted_seqnos).is_err());
    }
}
