//! Intercepted mode, the proxy's side: application listeners that accept connections the init
//! step's NAT redirect sent them (`mulambda-intercept`, docs/interception.md).
//!
//! An [`AppListener`] is how every application listener of the proxy is bound and served
//! (TF Serving REST today, gRPC alike: the [`Protocol`] only decides the shape of a refusal), so
//! each gets intercepted mode by construction:
//!
//! - **localhost mode** (no `--intercept-redirect`): one socket, served exactly as before through
//!   [`Listener::serve`]; no socket option is read and no wrapper is in the way;
//! - **intercepted mode**: the `redirect` in the pod's `nat` `output` hook sends IPv4 to
//!   `127.0.0.1` and IPv6 to `::1`, so the listener binds **both** loopback addresses at its port
//!   (two sockets, not a dual-stack `[::]`, which would also listen on the pod's own addresses and
//!   offer the proxy to the network). Per accepted connection it reads the original destination
//!   ([`OriginalDst::of`], one `getsockopt`) through the server's per-connection hook
//!   ([`Listener::serve_accepted`]), and then:
//!   - a **direct** connection (the application called the proxy port itself) is served as in
//!     localhost mode;
//!   - a connection **redirected from a TF Serving port this listener serves** is served exactly
//!     as a call to `localhost:8501` would be, and recorded: the response header
//!     `x-mulambda-original-dst` (the receipt of where the application was going), an `info`
//!     span with `original_dst` around each request (so every log line of the request carries it),
//!     and `mulambda_proxy_intercepted_{connections,requests}_total{port}` labelled with the
//!     intercepted port (bounded: the ports of the mapping);
//!   - a connection **redirected from any other port** is refused, never forwarded: every request
//!     on it is answered `421 Misdirected Request` with `{"error": ...}` (REST; the connection is
//!     closed after the answer) or a trailers-only gRPC `FAILED_PRECONDITION` (gRPC), with the
//!     message of [`mulambda_intercept::NotServed`], which names both ports.
//!
//! Which ports a listener serves comes from the same mapping the init step installs
//! (`MULAMBDA_INTERCEPT_REDIRECT`, [`Redirects::served_by`] its port): the webhook gives both
//! containers the same value, so they cannot disagree silently.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use mulambda_intercept::{OriginalDst, Redirects, ServedPorts};
use mulambda_runtime::server::{BindError, Plain};
use mulambda_runtime::{Limits, Listener, Peer};
use prometheus::{IntCounter, IntCounterVec, Opts};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing::instrument::Instrumented;

use crate::metrics::Metrics;

/// Response header with the original destination of a redirected connection (`ip:port`, IPv6
/// in brackets): the receipt an operator reads to see where the application meant to go.
pub static ORIGINAL_DST: HeaderName = HeaderName::from_static("x-mulambda-original-dst");

/// Label value of `port` for refused connections: their port is whatever the init step sent,
/// so it is not used as a label value (the log line names it).
const OTHER_PORT: &str = "other";

/// The protocol an application listener speaks; decides the shape of a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// TF Serving REST: `421 Misdirected Request` with `{"error": ...}`, then the connection
    /// closes (HTTP/1.1).
    Rest,
    /// gRPC: a trailers-only response, `grpc-status: 9` (`FAILED_PRECONDITION`: the pod's
    /// redirect and the proxy's listeners disagree) with the message in `grpc-message`.
    Grpc,
}

/// Intercepted mode's settings, shared by every application listener of a proxy; created once
/// ([`Interception::new`]) because it registers the metrics.
#[derive(Clone, Default)]
pub struct Interception {
    inner: Option<Arc<Shared>>,
}

struct Shared {
    redirects: Redirects,
    connections: IntCounterVec,
    requests: IntCounterVec,
    /// Ports of the bound application listeners, for [`Interception::check_listeners`].
    bound: Mutex<Vec<(&'static str, u16)>>,
}

// === impl Interception ===

impl Interception {
    /// Localhost mode: no listener reads original destinations.
    pub fn localhost() -> Interception {
        Interception::default()
    }

