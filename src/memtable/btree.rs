//! The memtable's ordered entries: keys and values inline in an arena of large chunks
//! (one bump allocation per entry, no per-entry free: the chunks are dropped whole, as
//! LevelDB's and RocksDB's memtable arenas), and an insert-only B+tree over their arena
//! addresses (Bayer and McCreight 1972; Comer, "The Ubiquitous B-Tree", 1979) with linked
//! leaves, so a step forward or back is O(1).
//!
//! Not synchronised: the memtable's mutex guards it (writers and readers alike).
//!
//! # Arena entry layout
//! An entry is written once at an *address* `chunk << 32 | offset` and never moves:
//!
//! | bytes | field |
//! |---|---|
//! | 8 | trailer `seqno << 8 \| value type`, u64le |
//! | 1-5 | user key length `n`, LEB128 varint (`coding::put_varint`) |
//! | 1-5 | value length `m`, LEB128 varint |
//! | n | user key |
//! | m | value |
//!
//! So a 16-byte key and a 100-byte value take 10 header bytes ([`entry_bytes`]); until
//! the third session of 2026-12-01 the lengths were two u32le (16 header bytes).
//!
//! # Index
//! Order: user key ascending, then trailer descending (the internal-key order,
//! `key::compare_internal_keys`). Nodes hold up to [`CAP`] slots. A slot is an address
//! and an 8-byte *key window*, kept in separate arrays so a binary search reads only the
//! windows (2 cache lines per node).
//!
//! The window is 7 bytes of the user key, zero-padded, and a length byte (the count of
//! those bytes, 8 for "7 and more", plus bit 7 when the key has the common prefix), read
//! as a big-endian number. For a key that starts with the memtable's common prefix (chosen
//! once [`PREFIX_SAMPLE`] entries are in, at most [`MAX_COMMON_PREFIX`] bytes) the bytes
//! are those after the prefix; for any other key, and for every key until the prefix is
//! chosen, its first bytes.
//!
//! Two windows of the same kind that differ order their keys. A key without the prefix is
//! ordered against one with it by its window against the prefix's first bytes (when the
//! prefix has 8). Equal windows that hold the whole rest of both keys mean equal user keys,
//! and the trailers decide, read from the arena (the same user key twice in one memtable,
//! so rare under random writes). So most comparisons read only the node, not the arena;
//! other equal windows fall back to the full comparison.
//!
//! # Space
//! A slot costs 16 bytes (a leaf of 16 slots 272 bytes). A full leaf first moves slots
//! into a sibling under the same parent that has room (B*-tree redistribution), and splits
//! only when neither has, so random inserts fill leaves to about 83% (a plain split's
//! 69%); ascending inserts pack them full. An entry of a 16-byte key and a 100-byte value
//! takes about 148 bytes in all (126 in the arena, about 20 in the index), so a 64 MiB
//! memtable holds about 451K of them (RocksDB's skiplist arena about 460K, measured as
//! entries per 64 MiB flush).

use std::cmp::Ordering;
use std::sync::Arc;

use super::pool::ArenaPool;

/// Slots per node (leaf keys; inner separators, with one child more).
pub const CAP: usize = 16;

/// Longest common prefix the key windows skip.
pub const MAX_COMMON_PREFIX: usize = 64;

/// Entries inserted before the common prefix is chosen.
pub const PREFIX_SAMPLE: usize = 64;

/// Bytes of an arena chunk; an entry larger than this gets a chunk of its own size.
pub const CHUNK_BYTES: usize = 1 << 20;

/// Bytes of an entry's trailer, the fixed part of its header.
pub const TRAILER_BYTES: usize = 8;

/// Arena bytes of an entry: trailer, the two varint lengths, key and value.
pub fn entry_bytes(key_len: usize, value_len: usize) -> usize {
    TRAILER_BYTES
        + crate::coding::varint_len(key_len as u64)
        + crate::coding::varint_len(value_len as u64)
        + key_len
        + value_len
}

/// The window bit (in its length byte) that says the key starts with the common prefix.
const PREFIXED: u64 = 0x80;

const NONE: u32 = u32::MAX;

/// Nodes per chunk of [`Nodes`] (a power of two).
const NODES_PER_CHUNK: usize = 256;

/// The tree's nodes, numbered from 0, in fixed-size chunks: a push never moves a node.
/// A plain vector doubles its buffer as the memtable fills, copying every node (several
/// MiB at the end of a 64 MiB memtable) and touching fresh pages under the memtable mutex,
/// which every writer then waits for.
#[derive(Debug)]
struct Nodes<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Nodes<T> {
    fn default() -> Self {
        Nodes { chunks: Vec::new(), len: 0 }
    }
}

impl<T> Nodes<T> {
    fn len(&self) -> usize {
        self.len
    }

    /// Nodes the allocated chunks hold.
    fn capacity(&self) -> usize {
        self.chunks.len() * NODES_PER_CHUNK
    }

    fn push(&mut self, node: T) {
        if self.len.is_multiple_of(NODES_PER_CHUNK) {
            self.chunks.push(Vec::with_capacity(NODES_PER_CHUNK));
        }
        if let Some(c) = self.chunks.last_mut() {
            // Invariant: a chunk never grows past NODES_PER_CHUNK, so nodes never move.
            debug_assert!(c.len() < NODES_PER_CHUNK);
            c.push(node);
        }
        self.len += 1;
    }
}

