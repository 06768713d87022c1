//! Open deletes only names the engine itself creates: a user's `notes.tmp` (or any other
//! foreign name) in the database directory survives, while the engine's own leftover
//! temporary file (`CURRENT.tmp`) is removed.

use shaledb::{Db, Options};

#[test]
fn a_users_tmp_file_survives_open_and_the_engines_does_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    Db::open(dir.path(), Options::default())
        .expect("create")
        .close()
        .expect("close");
    let foreign = [
        "notes.tmp",
        "000001.tmp",
        "backup.sst.txt",
        "MANIFEST-x.tmp",
    ];
    for name in foreign {
        std::fs::write(dir.path().join(name), b"mine").expect("write");
    }
    std::fs::write(dir.path().join("CURRENT.tmp"), b"left by a crash").expect("write");
    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    for name in foreign {
        assert_eq!(
            std::fs::read(dir.path().join(name)).expect(name),
            b"mine",
            "{name} must survive"
        );
    }
    assert!(
        !dir.path().join("CURRENT.tmp").exists(),
        "the engine's own temp file is removed"
    );
    assert!(db.recovery_report().orphans_removed >= 1);
}
