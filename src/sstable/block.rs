//! Data and index blocks: prefix-compressed sorted entries with a restart array.
//!
//! Entry: `shared varint | non_shared varint | value_len varint | key_delta | value`.
//! Every `restart_interval` entries the key is stored whole (`shared = 0`) and its offset
//! is recorded in the restart array, so a seek binary-searches the restarts and then scans
//! at most one interval. Tail: `restart u32le * n | n u32le`.
//!
//! A [`BlockBuilder`] has one owner. A [`Block`] is immutable and cheap to clone (it shares
//! the bytes); each [`BlockIter`] is owned by one reader.
//!
//! # Format
//! DESIGN.md §3.3 ("Block").

use std::cmp::Ordering;

use bytes::Bytes;

use crate::coding::{get_u32, put_u32, put_varint, Reader};

/// Builds one block. Keys must be added in increasing order of the block's comparator.
#[derive(Debug)]
pub struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    restart_interval: usize,
    counter: usize,
    last_key: Vec<u8>,
    entries: usize,
}

impl BlockBuilder {
    /// A builder that stores a whole key every `restart_interval` entries.
    pub fn new(restart_interval: usize) -> Self {
        BlockBuilder {
            buf: Vec::new(),
            restarts: vec![0],
            restart_interval: restart_interval.max(1),
            counter: 0,
            last_key: Vec::new(),
            entries: 0,
        }
    }

    /// Appends an entry. **Requires:** `key` sorts after the previous key.
    pub fn add(&mut self, key: &[u8], value: &[u8]) {
        let shared = if self.counter < self.restart_interval {
            key.iter().zip(&self.last_key).take_while(|(a, b)| a == b).count()
        } else {
            #[expect(clippy::cast_possible_truncation, reason = "blocks are below 4 GiB")]
            self.restarts.push(self.buf.len() as u32);
            self.counter = 0;
            0
        };
        put_varint(&mut self.buf, shared as u64);
        put_varint(&mut self.buf, (key.len() - shared) as u64);
        put_varint(&mut self.buf, value.len() as u64);
        self.buf.extend_from_slice(&key[shared..]);
        self.buf.extend_from_slice(value);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.counter += 1;
        self.entries += 1;
    }

    /// Size the block would have if finished now, in bytes.
    pub fn estimated_size(&self) -> usize {
        self.buf.len() + self.restarts.len() * 4 + 4
    }

    /// True if no entry was added since the last `finish`.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The last key added.
    pub fn last_key(&self) -> &[u8] {
        &self.last_key
    }

    /// Appends the restart array, returns the block's bytes and resets the builder.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        for r in &self.restarts {
            put_u32(&mut out, *r);
        }
        #[expect(clippy::cast_possible_truncation, reason = "restart count fits u32")]
        put_u32(&mut out, self.restarts.len() as u32);
        self.restarts = vec![0];
        self.counter = 0;
        self.last_key.clear();
        self.entries = 0;
        out
    }
}

/// A decoded block: its bytes and the position of the restart array.
#[derive(Debug, Clone)]
pub struct Block {
    data: Bytes,
    restarts_offset: usize,
    num_restarts: usize,
}

/// Why a block could not be read; the table layer adds the file and offset.
pub type BlockError = &'static str;

impl Block {
    /// Checks the restart array of `data`.
    ///
    /// # Errors
    /// A description if the restart count does not fit the block.
    pub fn new(data: Bytes) -> Result<Self, BlockError> {
        let n = data.len().checked_sub(4).ok_or("block shorter than its restart count")?;
        let num_restarts = get_u32(&data[n..]).ok_or("block too short")? as usize;
        let restarts_offset = num_restarts
            .checked_mul(4)
            .and_then(|b| n.checked_sub(b))
            .ok_or("restart count exceeds block size")?;
        if num_restarts == 0 {
            return Err("block without restart points");
        }
        Ok(Block { data, restarts_offset, num_restarts })
    }

    /// Size of the block's bytes.
    pub fn size(&self) -> usize {
        self.data.len()
    }

    /// A cursor over the block's entries, ordered by `cmp`.
    pub fn iter(&self, cmp: fn(&[u8], &[u8]) -> Ordering) -> BlockIter {
        BlockIter {
            block: self.clone(),
            cmp,
            key: Vec::new(),
            value: (0, 0),
            current: self.restarts_offset,
            next_offset: self.restarts_offset,
            interval: Vec::new(),
            interval_keys: Vec::new(),
            interval_pos: 0,
        }
    }

