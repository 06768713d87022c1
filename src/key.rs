//! Sequence numbers, value types and internal keys, and the internal-key order.
//!
//! An internal key is the user key followed by an 8-byte little-endian trailer
//! `(sequence_number << 8) | value_type`, exactly as in LevelDB's `dbformat.h`. Internal
//! keys sort by user key ascending (bytewise), then by trailer descending, so the newest
//! version of a key comes first.
//!
//! # Format
//! DESIGN.md §3.2 ("Internal key").

use std::cmp::Ordering;

/// The global write counter. 56 bits are used: the trailer's low byte holds the
/// [`ValueType`], which leaves the top 56 bits of a u64 for the sequence number.
pub type SequenceNumber = u64;

/// The largest sequence number that fits the 56-bit field.
pub const MAX_SEQUENCE_NUMBER: SequenceNumber = (1 << 56) - 1;

/// Length in bytes of the internal-key trailer.
pub const TRAILER_LEN: usize = 8;

/// Whether an entry sets a value or deletes the key. The byte values are on disk (WAL,
/// tables): never renumber them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ValueType {
    /// A tombstone: the key is deleted as of this sequence number.
    Deletion = 0,
    /// A put: the key holds the value as of this sequence number.
    Value = 1,
    /// A put with an expiry time: the stored value is the expiry (`u64le`, Unix
    /// milliseconds, [`EXPIRY_HEADER_LEN`] bytes) followed by the user's value. From the
    /// expiry instant on, reads treat the entry as a tombstone (docs/format.md §2.3).
    ValueWithExpiry = 2,
    /// A range tombstone (`delete_range`): the key is the range's start, the value its
    /// exclusive end. Found in write batches (so in WALs) and in a table's range-deletion
    /// block, never among the point entries of a memtable or data block.
    RangeDeletion = 3,
}

/// Bytes of the expiry header in front of a [`ValueType::ValueWithExpiry`] value.
pub const EXPIRY_HEADER_LEN: usize = 8;

/// Splits a [`ValueType::ValueWithExpiry`] value into its expiry (Unix milliseconds) and
/// the user's value; `None` if it is shorter than its header.
pub fn split_expiry(stored: &bytes::Bytes) -> Option<(u64, bytes::Bytes)> {
    let ms = crate::coding::get_u64(stored.get(..EXPIRY_HEADER_LEN)?)?;
    Some((ms, stored.slice(EXPIRY_HEADER_LEN..)))
}

/// Type byte used in seek keys: it sorts before every real type with the same sequence
/// number (the trailer order is descending), as LevelDB's `kValueTypeForSeek`.
pub(crate) const VALUE_TYPE_FOR_SEEK: u64 = 0xff;

impl ValueType {
    /// Decodes a type byte; `None` for bytes that are not a value type.
    pub fn from_u8(b: u8) -> Option<Self> {
        match b {
            0 => Some(ValueType::Deletion),
            1 => Some(ValueType::Value),
            2 => Some(ValueType::ValueWithExpiry),
            3 => Some(ValueType::RangeDeletion),
            _ => None,
        }
    }
}

/// Packs a sequence number and type into the 8-byte trailer value.
pub fn pack_trailer(seqno: SequenceNumber, vt: ValueType) -> u64 {
    debug_assert!(seqno <= MAX_SEQUENCE_NUMBER);
    (seqno << 8) | u64::from(vt as u8)
}

/// A borrowed, decoded internal key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedInternalKey<'a> {
    /// The user key.
    pub user_key: &'a [u8],
    /// The sequence number of the write.
    pub seqno: SequenceNumber,
    /// Put or delete.
    pub value_type: ValueType,
}

impl<'a> ParsedInternalKey<'a> {
    /// Splits an encoded internal key. `None` if it is shorter than the trailer or the
    /// type byte is unknown.
    pub fn decode(ikey: &'a [u8]) -> Option<Self> {
        let split = ikey.len().checked_sub(TRAILER_LEN)?;
        let trailer = crate::coding::get_u64(&ikey[split..])?;
        Some(ParsedInternalKey {
            user_key: &ikey[..split],
            seqno: trailer >> 8,
            value_type: ValueType::from_u8((trailer & 0xff) as u8)?,
        })
    }

    /// The packed trailer value.
    pub fn trailer(&self) -> u64 {
        pack_trailer(self.seqno, self.value_type)
    }

    /// Appends the encoded form (`user_key ++ trailer`) to `dst`.
    pub fn encode_into(&self, dst: &mut Vec<u8>) {
        dst.extend_from_slice(self.user_key);
        crate::coding::put_u64(dst, self.trailer());
    }
}

