//! Key commands (<https://redis.io/commands/?group=generic>): DEL, UNLINK, EXISTS, TYPE,
//! RENAME, RENAMENX, KEYS, SCAN, RANDOMKEY, EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, TTL,
//! PTTL, EXPIRETIME, PEXPIRETIME, PERSIST, OBJECT, DBSIZE.

use super::glob::Pattern;
use super::keyspace::{now_ms, NewState};
use super::resp::{parse_i64, Reply};
use super::strings::not_integer;
use super::{eq, Ctx};

/// DEL / UNLINK key [key ...]
pub fn del(c: &mut Ctx<'_, '_>, a: &[Vec<u8>]) -> Reply {
    let mut keys: Vec<&Vec<u8>> = a[1..].iter().collect();
    keys.sort();
    keys.dedup();
    c.write(&keys, |_, st| {
        let n = st.iter().filter(|s| s.live.is_some()).count() as i64;
        let news =
            st.iter().map(|s| if s.live.is_some() { NewState::Delete } else { NewState::Keep }).collect();
        Ok((Reply::Int(n), news))
    })
}

/// EXISTS key [key ...] (a key named twice counts twice)
pub fn exists(c: &mut Ctx<'_, '_>, a: &[Vec<u8>]) -> Reply {
    let mut n = 0;
    for k in &a[1..] {
        match c.read(k) {
            Ok(v) => n += i64::from(v.is_some()),
            Err(r) => return r,
        }
    }
    Reply::Int(n)
}

/// TYPE key
pub fn type_(c: &mut Ctx<'_, '_>, a: &[Vec<u8>]) -> Reply {
    match c.read(&a[1]) {
        Ok(Some(_)) => Reply::Simple("string"),
        Ok(None) => Reply::Simple("none"),
        Err(r) => r,
    }
}

/// RENAME src dst / RENAMENX src dst: the value moves with its TTL.
pub fn rename(c: &mut Ctx<'_, '_>, a: &[Vec<u8>], nx: bool) -> Reply {
    let (src, dst) = (&a[1], &a[2]);
    if src == dst {
        return match c.read(src) {
            Ok(Some(_)) => {
                if nx {
                    Reply::Int(0)
                } else {
                    Reply::OK
                }
            }
            Ok(None) => Reply::err("no such key"),
            Err(r) => r,
        };
    }
    c.write(&[src, dst], |_, st| {
        let Some((v, ttl)) = st[0].live.clone() else { return Ok((Reply::err("no such key"), vec![])) };
        if nx && st[1].live.is_some() {
            return Ok((Reply::Int(0), vec![]));
        }
        let reply = if nx { Reply::Int(1) } else { Reply::OK };
        Ok((reply, vec![NewState::Delete, NewState::Set(v.to_vec(), ttl)]))
    })
}

/// KEYS pattern
pub fn keys(c: &mut Ctx<'_, '_>, a: &[Vec<u8>]) -> Reply {
    let p = Pattern::new(&a[1]);
    let mut out = Vec::new();
    let mut after: Option<bytes::Bytes> = None;
    loop {
        let (batch, done) = match c.sh.ks.scan(c.s.db, after.as_deref(), 1024) {
            Ok(x) => x,
            Err(e) => return c.db_error(&e),
        };
        for k in &batch {
            if p.matches(k) {
                out.push(Reply::bulk(k));
            }
        }
        if done {
            return Reply::Array(out);
        }
        after = batch.last().cloned();
    }
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
pub fn scan(c: &mut Ctx<'_, '_>, a: &[Vec<u8>]) -> Reply {
    let Some(cursor) = std::str::from_utf8(&a[1]).ok().and_then(|s| s.parse::<u64>().ok()) else {
        return Reply::err("invalid cursor");
    };
    let (mut pattern, mut count, mut type_ok) = (None, 10usize, true);
    let mut i = 2;
    while i < a.len() {
        let Some(v) = a.get(i + 1) else { return Reply::err("syntax error") };
        if eq(&a[i], "match") {
            pattern = Some(Pattern::new(v));
        } else if eq(&a[i], "count") {
            match parse_i64(v) {
                Some(n) if n >= 1 => count = n as usize,
                Some(_) => return Reply::err("syntax error"),
                None => return not_integer(),
            }
        } else if eq(&a[i], "type") {
            type_ok = eq(v, "string");
        } else {
            return Reply::err("syntax error");
        }
        i += 2;
    }
    let after = if cursor == 0 { None } else { c.sh.cursors.lock().get(cursor, c.s.db) };
    if cursor != 0 && after.is_none() {
        // An unknown or expired cursor ends the iteration, as a cursor past the end does.
        return Reply::Array(vec![Reply::bulk(b"0"), Reply::Array(vec![])]);
    }
    let (batch, done) = match c.sh.ks.scan(c.s.db, after.as_deref(), count) {
        Ok(x) => x,
        Err(e) => return c.db_error(&e),
    };
    let next = if done || batch.is_empty() {
        0
    } else {
        c.sh.cursors.lock().put(c.s.db, batch.last().cloned().unwrap_or_default())
    };
    let keys = batch
        .iter()
        .filter(|k| type_ok && pattern.as_ref().is_none_or(|p| p.matches(k)))
        .map(Reply::bulk)
        .collect();
    Reply::Array(vec![Reply::bulk(next.to_string()), Reply::Array(keys)])
}

/// RANDOMKEY: in a database of at most 256 keys, a uniformly chosen one (by scanning to
/// a random position); in a larger one, the first key at or after a random 8-byte probe
/// (wrapping), which is cheap but favours keys after sparse parts of the key space.
pub fn randomkey(c: &mut Ctx<'_, '_>, _a: &[Vec<u8>]) -> Reply {
    let probe: [u8; 8] = rand_bytes();
    let n = c.sh.ks.dbsize(c.s.db);
    if n <= 256 {
        return match c.sh.ks.scan(c.s.db, None, 256) {
            Ok((keys, _)) if keys.is_empty() => Reply::Nil,
            Ok((keys, _)) => Reply::bulk(&keys[(u64::from_le_bytes(probe) % keys.len() as u64) as usize]),
            Err(e) => c.db_error(&e),
        };
    }
    match c.sh.ks.key_at_or_after(c.s.db, &probe) {
        Ok(k) => Reply::opt_bulk(k),
        Err(e) => c.db_error(&e),
    }
}

fn rand_bytes() -> [u8; 8] {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos(),
    );
    h.finish().to_le_bytes()
}

/// EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT key time [NX|XX|GT|LT]
pub fn expire(c: &mut Ctx<'_, '_>, a: &[Vec<u8>], unit: i64, absolute: bool, name: &str) -> Reply {
    let Some(n) = parse_i64(&a[2]) else { return not_integer() };
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for o in &a[3..] {
        if eq(o, "nx") {
            nx = true;
        } else if eq(o, "xx") {
            xx = true;
        } else if eq(o, "gt") {
            gt = true;
        } else if eq(o, "lt") {
            lt = true;
        } else {
            return Reply::err(format!("Unsupported option {}", String::from_utf8_lossy(o)));
        }
    }
    if nx && (xx || gt || lt) {
        return Reply::err("NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return Reply::err("GT and LT options at the same time are not compatible");
    }
    let invalid = || Reply::err(format!("invalid expire time in '{name}' command"));
    let Some(ms) = n.checked_mul(unit) else { return invalid() };
    let at = if absolute { Some(ms) } else { ms.checked_add(now_ms() as i64) };
    let Some(at) = at else { return invalid() };
    c.write(&[&a[1]], |_, st| {
        let Some((v, cur)) = st[0].live.clone() else { return Ok((Reply::Int(0), vec![])) };
        // A key without a TTL counts as an infinite TTL for GT and LT.
        let skip = (nx && cur.is_some())
            || (xx && cur.is_none())
            || (gt && cur.is_none_or(|c| at <= c as i64))
            || (lt && cur.is_some_and(|c| at >= c as i64));
        if skip {
            return Ok((Reply::Int(0), vec![]));
        }
        let new =
            if at <= now_ms() as i64 { NewState::Delete } else { NewState::Set(v.to_vec(), Some(at as u64)) };
        Ok((Reply::Int(1), vec![new]))
    })
}

/// TTL / PTTL / EXPIRETIME / PEXPIRETIME key: -2 for no key, -1 for no expiry.
pub fn ttl(c: &mut Ctx<'_, '_>, a: &[Vec<u8>], unit: i64, absolute: bool) -> Reply {
    match c.read(&a[1]) {
        Err(r) => r,
        Ok(None) => Reply::Int(-2),
        Ok(Some((_, None))) => Reply::Int(-1),
        Ok(Some((_, Some(t)))) => {
            let t = t as i64;
            if absolute {
                Reply::Int(if unit == 1 { t } else { (t + 500) / 1000 })
            } else {
                let left = (t - now_ms() as i64).max(0);
                Reply::Int(if unit == 1 { left } else { (left + 500) / 1000 })
            }
        }
    }
}

/// PERSIST key
pub fn persist(c: &mut Ctx<'_, '_>, a: &[Vec<u8>]) -> Reply {
    c.write(&[&a[1]], |_, st| match st[0].live.clone() {
        Some((v, Some(_))) => Ok((Reply::Int(1), vec![NewState::Set(v.to_vec(), None)])),
        _ => Ok((Reply::Int(0), vec![])),
    })
}

/// OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT|HELP key
pub fn object(c: &mut Ctx<'_, '_>, a: &[Vec<u8>]) -> Reply {
    if a.len() == 2 && eq(&a[1], "help") {
        return Reply::Array(
            ["OBJECT <subcommand>", "ENCODING <key>", "FREQ <key>", "IDLETIME <key>", "REFCOUNT <key>"]
                .iter()
                .map(|s| Reply::Status((*s).into()))
                .collect(),
        );
    }
    if a.len() != 3 {
        return Reply::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try OBJECT HELP.",
            String::from_utf8_lossy(&a[1])
        ));
    }
    let v = match c.read(&a[2]) {
        Ok(Some((v, _))) => v,
        Ok(None) => return Reply::Nil,
        Err(r) => return r,
    };
    if eq(&a[1], "encoding") {
        // Redis's string encodings: int for a value that is a 64-bit integer, embstr up to
        // 44 bytes, raw above.
        let enc = if v.len() <= 20 && parse_i64(&v).is_some() {
            "int"
        } else if v.len() <= 44 {
            "embstr"
        } else {
            "raw"
        };
        Reply::bulk(enc)
    } else if eq(&a[1], "freq") {
        Reply::err("An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
    } else if eq(&a[1], "idletime") {
        Reply::Int(0)
    } else if eq(&a[1], "refcount") {
        Reply::Int(1)
    } else {
        Reply::err(format!("unknown subcommand '{}'. Try OBJECT HELP.", String::from_utf8_lossy(&a[1])))
    }
}

/// DBSIZE
pub fn dbsize(c: &mut Ctx<'_, '_>, _a: &[Vec<u8>]) -> Reply {
    Reply::Int(c.sh.ks.dbsize(c.s.db) as i64)
}
