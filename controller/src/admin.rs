//! The admin listener (plain HTTP): `GET /metrics` (Prometheus text), `GET /live` (the process
//! runs), `GET /ready` (the webhook serves with a loaded certificate, or the reconciler runs when
//! the webhook is off). Served by [`mulambda_runtime::server`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::{Method, Request, Response, StatusCode};
use mulambda_runtime::response::{self, Body, error as json_error};

use crate::metrics::Metrics;

/// What the admin endpoints report on.
pub struct AdminState {
    /// Metrics to render.
    pub metrics: Metrics,
    /// Set once the controller serves (webhook listening with a certificate, reconciler started).
    pub ready: Arc<AtomicBool>,
}

/// Answers one admin request.
pub fn handle<B>(req: &Request<B>, state: &AdminState) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return json_error(StatusCode::METHOD_NOT_ALLOWED, "only GET is supported");
    }
    match req.uri().path() {
        "/metrics" => response::metrics(state.metrics.render()),
        "/live" => response::text(StatusCode::OK, "live\n"),
        "/ready" if state.ready.load(Ordering::Acquire) => {
            response::text(StatusCode::OK, "ready\n")
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
