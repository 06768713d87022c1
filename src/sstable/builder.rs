//! [`TableBuilder`]: writes a table from entries given in internal-key order.
//!
//! One owner (a flush or compaction job). Output is buffered and written in large
//! appends; `finish` writes the meta, index and footer and fsyncs the file (docs/durability.md
//! R1: a table is durable before any MANIFEST edit names it).

use std::path::PathBuf;

use bytes::Bytes;

use super::block::BlockBuilder;
use super::format::{write_block, BlockHandle, Footer, FORMAT_VERSION};
use crate::error::Result;
use crate::fs::WritableFile;
use crate::key::{compare_internal_keys, encode_internal_key, ParsedInternalKey, SequenceNumber, ValueType};
use crate::range_del::{inclusive_end, FragmentedRangeTombstones, RangeTombstone};
use super::format::Compression;

/// Bytes buffered before an append to the file.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// User-key hashes per chunk of the filter's input (64 Ki hashes, 512 KiB).
const HASH_CHUNK_LEN: usize = 64 << 10;

/// How full, in percent of `block_size`, a data block must be before an entry that would
/// take it past `block_size` is put in the next block instead (RocksDB's
/// `block_size_deviation` of 10; see `TableBuilder::cut_before`).
const BLOCK_FULL_PERCENT: usize = 90;

/// Name of the properties block in the metaindex block.
pub const PROPERTIES_BLOCK_NAME: &[u8] = b"shaledb.properties";

/// Name of a standard filter block in the metaindex block (`filter::FilterKind::Standard`).
pub const FILTER_BLOCK_NAME: &[u8] = b"shaledb.filter";

/// Name of a blocked filter block in the metaindex block (`filter::FilterKind::Blocked`).
/// A name of its own, not a new FORMAT_VERSION: an older build ignores the unknown name
/// and reads the table without a filter, which is slower but right, where reading these
/// bits as a standard filter would answer false "not found"s.
pub const BLOCKED_FILTER_BLOCK_NAME: &[u8] = b"shaledb.filter.blocked";

/// How tables are built; derived from `Options`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableOptions {
    /// Target uncompressed data block size in bytes.
    pub block_size: usize,
    /// Entries between restart points.
    pub restart_interval: usize,
    /// Data block compression.
    pub compression: Compression,
    /// Bloom filter bits per key; 0 writes no filter block.
    pub bits_per_key: usize,
}

/// What a finished table holds; becomes its `FileMetaData`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSummary {
    /// File size in bytes.
    pub file_size: u64,
    /// Smallest internal key.
    pub smallest: Bytes,
    /// Largest internal key.
    pub largest: Bytes,
    /// Number of entries (puts and tombstones).
    pub num_entries: u64,
    /// Smallest sequence number of any entry.
    pub smallest_seqno: SequenceNumber,
    /// Largest sequence number of any entry.
    pub largest_seqno: SequenceNumber,
}

/// A table's smallest and largest internal keys, given those of its point entries and
/// its range tombstones: the tombstones extend the range from the first fragment's start
/// (`start ++ (newest seqno, RangeDeletion)`) to the inclusive form of the last
/// fragment's end (`range_del::inclusive_end(end) ++ (0, Deletion)`, the largest internal
/// key of that user key). `None` for a table with neither (docs/format.md §3.8).
pub fn table_bounds(
    point_smallest: Option<&[u8]>,
    point_largest: Option<&[u8]>,
    frags: &FragmentedRangeTombstones,
) -> Option<(Bytes, Bytes)> {
    let mut smallest = point_smallest.map(Bytes::copy_from_slice);
    let mut largest = point_largest.map(Bytes::copy_from_slice);
    if let (Some((first, last)), Some(head)) = (frags.bounds(), frags.fragments().first()) {
        let lo = encode_internal_key(first, head.seqnos[0], ValueType::RangeDeletion);
        let hi = encode_internal_key(inclusive_end(last), 0, ValueType::Deletion);
        if smallest.as_ref().is_none_or(|s| compare_internal_keys(&lo, s).is_lt()) {
            smallest = Some(Bytes::from(lo));
        }
        if largest.as_ref().is_none_or(|l| compare_internal_keys(&hi, l).is_gt()) {
            largest = Some(Bytes::from(hi));
        }
    }
    smallest.zip(largest)
}

