//! Documented limits: keys up to 64 KiB and values up to 64 MiB work, through flush and
//! reopen; one byte more is `Error::InvalidArgument`; the empty key is an ordinary key.

use shaledb::{Db, Error, Options, WriteBatch, MAX_KEY_SIZE, MAX_VALUE_SIZE};

#[test]
fn largest_key_and_value_work_and_one_more_byte_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big_key = vec![b'k'; MAX_KEY_SIZE];
    let big_value: Vec<u8> = (0..MAX_VALUE_SIZE).map(|i| (i % 251) as u8).collect();
    {
        let db = Db::open(dir.path(), Options::default()).expect("open");
        db.put(&big_key, b"v").expect("64 KiB key");
        db.put(b"big", &big_value).expect("64 MiB value");
        assert!(matches!(
            db.put(vec![0u8; MAX_KEY_SIZE + 1], b"v"),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            db.put(b"k", vec![0u8; MAX_VALUE_SIZE + 1]),
            Err(Error::InvalidArgument(_))
        ));
        let mut b = WriteBatch::new();
        b.put(b"ok", b"ok");
        b.delete(vec![0u8; MAX_KEY_SIZE + 1]);
        assert!(matches!(db.write(b), Err(Error::InvalidArgument(_))));
        assert_eq!(
            db.get(b"ok").expect("get"),
            None,
            "a rejected batch writes nothing"
        );
        db.flush().expect("flush");
        assert_eq!(db.get(&big_key).expect("get").as_deref(), Some(&b"v"[..]));
        db.close().expect("close");
    }
    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    assert_eq!(
        db.get(b"big").expect("get").as_deref(),
        Some(big_value.as_slice())
    );
    assert_eq!(db.get(&big_key).expect("get").as_deref(), Some(&b"v"[..]));
}

#[test]
fn empty_key_is_allowed_and_sorts_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path(), Options::default()).expect("open");
        db.put(b"a", b"1").expect("put");
        db.put(b"", b"empty").expect("empty key");
        assert_eq!(db.get(b"").expect("get").as_deref(), Some(&b"empty"[..]));
        db.flush().expect("flush");
        db.put(b"", b"").expect("empty key and empty value");
        db.close().expect("close");
    }
    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    assert_eq!(db.get(b"").expect("get").as_deref(), Some(&b""[..]));
    let first = db.iter().next().expect("an entry").expect("ok");
    assert_eq!((&first.0[..], &first.1[..]), (&b""[..], &b""[..]));
    db.delete(b"").expect("delete");
    assert_eq!(db.get(b"").expect("get"), None);
}
