//! Space comes back: a database whose every key expires ends, once time passes and
//! background work settles, with no live table; the picker compacts a table whose earliest
//! expiry has passed even at the last level, with no write to trigger it.

use std::sync::Arc;
use std::time::Duration;

use shaledb::{Db, ManualClock, Options};

#[test]
fn a_database_whose_keys_all_expire_ends_with_no_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(5_000_000));
    let db = Db::open(
        dir.path(),
        Options::default()
            .clock(clock.clone())
            .write_buffer_size(256 << 10),
    )
    .expect("open");
    for i in 0..20_000u32 {
        db.put_with_ttl(format!("key{i:06}"), [b'v'; 100], Duration::from_secs(3600))
            .expect("put");
    }
    db.compact_range(None, None)
        .expect("everything to the last level");
    let before: u64 = db.stats().levels.iter().map(|l| l.bytes).sum();
    assert!(before > 100 << 10, "{before} bytes of tables");
    clock.advance(Duration::from_secs(3600));
    assert_eq!(db.iter().count(), 0, "expired at once for readers");
    // No write follows: the compaction threads find the expired tables on their own.
    db.wait_for_compaction().expect("settle");
    let s = db.stats();
    let after: u64 = s.levels.iter().map(|l| l.bytes).sum();
    eprintln!(
        "tables: {before} bytes before expiry, {after} after; {} expired entries reclaimed",
        s.expired_entries_reclaimed
    );
    assert_eq!(after, 0, "no live table: {:?}", s.levels);
    assert_eq!(s.expired_entries_reclaimed, 20_000);
}
