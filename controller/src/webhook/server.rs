//! The webhook's HTTPS listener: `POST /mutate` answers `AdmissionReview`s.
//!
//! TLS with rustls (ring) through tokio-rustls ([`Tls`]), HTTP/1.1 and HTTP/2 through
//! [`mulambda_runtime::server`] (connection cap, header limits, drain). Every failure answers the
//! API server, never panics: a body that is not an `admission.k8s.io/v1` `AdmissionReview` with a
//! `request` gets HTTP 400 and `{"error": …}`. Neither that answer nor the log repeats any of
//! the body: only what kind of error it was, and where.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use mulambda_runtime::response::{Body, error as json_error, json};
use mulambda_runtime::{Handshake, Limits, Peer, parse};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::metrics::Metrics;
use crate::webhook::inject::{InjectConfig, Outcome, decide};
use crate::webhook::review::{API_VERSION, AdmissionReviewRequest, KIND};

/// Largest accepted review (a pod with a large spec and annotations stays far below).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Deadline of a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The webhook listener's limits: the API servers keep a few connections each; a slow client
/// cannot hold a connection for more than 10 s without sending a request head.
pub const LIMITS: Limits = Limits {
    max_connections: 256,
    header_read_timeout: Duration::from_secs(10),
    max_header_bytes: 16 * 1024,
    drain_timeout: Duration::from_secs(10),
};

/// The webhook's listener settings.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct WebhookConfig {
    /// Webhook HTTPS listener (`POST /mutate`).
    #[arg(long = "webhook-listen", env = "MULAMBDA_WEBHOOK_LISTEN", default_value = "0.0.0.0:8443",
          value_name = "ADDR", value_parser = parse::socket_addr)]
    pub listen: SocketAddr,

    /// Webhook certificate chain (PEM), e.g. `tls.crt` of a cert-manager Secret; reloaded when
    /// it changes.
    #[arg(
        long,
        env = "MULAMBDA_TLS_CERT",
        default_value = "/etc/mulambda/tls/tls.crt",
        value_name = "FILE"
    )]
    pub tls_cert: PathBuf,

    /// Webhook private key (PEM: PKCS#8, PKCS#1 or SEC1); reloaded when it changes.
    #[arg(
        long,
        env = "MULAMBDA_TLS_KEY",
        default_value = "/etc/mulambda/tls/tls.key",
        value_name = "FILE"
    )]
    pub tls_key: PathBuf,

    /// How often the certificate files are checked for new contents.
    #[arg(long = "tls-reload-interval", env = "MULAMBDA_TLS_RELOAD_INTERVAL", default_value = "5s",
          value_name = "DURATION", value_parser = parse::positive_duration)]
    pub reload_interval: Duration,
}

/// What the webhook needs to answer.
#[derive(Clone)]
pub struct WebhookState {
    /// Injection settings.
    pub config: Arc<InjectConfig>,
    /// Metrics to count requests in.
    pub metrics: Metrics,
}

/// The TLS handshake before HTTP, with its own deadline.
#[derive(Clone)]
pub struct Tls(pub TlsAcceptor);

impl Handshake for Tls {
    type Io = TlsStream<TcpStream>;

    async fn handshake(&self, tcp: TcpStream, peer: Peer) -> Option<TlsStream<TcpStream>> {
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.0.accept(tcp)).await {
            Ok(Ok(tls)) => Some(tls),
            Ok(Err(e)) => {
                tracing::debug!(peer = %peer.remote, error = %e, "webhook TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!(peer = %peer.remote, "webhook TLS handshake timed out");
                None
            }
        }
    }
}

/// Answers one HTTP request.
pub async fn handle<B>(req: Request<B>, state: &WebhookState, peer: SocketAddr) -> Response<Body>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if req.uri().path() != "/mutate" {
        return json_error(
            StatusCode::NOT_FOUND,
            "not found; the webhook answers POST /mutate",
        );
    }
    if req.method() != Method::POST {
        return json_error(StatusCode::METHOD_NOT_ALLOWED, "only POST is supported");
    }
    let body = match Limited::new(req.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            state.metrics.webhook_request(Outcome::Error);
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return json_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("AdmissionReview larger than {MAX_BODY_BYTES} bytes"),
                );
            }
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("cannot read the body: {e}"),
            );
        }
    };
    let review: AdmissionReviewRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return malformed(state, peer, &not_a_review(&e)),
    };
    if review.api_version != API_VERSION || review.kind != KIND {
        // The values are not repeated: they are the sender's content.
        return malformed(
            state,
            peer,
            &format!("not an AdmissionReview: expected apiVersion {API_VERSION} kind {KIND}"),
        );
    }
    let Some(request) = review.request else {
        return malformed(state, peer, "AdmissionReview without a request");
    };
    let decision = decide(&request, &state.config);
    state.metrics.webhook_request(decision.outcome);
    tracing::info!(
        uid = %request.uid,
        namespace = request.namespace.as_deref().unwrap_or(""),
        name = request.name.as_deref().unwrap_or(""),
        outcome = decision.outcome.as_str(),
        reason = decision.reason,
        "admission request"
    );
    match serde_json::to_vec(&decision.response.into_review()) {
        Ok(body) => json(StatusCode::OK, body),
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot encode the response: {e}"),
        ),
    }
}

/// What is wrong with a body that is not an AdmissionReview, without any of its content:
/// serde's messages quote the offending value (`invalid type: string "…"`), so only the kind of
/// error and its position are kept, for the log and for the answer alike.
fn not_a_review(e: &serde_json::Error) -> String {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "JSON of another shape",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    format!(
        "not an AdmissionReview: {kind} (line {}, column {}; the content is not repeated)",
        e.line(),
        e.column()
    )
}

/// Counts, logs (never the body) and answers a request that is not a review.
fn malformed(state: &WebhookState, peer: SocketAddr, message: &str) -> Response<Body> {
    state.metrics.webhook_request(Outcome::Error);
    tracing::warn!(%peer, error = message, "malformed admission request");
    json_error(StatusCode::BAD_REQUEST, message)
}