/// Writes one table; see the module docs.
pub struct TableBuilder {
    file: Box<dyn WritableFile>,
    path: PathBuf,
    block_size: usize,
    compression: Compression,
    bits_per_key: usize,
    filter_kind: super::filter::FilterKind,
    /// Hashes of the distinct user keys, for the filter block.
    /// Hashes of the user keys added so far, for the filter, in chunks of
    /// [`HASH_CHUNK_LEN`]: a table of a million keys holds 8 MB of them, and one growing
    /// `Vec` would double to 16 MB and copy (both buffers live at once) on the way.
    key_hashes: Vec<Vec<u64>>,
    /// The last hash pushed: versions of one user key are adjacent.
    last_key_hash: Option<u64>,
    data_block: BlockBuilder,
    index_block: BlockBuilder,
    out: Vec<u8>,
    offset: u64,
    smallest: Option<Bytes>,
    smallest_seqno: SequenceNumber,
    largest_seqno: SequenceNumber,
    num_entries: u64,
    num_deletions: u64,
    num_data_blocks: u64,
    raw_key_size: u64,
    raw_value_size: u64,
    /// Identity written into the properties: table id and file number.
    id: Option<(super::TableId, u64)>,
    /// The earliest expiry (Unix milliseconds) of an expiring put in the table.
    earliest_expiry: Option<u64>,
    /// Range tombstones added, fragmented at `finish`.
    range_tombstones: Vec<RangeTombstone>,
}

impl TableBuilder {
    /// Records `id` and `file_number` in the properties block (see
    /// [`super::TableId`]).
    pub fn set_identity(&mut self, id: super::TableId, file_number: u64) {
        self.id = Some((id, file_number));
    }

    /// Sets the layout of the filter block `finish` writes (default
    /// [`FilterKind::Blocked`](super::filter::FilterKind::Blocked)). A table with a
    /// [`FilterKind::Standard`](super::filter::FilterKind::Standard) filter is what builds
    /// before issue 15's tenth stop wrote, and the kind of filter they use.
    pub fn filter_kind(&mut self, kind: super::filter::FilterKind) {
        self.filter_kind = kind;
    }

    /// A builder writing to `file` (new and empty) at `path`.
    pub fn new(file: Box<dyn WritableFile>, path: PathBuf, opts: TableOptions) -> Self {
        let block_size = opts.block_size;
        TableBuilder {
            file,
            path,
            block_size,
            compression: opts.compression,
            bits_per_key: opts.bits_per_key,
            filter_kind: super::filter::FilterKind::default(),
            key_hashes: Vec::new(),
            last_key_hash: None,
            data_block: BlockBuilder::new(opts.restart_interval),
            index_block: BlockBuilder::new(1),
            out: Vec::with_capacity(WRITE_BUFFER_BYTES + block_size * 2),
            offset: 0,
            smallest: None,
            smallest_seqno: SequenceNumber::MAX,
            largest_seqno: 0,
            num_entries: 0,
            num_deletions: 0,
            num_data_blocks: 0,
            raw_key_size: 0,
            raw_value_size: 0,
            id: None,
            earliest_expiry: None,
            range_tombstones: Vec::new(),
        }
    }

    /// The path being written.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Appends an entry. **Requires:** `ikey` is a valid internal key that sorts after the
    /// previous one.
    ///
    /// # Errors
    /// [`crate::error::Error::Io`] if a buffered write fails.
    pub fn add(&mut self, ikey: &[u8], value: &[u8]) -> Result<()> {
        // Invariant: keys arrive in strictly increasing internal-key order.
        debug_assert!(
            self.data_block.is_empty()
                || crate::key::compare_internal_keys(self.data_block.last_key(), ikey).is_lt()
        );
        if let Some(p) = ParsedInternalKey::decode(ikey) {
            if self.bits_per_key > 0 {
                let h = super::filter::key_hash(p.user_key);
                // Versions of one user key are adjacent: hash each user key once.
                if self.last_key_hash != Some(h) {
                    self.last_key_hash = Some(h);
                    match self.key_hashes.last_mut() {
                        Some(chunk) if chunk.len() < HASH_CHUNK_LEN => chunk.push(h),
                        // A chunk grows by doubling up to its 64 Ki hashes, so a small
                        // table's filter input stays small.
                        _ => self.key_hashes.push(vec![h]),
                    }
                }
            }
            self.smallest_seqno = self.smallest_seqno.min(p.seqno);
            self.largest_seqno = self.largest_seqno.max(p.seqno);
            if p.value_type == ValueType::Deletion {
                self.num_deletions += 1;
            }
            if p.value_type == ValueType::ValueWithExpiry {
                if let Some(ms) = value.get(..8).and_then(crate::coding::get_u64) {
                    self.earliest_expiry = Some(self.earliest_expiry.map_or(ms, |e| e.min(ms)));
                }
            }
        }
        if self.smallest.is_none() {
            self.smallest = Some(Bytes::copy_from_slice(ikey));
        }
        if self.cut_before(ikey, value) {
            self.flush_data_block()?;
        }
        self.data_block.add(ikey, value);
        self.num_entries += 1;
        self.raw_key_size += ikey.len() as u64;
        self.raw_value_size += value.len() as u64;
        if self.data_block.estimated_size() >= self.block_size {
            self.flush_data_block()?;
        }
        Ok(())
    }

