//! `shale put --ttl` writes an expiring key and `scan --expiry` shows its expiry, as a
//! third column or as `expires_at_ms` in JSON.

mod common;

#[test]
fn put_with_ttl_and_scan_with_expiry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("now")
        .as_millis();
    assert!(
        common::shale_db(&db, &["put", "session", "abc", "--ttl", "1h"])
            .status
            .success()
    );
    assert!(common::shale_db(&db, &["put", "config", "x"])
        .status
        .success());
    let out = common::shale_db(&db, &["scan", "--expiry", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["key"], "config");
    assert!(lines[0]["expires_at_ms"].is_null());
    let exp = u128::from(lines[1]["expires_at_ms"].as_u64().expect("an expiry"));
    assert!(
        exp >= before + 3_600_000 && exp < before + 3_660_000,
        "{exp} vs {before}"
    );
    let out = common::shale_db(&db, &["scan", "--expiry"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("config\tx\t-\nsession\tabc\t"), "{text}");
    let bad = common::shale_db(&db, &["put", "k", "v", "--ttl", "5 days"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "a bad duration is a usage error"
    );
}
