//! Picker tests on synthetic levels: no disk, no engine.

use bytes::Bytes;

use super::*;
use crate::key::{encode_internal_key, ValueType};

const MIB: u64 = 1 << 20;

fn f(number: u64, lo: &str, hi: &str, size: u64) -> FileMetaData {
    FileMetaData {
        number,
        file_size: size,
        smallest: Bytes::from(encode_internal_key(lo.as_bytes(), number * 10 + 1, ValueType::Value)),
        largest: Bytes::from(encode_internal_key(hi.as_bytes(), number * 10, ValueType::Value)),
        smallest_seqno: number * 10,
        largest_seqno: number * 10 + 1,
    }
}

fn opts() -> PickerOptions {
    PickerOptions { level0_trigger: 4, base_bytes: 256 * MIB, multiplier: 10, target_file_size: 64 * MIB }
}

fn empty() -> Vec<Vec<FileMetaData>> {
    vec![Vec::new(); NUM_LEVELS]
}

fn never_busy() -> Claims {
    Claims::default()
}

fn busy_file(n: u64) -> Claims {
    let mut c = Claims::default();
    c.files.insert(n);
    c
}

#[test]
fn small_database_compacts_l0_straight_into_the_last_level() {
    let mut levels = empty();
    for n in 1..=3 {
        levels[0].push(f(n, "a", "z", MIB));
    }
    assert_eq!(pick(&levels, &opts(), &never_busy()), None, "3 tables are below the trigger");
    levels[0].push(f(4, "a", "z", MIB));
    let p = pick(&levels, &opts(), &never_busy()).expect("L0 at its trigger");
    assert_eq!((p.level, p.output_level), (0, LAST_LEVEL));
    assert_eq!(p.inputs, vec![1, 2, 3, 4]);
    assert!((p.score - 1.0).abs() < 1e-9);
    assert!(p.bottommost);
    assert!(!p.trivial_move, "four inputs must be merged");
}

#[test]
fn dynamic_targets_grow_upward_from_the_last_level() {
    let mut levels = empty();
    levels[6].push(f(1, "a", "z", 3 * 1024 * MIB));
    let t = level_targets(&levels, &opts());
    assert_eq!(t.base_level, 5);
    assert_eq!(t.targets[5], 3 * 1024 * MIB / 10);
    assert_eq!(t.targets[4], 0);
    levels[6][0].file_size = 30 * 1024 * MIB;
    let t = level_targets(&levels, &opts());
    assert_eq!(t.base_level, 4);
    assert_eq!(t.targets[4], 30 * 1024 * MIB / 100);
    let t = level_targets(&empty(), &opts());
    assert_eq!(t.base_level, LAST_LEVEL, "an empty database has its base level at the bottom");
}

#[test]
fn over_target_level_picks_the_table_with_least_overlap() {
    let mut levels = empty();
    levels[6] = vec![f(10, "a", "f", 1000 * MIB), f(11, "g", "m", 1000 * MIB), f(12, "n", "z", 1000 * MIB)];
    // Base level 5 with a target of 300 MiB holds 400 MiB: score 4/3.
    levels[5] = vec![f(20, "b", "c", 100 * MIB), f(21, "h", "i", 100 * MIB), f(22, "u", "v", 200 * MIB)];
    let s = scores(&levels, &opts());
    assert!(s[5] > 1.3 && s[5] < 1.34, "score {}", s[5]);
    let p = pick(&levels, &opts(), &never_busy()).expect("L5 over target");
    // Table 22 overlaps 1000 MiB for 200 MiB of its own (ratio 5); the others ratio 10.
    assert_eq!((p.level, p.inputs.clone(), p.output_level), (5, vec![22], 6));
    assert_eq!(p.output_inputs, vec![12]);
    assert!(p.bottommost);
    assert!(!p.trivial_move);
}

#[test]
fn table_with_nothing_below_moves_trivially() {
    let mut levels = empty();
    levels[6] = vec![f(10, "a", "c", 3000 * MIB)];
    levels[5] = vec![f(20, "x", "y", 400 * MIB)];
    let p = pick(&levels, &opts(), &never_busy()).expect("L5 over target");
    assert_eq!(p.inputs, vec![20]);
    assert!(p.output_inputs.is_empty());
    assert!(p.trivial_move);
}

