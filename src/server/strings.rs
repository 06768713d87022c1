//! String commands (<https://redis.io/commands/?group=string>): GET, SET and its options,
//! SETNX, SETEX, PSETEX, GETSET, GETDEL, GETEX, MGET, MSET, MSETNX, APPEND, STRLEN,
//! SETRANGE, GETRANGE, SUBSTR, INCR, INCRBY, DECR, DECRBY, INCRBYFLOAT.

use super::keyspace::{now_ms, NewState};
use super::resp::{parse_i64, Reply};
use super::{eq, Ctx};

/// Largest string a command may build, in bytes (Redis's `proto-max-bulk-len`).
const MAX_STRING: u64 = 512 * 1024 * 1024;

/// `ERR value is not an integer or out of range`.
pub fn not_integer() -> Reply {
    Reply::err("value is not an integer or out of range")
}

fn syntax() -> Reply {
    Reply::err("syntax error")
}

/// An expiry option's time as absolute milliseconds, or Redis's error for `cmd`.
/// `unit_ms` is 1000 for seconds; `absolute` for EXAT/PXAT.
pub fn expire_at(arg: &[u8], unit_ms: i64, absolute: bool, cmd: &str) -> Result<u64, Reply> {
    let invalid = || Reply::err(format!("invalid expire time in '{cmd}' command"));
    let n = parse_i64(arg).ok_or_else(not_integer)?;
    if n <= 0 {
        return Err(invalid());
    }
    let ms = n.checked_mul(unit_ms).ok_or_else(invalid)?;
    let at = if absolute { ms } else { ms.checked_add(now_ms() as i64).ok_or_else(invalid)? };
    Ok(at as u64)
}

