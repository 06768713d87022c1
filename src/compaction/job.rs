//! Runs one [`Compaction`]: merges its inputs, keeps the newest version of each user key
//! per snapshot stripe, drops tombstones at the bottommost level when no snapshot needs
//! them, and cuts outputs at `target_file_size` on user key boundaries. The outputs are fsynced and the directory synced before the caller
//! writes the MANIFEST edit (docs/durability.md INV-13).

use super::Compaction;
use crate::error::Result;
use crate::version::level_iter::LevelIter;
use crate::iterator::merging::MergingIterator;
use crate::iterator::InternalIterator;
use crate::key::{encode_internal_key, split_expiry, ParsedInternalKey, SequenceNumber, ValueType};
use crate::options::{CompactionFilter, Decision};
use crate::range_del::{successor, FragmentedRangeTombstones};
use crate::sstable::BlockReadOptions;
use crate::version::edit::VersionEdit;
use crate::version::set::NewTable;

/// Compaction reads every input block once: caching them would only evict hot blocks.
const NO_FILL: BlockReadOptions = BlockReadOptions { fill_cache: false, verify_checksums: true };

/// Writes tables numbered by `new_table` from entries passed to `add`.
pub trait TableSink {
    /// Starts a new output table if none is open, and appends an entry to it.
    ///
    /// # Errors
    /// [`crate::error::Error::Io`] from the write.
    fn add(&mut self, ikey: &[u8], value: &[u8]) -> Result<()>;
    /// Starts a new output table if none is open, and adds a range tombstone to it.
    ///
    /// # Errors
    /// [`crate::error::Error::Io`] from creating the table.
    fn add_range_tombstone(&mut self, start: &[u8], end: &[u8], seqno: SequenceNumber) -> Result<()>;
    /// Size in bytes of the open output table so far (0 if none).
    fn current_size(&self) -> u64;
    /// Finishes the open output table, if any.
    ///
    /// # Errors
    /// [`crate::error::Error::Io`] from the write or fsync.
    fn finish_table(&mut self) -> Result<()>;
}

/// Bytes read and written by a finished job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobStats {
    /// Bytes of input tables.
    pub bytes_read: u64,
    /// Entries dropped (shadowed versions and tombstones).
    pub entries_dropped: u64,
    /// Expiring puts whose expiry had passed: dropped, or written as tombstones where a
    /// lower level may still hold older versions of the key.
    pub expired: u64,
    /// Entries the compaction filter removed or changed.
    pub filtered: u64,
    /// Range tombstone entries (fragment, sequence number) not carried to the outputs:
    /// shadowed by a newer one in their stripe, or at the bottommost level.
    pub range_tombstones_dropped: u64,
}

/// What a merge job needs besides its inputs and output.
#[derive(Debug, Clone, Copy)]
pub struct JobParams<'a> {
    /// Output tables are cut at this size, in bytes.
    pub target_file_size: u64,
    /// An output is cut once it overlaps more grandparent bytes than this.
    pub max_grandparent_overlap: u64,
    /// The live snapshots' sequence numbers, ascending.
    pub snapshots: &'a [SequenceNumber],
    /// The history floor, if history is retained: it acts as a snapshot at every sequence
    /// number from it up, so every version at or above it is kept, with the newest one
    /// below it (DESIGN.md §5.15).
    pub history_floor: Option<SequenceNumber>,
    /// The clock, Unix milliseconds: expiring puts at or past it are reclaimed.
    pub now_ms: u64,
    /// The compaction filter, if the options set one.
    pub filter: Option<&'a dyn CompactionFilter>,
}