    /// Adds a range tombstone `[start, end)` at `seqno`, in any order relative to the
    /// point entries. `finish` fragments them into the range-deletion block and extends the
    /// table's key range to cover them (docs/format.md §3.8). An empty range is ignored.
    pub fn add_range_tombstone(&mut self, start: &[u8], end: &[u8], seqno: SequenceNumber) {
        if start < end {
            self.range_tombstones.push(RangeTombstone {
                start: Bytes::copy_from_slice(start),
                end: Bytes::copy_from_slice(end),
                seqno,
            });
        }
    }

    /// True if no point entry and no range tombstone was added.
    pub fn is_empty(&self) -> bool {
        self.num_entries == 0 && self.range_tombstones.is_empty()
    }

    /// Estimated file size if finished now, in bytes.
    pub fn estimated_file_size(&self) -> u64 {
        self.offset + self.data_block.estimated_size() as u64
    }

    /// Number of entries added.
    pub fn num_entries(&self) -> u64 {
        self.num_entries
    }

    /// Whether the data block is cut before this entry (RocksDB's `block_size_deviation`
    /// of 10 %): when the block is at least [`BLOCK_FULL_PERCENT`] % of `block_size` and
    /// the entry, at its largest encoding (no shared prefix, a restart), would take it past
    /// `block_size`. Data blocks then end at or under `block_size` unless one entry is
    /// larger than a tenth of it, and a cached block fits the allocator's size class of
    /// `block_size`: a 4,150-byte block takes a 5,120-byte class in mimalloc and jemalloc,
    /// 23 % more than the block cache charges for it.
    fn cut_before(&self, ikey: &[u8], value: &[u8]) -> bool {
        use crate::coding::varint_len;
        if self.data_block.is_empty() {
            return false;
        }
        let size = self.data_block.estimated_size();
        let entry = 1 + varint_len(ikey.len() as u64) + varint_len(value.len() as u64) + ikey.len() + value.len() + 4;
        size + entry > self.block_size && size * 100 >= self.block_size * BLOCK_FULL_PERCENT
    }

