//! [`WriteBatch`]: puts and deletes applied atomically, and its encoding, which is also the
//! payload of a WAL record.
//!
//! # Format
//! DESIGN.md §2.3 ("WAL record payload: a write batch"). The layout is LevelDB's
//! `WriteBatch` rep: a 12-byte header (first sequence number, count) and then the records.

use bytes::Bytes;

use crate::coding::{get_u32, get_u64, put_length_prefixed, Reader};
use crate::error::{CorruptionKind, Error, Result};
use crate::key::{SequenceNumber, ValueType};
use crate::memtable::MemTable;
use crate::options::{MAX_BATCH_SIZE, MAX_KEY_SIZE, MAX_VALUE_SIZE};

/// Bytes of the batch header: sequence number u64 + record count u32.
pub(crate) const BATCH_HEADER_LEN: usize = 12;

/// Bit 31 of the header's count: every operation of the batch has the batch's first
/// sequence number (a transaction commit: one revision; its keys are distinct). Without
/// it, operation `i` has `first + i` (docs/format.md §2.3).
pub(crate) const SHARED_SEQNO_FLAG: u32 = 1 << 31;

/// An ordered list of puts and deletes that `Db::write` applies atomically: after any
/// crash either all of them are visible or none is. Later operations on the same key win.
///
/// ```
/// let mut batch = shaledb::WriteBatch::new();
/// batch.put(b"k1", b"v1");
/// batch.delete(b"k0");
/// assert_eq!(batch.len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct WriteBatch {
    rep: Vec<u8>,
    count: u32,
    /// Key and value bytes, for write amplification.
    data_bytes: u64,
    oversized: bool,
    /// A `delete_range` with `start > end` was added.
    inverted_range: bool,
    /// Each operation's byte ranges in `rep`, recorded as it is added, so the write path
    /// inserts into the memtable from what it holds instead of decoding `rep` again.
    ops: Vec<BatchOp>,
    /// Indexes into `ops` of puts whose expiry header holds a TTL in milliseconds, made
    /// absolute (clock + TTL) when the batch commits.
    relative_ttls: Vec<usize>,
    /// Every operation takes the same sequence number (`SHARED_SEQNO_FLAG`).
    shared_seqno: bool,
}

