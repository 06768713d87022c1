//! A cursor over one level below L0: its tables do not overlap and are sorted by key, so
//! it walks them one after another and only the current table has a cursor open.

use std::sync::Arc;

use bytes::Bytes;

use crate::iterator::InternalIterator;
use crate::error::Result;
use crate::key::compare_internal_keys;
use crate::sstable::{BlockReadOptions, TableIter};
use super::TableHandle;

/// See the module docs.
pub struct LevelIter {
    tables: Vec<Arc<TableHandle>>,
    index: usize,
    current: Option<TableIter>,
    ro: BlockReadOptions,
}

impl LevelIter {
    /// A cursor over `tables`. **Requires:** sorted by key and non-overlapping.
    pub fn new(tables: Vec<Arc<TableHandle>>, ro: BlockReadOptions) -> Self {
        LevelIter { tables, index: 0, current: None, ro }
    }

    fn open(&mut self, i: usize) {
        self.index = i;
        self.current = self.tables.get(i).map(|t| t.table().iter(self.ro));
    }

    fn skip_forward(&mut self) -> Result<()> {
        while self.current.as_ref().is_some_and(|c| !c.valid()) {
            self.open(self.index + 1);
            if let Some(c) = self.current.as_mut() {
                c.seek_to_first()?;
            }
        }
        Ok(())
    }

    fn skip_backward(&mut self) -> Result<()> {
        while self.current.as_ref().is_some_and(|c| !c.valid()) {
            if self.index == 0 {
                self.current = None;
                return Ok(());
            }
            self.open(self.index - 1);
            if let Some(c) = self.current.as_mut() {
                c.seek_to_last()?;
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
        self.skip_forward()
    }
    fn seek_to_last(&mut self) -> Result<()> {
        if self.tables.is_empty() {
            self.current = None;
            return Ok(());
        }
        self.open(self.tables.len() - 1);
        if let Some(c) = self.current.as_mut() {
            c.seek_to_last()?;
        }
        self.skip_backward()
    }
    fn seek(&mut self, target: &[u8]) -> Result<()> {
        let i = self.tables.partition_point(|t| compare_internal_keys(&t.meta.largest, target).is_lt());
        self.open(i);
        if let Some(c) = self.current.as_mut() {
            c.seek(target)?;
        }
        self.skip_forward()
    }
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        // The last table whose smallest key is <= target.
        let i = self.tables.partition_point(|t| compare_internal_keys(&t.meta.smallest, target).is_le());
        if i == 0 {
            self.current = None;
            return Ok(());
        }
        self.open(i - 1);
        if let Some(c) = self.current.as_mut() {
            c.seek_for_prev(target)?;
        }
        self.skip_backward()
    }
    fn next(&mut self) -> Result<()> {
        if let Some(c) = self.current.as_mut() {
            c.next()?;
        }
        self.skip_forward()
    }
    fn prev(&mut self) -> Result<()> {
        if let Some(c) = self.current.as_mut() {
            c.prev()?;
        }
        self.skip_backward()
    }
    fn key(&self) -> &[u8] {
        self.current.as_ref().map_or(&[], InternalIterator::key)
    }
    fn value(&self) -> Bytes {
        self.current.as_ref().map_or_else(Bytes::new, InternalIterator::value)
    }
}
