//! [`Table`]: an open, immutable table. It keeps its index block, bloom filter and
//! properties in memory (pinned for the table's life, copied out of the file so they pin
//! no file handle or mapping) and reads data blocks through the shared block cache and
//! file cache, by memory mapping or positional reads, checking each block's CRC unless the
//! read asked otherwise. Shared by every `Version` that lists it; all methods take `&self`.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::block::{Block, BlockIter};
use super::builder::{BLOCKED_FILTER_BLOCK_NAME, FILTER_BLOCK_NAME, PROPERTIES_BLOCK_NAME};
use super::range_del_block::RANGE_DEL_BLOCK_NAME;
use crate::range_del::FragmentedRangeTombstones;
use super::cache::{BlockCache, FileCache};
use super::filter::{BloomFilter, FilterKind};
use super::format::{block_len, decode_block, read_block, BlockHandle, Footer, FOOTER_LEN};
use super::readahead::Readahead;
use crate::coding::get_varint;
use crate::error::{CorruptionKind, Error, Result};
use crate::fs::{FileSystem, RandomAccessFile};
use crate::iterator::InternalIterator;
use crate::key::{compare_internal_keys, seek_key, ParsedInternalKey, SequenceNumber};
use crate::key::LookupResult;

/// How a read uses the block cache and checksums (from `ReadOptions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockReadOptions {
    /// Add blocks read from disk to the block cache.
    pub fill_cache: bool,
    /// Check each block's CRC when it is read from disk. Only checked blocks are added to
    /// the block cache, so a cached block was always checked.
    pub verify_checksums: bool,
}

impl Default for BlockReadOptions {
    fn default() -> Self {
        BlockReadOptions { fill_cache: true, verify_checksums: true }
    }
}

/// Counters from a table's properties block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableProperties {
    /// Bytes of data blocks (stored size, trailers included).
    pub data_size: u64,
    /// Bytes of the index block, uncompressed.
    pub index_size: u64,
    /// Number of data blocks.
    pub num_data_blocks: u64,
    /// Number of entries.
    pub num_entries: u64,
    /// Number of tombstones.
    pub num_deletions: u64,
    /// Sum of internal key lengths.
    pub raw_key_size: u64,
    /// Sum of value lengths.
    pub raw_value_size: u64,
    /// Smallest sequence number.
    pub smallest_seqno: u64,
    /// Largest sequence number.
    pub largest_seqno: u64,
    /// The id of the database that wrote it (0 for tables written before table ids).
    pub db_id: u64,
    /// The id of the session that wrote it (0 if none).
    pub session_id: u64,
    /// The file number it was written as (0 if none).
    pub file_number: u64,
    /// The earliest expiry (Unix milliseconds) among its expiring puts; 0 if it has none.
    pub earliest_expiry: u64,
    /// Number of range tombstone entries (fragment, sequence number) in its
    /// range-deletion block; 0 if it has none.
    pub num_range_deletions: u64,
}

impl TableProperties {
    /// The table's identity, if it was written with one.
    pub fn table_id(&self) -> Option<super::TableId> {
        (self.db_id != 0).then_some(super::TableId { db_id: self.db_id, session_id: self.session_id })
    }
}

/// An open table; see the module docs.
pub struct Table {
    path: PathBuf,
    /// The file number: the block cache key's first half.
    number: u64,
    cache: Option<Arc<BlockCache>>,
    file: FileSource,
    /// Offset of the footer: no block may reach past it.
    data_end: u64,
    index: Block,
    filter: Option<super::filter::BloomFilter>,
    properties: TableProperties,
    range_dels: Option<Arc<FragmentedRangeTombstones>>,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table").field("path", &self.path).finish_non_exhaustive()
    }
}

/// Where a table's data blocks are read from.
enum FileSource {
    /// A handle held for the table's life.
    Pinned(Arc<dyn RandomAccessFile>),
    /// A handle from the shared, bounded file cache.
    Cached(Arc<FileCache>),
}

/// The shared resources a table opened by the engine uses.
#[derive(Clone, Default)]
pub struct TableContext {
    /// The block cache, if any.
    pub block_cache: Option<Arc<BlockCache>>,
    /// The file handle cache, if any (otherwise each table keeps its file open).
    pub file_cache: Option<Arc<FileCache>>,
}

fn bytewise(a: &[u8], b: &[u8]) -> Ordering {
    a.cmp(b)
}

