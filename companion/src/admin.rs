//! The admin listener: `GET /metrics` (Prometheus text), `GET /live` (the process runs),
//! `GET /ready` (registered in the store and TF Serving reports the model `AVAILABLE`).
//! Errors use TF Serving's `{"error": "..."}` shape. Served by [`mulambda_runtime::server`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::{Method, Request, Response, StatusCode};
use mulambda_catalog::LeaseState;
use mulambda_runtime::response::{self, Body, error as json_error};

use crate::metrics::Metrics;

/// What the admin endpoints report on.
pub struct AdminState {
    /// Metrics to render.
    pub metrics: Metrics,
    /// Whether TF Serving reports the model available.
    pub model_ready: Arc<AtomicBool>,
    /// The lease's health.
    pub lease: Arc<LeaseState>,
}

/// Answers one admin request.
pub fn handle<B>(req: &Request<B>, state: &AdminState) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return json_error(StatusCode::METHOD_NOT_ALLOWED, "only GET is supported");
    }
    match req.uri().path() {
        "/metrics" => response::metrics(state.metrics.render()),
        "/live" => response::text(StatusCode::OK, "live\n"),
        "/ready" => {
            let registered = state.lease.is_registered();
            let model = state.model_ready.load(Ordering::Relaxed);
            match (registered, model) {
                (true, true) => response::text(StatusCode::OK, "ready\n"),
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
