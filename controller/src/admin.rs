//! The admin listener (plain HTTP): `GET /metrics` (Prometheus text), `GET /live` (the process
//! runs), `GET /ready` (the webhook serves with a loaded certificate, or the reconciler runs when
//! the webhook is off).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::http_util::{Body, json_error, text};
use crate::metrics::Metrics;

/// What the admin endpoints report on.
#[derive(Clone)]
pub struct AdminState {
    /// Metrics to render.
    pub metrics: Metrics,
    /// Set once the controller serves (webhook listening with a certificate, reconciler started).
    pub ready: Arc<AtomicBool>,
}

/// Serves admin requests on `listener` until cancelled.
pub async fn serve(listener: TcpListener, state: AdminState, cancel: CancellationToken) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    loop {
        let (stream, _) = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let state = state.clone();
        let cancel = cancel.clone();
        let builder = builder.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&req, &state)) }
            });
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = conn => {}
            }
        });
    }
}

/// Answers one admin request.
pub fn handle<B>(req: &Request<B>, state: &AdminState) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return json_error(StatusCode::METHOD_NOT_ALLOWED, "only GET is supported");
    }
    match req.uri().path() {
        "/metrics" => text(
            StatusCode::OK,
            state.metrics.render(),
            "text/plain; version=0.0.4",
        ),
        "/live" => text(StatusCode::OK, "live\n", "text/plain"),
        "/ready" if state.ready.load(Ordering::Acquire) => {
            text(StatusCode::OK, "ready\n", "text/plain")
        }
        "/ready" => json_error(StatusCode::SERVICE_UNAVAILABLE, "not ready: starting"),
        _ => json_error(
            StatusCode::NOT_FOUND,
            "not found; try /metrics, /live, /ready",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let state = AdminState {
            metrics: Metrics::new(),
            ready: Arc::new(AtomicBool::new(false)),
        };
        let get = |path: &str| Request::get(path).body(()).unwrap();
        assert_eq!(handle(&get("/live"), &state).status(), StatusCode::OK);
        assert_eq!(
            handle(&get("/ready"), &state).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        state.ready.store(true, Ordering::Release);
        assert_eq!(handle(&get("/ready"), &state).status(), StatusCode::OK);
        assert_eq!(handle(&get("/metrics"), &state).status(), StatusCode::OK);
        assert_eq!(
            handle(&get("/nope"), &state).status(),
            StatusCode::NOT_FOUND
        );
    }
}
