//! The key layout of the Raft storage in its database (the table in the module docs,
//! DESIGN.md §5.17): a namespace prefix, a one-byte tag, and for the log a big-endian
//! index so that keys sort by index.

#![allow(clippy::big_endian_bytes, reason = "big-endian indexes in keys sort in numeric order")]

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{CorruptionKind, Error, Result};

/// Tag of a log entry key.
const LOG: u8 = b'l';
/// Tag of the vote.
const VOTE: u8 = b'v';
/// Tag of the committed log id.
const COMMITTED: u8 = b'c';
/// Tag of the last purged log id.
const PURGED: u8 = b'p';
/// Tag of the applied state.
const APPLIED: u8 = b'a';
/// Tag of the state machine's data.
const DATA: u8 = b'd';
/// Tag of the current snapshot's metadata.
const SNAPSHOT_META: u8 = b's';
/// Tag of the current snapshot's data chunks.
const SNAPSHOT_CHUNK: u8 = b't';

/// The keys of one Raft storage namespace.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    ns: Vec<u8>,
}

impl Keys {
    /// The keys under prefix `ns`.
    pub(crate) fn new(ns: &[u8]) -> Keys {
        Keys { ns: ns.to_vec() }
    }

    fn tagged(&self, tag: u8, rest: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.ns.len() + 1 + rest.len());
        k.extend_from_slice(&self.ns);
        k.push(tag);
        k.extend_from_slice(rest);
        k
    }

    /// `ns 'l' index:u64be`.
    pub(crate) fn log(&self, index: u64) -> Vec<u8> {
        self.tagged(LOG, &index.to_be_bytes())
    }

    /// `[first, end)` of every log key.
    pub(crate) fn log_range(&self) -> (Vec<u8>, Vec<u8>) {
        (self.tagged(LOG, &[]), self.tagged(LOG + 1, &[]))
    }

    /// The vote's key.
    pub(crate) fn vote(&self) -> Vec<u8> {
        self.tagged(VOTE, &[])
    }

    /// The committed log id's key.
    pub(crate) fn committed(&self) -> Vec<u8> {
        self.tagged(COMMITTED, &[])
    }

    /// The last purged log id's key.
    pub(crate) fn purged(&self) -> Vec<u8> {
        self.tagged(PURGED, &[])
    }

    /// The applied state's key.
    pub(crate) fn applied(&self) -> Vec<u8> {
        self.tagged(APPLIED, &[])
    }

    /// `ns 'd' key`: the state machine's key `key`.
    pub(crate) fn data(&self, key: &[u8]) -> Vec<u8> {
        self.tagged(DATA, key)
    }

    /// The application key of a data key, `None` for anything else.
    pub(crate) fn data_key<'k>(&self, key: &'k [u8]) -> Option<&'k [u8]> {
        key.strip_prefix(self.ns.as_slice())?.strip_prefix(&[DATA])
    }

    /// `[first, end)` of every data key.
    pub(crate) fn data_range(&self) -> (Vec<u8>, Vec<u8>) {
        (self.tagged(DATA, &[]), self.tagged(DATA + 1, &[]))
    }

    /// The current snapshot's metadata key.
    pub(crate) fn snapshot_meta(&self) -> Vec<u8> {
        self.tagged(SNAPSHOT_META, &[])
    }

    /// `ns 't' chunk:u64be`.
    pub(crate) fn snapshot_chunk(&self, chunk: u64) -> Vec<u8> {
        self.tagged(SNAPSHOT_CHUNK, &chunk.to_be_bytes())
    }

    /// `[first, end)` of every snapshot chunk key.
    pub(crate) fn snapshot_chunk_range(&self) -> (Vec<u8>, Vec<u8>) {
        (self.tagged(SNAPSHOT_CHUNK, &[]), self.tagged(SNAPSHOT_CHUNK + 1, &[]))
    }
}

/// Encodes a stored value (serde JSON).
pub(crate) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Serializing plain data structs and enums to a Vec cannot fail (no maps with
    // non-string keys, no I/O); an empty value would fail to decode loudly.
    serde_json::to_vec(v).unwrap_or_default()
}

/// Decodes a stored value; `what` names it in the error.
///
/// # Errors
/// [`Error::Corruption`] naming the database directory `dir` when the bytes are not a
/// value this module wrote.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], dir: &Path, what: &'static str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|_| Error::Corruption {
        file: dir.to_path_buf(),
        offset: 0,
        kind: CorruptionKind::Malformed(what),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_keys_sort_by_index_and_round_trip() {
        let k = Keys::new(b"raft/");
        let idx = [0u64, 1, 255, 256, 1 << 40, u64::MAX];
        for w in idx.windows(2) {
            assert!(k.log(w[0]) < k.log(w[1]));
        }
        for i in idx {
            assert_eq!(k.log(i)[6..], i.to_be_bytes());
            let (lo, hi) = k.log_range();
            assert!(lo <= k.log(i) && k.log(i) < hi);
        }
        assert_eq!(k.data_key(&k.data(b"x")), Some(&b"x"[..]));
        let (lo, hi) = k.data_range();
        assert!(lo <= k.data(&[0xff; 4]) && k.data(&[0xff; 4]) < hi);
    }
}