impl Table {
    /// Opens the table at `path`, reading and checking its footer, index and properties.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read; [`Error::Corruption`] naming the file for a
    /// short file, bad footer or damaged block; [`Error::UnsupportedFormatVersion`].
    pub fn open(fs: &dyn FileSystem, path: &Path) -> Result<Table> {
        let file = fs.open(path)?;
        Self::open_file(path, 0, file, &TableContext::default())
    }

    /// Opens the table at `path` as table `number`, using the shared caches of `ctx`.
    ///
    /// # Errors
    /// As [`Table::open`].
    pub fn open_in(ctx: &TableContext, fs: &dyn FileSystem, path: &Path, number: u64) -> Result<Table> {
        let file = match &ctx.file_cache {
            Some(fc) => fc.open_uncached(path)?,
            None => fs.open(path)?,
        };
        Self::open_file(path, number, file, ctx)
    }

    /// Opens table `number` at `path` from an already open `file` (a read-only database
    /// pins its files this way), using the block cache of `ctx`.
    ///
    /// # Errors
    /// As [`Table::open`].
    pub fn open_with_file(ctx: &TableContext, path: &Path, number: u64, file: Arc<dyn RandomAccessFile>) -> Result<Table> {
        Self::open_file(path, number, file, ctx)
    }

