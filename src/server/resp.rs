//! RESP2, the Redis serialization protocol (<https://redis.io/docs/reference/protocol-spec/>):
//! an incremental request parser with Redis's limits and error texts (after
//! `processMultibulkBuffer` and `processInlineBuffer` in Redis's `networking.c`), and the
//! reply encoder.
//!
//! Requests are arrays of bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) or inline
//! commands (`PING\r\n`, split on spaces with Redis's quoting rules). The parser never
//! allocates what a client merely announces: a bulk string grows as its bytes arrive.

/// Longest line (inline request, or a `*`/`$` count line) before a protocol error, in bytes
/// (Redis's `PROTO_INLINE_MAX_SIZE`).
pub const PROTO_INLINE_MAX_SIZE: usize = 64 * 1024;

/// Largest bulk string a request may carry, in bytes (Redis's `proto-max-bulk-len`, 512 MB).
pub const PROTO_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;

/// Most elements a multibulk request may announce (1,048,576, as Redis documents).
pub const PROTO_MAX_MULTIBULK_LEN: i64 = 1024 * 1024;

/// Outcome of one parse attempt on the buffered input.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole request, and the bytes it took from the front of the buffer. An empty
    /// argument list is a request that carries nothing (an empty line, `*0`): skip it.
    Request(Vec<Vec<u8>>, usize),
    /// More bytes are needed.
    Incomplete,
    /// A protocol error: reply `-ERR <text>` and close the connection.
    Error(&'static str),
}

/// Parses the first request in `buf`.
pub fn parse(buf: &[u8]) -> Parsed {
    match buf.first() {
        None => Parsed::Incomplete,
        Some(b'*') => parse_multibulk(buf),
        Some(_) => parse_inline(buf),
    }
}

/// Position of the first `\r\n` at or after `from`, if the `\n` has arrived too.
fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    let cr = buf.get(from..)?.iter().position(|&b| b == b'\r')? + from;
    (buf.len() > cr + 1).then_some(cr)
}

/// Redis's `string2ll`: an optional `-`, then decimal digits without leading zeros.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || (digits[0] == b'0' && digits.len() > 1) || !digits.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    if neg && digits == b"0" {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        let d = i64::from(d - b'0');
        v = v.checked_mul(10)?;
        v = if neg { v.checked_sub(d)? } else { v.checked_add(d)? };
    }
    Some(v)
}

fn parse_multibulk(buf: &[u8]) -> Parsed {
    let Some(nl) = line_end(buf, 0) else {
        if buf.len() > PROTO_INLINE_MAX_SIZE {
            return Parsed::Error("Protocol error: too big mbulk count string");
        }
        return Parsed::Incomplete;
    };
    let count = match parse_i64(&buf[1..nl]) {
        Some(n) if n <= PROTO_MAX_MULTIBULK_LEN => n,
        _ => return Parsed::Error("Protocol error: invalid multibulk length"),
    };
    let mut pos = nl + 2;
    if count <= 0 {
        return Parsed::Request(Vec::new(), pos);
    }
    // Capacity bounded by what has arrived, not by what the client announced.
    let mut args = Vec::with_capacity((count as usize).min(buf.len() / 4 + 1));
    for _ in 0..count {
        let Some(nl) = line_end(buf, pos) else {
            if buf.len() - pos > PROTO_INLINE_MAX_SIZE {
                return Parsed::Error("Protocol error: too big bulk count string");
            }
            return Parsed::Incomplete;
        };
        if buf[pos] != b'$' {
            return Parsed::Error(expected_dollar(buf[pos]));
        }
        let len = match parse_i64(&buf[pos + 1..nl]) {
            Some(n) if n >= 0 && (n as u64) <= PROTO_MAX_BULK_LEN => n as usize,
            _ => return Parsed::Error("Protocol error: invalid bulk length"),
        };
        let start = nl + 2;
        if buf.len() < start + len + 2 {
            return Parsed::Incomplete;
        }
        args.push(buf[start..start + len].to_vec());
        pos = start + len + 2;
    }
    Parsed::Request(args, pos)
}

/// Redis's `Protocol error: expected '$', got '%c'`, for the printable bytes a client
/// could send (others are shown as `?`).
fn expected_dollar(b: u8) -> &'static str {
    const PRINTABLE: &str =
        " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";
    macro_rules! table {
        ($($c:literal)*) => { &[$(concat!("Protocol error: expected '$', got '", $c, "'")),*] };
    }
    static MSGS: &[&str] = table!(
        " " "!" "\"" "#" "$" "%" "&" "'" "(" ")" "*" "+" "," "-" "." "/" "0" "1" "2" "3" "4" "5" "6"
        "7" "8" "9" ":" ";" "<" "=" ">" "?" "@" "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M"
        "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" "[" "\\" "]" "^" "_" "`" "a" "b" "c" "d"
        "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" "{"
        "|" "}" "~"
    );
    PRINTABLE.bytes().position(|c| c == b).map_or("Protocol error: expected '$', got '?'", |i| MSGS[i])
}

fn parse_inline(buf: &[u8]) -> Parsed {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > PROTO_INLINE_MAX_SIZE {
            return Parsed::Error("Protocol error: too big inline request");
        }
        return Parsed::Incomplete;
    };
    let mut line = &buf[..nl];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    match split_args(line) {
        Some(args) => Parsed::Request(args, nl + 1),
        None => Parsed::Error("Protocol error: unbalanced quotes in request"),
    }
}