#[test]
fn large_grandparent_overlap_forbids_a_trivial_move() {
    let mut levels = empty();
    levels[6] = (0..30).map(|i| f(100 + i, &format!("k{i:02}"), &format!("k{i:02}z"), 1000 * MIB)).collect();
    let t = level_targets(&levels, &opts());
    assert_eq!(t.base_level, 4);
    // An L4 table over target, with nothing in L5 but 30 GiB of L6 below it.
    levels[4] = vec![f(50, "k00", "k29", 400 * MIB)];
    let p = pick(&levels, &opts(), &never_busy()).expect("L4 over target");
    assert_eq!((p.level, p.output_level), (4, 5));
    assert_eq!(p.grandparents.len(), 30);
    assert!(!p.trivial_move, "it would overlap 30 GiB of grandparents");
    assert!(!p.bottommost, "L6 holds keys of the range");
}

#[test]
fn busy_tables_are_never_picked() {
    let mut levels = empty();
    for n in 1..=4 {
        levels[0].push(f(n, "a", "z", MIB));
    }
    assert_eq!(pick(&levels, &opts(), &busy_file(3)), None, "L0 takes all of L0, and one is busy");
    let mut levels = empty();
    levels[6] = vec![f(10, "a", "f", 2000 * MIB), f(12, "n", "z", 1000 * MIB)];
    levels[5] = vec![f(20, "b", "c", 200 * MIB), f(22, "u", "v", 200 * MIB)];
    let p = pick(&levels, &opts(), &never_busy()).expect("a table");
    assert_eq!(p.inputs, vec![22], "the smaller overlap ratio wins");
    let p = pick(&levels, &opts(), &busy_file(12)).expect("the other table");
    assert_eq!(p.inputs, vec![20], "table 22 overlaps busy table 12");
}

#[test]
fn manual_compaction_rewrites_the_last_level_in_place() {
    let mut levels = empty();
    levels[6] = vec![f(10, "a", "f", MIB), f(11, "g", "m", MIB)];
    let p =
        pick_manual(&levels, &opts(), &never_busy(), 6, Some(b"h"), None).expect("not busy").expect("a plan");
    assert_eq!((p.level, p.output_level, p.inputs.clone()), (6, 6, vec![11]));
    assert!(p.bottommost && !p.trivial_move);
    assert_eq!(pick_manual(&levels, &opts(), &never_busy(), 6, Some(b"n"), None), Ok(None));
    assert_eq!(pick_manual(&levels, &opts(), &busy_file(11), 6, None, None), Err(Busy));
    levels[0] = vec![f(1, "a", "b", MIB), f(2, "x", "y", MIB)];
    let p =
        pick_manual(&levels, &opts(), &never_busy(), 0, Some(b"a"), Some(b"a")).expect("ok").expect("plan");
    assert_eq!(p.inputs, vec![1, 2], "L0 is compacted whole");
    assert_eq!(p.output_level, LAST_LEVEL);
    assert_eq!(p.output_inputs, vec![10, 11]);
}

#[test]
fn base_level_never_falls_below_a_non_empty_level() {
    let mut levels = empty();
    // L6 shrank (say, deletes were dropped) while L5 still holds a table.
    levels[6] = vec![f(10, "a", "c", 100 * MIB)];
    levels[5] = vec![f(20, "m", "n", 10 * MIB)];
    let t = level_targets(&levels, &opts());
    assert_eq!(t.base_level, 5, "L0 must compact into L5, above the older data in L6");
    assert_eq!(t.targets[5], 256 * MIB);
    for n in 1..=4 {
        levels[0].push(f(n, "a", "z", MIB));
    }
    let p = pick(&levels, &opts(), &never_busy()).expect("L0 at trigger");
    assert_eq!(p.output_level, 5);
    assert_eq!(p.output_inputs, vec![20]);
    assert!(!p.bottommost, "L6 holds keys of the range");
}

#[test]
fn claimed_output_ranges_exclude_overlapping_plans() {
    let mut levels = empty();
    levels[6] = vec![f(10, "a", "c", 1000 * MIB), f(11, "x", "z", 2000 * MIB)];
    levels[5] = vec![f(20, "m", "n", 400 * MIB)];
    assert!(pick(&levels, &opts(), &never_busy()).expect("L5 over target").trivial_move);
    // A rewrite of L6 in place claims [a, z] of L6: moving table 20 into the gap would
    // overlap its outputs.
    let mut claims = Claims::default();
    claims.claim([10, 11], 6, b"a", b"z");
    assert_eq!(pick(&levels, &opts(), &claims), None);
    claims.release([10, 11], 6, b"a", b"z");
    assert_eq!(claims, Claims::default());
}