impl<T> std::ops::Index<usize> for Nodes<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        &self.chunks[i / NODES_PER_CHUNK][i % NODES_PER_CHUNK]
    }
}

impl<T> std::ops::IndexMut<usize> for Nodes<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i / NODES_PER_CHUNK][i % NODES_PER_CHUNK]
    }
}

/// One entry as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The user key.
    pub user_key: &'a [u8],
    /// `seqno << 8 | value type`.
    pub trailer: u64,
    /// The value.
    pub value: &'a [u8],
}

/// A position in the index: a leaf and a slot in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    leaf: u32,
    slot: u32,
}

#[derive(Debug, Clone)]
struct Leaf {
    len: u32,
    prev: u32,
    next: u32,
    addr: [u64; CAP],
    window: Keys,
}

#[derive(Debug, Clone)]
struct Inner {
    /// Separators in use; children in use are one more.
    len: u32,
    addr: [u64; CAP],
    window: Keys,
    child: [u32; CAP + 1],
}

/// The sort keys of a node's slots: their windows alone, so a binary search reads 2 cache
/// lines for 16 slots. A slot's trailer is read from the arena, only where two complete
/// windows tie (the same user key twice in one memtable).
#[derive(Debug, Clone)]
struct Keys {
    win: [u64; CAP],
}

impl Keys {
    const EMPTY: Keys = Keys { win: [0; CAP] };

    fn get(&self, j: usize) -> u64 {
        self.win[j]
    }

    fn set(&mut self, j: usize, k: u64) {
        self.win[j] = k;
    }

    fn copy_within(&mut self, r: std::ops::Range<usize>, dst: usize) {
        self.win.copy_within(r, dst);
    }

    fn copy_from(&mut self, other: &Keys, r: std::ops::Range<usize>, dst: usize) {
        let n = r.len();
        self.win[dst..dst + n].copy_from_slice(&other.win[r]);
    }
}

/// A search target.
struct Probe<'a> {
    user_key: &'a [u8],
    trailer: u64,
    window: u64,
    has_prefix: bool,
}

/// One arena chunk: an anonymous memory map of its own, filled front to back. Not a heap
/// block: glibc's malloc serves a 1 MiB block from its heap once its mmap threshold has
/// adapted to blocks that size, and then keeps the freed memtables' chunks in the heap
/// instead of returning them to the operating system (`shaledb-peers --num 10000000
/// --engines shaledb`, glibc's allocator: peak RSS 174 / 182 / 307 MiB in fillrandom /
/// overwrite / readwhilewriting with heap chunks, 132 / 166 / 232 with glibc's threshold
/// pinned by `MALLOC_MMAP_THRESHOLD_`). A map is returned when the memtable is dropped,
/// whatever the global allocator.
#[derive(Debug)]
struct Chunk {
    map: memmap2::MmapMut,
    /// Bytes written; the rest of the map is free.
    len: usize,
}

impl Chunk {
    /// A chunk of `cap` bytes. Its pages fault in as entries reach them: with
    /// `MAP_POPULATE` (all of them zeroed when mapped) `shale bench --benchmarks
    /// fillseq,fillrandom,overwrite --num 3000000` measured p99.9 21.6–42.8 µs in two runs,
    /// without it 20.2–23.1 µs. Out of memory aborts, as a `Vec`'s allocation does.
    fn new(cap: usize, pool: Option<&ArenaPool>) -> Chunk {
        if let Some(map) = pool.filter(|_| cap == CHUNK_BYTES).and_then(ArenaPool::take) {
            return Chunk { map, len: 0 };
        }
        let map = memmap2::MmapOptions::new().len(cap).map_anon().unwrap_or_else(|_| {
            std::alloc::handle_alloc_error(std::alloc::Layout::from_size_align(cap, 1).unwrap_or(std::alloc::Layout::new::<u8>()))
        });
        Chunk { map, len: 0 }
    }