impl Default for WriteBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        WriteBatch {
            rep: vec![0; BATCH_HEADER_LEN],
            count: 0,
            data_bytes: 0,
            oversized: false,
            inverted_range: false,
            ops: Vec::new(),
            relative_ttls: Vec::new(),
            shared_seqno: false,
        }
    }

    /// Adds a put of `value` under `key`. Keys above 64 KiB or values above 64 MiB make the
    /// batch fail with [`Error::InvalidArgument`] when it is written.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        let (key, value) = (key.as_ref(), value.as_ref());
        self.oversized |= key.len() > MAX_KEY_SIZE || value.len() > MAX_VALUE_SIZE;
        self.rep.push(ValueType::Value as u8);
        let key_range = put_range(&mut self.rep, key);
        let value_range = put_range(&mut self.rep, value);
        self.ops.push(BatchOp { value_type: ValueType::Value, key: key_range, value: value_range });
        self.count += 1;
        // An appended operation may repeat a key: the batch numbers its operations again.
        self.shared_seqno = false;
        self.data_bytes += (key.len() + value.len()) as u64;
    }

    /// Adds a put of `value` under `key` that expires `ttl` after the batch commits (by
    /// the database's clock, millisecond precision): from then on reads treat the key as
    /// deleted, and compaction reclaims the entry. The expiry is stored as an absolute
    /// time (docs/format.md §2.3). Limits as [`WriteBatch::put`].
    pub fn put_with_ttl(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>, ttl: std::time::Duration) {
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        self.put_expiring(key.as_ref(), value.as_ref(), ms, true);
    }

    /// Adds a put of `value` under `key` that expires at `at` (millisecond precision; a
    /// time before the epoch counts as the epoch, so the entry is born expired). Limits as
    /// [`WriteBatch::put`].
    pub fn put_expire_at(
        &mut self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        at: std::time::SystemTime,
    ) {
        let ms = at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.put_expiring(key.as_ref(), value.as_ref(), ms, false);
    }

    fn put_expiring(&mut self, key: &[u8], value: &[u8], ms: u64, relative: bool) {
        self.oversized |= key.len() > MAX_KEY_SIZE || value.len() > MAX_VALUE_SIZE;
        self.rep.push(ValueType::ValueWithExpiry as u8);
        let key_range = put_range(&mut self.rep, key);
        let stored = [&crate::coding::u64_bytes(ms)[..], value].concat();
        let value_range = put_range(&mut self.rep, &stored);
        self.ops.push(BatchOp { value_type: ValueType::ValueWithExpiry, key: key_range, value: value_range });
        if relative {
            self.relative_ttls.push(self.ops.len() - 1);
        }
        self.count += 1;
        // An appended operation may repeat a key: the batch numbers its operations again.
        self.shared_seqno = false;
        self.data_bytes += (key.len() + value.len()) as u64;
    }

    /// Adds a delete of `key`.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) {
        let key = key.as_ref();
        self.oversized |= key.len() > MAX_KEY_SIZE;
        self.rep.push(ValueType::Deletion as u8);
        let key_range = put_range(&mut self.rep, key);
        self.ops.push(BatchOp { value_type: ValueType::Deletion, key: key_range, value: (0, 0) });
        self.count += 1;
        // An appended operation may repeat a key: the batch numbers its operations again.
        self.shared_seqno = false;
        self.data_bytes += key.len() as u64;
    }

    /// Adds a range deletion: every key `k` with `start <= k < end` written before this
    /// batch is deleted, in O(1) work whatever the number of keys (one range tombstone,
    /// after RocksDB's `DeleteRange`). An empty range (`start == end`) deletes nothing.
    /// `start > end` or a bound above 64 KiB makes the batch fail with
    /// [`Error::InvalidArgument`] when it is written.
    pub fn delete_range(&mut self, start: impl AsRef<[u8]>, end: impl AsRef<[u8]>) {
        let (start, end) = (start.as_ref(), end.as_ref());
        self.oversized |= start.len() > MAX_KEY_SIZE || end.len() > MAX_KEY_SIZE;
        self.inverted_range |= start > end;
        self.rep.push(ValueType::RangeDeletion as u8);
        let key_range = put_range(&mut self.rep, start);
        let value_range = put_range(&mut self.rep, end);
        self.ops.push(BatchOp { value_type: ValueType::RangeDeletion, key: key_range, value: value_range });
        self.count += 1;
        // An appended operation may repeat a key: the batch numbers its operations again.
        self.shared_seqno = false;
        self.data_bytes += (start.len() + end.len()) as u64;
    }

    /// Number of operations in the batch.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True if the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Removes every operation.
    pub fn clear(&mut self) {
        *self = WriteBatch::new();
    }

    /// Size of the encoded batch in bytes (what it adds to the WAL, before framing).
    pub fn approximate_size(&self) -> usize {
        self.rep.len()
    }

    /// Key and value bytes of the operations (what write amplification divides by).
    pub fn data_bytes(&self) -> u64 {
        self.data_bytes
    }

    /// Checks the documented limits.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an oversized key, value or batch.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.oversized {
            return Err(Error::InvalidArgument("key above 64 KiB or value above 64 MiB"));
        }
        if self.inverted_range {
            return Err(Error::InvalidArgument("delete_range with start > end"));
        }
        if self.rep.len() > MAX_BATCH_SIZE {
            return Err(Error::InvalidArgument("write batch above 1 GiB"));
        }
        Ok(())
    }

    /// The operations in order, as they were added (or, for a batch from the change
    /// feed, as they were committed: TTLs are then absolute expiry times).
    pub fn iter(&self) -> impl Iterator<Item = WriteOp<'_>> + '_ {
        self.ops.iter().enumerate().map(move |(i, op)| {
            let key = &self.rep[op.key.0..op.key.1];
            let value = &self.rep[op.value.0..op.value.1];
            match op.value_type {
                ValueType::Value => WriteOp::Put { key, value, expiry: None },
                ValueType::ValueWithExpiry => {
                    let (header, value) = value.split_at(crate::key::EXPIRY_HEADER_LEN.min(value.len()));
                    let ms = get_u64(header).unwrap_or(0);
                    let expiry = if self.relative_ttls.contains(&i) {
                        Expiry::After(std::time::Duration::from_millis(ms))
                    } else {
                        Expiry::At(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
                    };
                    WriteOp::Put { key, value, expiry: Some(expiry) }
                }
                ValueType::Deletion => WriteOp::Delete { key },
                ValueType::RangeDeletion => WriteOp::DeleteRange { start: key, end: value },
            }
        })
    }

    /// Gives every operation the same sequence number when the batch commits (a
    /// transaction's commit). **Requires:** no key appears twice among its point
    /// operations, and its range deletions come before them.
    pub(crate) fn set_shared_seqno(&mut self) {
        self.shared_seqno = true;
    }

    /// True if every operation has the same sequence number (a transaction's commit).
    pub fn has_one_seqno(&self) -> bool {
        self.shared_seqno
    }

    /// Sequence numbers the batch takes when it commits: 1 for a transaction's commit,
    /// else one per operation.
    pub(crate) fn seqnos_used(&self) -> u64 {
        if self.shared_seqno {
            u64::from(self.count.min(1))
        } else {
            u64::from(self.count)
        }
    }

    /// The header count field: the count, with `SHARED_SEQNO_FLAG` for a shared batch.
    pub(crate) fn header_count(&self) -> u32 {
        if self.shared_seqno {
            self.count | SHARED_SEQNO_FLAG
        } else {
            self.count
        }
    }

    /// A batch around a committed rep (header and records) and its decoded operations
    /// (`decode_rep`), as the change feed reads it from a WAL.
    pub(crate) fn from_rep(rep: Vec<u8>, ops: Vec<BatchOp>, shared_seqno: bool) -> WriteBatch {
        let data_bytes = ops.iter().map(|o| (o.key.1 - o.key.0 + o.value.1 - o.value.0) as u64).sum();
        #[expect(clippy::cast_possible_truncation, reason = "decode_rep checked the count against a u32")]
        let count = ops.len() as u32;
        WriteBatch {
            rep,
            count,
            data_bytes,
            oversized: false,
            inverted_range: false,
            ops,
            relative_ttls: Vec::new(),
            shared_seqno,
        }
    }

    /// The records, without the header.
    pub(crate) fn records(&self) -> &[u8] {
        &self.rep[BATCH_HEADER_LEN..]
    }

    /// The operations' byte ranges, relative to a rep in which `records()` start at
    /// `base` (so `base == BATCH_HEADER_LEN` gives this batch's own rep).
    pub(crate) fn ops_at(&self, base: usize) -> impl Iterator<Item = BatchOp> + '_ {
        let shift = move |(a, b): (usize, usize)| (a - BATCH_HEADER_LEN + base, b - BATCH_HEADER_LEN + base);
        self.ops.iter().map(move |op| BatchOp {
            value_type: op.value_type,
            key: shift(op.key),
            value: if op.value_type == ValueType::Deletion { (base, base) } else { shift(op.value) },
        })
    }

    /// The byte offsets, in a rep where `records()` start at `base`, of the expiry
    /// headers that hold a relative TTL (see [`make_expiries_absolute`]).
    pub(crate) fn relative_ttl_offsets(&self, base: usize) -> impl Iterator<Item = usize> + '_ {
        self.relative_ttls.iter().map(move |&i| self.ops[i].value.0 - BATCH_HEADER_LEN + base)
    }
}

