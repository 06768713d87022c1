//! Installing a received Raft snapshot is atomic across a power failure: on the simulated
//! file system, the power fails after every file operation of an install in turn (and
//! every sync), and each crash image (docs/durability.md §3.5's modes) reopens to exactly
//! the old state or exactly the new one: data, last applied log id, membership and stored
//! snapshot together, and the new one whenever the install had returned.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, LogId, Membership, SnapshotMeta, StoredMembership};
use shaledb::crash::enumerate::sim_options;
use shaledb::fs::sim::{CrashMode, SimFs, SimRng};
use shaledb::fs::FileSystem;
use shaledb::raft::snapshot::SnapshotWriter;
use shaledb::raft::{Command, StateMachine, StateTxn};
use shaledb::Db;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Noop;

impl Command<()> for Noop {
    fn apply(&self, _: &mut StateTxn<'_>) -> shaledb::Result<()> {
        Ok(())
    }
}

openraft::declare_raft_types!(Config: D = Noop, R = ());

const DIR: &str = "/db";

/// A snapshot: its metadata, its stream and the state it holds.
struct Image {
    meta: SnapshotMeta<u64, openraft::BasicNode>,
    data: Vec<u8>,
    pairs: BTreeMap<Vec<u8>, Vec<u8>>,
}

fn image(name: &str, index: u64, voters: &[u64], keys: usize) -> Image {
    let pairs: BTreeMap<Vec<u8>, Vec<u8>> = (0..keys)
        .map(|i| {
            (
                format!("{name}-{i:04}").into_bytes(),
                format!("{name}{i}").repeat(5).into_bytes(),
            )
        })
        .collect();
    let mut w = SnapshotWriter::new();
    for (k, v) in &pairs {
        w.add(k, v);
    }
    let log_id = LogId::new(CommittedLeaderId::new(index, 0), index);
    let voters: BTreeSet<u64> = voters.iter().copied().collect();
    Image {
        meta: SnapshotMeta {
            last_log_id: Some(log_id),
            last_membership: StoredMembership::new(Some(log_id), Membership::new(vec![voters], ())),
            snapshot_id: name.to_owned(),
        },
        data: w.finish(),
        pairs,
    }
}

fn open(fs: &SimFs) -> shaledb::Result<(Arc<Db>, StateMachine<Config>)> {
    let db = Arc::new(Db::open(DIR, sim_options(fs))?);
    let (_log, sm) = shaledb::raft::open::<Config>(db.clone(), b"r/")?;
    Ok((db, sm))
}

async fn install(sm: &mut StateMachine<Config>, img: &Image) -> bool {
    sm.install_snapshot(&img.meta, Box::new(Cursor::new(img.data.clone())))
        .await
        .is_ok()
}

/// A database holding snapshot `old` installed; returns it open.
async fn with_old(fs: &SimFs, old: &Image) -> (Arc<Db>, StateMachine<Config>) {
    fs.create_dir_all(Path::new(DIR)).expect("mkdir");
    let (db, mut sm) = open(fs).expect("open");
    assert!(install(&mut sm, old).await, "installing the old snapshot");
    (db, sm)
}

/// Which of `old` and `new` the reopened image holds; panics if neither, whole.
async fn state_of(img: &SimFs, old: &Image, new: &Image, what: &str) -> &'static str {
    let (db, mut sm) = open(img).unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
    let (applied, membership) = sm.applied_state().await.expect("applied state");
    let pairs: BTreeMap<Vec<u8>, Vec<u8>> = sm
        .reader()
        .pairs()
        .expect("pairs")
        .into_iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect();
    let current = sm
        .get_current_snapshot()
        .await
        .expect("current snapshot")
        .map(|s| s.meta);
    let _ = db.close();
    for (name, s) in [("old", old), ("new", new)] {
        if applied == s.meta.last_log_id {
            assert_eq!(
                membership, s.meta.last_membership,
                "{what}: {name} log id, other membership"
            );
            assert!(
                pairs == s.pairs,
                "{what}: {name} log id but not its data ({} keys)",
                pairs.len()
            );
            assert_eq!(
                current.as_ref(),
                Some(&s.meta),
                "{what}: {name} state, other stored snapshot"
            );
            return name;
        }
    }
    panic!("{what}: applied {applied:?} is neither snapshot's");
}

#[test]
fn a_crash_during_install_leaves_the_old_or_the_new_state() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let old = image("old", 10, &[1, 2, 3], 200);
        let new = image("new", 20, &[1, 2], 300);

        // Dry run: the file operations an install takes.
        let dry = SimFs::new();
        let (_db, mut sm) = with_old(&dry, &old).await;
        let base = dry.ops();
        assert!(install(&mut sm, &new).await);
        let end = dry.ops();
        assert!(end > base + 3, "the install did file operations");
        let mut points: Vec<u64> = (base + 1..=end).collect();
        points.extend(dry.sync_ops().into_iter().filter(|&p| p > base));
        points.sort_unstable();
        points.dedup();

        let (mut saw_old, mut saw_new) = (0, 0);
        for &k in &points {
            let fs = SimFs::new();
            let (db, mut sm) = with_old(&fs, &old).await;
            assert_eq!(fs.ops(), base, "the runs are deterministic");
            fs.crash_after(k);
            let returned = install(&mut sm, &new).await;
            drop(sm);
            drop(db);
            for (mi, &mode) in CrashMode::ALL.iter().enumerate() {
                let img = fs.crash_image(mode, &mut SimRng::new(k << 8 | mi as u64));
                let what = format!(
                    "crash after op {k} ({} of {base}..{end}), image {}",
                    k - base,
                    mode.name()
                );
                match state_of(&img, &old, &new, &what).await {
                    "old" => {
                        assert!(
                            !returned,
                            "{what}: the install returned but its state is lost"
                        );
                        saw_old += 1;
                    }
                    _ => saw_new += 1,
                }
            }
        }
        eprintln!(
            "{} crash points in {base}..{end}: {saw_old} images old, {saw_new} new",
            points.len()
        );
        assert!(
            saw_old > 0 && saw_new > 0,
            "crashes hit both sides: {saw_old} old, {saw_new} new"
        );
    });
}