    fn capacity(&self) -> usize {
        self.map.len()
    }

    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, bytes: &[u8]) {
        self.map[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn push_varint(&mut self, v: u64) {
        self.len += crate::coding::encode_varint(v, &mut self.map[self.len..]);
    }
}

impl std::ops::Deref for Chunk {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.map
    }
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct OrderedArena {
    chunks: Vec<Chunk>,
    leaves: Nodes<Leaf>,
    inners: Nodes<Inner>,
    /// Root node: a leaf when `height` is 1, else an inner node.
    root: u32,
    /// Levels of the tree (0 while empty).
    height: usize,
    last_leaf: u32,
    common: Option<Vec<u8>>,
    /// The common prefix's first 8 bytes as a window, if it has 8.
    common_head: Option<u64>,
    /// Entries at which to try fixing the common prefix again.
    next_sample: usize,
    len: usize,
    /// Arena bytes of entries written plus the unused tails of the chunks left behind.
    arena_used: usize,
    arena_allocated: usize,
    /// Where whole chunks come from and go back to, if anywhere.
    pool: Option<Arc<ArenaPool>>,
}

impl Drop for OrderedArena {
    fn drop(&mut self) {
        if let Some(pool) = &self.pool {
            let whole = self.chunks.drain(..).filter(|c| c.capacity() == CHUNK_BYTES);
            pool.give_back(whole.map(|c| c.map));
        }
    }
}

/// The key length of the entry at `o` and the offset of its key. Both lengths under 128
/// (one byte each) is the common case, read with one bounds check: an entry holds at least
/// the trailer and two length bytes.
#[inline]
fn key_span(b: &[u8], o: usize) -> (usize, usize) {
    let h = &b[o..o + TRAILER_BYTES + 2];
    let (n, m) = (h[TRAILER_BYTES], h[TRAILER_BYTES + 1]);
    if (n | m) < 0x80 {
        return (usize::from(n), o + TRAILER_BYTES + 2);
    }
    let (n, at) = rd_len(b, o + TRAILER_BYTES);
    let (_, k) = rd_len(b, at);
    (n, k)
}

/// The varint length at `at` and the offset after it. The arena holds only what
/// `append_entry` wrote, so the encoding is known good (at most 5 bytes for a `u32`).
fn rd_len(b: &[u8], mut at: usize) -> (usize, usize) {
    let first = b[at];
    if first < 0x80 {
        return (usize::from(first), at + 1);
    }
    let mut v = 0usize;
    let mut shift = 0;
    loop {
        let byte = b[at];
        at += 1;
        v |= usize::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return (v, at);
        }
        shift += 7;
    }
}

fn rd64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// The order of an entry `(uk, tr)` against a target `(tuk, ttr)`.
fn cmp_keys(uk: &[u8], tr: u64, tuk: &[u8], ttr: u64) -> Ordering {
    uk.cmp(tuk).then_with(|| ttr.cmp(&tr))
}

fn window_of(user_key: &[u8], skip: usize) -> u64 {
    let mut w = [0u8; 8];
    let rest = user_key.get(skip..).unwrap_or_default();
    let n = rest.len().min(7);
    w[..n].copy_from_slice(&rest[..n]);
    w[7] = rest.len().min(8) as u8;
    #[expect(clippy::big_endian_bytes, reason = "a big-endian window orders as its bytes do")]
    u64::from_be_bytes(w)
}

/// True if a window holds the whole rest of its key (length marker under 8).
fn complete(window: u64) -> bool {
    window & 0x7f < 8
}

impl OrderedArena {
    /// An empty index; allocates nothing until the first insert.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty index whose chunks come from `pool` when it has some and go back to it
    /// when the index is dropped.
    pub fn with_pool(pool: Arc<ArenaPool>) -> Self {
        let mut t = Self::default();
        t.pool = Some(pool);
        t
    }

    /// Entries inserted.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True before the first insert.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes in use: entries in the arena (with the unused tails of full chunks) and the
    /// index nodes created. Grows with every insert; what the memtable charges.
    pub fn used_bytes(&self) -> usize {
        self.arena_used
            + self.leaves.len() * std::mem::size_of::<Leaf>()
            + self.inners.len() * std::mem::size_of::<Inner>()
    }

    /// Bytes allocated on the heap: arena chunks and the node vectors' capacity.
    pub fn allocated_bytes(&self) -> usize {
        self.arena_allocated
            + self.leaves.capacity() * std::mem::size_of::<Leaf>()
            + self.inners.capacity() * std::mem::size_of::<Inner>()
            + self.chunks.capacity() * std::mem::size_of::<Chunk>()
    }

