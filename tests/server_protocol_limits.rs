//! Malformed and hostile RESP input against `shale serve`, over raw TCP: each case sends
//! bytes and expects Redis's exact reply, and whether the server then closes the
//! connection. Oversized announced lengths get an error without the server allocating
//! them; half requests wait; a slow client sending one byte at a time is served; deep
//! pipelines answer in order; one bad client does not disturb another.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends `input`, reads until `want` bytes arrived or the peer closed; returns the bytes
/// and whether the connection was closed by the server.
fn exchange(addr: &str, input: &[u8], want: usize) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(input).expect("write");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while out.len() < want {
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read: {e} after {:?}", String::from_utf8_lossy(&out)),
        }
    }
    // Closed afterwards? A PING tells: a closed connection reads 0 (or fails).
    let _ = s.write_all(b"PING\r\n");
    let closed = matches!(s.read(&mut buf), Ok(0) | Err(_));
    (out, closed)
}

#[test]
fn table_of_malformed_requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = common::TestServer::start(dir.path(), shaledb::server::FsyncPolicy::No);
    let cases: &[(&[u8], &str, bool)] = &[
        (b"*1\r\n$4\r\nPING\r\n", "+PONG\r\n", false),
        (b"PING\r\n", "+PONG\r\n", false),
        (
            b"*abc\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
            true,
        ),
        (
            b"*1048577\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
            true,
        ),
        (
            b"*1\r\n$-1\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
            true,
        ),
        (
            b"*1\r\n$600000000\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
            true,
        ),
        (
            b"*1\r\n!4\r\nPING\r\n",
            "-ERR Protocol error: expected '$', got '!'\r\n",
            true,
        ),
        (
            b"SET a \"b\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
            true,
        ),
        (b"\r\n\r\nPING\r\n", "+PONG\r\n", false),
        (b"*0\r\nPING\r\n", "+PONG\r\n", false),
        (
            b"NOSUCH a b\r\n",
            "-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \r\n",
            false,
        ),
        (
            b"GET\r\n",
            "-ERR wrong number of arguments for 'get' command\r\n",
            false,
        ),
        (
            b"SET k \"a\\x41\\n\"\r\nGET k\r\n",
            "+OK\r\n$3\r\naA\n\r\n",
            false,
        ),
    ];
    for (input, want, closes) in cases {
        let (got, closed) = exchange(&server.addr, input, want.len());
        assert_eq!(
            String::from_utf8_lossy(&got),
            *want,
            "{:?}",
            String::from_utf8_lossy(input)
        );
        assert_eq!(
            closed,
            *closes,
            "closed after {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn a_huge_announced_bulk_is_not_allocated_and_lines_without_end_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = common::TestServer::start(dir.path(), shaledb::server::FsyncPolicy::No);
    // 512 MB announced, a few bytes sent: the server waits (no reply, no allocation),
    // and a second client is served meanwhile.
    let mut hog = TcpStream::connect(&server.addr).expect("connect");
    hog.write_all(b"*2\r\n$3\r\nGET\r\n$536870912\r\nabc")
        .expect("write");
    let (got, _) = exchange(&server.addr, b"PING\r\n", 7);
    assert_eq!(got, b"+PONG\r\n");
    // An inline line of more than 64 KiB without a newline.
    let long = vec![b'a'; 70 * 1024];
    let (got, closed) = exchange(&server.addr, &long, 1);
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("-ERR Protocol error: too big inline request"),
        "{text}"
    );
    assert!(closed);
    drop(hog);
}

#[test]
fn binary_garbage_never_crashes_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = common::TestServer::start(dir.path(), shaledb::server::FsyncPolicy::No);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..50 {
        let mut junk = Vec::new();
        for _ in 0..(round * 37 % 900 + 1) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            junk.push((x & 0xff) as u8);
        }
        if let Ok(mut s) = TcpStream::connect(&server.addr) {
            let _ = s.write_all(&junk);
            let _ = s.shutdown(std::net::Shutdown::Write);
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
        }
    }
    let (got, _) = exchange(&server.addr, b"PING\r\n", 7);
    assert_eq!(got, b"+PONG\r\n", "the server still answers");
}

#[test]
fn slow_clients_and_deep_pipelines_are_served_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = common::TestServer::start(dir.path(), shaledb::server::FsyncPolicy::No);
    // One byte at a time.
    let mut s = TcpStream::connect(&server.addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    for b in b"*3\r\n$3\r\nSET\r\n$4\r\nslow\r\n$2\r\nok\r\n" {
        s.write_all(&[*b]).expect("byte");
    }
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).expect("reply");
    assert_eq!(&buf, b"+OK\r\n");
    // 10,000 pipelined INCRs in one write: replies 1..=10000 in order.
    let mut req = Vec::new();
    for _ in 0..10_000 {
        req.extend_from_slice(b"INCR ctr\r\n");
    }
    let want: String = (1..=10_000).map(|i| format!(":{i}\r\n")).collect();
    let (got, closed) = exchange(&server.addr, &req, want.len());
    assert_eq!(String::from_utf8_lossy(&got), want);
    assert!(!closed);
}