    fn open_file(
        path: &Path,
        number: u64,
        file: Arc<dyn RandomAccessFile>,
        ctx: &TableContext,
    ) -> Result<Table> {
        let size = file.size();
        let corrupt = |offset, kind| Error::corruption(path, offset, kind);
        let footer_off =
            size.checked_sub(FOOTER_LEN as u64).ok_or_else(|| corrupt(0, CorruptionKind::BadLength))?;
        let mut fbuf = [0u8; FOOTER_LEN];
        file.read_exact_at(&mut fbuf, footer_off)?;
        let footer = Footer::decode(&fbuf, path, footer_off)?;
        let load = |h: BlockHandle| -> Result<Block> {
            // A copy: a slice of a mapping would keep the mapping alive for the table's life.
            let data = Bytes::copy_from_slice(&read_block(file.as_ref(), path, h, footer_off, true)?);
            Block::new(data).map_err(|w| corrupt(h.offset, CorruptionKind::Malformed(w)))
        };
        let index = load(footer.index)?;
        let meta = load(footer.metaindex)?;
        // The handle of the meta block named `name`, if the metaindex lists it.
        let meta_handle = |name: &[u8], bad_handle: &'static str| -> Result<Option<BlockHandle>> {
            let mut mi = meta.iter(bytewise);
            mi.seek(name).map_err(|w| corrupt(footer.metaindex.offset, CorruptionKind::Malformed(w)))?;
            if !(mi.valid() && mi.key() == name) {
                return Ok(None);
            }
            BlockHandle::decode(mi.value_slice())
                .map(Some)
                .ok_or_else(|| corrupt(footer.metaindex.offset, CorruptionKind::Malformed(bad_handle)))
        };
        // A meta block's checked contents, copied out of the file.
        let raw = |h: BlockHandle| -> Result<Bytes> {
            Ok(Bytes::copy_from_slice(&read_block(file.as_ref(), path, h, footer_off, true)?))
        };
        // A blocked filter if the table has one, else a standard one (docs/format.md §3.5).
        let mut filter = None;
        for (name, kind) in [(BLOCKED_FILTER_BLOCK_NAME, FilterKind::Blocked), (FILTER_BLOCK_NAME, FilterKind::Standard)] {
            if let Some(h) = meta_handle(name, "bad filter handle")? {
                let f = BloomFilter::decode(raw(h)?, kind)
                    .ok_or_else(|| corrupt(h.offset, CorruptionKind::Malformed("bad filter block")))?;
                filter = Some(f);
                break;
            }
        }
        let mut properties = TableProperties::default();
        if let Some(h) = meta_handle(PROPERTIES_BLOCK_NAME, "bad properties handle")? {
            let props = load(h)?;
            let mut it = props.iter(bytewise);
            let bad = |w| corrupt(h.offset, CorruptionKind::Malformed(w));
            it.seek_to_first().map_err(bad)?;
            while it.valid() {
                let v = get_varint(it.value_slice()).map(|(v, _)| v).ok_or_else(|| bad("bad property"))?;
                let slot = match it.key() {
                    b"shaledb.data.size" => &mut properties.data_size,
                    b"shaledb.index.size" => &mut properties.index_size,
                    b"shaledb.num.data.blocks" => &mut properties.num_data_blocks,
                    b"shaledb.num.entries" => &mut properties.num_entries,
                    b"shaledb.num.deletions" => &mut properties.num_deletions,
                    b"shaledb.raw.key.size" => &mut properties.raw_key_size,
                    b"shaledb.raw.value.size" => &mut properties.raw_value_size,
                    b"shaledb.smallest.seqno" => &mut properties.smallest_seqno,
                    b"shaledb.largest.seqno" => &mut properties.largest_seqno,
                    b"shaledb.db.id" => &mut properties.db_id,
                    b"shaledb.session.id" => &mut properties.session_id,
                    b"shaledb.file.number" => &mut properties.file_number,
                    b"shaledb.earliest.expiry" => &mut properties.earliest_expiry,
                    b"shaledb.num.range.deletions" => &mut properties.num_range_deletions,
                    _ => {
                        it.next().map_err(bad)?;
                        continue;
                    }
                };
                *slot = v;
                it.next().map_err(bad)?;
            }
        }
        let mut range_dels = None;
        if let Some(h) = meta_handle(RANGE_DEL_BLOCK_NAME, "bad range-deletion handle")? {
            let frags = super::range_del_block::decode(raw(h)?)
                .map_err(|w| corrupt(h.offset, CorruptionKind::Malformed(w)))?;
            if !frags.is_empty() {
                range_dels = Some(Arc::new(frags));
            }
        }
        let file = match &ctx.file_cache {
            Some(fc) => {
                fc.insert(number, file);
                FileSource::Cached(Arc::clone(fc))
            }
            None => FileSource::Pinned(file),
        };
        Ok(Table {
            path: path.to_path_buf(),
            number,
            cache: ctx.block_cache.clone(),
            file,
            data_end: footer_off,
            index,
            filter,
            properties,
            range_dels,
        })
    }

    /// The table's range tombstones, fragmented (pinned in memory for the table's life);
    /// `None` if it has none.
    pub fn range_tombstones(&self) -> Option<&Arc<FragmentedRangeTombstones>> {
        self.range_dels.as_ref()
    }

    /// The table's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Drops this table's data blocks from the block cache and its handle from the file
    /// cache. Called when the table file is deleted, so neither cache keeps a deleted
    /// file's descriptor, mapping or blocks alive.
    pub fn evict_from_caches(&self) {
        if let Some(c) = &self.cache {
            let mut idx = self.index_iter();
            if idx.seek_to_first().is_ok() {
                while idx.valid() {
                    if let Some(h) = BlockHandle::decode(idx.value_slice()) {
                        c.remove(self.number, h.offset);
                    }
                    if idx.next().is_err() {
                        break;
                    }
                }
            }
        }
        if let FileSource::Cached(fc) = &self.file {
            fc.remove(self.number);
        }
    }

    /// The index block's entries: each data block's separator key and handle.
    ///
    /// # Errors
    /// [`Error::Corruption`] for a malformed index entry.
    pub fn index_entries(&self) -> Result<Vec<(Vec<u8>, BlockHandle)>> {
        let mut out = Vec::new();
        let mut idx = self.index_iter();
        idx.seek_to_first().map_err(|w| self.corrupt_block(self.data_end, w))?;
        while idx.valid() {
            out.push((idx.key().to_vec(), self.decode_handle(idx.value_slice())?));
            idx.next().map_err(|w| self.corrupt_block(self.data_end, w))?;
        }
        Ok(out)
    }

    /// The bloom filter, if the table has one.
    pub fn filter(&self) -> Option<&BloomFilter> {
        self.filter.as_ref()
    }

    /// The byte offset in the file of the data block that would hold `user_key` (the
    /// file's data end if every key is smaller), through the index block.
    ///
    /// # Errors
    /// [`Error::Corruption`] for a damaged index entry.
    pub fn approximate_offset_of(&self, user_key: &[u8]) -> Result<u64> {
        let target = seek_key(user_key, crate::key::MAX_SEQUENCE_NUMBER);
        let mut it = self.index_iter();
        it.seek(&target).map_err(|w| self.corrupt_block(self.data_end, w))?;
        if !it.valid() {
            return Ok(self.data_end);
        }
        Ok(self.decode_handle(it.value_slice())?.offset)
    }

    /// The table's properties.
    pub fn properties(&self) -> &TableProperties {
        &self.properties
    }

    /// Bytes this open table pins in memory for its life: the index block and the filter
    /// block (range tombstones not counted; data blocks go through the block cache).
    pub fn pinned_bytes(&self) -> usize {
        self.index.size() + self.filter.as_ref().map_or(0, |f| f.size_bytes())
    }

    fn corrupt_block(&self, offset: u64, what: &'static str) -> Error {
        Error::corruption(&self.path, offset, CorruptionKind::Malformed(what))
    }

    /// Reads and decodes the data block at `h`, through the block cache.
    ///
    /// # Errors
    /// [`Error::Corruption`] naming this file and the block offset; [`Error::Io`].
    pub fn read_data_block(&self, h: BlockHandle, ro: BlockReadOptions) -> Result<Block> {
        // A fresh read-ahead state never reads ahead on its first read.
        self.read_data_block_ahead(h, ro, &mut Readahead::default())
    }

    /// As [`Table::read_data_block`], reading through a scan's read-ahead (`ra`) on a
    /// cache miss.
    ///
    /// # Errors
    /// As [`Table::read_data_block`].
    pub fn read_data_block_ahead(&self, h: BlockHandle, ro: BlockReadOptions, ra: &mut Readahead) -> Result<Block> {
        if let Some(b) = self.cache.as_ref().and_then(|c| c.get(self.number, h.offset)) {
            return Ok(b);
        }
        let file = match &self.file {
            FileSource::Pinned(f) => Arc::clone(f),
            FileSource::Cached(fc) => fc.get(self.number, &self.path)?,
        };
        let len = block_len(&self.path, h, self.data_end)?;
        let (raw, shared) = ra.read(file.as_ref(), h.offset, len, self.data_end)?;
        let mut data = decode_block(raw, &self.path, h, ro.verify_checksums)?;
        if shared && data.len() + super::format::BLOCK_TRAILER_LEN == len {
            // An uncompressed block is a slice of the read-ahead buffer: copy it, so the
            // block (and the cache) does not pin the whole buffer.
            data = Bytes::copy_from_slice(&data);
        }
        let block = Block::new(data).map_err(|w| self.corrupt_block(h.offset, w))?;
        if ro.fill_cache && ro.verify_checksums {
            if let Some(c) = &self.cache {
                c.insert(self.number, h.offset, block.clone());
            }
        }
        Ok(block)
    }

    fn index_iter(&self) -> BlockIter {
        self.index.iter(compare_internal_keys)
    }

    fn decode_handle(&self, v: &[u8]) -> Result<BlockHandle> {
        BlockHandle::decode(v).ok_or_else(|| {
            Error::corruption(&self.path, self.data_end, CorruptionKind::Malformed("bad index entry"))
        })
    }

    /// The newest version of `user_key` with a sequence number `<= seqno` in this table, and
    /// its sequence number.
    /// `hash` is `filter::key_hash(user_key)`; the bloom filter is consulted first.
    ///
    /// # Errors
    /// [`Error::Corruption`] naming this file if a block on the path is damaged.
    pub fn get(
        &self,
        user_key: &[u8],
        seqno: SequenceNumber,
        hash: u64,
        ro: BlockReadOptions,
    ) -> Result<Option<(SequenceNumber, LookupResult)>> {
        if self.filter.as_ref().is_some_and(|f| !f.may_contain(hash)) {
            return Ok(None);
        }
        let target = seek_key(user_key, seqno);
        let mut idx = self.index_iter();
        idx.seek(&target).map_err(|w| self.corrupt_block(self.data_end, w))?;
        if !idx.valid() {
            return Ok(None);
        }
        let h = self.decode_handle(idx.value_slice())?;
        let block = self.read_data_block(h, ro)?;
        let mut it = block.iter(compare_internal_keys);
        it.seek(&target).map_err(|w| self.corrupt_block(h.offset, w))?;
        if !it.valid() {
            return Ok(None);
        }
        let parsed = ParsedInternalKey::decode(it.key())
            .ok_or_else(|| self.corrupt_block(h.offset, "bad internal key"))?;
        if parsed.user_key != user_key {
            return Ok(None);
        }
        let r = LookupResult::of(parsed.value_type, it.value())
            .ok_or_else(|| self.corrupt_block(h.offset, "expiring value shorter than its header, or a range tombstone among point entries"))?;
        Ok(Some((parsed.seqno, r)))
    }

    /// A cursor over every entry of the table, reading blocks as `ro` says (compaction
    /// inputs do not fill the cache).
    pub fn iter(self: &Arc<Self>, ro: BlockReadOptions) -> TableIter {
        TableIter {
            index: self.index_iter(),
            data: None,
            block_offset: 0,
            ro,
            table: Arc::clone(self),
            readahead: Readahead::default(),
        }
    }
}