/// One operation of a [`WriteBatch`] ([`WriteBatch::iter`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOp<'a> {
    /// A put; `expiry` is its TTL or expiry time, if it has one.
    Put {
        /// The key.
        key: &'a [u8],
        /// The value.
        value: &'a [u8],
        /// When the value expires.
        expiry: Option<Expiry>,
    },
    /// A point deletion.
    Delete {
        /// The key.
        key: &'a [u8],
    },
    /// A range deletion of `[start, end)`.
    DeleteRange {
        /// The first key deleted.
        start: &'a [u8],
        /// The first key after the range.
        end: &'a [u8],
    },
}

/// When a put expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// This long after the batch commits (`put_with_ttl`, not yet committed).
    After(std::time::Duration),
    /// At this instant (`put_expire_at`, or any expiring put once committed).
    At(std::time::SystemTime),
}

/// Turns the relative TTLs at `offsets` of `rep` (expiry headers, `u64le` milliseconds)
/// into absolute expiry times: `now_ms + ttl`, saturating.
pub(crate) fn make_expiries_absolute(rep: &mut [u8], offsets: impl IntoIterator<Item = usize>, now_ms: u64) {
    for at in offsets {
        let ttl = crate::coding::get_u64(&rep[at..]).unwrap_or(0);
        rep[at..at + 8].copy_from_slice(&crate::coding::u64_bytes(now_ms.saturating_add(ttl)));
    }
}

/// Appends `data` length-prefixed and returns its byte range in `rep`.
fn put_range(rep: &mut Vec<u8>, data: &[u8]) -> (usize, usize) {
    put_length_prefixed(rep, data);
    (rep.len() - data.len(), rep.len())
}