    /// Intercepted mode with the init step's port mapping, or localhost mode for `None`. The
    /// metrics are registered in `metrics` (only in intercepted mode).
    pub fn new(redirects: Option<Redirects>, metrics: &Metrics) -> Interception {
        let Some(redirects) = redirects else {
            return Interception::localhost();
        };
        let connections = IntCounterVec::new(
            Opts::new(
                "mulambda_proxy_intercepted_connections_total",
                "Connections redirected to the proxy by intercepted mode's NAT rule, by the TF \
                 Serving port the application dialled (\"other\" when refused) and outcome \
                 (served|refused).",
            ),
            &["port", "outcome"],
        )
        .expect("valid metric");
        let requests = IntCounterVec::new(
            Opts::new(
                "mulambda_proxy_intercepted_requests_total",
                "Requests served on redirected connections, by the TF Serving port the \
                 application dialled.",
            ),
            &["port"],
        )
        .expect("valid metric");
        for c in [&connections, &requests] {
            // One Interception per proxy: registration fails only on a programming error, and
            // then the counters still count (they are just not exported).
            if let Err(e) = metrics.register(Box::new(c.clone())) {
                tracing::warn!(error = %e, "interception metrics not registered");
            }
        }
        connections.with_label_values(&[OTHER_PORT, "refused"]);
        Interception {
            inner: Some(Arc::new(Shared {
                redirects,
                connections,
                requests,
                bound: Mutex::new(Vec::new()),
            })),
        }
    }

    /// Whether intercepted mode is on.
    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// The port mapping, in intercepted mode.
    pub fn redirects(&self) -> Option<&Redirects> {
        self.inner.as_ref().map(|s| &s.redirects)
    }

    /// Logs what the mapping and the bound listeners disagree on, once all are bound: a proxy
    /// port no listener serves (its calls will be refused by the kernel), a listener that serves
    /// no redirected port (direct calls only). Returns the warnings, for tests.
    pub fn check_listeners(&self) -> Vec<String> {
        let Some(shared) = &self.inner else {
            return Vec::new();
        };
        let bound = shared
            .bound
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut warnings = Vec::new();
        for r in shared.redirects.iter() {
            if !bound.iter().any(|(_, port)| *port == r.proxy_port()) {
                warnings.push(format!(
                    "--intercept-redirect {r}: no application listener of this proxy is on port \
                     {}; redirected calls to port {} will be refused by the kernel",
                    r.proxy_port(),
                    r.tf_port()
                ));
            }
        }
        for (flag, port) in &bound {
            if shared.redirects.served_by(*port).is_empty() {
                warnings.push(format!(
                    "--{flag} (port {port}) is no redirect target of --intercept-redirect {}: it \
                     serves direct calls only",
                    shared.redirects
                ));
            }
        }
        for w in &warnings {
            tracing::warn!("{w}");
        }
        warnings
    }
}

/// One application listener: one socket in localhost mode, both loopback addresses at its port
/// in intercepted mode; see the module docs.
pub struct AppListener {
    flag: &'static str,
    protocol: Protocol,
    sockets: Vec<Listener>,
    /// `None` in localhost mode.
    served: Option<Arc<Served>>,
}

/// What an intercepted listener serves, with its counters resolved once.
struct Served {
    flag: &'static str,
    ports: ServedPorts,
    /// Per served port: (port, connections served, requests).
    counters: Vec<(u16, IntCounter, IntCounter)>,
    refused: IntCounter,
}

// === impl AppListener ===

impl AppListener {
    /// Binds `addr` (set by `--{flag}`) and, in intercepted mode, the loopback address of the
    /// other family at the same port. An IPv6 loopback that does not exist (IPv6 disabled in the
    /// pod) is skipped with a warning: the kernel then has no IPv6 to redirect either.
    pub async fn bind(
        flag: &'static str,
        addr: SocketAddr,
        limits: Limits,
        protocol: Protocol,
        interception: &Interception,
    ) -> Result<AppListener, BindError> {
        let first = Listener::bind(flag, addr, limits).await?;
        let local = first.local_addr();
        let mut sockets = vec![first];
        let Some(shared) = &interception.inner else {
            return Ok(AppListener {
                flag,
                protocol,
                sockets,
                served: None,
            });
        };
        for extra in uncovered_loopbacks(local) {
            match Listener::bind(flag, extra, limits).await {
                Ok(l) => sockets.push(l),
                Err(e) if extra.is_ipv6() && no_ipv6(&e.source) => tracing::warn!(
                    listener = flag,
                    addr = %extra,
                    error = %e.source,
                    "no IPv6 loopback in this network namespace; intercepting IPv4 only"
                ),
                Err(e) => return Err(e),
            }
        }
        let port = local.port();
        let ports = shared.redirects.served_by(port);
        let counters = ports
            .iter()
            .map(|p| {
                let label = p.to_string();
                (
                    p,
                    shared.connections.with_label_values(&[&label, "served"]),
                    shared.requests.with_label_values(&[&label]),
                )
            })
            .collect();
        let refused = shared
            .connections
            .with_label_values(&[OTHER_PORT, "refused"]);
        shared
            .bound
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((flag, port));
        Ok(AppListener {
            flag,
            protocol,
            sockets,
            served: Some(Arc::new(Served {
                flag,
                ports,
                counters,
                refused,
            })),
        })
    }

