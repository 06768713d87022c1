//! `shale bench --reads N` runs N operations of the random-read workloads over keys drawn
//! from all `--num` keys (db_bench's `--reads`); the other workloads still run `--num`.

mod common;

#[test]
fn reads_sets_the_operations_of_the_read_workloads_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let o = common::shale_db(
        &db,
        &[
            "bench",
            "--benchmarks",
            "fillrandom,readrandom,readmissing,seekrandom",
            "--num",
            "3000",
            "--reads",
            "500",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let rows = out["results"].as_array().expect("results array");
    let ops: Vec<(String, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["benchmark"].as_str().expect("name").to_owned(),
                r["ops"].as_u64().expect("ops"),
            )
        })
        .collect();
    assert_eq!(
        ops,
        [
            ("fillrandom", 3000),
            ("readrandom", 500),
            ("readmissing", 500),
            ("seekrandom", 500)
        ]
        .map(|(n, o)| (n.to_owned(), o))
    );
    // Keys come from the whole fill range: most of the 500 reads find their key (about
    // 63 % of 3,000 random fills are distinct keys).
    let note = rows[1]["note"].as_str().expect("note");
    let found: u64 = note
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("found count");
    assert!((200..500).contains(&found), "{note}");
}
