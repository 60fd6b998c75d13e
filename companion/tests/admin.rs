//! The companion's admin listener runs on the shared server: requests hyper cannot parse, and
//! heads larger than its buffer, are answered in TF Serving's `{"error": ...}` shape, and a
//! well-formed request on the same port still works.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use http::StatusCode;
use mulambda_companion::Companion;
use mulambda_testkit::RedisServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends raw bytes and reads until the companion closes the connection: status and body.
async fn raw_exchange(addr: SocketAddr, raw: &[u8]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The companion may answer and close before everything is written.
    let _ = s.write_all(raw).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_requests_get_json_errors() {
    let redis = RedisServer::start();
    let tf = TfServingStub::start("resnet").await;
    let companion = Companion::start(config(
        &redis.url(),
        "admin",
        "exec-1",
        tf.addr,
        IMAGE_LABEL,
        &[],
    ))
    .await
    .unwrap();
    let addr = companion.admin_addr();
    let huge = format!(
        "GET /ready HTTP/1.1\r\nHost: x\r\nx-pad: {}\r\n\r\n",
        "a".repeat(300 * 1024)
    );
    let cases: [(&[u8], u16); 3] = [
        (b"NOT HTTP\r\n\r\n", 400),
        (b"GET /live HTTP/1.1\r\nno colon\r\n\r\n", 400),
        (huge.as_bytes(), 431),
    ];
    for (raw, want) in cases {
        let (status, body) = raw_exchange(addr, raw).await;
        assert_eq!(status, want, "{body}");
        let v: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("body not JSON ({e}): {body:?}"));
        assert!(v["error"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }
    assert_eq!(http_get(addr, "/live").await.0, StatusCode::OK);
    companion.shutdown().await;
}
