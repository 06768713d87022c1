//! A cursor over one level below L0: its tables do not overlap and are sorted by key, so
//! it walks them one after another and only the current table has a cursor open.

use std::sync::Arc;

use bytes::Bytes;

use super::InternalIterator;
use crate::error::Result;
use crate::key::compare_internal_keys;
use crate::sstable::TableIter;
use crate::version::TableHandle;

/// See the module docs.
pub struct LevelIter {
    tables: Vec<Arc<TableHandle>>,
    index: usize,
    current: Option<TableIter>,
}

impl LevelIter {
    /// A cursor over `tables`. **Requires:** sorted by key and non-overlapping.
    pub fn new(tables: Vec<Arc<TableHandle>>) -> Self {
        LevelIter { tables, index: 0, current: None }
    }

    fn open(&mut self, i: usize) {
        self.index = i;
        self.current = self.tables.get(i).map(|t| t.table().iter());
    }

    fn skip_exhausted(&mut self) -> Result<()> {
        while self.current.as_ref().is_some_and(|c| !c.valid()) {
            self.open(self.index + 1);
            if let Some(c) = self.current.as_mut() {
                c.seek_to_first()?;
            }
        }
        Ok(())
    }
}

impl InternalIterator for LevelIter {
    fn valid(&self) -> bool {
        self.current.as_ref().is_some_and(InternalIterator::valid)
    }
    fn seek_to_first(&mut self) -> Result<()> {
        self.open(0);
        if let Some(c) = self.current.as_mut() {
            c.seek_to_first()?;
        }
        self.skip_exhausted()
    }
    fn seek(&mut self, target: &[u8]) -> Result<()> {
        let i = self.tables.partition_point(|t| compare_internal_keys(&t.meta.largest, target).is_lt());
        self.open(i);
        if let Some(c) = self.current.as_mut() {
            c.seek(target)?;
        }
        self.skip_exhausted()
    }
    fn next(&mut self) -> Result<()> {
        if let Some(c) = self.current.as_mut() {
            c.next()?;
        }
        self.skip_exhausted()
    }
    fn key(&self) -> &[u8] {
        self.current.as_ref().map_or(&[], InternalIterator::key)
    }
    fn value(&self) -> Bytes {
        self.current.as_ref().map_or_else(Bytes::new, InternalIterator::value)
    }
}