/// A two-level cursor over a table: the index block, then one data block at a time.
pub struct TableIter {
    table: Arc<Table>,
    index: BlockIter,
    data: Option<BlockIter>,
    block_offset: u64,
    ro: BlockReadOptions,
    /// Read-ahead for sequential scans through positional reads.
    readahead: Readahead,
}

/// Where to put a freshly loaded data block's cursor.
enum Place<'a> {
    First,
    Last,
    Seek(&'a [u8]),
    SeekForPrev(&'a [u8]),
}

impl TableIter {
    /// Loads the block the index cursor points at and positions in it.
    fn load_block(&mut self, place: Place<'_>) -> Result<()> {
        if !self.index.valid() {
            self.data = None;
            return Ok(());
        }
        let h = self.table.decode_handle(self.index.value_slice())?;
        let block = self.table.read_data_block_ahead(h, self.ro, &mut self.readahead)?;
        self.block_offset = h.offset;
        let mut it = block.iter(compare_internal_keys);
        let r = match place {
            Place::First => it.seek_to_first(),
            Place::Last => it.seek_to_last(),
            Place::Seek(t) => it.seek(t),
            Place::SeekForPrev(t) => it.seek_for_prev(t),
        };
        self.data = Some(it);
        r.map_err(|w| self.data_err(w))
    }

    fn data_err(&self, w: &'static str) -> Error {
        self.table.corrupt_block(self.block_offset, w)
    }

    fn index_err(&self, w: &'static str) -> Error {
        self.table.corrupt_block(self.table.data_end, w)
    }

    /// Moves past exhausted data blocks to the next non-empty one.
    fn skip_forward(&mut self) -> Result<()> {
        while self.data.as_ref().is_some_and(|d| !d.valid()) {
            self.index.next().map_err(|w| self.index_err(w))?;
            self.load_block(Place::First)?;
        }
        Ok(())
    }

    /// Moves before exhausted data blocks to the previous non-empty one.
    fn skip_backward(&mut self) -> Result<()> {
        while self.data.as_ref().is_some_and(|d| !d.valid()) {
            self.index.prev().map_err(|w| self.index_err(w))?;
            self.load_block(Place::Last)?;
        }
        Ok(())
    }
}

impl InternalIterator for TableIter {
    fn valid(&self) -> bool {
        self.data.as_ref().is_some_and(BlockIter::valid)
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.index.seek_to_first().map_err(|w| self.index_err(w))?;
        self.load_block(Place::First)?;
        self.skip_forward()
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.index.seek_to_last().map_err(|w| self.index_err(w))?;
        self.load_block(Place::Last)?;
        self.skip_backward()
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.index.seek(target).map_err(|w| self.index_err(w))?;
        self.load_block(Place::Seek(target))?;
        self.skip_forward()
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        // The first block whose last key is >= target holds the answer, or the block
        // before it does; past the last block, the answer is the table's last entry.
        self.index.seek(target).map_err(|w| self.index_err(w))?;
        if !self.index.valid() {
            return self.seek_to_last();
        }
        self.load_block(Place::SeekForPrev(target))?;
        self.skip_backward()
    }

    fn next(&mut self) -> Result<()> {
        if let Some(d) = self.data.as_mut() {
            let r = d.next();
            r.map_err(|w| self.data_err(w))?;
        }
        self.skip_forward()
    }

    fn prev(&mut self) -> Result<()> {
        if let Some(d) = self.data.as_mut() {
            let r = d.prev();
            r.map_err(|w| self.data_err(w))?;
        }
        self.skip_backward()
    }

    fn key(&self) -> &[u8] {
        self.data.as_ref().map_or(&[], BlockIter::key)
    }

    fn value(&self) -> Bytes {
        self.data.as_ref().map_or_else(Bytes::new, BlockIter::value)
    }
}
