//! Open a database, write, batch, read and scan, then close it.
//!
//! Run with `cargo run --example basic`.

use shaledb::{Db, Options, WriteBatch, WriteOptions};

fn main() -> shaledb::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = Db::open(dir.path(), Options::default())?;
    db.put(b"fruit/apple", b"red")?;
    db.put(b"fruit/banana", b"yellow")?;
    let mut batch = WriteBatch::new();
    batch.put(b"fruit/cherry", b"dark red");
    batch.delete(b"fruit/apple");
    db.write_opt(batch, &WriteOptions { sync: true })?;
    for item in db.prefix(b"fruit/") {
        let (k, v) = item?;
        println!(
            "{} = {}",
            String::from_utf8_lossy(&k),
            String::from_utf8_lossy(&v)
        );
    }
    println!("apple: {:?}", db.get(b"fruit/apple")?);
    db.close()
}
