//! Text forms of keys and values: escaped TSV, JSON Lines, and size arguments.
//!
//! TSV escapes `\t`, `\n`, `\r`, `\\` and every byte outside printable ASCII as `\xHH`,
//! so any bytes round-trip through one line. JSON Lines use `{"key": …, "value": …}` with
//! UTF-8 strings; a key or value that is not valid UTF-8 is written as `key_base64` /
//! `value_base64` (standard alphabet, padded) instead.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};

/// Parses a size such as `4096`, `64KiB`, `4MiB` or `1GB` into bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    parse_size::parse_size(s).map_err(|e| format!("bad size {s:?}: {e}"))
}

/// Appends `bytes` to `out` with TSV escaping.
pub fn escape_into(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        match b {
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
}

/// Reverses [`escape_into`].
pub fn unescape(s: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'\\' {
            out.push(s[i]);
            i += 1;
            continue;
        }
        match s.get(i + 1) {
            Some(b't') => out.push(b'\t'),
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex = s.get(i + 2..i + 4).ok_or("truncated \\x escape")?;
                let hex = std::str::from_utf8(hex).map_err(|_| "bad \\x escape")?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad \\x escape")?);
                i += 2;
            }
            _ => return Err("unknown escape".into()),
        }
        i += 2;
    }
    Ok(out)
}

fn put_field(obj: &mut Map<String, Value>, name: &str, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => obj.insert(name.to_owned(), Value::String(s.to_owned())),
        Err(_) => obj.insert(format!("{name}_base64"), Value::String(STANDARD.encode(bytes))),
    };
}

/// One JSON Lines record (without the newline).
pub fn json_line(key: &[u8], value: Option<&[u8]>) -> String {
    let mut obj = Map::new();
    put_field(&mut obj, "key", key);
    if let Some(v) = value {
        put_field(&mut obj, "value", v);
    }
    Value::Object(obj).to_string()
}

fn get_field(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    if let Some(Value::String(s)) = obj.get(name) {
        return Ok(s.as_bytes().to_vec());
    }
    if let Some(Value::String(s)) = obj.get(&format!("{name}_base64")) {
        return STANDARD.decode(s).map_err(|e| format!("bad {name}_base64: {e}"));
    }
    let kind = |v: &Value| match v {
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
        Value::String(_) => "a string",
    };
    if let Some(v) = obj.get(name).or_else(|| obj.get(&format!("{name}_base64"))) {
        return Err(format!("\"{name}\" is {}, not a string (write it as a JSON string)", kind(v)));
    }
    Err(format!("missing \"{name}\" or \"{name}_base64\""))
}

/// Parses one JSON Lines record into key and value.
pub fn parse_json_line(line: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let v: Value = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    Ok((get_field(obj, "key")?, get_field(obj, "value")?))
}

/// A duration such as `30s`, `5m`, `2h`, `1500ms` or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    use std::time::Duration;
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().map_err(|_| format!("bad duration {s:?}"))?;
    Ok(match unit {
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        "ms" => Duration::from_millis(n),
        _ => return Err(format!("bad duration unit in {s:?} (ms, s, m or h)")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_escape_round_trips_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let mut esc = Vec::new();
        escape_into(&all, &mut esc);
        assert!(!esc.contains(&b'\t') && !esc.contains(&b'\n'));
        assert_eq!(unescape(&esc).expect("valid"), all);
    }

    #[test]
    fn json_line_round_trips_utf8_and_binary() {
        for (k, v) in [(&b"plain"[..], &b"caf\xc3\xa9"[..]), (b"\xff\x00", b"\x80")] {
            let line = json_line(k, Some(v));
            assert_eq!(parse_json_line(line.as_bytes()).expect("parses"), (k.to_vec(), v.to_vec()));
        }
        assert!(json_line(b"\xff", None).contains("key_base64"));
    }

    #[test]
    fn sizes_accept_binary_suffixes() {
        assert_eq!(parse_size("4MiB"), Ok(4 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
    }
}