    /// The first bound address (the configured one; useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.sockets[0].local_addr()
    }

    /// Every bound address.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets.iter().map(Listener::local_addr).collect()
    }

    /// The TF Serving ports this listener accepts redirected connections for (`None` in
    /// localhost mode).
    pub fn served_ports(&self) -> Option<&ServedPorts> {
        self.served.as_ref().map(|s| &s.ports)
    }

    /// Serves every socket with one service per connection from `make_service` until `cancel`,
    /// then drains (see [`Listener::serve`]). Returns whether every socket drained in time.
    pub async fn serve<M, S, B>(self, make_service: M, cancel: CancellationToken) -> bool
    where
        M: FnMut(Peer) -> S + Clone + Send + 'static,
        S: hyper::service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
            + Send
            + 'static,
        S::Future: Send + 'static,
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let mut tasks = tokio::task::JoinSet::new();
        for socket in self.sockets {
            let cancel = cancel.clone();
            let mut make_service = make_service.clone();
            match &self.served {
                None => {
                    tasks.spawn(socket.serve(make_service, cancel));
                }
                Some(served) => {
                    let (served, protocol) = (Arc::clone(served), self.protocol);
                    tasks.spawn(socket.serve_accepted(
                        Plain,
                        move |peer, tcp: &TcpStream| {
                            let origin = served.classify(tcp, peer, protocol);
                            Intercepted {
                                inner: make_service(peer),
                                origin,
                            }
                        },
                        cancel,
                    ));
                }
            }
        }
        let mut drained = true;
        while let Some(done) = tasks.join_next().await {
            drained &= done.unwrap_or(false);
        }
        tracing::debug!(
            listener = self.flag,
            drained,
            "application listener stopped"
        );
        drained
    }
}

/// The loopback addresses at `local`'s port that a listener on `local` does not receive
/// connections for: `redirect` sends IPv4 to 127.0.0.1 and IPv6 to ::1. `0.0.0.0` covers
/// 127.0.0.1; `[::]` covers both (Linux binds it dual-stack unless `bindv6only` is set, the
/// default).
fn uncovered_loopbacks(local: SocketAddr) -> Vec<SocketAddr> {
    let v4 = match local.ip() {
        IpAddr::V4(ip) => ip.is_loopback() || ip.is_unspecified(),
        IpAddr::V6(ip) => ip.is_unspecified(),
    };
    let v6 = match local.ip() {
        IpAddr::V4(_) => false,
        IpAddr::V6(ip) => ip.is_loopback() || ip.is_unspecified(),
    };
    let mut out = Vec::new();
    if !v4 {
        out.push(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), local.port()));
    }
    if !v6 {
        out.push(SocketAddr::new(Ipv6Addr::LOCALHOST.into(), local.port()));
    }
    out
}

/// Binding `::1` failed because this network namespace has no IPv6 (or no loopback address).
fn no_ipv6(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc_errno::EADDRNOTAVAIL) | Some(libc_errno::EAFNOSUPPORT)
    )
}

