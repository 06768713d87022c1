//! Latency histograms of the write path's phases, on with
//! [`crate::Options::write_phase_histograms`]: how long a commit waits in the group-commit
//! queue, makes room (memtable switch, write stalls), appends to the WAL, syncs it and
//! inserts into the memtable, each a histogram of nanoseconds (HdrHistogram, 2
//! significant digits). RocksDB reports the same split through its `PerfContext`
//! (`write_wal_time`, `write_memtable_time`, `write_delay_time`) and its `DB_WRITE` and
//! `WAL_FILE_SYNC_MICROS` statistics histograms; like RocksDB's statistics these are off
//! by default, since a clock read costs about 25 ns and a small put takes about a
//! microsecond.
//!
//! What a sample is: [`WritePhase::Commit`] and [`WritePhase::Queue`] are per write (every
//! caller of `Db::write` and its wrappers); the other phases are per commit group, timed by
//! its leader, which is the only thread in them (it holds the `wal` lock).

use std::time::Duration;

use hdrhistogram::Histogram;
use parking_lot::Mutex;

/// A phase of a write; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePhase {
    /// From the call until the write's group is committed (or refused): what the caller
    /// waits, per write.
    Commit,
    /// From the call until the write leads a group or a leader committed it, per write.
    Queue,
    /// The leader's `make_room_for_write`: L0 slowdowns and stops, waiting for a flush,
    /// and the memtable switch (sealing the WAL, creating the next, the MANIFEST record).
    MakeRoom,
    /// The leader's WAL append (one write to the operating system, or a copy into the
    /// mapped tail).
    WalAppend,
    /// The leader's WAL fdatasync, for groups with a `sync` member.
    WalSync,
    /// The leader's memtable insert of the whole group.
    Memtable,
}

impl WritePhase {
    /// Every phase, in the order [`crate::DbStats::write_phases`] lists them.
    pub const ALL: [WritePhase; 6] = [
        WritePhase::Commit,
        WritePhase::Queue,
        WritePhase::MakeRoom,
        WritePhase::WalAppend,
        WritePhase::WalSync,
        WritePhase::Memtable,
    ];

    /// The phase's name in statistics: `commit`, `queue`, `make_room`, `wal_append`,
    /// `wal_sync`, `memtable`.
    pub fn name(self) -> &'static str {
        match self {
            WritePhase::Commit => "commit",
            WritePhase::Queue => "queue",
            WritePhase::MakeRoom => "make_room",
            WritePhase::WalAppend => "wal_append",
            WritePhase::WalSync => "wal_sync",
            WritePhase::Memtable => "memtable",
        }
    }
}

/// One phase's latency distribution since open, in microseconds.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PhaseLatency {
    /// The phase ([`WritePhase::name`]).
    pub phase: &'static str,
    /// Samples (writes or commit groups; see [`WritePhase`]).
    pub count: u64,
    /// Mean, µs.
    pub mean_us: f64,
    /// Median, µs.
    pub p50_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// 99.9th percentile, µs.
    pub p999_us: f64,
    /// Largest sample (its bucket's top, at most 1 % above), µs.
    pub max_us: f64,
    /// Sum of the samples, µs: where the time went.
    pub total_us: f64,
}

/// The histograms, one per [`WritePhase`] in [`WritePhase::ALL`]'s order.
#[derive(Debug)]
pub(crate) struct PhaseHistograms {
    h: [Mutex<Phase>; 6],
}

/// One phase's histogram and the exact sum of its samples (the histogram's own mean uses
/// its buckets' midpoints).
#[derive(Debug)]
struct Phase {
    hist: Histogram<u64>,
    sum_nanos: u128,
}

const _: () = {
    let mut i = 0;
    while i < WritePhase::ALL.len() {
        assert!(WritePhase::ALL[i] as usize == i, "WritePhase::ALL is in declaration order");
        i += 1;
    }
};

/// Longest sample kept: an hour, in nanoseconds (longer ones count as an hour).
const MAX_NANOS: u64 = 3_600_000_000_000;

impl PhaseHistograms {
    pub(crate) fn new() -> Self {
        let one = || {
            // Invariant: the bounds are valid (1 <= 2 * 1, 2 significant digits).
            let hist = Histogram::new_with_bounds(1, MAX_NANOS, 2).expect("valid histogram bounds");
            Mutex::new(Phase { hist, sum_nanos: 0 })
        };
        PhaseHistograms { h: [one(), one(), one(), one(), one(), one()] }
    }

    /// Records one sample of `phase`.
    pub(crate) fn record(&self, phase: WritePhase, took: Duration) {
        // Invariant: `ALL` lists the phases in declaration order (checked below), so a
        // phase's discriminant is its histogram's index.
        let i = phase as usize;
        let ns = u64::try_from(took.as_nanos()).unwrap_or(MAX_NANOS).clamp(1, MAX_NANOS);
        let mut p = self.h[i].lock();
        p.hist.saturating_record(ns);
        p.sum_nanos += u128::from(ns);
    }

    /// Each phase's distribution so far.
    pub(crate) fn report(&self) -> Vec<PhaseLatency> {
        WritePhase::ALL
            .iter()
            .zip(&self.h)
            .map(|(p, h)| {
                let ph = h.lock();
                let h = &ph.hist;
                let us = |ns: u64| ns as f64 / 1000.0;
                let n = h.len();
                let total_us = ph.sum_nanos as f64 / 1000.0;
                PhaseLatency {
                    phase: p.name(),
                    count: n,
                    mean_us: if n == 0 { 0.0 } else { total_us / n as f64 },
                    // Percentiles and the maximum are the buckets' highest equivalent
                    // values: at most 1 % above the samples.
                    p50_us: us(h.value_at_quantile(0.5)),
                    p99_us: us(h.value_at_quantile(0.99)),
                    p999_us: us(h.value_at_quantile(0.999)),
                    max_us: us(h.max()),
                    total_us,
                }
            })
            .collect()
    }
}
