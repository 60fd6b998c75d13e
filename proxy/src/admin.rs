//! The admin listener (default `0.0.0.0:9901`). What other parties need is served to everyone
//! who can reach it:
//! - `GET /probe`: what companions time: a constant tiny 200, no store I/O, no allocation;
//! - `GET /live`: the process runs; `GET /ready`: 200 once a catalog snapshot is loaded (a JSON
//!   body with its age), 503 before that and while draining at shutdown (kubelet probes);
//! - `GET /metrics`: Prometheus text format (the scraper).
//!
//! What only an operator needs is served on loopback only (inside the pod: `kubectl
//! port-forward` connects there), unless `--explain-from anywhere`:
//! - `GET /explain`: a dry run of the selection, answered as JSON (the full ranked table:
//!   executors, endpoints, scores); the criteria are the client's own unless given as query
//!   parameters `model_type`, `input_format`, `output_format` (all three), `latency_weight`,
//!   `accuracy_weight`, `max_latency_ms`, `min_accuracy`, `model` (a pinned model name) and
//!   `random` (the random number of the near-tie spread). Sends nothing anywhere.
//!
//! Errors use TF Serving's `{"error": "..."}` shape.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use http::{Method, Request, Response, StatusCode};
use mulambda_catalog::{LeaseState, ModelTraits, SoftCriteria};
use mulambda_runtime::Peer;
use mulambda_runtime::response::{self, Body, error as error_response};

use crate::metrics::Metrics;
use crate::selection::{HealthRegistry, SelectionRequest, explain_with_random};
use crate::snapshot::SnapshotState;

/// What the admin endpoints report on.
pub struct AdminState {
    /// The catalog snapshot.
    pub snapshot: Arc<SnapshotState>,
    /// Metrics to render.
    pub metrics: Metrics,
    /// Per-executor health (for the breaker gauge).
    pub health: Arc<HealthRegistry>,
    /// The client's hard criteria.
    pub hard: ModelTraits,
    /// The client's soft criteria.
    pub soft: SoftCriteria,
    /// Set once shutdown began: `/ready` answers 503.
    pub draining: Arc<AtomicBool>,
    /// The client registration's lease.
    pub lease: Arc<LeaseState>,
    /// Who may call `/explain`.
    pub explain: ExplainAccess,
}

/// Who may call `/explain` on the admin listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ExplainAccess {
    /// Clients on the same host or in the same pod (a loopback address).
    #[default]
    Loopback,
    /// Every client that reaches the admin listener.
    Anywhere,
}

/// Answers one admin request from `peer`.
pub fn handle<B>(state: &AdminState, req: &Request<B>, peer: Peer) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return error_response(StatusCode::METHOD_NOT_ALLOWED, "only GET is supported");
    }
    match req.uri().path() {
        "/probe" => response::text(StatusCode::OK, "ok\n"),
        "/live" => response::text(StatusCode::OK, "live\n"),
        "/ready" => ready(state),
        "/metrics" => metrics(state),
        "/explain" if state.explain == ExplainAccess::Anywhere || peer.is_loopback() => {
            explain(state, req.uri().query())
        }
        "/explain" => error_response(
            StatusCode::FORBIDDEN,
            "/explain is served on loopback only (inside the pod, e.g. through kubectl \
             port-forward); --explain-from anywhere (MULAMBDA_EXPLAIN_FROM) serves it to all",
        ),
        _ => error_response(StatusCode::NOT_FOUND, "not found"),
    }
}

fn ready(state: &AdminState) -> Response<Body> {
    if state.draining.load(Ordering::Relaxed) {
        return error_response(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    let Some(snap) = state.snapshot.load() else {
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "no catalog snapshot loaded yet",
        );
    };
    let body = serde_json::json!({
        "ready": true,
        "snapshot_age_seconds": state.snapshot.age().map_or(0.0, |a| a.as_secs_f64()),
        "executors": snap.table.len(),
        "generation": snap.generation,
        "store_connected": state.snapshot.store_connected(),
        "registered": state.lease.is_registered(),
    });
    response::json(StatusCode::OK, body.to_string())
}

fn metrics(state: &AdminState) -> Response<Body> {
    let m = &state.metrics;
    if let Some(age) = state.snapshot.age() {
        m.snapshot_age.set(age.as_secs_f64());
    }
    m.breaker_open.set(state.health.open_breakers() as i64);
    response::metrics(m.render())
}

fn explain(state: &AdminState, query: Option<&str>) -> Response<Body> {
    let Some(snap) = state.snapshot.load() else {
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "no catalog snapshot loaded yet",
        );
    };
    let q = match ExplainQuery::parse(query.unwrap_or(""), &state.hard, state.soft) {
        Ok(q) => q,
        Err(msg) => return error_response(StatusCode::BAD_REQUEST, &msg),
    };
    let req = SelectionRequest {
        hard: &q.hard,
        soft: q.soft,
        pinned_model: q.model.as_deref(),
    };
    let explanation = explain_with_random(&snap.table, &req, q.random, Instant::now());
    match serde_json::to_string(&explanation) {
        Ok(body) => response::json(StatusCode::OK, body),
        Err(e) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot render the explanation: {e}"),
        ),
    }
}

