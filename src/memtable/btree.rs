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
//! Every node has a *skip*: the number of leading user-key bytes that every key that can
//! reach the node shares (its *fences*, the separators around it in its parent, bound
//! those keys; any key between two keys shares their common prefix). A slot's window is
//! the 7 user-key bytes after the node's skip, zero-padded, and a length byte (the count
//! of those bytes, 8 for "7 and more"), read as a big-endian number, so two windows of
//! one node that differ order their keys. Equal windows that hold the whole rest of both
//! keys mean equal user keys, and the trailers decide, read from the arena (the same user
//! key twice in one memtable); other equal windows fall back to the full comparison.
//!
//! A node starts with its parent's skip (a split only narrows its fences). A split raises
//! the skip of each half to its fences' common prefix when that gains [`SKIP_GAIN`] bytes
//! or more, rewriting the half's windows; moving slots into a sibling (which widens the
//! sibling's fences) lowers the sibling's skip where its new fences share less. The root
//! and the nodes along the leftmost and rightmost paths have an open fence: their skip is
//! at most the prefix every key in the index has (the first key's first
//! [`MAX_COMMON_PREFIX`] bytes, cut to what later keys share; a key that cuts it sorts
//! before or after every other, so only those nodes see it, and their skips drop with
//! it). A probe without that prefix sorts before or after every key, decided without the
//! tree.
//! So keys that share long prefixes (`k\0counter:000000123456` beside
//! `k\0key:000000654321`, as `shale serve` writes) are told apart by their windows in
//! every node below the first levels, whatever mix of kinds the memtable holds. Until the
//! eighth session of issue 15 one common prefix, sampled from the first 64 keys, served
//! the whole memtable, and a second kind of key compared in the arena at every level
//! (`OrderedArena::insert` took 21 % of `shale serve`'s time under `redis-benchmark -t
//! incr -P 16` after a SET load).
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

/// Bytes by which a split must be able to raise a node's skip before it rewrites the
/// node's windows (a rewrite reads every slot's key from the arena). Random keys, whose
/// first bytes already differ, never pay it; keys with long shared prefixes pay it about
/// once per leaf.
pub const SKIP_GAIN: usize = 4;

/// Longest prefix of all keys tracked for the nodes with an open fence.
pub const MAX_COMMON_PREFIX: usize = 64;

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
    /// Leading user-key bytes every key in the leaf's fences shares (module docs).
    skip: u32,
    prev: u32,
    next: u32,
    window: Keys,
    addr: [u64; CAP],
}

#[derive(Debug, Clone)]
struct Inner {
    /// Separators in use; children in use are one more.
    len: u32,
    /// Leading user-key bytes every key in the node's fences shares (module docs).
    skip: u32,
    window: Keys,
    child: [u32; CAP + 1],
    addr: [u64; CAP],
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

/// A separator on its way into a parent: its address, and its window after the skip of
/// the node it comes from (the third field).
type Sep = (u64, u64, u32);

/// A search target.
struct Probe<'a> {
    user_key: &'a [u8],
    trailer: u64,
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
    /// A prefix every key in the index has: the first key's first [`MAX_COMMON_PREFIX`]
    /// bytes, cut to what later keys share. It bounds the skips of nodes with an open
    /// fence (the root and the leftmost and rightmost paths).
    common: Option<Vec<u8>>,
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

    /// The order of slot `j` (of a node's `addr` and `keys`) against `p`, whose window
    /// at the node's skip is `pw`.
    #[inline]
    fn cmp_at(&self, addr: &[u64; CAP], keys: &Keys, j: usize, pw: u64, p: &Probe<'_>) -> Ordering {
        // Invariant: the slot's key and the probe both lie within the node's fences, so
        // they share the node's first `skip` bytes and the windows (the bytes after them)
        // decide when they differ; equal complete windows mean equal user keys.
        let w = keys.win[j];
        if w != pw {
            return w.cmp(&pw);
        }
        if complete(w) {
            return p.trailer.cmp(&self.trailer_at(addr[j]));
        }
        let (k, t) = self.key_at(addr[j]);
        cmp_keys(k, t, p.user_key, p.trailer)
    }

