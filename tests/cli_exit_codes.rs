//! The `shale` binary keeps the engine's typed error up to `main` and exits with the
//! documented code (README.md, "Exit codes"); with `--json` it prints the error's kind.

mod common;

use shaledb::{Db, Options};

fn code(out: &std::process::Output) -> i32 {
    out.status.code().expect("exited, not killed")
}

#[test]
fn each_error_kind_has_its_exit_code() {
    let base = tempfile::tempdir().expect("tempdir");
    let dir = base.path().join("db");
    assert_eq!(code(&common::shale_db(&dir, &["put", "k", "v"])), 0);

    // 1: get of an absent key.
    let out = common::shale_db(&dir, &["get", "absent"]);
    assert_eq!(code(&out), 1);
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "not found");

    // 2: usage (no database given).
    let out = common::shale(&["stats".as_ref()]);
    assert_eq!(code(&out), 2, "{}", String::from_utf8_lossy(&out.stderr));

    // 4: locked by another handle.
    {
        let _held = Db::open(&dir, Options::default()).expect("open in-process");
        let out = common::shale_db(&dir, &["stats", "--json"]);
        assert_eq!(code(&out), 4, "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("a JSON error object");
        assert_eq!(v["error"]["kind"], "locked");
        assert_eq!(v["error"]["exit_code"], 4);
    }

    // 5: I/O (a table that does not exist).
    let missing = base.path().join("nope.sst");
    let out = common::shale(&["dump".as_ref(), "sst".as_ref(), missing.as_os_str()]);
    assert_eq!(code(&out), 5, "{}", String::from_utf8_lossy(&out.stderr));

    // 3: corruption (a damaged CURRENT), typed and named.
    let current = dir.join("CURRENT");
    let mut bytes = std::fs::read(&current).expect("read CURRENT");
    bytes[0] ^= 0x01;
    std::fs::write(&current, &bytes).expect("write CURRENT");
    let out = common::shale_db(&dir, &["stats", "--json"]);
    assert_eq!(code(&out), 3, "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON error object");
    assert_eq!(v["error"]["kind"], "corruption");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("CURRENT")),
        "{v}"
    );
    // verify reports the problem with the same code.
    assert_eq!(code(&common::shale_db(&dir, &["verify"])), 3);
}
