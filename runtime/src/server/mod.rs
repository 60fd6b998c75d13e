//! One HTTP server for every listener of mulambda (the proxy's application and admin listeners,
//! the companion's and the controller's admin listeners, the controller's HTTPS webhook), with
//! the same limits everywhere:
//!
//! - **connections**: at most [`Limits::max_connections`] open at once per listener. The accept
//!   loop takes a permit of a semaphore before it accepts (as tokio's mini-redis does): at the
//!   cap, new connections wait in the kernel's backlog instead of costing memory here;
//! - **header memory**: hyper buffers at most [`Limits::max_header_bytes`] of a request head
//!   (`max_buf_size` for HTTP/1.1, `max_header_list_size` for HTTP/2); a larger head is refused
//!   with 431;
//! - **header time**: a request head must arrive within [`Limits::header_read_timeout`] (hyper's
//!   timer for HTTP/1.1 keep-alive requests; for a new connection, the time until its first
//!   request, which also covers the HTTP version sniffing and the HTTP/2 preface, where hyper has
//!   no timer of its own);
//! - **error bodies**: hyper answers requests it cannot parse (400, 414, 431) by itself with an
//!   empty body; those answers are rewritten to the `{"error": "..."}` shape of every other
//!   mulambda error ([`auto_error`]);
//! - **graceful drain**: on cancellation the listener closes, open connections finish their
//!   requests for up to [`Limits::drain_timeout`], then the rest are closed.
//!
//! One per-connection hook: [`Listener::serve_accepted`] hands the service factory the accepted
//! TCP stream (the proxy reads a redirected connection's original destination from it); the
//! other entry points pass it a closure that ignores the stream.
//!
//! Request-level policy (timeouts that span retries, body limits that answer in TF Serving's
//! shape) belongs to the services: it differs per listener and needs the request's headers.

pub mod auto_error;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use auto_error::AutoErrorIo;

/// Smallest header buffer hyper accepts.
pub const MIN_HEADER_BYTES: usize = 8 * 1024;

/// The limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once; more wait in the kernel's accept backlog.
    pub max_connections: usize,
    /// Time allowed for a request head (and, on a new connection, until its first request).
    pub header_read_timeout: Duration,
    /// Largest request head buffered (at least [`MIN_HEADER_BYTES`]).
    pub max_header_bytes: usize,
    /// How long open connections may finish their requests after cancellation.
    pub drain_timeout: Duration,
}

impl Limits {
    /// An application listener: the application's kept-alive connections, heads of TF Serving
    /// calls (small). Caps are sized so that both of a proxy's listeners full of half-sent
    /// heads stay under 32 MiB of resident memory (about 22 KiB a connection: hyper's read and
    /// write buffers and the connection's task; `bench header-flood` in BENCHMARKS.md).
    pub const APP: Limits = Limits {
        max_connections: 512,
        header_read_timeout: Duration::from_secs(30),
        max_header_bytes: 16 * 1024,
        drain_timeout: Duration::from_secs(10),
    };

    /// An admin listener: probes from every companion whose model a client may use (one
    /// kept-alive connection each), scrapes and kubelet probes — all small `GET`s, so the
    /// smallest head buffer hyper allows.
    pub const ADMIN: Limits = Limits {
        max_connections: 512,
        header_read_timeout: Duration::from_secs(10),
        max_header_bytes: MIN_HEADER_BYTES,
        drain_timeout: Duration::from_secs(1),
    };
}

/// Who is on the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The client's address.
    pub remote: SocketAddr,
    /// The address the connection arrived at.
    pub local: SocketAddr,
}

// === impl Peer ===

impl Peer {
    /// Whether the client connected from a loopback address (inside the same pod or host).
    pub fn is_loopback(&self) -> bool {
        match self.remote.ip() {
            std::net::IpAddr::V4(v4) => v4.is_loopback(),
            std::net::IpAddr::V6(v6) => {
                v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        }
    }
}

/// What happens to an accepted TCP stream before HTTP: nothing ([`Plain`]) or, for the webhook,
/// a TLS handshake. `None` closes the connection.
pub trait Handshake: Clone + Send + Sync + 'static {
    /// The stream HTTP is served on.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Performs the handshake (with its own deadline).
    fn handshake(
        &self,
        tcp: TcpStream,
        peer: Peer,
    ) -> impl Future<Output = Option<Self::Io>> + Send;
}

/// Plain HTTP.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain;

impl Handshake for Plain {
    type Io = TcpStream;
    async fn handshake(&self, tcp: TcpStream, _peer: Peer) -> Option<TcpStream> {
        Some(tcp)
    }
}

/// A listener could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} (--{flag}): {source}")]
pub struct BindError {
    /// The flag that set the address, without dashes.
    pub flag: &'static str,
    /// The address.
    pub addr: SocketAddr,
    /// Why.
    pub source: std::io::Error,
}

/// A bound listener with its limits.
#[derive(Debug)]
pub struct Listener {
    tcp: TcpListener,
    local: SocketAddr,
    flag: &'static str,
    limits: Limits,
}

// === impl Listener ===

