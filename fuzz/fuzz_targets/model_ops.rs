//! Model-based fuzzing: an arbitrary sequence of put, delete, batch, flush, compact,
//! snapshot, iterate and reopen operations, with simulated crashes (power loss: synced data
//! only) at arbitrary points, compared against a `BTreeMap` model. After a crash, only the
//! synced prefix is required; the model is rebased on what recovered.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use shaledb::fs::sim::{CrashMode, SimFs, SimRng};
use shaledb::fs::FileSystem;
use shaledb::{Db, Options, WriteBatch, WriteOptions};

#[derive(Arbitrary, Debug)]
enum Op {
    Put { key: u8, len: u8, sync: bool },
    Delete { key: u8, sync: bool },
    Batch { keys: Vec<(u8, Option<u8>)> },
    Flush,
    Compact,
    Snapshot,
    Iterate { reverse: bool },
    Reopen,
    Crash { seed: u16 },
}

fn options(fs: &SimFs) -> Options {
    Options::default()
        .file_system(Arc::new(fs.clone()))
        .inline_background(true)
        .mmap_reads(false)
        .write_buffer_size(4096)
        .block_size(256)
        .target_file_size(4096)
        .max_bytes_for_level_base(8192)
        .level0_file_num_compaction_trigger(2)
}

fn value(key: u8, len: u8, n: usize) -> Vec<u8> {
    let mut v = format!("{key}:{n}:").into_bytes();
    v.resize(v.len() + usize::from(len), key);
    v
}

fn contents(db: &Db) -> BTreeMap<Vec<u8>, Vec<u8>> {
    db.iter().map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("iterate")).collect()
}

fuzz_target!(|ops: Vec<Op>| {
    let mut fs = SimFs::new();
    fs.create_dir_all(Path::new("/db")).expect("mkdir");
    let mut db = Db::open("/db", options(&fs)).expect("open");
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    // Keys written since the last point at which everything was durable (a synced write,
    // a flush, a compaction, a reopen): after a power loss, every other key must read
    // exactly as the model says.
    let mut touched: std::collections::HashSet<u8> = std::collections::HashSet::new();
    let mut snaps = Vec::new();
    for (n, op) in ops.iter().take(300).enumerate() {
        match op {
            Op::Put { key, len, sync } => {
                let mut b = WriteBatch::new();
                b.put([*key], value(*key, *len, n));
                db.write_opt(b, &WriteOptions { sync: *sync }).expect("put");
                model.insert(vec![*key], value(*key, *len, n));
                touched.insert(*key);
                if *sync {
                    touched.clear();
                }
            }
            Op::Delete { key, sync } => {
                let mut b = WriteBatch::new();
                b.delete([*key]);
                db.write_opt(b, &WriteOptions { sync: *sync }).expect("delete");
                model.remove(&vec![*key]);
                touched.insert(*key);
                if *sync {
                    touched.clear();
                }
            }
            Op::Batch { keys } => {
                let mut b = WriteBatch::new();
                for (k, v) in keys.iter().take(32) {
                    match v {
                        Some(l) => {
                            b.put([*k], value(*k, *l, n));
                            model.insert(vec![*k], value(*k, *l, n));
                        }
                        None => {
                            b.delete([*k]);
                            model.remove(&vec![*k]);
                        }
                    }
                    touched.insert(*k);
                }
                db.write(b).expect("batch");
            }
            Op::Flush => {
                db.flush().expect("flush");
                // A flush writes the memtable to a synced table: all of it is durable.
                touched.clear();
            }
            Op::Compact => {
                db.compact_range(None, None).expect("compact");
                touched.clear();
            }
            Op::Snapshot => snaps.push((db.snapshot(), model.clone())),
            Op::Iterate { reverse } => {
                let got: Vec<_> = if *reverse {
                    let mut v: Vec<_> =
                        db.iter().rev().map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("iterate")).collect();
                    v.reverse();
                    v
                } else {
                    contents(&db).into_iter().collect()
                };
                assert_eq!(got, model.clone().into_iter().collect::<Vec<_>>());
            }
            Op::Reopen => {
                snaps.clear();
                drop(db);
                db = Db::open("/db", options(&fs)).expect("reopen");
                assert_eq!(contents(&db), model);
                touched.clear();
            }
            Op::Crash { seed } => {
                snaps.clear();
                // The image is taken before the handle is dropped: a power loss gives no
                // chance to close.
                let img = fs.crash_image(CrashMode::Durable, &mut SimRng::new(u64::from(*seed) + 1));
                drop(db);
                fs = img;
                db = Db::open("/db", options(&fs)).expect("open after a crash");
                let got = contents(&db);
                // Keys untouched since everything was durable read exactly as before; the
                // rest may be at any later point. What recovered becomes the new model.
                for k in 0..=u8::MAX {
                    if !touched.contains(&k) {
                        assert_eq!(got.get(&vec![k]), model.get(&vec![k]), "durable key {k} changed");
                    }
                }
                model = got;
                touched.clear();
            }
        }
        for (s, m) in &snaps {
            let got: BTreeMap<Vec<u8>, Vec<u8>> =
                s.iter().map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("snapshot iterate")).collect();
            assert_eq!(&got, m, "a snapshot changed");
        }
    }
});
