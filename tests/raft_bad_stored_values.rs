//! Bad input to the Raft storage gets typed errors, never a panic or wrong data: a damaged
//! stored value at open, a damaged newest log entry at open, and a damaged snapshot stream at
//! install (which then changes nothing).

use std::io::Cursor;
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, LogId, Membership, SnapshotMeta, StoredMembership};
use shaledb::raft::snapshot::SnapshotWriter;
use shaledb::raft::{Command, StateTxn};
use shaledb::{Db, Error, Options};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Noop;

impl Command<()> for Noop {
    fn apply(&self, _: &mut StateTxn<'_>) -> shaledb::Result<()> {
        Ok(())
    }
}

openraft::declare_raft_types!(Config: D = Noop, R = ());

fn db() -> (tempfile::TempDir, Arc<Db>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Arc::new(Db::open(dir.path(), Options::default()).expect("open"));
    (dir, db)
}

#[test]
fn a_damaged_last_purged_log_id_fails_the_open_naming_the_database() {
    let (dir, db) = db();
    db.put(b"raft/p", b"{not json").expect("put");
    match shaledb::raft::open::<Config>(db, b"raft/") {
        Err(Error::Corruption { file, .. }) => assert_eq!(file, dir.path()),
        Err(e) => panic!("expected Corruption, got {e}"),
        Ok(_) => panic!("a damaged stored value was accepted"),
    }
}

#[test]
fn a_damaged_log_entry_fails_the_open() {
    let (_dir, db) = db();
    let mut key = b"raft/l".to_vec();
    key.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
    db.put(&key, b"\xff\xfe").expect("put");
    // The reverse seek at open reads the newest entry, so the damage shows there.
    match shaledb::raft::open::<Config>(db, b"raft/") {
        Err(Error::Corruption { .. }) => {}
        Err(e) => panic!("expected Corruption, got {e}"),
        Ok(_) => panic!("a damaged log entry was accepted"),
    }
}

#[test]
fn a_damaged_snapshot_stream_is_refused_and_changes_nothing() {
    let (_dir, db) = db();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (_log, mut sm) = shaledb::raft::open::<Config>(db.clone(), b"raft/").expect("open");
        let mut w = SnapshotWriter::new();
        w.add(b"k", b"v");
        let mut data = w.finish();
        let mid = data.len() / 2;
        data[mid] ^= 1;
        let log_id = LogId::new(CommittedLeaderId::new(1, 0), 5);
        let meta = SnapshotMeta {
            last_log_id: Some(log_id),
            last_membership: StoredMembership::new(
                Some(log_id),
                Membership::new(vec![[1u64].into()], ()),
            ),
            snapshot_id: "damaged".into(),
        };
        let r = sm
            .install_snapshot(&meta, Box::new(Cursor::new(data)))
            .await;
        let e = r.expect_err("a damaged stream must be refused");
        assert!(e.to_string().contains("raft snapshot damaged"), "{e}");
        assert_eq!(sm.applied_state().await.expect("applied").0, None);
        assert!(sm.reader().pairs().expect("pairs").is_empty());
        assert!(sm.get_current_snapshot().await.expect("current").is_none());
    });
}
