//! One HTTP/1.1 keep-alive connection of the load generator (hyper's low-level client: no pool,
//! so the generator decides exactly how many connections exist).

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// Why a request got no HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureKind {
    /// The TCP connection (or the HTTP handshake) could not be established.
    Connect,
    /// No complete response before the deadline (queueing in the generator included).
    Timeout,
    /// The connection closed or reset before a complete response.
    Connection,
    /// Any other HTTP protocol error.
    Protocol,
}

// === impl FailureKind ===

impl FailureKind {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Connect => "connect",
            FailureKind::Timeout => "timeout",
            FailureKind::Connection => "connection",
            FailureKind::Protocol => "protocol",
        }
    }

    fn of(e: &hyper::Error) -> Self {
        let io = std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
        if e.is_incomplete_message() || e.is_canceled() || e.is_closed() || io {
            FailureKind::Connection
        } else {
            FailureKind::Protocol
        }
    }
}

/// An open connection; its driver task ends when it is dropped.
#[derive(Debug)]
pub struct Connection {
    sender: http1::SendRequest<Full<Bytes>>,
    driver: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

// === impl Connection ===

impl Connection {
    /// Connects and performs the HTTP/1.1 handshake.
    ///
    /// # Errors
    /// [`FailureKind::Connect`] when either fails.
    pub async fn open(addr: SocketAddr) -> Result<Self, FailureKind> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|_| FailureKind::Connect)?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| FailureKind::Connect)?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self { sender, driver })
    }

    /// Whether the connection can take another request (the peer has not closed it).
    pub fn is_usable(&self) -> bool {
        !self.sender.is_closed()
    }

    /// Sends a request and reads the whole response; returns the head and the body length.
    ///
    /// # Errors
    /// [`FailureKind::Connection`] or [`FailureKind::Protocol`]; the connection should then be
    /// discarded.
    pub async fn send(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> Result<(Response<()>, usize), FailureKind> {
        self.sender.ready().await.map_err(|e| FailureKind::of(&e))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| FailureKind::of(&e))?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| FailureKind::of(&e))?;
        Ok((Response::from_parts(parts, ()), body.to_bytes().len()))
    }
}