/// Inserts the operations `ops` (byte ranges of `rep`) into `mem`, numbered from `first`
/// in order, or all at `first` for a shared-seqno batch: the one write-into-memtable path
/// of the write path, WAL replay and repair (LevelDB's `WriteBatchInternal::InsertInto`).
/// Keys and values are handed over as slices of `rep`; the memtable copies them into its
/// arena.
pub(crate) fn insert_into(
    mem: &MemTable,
    rep: &Bytes,
    first: SequenceNumber,
    ops: impl IntoIterator<Item = BatchOp>,
    shared_seqno: bool,
) -> u64 {
    insert_numbered(
        mem,
        rep,
        ops.into_iter().enumerate().map(|(i, op)| (op, if shared_seqno { first } else { first + i as u64 })),
    )
}

/// Inserts operations with their sequence numbers into `mem`; returns how many.
pub(crate) fn insert_numbered(
    mem: &MemTable,
    rep: &Bytes,
    ops: impl IntoIterator<Item = (BatchOp, SequenceNumber)>,
) -> u64 {
    let mut n = 0u64;
    mem.insert_many(ops.into_iter().map(|(op, seqno)| {
        n += 1;
        (&rep[op.key.0..op.key.1], seqno, op.value_type, &rep[op.value.0..op.value.1])
    }));
    n
}

/// Encodes the header of a (group) batch rep in place.
pub(crate) fn set_header(rep: &mut [u8], first_seqno: SequenceNumber, count: u32) {
    rep[..8].copy_from_slice(&crate::coding::u64_bytes(first_seqno));
    rep[8..12].copy_from_slice(&crate::coding::u32_bytes(count));
}

/// One decoded operation of a batch rep: the value type, and the byte ranges of the key
/// and value inside the rep (so the memtable can slice them without copying).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchOp {
    pub value_type: ValueType,
    pub key: (usize, usize),
    pub value: (usize, usize),
}

/// A decoded batch rep: its first sequence number, its operations, and whether they all
/// share that sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub first: SequenceNumber,
    pub ops: Vec<BatchOp>,
    pub shared_seqno: bool,
}

impl Decoded {
    /// The batch's last sequence number (`first` for a shared or empty batch).
    pub fn last(&self) -> SequenceNumber {
        if self.shared_seqno || self.ops.is_empty() {
            self.first
        } else {
            self.first + self.ops.len() as u64 - 1
        }
    }
}

/// Decodes a batch rep into its first sequence number and its operations.
///
/// # Errors
/// [`Error::Corruption`] naming `file` and `offset` (the record's offset in its log) if the
/// rep is malformed or its count is wrong.
pub(crate) fn decode_rep(rep: &[u8], file: &std::path::Path, offset: u64) -> Result<Decoded> {
    let bad = |what| Error::corruption(file, offset, CorruptionKind::Malformed(what));
    let (Some(seq), Some(raw_count)) = (get_u64(rep), rep.get(8..).and_then(get_u32)) else {
        return Err(bad("write batch shorter than its header"));
    };
    let shared_seqno = raw_count & SHARED_SEQNO_FLAG != 0;
    let count = raw_count & !SHARED_SEQNO_FLAG;
    let body = &rep[BATCH_HEADER_LEN..];
    // Invariant: every record takes at least 2 bytes, so a count above body/2 is a lie;
    // checking it first bounds the allocation (docs/durability.md INV-22).
    if count as usize > body.len() / 2 + 1 {
        return Err(bad("write batch count exceeds its size"));
    }
    let mut ops = Vec::with_capacity(count as usize);
    let mut r = Reader::new(body);
    while !r.is_empty() {
        let ty = r.u8().and_then(ValueType::from_u8).ok_or_else(|| bad("bad value type"))?;
        let key = range_of(&mut r).ok_or_else(|| bad("bad key length"))?;
        let value = match ty {
            ValueType::Value | ValueType::RangeDeletion => {
                range_of(&mut r).ok_or_else(|| bad("bad value length"))?
            }
            ValueType::ValueWithExpiry => {
                let v = range_of(&mut r).ok_or_else(|| bad("bad value length"))?;
                if v.1 - v.0 < crate::key::EXPIRY_HEADER_LEN {
                    return Err(bad("expiring value shorter than its header"));
                }
                v
            }
            ValueType::Deletion => (0, 0),
        };
        let shift = |(a, b): (usize, usize)| (a + BATCH_HEADER_LEN, b + BATCH_HEADER_LEN);
        ops.push(BatchOp { value_type: ty, key: shift(key), value: shift(value) });
    }
    if ops.len() != count as usize {
        return Err(bad("write batch count does not match its records"));
    }
    if shared_seqno {
        // Invariant: one sequence number per key, so a shared batch's point keys are
        // distinct; a repeated one would make two entries with the same internal key.
        let mut keys: Vec<&[u8]> = ops
            .iter()
            .filter(|o| o.value_type != ValueType::RangeDeletion)
            .map(|o| &rep[o.key.0..o.key.1])
            .collect();
        keys.sort_unstable();
        if keys.windows(2).any(|w| w[0] == w[1]) {
            return Err(bad("a one-seqno write batch repeats a key"));
        }
    }
    Ok(Decoded { first: seq, ops, shared_seqno })
}

