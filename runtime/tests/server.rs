//! The shared server over real TCP: hyper's own answers to malformed requests arrive in the
//! `{"error": "..."}` shape, connections beyond the cap wait, silent connections are closed at the
//! header timeout, and a cancelled listener drains in-flight requests.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use mulambda_runtime::response::{self, Body};
use mulambda_runtime::{Limits, Listener};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A listener on a free loopback port answering `{"ok": true}` after `delay`.
async fn start(
    limits: Limits,
    delay: Duration,
) -> (SocketAddr, CancellationToken, JoinHandle<bool>) {
    let listener = Listener::bind("listen", "127.0.0.1:0".parse().unwrap(), limits)
        .await
        .unwrap();
    let addr = listener.local_addr();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(listener.serve(
        move |_peer| {
            service_fn(move |_req: Request<Incoming>| async move {
                tokio::time::sleep(delay).await;
                Ok::<Response<Body>, Infallible>(response::json(StatusCode::OK, "{\"ok\":true}"))
            })
        },
        cancel.clone(),
    ));
    (addr, cancel, task)
}

fn limits() -> Limits {
    Limits {
        max_connections: 16,
        header_read_timeout: Duration::from_secs(10),
        max_header_bytes: 16 * 1024,
        drain_timeout: Duration::from_secs(5),
    }
}

/// Sends `raw` and reads until the server closes (or 10 s pass): status and body.
async fn exchange(stream: &mut TcpStream, raw: &[u8]) -> (u16, String) {
    // The server may answer and close before everything is written: ignore write errors.
    let _ = stream.write_all(raw).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    parse(&out)
}

fn parse(out: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(out);
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn error_message(body: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"));
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {body}"))
        .to_string()
}

#[tokio::test]
async fn malformed_requests_get_json_error_bodies() {
    let (addr, cancel, task) = start(limits(), Duration::ZERO).await;
    let big_header = format!("GET / HTTP/1.1\r\nx-big: {}\r\n\r\n", "a".repeat(20_000));
    let cases: [(&[u8], u16, &str); 4] = [
        (b"GARBAGE\r\n\r\n", 400, "malformed"),
        (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400, "malformed"),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
            400,
            "malformed",
        ),
        (big_header.as_bytes(), 431, "too large"),
    ];
    for (raw, status, words) in cases {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let (got, body) = exchange(&mut s, raw).await;
        assert_eq!(
            got,
            status,
            "{:?}: {body}",
            String::from_utf8_lossy(&raw[..20])
        );
        assert!(error_message(&body).contains(words), "{body}");
    }

    // A good request on a kept-alive connection, then a malformed one on the same connection.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(parse(&buf[..n]), (200, "{\"ok\":true}".to_string()));
    let (got, body) = exchange(&mut s, b"BAD REQUEST LINE\r\n\r\n").await;
    assert_eq!(got, 400, "{body}");
    error_message(&body);

    cancel.cancel();
    assert!(task.await.unwrap());
}

#[tokio::test]
async fn a_uri_too_long_gets_a_json_414() {
    // hyper's URI limit (64 KiB) is above the default header buffer: raise the buffer to see it.
    let (addr, cancel, task) = start(
        Limits {
            max_header_bytes: 256 * 1024,
            ..limits()
        },
        Duration::ZERO,
    )
    .await;
    let raw = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let mut s = TcpStream::connect(addr).await.unwrap();
    let (got, body) = exchange(&mut s, raw.as_bytes()).await;
    assert_eq!(got, 414, "{body}");
    assert!(error_message(&body).contains("URI too long"), "{body}");
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let (addr, cancel, task) = start(
        Limits {
            max_connections: 2,
            ..limits()
        },
        Duration::ZERO,
    )
    .await;
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        // A partial head keeps the connection open.
        s.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        holders.push(s);
    }
    let mut third = TcpStream::connect(addr).await.unwrap();
    third
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let early = tokio::time::timeout(Duration::from_millis(300), third.read(&mut buf)).await;
    assert!(early.is_err(), "answered beyond the connection cap");
    drop(holders.pop());
    let n = tokio::time::timeout(Duration::from_secs(10), third.read(&mut buf))
        .await
        .expect("no answer once a slot was free")
        .unwrap();
    assert_eq!(parse(&buf[..n]).0, 200);
    drop(holders);
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn silent_and_slow_connections_are_closed_at_the_header_timeout() {
    let (addr, cancel, task) = start(
        Limits {
            header_read_timeout: Duration::from_millis(300),
            ..limits()
        },
        Duration::ZERO,
    )
    .await;
    // Nothing at all (hyper-util's version sniffing has no timer of its own), a partial HTTP/2
    // preface, and a partial HTTP/1.1 head.
    for raw in [&b""[..], b"PRI * HTTP/2.0\r\n", b"GET / HTTP/1.1\r\nHost"] {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(raw).await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
            .await
            .unwrap_or_else(|_| panic!("{raw:?}: still open after 10 s"))
            .ok();
    }
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn cancelling_drains_requests_in_flight() {
    let (addr, cancel, task) = start(limits(), Duration::from_millis(500)).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Let the request reach the service, then stop the listener.
    tokio::time::sleep(Duration::from_millis(100)).await;
    cancel.cancel();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(parse(&out).0, 200);
    assert!(task.await.unwrap(), "not drained");
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
}

#[tokio::test]
async fn a_request_slower_than_the_header_timeout_is_still_answered() {
    let (addr, cancel, task) = start(
        Limits {
            header_read_timeout: Duration::from_millis(200),
            ..limits()
        },
        Duration::from_millis(800),
    )
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(parse(&buf[..n]).0, 200);
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn the_per_connection_hook_sees_the_accepted_stream_before_any_byte() {
    let listener = Listener::bind("listen", "127.0.0.1:0".parse().unwrap(), limits())
        .await
        .unwrap();
    let addr = listener.local_addr();
    let cancel = CancellationToken::new();
    let task =
        tokio::spawn(
            listener.serve_accepted(
                mulambda_runtime::server::Plain,
                move |peer, tcp: &tokio::net::TcpStream| {
                    // Read from the socket itself, not from what the server passes along.
                    let seen = format!(
                        "{{\"peer\":\"{}\",\"local\":\"{}\",\"same\":{}}}",
                        tcp.peer_addr().unwrap(),
                        tcp.local_addr().unwrap(),
                        tcp.peer_addr().unwrap() == peer.remote
                    );
                    service_fn(move |_req: Request<Incoming>| {
                        let seen = seen.clone();
                        async move {
                            Ok::<Response<Body>, Infallible>(response::json(StatusCode::OK, seen))
                        }
                    })
                },
                cancel.clone(),
            ),
        );
    let mut s = TcpStream::connect(addr).await.unwrap();
    let client = s.local_addr().unwrap();
    let (status, body) = exchange(
        &mut s,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["peer"], client.to_string());
    assert_eq!(v["local"], addr.to_string());
    assert_eq!(v["same"], true);
    cancel.cancel();
    assert!(task.await.unwrap());
}