/// Merges the inputs of `c` into `sink`, cutting outputs at `target_file_size` and when
/// an output has come to overlap more than `max_grandparent_overlap` bytes of grandparents
/// (see [`JobParams`]). `progress` grows by the key and value bytes of every entry merged.
///
/// Which versions survive, after LevelDB and RocksDB: every snapshot, plus "now", defines
/// a stripe of sequence numbers `(previous snapshot, snapshot]`. A reader at any snapshot
/// sees the newest version in its stripe or an older stripe, so for each user key only the
/// newest version *per stripe* is kept. A tombstone is dropped at the bottommost level
/// only when it lies in the oldest stripe (no snapshot predates it), so no snapshot can
/// see the versions it hides (docs/durability.md INV-06).
///
/// # Errors
/// [`crate::error::Error::Corruption`] from a damaged input; [`crate::error::Error::Io`].
pub fn run(
    c: &Compaction,
    params: &JobParams<'_>,
    sink: &mut dyn TableSink,
    progress: &std::sync::atomic::AtomicU64,
) -> Result<JobStats> {
    let JobParams { target_file_size, max_grandparent_overlap, snapshots, history_floor, now_ms, filter } = *params;
    debug_assert!(snapshots.windows(2).all(|w| w[0] < w[1]));
    let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
    if c.level == 0 {
        for t in &c.inputs {
            children.push(Box::new(t.table().iter(NO_FILL)));
        }
    } else {
        children.push(Box::new(LevelIter::new(c.inputs.clone(), NO_FILL)));
    }
    children.push(Box::new(LevelIter::new(c.output_inputs.clone(), NO_FILL)));
    let mut it = MergingIterator::new(children);
    // Snapshots at or above the floor add nothing to it.
    let below = match history_floor {
        Some(f) => &snapshots[..snapshots.partition_point(|&x| x < f)],
        None => snapshots,
    };
    // Stripe numbers grow with the sequence number; above the floor every sequence
    // number is a stripe of its own. "Now" (no snapshot sees it) is `now_stripe`.
    let stripe_of = |s: SequenceNumber| -> u64 {
        match history_floor {
            Some(f) if s > f => below.len() as u64 + (s - f),
            _ => below.partition_point(|&x| x < s) as u64,
        }
    };
    let now_stripe = if history_floor.is_some() { u64::MAX } else { snapshots.len() as u64 };
    // Range tombstones of every input, fragmented together. Each fragment keeps the newest
    // sequence number per snapshot stripe (a reader sees the newest visible one), and none
    // from the oldest stripe at the bottommost level (nothing below is left to delete).
    let covering = FragmentedRangeTombstones::new(
        c.inputs
            .iter()
            .chain(&c.output_inputs)
            .filter_map(|t| t.table().range_tombstones())
            .flat_map(|f| f.tombstones().collect::<Vec<_>>()),
    );
    let tombstones_in = covering.tombstones().count();
    // What the outputs keep; `covering`, all of them, decides which versions are hidden.
    let mut tombstones = covering.clone();
    tombstones.retain(|all, i| {
        let stripe = stripe_of(all[i]);
        let newest_in_stripe = i == 0 || stripe_of(all[i - 1]) != stripe;
        newest_in_stripe && !(c.bottommost && stripe == 0)
    });
    // The output being written covers keys from `lower` on: the previous output ended
    // (inclusively) at the key before it.
    let mut lower: Option<bytes::Bytes> = None;
    let mut last_added: Option<Vec<u8>> = None;
    it.seek_to_first()?;
    let mut stats = JobStats {
        bytes_read: c.inputs.iter().chain(&c.output_inputs).map(|t| t.meta.file_size).sum(),
        ..JobStats::default()
    };
    let mut last_user_key: Option<Vec<u8>> = None;
    let mut last_stripe: Option<u64> = None;
    // Grandparent tables passed while the current output was open, and their bytes.
    let mut gp_next = 0usize;
    let mut gp_overlap = 0u64;
    while it.valid() {
        let key = it.key();
        let p = ParsedInternalKey::decode(key).ok_or_else(|| crate::error::Error::Corruption {
            file: "<compaction input>".into(),
            offset: 0,
            kind: crate::error::CorruptionKind::Malformed("bad internal key"),
        })?;
        progress.fetch_add((key.len() + it.value().len()) as u64, std::sync::atomic::Ordering::Relaxed);
        let new_user_key = last_user_key.as_deref() != Some(p.user_key);
        if new_user_key {
            last_user_key = Some(p.user_key.to_vec());
            last_stripe = None;
        }
        // The stripe of the oldest snapshot that can see this entry (`now_stripe`: none).
        let stripe = stripe_of(p.seqno);
        let shadowed = last_stripe == Some(stripe);
        last_stripe = Some(stripe);
        // A newer range tombstone in the same stripe hides this version from every
        // reader that could see it.
        let covered = !shadowed && covered_in_stripe(&covering, p.user_key, p.seqno, &stripe_of);
        let shadowed = shadowed || covered;
        // An expiring put past its expiry reads as a tombstone for every reader, whatever
        // its snapshot (reads judge expiry by the clock, which only moves forward), so it
        // is written as one, and dropped where a tombstone would be.
        let value = it.value();
        if p.value_type == ValueType::RangeDeletion {
            return Err(crate::error::Error::Corruption {
                file: "<compaction input>".into(),
                offset: 0,
                kind: crate::error::CorruptionKind::Malformed("a range tombstone among point entries"),
            });
        }
        let expired = match p.value_type {
            ValueType::ValueWithExpiry => {
                let (ms, _) = split_expiry(&value).ok_or_else(|| crate::error::Error::Corruption {
                    file: "<compaction input>".into(),
                    offset: 0,
                    kind: crate::error::CorruptionKind::Malformed("expiring value shorter than its header"),
                })?;
                ms <= now_ms
            }
            _ => false,
        };
        let is_tombstone = p.value_type == ValueType::Deletion || expired;
        let drop_tombstone = c.bottommost && is_tombstone && stripe == 0;
        if expired && !shadowed {
            stats.expired += 1;
        }
        // The compaction filter: the key's newest version, no snapshot can see it, a live
        // put (see `CompactionFilter`'s guarantees).
        let mut decision = Decision::Keep;
        if let Some(f) = filter.filter(|_| new_user_key && !shadowed && stripe == now_stripe && !is_tombstone) {
            let (user_value, expiry) = match p.value_type {
                ValueType::ValueWithExpiry => match split_expiry(&value) {
                    Some((ms, v)) => (v, Some(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))),
                    None => (value.clone(), None),
                },
                _ => (value.clone(), None),
            };
            decision = f.filter(c.output_level, p.user_key, &user_value, expiry);
            if decision != Decision::Keep {
                stats.filtered += 1;
            }
        }
        let removed = decision == Decision::Remove;
        let drop_tombstone = drop_tombstone || (removed && c.bottommost && stripe == 0);
        if shadowed || drop_tombstone {
            stats.entries_dropped += 1;
        } else if removed {
            sink.add(&encode_internal_key(p.user_key, p.seqno, ValueType::Deletion), &[])?;
            last_added = Some(p.user_key.to_vec());
        } else if let Decision::ChangeValue(new) = &decision {
            let stored = match p.value_type {
                ValueType::ValueWithExpiry => [&value[..crate::key::EXPIRY_HEADER_LEN], &new[..]].concat(),
                _ => new.to_vec(),
            };
            sink.add(key, &stored)?;
            last_added = Some(p.user_key.to_vec());
        } else {
            // Cut only between user keys, so tables of a level never share a user key.
            if new_user_key {
                while c.grandparents.get(gp_next).is_some_and(|g| g.largest_user_key() < p.user_key) {
                    if sink.current_size() > 0 {
                        gp_overlap += c.grandparents[gp_next].file_size;
                    }
                    gp_next += 1;
                }
                let size = sink.current_size();
                if size > 0 && (size >= target_file_size || gp_overlap > max_grandparent_overlap) {
                    // The output ends at its last key: it takes the tombstone pieces up
                    // to just after that key, the next output the rest (docs/format.md
                    // §3.8, "table key ranges").
                    let upper = last_added.as_deref().map(successor);
                    add_tombstones(sink, &tombstones, lower.as_deref(), upper.as_deref())?;
                    sink.finish_table()?;
                    lower = upper;
                    gp_overlap = 0;
                }
            }
            if expired {
                sink.add(&encode_internal_key(p.user_key, p.seqno, ValueType::Deletion), &[])?;
            } else {
                sink.add(key, &value)?;
            }
            last_added = Some(p.user_key.to_vec());
        }
        it.next()?;
    }
    add_tombstones(sink, &tombstones, lower.as_deref(), None)?;
    sink.finish_table()?;
    stats.range_tombstones_dropped = (tombstones_in - tombstones.tombstones().count()) as u64;
    Ok(stats)
}