    /// The window of the key at `addr` after `skip` bytes.
    fn window_at(&self, addr: u64, skip: u32) -> u64 {
        window_of(self.key_at(addr).0, skip as usize)
    }

    /// The window after `skip` bytes of separator `sep`, whose window after `sep.2` bytes
    /// is `sep.1`: reused when the skips agree (no read of the arena).
    fn sep_window(&self, sep: Sep, skip: u32) -> u64 {
        if sep.2 == skip {
            sep.1
        } else {
            self.window_at(sep.0, skip)
        }
    }

    /// The bytes every key between two fences shares at the front: what the fences' user
    /// keys share, or where one is open, the prefix all keys have.
    fn fence_lcp(&self, lo: Option<u64>, hi: Option<u64>) -> u32 {
        let (Some(lo), Some(hi)) = (lo, hi) else { return self.common.as_ref().map_or(0, |c| c.len() as u32) };
        let (a, b) = (self.key_at(lo).0, self.key_at(hi).0);
        a.iter().zip(b).take_while(|(x, y)| x == y).count() as u32
    }

    /// The skip one half of a split node (reached by `path`, with skip `skip`, split at
    /// separator `sep`) should take for its narrower fences: (the node's lower fence,
    /// `sep`) for the left half, (`sep`, its upper fence) for the right. Their common
    /// prefix when it is [`SKIP_GAIN`] bytes longer and the node's keys are too long for
    /// windows at `skip` to hold their rest (judged by the separator's key; shorter keys
    /// have complete windows that already tell every two apart). `None`: keep `skip`, and
    /// no key was read from the arena.
    fn sharper_skip(&self, skip: u32, sep: Sep, path: &[(u32, usize)], left_half: bool) -> Option<u32> {
        // Invariant: `sep.1` is the separator's window at `skip`.
        debug_assert_eq!(sep.2, skip);
        if complete(sep.1) {
            return None; // the key ends within the window: its rest fits
        }
        let sep = sep.0;
        let (lo, hi) = self.fences_below(path);
        let lcp = if left_half { self.fence_lcp(lo, Some(sep)) } else { self.fence_lcp(Some(sep), hi) };
        (lcp as usize >= skip as usize + SKIP_GAIN).then_some(lcp)
    }

    /// The fences of the node reached by `path` (inner nodes and child indexes from the
    /// root): the nearest separators left and right of the path, `None` where it runs
    /// along the tree's edge.
    fn fences_below(&self, path: &[(u32, usize)]) -> (Option<u64>, Option<u64>) {
        let (mut lo, mut hi) = (None, None);
        for &(node, i) in path.iter().rev() {
            let n = &self.inners[node as usize];
            if lo.is_none() && i > 0 {
                lo = Some(n.addr[i - 1]);
            }
            if hi.is_none() && i < n.len as usize {
                hi = Some(n.addr[i]);
            }
            if lo.is_some() && hi.is_some() {
                break;
            }
        }
        (lo, hi)
    }

    /// Keeps the prefix all keys have true for a new key: cuts it to what the key shares
    /// and lowers the skips of the nodes with an open fence to match. A key without the
    /// prefix sorts before or after every key in the index, so only those nodes (the
    /// leftmost and rightmost paths) can receive it; every other node's fences still
    /// bound what reaches it.
    fn note_common_prefix(&mut self, user_key: &[u8]) {
        let Some(c) = &mut self.common else {
            self.common = Some(user_key[..user_key.len().min(MAX_COMMON_PREFIX)].to_vec());
            return;
        };
        if user_key.starts_with(c) {
            return;
        }
        let n = c.iter().zip(user_key).take_while(|(x, y)| x == y).count();
        c.truncate(n);
        let n = n as u32;
        for rightmost in [false, true] {
            let mut node = self.root;
            for _ in 0..self.height.saturating_sub(1) {
                let inner = &self.inners[node as usize];
                let next = inner.child[if rightmost { inner.len as usize } else { 0 }];
                if inner.skip > n {
                    self.rewindow_inner(node, n);
                }
                node = next;
            }
            if self.height > 0 {
                let l = &self.leaves[node as usize];
                if l.skip > n {
                    self.rewindow_leaf(node, n, 0..l.len as usize);
                }
            }
        }
    }

