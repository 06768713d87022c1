//! [`DbIterator`]: user entries in key order, as of one sequence number.
//!
//! It pins the `Version` it was created on, so every table it may read stays open and on
//! disk until it is dropped, whatever compaction does meanwhile (RELIABILITY.md INV-26).

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;

use super::merging::MergingIterator;
use super::InternalIterator;
use crate::error::{CorruptionKind, Error, Result};
use crate::key::{seek_key, ParsedInternalKey, SequenceNumber, ValueType};
use crate::version::Version;

/// A forward iterator over `(key, value)` pairs in ascending key order, yielded as
/// `Result`s: a damaged block yields an `Err` where it is met, and the iterator then ends.
/// Created by `Db::iter`, `Db::range` and `Db::prefix`.
pub struct DbIterator {
    _version: Arc<Version>,
    inner: MergingIterator,
    seqno: SequenceNumber,
    start: Bound<Bytes>,
    end: Bound<Bytes>,
    last_user_key: Option<Vec<u8>>,
    started: bool,
    /// The entry last returned has not been stepped past yet (done lazily, so an error
    /// while stepping is reported after that entry, not instead of it).
    advance_pending: bool,
    done: bool,
}

impl DbIterator {
    pub(crate) fn new(
        version: Arc<Version>,
        inner: MergingIterator,
        seqno: SequenceNumber,
        start: Bound<Bytes>,
        end: Bound<Bytes>,
    ) -> Self {
        DbIterator {
            _version: version,
            inner,
            seqno,
            start,
            end,
            last_user_key: None,
            started: false,
            advance_pending: false,
            done: false,
        }
    }

    fn position(&mut self) -> Result<()> {
        match &self.start {
            Bound::Unbounded => self.inner.seek_to_first(),
            Bound::Included(k) => self.inner.seek(&seek_key(k, self.seqno)),
            Bound::Excluded(k) => {
                self.last_user_key = Some(k.to_vec());
                self.inner.seek(&seek_key(k, self.seqno))
            }
        }
    }

    fn past_end(&self, user_key: &[u8]) -> bool {
        match &self.end {
            Bound::Unbounded => false,
            Bound::Included(e) => user_key > e.as_ref(),
            Bound::Excluded(e) => user_key >= e.as_ref(),
        }
    }

    fn step(&mut self) -> Result<Option<(Bytes, Bytes)>> {
        if !self.started {
            self.started = true;
            self.position()?;
        }
        if self.advance_pending {
            self.advance_pending = false;
            self.inner.next()?;
        }
        while self.inner.valid() {
            let Some(p) = ParsedInternalKey::decode(self.inner.key()) else {
                return Err(Error::corruption(
                    "<iterator>",
                    0,
                    CorruptionKind::Malformed("bad internal key"),
                ));
            };
            if p.seqno > self.seqno || self.last_user_key.as_deref() == Some(p.user_key) {
                self.inner.next()?; // invisible, or shadowed by a newer version already seen
                continue;
            }
            if self.past_end(p.user_key) {
                return Ok(None);
            }
            self.last_user_key = Some(p.user_key.to_vec());
            if p.value_type == ValueType::Deletion {
                self.inner.next()?;
                continue;
            }
            let item = (Bytes::copy_from_slice(p.user_key), self.inner.value());
            self.advance_pending = true;
            return Ok(Some(item));
        }
        Ok(None)
    }
}

impl Iterator for DbIterator {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(kv)) => Some(Ok(kv)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