/// True if a tombstone in `t` covers version `seqno` of `key` and lies in the same
/// snapshot stripe (so no reader sees the version without the tombstone).
fn covered_in_stripe(
    t: &FragmentedRangeTombstones,
    key: &[u8],
    seqno: SequenceNumber,
    stripe_of: &dyn Fn(SequenceNumber) -> u64,
) -> bool {
    let Some(f) = t.fragment_for(key) else { return false };
    // Descending list: the oldest tombstone newer than the version is the last one above it.
    let i = f.seqnos.partition_point(|&s| s > seqno);
    i > 0 && stripe_of(f.seqnos[i - 1]) == stripe_of(seqno)
}

/// Adds the pieces of `t` inside `[lower, upper)` to the open output (opening one if
/// needed and there is any piece).
fn add_tombstones(
    sink: &mut dyn TableSink,
    t: &FragmentedRangeTombstones,
    lower: Option<&[u8]>,
    upper: Option<&[u8]>,
) -> Result<()> {
    for f in t.clipped(lower, upper) {
        for &s in &f.seqnos {
            sink.add_range_tombstone(&f.start, &f.end, s)?;
        }
    }
    Ok(())
}

/// The edit that removes the inputs of `c` and adds `outputs`.
pub fn edit_for(c: &Compaction, outputs: &[NewTable]) -> VersionEdit {
    let mut edit = VersionEdit::default();
    for t in &c.inputs {
        edit.deleted_files.push((c.level, t.meta.number));
    }
    for t in &c.output_inputs {
        edit.deleted_files.push((c.output_level, t.meta.number));
    }
    for (level, t) in outputs {
        edit.new_files.push((*level, t.meta.clone()));
    }
    edit
}
