//! openraft's own storage conformance suite (`openraft::testing::Suite::test_all`,
//! openraft 0.9.25) against shaledb's Raft log store and state machine: every case runs
//! on a fresh database and must pass.

use std::io::Cursor;
use std::sync::Arc;

use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;
use serde::{Deserialize, Serialize};
use shaledb::raft::{Command, LogStore, StateMachine, StateTxn};
use shaledb::{Db, Options};

/// A command of the test application: set a key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Set {
    key: String,
    value: String,
}

/// The previous value.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Previous(Option<String>);

impl Command<Previous> for Set {
    fn apply(&self, state: &mut StateTxn<'_>) -> shaledb::Result<Previous> {
        let old = state.get(&self.key)?;
        state.put(&self.key, &self.value)?;
        Ok(Previous(
            old.map(|v| String::from_utf8_lossy(&v).into_owned()),
        ))
    }
}

openraft::declare_raft_types!(Config: D = Set, R = Previous);

struct Builder;

impl StoreBuilder<Config, LogStore<Config>, StateMachine<Config>, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore<Config>, StateMachine<Config>), StorageError<u64>>
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Arc::new(Db::open(dir.path(), Options::default()).expect("open"));
        let (log, sm) = shaledb::raft::open::<Config>(db, b"raft/").expect("raft storage");
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    if let Err(e) = Suite::test_all(Builder) {
        panic!("openraft's storage suite failed: {e}");
    }
}