/// The criteria of a dry run.
#[derive(Debug, Clone, PartialEq)]
pub struct ExplainQuery {
    /// Hard criteria.
    pub hard: ModelTraits,
    /// Soft criteria.
    pub soft: SoftCriteria,
    /// Pinned model.
    pub model: Option<String>,
    /// Random number for the near-tie spread.
    pub random: u64,
}

// === impl ExplainQuery ===

impl ExplainQuery {
    /// Parses query parameters over the client's own criteria; the error names the parameter.
    pub fn parse(
        query: &str,
        hard: &ModelTraits,
        soft: SoftCriteria,
    ) -> Result<ExplainQuery, String> {
        let mut out = ExplainQuery {
            hard: hard.clone(),
            soft,
            model: None,
            random: 0,
        };
        let (mut t, mut i, mut o) = (None, None, None);
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let num = |field: &'static str| {
                mulambda_catalog::parse_number(field, &v).map_err(|e| e.to_string())
            };
            match k.as_ref() {
                "model_type" => t = Some(v.to_string()),
                "input_format" => i = Some(v.to_string()),
                "output_format" => o = Some(v.to_string()),
                "latency_weight" => out.soft.latency_weight = num("latency_weight")?,
                "accuracy_weight" => out.soft.accuracy_weight = num("accuracy_weight")?,
                "max_latency_ms" => out.soft.max_latency_ms = Some(num("max_latency_ms")?),
                "min_accuracy" => out.soft.min_accuracy = Some(num("min_accuracy")?),
                "model" if !v.trim().is_empty() => out.model = Some(v.trim().to_string()),
                "model" => {}
                "random" => {
                    out.random = v
                        .trim()
                        .parse()
                        .map_err(|_| format!("invalid random {v:?}: not a whole number"))?
                }
                other => return Err(format!("unknown query parameter {other:?}")),
            }
        }
        match (t, i, o) {
            (None, None, None) => {}
            (Some(t), Some(i), Some(o)) => {
                out.hard = ModelTraits::parse(&t, &i, &o).map_err(|e| e.to_string())?
            }
            _ => {
                return Err(
                    "give all three of model_type, input_format and output_format, or none".into(),
                );
            }
        }
        out.soft.validate().map_err(|e| e.to_string())?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selection::HealthConfig;

    #[test]
    fn explain_is_served_on_loopback_only_unless_opened() {
        let mut state = AdminState {
            snapshot: Arc::new(SnapshotState::new()),
            metrics: Metrics::new(),
            health: Arc::new(HealthRegistry::new(HealthConfig::default())),
            hard: ModelTraits::parse("classification", "image", "label").unwrap(),
            soft: SoftCriteria::default(),
            draining: Arc::new(AtomicBool::new(false)),
            lease: Arc::new(LeaseState::default()),
            explain: ExplainAccess::Loopback,
        };
        let peer = |remote: &str| Peer {
            remote: remote.parse().unwrap(),
            local: "10.0.0.2:9901".parse().unwrap(),
        };
        let (pod, local) = (peer("10.0.0.9:40000"), peer("127.0.0.1:40000"));
        let get = |path: &str| Request::get(path).body(()).unwrap();
        let status = |s: &AdminState, path: &str, p: Peer| handle(s, &get(path), p).status();
        // What companions, kubelet and the scraper need is served to every peer.
        for path in ["/probe", "/live", "/metrics"] {
            assert_eq!(status(&state, path, pod), StatusCode::OK, "{path}");
        }
        assert_eq!(status(&state, "/explain", pod), StatusCode::FORBIDDEN);
        // Served (503: no snapshot yet) on loopback, also as an IPv4-mapped address.
        assert_eq!(
            status(&state, "/explain", local),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let mapped = peer("[::ffff:127.0.0.1]:40000");
        assert_eq!(
            status(&state, "/explain", mapped),
            StatusCode::SERVICE_UNAVAILABLE
        );
        state.explain = ExplainAccess::Anywhere;
        assert_eq!(
            status(&state, "/explain", pod),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn explain_query_defaults_and_overrides() {
        let hard = ModelTraits::parse("classification", "image", "label").unwrap();
        let soft = SoftCriteria::default();
        let q = ExplainQuery::parse("", &hard, soft).unwrap();
        assert_eq!(
            (q.hard.clone(), q.soft, q.model),
            (hard.clone(), soft, None)
        );
        let q = ExplainQuery::parse(
            "model_type=regression&input_format=number&output_format=number&latency_weight=0&model=m&random=7",
            &hard,
            soft,
        )
        .unwrap();
        assert_eq!(q.hard.model_type.as_str(), "regression");
        assert_eq!(q.soft.latency_weight, 0.0);
        assert_eq!(q.model.as_deref(), Some("m"));
        assert_eq!(q.random, 7);
        for bad in [
            "model_type=regression",
            "latency_weight=x",
            "latency_weight=0&accuracy_weight=0",
            "colour=blue",
            "random=-1",
        ] {
            assert!(ExplainQuery::parse(bad, &hard, soft).is_err(), "{bad}");
        }
    }
}