    /// Sets leaf `leaf`'s skip to `skip` and rewrites its windows in `range` for it.
    fn rewindow_leaf(&mut self, leaf: u32, skip: u32, range: std::ops::Range<usize>) {
        let l = &self.leaves[leaf as usize];
        let mut win = l.window.win;
        for j in range {
            win[j] = self.window_at(l.addr[j], skip);
        }
        let l = &mut self.leaves[leaf as usize];
        l.window.win = win;
        l.skip = skip;
    }

    /// Sets inner node `inner`'s skip to `skip` and rewrites all its windows for it.
    fn rewindow_inner(&mut self, inner: u32, skip: u32) {
        let n = &self.inners[inner as usize];
        let mut win = n.window.win;
        let len = n.len as usize;
        for (w, &a) in win[..len].iter_mut().zip(&n.addr[..len]) {
            *w = self.window_at(a, skip);
        }
        let n = &mut self.inners[inner as usize];
        n.window.win = win;
        n.skip = skip;
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

    /// Inserts an entry. **Requires:** no entry with the same user key and trailer
    /// (sequence numbers are unique); key and value under 4 GiB each.
    pub fn insert(&mut self, user_key: &[u8], trailer: u64, value: &[u8]) {
        self.note_common_prefix(user_key);
        let addr = self.append_entry(user_key, trailer, value);
        let p = Probe { user_key, trailer };
        self.len += 1;
        if self.height == 0 {
            self.leaves.push(Leaf { len: 0, skip: 0, prev: NONE, next: NONE, addr: [0; CAP], window: Keys::EMPTY });
            self.root = 0;
            self.height = 1;
            self.last_leaf = 0;
        }
        // Descend, remembering the path of (inner node, child index); a node's fences are
        // read from it only when a split or a move needs them (`fences_below`), so the
        // descent reads no separator addresses. An entry after the last one (an ascending
        // load) takes the rightmost path with one comparison, as RocksDB's skiplist reuses
        // its last insert's splice.
        let mut path = [(0u32, 0usize); 16];
        let mut node = self.root;
        let last = &self.leaves[self.last_leaf as usize];
        let append = last.len > 0
            && self.cmp_at(&last.addr, &last.window, last.len as usize - 1, window_of(user_key, last.skip as usize), &p)
                == Ordering::Less;
        for step in path.iter_mut().take(self.height - 1) {
            let n = &self.inners[node as usize];
            let len = n.len as usize;
            let i = if append {
                len
            } else {
                let pw = window_of(user_key, n.skip as usize);
                partition(len, |j| self.cmp_at(&n.addr, &n.window, j, pw, &p) != Ordering::Greater)
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
            let pw = window_of(user_key, leaf.skip as usize);
            partition(leaf.len as usize, |j| self.cmp_at(&leaf.addr, &leaf.window, j, pw, &p) == Ordering::Less)
        };
        let path = &path[..self.height - 1];
        if let Some((&parent, above)) = path.split_last() {
            if self.shift_to_sibling(parent, above, node, pos, addr, user_key) {
                return;
            }
        }
        let Some((mut sep, mut right)) = self.leaf_insert(node, path, pos, addr, user_key) else {
            return;
        };
        // Carry the split up the path.
        for level in (0..path.len()).rev() {
            let (inner, i) = path[level];
            match self.inner_insert(inner, &path[..level], i, sep, right) {
                None => return,
                Some((s, r)) => (sep, right) = (s, r),
            }
        }
        // The root split: a new root above it, with open fences.
        let skip = self.fence_lcp(None, None);
        let mut root = Inner { len: 1, skip, addr: [0; CAP], window: Keys::EMPTY, child: [NONE; CAP + 1] };
        root.addr[0] = sep.0;
        root.window.set(0, self.sep_window(sep, skip));
        root.child[0] = self.root;
        root.child[1] = right;
        self.inners.push(root);
        self.root = (self.inners.len() - 1) as u32;
        self.height += 1;
    }

    /// Inserts the slot of `user_key` at `addr` into a leaf, reached by `path`, at `pos`;
    /// on a split, returns the new right leaf's first slot (the separator) and the right
    /// leaf.
    fn leaf_insert(
        &mut self,
        leaf: u32,
        path: &[(u32, usize)],
        pos: usize,
        addr: u64,
        user_key: &[u8],
    ) -> Option<(Sep, u32)> {
        let right = self.leaves.len() as u32;
        let l = &mut self.leaves[leaf as usize];
        let len = l.len as usize;
        let skip = l.skip;
        let window = window_of(user_key, skip as usize);
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
        // Both halves keep the skip: their fences only narrow.
        let mid = if pos == CAP && l.next == NONE { CAP } else { CAP / 2 };
        let mut r = Leaf { len: 0, skip, prev: leaf, next: l.next, addr: [0; CAP], window: Keys::EMPTY };
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
        self.slot_insert(target, at, addr, window);
        let r = &self.leaves[right as usize];
        let sep = (r.addr[0], r.window.get(0), skip);
        // The halves' fences are now (lo, sep) and (sep, hi): sharpen where it gains.
        for (half, left_half) in [(leaf, true), (right, false)] {
            if let Some(lcp) = self.sharper_skip(skip, sep, path, left_half) {
                self.rewindow_leaf(half, lcp, 0..self.leaves[half as usize].len as usize);
            }
        }
        Some((sep, right))
    }

    /// Makes room in full leaf `leaf` (child `i` of inner node `parent`, which `above`
    /// reaches) by moving slots into a sibling under the same parent that has room,
    /// and inserts the slot of `user_key` at `addr` there or in `leaf` (B*-tree style
    /// redistribution, Knuth vol. 3 §6.2.4). True if it did; false leaves the leaf to
    /// [`OrderedArena::leaf_insert`] (not full, an append at the right edge, or no sibling
    /// with room). Random inserts then fill leaves to about 80% instead of 70% (a split's
    /// two halves). The sibling's fences widen toward `leaf`, so its skip drops to what
    /// its new fences share if that is less. Iterators hold no positions across calls
    /// (they re-seek by key), so moving slots between leaves is safe.
    #[inline(never)]
    fn shift_to_sibling(
        &mut self,
        (parent, i): (u32, usize),
        above: &[(u32, usize)],
        leaf: u32,
        pos: usize,
        addr: u64,
        user_key: &[u8],
    ) -> bool {
        let l = &self.leaves[leaf as usize];
        if (l.len as usize) < CAP || (pos == CAP && l.next == NONE) {
            return false;
        }
        let leaf_skip = l.skip;
        let n = &self.inners[parent as usize];
        let nlen = n.len as usize;
        // Every key in the parent's fences shares the parent's skip, so a sibling whose
        // skip is no more keeps it whatever its new fences.
        let parent_skip = n.skip;
        // Child `i + 1` exists when separator `i` does.
        let (left, right) = (i.checked_sub(1).map(|j| n.child[j]), (i < nlen).then(|| n.child[i + 1]));
        let room = |t: &Self, c: u32| CAP - t.leaves[c as usize].len as usize;
        if let Some(right) = right.filter(|&c| room(self, c) >= 2) {
            // Move the last k slots to the front of the right sibling, whose fences become
            // (the first moved slot, its upper fence).
            let k = room(self, right) / 2;
            let keep = CAP - k;
            let (moved_addr, moved_win) = {
                let l = &self.leaves[leaf as usize];
                (l.addr, l.window.win)
            };
            let old_skip = self.leaves[right as usize].skip;
            let skip = if old_skip <= parent_skip {
                old_skip
            } else {
                let r_hi =
                    if i + 1 < nlen { Some(self.inners[parent as usize].addr[i + 1]) } else { self.fences_below(above).1 };
                old_skip.min(self.fence_lcp(Some(moved_addr[keep]), r_hi))
            };
            let r = &mut self.leaves[right as usize];
            let rl = r.len as usize;
            r.addr.copy_within(0..rl, k);
            r.window.copy_within(0..rl, k);
            r.addr[..k].copy_from_slice(&moved_addr[keep..]);
            r.window.win[..k].copy_from_slice(&moved_win[keep..]);
            r.len += k as u32;
            if skip != old_skip {
                self.rewindow_leaf(right, skip, 0..rl + k);
            } else if leaf_skip != skip {
                self.rewindow_leaf(right, skip, 0..k);
            }
            self.leaves[leaf as usize].len = keep as u32;
            let target = if pos <= keep { leaf } else { right };
            let at = if pos <= keep { pos } else { pos - keep };
            let w = window_of(user_key, self.leaves[target as usize].skip as usize);
            self.slot_insert(target, at, addr, w);
            let r = &self.leaves[right as usize];
            let sep = (r.addr[0], r.window.get(0), r.skip);
            let sw = self.sep_window(sep, self.inners[parent as usize].skip);
            let n = &mut self.inners[parent as usize];
            n.addr[i] = sep.0;
            n.window.set(i, sw);
            return true;
        }
        if let Some(left) = left.filter(|&c| room(self, c) >= 2) {
            // Move the first k slots to the end of the left sibling, whose fences become
            // (its lower fence, the leaf's new first slot).
            let k = room(self, left) / 2;
            let (moved_addr, moved_win) = {
                let l = &self.leaves[leaf as usize];
                (l.addr, l.window.win)
            };
            let new_first = if pos == k { addr } else { moved_addr[k] };
            let old_skip = self.leaves[left as usize].skip;
            let skip = if old_skip <= parent_skip {
                old_skip
            } else {
                let l_lo = if i >= 2 { Some(self.inners[parent as usize].addr[i - 2]) } else { self.fences_below(above).0 };
                old_skip.min(self.fence_lcp(l_lo, Some(new_first)))
            };
            let lf = &mut self.leaves[left as usize];
            let ll = lf.len as usize;
            lf.addr[ll..ll + k].copy_from_slice(&moved_addr[..k]);
            lf.window.win[ll..ll + k].copy_from_slice(&moved_win[..k]);
            lf.len += k as u32;
            if skip != old_skip {
                self.rewindow_leaf(left, skip, 0..ll + k);
            } else if leaf_skip != skip {
                self.rewindow_leaf(left, skip, ll..ll + k);
            }
            let t = &mut self.leaves[leaf as usize];
            t.addr.copy_within(k..CAP, 0);
            t.window.copy_within(k..CAP, 0);
            t.len = (CAP - k) as u32;
            if pos < k {
                let w = window_of(user_key, skip as usize);
                self.slot_insert(left, ll + pos, addr, w);
            } else {
                let w = window_of(user_key, leaf_skip as usize);
                self.slot_insert(leaf, pos - k, addr, w);
            }
            let t = &self.leaves[leaf as usize];
            let sep = (t.addr[0], t.window.get(0), t.skip);
            // Invariant: the separator is the slot the sibling's skip was checked against.
            debug_assert_eq!(sep.0, new_first);
            let sw = self.sep_window(sep, self.inners[parent as usize].skip);
            let n = &mut self.inners[parent as usize];
            n.addr[i - 1] = sep.0;
            n.window.set(i - 1, sw);
            return true;
        }
        false
    }

    /// Inserts a slot at `at` of a leaf that has room; `window` is at the leaf's skip.
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

    /// Inserts separator `sep` and its right child after child `i` of `inner`, reached by
    /// `path`; on a split, returns the separator that moves up and the new right node.
    fn inner_insert(
        &mut self,
        inner: u32,
        path: &[(u32, usize)],
        i: usize,
        sep: Sep,
        right: u32,
    ) -> Option<(Sep, u32)> {
        let skip = self.inners[inner as usize].skip;
        let sep_window = self.sep_window(sep, skip);
        let sep = sep.0;
        let n = &mut self.inners[inner as usize];
        let len = n.len as usize;
        if len < CAP {
            n.addr.copy_within(i..len, i + 1);
            n.window.copy_within(i..len, i + 1);
            n.child.copy_within(i + 1..len + 1, i + 2);
            n.addr[i] = sep;
            n.window.set(i, sep_window);
            n.child[i + 1] = right;
            n.len += 1;
            return None;
        }
        // Full: lay out the CAP + 1 separators and CAP + 2 children, keep the lower half,
        // move the upper half to a new node and the middle separator up. Both halves keep
        // the skip (their fences only narrow), then sharpen where it gains.
        let mut keys: Vec<(u64, u64)> = (0..len).map(|j| (n.addr[j], n.window.get(j))).collect();
        let mut children: Vec<u32> = n.child[..=len].to_vec();
        keys.insert(i, (sep, sep_window));
        children.insert(i + 1, right);
        let m = keys.len() / 2;
        let mut r = Inner { len: 0, skip, addr: [0; CAP], window: Keys::EMPTY, child: [NONE; CAP + 1] };
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
        let right = (self.inners.len() - 1) as u32;
        let up = (keys[m].0, keys[m].1, skip);
        for (half, left_half) in [(inner, true), (right, false)] {
            if let Some(lcp) = self.sharper_skip(skip, up, path, left_half) {
                self.rewindow_inner(half, lcp);
            }
        }
        Some((up, right))
    }

    /// The first entry at or after `(user_key, trailer)` in index order.
    pub fn seek(&self, user_key: &[u8], trailer: u64) -> Option<Pos> {
        if self.height == 0 {
            return None;
        }
        // A probe without the prefix every key has sorts before or after all of them (and
        // would mislead the windows of nodes that skip part of that prefix).
        if let Some(c) = self.common.as_ref().filter(|c| !user_key.starts_with(c)) {
            let j = c.iter().zip(user_key).take_while(|(x, y)| x == y).count();
            return match user_key.get(j) {
                Some(b) if *b > c[j] => None,
                _ => self.first(),
            };
        }
        let p = Probe { user_key, trailer };
        let mut node = self.root;
        // The probe's window at the last skip seen (nodes on a path mostly share skips).
        let (mut skip, mut pw) = (u32::MAX, 0);
        for _ in 0..self.height - 1 {
            let n = &self.inners[node as usize];
            if n.skip != skip {
                (skip, pw) = (n.skip, window_of(user_key, n.skip as usize));
            }
            let i = partition(n.len as usize, |j| self.cmp_at(&n.addr, &n.window, j, pw, &p) != Ordering::Greater);
            node = n.child[i];
        }
        let leaf = &self.leaves[node as usize];
        if leaf.skip != skip {
            pw = window_of(user_key, leaf.skip as usize);
        }
        let slot = partition(leaf.len as usize, |j| self.cmp_at(&leaf.addr, &leaf.window, j, pw, &p) == Ordering::Less);
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
        // Keys that are not in the index (halves of keys, keys one byte longer or with a
        // last byte one off, keys outside every shared prefix) land where the model says.
        let mut probes: Vec<Vec<u8>> = vec![vec![], vec![0], vec![0xff; 3], b"zzz".to_vec(), b"0".to_vec()];
        for (k, _) in want.iter().step_by(want.len() / 500 + 1) {
            probes.push(k[..k.len() / 2].to_vec());
            probes.push([k.as_slice(), &[0]].concat());
            if let Some((&last, head)) = k.split_last() {
                probes.push([head, &[last.wrapping_add(1)]].concat());
                probes.push([head, &[last.wrapping_sub(1)]].concat());
            }
        }
        for probe in probes {
            let from = (probe.clone(), std::cmp::Reverse(u64::MAX));
            let expect = model.range(from..).next().map(|(k, r)| (k.clone(), r.0));
            let got = t.seek(&probe, u64::MAX).map(|p| (t.entry(p).user_key.to_vec(), t.entry(p).trailer));
            assert_eq!(got, expect, "seek to absent key {probe:?}");
        }
        check_skips(&t);
    }

    /// The skip invariant (module docs), node by node: every key a node holds lies within
    /// its fences, the fences share at least its skip, and every window is its key's
    /// window at the node's skip.
    fn check_skips(t: &OrderedArena) {
        fn walk(t: &OrderedArena, node: u32, depth: usize, lo: Option<u64>, hi: Option<u64>) {
            let in_fences = |a: u64| {
                let (k, tr) = t.key_at(a);
                let above = lo.is_none_or(|l| {
                    let (lk, lt) = t.key_at(l);
                    cmp_keys(k, tr, lk, lt) != Ordering::Less
                });
                let below = hi.is_none_or(|h| {
                    let (hk, ht) = t.key_at(h);
                    cmp_keys(k, tr, hk, ht) == Ordering::Less
                });
                above && below
            };
            let lcp = t.fence_lcp(lo, hi);
            let common = t.common.as_deref().unwrap_or_default();
            let has_common = |a: u64| t.key_at(a).0.starts_with(common);
            if depth + 1 == t.height {
                let l = &t.leaves[node as usize];
                assert!(l.skip <= lcp, "leaf {node}: skip {} over its fences' {lcp}", l.skip);
                for j in 0..l.len as usize {
                    assert!(in_fences(l.addr[j]), "leaf {node} slot {j} outside its fences");
                    assert!(has_common(l.addr[j]), "leaf {node} slot {j} without the common prefix");
                    assert_eq!(l.window.get(j), t.window_at(l.addr[j], l.skip), "leaf {node} slot {j}");
                }
                return;
            }
            let n = &t.inners[node as usize];
            assert!(n.skip <= lcp, "inner {node}: skip {} over its fences' {lcp}", n.skip);
            for j in 0..n.len as usize {
                assert!(in_fences(n.addr[j]), "inner {node} separator {j} outside its fences");
                assert_eq!(n.window.get(j), t.window_at(n.addr[j], n.skip), "inner {node} separator {j}");
            }
            for c in 0..=n.len as usize {
                let clo = if c > 0 { Some(n.addr[c - 1]) } else { lo };
                let chi = if c < n.len as usize { Some(n.addr[c]) } else { hi };
                walk(t, n.child[c], depth + 1, clo, chi);
            }
        }
        if t.height > 0 {
            walk(t, t.root, 0, None, None);
        }
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

        /// Many keys over a two-letter alphabet, long enough to share long prefixes: deep
        /// trees whose nodes raise and lower their skips.
        #[test]
        fn keys_with_long_shared_prefixes_order_as_internal_keys(keys in proptest::collection::vec(
            proptest::collection::vec(proptest::sample::select(vec![0u8, b'a']), 8..24), 500..3000)) {
            check(keys.into_iter());
        }
    }

    #[test]
    fn windows_tell_apart_keys_of_two_kinds_with_long_prefixes() {
        // As `shale serve` writes after a SET load, an INCR load: two kinds of data key
        // with 12 bytes in common within each kind, each new key with its count record.
        let mut t = OrderedArena::new();
        for (i, r) in lcg(4).take(40_000).enumerate() {
            let tr = ((i as u64) << 8) | 1;
            let kind = if i < 20_000 { "key" } else { "counter" };
            t.insert(format!("k\0{kind}:{:012}", r % 1_000_000).as_bytes(), tr, b"v");
            t.insert(&[b'm', 0, 0, 0], tr + 128, b"counts");
        }
        check_skips(&t);
        // Neighbouring slots of a leaf whose windows differ (so a search between them
        // reads no key from the arena): nearly all, where one prefix for the whole
        // memtable left one kind's windows all equal.
        let (mut pairs, mut told) = (0, 0);
        for l in 0..t.leaves.len() {
            let leaf = &t.leaves[l];
            for j in 1..leaf.len as usize {
                pairs += 1;
                told += usize::from(leaf.window.get(j) != leaf.window.get(j - 1));
            }
        }
        // The count records are one user key: their slots tie by design.
        let distinct_pairs = pairs - 40_000;
        assert!(told * 100 >= distinct_pairs * 95, "{told} of {distinct_pairs} neighbouring distinct keys told apart");
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