    fn flush_data_block(&mut self) -> Result<()> {
        if self.data_block.is_empty() {
            return Ok(());
        }
        let last_key = self.data_block.last_key().to_vec();
        let raw = self.data_block.finish();
        let handle = self.emit_block(&raw, self.compression);
        let mut hv = Vec::with_capacity(20);
        handle.encode_into(&mut hv);
        // The separator is the block's last key: every key in the block is <= it and every
        // key of the next block is > it.
        self.index_block.add(&last_key, &hv);
        self.num_data_blocks += 1;
        if self.out.len() >= WRITE_BUFFER_BYTES {
            self.file.append(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }

    fn emit_block(&mut self, raw: &[u8], compression: Compression) -> BlockHandle {
        let before = self.out.len();
        let size = write_block(raw, compression, &mut self.out);
        let handle = BlockHandle { offset: self.offset, size };
        self.offset += (self.out.len() - before) as u64;
        handle
    }

    /// Writes the remaining data block, the filter block (if `bits_per_key > 0`), the
    /// properties, metaindex and index blocks and the footer, then fsyncs the file.
    ///
    /// # Errors
    /// [`crate::error::Error::Io`] if a write or the fsync fails; the file is then an orphan.
    pub fn finish(mut self) -> Result<TableSummary> {
        self.flush_data_block()?;
        let data_size = self.offset;
        let largest = self.index_block.last_key().to_vec();
        let index_raw = self.index_block.finish();

        let frags = FragmentedRangeTombstones::new(std::mem::take(&mut self.range_tombstones));
        for f in frags.fragments() {
            for &s in &f.seqnos {
                self.smallest_seqno = self.smallest_seqno.min(s);
                self.largest_seqno = self.largest_seqno.max(s);
            }
        }
        let point_largest = (!largest.is_empty()).then_some(largest.as_slice());
        let (smallest, largest) = table_bounds(self.smallest.as_deref(), point_largest, &frags).unzip();
        let mut props = BlockBuilder::new(1);
        let has_any = self.num_entries > 0 || !frags.is_empty();
        let smallest_seqno = if has_any { self.smallest_seqno } else { 0 };
        let (id, file_number) = self.id.map_or((None, 0), |(id, n)| (Some(id), n));
        // In name order, as a block requires; identity fields only when known (0 = none).
        let fields: [(&str, u64); 14] = [
            ("data.size", data_size),
            ("db.id", id.map_or(0, |i| i.db_id)),
            ("earliest.expiry", self.earliest_expiry.unwrap_or(0)),
            ("file.number", file_number),
            ("index.size", index_raw.len() as u64),
            ("largest.seqno", self.largest_seqno),
            ("num.data.blocks", self.num_data_blocks),
            ("num.deletions", self.num_deletions),
            ("num.entries", self.num_entries),
            ("num.range.deletions", frags.tombstones().count() as u64),
            ("raw.key.size", self.raw_key_size),
            ("raw.value.size", self.raw_value_size),
            ("session.id", id.map_or(0, |i| i.session_id)),
            ("smallest.seqno", smallest_seqno),
        ];
        for (name, v) in fields {
            if v == 0
                && matches!(name, "db.id" | "earliest.expiry" | "file.number" | "num.range.deletions" | "session.id")
            {
                continue;
            }
            let mut val = Vec::new();
            crate::coding::put_varint(&mut val, v);
            props.add(format!("shaledb.{name}").as_bytes(), &val);
        }
        let filter_handle = if self.bits_per_key > 0 && !self.key_hashes.is_empty() {
            let filter = super::filter::build_parts(&self.key_hashes, self.bits_per_key, self.filter_kind);
            Some(self.emit_block(&filter, Compression::None))
        } else {
            None
        };
        let props_handle = self.emit_block(&props.finish(), Compression::None);
        let range_del_handle =
            (!frags.is_empty()).then(|| self.emit_block(&super::range_del_block::encode(&frags), Compression::None));
        // Metaindex entries are sorted by name: "shaledb.filter" (or
        // "shaledb.filter.blocked") < "shaledb.properties" < "shaledb.range_del".
        let mut meta = BlockBuilder::new(1);
        let mut hv = Vec::new();
        if let Some(h) = filter_handle {
            h.encode_into(&mut hv);
            let name = match self.filter_kind {
                super::filter::FilterKind::Blocked => BLOCKED_FILTER_BLOCK_NAME,
                super::filter::FilterKind::Standard => FILTER_BLOCK_NAME,
            };
            meta.add(name, &hv);
            hv.clear();
        }
        props_handle.encode_into(&mut hv);
        meta.add(PROPERTIES_BLOCK_NAME, &hv);
        if let Some(h) = range_del_handle {
            hv.clear();
            h.encode_into(&mut hv);
            meta.add(super::range_del_block::RANGE_DEL_BLOCK_NAME, &hv);
        }
        let metaindex = self.emit_block(&meta.finish(), Compression::None);
        let index = self.emit_block(&index_raw, Compression::None);
        let footer = Footer { metaindex, index, format_version: FORMAT_VERSION }.encode();
        self.out.extend_from_slice(&footer);
        self.offset += footer.len() as u64;
        self.file.append(&self.out)?;
        self.file.sync_all()?;
        Ok(TableSummary {
            file_size: self.offset,
            smallest: smallest.unwrap_or_default(),
            largest: largest.unwrap_or_default(),
            num_entries: self.num_entries,
            smallest_seqno,
            largest_seqno: self.largest_seqno,
        })
    }
}
