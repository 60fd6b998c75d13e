//! Live in-flight counts for the oracle: `GET /-/sim/inflight` on a simulated executor's
//! control socket (a Unix socket, `control-socket=PATH` in its spec).
//!
//! Why a Unix socket: in the network lab every executor lives in its own network namespace
//! behind an emulated delay; a query over TCP from a client's namespace would cross that delay
//! and arrive stale. A socket *file* is reachable from every namespace, so a load tool routing
//! with the oracle reads every executor's count directly, in tens of microseconds, and sees
//! the requests of every client (not only its own).

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

/// Why an in-flight count could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading in-flight from {path}: {reason}")]
pub struct InFlightError {
    /// The control socket.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

/// What `GET /-/sim/inflight` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct InFlight {
    /// Inference requests being served now.
    pub in_flight: u64,
    /// Inference requests received since start.
    pub inference: u64,
}

/// A kept-alive connection to one executor's control socket; reconnects after a failure.
#[derive(Debug)]
pub struct InFlightReader {
    path: PathBuf,
    sender: Option<http1::SendRequest<Empty<Bytes>>>,
    timeout: Duration,
}

// === impl InFlightReader ===

impl InFlightReader {
    /// A reader for the control socket at `path` (connects on first use).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            sender: None,
            timeout: Duration::from_secs(2),
        }
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the executor's in-flight count now.
    ///
    /// # Errors
    /// When the socket does not answer (within 2 s) or the answer is not the expected JSON; the
    /// connection is dropped and the next read reconnects.
    pub async fn read(&mut self) -> Result<InFlight, InFlightError> {
        match tokio::time::timeout(self.timeout, self.exchange()).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(reason)) => {
                self.sender = None;
                Err(self.error(reason))
            }
            Err(_) => {
                self.sender = None;
                Err(self.error(format!("no answer within {:?}", self.timeout)))
            }
        }
    }

    fn error(&self, reason: String) -> InFlightError {
        InFlightError {
            path: self.path.clone(),
            reason,
        }
    }

    async fn exchange(&mut self) -> Result<InFlight, String> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = UnixStream::connect(&self.path)
                .await
                .map_err(|e| e.to_string())?;
            let (sender, conn) = http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.sender = Some(sender);
        }
        let sender = self.sender.as_mut().ok_or("not connected")?;
        sender.ready().await.map_err(|e| e.to_string())?;
        let request = Request::get("/-/sim/inflight")
            .header(header::HOST, "sim")
            .body(Empty::new())
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if !status.is_success() {
            return Err(format!(
                "status {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        serde_json::from_slice(&body).map_err(|e| format!("bad answer: {e}"))
    }
}