/// Encodes an internal key into a fresh vector.
pub fn encode_internal_key(user_key: &[u8], seqno: SequenceNumber, vt: ValueType) -> Vec<u8> {
    let mut v = Vec::with_capacity(user_key.len() + TRAILER_LEN);
    ParsedInternalKey { user_key, seqno, value_type: vt }.encode_into(&mut v);
    v
}

/// The internal key that sorts first among the versions of `user_key` visible at
/// `seqno`: seek to it to find the newest version with a sequence number `<= seqno`.
pub fn seek_key(user_key: &[u8], seqno: SequenceNumber) -> Vec<u8> {
    let mut v = Vec::with_capacity(user_key.len() + TRAILER_LEN);
    seek_key_into(user_key, seqno, &mut v);
    v
}

/// Writes [`seek_key`]`(user_key, seqno)` into `dst` (cleared first), reusing its buffer.
pub fn seek_key_into(user_key: &[u8], seqno: SequenceNumber, dst: &mut Vec<u8>) {
    dst.clear();
    dst.extend_from_slice(user_key);
    crate::coding::put_u64(dst, (seqno << 8) | VALUE_TYPE_FOR_SEEK);
}

/// Compares two encoded internal keys: user key ascending, then trailer descending.
/// Keys shorter than a trailer compare as if their whole content were the user key
/// with trailer 0 (they never occur in valid data; decoders reject them first).
pub fn compare_internal_keys(a: &[u8], b: &[u8]) -> Ordering {
    let (ua, ta) = split(a);
    let (ub, tb) = split(b);
    ua.cmp(ub).then_with(|| tb.cmp(&ta))
}

fn split(k: &[u8]) -> (&[u8], u64) {
    match k.len().checked_sub(TRAILER_LEN) {
        Some(s) => (&k[..s], crate::coding::get_u64(&k[s..]).unwrap_or(0)),
        None => (k, 0),
    }
}

/// The user-key part of an encoded internal key (the whole slice if it is too short).
pub fn user_key_of(ikey: &[u8]) -> &[u8] {
    split(ikey).0
}

/// The result of a point lookup in one memtable or table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupResult {
    /// The newest visible version is a put of this value.
    Found(bytes::Bytes),
    /// The newest visible version is a put with an expiry (Unix milliseconds) of this
    /// value; whether it has expired is the reader's to decide against its clock.
    Expiring(u64, bytes::Bytes),
    /// The newest visible version is a tombstone.
    Deleted,
}

impl LookupResult {
    /// The result for an entry of type `t` whose stored value is `v`; `None` for a
    /// [`ValueType::ValueWithExpiry`] value shorter than its header or a
    /// [`ValueType::RangeDeletion`] among point entries (both corruption).
    pub fn of(t: ValueType, v: bytes::Bytes) -> Option<Self> {
        Some(match t {
            ValueType::Value => LookupResult::Found(v),
            ValueType::ValueWithExpiry => {
                let (ms, v) = split_expiry(&v)?;
                LookupResult::Expiring(ms, v)
            }
            ValueType::Deletion => LookupResult::Deleted,
            ValueType::RangeDeletion => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_versions_sort_first() {
        let a = encode_internal_key(b"k", 10, ValueType::Value);
        let b = encode_internal_key(b"k", 9, ValueType::Value);
        let c = encode_internal_key(b"l", 100, ValueType::Value);
        assert_eq!(compare_internal_keys(&a, &b), Ordering::Less);
        assert_eq!(compare_internal_keys(&b, &c), Ordering::Less);
        assert_eq!(compare_internal_keys(&seek_key(b"k", 10), &a), Ordering::Less);
        assert_eq!(compare_internal_keys(&seek_key(b"k", 9), &a), Ordering::Greater);
    }

    #[test]
    fn empty_user_key_is_a_valid_internal_key() {
        let k = encode_internal_key(b"", 5, ValueType::Deletion);
        let p = ParsedInternalKey::decode(&k).expect("valid");
        assert_eq!(p.user_key, b"");
        assert_eq!((p.seqno, p.value_type), (5, ValueType::Deletion));
    }

    #[test]
    fn short_or_bad_type_is_rejected() {
        assert!(ParsedInternalKey::decode(b"1234567").is_none());
        let mut k = encode_internal_key(b"x", 1, ValueType::Value);
        let n = k.len();
        k[n - 8] = 4;
        assert!(ParsedInternalKey::decode(&k).is_none());
    }
}