fn range_of(r: &mut Reader<'_>) -> Option<(usize, usize)> {
    let n = usize::try_from(r.varint()?).ok()?;
    let start = r.position();
    r.bytes(n)?;
    Some((start, start + n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_round_trips() {
        let mut b = WriteBatch::new();
        b.put(b"a", b"1");
        b.delete(b"");
        b.put(b"", b"");
        let mut rep = b.rep.clone();
        set_header(&mut rep, 42, 3);
        let d = decode_rep(&rep, std::path::Path::new("x"), 0).expect("decodes");
        let (seq, ops) = (d.first, d.ops);
        assert_eq!(seq, 42);
        assert_eq!(ops.len(), 3);
        assert_eq!(&rep[ops[0].key.0..ops[0].key.1], b"a");
        assert_eq!(&rep[ops[0].value.0..ops[0].value.1], b"1");
        assert_eq!(ops[1].value_type, ValueType::Deletion);
    }

    #[test]
    fn wrong_count_is_corruption() {
        let mut b = WriteBatch::new();
        b.put(b"a", b"1");
        let mut rep = b.rep.clone();
        set_header(&mut rep, 1, 2);
        assert!(decode_rep(&rep, std::path::Path::new("x"), 0).is_err());
        set_header(&mut rep, 1, u32::MAX);
        assert!(decode_rep(&rep, std::path::Path::new("x"), 0).is_err());
    }

    #[test]
    fn one_seqno_batches_round_trip_and_refuse_repeated_keys() {
        let mut b = WriteBatch::new();
        b.delete_range(b"a", b"z");
        b.put(b"a", b"1");
        b.delete(b"b");
        b.set_shared_seqno();
        assert_eq!(b.seqnos_used(), 1);
        let mut rep = b.rep.clone();
        set_header(&mut rep, 9, b.header_count());
        let d = decode_rep(&rep, std::path::Path::new("x"), 0).expect("decodes");
        assert!(d.shared_seqno);
        assert_eq!((d.ops.len(), d.last()), (3, 9));
        b.put(b"a", b"2");
        assert!(!b.has_one_seqno(), "an appended operation renumbers the batch");
        b.set_shared_seqno(); // as a damaged or forged WAL record could claim
        let mut rep = b.rep.clone();
        set_header(&mut rep, 9, b.header_count());
        assert!(decode_rep(&rep, std::path::Path::new("x"), 0).is_err(), "a repeated key is corruption");
    }

    #[test]
    fn oversized_key_is_invalid_argument() {
        let mut b = WriteBatch::new();
        b.put(vec![0u8; MAX_KEY_SIZE], b"ok");
        assert!(b.validate().is_ok());
        b.put(vec![0u8; MAX_KEY_SIZE + 1], b"too big");
        assert!(matches!(b.validate(), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn range_deletion_round_trips_and_inverted_is_invalid() {
        let mut b = WriteBatch::new();
        b.delete_range(b"a", b"m");
        assert!(b.validate().is_ok());
        let mut rep = b.rep.clone();
        set_header(&mut rep, 7, 1);
        let ops = decode_rep(&rep, std::path::Path::new("x"), 0).expect("decodes").ops;
        assert_eq!(ops[0].value_type, ValueType::RangeDeletion);
        assert_eq!(&rep[ops[0].key.0..ops[0].key.1], b"a");
        assert_eq!(&rep[ops[0].value.0..ops[0].value.1], b"m");
        b.delete_range(b"z", b"y");
        assert!(matches!(b.validate(), Err(Error::InvalidArgument(_))));
    }
}
