//! A transaction's reads see its own writes over its snapshot: `get`, `multi_get`, and
//! iterators in both directions (a buffered put replaces or adds an entry, a buffered
//! delete or range delete hides one, a put after a range delete survives it), checked
//! against a `BTreeMap` model over many mixed cases.

use std::collections::BTreeMap;

use shaledb::{Db, Options};

fn open() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    (dir, db)
}

#[test]
fn get_and_iterators_merge_own_writes_over_the_snapshot() {
    let (_dir, db) = open();
    for i in (0..20).step_by(2) {
        db.put(format!("k{i:02}"), format!("base{i}")).expect("put");
    }
    let mut t = db.transaction();
    // Committed after the snapshot: invisible to the transaction.
    db.put(b"k05", b"later").expect("put");
    t.put(b"k03", b"own3").expect("put");
    t.put(b"k04", b"own4").expect("put");
    t.delete(b"k06").expect("delete");
    t.delete_range(b"k10", b"k14").expect("delete_range");
    t.put(b"k11", b"own11").expect("put");
    t.put(b"k99", b"own99").expect("put");

    let mut model: BTreeMap<String, String> = (0..20)
        .step_by(2)
        .map(|i| (format!("k{i:02}"), format!("base{i}")))
        .collect();
    model.insert("k03".into(), "own3".into());
    model.insert("k04".into(), "own4".into());
    model.remove("k06");
    model.remove("k10");
    model.remove("k12");
    model.insert("k11".into(), "own11".into());
    model.insert("k99".into(), "own99".into());

    let as_strings =
        |it: &mut dyn Iterator<Item = shaledb::Result<(shaledb::Bytes, shaledb::Bytes)>>| {
            it.map(|r| {
                let (k, v) = r.expect("entry");
                (
                    String::from_utf8(k.to_vec()).expect("utf8"),
                    String::from_utf8(v.to_vec()).expect("utf8"),
                )
            })
            .collect::<Vec<_>>()
        };
    let want: Vec<_> = model.clone().into_iter().collect();
    assert_eq!(as_strings(&mut t.iter()), want);
    let mut rev = want.clone();
    rev.reverse();
    assert_eq!(as_strings(&mut t.iter().rev()), rev);
    // Ranges and prefixes.
    let want_range: Vec<_> = model
        .range("k03".to_string().."k12".to_string())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(
        as_strings(&mut t.range(b"k03".as_slice()..b"k12".as_slice())),
        want_range
    );
    let want_prefix: Vec<_> = model
        .iter()
        .filter(|(k, _)| k.starts_with("k1"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(as_strings(&mut t.prefix(b"k1")), want_prefix);
    // Both ends at once meet exactly once.
    for split in 0..=want.len() {
        let mut it = t.iter();
        let mut front: Vec<_> = Vec::new();
        for _ in 0..split {
            if let Some(r) = it.next() {
                front.push(r.expect("entry"));
            }
        }
        let mut back: Vec<_> = it.rev().map(|r| r.expect("entry")).collect();
        back.reverse();
        front.extend(back);
        assert_eq!(front.len(), want.len(), "split at {split}");
    }
    // Point reads.
    for (k, v) in &model {
        assert_eq!(t.get(k).expect("get").as_deref(), Some(v.as_bytes()), "{k}");
    }
    for k in ["k06", "k10", "k12", "k05", "k01"] {
        assert_eq!(t.get(k).expect("get"), None, "{k}");
    }
    let got = t.multi_get(&["k03", "k06", "k11"]);
    assert_eq!(got[0].as_ref().expect("get").as_deref(), Some(&b"own3"[..]));
    assert_eq!(got[1].as_ref().expect("get"), &None);
    assert_eq!(
        got[2].as_ref().expect("get").as_deref(),
        Some(&b"own11"[..])
    );
    // After commit, the database holds exactly the model (plus the later put).
    t.commit().expect("commit");
    model.insert("k05".into(), "later".into());
    let all: Vec<_> = as_strings(&mut db.iter());
    assert_eq!(all, model.into_iter().collect::<Vec<_>>());
}