    /// The whole key stored at restart point `i` (its `shared` length must be 0).
    fn restart_key(&self, i: usize) -> Result<&[u8], BlockError> {
        let off = self.restart_point(i)?;
        let entries = &self.data[..self.restarts_offset];
        let h = entry_header(entries, off)?;
        if h.shared != 0 {
            return Err("restart point with a shared prefix");
        }
        let key_end = h.key_start.checked_add(h.non_shared).ok_or("key runs past block")?;
        entries.get(h.key_start..key_end).ok_or("key runs past block")
    }

    fn restart_point(&self, i: usize) -> Result<usize, BlockError> {
        let off = get_u32(&self.data[self.restarts_offset + 4 * i..]).ok_or("restart array cut")? as usize;
        if off >= self.restarts_offset {
            return Err("restart point past the entries");
        }
        Ok(off)
    }
}

/// The three lengths that start an entry (`shared`, `non_shared`, `value_len`, each a
/// varint; docs/format.md §3) and where its key delta starts.
#[derive(Debug, Clone, Copy)]
struct EntryHeader {
    shared: usize,
    non_shared: usize,
    value_len: usize,
    /// Offset of the key delta: the entry's offset plus the three varints' lengths.
    key_start: usize,
}

/// Decodes the entry header at `off` of `entries` (the block's bytes before its restart
/// array). Keys and values under 128 bytes, which are almost all of them, have three
/// one-byte varints: that case is read with one bounds check.
#[inline]
fn entry_header(entries: &[u8], off: usize) -> Result<EntryHeader, BlockError> {
    if let Some(&[a, b, c]) = entries.get(off..off + 3) {
        if (a | b | c) < 0x80 {
            return Ok(EntryHeader {
                shared: usize::from(a),
                non_shared: usize::from(b),
                value_len: usize::from(c),
                key_start: off + 3,
            });
        }
    }
    let mut r = Reader::new(entries.get(off..).ok_or("entry past the block")?);
    let shared = usize::try_from(r.varint().ok_or("bad shared length")?).map_err(|_| "bad shared length")?;
    let non_shared = usize::try_from(r.varint().ok_or("bad key length")?).map_err(|_| "bad key length")?;
    let value_len = usize::try_from(r.varint().ok_or("bad value length")?).map_err(|_| "bad value length")?;
    Ok(EntryHeader { shared, non_shared, value_len, key_start: off + r.position() })
}

/// One entry of the restart interval that [`BlockIter::prev`] decoded last.
#[derive(Debug, Clone, Copy)]
struct Decoded {
    /// Offset of the entry in the block.
    offset: usize,
    /// Offset of the entry after it.
    next_offset: usize,
    /// End of its key in `BlockIter::interval_keys` (it starts where the previous
    /// entry's key ends).
    key_end: usize,
    /// Its value's range in the block.
    value: (usize, usize),
}

/// A cursor over one block. Invalid before the first seek and after the last entry.
///
/// Stepping backwards decodes the whole restart interval before the current entry once
/// and keeps it (`interval`), so that the next `prev` calls in the same interval replay
/// it instead of scanning forward from the restart point again (as RocksDB's data block
/// iterator caches its previous entries): a full reverse scan decodes each entry about
/// once, not about `restart_interval / 2` times.
#[derive(Debug)]
pub struct BlockIter {
    block: Block,
    cmp: fn(&[u8], &[u8]) -> Ordering,
    key: Vec<u8>,
    value: (usize, usize),
    /// Offset of the current entry; `restarts_offset` when invalid.
    current: usize,
    next_offset: usize,
    /// The restart interval `prev` decoded last, in key order; empty when none.
    interval: Vec<Decoded>,
    /// The keys of `interval`, back to back.
    interval_keys: Vec<u8>,
    /// Index in `interval` of the entry `prev` last moved to.
    interval_pos: usize,
}

impl BlockIter {
    /// True if positioned at an entry.
    pub fn valid(&self) -> bool {
        self.current < self.block.restarts_offset
    }

    /// The current key. **Requires:** `valid()`.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The current value, sharing the block's bytes. **Requires:** `valid()`.
    pub fn value(&self) -> Bytes {
        self.block.data.slice(self.value.0..self.value.1)
    }