impl Listener {
    /// Binds `addr` (set by `--{flag}`, named in errors and logs).
    pub async fn bind(
        flag: &'static str,
        addr: SocketAddr,
        limits: Limits,
    ) -> Result<Listener, BindError> {
        let err = |source| BindError { flag, addr, source };
        let tcp = TcpListener::bind(addr).await.map_err(err)?;
        let local = tcp.local_addr().map_err(err)?;
        Ok(Listener {
            tcp,
            local,
            flag,
            limits,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Serves plain HTTP; see [`Listener::serve_with`].
    pub async fn serve<M, S, B>(self, make_service: M, cancel: CancellationToken) -> bool
    where
        M: FnMut(Peer) -> S,
        S: hyper::service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
            + Send
            + 'static,
        S::Future: Send + 'static,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.serve_with(Plain, make_service, cancel).await
    }

    /// Serves HTTP/1.1 (keep-alive) and HTTP/2 (prior knowledge) after `handshake`, one
    /// service per connection from `make_service`, until `cancel`; then drains. Returns whether
    /// every connection finished within the drain timeout.
    pub async fn serve_with<H, M, S, B>(
        self,
        handshake: H,
        mut make_service: M,
        cancel: CancellationToken,
    ) -> bool
    where
        H: Handshake,
        M: FnMut(Peer) -> S,
        S: hyper::service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
            + Send
            + 'static,
        S::Future: Send + 'static,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.serve_accepted(
            handshake,
            move |peer, _tcp: &TcpStream| make_service(peer),
            cancel,
        )
        .await
    }

    /// Like [`Listener::serve_with`], but the service factory also sees the accepted TCP
    /// stream, before the handshake and before any byte is read: the per-connection hook for
    /// what only the socket knows (the proxy reads the original destination of a redirected
    /// connection there, `SO_ORIGINAL_DST`). Listeners that need nothing of the socket use
    /// [`Listener::serve`] or [`Listener::serve_with`], which pass this hook a closure that
    /// ignores the stream: no cost for them.
    pub async fn serve_accepted<H, M, S, B>(
        self,
        handshake: H,
        mut make_service: M,
        cancel: CancellationToken,
    ) -> bool
    where
        H: Handshake,
        M: FnMut(Peer, &TcpStream) -> S,
        S: hyper::service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
            + Send
            + 'static,
        S::Future: Send + 'static,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let limits = self.limits;
        let builder = Arc::new(builder(&limits));
        let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
        let graceful = GracefulShutdown::new();
        let mut conns = tokio::task::JoinSet::new();
        let mut last_full_log: Option<Instant> = None;
        loop {
            if permits.available_permits() == 0
                && last_full_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(30))
            {
                last_full_log = Some(Instant::now());
                tracing::warn!(
                    listener = self.flag,
                    max_connections = limits.max_connections,
                    "connection limit reached; new connections wait"
                );
            }
            let permit = tokio::select! {
                _ = cancel.cancelled() => break,
                p = Arc::clone(&permits).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break, // the semaphore is never closed
                },
            };
            let (tcp, remote) = tokio::select! {
                _ = cancel.cancelled() => break,
                accepted = self.tcp.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: pause instead of spinning.
                        tracing::warn!(listener = self.flag, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let peer = Peer {
                remote,
                local: self.local,
            };
            let service = FirstRequest::new(make_service(peer, &tcp));
            let started = Arc::clone(&service.seen);
            let (handshake, builder, watcher, cancel) = (
                handshake.clone(),
                Arc::clone(&builder),
                graceful.watcher(),
                cancel.clone(),
            );
            // Reap finished connections so the set stays small.
            while conns.try_join_next().is_some() {}
            conns.spawn(async move {
                let _permit = permit;
                let first_request = tokio::time::sleep(limits.header_read_timeout);
                tokio::pin!(first_request);
                let io = tokio::select! {
                    io = handshake.handshake(tcp, peer) => io,
                    _ = &mut first_request => None,
                    _ = cancel.cancelled() => None,
                };
                let Some(io) = io else { return };
                let conn = builder.serve_connection(TokioIo::new(AutoErrorIo::new(io)), service);
                let conn = watcher.watch(conn);
                tokio::pin!(conn);
                let mut waiting_for_first = true;
                loop {
                    tokio::select! {
                        r = &mut conn => {
                            if let Err(e) = r {
                                tracing::debug!(%remote, error = %e, "connection ended with an error");
                            }
                            return;
                        }
                        _ = &mut first_request, if waiting_for_first => {
                            if started.load(Ordering::Relaxed) {
                                waiting_for_first = false;
                                continue;
                            }
                            // No complete request head in time: close.
                            tracing::debug!(%remote, "no request within the header timeout");
                            return;
                        }
                    }
                }
            });
        }
        drop(self.tcp);
        tokio::select! {
            _ = graceful.shutdown() => true,
            _ = tokio::time::sleep(limits.drain_timeout) => {
                tracing::warn!(listener = self.flag, drain = ?limits.drain_timeout,
                    "drain deadline passed; closing remaining connections");
                conns.abort_all();
                false
            }
        }
    }
}

/// hyper-util's connection builder with the limits applied.
fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(MIN_HEADER_BYTES));
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(10));
    b
}

/// A service that notes its first call: the connection has delivered a request head.
struct FirstRequest<S> {
    inner: S,
    seen: Arc<AtomicBool>,
}

impl<S> FirstRequest<S> {
    fn new(inner: S) -> FirstRequest<S> {
        FirstRequest {
            inner,
            seen: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl<S, R> hyper::service::Service<R> for FirstRequest<S>
where
    S: hyper::service::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, req: R) -> S::Future {
        self.seen.store(true, Ordering::Relaxed);
        self.inner.call(req)
    }
}