/// GET key
pub fn get(c: &mut Ctx<'_, '_>, a: &[Vec<u8>]) -> Reply {
    match c.read(&a[1]) {
        Ok(v) => Reply::opt_bulk(v.map(|(v, _)| v)),
        Err(r) => r,
    }
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]`
pub fn set(c: &mut Ctx<'_, '_>, a: &[Vec<u8>]) -> Reply {
    let (mut nx, mut xx, mut get, mut keepttl) = (false, false, false, false);
    // As Redis's parseExtendedStringArgumentsOrReply: the same expiry option may repeat
    // (the last wins), two different ones may not; the time is checked after the options.
    let mut expiry_opt: Option<ExpiryOption<'_>> = None;
    let mut i = 3;
    while i < a.len() {
        let o = &a[i];
        let next = a.get(i + 1);
        if eq(o, "nx") && !xx {
            nx = true;
        } else if eq(o, "xx") && !nx {
            xx = true;
        } else if eq(o, "get") {
            get = true;
        } else if eq(o, "keepttl") && expiry_opt.is_none() {
            keepttl = true;
        } else if let (Some(kind), Some(n), false) = (expiry_kind(o), next, keepttl) {
            if expiry_opt.is_some_and(|(k, _)| k != kind) {
                return syntax();
            }
            expiry_opt = Some((kind, n));
            i += 1;
        } else {
            return syntax();
        }
        i += 1;
    }
    let expiry = match expiry_opt {
        Some(((unit, abs), n)) => match expire_at(n, unit, abs, "set") {
            Ok(t) => Some(t),
            Err(r) => return r,
        },
        None => None,
    };
    let key = &a[1];
    c.write(&[key], |c, st| {
        let old = st[0].value().cloned();
        if (nx && st[0].live.is_some()) || (xx && st[0].live.is_none()) {
            return Ok((if get { Reply::opt_bulk(old) } else { Reply::Nil }, vec![]));
        }
        let keep = if keepttl { st[0].ttl_ms() } else { expiry };
        let _ = c;
        Ok((if get { Reply::opt_bulk(old) } else { Reply::OK }, vec![NewState::Set(a[2].clone(), keep)]))
    })
}

/// An expiry option as parsed: (unit in milliseconds, absolute) and its argument.
type ExpiryOption<'a> = ((i64, bool), &'a [u8]);

fn expiry_kind(o: &[u8]) -> Option<(i64, bool)> {
    if eq(o, "ex") {
        Some((1000, false))
    } else if eq(o, "px") {
        Some((1, false))
    } else if eq(o, "exat") {
        Some((1000, true))
    } else if eq(o, "pxat") {
        Some((1, true))
    } else {
        None
    }
}

/// SETNX key value
pub fn setnx(c: &mut Ctx<'_, '_>, a: &[Vec<u8>]) -> Reply {
    c.write(&[&a[1]], |_, st| {
        if st[0].live.is_some() {
            return Ok((Reply::Int(0), vec![]));
        }
        Ok((Reply::Int(1), vec![NewState::Set(a[2].clone(), None)]))
    })
}

/// SETEX key seconds value, PSETEX key milliseconds value
pub fn setex(c: &mut Ctx<'_, '_>, a: &[Vec<u8>], unit: i64) -> Reply {
    let name = if unit == 1000 { "setex" } else { "psetex" };
    let t = match expire_at(&a[2], unit, false, name) {
        Ok(t) => t,
        Err(r) => return r,
    };
    c.write(&[&a[1]], |_, _| Ok((Reply::OK, vec![NewState::Set(a[3].clone(), Some(t))])))
}

/// GETSET key value
pub fn getset(c: &mut Ctx<'_, '_>, a: &[Vec<u8>]) -> Reply {
    c.write(&[&a[1]], |_, st| Ok((Reply::opt_bulk(st[0].value()), vec![NewState::Set(a[2].clone(), None)])))
}

/// GETDEL key
pub fn getdel(c: &mut Ctx<'_, '_>, a: &[Vec<u8>]) -> Reply {
    c.write(&[&a[1]], |_, st| match st[0].value() {
        Some(v) => Ok((Reply::bulk(v), vec![NewState::Delete])),
        None => Ok((Reply::Nil, vec![])),
    })
}

/// GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]
pub fn getex(c: &mut Ctx<'_, '_>, a: &[Vec<u8>]) -> Reply {
    // None: leave the TTL; Some(None): persist; Some(Some(opt)): expire per the option.
    let mut change: Option<Option<ExpiryOption<'_>>> = None;
    let mut i = 2;
    while i < a.len() {
        let o = &a[i];
        if eq(o, "persist") && change.is_none_or(|c| c.is_none()) {
            change = Some(None);
        } else if let (Some(kind), Some(n)) = (expiry_kind(o), a.get(i + 1)) {
            if change.is_some_and(|c| c.is_none_or(|(k, _)| k != kind)) {
                return syntax();
            }
            change = Some(Some((kind, n)));
            i += 1;
        } else {
            return syntax();
        }
        i += 1;
    }
    let Some(change) = change else { return get(c, a) };
    c.write(&[&a[1]], |_, st| match st[0].value() {
        None => Ok((Reply::Nil, vec![])),
        Some(v) => {
            // As Redis: the time is checked only once the key is found.
            let t = match change {
                None => None,
                Some(((unit, abs), n)) => match expire_at(n, unit, abs, "getex") {
                    Ok(t) => Some(t),
                    Err(r) => return Ok((r, vec![])),
                },
            };
            let new = match t {
                Some(t) if t <= now_ms() => NewState::Delete,
                t => NewState::Set(v.to_vec(), t),
            };
            Ok((Reply::bulk(v), vec![new]))
        }
    })
}

/// MGET key [key ...]
pub fn mget(c: &mut Ctx<'_, '_>, a: &[Vec<u8>]) -> Reply {
    let mut out = Vec::with_capacity(a.len() - 1);
    for k in &a[1..] {
        match c.read(k) {
            Ok(v) => out.push(Reply::opt_bulk(v.map(|(v, _)| v))),
            Err(r) => return r,
        }
    }
    Reply::Array(out)
}

/// MSET key value [key value ...], MSETNX (only if no key exists)
pub fn mset(c: &mut Ctx<'_, '_>, a: &[Vec<u8>], nx: bool) -> Reply {
    if a.len().is_multiple_of(2) {
        return Reply::err(format!(
            "wrong number of arguments for '{}' command",
            if nx { "msetnx" } else { "mset" }
        ));
    }
    let keys: Vec<&Vec<u8>> = a[1..].iter().step_by(2).collect();
    c.write(&keys, |_, st| {
        if nx && st.iter().any(|s| s.live.is_some()) {
            return Ok((Reply::Int(0), vec![]));
        }
        let news = a[2..].iter().step_by(2).map(|v| NewState::Set(v.clone(), None)).collect();
        Ok((if nx { Reply::Int(1) } else { Reply::OK }, news))
    })
}

/// APPEND key value
pub fn append(c: &mut Ctx<'_, '_>, a: &[Vec<u8>]) -> Reply {
    c.write(&[&a[1]], |_, st| {
        let mut v = st[0].value().map(|v| v.to_vec()).unwrap_or_default();
        if (v.len() + a[2].len()) as u64 > MAX_STRING {
            return Ok((Reply::err("string exceeds maximum allowed size (proto-max-bulk-len)"), vec![]));
        }
        v.extend_from_slice(&a[2]);
        let n = v.len() as i64;
        Ok((Reply::Int(n), vec![NewState::Set(v, st[0].ttl_ms())]))
    })
}

/// STRLEN key
pub fn strlen(c: &mut Ctx<'_, '_>, a: &[Vec<u8>]) -> Reply {
    match c.read(&a[1]) {
        Ok(v) => Reply::Int(v.map_or(0, |(v, _)| v.len() as i64)),
        Err(r) => r,
    }
}

/// SETRANGE key offset value
pub fn setrange(c: &mut Ctx<'_, '_>, a: &[Vec<u8>]) -> Reply {
    let Some(off) = parse_i64(&a[2]) else { return not_integer() };
    if off < 0 {
        return Reply::err("offset is out of range");
    }
    let off = off as u64;
    if !a[3].is_empty() && off + a[3].len() as u64 > MAX_STRING {
        return Reply::err("string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    c.write(&[&a[1]], |_, st| {
        let mut v = st[0].value().map(|v| v.to_vec()).unwrap_or_default();
        if a[3].is_empty() {
            return Ok((Reply::Int(v.len() as i64), vec![]));
        }
        let end = off as usize + a[3].len();
        if v.len() < end {
            v.resize(end, 0);
        }
        v[off as usize..end].copy_from_slice(&a[3]);
        let n = v.len() as i64;
        Ok((Reply::Int(n), vec![NewState::Set(v, st[0].ttl_ms())]))
    })
}

/// GETRANGE key start end (and SUBSTR), with Redis's negative-index rules.
pub fn getrange(c: &mut Ctx<'_, '_>, a: &[Vec<u8>]) -> Reply {
    let (Some(mut start), Some(mut end)) = (parse_i64(&a[2]), parse_i64(&a[3])) else { return not_integer() };
    let v = match c.read(&a[1]) {
        Ok(v) => v.map(|(v, _)| v).unwrap_or_default(),
        Err(r) => return r,
    };
    let len = v.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Reply::bulk(b"");
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if len == 0 || start > end {
        return Reply::bulk(b"");
    }
    Reply::bulk(&v[start as usize..=end as usize])
}

/// INCR, DECR, INCRBY, DECRBY: adds `by` (or the argument times `sign`).
pub fn incr(c: &mut Ctx<'_, '_>, a: &[Vec<u8>], by: Option<i64>, sign: i64) -> Reply {
    let delta = match by {
        Some(d) => d,
        None => match parse_i64(&a[2]) {
            Some(d) if sign > 0 || d != i64::MIN => d * sign,
            Some(_) => return Reply::err("decrement would overflow"),
            None => return not_integer(),
        },
    };
    c.write(&[&a[1]], |_, st| {
        let cur = match st[0].value() {
            None => 0,
            Some(v) => match parse_i64(v) {
                Some(n) => n,
                None => return Ok((not_integer(), vec![])),
            },
        };
        let Some(n) = cur.checked_add(delta) else {
            return Ok((Reply::err("increment or decrement would overflow"), vec![]));
        };
        Ok((Reply::Int(n), vec![NewState::Set(n.to_string().into_bytes(), st[0].ttl_ms())]))
    })
}

/// Parses a float as Redis's `string2ld` accepts it: no spaces, finite.
fn parse_float(s: &[u8]) -> Option<f64> {
    let t = std::str::from_utf8(s).ok()?;
    if t.is_empty() || t.trim() != t || t.eq_ignore_ascii_case("nan") || t.contains(['x', 'X']) {
        return None;
    }
    let v: f64 = t.parse().ok()?;
    (!v.is_nan()).then_some(v)
}

/// Formats a float as INCRBYFLOAT replies: fixed notation, shortest form, no `-0`.
pub fn format_float(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    format!("{v}")
}

/// INCRBYFLOAT key increment
pub fn incrbyfloat(c: &mut Ctx<'_, '_>, a: &[Vec<u8>]) -> Reply {
    let Some(delta) = parse_float(&a[2]) else { return Reply::err("value is not a valid float") };
    c.write(&[&a[1]], |_, st| {
        let cur = match st[0].value() {
            None => 0.0,
            Some(v) => match parse_float(v) {
                Some(n) => n,
                None => return Ok((Reply::err("value is not a valid float"), vec![])),
            },
        };
        let n = cur + delta;
        if !n.is_finite() {
            return Ok((Reply::err("increment would produce NaN or Infinity"), vec![]));
        }
        let s = format_float(n);
        Ok((Reply::bulk(&s), vec![NewState::Set(s.into_bytes(), st[0].ttl_ms())]))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn floats_format_like_redis() {
        assert_eq!(super::format_float(10.5), "10.5");
        assert_eq!(super::format_float(-0.0), "0");
        assert_eq!(super::format_float(17179869185.5), "17179869185.5");
        assert_eq!(super::format_float(1e20), "100000000000000000000");
        assert!(super::parse_float(b" 1").is_none());
        assert!(super::parse_float(b"nan").is_none());
        assert_eq!(super::parse_float(b"1.5e3"), Some(1500.0));
    }
}