/// The two errno values of [`no_ipv6`] (Linux), without a `libc` dependency for two numbers.
mod libc_errno {
    /// Cannot assign requested address.
    pub const EADDRNOTAVAIL: i32 = 99;
    /// Address family not supported by protocol.
    pub const EAFNOSUPPORT: i32 = 97;
}

/// How a connection arrived at an intercepted listener.
enum Origin {
    /// Addressed to the listener itself.
    Direct,
    /// Redirected from a served port.
    Redirected {
        /// `x-mulambda-original-dst`.
        header: HeaderValue,
        /// Counts requests of this port.
        requests: IntCounter,
        /// Carries `original_dst` into every log line of its requests.
        span: tracing::Span,
    },
    /// Redirected from a port this listener does not serve.
    Refused {
        protocol: Protocol,
        message: Arc<str>,
    },
}

// === impl Served ===

impl Served {
    /// Reads the connection's original destination and decides; logs and counts.
    fn classify(&self, tcp: &TcpStream, peer: Peer, protocol: Protocol) -> Origin {
        let dst = match OriginalDst::of(tcp) {
            Ok(Some(dst)) => dst,
            Ok(None) => return Origin::Direct,
            Err(e) => {
                // Not a "not redirected" answer; the connection still arrived at the proxy's own
                // loopback listener, so it is served as localhost mode would.
                tracing::warn!(listener = self.flag, remote = %peer.remote, error = %e,
                    "cannot read the original destination; serving as a direct connection");
                return Origin::Direct;
            }
        };
        match self.ports.admit(&dst) {
            Ok(()) => {
                let port = dst.intercepted_port();
                if let Some((_, connections, requests)) =
                    self.counters.iter().find(|(p, _, _)| *p == port)
                {
                    connections.inc();
                    let original = dst.addr();
                    tracing::debug!(listener = self.flag, remote = %peer.remote,
                        original_dst = %original, "intercepted connection");
                    return Origin::Redirected {
                        header: HeaderValue::from_str(&original.to_string())
                            .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
                        requests: requests.clone(),
                        span: tracing::info_span!("intercepted", original_dst = %original),
                    };
                }
                // admit() said yes, so the port has counters; never reached.
                Origin::Direct
            }
            Err(refused) => {
                self.refused.inc();
                let message = refused.to_string();
                tracing::warn!(listener = self.flag, remote = %peer.remote,
                    original_dst = %refused.original_dst, "{message}");
                Origin::Refused {
                    protocol,
                    message: Arc::from(message),
                }
            }
        }
    }
}

/// The service of one connection of an intercepted listener: the application's service, or a
/// refusal for every request.
pub(crate) struct Intercepted<S> {
    inner: S,
    origin: Origin,
}