    fn probe<'a>(&self, user_key: &'a [u8], trailer: u64) -> Probe<'a> {
        match self.common.as_ref().filter(|c| user_key.starts_with(c)) {
            Some(c) => {
                let window = window_of(user_key, c.len()) | PREFIXED;
                Probe { user_key, trailer, window, has_prefix: true }
            }
            None => Probe { user_key, trailer, window: window_of(user_key, 0), has_prefix: false },
        }
    }

    #[inline]
    fn key_at(&self, addr: u64) -> (&[u8], u64) {
        let b = &self.chunks[(addr >> 32) as usize];
        let o = (addr & 0xffff_ffff) as usize;
        let (n, k) = key_span(b, o);
        (&b[k..k + n], rd64(b, o))
    }

    fn trailer_at(&self, addr: u64) -> u64 {
        rd64(&self.chunks[(addr >> 32) as usize], (addr & 0xffff_ffff) as usize)
    }

    /// The order of slot `j` (of a node's `addr` and `keys`) against `p`.
    fn cmp_at(&self, addr: &[u64; CAP], keys: &Keys, j: usize, p: &Probe<'_>) -> Ordering {
        // Invariant: windows decide only between keys whose windows start at the same
        // byte with the same bytes before it (both after the common prefix, or both at 0);
        // equal complete windows mean equal user keys, so the trailers decide.
        let (w, pw) = (keys.win[j], p.window);
        let decided = match (w & PREFIXED != 0, p.has_prefix) {
            (true, true) | (false, false) if w != pw => Some(w.cmp(&pw)),
            (true, true) | (false, false) => complete(w).then(|| p.trailer.cmp(&self.trailer_at(addr[j]))),
            (true, false) => self.common_head.filter(|h| *h != pw).map(|h| h.cmp(&pw)),
            (false, true) => self.common_head.filter(|h| *h != w).map(|h| w.cmp(&h)),
        };
        if let Some(o) = decided {
            return o;
        }
        let (k, t) = self.key_at(addr[j]);
        cmp_keys(k, t, p.user_key, p.trailer)
    }

    /// The entry at `pos`.
    pub fn entry(&self, pos: Pos) -> Entry<'_> {
        let a = self.leaves[pos.leaf as usize].addr[pos.slot as usize];
        let b = &self.chunks[(a >> 32) as usize];
        let o = (a & 0xffff_ffff) as usize;
        let (n, at) = rd_len(b, o + TRAILER_BYTES);
        let (m, k) = rd_len(b, at);
        Entry { user_key: &b[k..k + n], trailer: rd64(b, o), value: &b[k + n..k + n + m] }
    }

    fn append_entry(&mut self, user_key: &[u8], trailer: u64, value: &[u8]) -> u64 {
        let size = entry_bytes(user_key.len(), value.len());
        if self.chunks.last().is_none_or(|c| c.capacity() - c.len() < size) {
            if let Some(c) = self.chunks.last() {
                self.arena_used += c.capacity() - c.len();
            }
            let cap = CHUNK_BYTES.max(size);
            self.chunks.push(Chunk::new(cap, self.pool.as_deref()));
            self.arena_allocated += cap;
        }
        let c = self.chunks.len() - 1;
        let chunk = &mut self.chunks[c];
        let offset = chunk.len();
        // Invariant: a chunk never grows past its capacity, so entries never move.
        debug_assert!(chunk.capacity() - offset >= size);
        chunk.push(&trailer.to_le_bytes());
        chunk.push_varint(user_key.len() as u64);
        chunk.push_varint(value.len() as u64);
        chunk.push(user_key);
        chunk.push(value);
        self.arena_used += size;
        ((c as u64) << 32) | offset as u64
    }

    /// Chooses the common prefix once [`PREFIX_SAMPLE`] entries are in (and again at each
    /// doubling while fewer than 8 distinct keys were seen), then rewrites every slot's
    /// window. Of the prefixes that neighbouring distinct keys share, it takes the one under
    /// which windows alone order the most neighbouring pairs: a server's data keys and its
    /// count records each keep their own order in the window, where the shortest common
    /// prefix (none) or the longest would leave one kind to full comparisons.
    fn maybe_fix_common_prefix(&mut self) {
        if self.common.is_some() || self.len < self.next_sample.max(PREFIX_SAMPLE) {
            return;
        }
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let mut at = self.first();
        while let Some(p) = at {
            let k = self.entry(p).user_key;
            if keys.last().is_none_or(|l| l.as_slice() != k) {
                keys.push(k.to_vec());
            }
            at = self.next(p);
        }
        if keys.len() < 8 && self.len < 64 * PREFIX_SAMPLE {
            self.next_sample = 2 * self.len;
            return;
        }
        let lcp = |a: &[u8], b: &[u8]| a.iter().zip(b).take_while(|(x, y)| x == y).count();
        let score = |p: &[u8]| -> usize {
            let head = (p.len() >= 8).then(|| window_of(p, 0));
            keys.windows(2)
                .filter(|w| match (w[0].starts_with(p), w[1].starts_with(p)) {
                    (true, true) => window_of(&w[0], p.len()) != window_of(&w[1], p.len()),
                    (false, false) => window_of(&w[0], 0) != window_of(&w[1], 0),
                    (true, false) => head.is_some_and(|h| h != window_of(&w[1], 0)),
                    (false, true) => head.is_some_and(|h| h != window_of(&w[0], 0)),
                })
                .count()
        };
        let mut best: (usize, Vec<u8>) = (score(&[]), Vec::new());
        for w in keys.windows(2) {
            let p = &w[0][..lcp(&w[0], &w[1]).min(MAX_COMMON_PREFIX)];
            let sc = score(p);
            if sc > best.0 || (sc == best.0 && p.len() < best.1.len()) {
                best = (sc, p.to_vec());
            }
        }
        let common = best.1;
        self.common_head = (common.len() >= 8).then(|| window_of(&common, 0));
        self.common = Some(common);
        // Every slot's window now starts after the prefix where the key has it.
        let fix = |t: &Self, addr: u64| -> (u64, u64) {
            let (k, _) = t.key_at(addr);
            match t.common.as_ref().filter(|c| k.starts_with(c)) {
                Some(c) => (addr, window_of(k, c.len()) | PREFIXED),
                None => (addr, window_of(k, 0)),
            }
        };
        for i in 0..self.leaves.len() {
            for j in 0..self.leaves[i].len as usize {
                let (a, w) = fix(self, self.leaves[i].addr[j]);
                self.leaves[i].addr[j] = a;
                self.leaves[i].window.set(j, w);
            }
        }
        for i in 0..self.inners.len() {
            for j in 0..self.inners[i].len as usize {
                let (a, w) = fix(self, self.inners[i].addr[j]);
                self.inners[i].addr[j] = a;
                self.inners[i].window.set(j, w);
            }
        }
    }

    /// Inserts an entry. **Requires:** no entry with the same user key and trailer
    /// (sequence numbers are unique); key and value under 4 GiB each.
    pub fn insert(&mut self, user_key: &[u8], trailer: u64, value: &[u8]) {
        self.maybe_fix_common_prefix();
        let addr = self.append_entry(user_key, trailer, value);
        let p = self.probe(user_key, trailer);
        let window = p.window;
        self.len += 1;
        if self.height == 0 {
            self.leaves.push(Leaf { len: 0, prev: NONE, next: NONE, addr: [0; CAP], window: Keys::EMPTY });
            self.root = 0;
            self.height = 1;
            self.last_leaf = 0;
        }
        // Descend, remembering the path of (inner node, child index). An entry after the
        // last one (an ascending load) takes the rightmost path with one comparison, as
        // RocksDB's skiplist reuses its last insert's splice.
        let mut path = [(0u32, 0usize); 16];
        let mut node = self.root;
        let last = &self.leaves[self.last_leaf as usize];
        let append = last.len > 0
            && self.cmp_at(&last.addr, &last.window, last.len as usize - 1, &p) == Ordering::Less;
        for step in path.iter_mut().take(self.height - 1) {
            let n = &self.inners[node as usize];
            let i = if append {
                n.len as usize
            } else {
                partition(n.len as usize, |j| self.cmp_at(&n.addr, &n.window, j, &p) != Ordering::Greater)
            };
            *step = (node, i);
            node = n.child[i];
        }
        // Invariant: the rightmost path ends at the last leaf.
        debug_assert!(!append || node == self.last_leaf);
        let leaf = &self.leaves[node as usize];
        let pos = if append {
            leaf.len as usize
        } else {
            partition(leaf.len as usize, |j| self.cmp_at(&leaf.addr, &leaf.window, j, &p) == Ordering::Less)
        };
        if self.height > 1 && self.shift_to_sibling(path[self.height - 2], node, pos, addr, window) {
            return;
        }
        let Some((sep_addr, sep_window, right)) = self.leaf_insert(node, pos, addr, window) else {
            return;
        };
        // Carry the split up the path.
        let (mut sep, mut right) = ((sep_addr, sep_window), right);
        for level in (0..self.height - 1).rev() {
            let (inner, i) = path[level];
            match self.inner_insert(inner, i, sep, right) {
                None => return,
                Some((s, r)) => (sep, right) = (s, r),
            }
        }
        // The root split: a new root above it.
        let mut root = Inner { len: 1, addr: [0; CAP], window: Keys::EMPTY, child: [NONE; CAP + 1] };
        root.addr[0] = sep.0;
        root.window.set(0, sep.1);
        root.child[0] = self.root;
        root.child[1] = right;
        self.inners.push(root);
        self.root = (self.inners.len() - 1) as u32;
        self.height += 1;
    }

    /// Inserts a slot into a leaf at `pos`; on a split, returns the new right leaf's first
    /// slot (the separator) and the right leaf.
    fn leaf_insert(&mut self, leaf: u32, pos: usize, addr: u64, window: u64) -> Option<(u64, u64, u32)> {
        let right = self.leaves.len() as u32;
        let l = &mut self.leaves[leaf as usize];
        let len = l.len as usize;
        if len < CAP {
            l.addr.copy_within(pos..len, pos + 1);
            l.window.copy_within(pos..len, pos + 1);
            l.addr[pos] = addr;
            l.window.set(pos, window);
            l.len += 1;
            return None;
        }
        // Full: split. Appending at the right edge (ascending inserts) leaves the left leaf
        // full and starts the right one with the new slot, so sequential loads pack leaves.
        let mid = if pos == CAP && l.next == NONE { CAP } else { CAP / 2 };
        let mut r = Leaf { len: 0, prev: leaf, next: l.next, addr: [0; CAP], window: Keys::EMPTY };
        let moved = CAP - mid;
        r.addr[..moved].copy_from_slice(&l.addr[mid..]);
        r.window.copy_from(&l.window, mid..CAP, 0);
        r.len = moved as u32;
        l.len = mid as u32;
        let old_next = l.next;
        l.next = right;
        if old_next == NONE {
            self.last_leaf = right;
        } else {
            self.leaves[old_next as usize].prev = right;
        }
        self.leaves.push(r);
        let (target, at) = if pos <= mid && mid != CAP { (leaf, pos) } else { (right, pos - mid) };
        let t = &mut self.leaves[target as usize];
        let tl = t.len as usize;
        t.addr.copy_within(at..tl, at + 1);
        t.window.copy_within(at..tl, at + 1);
        t.addr[at] = addr;
        t.window.set(at, window);
        t.len += 1;
        let r = &self.leaves[right as usize];
        Some((r.addr[0], r.window.get(0), right))
    }

    /// Makes room in full leaf `leaf` (child `i` of inner node `parent`) by moving slots
    /// into a sibling under the same parent that has room, and inserts the slot there or
    /// in `leaf` (B*-tree style redistribution, Knuth vol. 3 §6.2.4). True if it did; false
    /// leaves the leaf to [`OrderedArena::leaf_insert`] (not full, an append at the right
    /// edge, or no sibling with room). Random inserts then fill leaves to about 80%
    /// instead of 70% (a split's two halves). Iterators hold no positions across calls
    /// (they re-seek by key), so moving slots between leaves is safe.
    #[inline(never)]
    fn shift_to_sibling(&mut self, (parent, i): (u32, usize), leaf: u32, pos: usize, addr: u64, window: u64) -> bool {
        let l = &self.leaves[leaf as usize];
        if (l.len as usize) < CAP || (pos == CAP && l.next == NONE) {
            return false;
        }
        let n = &self.inners[parent as usize];
        // Child `i + 1` exists when separator `i` does.
        let (left, right) = (i.checked_sub(1).map(|j| n.child[j]), (i < n.len as usize).then(|| n.child[i + 1]));
        let room = |t: &Self, c: u32| CAP - t.leaves[c as usize].len as usize;
        if let Some(right) = right.filter(|&c| room(self, c) >= 2) {
            // Move the last k slots to the front of the right sibling.
            let k = room(self, right) / 2;
            let keep = CAP - k;
            let (moved_addr, moved_win) = {
                let l = &self.leaves[leaf as usize];
                (l.addr, l.window.win)
            };
            let r = &mut self.leaves[right as usize];
            let rl = r.len as usize;
            r.addr.copy_within(0..rl, k);
            r.window.copy_within(0..rl, k);
            r.addr[..k].copy_from_slice(&moved_addr[keep..]);
            r.window.win[..k].copy_from_slice(&moved_win[keep..]);
            r.len += k as u32;
            self.leaves[leaf as usize].len = keep as u32;
            let (target, at) = if pos <= keep { (leaf, pos) } else { (right, pos - keep) };
            self.slot_insert(target, at, addr, window);
            let r = &self.leaves[right as usize];
            let sep = (r.addr[0], r.window.get(0));
            let n = &mut self.inners[parent as usize];
            n.addr[i] = sep.0;
            n.window.set(i, sep.1);
            return true;
        }
        if let Some(left) = left.filter(|&c| room(self, c) >= 2) {
            // Move the first k slots to the end of the left sibling.
            let k = room(self, left) / 2;
            let (moved_addr, moved_win) = {
                let l = &self.leaves[leaf as usize];
                (l.addr, l.window.win)
            };
            let lf = &mut self.leaves[left as usize];
            let ll = lf.len as usize;
            lf.addr[ll..ll + k].copy_from_slice(&moved_addr[..k]);
            lf.window.win[ll..ll + k].copy_from_slice(&moved_win[..k]);
            lf.len += k as u32;
            let t = &mut self.leaves[leaf as usize];
            t.addr.copy_within(k..CAP, 0);
            t.window.copy_within(k..CAP, 0);
            t.len = (CAP - k) as u32;
            if pos < k {
                self.slot_insert(left, ll + pos, addr, window);
            } else {
                self.slot_insert(leaf, pos - k, addr, window);
            }
            let t = &self.leaves[leaf as usize];
            let sep = (t.addr[0], t.window.get(0));
            let n = &mut self.inners[parent as usize];
            n.addr[i - 1] = sep.0;
            n.window.set(i - 1, sep.1);
            return true;
        }
        false
    }

    /// Inserts a slot at `at` of a leaf that has room.
    fn slot_insert(&mut self, leaf: u32, at: usize, addr: u64, window: u64) {
        let t = &mut self.leaves[leaf as usize];
        let tl = t.len as usize;
        // Invariant: only called on a leaf with room.
        debug_assert!(tl < CAP);
        t.addr.copy_within(at..tl, at + 1);
        t.window.copy_within(at..tl, at + 1);
        t.addr[at] = addr;
        t.window.set(at, window);
        t.len += 1;
    }

    /// Inserts separator `sep` and its right child after child `i` of `inner`; on a split,
    /// returns the separator that moves up and the new right node.
    fn inner_insert(&mut self, inner: u32, i: usize, sep: (u64, u64), right: u32) -> Option<((u64, u64), u32)> {
        let n = &mut self.inners[inner as usize];
        let len = n.len as usize;
        if len < CAP {
            n.addr.copy_within(i..len, i + 1);
            n.window.copy_within(i..len, i + 1);
            n.child.copy_within(i + 1..len + 1, i + 2);
            n.addr[i] = sep.0;
            n.window.set(i, sep.1);
            n.child[i + 1] = right;
            n.len += 1;
            return None;
        }
        // Full: lay out the CAP + 1 separators and CAP + 2 children, keep the lower half,
        // move the upper half to a new node and the middle separator up.
        let mut keys: Vec<(u64, u64)> = (0..len).map(|j| (n.addr[j], n.window.get(j))).collect();
        let mut children: Vec<u32> = n.child[..=len].to_vec();
        keys.insert(i, sep);
        children.insert(i + 1, right);
        let m = keys.len() / 2;
        let mut r = Inner { len: 0, addr: [0; CAP], window: Keys::EMPTY, child: [NONE; CAP + 1] };
        for (j, (a, w)) in keys[m + 1..].iter().enumerate() {
            r.addr[j] = *a;
            r.window.set(j, *w);
        }
        r.len = (keys.len() - m - 1) as u32;
        r.child[..children.len() - m - 1].copy_from_slice(&children[m + 1..]);
        for (j, (a, w)) in keys[..m].iter().enumerate() {
            n.addr[j] = *a;
            n.window.set(j, *w);
        }
        n.len = m as u32;
        n.child[..=m].copy_from_slice(&children[..=m]);
        self.inners.push(r);
        Some((keys[m], (self.inners.len() - 1) as u32))
    }

    /// The first entry at or after `(user_key, trailer)` in index order.
    pub fn seek(&self, user_key: &[u8], trailer: u64) -> Option<Pos> {
        if self.height == 0 {
            return None;
        }
        let p = self.probe(user_key, trailer);
        let mut node = self.root;
        for _ in 0..self.height - 1 {
            let n = &self.inners[node as usize];
            let i = partition(n.len as usize, |j| self.cmp_at(&n.addr, &n.window, j, &p) != Ordering::Greater);
            node = n.child[i];
        }
        let leaf = &self.leaves[node as usize];
        let slot = partition(leaf.len as usize, |j| self.cmp_at(&leaf.addr, &leaf.window, j, &p) == Ordering::Less);
        self.normalize(node, slot)
    }

    /// The last entry before `(user_key, trailer)`.
    pub fn seek_before(&self, user_key: &[u8], trailer: u64) -> Option<Pos> {
        match self.seek(user_key, trailer) {
            Some(p) => self.prev(p),
            None => self.last(),
        }
    }

    /// `(leaf, slot)` or, past the leaf's end, the first slot of the next non-empty leaf.
    fn normalize(&self, mut leaf: u32, slot: usize) -> Option<Pos> {
        if slot < self.leaves[leaf as usize].len as usize {
            return Some(Pos { leaf, slot: slot as u32 });
        }
        loop {
            leaf = self.leaves[leaf as usize].next;
            if leaf == NONE {
                return None;
            }
            if self.leaves[leaf as usize].len > 0 {
                return Some(Pos { leaf, slot: 0 });
            }
        }
    }

    /// The first entry.
    pub fn first(&self) -> Option<Pos> {
        if self.height == 0 {
            return None;
        }
        // Splits move upper halves right, so leaf 0 stays the leftmost.
        self.normalize(0, 0)
    }

    /// The last entry.
    pub fn last(&self) -> Option<Pos> {
        if self.height == 0 {
            return None;
        }
        let l = &self.leaves[self.last_leaf as usize];
        (l.len > 0).then(|| Pos { leaf: self.last_leaf, slot: l.len - 1 })
    }

    /// The entry after `pos`.
    pub fn next(&self, pos: Pos) -> Option<Pos> {
        self.normalize(pos.leaf, pos.slot as usize + 1)
    }

    /// The entry before `pos`.
    pub fn prev(&self, pos: Pos) -> Option<Pos> {
        if pos.slot > 0 {
            return Some(Pos { leaf: pos.leaf, slot: pos.slot - 1 });
        }
        let mut leaf = self.leaves[pos.leaf as usize].prev;
        while leaf != NONE {
            let l = &self.leaves[leaf as usize];
            if l.len > 0 {
                return Some(Pos { leaf, slot: l.len - 1 });
            }
            leaf = l.prev;
        }
        None
    }
}

