//! The admin listener: `GET /metrics` (Prometheus text), `GET /live` (the process runs),
//! `GET /ready` (registered in the store and TF Serving reports the model `AVAILABLE`).
//! Errors use TF Serving's `{"error": "..."}` shape.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use mulambda_catalog::LeaseState;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// What the admin endpoints report on.
#[derive(Clone)]
pub struct AdminState {
    /// Metrics to render.
    pub metrics: Metrics,
    /// Whether TF Serving reports the model available.
    pub model_ready: Arc<AtomicBool>,
    /// The lease's health.
    pub lease: Arc<LeaseState>,
}

/// Serves admin requests on `listener` until cancelled.
pub async fn serve(listener: TcpListener, state: AdminState, cancel: CancellationToken) {
    loop {
        let (stream, _) = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: pause briefly instead of spinning.
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let state = state.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&req, &state)) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = conn => {}
            }
        });
    }
}

/// Answers one admin request.
pub fn handle(req: &Request<Incoming>, state: &AdminState) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return json_error(StatusCode::METHOD_NOT_ALLOWED, "only GET is supported");
    }
    match req.uri().path() {
        "/metrics" => Response::builder()
            .header(header::CONTENT_TYPE, "text/plain; version=0.0.4")
            .body(Full::new(Bytes::from(state.metrics.render())))
            .unwrap_or_else(|_| internal()),
        "/live" => text(StatusCode::OK, "live\n"),
        "/ready" => {
            let registered = state.lease.is_registered();
            let model = state.model_ready.load(Ordering::Relaxed);
            match (registered, model) {
                (true, true) => text(StatusCode::OK, "ready\n"),
                (false, _) => json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "executor not registered in the store",
                ),
                (true, false) => json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "TF Serving does not report the model AVAILABLE",
                ),
            }
        }
        _ => json_error(StatusCode::NOT_FOUND, "not found"),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap_or_else(|_| internal())
}

fn json_error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "error": message }).to_string();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| internal())
}

fn internal() -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(b"{\"error\": \"internal\"}")));
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}