    /// The current value as a slice. **Requires:** `valid()`.
    pub fn value_slice(&self) -> &[u8] {
        &self.block.data[self.value.0..self.value.1]
    }

    /// Moves to the first entry.
    ///
    /// # Errors
    /// A description of a malformed entry.
    pub fn seek_to_first(&mut self) -> Result<(), BlockError> {
        self.key.clear();
        self.next_offset = 0;
        self.advance()
    }

    /// Moves to the next entry. **Requires:** `valid()`.
    ///
    /// # Errors
    /// A description of a malformed entry.
    #[expect(clippy::should_implement_trait, reason = "a fallible cursor step, not an Iterator")]
    pub fn next(&mut self) -> Result<(), BlockError> {
        self.advance()
    }

    /// Moves to the first entry whose key is `>= target`.
    ///
    /// # Errors
    /// A description of a malformed entry or restart array.
    pub fn seek(&mut self, target: &[u8]) -> Result<(), BlockError> {
        if self.block.restarts_offset == 0 {
            self.current = 0; // an empty block: invalid at once
            return Ok(());
        }
        // Binary search for the last restart point whose key is < target. A restart
        // point's key is stored whole, so it is compared where it lies, without a copy.
        let (mut lo, mut hi) = (0usize, self.block.num_restarts - 1);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            let key = self.block.restart_key(mid)?;
            if (self.cmp)(key, target) == Ordering::Less {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        self.key.clear();
        self.next_offset = self.block.restart_point(lo)?;
        self.advance()?;
        while self.valid() && (self.cmp)(&self.key, target) == Ordering::Less {
            self.advance()?;
        }
        Ok(())
    }

    /// Moves to the last entry.
    ///
    /// # Errors
    /// A description of a malformed entry or restart array.
    pub fn seek_to_last(&mut self) -> Result<(), BlockError> {
        if self.block.restarts_offset == 0 {
            self.current = 0;
            return Ok(());
        }
        self.decode_interval_before(self.block.restarts_offset)
    }

    /// Moves to the previous entry, or becomes invalid before the first.
    /// **Requires:** `valid()`.
    ///
    /// # Errors
    /// A description of a malformed entry or restart array.
    pub fn prev(&mut self) -> Result<(), BlockError> {
        // Invariant: `interval` holds consecutive entries of this (immutable) block, so if
        // the current entry is `interval[pos]`, its predecessor is `interval[pos - 1]`.
        if self.interval_pos > 0 && self.interval.get(self.interval_pos).is_some_and(|e| e.offset == self.current) {
            self.interval_pos -= 1;
            let e = self.interval[self.interval_pos];
            let start = if self.interval_pos == 0 { 0 } else { self.interval[self.interval_pos - 1].key_end };
            self.key.clear();
            self.key.extend_from_slice(&self.interval_keys[start..e.key_end]);
            self.current = e.offset;
            self.next_offset = e.next_offset;
            self.value = e.value;
            return Ok(());
        }
        self.decode_interval_before(self.current)
    }

    /// Decodes the restart interval holding the entry just before offset `original` into
    /// `interval` and moves to that entry; invalid if `original` is the first entry.
    fn decode_interval_before(&mut self, original: usize) -> Result<(), BlockError> {
        self.interval.clear();
        self.interval_keys.clear();
        self.interval_pos = 0;
        let r = self.decode_interval_inner(original);
        if r.is_err() {
            self.interval.clear();
        }
        r
    }

    fn decode_interval_inner(&mut self, original: usize) -> Result<(), BlockError> {
        // The last restart point strictly before `original`, by binary search: restart
        // points increase, and an index block (restart interval 1) has one per entry, so
        // a scan from the end would make a reverse scan of the index quadratic.
        // Invariant: restart points `< lo` are `< original`, those `>= hi` are not.
        let (mut lo, mut hi) = (0usize, self.block.num_restarts);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.block.restart_point(mid)? < original {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let Some(i) = lo.checked_sub(1) else {
            self.current = self.block.restarts_offset; // before the first entry
            return Ok(());
        };
        self.key.clear();
        self.next_offset = self.block.restart_point(i)?;
        self.advance()?;
        // Invariant: entries are contiguous, so scanning from the restart point reaches the
        // entry whose successor is the original one.
        while self.valid() {
            self.interval_keys.extend_from_slice(&self.key);
            self.interval.push(Decoded {
                offset: self.current,
                next_offset: self.next_offset,
                key_end: self.interval_keys.len(),
                value: self.value,
            });
            if self.next_offset >= original {
                break;
            }
            self.advance()?;
        }
        self.interval_pos = self.interval.len().saturating_sub(1);
        Ok(())
    }

    /// Moves to the last entry whose key is `<= target`, or becomes invalid.
    ///
    /// # Errors
    /// A description of a malformed entry or restart array.
    pub fn seek_for_prev(&mut self, target: &[u8]) -> Result<(), BlockError> {
        self.seek(target)?;
        if !self.valid() {
            return self.seek_to_last();
        }
        if (self.cmp)(&self.key, target) != Ordering::Equal {
            self.prev()?;
        }
        Ok(())
    }

    fn advance(&mut self) -> Result<(), BlockError> {
        let end = self.block.restarts_offset;
        if self.next_offset >= end {
            self.current = end;
            return Ok(());
        }
        self.current = self.next_offset;
        let entries = &self.block.data[..end];
        let h = entry_header(entries, self.current)?;
        if h.shared > self.key.len() {
            self.current = end;
            return Err("shared prefix longer than previous key");
        }
        let vstart = h.key_start.checked_add(h.non_shared).ok_or("key runs past block")?;
        let delta = entries.get(h.key_start..vstart).ok_or("key runs past block")?;
        self.key.truncate(h.shared);
        self.key.extend_from_slice(delta);
        let vend = vstart.checked_add(h.value_len).filter(|&e| e <= end).ok_or("value runs past block")?;
        self.value = (vstart, vend);
        self.next_offset = vend;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytewise(a: &[u8], b: &[u8]) -> Ordering {
        a.cmp(b)
    }

    fn build(n: usize, interval: usize) -> Block {
        let mut b = BlockBuilder::new(interval);
        for i in 0..n {
            b.add(format!("key{i:05}").as_bytes(), format!("v{i}").as_bytes());
        }
        Block::new(Bytes::from(b.finish())).expect("valid")
    }

    #[test]
    fn iterates_all_entries_in_order() {
        for interval in [1, 2, 16] {
            let block = build(100, interval);
            let mut it = block.iter(bytewise);
            it.seek_to_first().expect("ok");
            let mut n = 0;
            while it.valid() {
                assert_eq!(it.key(), format!("key{n:05}").as_bytes());
                assert_eq!(it.value_slice(), format!("v{n}").as_bytes());
                it.next().expect("ok");
                n += 1;
            }
            assert_eq!(n, 100);
        }
    }

    #[test]
    fn seek_finds_first_key_at_or_after_target() {
        let block = build(100, 16);
        let mut it = block.iter(bytewise);
        it.seek(b"key00042").expect("ok");
        assert_eq!(it.key(), b"key00042");
        it.seek(b"key00042x").expect("ok");
        assert_eq!(it.key(), b"key00043");
        it.seek(b"a").expect("ok");
        assert_eq!(it.key(), b"key00000");
        it.seek(b"z").expect("ok");
        assert!(!it.valid());
    }

    #[test]
    fn iterates_backwards_and_seeks_for_prev() {
        for interval in [1, 3, 16] {
            let block = build(50, interval);
            let mut it = block.iter(bytewise);
            it.seek_to_last().expect("ok");
            let mut n = 50;
            while it.valid() {
                n -= 1;
                assert_eq!(it.key(), format!("key{n:05}").as_bytes());
                it.prev().expect("ok");
            }
            assert_eq!(n, 0);
            it.seek_for_prev(b"key00020").expect("ok");
            assert_eq!(it.key(), b"key00020");
            it.seek_for_prev(b"key00020x").expect("ok");
            assert_eq!(it.key(), b"key00020");
            it.seek_for_prev(b"a").expect("ok");
            assert!(!it.valid());
            it.seek_for_prev(b"z").expect("ok");
            assert_eq!(it.key(), b"key00049");
        }
    }

    /// `prev` replays the restart interval it decoded; every mix of `next`, `prev` and
    /// seeks must still land on the right entry with the right value.
    #[test]
    fn mixed_directions_match_the_entry_order() {
        for interval in [1, 2, 3, 16] {
            let n = 61;
            let block = build(n, interval);
            let mut it = block.iter(bytewise);
            // A fixed pseudo-random walk: an xorshift picks the step.
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ interval as u64;
            let mut pos: Option<usize> = None;
            for _ in 0..5000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                match (x % 8, pos) {
                    (0, _) => {
                        it.seek_to_last().expect("ok");
                        pos = Some(n - 1);
                    }
                    (1, _) => {
                        let t = (x >> 8) as usize % n;
                        it.seek(format!("key{t:05}").as_bytes()).expect("ok");
                        pos = Some(t);
                    }
                    (2 | 3, Some(p)) => {
                        it.next().expect("ok");
                        pos = (p + 1 < n).then_some(p + 1);
                    }
                    (_, Some(p)) => {
                        it.prev().expect("ok");
                        pos = p.checked_sub(1);
                    }
                    (_, None) => {
                        it.seek_to_first().expect("ok");
                        pos = Some(0);
                    }
                }
                match pos {
                    Some(p) => {
                        assert!(it.valid(), "interval {interval}: expected key {p}");
                        assert_eq!(it.key(), format!("key{p:05}").as_bytes());
                        assert_eq!(it.value_slice(), format!("v{p}").as_bytes());
                    }
                    None => assert!(!it.valid()),
                }
            }
        }
    }

    #[test]
    fn empty_block_has_no_entries() {
        let block = Block::new(Bytes::from(BlockBuilder::new(16).finish())).expect("valid");
        let mut it = block.iter(bytewise);
        it.seek_to_first().expect("ok");
        assert!(!it.valid());
        it.seek(b"x").expect("ok");
        assert!(!it.valid());
        it.seek_to_last().expect("ok");
        assert!(!it.valid());
    }

    /// Keys and values of 128 bytes or more have multi-byte length varints (the entry
    /// header's slow path); short ones the one-byte fast path. Mixed in one block, every
    /// entry reads back and every key is found by seek.
    #[test]
    fn long_and_short_entries_round_trip() {
        let entries: Vec<(Vec<u8>, Vec<u8>)> = (0..200usize)
            .map(|i| {
                let key = format!("k{i:04}{}", "x".repeat((i * 37) % 300)).into_bytes();
                (key, vec![(i % 251) as u8; (i * 53) % 400])
            })
            .collect();
        for interval in [1, 4, 16] {
            let mut b = BlockBuilder::new(interval);
            for (k, v) in &entries {
                b.add(k, v);
            }
            let block = Block::new(Bytes::from(b.finish())).expect("valid");
            let mut it = block.iter(bytewise);
            it.seek_to_first().expect("first");
            for (k, v) in &entries {
                assert!(it.valid());
                assert_eq!((it.key(), &it.value()[..]), (&k[..], &v[..]));
                it.next().expect("next");
            }
            assert!(!it.valid());
            for (k, v) in &entries {
                it.seek(k).expect("seek");
                assert_eq!((it.key(), &it.value()[..]), (&k[..], &v[..]), "interval {interval}");
            }
        }
    }

    /// Flipping any one byte of a block's entries gives an error or some entries, never a
    /// panic or a read outside the block.
    #[test]
    fn every_one_byte_corruption_is_an_error_or_data() {
        let mut b = BlockBuilder::new(4);
        for i in 0..40usize {
            b.add(format!("key{i:03}{}", "y".repeat(i * 7)).as_bytes(), &vec![7u8; i * 11]);
        }
        let good = b.finish();
        for pos in 0..good.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bytes = good.clone();
                bytes[pos] ^= flip;
                let Ok(block) = Block::new(Bytes::from(bytes)) else { continue };
                let mut it = block.iter(bytewise);
                let mut steps = 0;
                if it.seek_to_first().is_ok() {
                    while it.valid() && steps < 100 && it.next().is_ok() {
                        steps += 1;
                    }
                }
                let _ = it.seek(b"key020");
            }
        }
    }

    #[test]
    fn malformed_blocks_are_errors_not_panics() {
        assert!(Block::new(Bytes::from_static(&[1, 2])).is_err());
        assert!(Block::new(Bytes::from_static(&[0, 0, 0, 0])).is_err());
        assert!(Block::new(Bytes::from_static(&[9, 9, 9, 9, 255, 0, 0, 0])).is_err());
        let mut raw = BlockBuilder::new(1);
        raw.add(b"abc", b"def");
        let mut bytes = raw.finish();
        bytes[1] = 200; // non_shared length past the end
        let block = Block::new(Bytes::from(bytes)).expect("restarts fine");
        let mut it = block.iter(bytewise);
        assert!(it.seek_to_first().is_err());
    }
}