/// Redis's `sdssplitargs`: words separated by blanks; `"..."` with `\n`, `\r`, `\t`,
/// `\b`, `\a`, `\\`, `\"` and `\xHH` escapes; `'...'` with `\'`. A closing quote must be
/// followed by a blank or the end. `None` for unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Some(args);
        }
        let mut cur = Vec::new();
        let (mut inq, mut insq) = (false, false);
        loop {
            if inq {
                if i >= n {
                    return None;
                }
                if line[i] == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && line[i + 2].is_ascii_hexdigit()
                    && line[i + 3].is_ascii_hexdigit()
                {
                    let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                    cur.push(hex(line[i + 2]) * 16 + hex(line[i + 3]));
                    i += 3;
                } else if line[i] == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        c => c,
                    });
                } else if line[i] == b'"' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(line[i]);
                }
            } else if insq {
                if i >= n {
                    return None;
                }
                if line[i] == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if line[i] == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(line[i]);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        i += 1;
                        break;
                    }
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        args.push(cur);
    }
}

/// A reply, encoded by [`Reply::encode`].
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+text`
    Simple(&'static str),
    /// `+text` with an owned text (e.g. INFO-like status lines).
    Status(String),
    /// `-text` (the text starts with its error code, e.g. `ERR ...`, `WRONGTYPE ...`).
    Error(String),
    /// `:n`
    Int(i64),
    /// `$len\r\nbytes`
    Bulk(Vec<u8>),
    /// `$-1`
    Nil,
    /// `*n` and the elements.
    Array(Vec<Reply>),
    /// `*-1`
    NilArray,
}

impl Reply {
    /// `+OK`.
    pub const OK: Reply = Reply::Simple("OK");

    /// An `ERR`-coded error.
    pub fn err(text: impl std::fmt::Display) -> Reply {
        Reply::Error(format!("ERR {text}"))
    }

    /// A bulk string from anything byte-like.
    pub fn bulk(b: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(b.as_ref().to_vec())
    }

    /// A bulk string, or nil for `None`.
    pub fn opt_bulk(b: Option<impl AsRef<[u8]>>) -> Reply {
        b.map_or(Reply::Nil, Reply::bulk)
    }

    /// True for an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Appends the RESP2 encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Simple(s) => line(out, b'+', s.as_bytes()),
            Reply::Status(s) => line(out, b'+', s.as_bytes()),
            Reply::Error(s) => {
                // An error text is one line: newlines would break the framing.
                let clean: Vec<u8> =
                    s.bytes().map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }).collect();
                line(out, b'-', &clean);
            }
            Reply::Int(n) => line(out, b':', n.to_string().as_bytes()),
            Reply::Bulk(b) => {
                line(out, b'$', b.len().to_string().as_bytes());
                out.extend_from_slice(b);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
            Reply::Array(items) => {
                line(out, b'*', items.len().to_string().as_bytes());
                for i in items {
                    i.encode(out);
                }
            }
            Reply::NilArray => out.extend_from_slice(b"*-1\r\n"),
        }
    }
}

fn line(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(args: &[&str], used: usize) -> Parsed {
        Parsed::Request(args.iter().map(|a| a.as_bytes().to_vec()).collect(), used)
    }

    #[test]
    fn table_of_requests() {
        let cases: &[(&[u8], Parsed)] = &[
            (b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", req(&["GET", "k"], 20)),
            (b"*2\r\n$3\r\nGET\r\n$1\r\nk\r", Parsed::Incomplete),
            (b"*2\r\n$3\r\nGET\r\n", Parsed::Incomplete),
            (b"PING\r\n", req(&["PING"], 6)),
            (b"set a \"b c\"\n", req(&["set", "a", "b c"], 12)),
            (b"\r\n", req(&[], 2)),
            (b"*0\r\n", req(&[], 4)),
            (b"*-1\r\n", req(&[], 5)),
            (b"*abc\r\n", Parsed::Error("Protocol error: invalid multibulk length")),
            (b"*1048577\r\n", Parsed::Error("Protocol error: invalid multibulk length")),
            (b"*1\r\n$-5\r\n", Parsed::Error("Protocol error: invalid bulk length")),
            (b"*1\r\n$536870913\r\n", Parsed::Error("Protocol error: invalid bulk length")),
            (b"*1\r\nx3\r\n", Parsed::Error("Protocol error: expected '$', got 'x'")),
            (b"set \"a\n", Parsed::Error("Protocol error: unbalanced quotes in request")),
            (b"*1\r\n$536870912\r\n", Parsed::Incomplete),
        ];
        for (input, want) in cases {
            assert_eq!(&parse(input), want, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn long_lines_without_end_are_errors() {
        let long = vec![b'a'; PROTO_INLINE_MAX_SIZE + 1];
        assert_eq!(parse(&long), Parsed::Error("Protocol error: too big inline request"));
        let mut mb = b"*".to_vec();
        mb.extend(vec![b'1'; PROTO_INLINE_MAX_SIZE + 1]);
        assert_eq!(parse(&mb), Parsed::Error("Protocol error: too big mbulk count string"));
    }

    #[test]
    fn integers_follow_string2ll() {
        for (s, v) in [
            ("0", Some(0)),
            ("-1", Some(-1)),
            ("01", None),
            ("-0", None),
            ("", None),
            ("9223372036854775808", None),
            ("-9223372036854775808", Some(i64::MIN)),
            ("1a", None),
        ] {
            assert_eq!(parse_i64(s.as_bytes()), v, "{s}");
        }
    }
}
