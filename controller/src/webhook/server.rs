//! The webhook's HTTPS listener: `POST /mutate` answers `AdmissionReview`s.
//!
//! TLS with rustls (ring) through tokio-rustls, HTTP/1.1 and HTTP/2 through hyper's auto
//! builder. Every failure answers the API server, never panics: a body that is not an
//! `admission.k8s.io/v1` `AdmissionReview` with a `request` gets HTTP 400 and `{"error": …}`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::http_util::{Body, json, json_error};
use crate::metrics::Metrics;
use crate::webhook::inject::{InjectConfig, Outcome, decide};
use crate::webhook::review::{API_VERSION, AdmissionReviewRequest, KIND};

/// Largest accepted review (a pod with a large spec and annotations stays far below).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Deadline of a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline of reading a request's headers (slow clients cannot hold connections forever).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight requests may take to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What the webhook needs to answer.
#[derive(Clone)]
pub struct WebhookState {
    /// Injection settings.
    pub config: Arc<InjectConfig>,
    /// Metrics to count requests in.
    pub metrics: Metrics,
}

/// Serves HTTPS on `listener` until `cancel`, then lets in-flight requests finish (bounded).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    state: WebhookState,
    cancel: CancellationToken,
) {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    loop {
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let state = state.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "webhook TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "webhook TLS handshake timed out");
                    return;
                }
            };
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(req, &state, peer).await) }
            });
            let conn = builder
                .serve_connection(TokioIo::new(tls), service)
                .into_owned();
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "webhook connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("webhook connections still open after the drain timeout");
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
        Err(e) => return malformed(state, peer, &format!("not an AdmissionReview: {e}")),
    };
    if review.api_version != API_VERSION || review.kind != KIND {
        return malformed(
            state,
            peer,
            &format!(
                "expected apiVersion {API_VERSION} kind {KIND}, got apiVersion {:?} kind {:?}",
                review.api_version, review.kind
            ),
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

fn malformed(state: &WebhookState, peer: SocketAddr, message: &str) -> Response<Body> {
    state.metrics.webhook_request(Outcome::Error);
    tracing::warn!(%peer, error = message, "malformed admission request");
    json_error(StatusCode::BAD_REQUEST, message)
}