/// The number of leading indices in `0..len` for which `pred` holds (`pred` must hold
/// on a prefix of the range): binary search.
fn partition(len: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn forward(t: &OrderedArena) -> Vec<(Vec<u8>, u64)> {
        let mut out = Vec::new();
        let mut at = t.first();
        while let Some(p) = at {
            let e = t.entry(p);
            out.push((e.user_key.to_vec(), e.trailer));
            at = t.next(p);
        }
        out
    }

    fn backward(t: &OrderedArena) -> Vec<(Vec<u8>, u64)> {
        let mut out = Vec::new();
        let mut at = t.last();
        while let Some(p) = at {
            let e = t.entry(p);
            out.push((e.user_key.to_vec(), e.trailer));
            at = t.prev(p);
        }
        out.reverse();
        out
    }

    /// Keys of several shapes: sharing a long prefix, differing in the first byte,
    /// prefixes of each other, empty, with zero bytes where the window pads.
    fn check(keys: impl Iterator<Item = Vec<u8>>) {
        let mut t = OrderedArena::new();
        let mut model = BTreeSet::new();
        for (i, k) in keys.enumerate() {
            let tr = ((i as u64) << 8) | 1;
            t.insert(&k, tr, format!("v{i}").as_bytes());
            model.insert((k, std::cmp::Reverse(tr)));
        }
        let want: Vec<_> = model.iter().map(|(k, r)| (k.clone(), r.0)).collect();
        assert_eq!(forward(&t), want);
        assert_eq!(backward(&t), want);
        assert_eq!(t.len(), want.len());
        for (i, (k, tr)) in want.iter().enumerate() {
            let at = t.seek(k, *tr).map(|p| t.entry(p).trailer);
            assert_eq!(at, Some(*tr), "seek to entry {i}");
            let before = t.seek_before(k, *tr).map(|p| t.entry(p).trailer);
            assert_eq!(before, i.checked_sub(1).map(|j| want[j].1), "seek_before entry {i}");
            // Between this user key's versions and the next key: a seek key with the
            // largest trailer lands on the newest version.
            let newest = t.seek(k, u64::MAX).map(|p| t.entry(p).user_key.to_vec());
            assert_eq!(newest.as_deref(), Some(k.as_slice()));
        }
        assert_eq!(t.seek(&[0xff; 80], 0), None);
    }

    fn lcg(seed: u64) -> impl Iterator<Item = u64> {
        let mut s = seed;
        std::iter::repeat_with(move || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            s >> 33
        })
    }

    #[test]
    fn random_keys_with_a_common_prefix() {
        check(lcg(1).take(20_000).map(|r| format!("key:{:012}", r % 5000).into_bytes()));
    }

    #[test]
    fn keys_of_every_shape() {
        let shapes = lcg(2).take(20_000).map(|r| match r % 7 {
            0 => format!("key:{:04}", r % 300).into_bytes(),
            1 => vec![(r % 256) as u8; (r % 20) as usize],
            2 => Vec::new(),
            3 => format!("key:{:04}\0\0", r % 300).into_bytes(),
            4 => format!("k{}", r % 1000).into_bytes(),
            5 => format!("m{}", r % 1000).into_bytes(),
            _ => (r % 100_000).to_le_bytes().to_vec(),
        });
        check(shapes);
    }

    #[test]
    fn keys_with_and_without_a_long_common_prefix() {
        // The first two keys fix a 12-byte prefix; later keys sort before, between and
        // after the prefixed ones, and some share only part of it.
        let keys = lcg(3).take(20_000).map(|r| match r % 5 {
            0 | 1 => format!("k\0key:{:012}", r % 4000).into_bytes(),
            2 => vec![b'm', 0, (r % 4) as u8, (r % 251) as u8],
            3 => format!("k\0key:{}", r % 50).into_bytes(),
            _ => format!("a{}", r % 97).into_bytes(),
        });
        check(std::iter::once(b"k\0key:000000000001".to_vec()).chain(std::iter::once(b"k\0key:000000999999".to_vec())).chain(keys));
    }

    proptest::proptest! {
        /// Any keys over a small alphabet (zero bytes, shared prefixes, prefixes of each
        /// other): the index orders them as the internal-key comparator does.
        #[test]
        fn any_keys_order_as_internal_keys(keys in proptest::collection::vec(
            proptest::collection::vec(proptest::sample::select(vec![0u8, 1, b'k', 0xff]), 0..14), 1..300)) {
            check(keys.into_iter());
        }
    }

    #[test]
    fn the_common_prefix_serves_the_main_kind_of_key() {
        // As `shale serve` writes: each new data key with its stripe's count record.
        let mut t = OrderedArena::new();
        for (i, r) in lcg(4).take(1000).enumerate() {
            let tr = ((i as u64) << 8) | 1;
            t.insert(format!("k\0key:{:012}", r % 1_000_000).as_bytes(), tr, b"v");
            t.insert(&[b'm', 0, (r % 4) as u8, (r % 256) as u8], tr + 256, b"counts");
        }
        assert_eq!(t.common.as_deref(), Some(&b"k\0key:000000"[..]));
    }

    #[test]
    fn ascending_and_descending_inserts() {
        check((0..10_000u32).map(|i| format!("{i:08}").into_bytes()));
        check((0..10_000u32).rev().map(|i| format!("{i:08}").into_bytes()));
    }

    #[test]
    fn ascending_inserts_pack_leaves() {
        let mut t = OrderedArena::new();
        for i in 0..(CAP * 100) as u32 {
            t.insert(format!("{i:08}").as_bytes(), 1 << 8 | 1, b"");
        }
        assert_eq!(t.leaves.len(), 100);
    }

    #[test]
    fn random_inserts_fill_leaves_to_about_four_fifths() {
        // A split leaves two half-full leaves; moving slots into a sibling with room first
        // (shift_to_sibling) keeps random inserts from settling at ln 2 = 69%.
        let mut t = OrderedArena::new();
        for (i, r) in lcg(7).take(100_000).enumerate() {
            t.insert(format!("{r:016}").as_bytes(), (i as u64) << 8 | 1, b"v");
        }
        let fill = t.len() as f64 / (t.leaves.len() * CAP) as f64;
        assert!(fill > 0.78, "leaves {:.1}% full", fill * 100.0);
        check(lcg(7).take(5_000).map(|r| format!("{r:016}").into_bytes()));
    }

    #[test]
    fn large_entries_get_their_own_chunk_and_accounting_adds_up() {
        let mut t = OrderedArena::new();
        assert_eq!((t.first(), t.last(), t.used_bytes()), (None, None, 0));
        let big = vec![7u8; CHUNK_BYTES + 10];
        t.insert(b"a", 1 << 8 | 1, b"small");
        t.insert(b"b", 2 << 8 | 1, &big);
        t.insert(b"c", 3 << 8 | 1, b"x");
        assert_eq!(t.seek(b"b", u64::MAX).map(|p| t.entry(p).value), Some(big.as_slice()));
        assert_eq!(t.seek(b"c", u64::MAX).map(|p| t.entry(p).value), Some(&b"x"[..]));
        assert_eq!(t.chunks.len(), 3);
        let entries = entry_bytes(1, 5) + entry_bytes(1, big.len()) + entry_bytes(1, 1);
        assert_eq!(entries, 3 * TRAILER_BYTES + 3 * 2 + 2 + 3 + 5 + big.len() + 1);
        let tail = CHUNK_BYTES - entry_bytes(1, 5);
        assert_eq!(t.used_bytes(), entries + tail + std::mem::size_of::<Leaf>());
        assert!(t.allocated_bytes() >= 2 * CHUNK_BYTES + big.len());
    }
}