impl<S, B> hyper::service::Service<Request<Incoming>> for Intercepted<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>,
{
    type Response = Response<Either<B, Full<Bytes>>>;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        match &self.origin {
            Origin::Direct => ResponseFuture::Direct {
                inner: self.inner.call(req),
            },
            Origin::Redirected {
                header,
                requests,
                span,
            } => {
                requests.inc();
                ResponseFuture::Redirected {
                    inner: self.inner.call(req).instrument(span.clone()),
                    header: Some(header.clone()),
                }
            }
            Origin::Refused { protocol, message } => ResponseFuture::Refused {
                response: Some(refusal(*protocol, message)),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Intercepted`]: no allocation per request.
    #[project = ResponseFutureProj]
    pub(crate) enum ResponseFuture<F> {
        /// A direct connection.
        Direct { #[pin] inner: F },
        /// A redirected one: the header is added to the response.
        Redirected { #[pin] inner: Instrumented<F>, header: Option<HeaderValue> },
        /// A refused one.
        Refused { response: Option<Response<Full<Bytes>>> },
    }
}

impl<F, B> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, Infallible>>,
{
    type Output = Result<Response<Either<B, Full<Bytes>>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ResponseFutureProj::Direct { inner } => {
                inner.poll(cx).map(|r| r.map(|resp| resp.map(Either::Left)))
            }
            ResponseFutureProj::Redirected { inner, header } => {
                let Poll::Ready(Ok(mut resp)) = inner.poll(cx) else {
                    return Poll::Pending;
                };
                if let Some(h) = header.take() {
                    resp.headers_mut().insert(ORIGINAL_DST.clone(), h);
                }
                Poll::Ready(Ok(resp.map(Either::Left)))
            }
            ResponseFutureProj::Refused { response } => {
                let resp = response.take().unwrap_or_else(|| {
                    mulambda_runtime::response::error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "response polled after completion",
                    )
                });
                Poll::Ready(Ok(resp.map(Either::Right)))
            }
        }
    }
}

/// The answer to every request of a refused connection, in the listener's protocol.
fn refusal(protocol: Protocol, message: &str) -> Response<Full<Bytes>> {
    match protocol {
        Protocol::Rest => {
            let mut resp =
                mulambda_runtime::response::error(StatusCode::MISDIRECTED_REQUEST, message);
            // HTTP/1.1: end the connection after the answer (HTTP/2 ignores the header).
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            resp
        }
        Protocol::Grpc => {
            let mut resp = Response::new(Full::new(Bytes::new()));
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/grpc"),
            );
            h.insert("grpc-status", HeaderValue::from_static("9"));
            if let Ok(v) = HeaderValue::from_str(&grpc_message(message)) {
                h.insert("grpc-message", v);
            }
            resp
        }
    }
}

/// Percent-encodes what gRPC's `grpc-message` must not carry raw: bytes outside printable
/// ASCII, and `%` itself.
fn grpc_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for b in message.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_other_loopback_family_is_added_unless_the_address_covers_it() {
        assert_eq!(
            uncovered_loopbacks(addr("127.0.0.1:18501")),
            [addr("[::1]:18501")]
        );
        assert_eq!(
            uncovered_loopbacks(addr("[::1]:18501")),
            [addr("127.0.0.1:18501")]
        );
        assert_eq!(
            uncovered_loopbacks(addr("0.0.0.0:18501")),
            [addr("[::1]:18501")]
        );
        assert!(uncovered_loopbacks(addr("[::]:18501")).is_empty());
        assert_eq!(
            uncovered_loopbacks(addr("10.0.0.7:18501")),
            [addr("127.0.0.1:18501"), addr("[::1]:18501")]
        );
    }

    #[test]
    fn grpc_messages_escape_only_what_grpc_forbids() {
        assert_eq!(
            grpc_message("to [fd00::2]:9000 (100%)"),
            "to [fd00::2]:9000 (100%25)"
        );
        assert_eq!(grpc_message("é\n"), "%C3%A9%0A");
    }

    #[tokio::test]
    async fn refusals_speak_the_listeners_protocol() {
        use http_body_util::BodyExt;
        let r = refusal(Protocol::Rest, "connection to 10.0.0.7:9000 was redirected");
        assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST);
        assert_eq!(r.headers()[header::CONNECTION], "close");
        let body = r.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"], "connection to 10.0.0.7:9000 was redirected");

        let g = refusal(Protocol::Grpc, "not 9000");
        assert_eq!(g.status(), StatusCode::OK);
        assert_eq!(g.headers()["content-type"], "application/grpc");
        assert_eq!(g.headers()["grpc-status"], "9");
        assert_eq!(g.headers()["grpc-message"], "not 9000");
    }

    #[test]
    fn listeners_and_mapping_disagreements_are_reported() {
        let metrics = Metrics::new();
        let i = Interception::new(
            Some(Redirects::parse("8501=18501,8500=18500").unwrap()),
            &metrics,
        );
        i.inner
            .as_ref()
            .unwrap()
            .bound
            .lock()
            .unwrap()
            .extend([("listen", 18501), ("admin-like", 9000)]);
        let w = i.check_listeners();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains("8500=18500") && w[0].contains("port 18500"),
            "{w:?}"
        );
        assert!(w[1].contains("--admin-like (port 9000)"), "{w:?}");
        assert!(Interception::localhost().check_listeners().is_empty());
        let text = String::from_utf8(metrics.render()).unwrap();
        assert!(
            text.contains(
                "mulambda_proxy_intercepted_connections_total{outcome=\"refused\",port=\"other\"} 0"
            ),
            "{text}"
        );
    }
}
