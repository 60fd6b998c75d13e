//! The application listener's request handling: TF Serving REST in, the best executor out.
//!
//! Per request: parse the path by slicing ([`paths`](crate::paths)); load the snapshot (one
//! atomic load); read per-request overrides from headers; select; read the body up to the
//! retry buffer; forward; on a connect failure or a 503, retry once on the next-best executor
//! within the retry budget; answer with `x-mulambda-model`, `x-mulambda-executor`,
//! `x-mulambda-reason` and `x-request-id`.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::uri::{PathAndQuery, Scheme};
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, Version, header,
};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use mulambda_catalog::names::headers;
use mulambda_catalog::{ModelTraits, SoftCriteria};
use tracing::Instrument;

use crate::errors::error_response;
use crate::forward::{AttemptError, BodyError, ForwardBody, Forwarder, PreparedBody};
use crate::header_names as names;
use crate::metrics::{Metrics, Outcome, RetryReason};
use crate::paths::{ModelPath, PathError, resolve_selector};
use crate::selection::{SelectionRequest, select_executor};
use crate::snapshot::{Snapshot, SnapshotState};

/// Response body of the application listener: an executor's body streamed through, or a small
/// body of the proxy's own.
pub type ProxyBody = Either<Incoming, Full<Bytes>>;

/// Everything request handling needs.
pub struct AppState {
    /// The catalog snapshot.
    pub snapshot: Arc<SnapshotState>,
    /// The pooled client and retry budget.
    pub forwarder: Forwarder,
    /// Metrics.
    pub metrics: Metrics,
    /// The client's hard criteria.
    pub hard: ModelTraits,
    /// The client's soft criteria (defaults of every request).
    pub soft: SoftCriteria,
}

/// One attempt's result.
type AttemptResult = Result<Response<Incoming>, AttemptError>;

/// Decrements the in-flight gauge when the request is done.
struct InflightGuard<'a>(&'a Metrics);

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        self.0.inflight.dec();
    }
}

/// Handles one request of the application listener.
pub async fn handle(state: Arc<AppState>, req: Request<Incoming>) -> Response<ProxyBody> {
    state.metrics.inflight.inc();
    let _guard = InflightGuard(&state.metrics);
    let request_id = request_id(req.headers());
    let span = tracing::debug_span!(
        "request",
        request_id = request_id.to_str().unwrap_or_default()
    );
    // A disabled span (the default `info` filter) is not worth a wrapper around the future.
    let mut resp = if span.is_disabled() {
        serve(&state, req, &request_id).await
    } else {
        serve(&state, req, &request_id).instrument(span).await
    };
    resp.headers_mut().insert(&names::REQUEST_ID, request_id);
    resp
}

/// The incoming `x-request-id`, or a new random one.
fn request_id(h: &HeaderMap) -> HeaderValue {
    if let Some(v) = h.get(&names::REQUEST_ID)
        && !v.is_empty()
        && v.len() <= 128
        && v.to_str().is_ok()
    {
        return v.clone();
    }
    // 16 lowercase hex digits, written without the formatting machinery.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = rand::random::<u64>();
    let mut id = [0u8; 16];
    for (i, d) in id.iter_mut().enumerate() {
        *d = HEX[((n >> (60 - 4 * i)) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&id).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

fn fail(metrics: &Metrics, status: StatusCode, outcome: Outcome, msg: &str) -> Response<ProxyBody> {
    metrics.request(outcome, "");
    error_response(status, msg).map(Either::Right)
}

async fn serve(
    state: &AppState,
    req: Request<Incoming>,
    request_id: &HeaderValue,
) -> Response<ProxyBody> {
    let m = &state.metrics;
    let (mut parts, body) = req.into_parts();
    let uri = parts.uri.clone();
    let path = match ModelPath::parse(&parts.method, uri.path()) {
        Ok(p) => p,
        Err(PathError::NotFound) => {
            let msg = format!("Not found: {} {}", parts.method, uri.path());
            return fail(m, StatusCode::NOT_FOUND, Outcome::NotFound, &msg);
        }
        Err(PathError::Malformed) => {
            let msg = format!(
                "Malformed request: {} {} (expected GET /v1/models/{{name}}[/versions/{{n}}|/labels/{{l}}][/metadata] or POST /v1/models/{{name}}[/versions/{{n}}|/labels/{{l}}]:predict|classify|regress)",
                parts.method,
                uri.path()
            );
            return fail(m, StatusCode::BAD_REQUEST, Outcome::BadRequest, &msg);
        }
    };
    let Some(snap) = state.snapshot.load() else {
        m.selection("no_snapshot");
        return fail(
            m,
            StatusCode::SERVICE_UNAVAILABLE,
            Outcome::NoSnapshot,
            "no catalog snapshot loaded yet",
        );
    };

    // Per-request options from headers.
    let soft = match soft_overrides(state.soft, &parts.headers) {
        Ok(s) => s,
        Err(msg) => return fail(m, StatusCode::BAD_REQUEST, Outcome::BadRequest, &msg),
    };
    let pinned_header = parts.headers.remove(&names::MODEL);
    let pinned = match pinned_header.as_ref().map(|v| v.to_str()) {
        None => None,
        Some(Ok(s)) if s.trim().is_empty() => None,
        Some(Ok(s)) => Some(s.trim()),
        Some(Err(_)) => {
            let msg = format!("invalid {} header: not visible ASCII", headers::MODEL);
            return fail(m, StatusCode::BAD_REQUEST, Outcome::BadRequest, &msg);
        }
    };
    let timeout = match state
        .forwarder
        .timeout_for(parts.headers.get(&names::TIMEOUT_MS))
    {
        Ok(t) => t,
        Err(msg) => return fail(m, StatusCode::BAD_REQUEST, Outcome::BadRequest, &msg),
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let content_length = match parts.headers.get(header::CONTENT_LENGTH) {
        None => None,
        Some(v) => match v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()) {
            Some(n) => Some(n),
            None => {
                return fail(
                    m,
                    StatusCode::BAD_REQUEST,
                    Outcome::BadRequest,
                    "invalid content-length header",
                );
            }
        },
    };
    let max_body = state.forwarder.cfg.max_body;
    if content_length.is_some_and(|n| n > max_body) {
        let msg = format!("request body larger than the limit of {max_body} bytes");
        return fail(m, StatusCode::PAYLOAD_TOO_LARGE, Outcome::TooLarge, &msg);
    }

    // Select.
    let sreq = SelectionRequest {
        hard: &state.hard,
        soft,
        pinned_model: pinned,
    };
    let now = Instant::now();
    let first = match select_executor(&snap.table, &sreq, &[], rand::random(), now) {
        Ok(s) => s,
        Err(nc) => {
            m.selection("no_candidate");
            return fail(
                m,
                StatusCode::SERVICE_UNAVAILABLE,
                Outcome::NoCandidate,
                &nc.to_string(),
            );
        }
    };
    m.selection(first.reason.as_str());

    // Body: buffered up to the retry buffer, else streamed.
    let cfg = &state.forwarder.cfg;
    let prepared = tokio::time::timeout_at(
        deadline,
        PreparedBody::read(body, content_length, cfg.retry_buffer, max_body),
    )
    .await;
    let prepared = match prepared {
        Err(_) => {
            return fail(
                m,
                StatusCode::REQUEST_TIMEOUT,
                Outcome::Timeout,
                "timed out reading the request body",
            );
        }
        Ok(Err(e @ BodyError::TooLarge { .. })) => {
            return fail(
                m,
                StatusCode::PAYLOAD_TOO_LARGE,
                Outcome::TooLarge,
                &e.to_string(),
            );
        }
        Ok(Err(e @ BodyError::Read(_))) => {
            return fail(
                m,
                StatusCode::BAD_REQUEST,
                Outcome::ClientError,
                &e.to_string(),
            );
        }
        Ok(Ok(p)) => p,
    };

    crate::forward::strip_hop_by_hop(&mut parts.headers);
    parts.headers.insert(&names::REQUEST_ID, request_id.clone());
    let (body, replay) = match prepared {
        PreparedBody::Replayable(b) => {
            if !b.is_empty() || parts.method == Method::POST {
                parts
                    .headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(b.len()));
            }
            (ForwardBody::Full(Some(b.clone())), Some(b))
        }
        PreparedBody::Streaming(b) => (b, None),
    };
    // Headers are kept for a second attempt only when one is possible.
    let retry_headers = (replay.is_some() && snap.table.len() > 1).then(|| parts.headers.clone());

    state.forwarder.budget.request(now);
    let attempt = Attempt {
        state,
        snap: &snap,
        path: &path,
        pinned: pinned.is_some(),
        method: &parts.method,
        query: uri.query(),
        deadline,
    };
    let mut chosen = first;
    let mut result = attempt.send(first.index, parts.headers, body).await;
    let mut retried = false;

    let retry_reason = match &result {
        Err(AttemptError::Connect(_)) => Some(RetryReason::ConnectError),
        Err(AttemptError::Other(_)) => Some(RetryReason::ConnectionLost),
        Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => Some(RetryReason::Unavailable),
        _ => None,
    };
    if let (Some(reason), Some(bytes), Some(headers)) = (retry_reason, replay, retry_headers)
        && tokio::time::Instant::now() < deadline
    {
        let now = Instant::now();
        if let Ok(second) = select_executor(&snap.table, &sreq, &[first.index], rand::random(), now)
        {
            if state.forwarder.budget.try_retry(now) {
                m.retry(reason);
                m.selection(second.reason.as_str());
                tracing::debug!(
                    reason = reason.as_str(),
                    from = ?snap.executors[first.index].id,
                    to = ?snap.executors[second.index].id,
                    "retrying on the next-best executor"
                );
                chosen = second;
                retried = true;
                result = attempt
                    .send(second.index, headers, ForwardBody::Full(Some(bytes)))
                    .await;
            } else {
                m.retry(RetryReason::BudgetExhausted);
            }
        }
    }
    finish(m, &snap, chosen, retried, result, now)
}

/// What every attempt of one request shares.
struct Attempt<'a> {
    state: &'a AppState,
    snap: &'a Snapshot,
    path: &'a ModelPath<'a>,
    pinned: bool,
    method: &'a Method,
    query: Option<&'a str>,
    deadline: tokio::time::Instant,
}

// === impl Attempt ===

impl Attempt<'_> {
    async fn send(&self, index: usize, headers: HeaderMap, body: ForwardBody) -> AttemptResult {
        let e = self.snap.table.executor(index);
        let info = &self.snap.executors[index];
        let selector = resolve_selector(self.path.selector, self.pinned, e.model_version);
        // Endpoints and model names are validated; a bad URI means a bad record.
        let Some(target) = &info.target else {
            return Err(AttemptError::InvalidTarget);
        };
        let own = resolve_selector(None, false, e.model_version);
        let path = match &info.paths {
            // The common case, prepared with the snapshot.
            Some(paths) if selector == own && self.query.is_none() => {
                paths[self.path.action.index()].clone()
            }
            _ => {
                let path =
                    self.path
                        .rewrite_path_and_query(e.model_name.as_str(), selector, self.query);
                let Ok(path) = PathAndQuery::from_maybe_shared(Bytes::from(path)) else {
                    return Err(AttemptError::InvalidTarget);
                };
                path
            }
        };
        let mut uri = http::uri::Parts::default();
        uri.scheme = Some(Scheme::HTTP);
        uri.authority = Some(target.authority.clone());
        uri.path_and_query = Some(path);
        let Ok(uri) = Uri::from_parts(uri) else {
            return Err(AttemptError::InvalidTarget);
        };
        let mut headers = headers;
        // The pooled client would derive the same value from the URI per request.
        headers.insert(header::HOST, target.host.clone());
        let mut req = Request::new(body);
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = uri;
        *req.version_mut() = Version::HTTP_11;
        *req.headers_mut() = headers;
        let started = Instant::now();
        let inflight = self.snap.table.health(index).start(started);
        let result = self.state.forwarder.send(req, self.deadline).await;
        let now = Instant::now();
        match &result {
            Ok(r) if is_executor_failure(r.status()) => inflight.failed(now),
            Ok(_) => inflight.succeeded(now - started, now),
            Err(AttemptError::TooLarge | AttemptError::InvalidTarget) => drop(inflight),
            Err(_) => inflight.failed(now),
        }
        result
    }
}

/// Statuses that count against an executor's health: it is unreachable, overloaded or timing
/// out. Other errors (400, 404, 500 on a bad input) say nothing about the executor's health.
fn is_executor_failure(s: StatusCode) -> bool {
    matches!(
        s,
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
    )
}

fn finish(
    m: &Metrics,
    snap: &Snapshot,
    chosen: crate::selection::Selection,
    retried: bool,
    result: AttemptResult,
    started: Instant,
) -> Response<ProxyBody> {
    let info = &snap.executors[chosen.index];
    let e = snap.table.executor(chosen.index);
    let (mut resp, outcome) = match result {
        Ok(r) => {
            let outcome = match r.status().as_u16() {
                0..400 => Outcome::Success,
                400..500 => Outcome::ClientError,
                _ => Outcome::BackendError,
            };
            let mut r = r.map(Either::Left);
            crate::forward::strip_hop_by_hop(r.headers_mut());
            (r, outcome)
        }
        Err(err) => {
            let (status, outcome) = match &err {
                AttemptError::Connect(_) | AttemptError::Other(_) | AttemptError::InvalidTarget => {
                    (StatusCode::BAD_GATEWAY, Outcome::BackendError)
                }
                AttemptError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, Outcome::Timeout),
                AttemptError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, Outcome::TooLarge),
            };
            let msg = match &err {
                AttemptError::TooLarge => err.to_string(),
                _ => format!("executor {}: {}", e.id, error_chain(&err)),
            };
            tracing::debug!(executor = %e.id, error = %msg, "attempt failed");
            (error_response(status, &msg).map(Either::Right), outcome)
        }
    };
    info.duration.observe(started.elapsed().as_secs_f64());
    info.requests.inc(m, outcome);
    let h = resp.headers_mut();
    h.reserve(4); // one growth for the four headers below, not several
    h.insert(&names::MODEL, info.model.clone());
    h.insert(&names::EXECUTOR, info.id.clone());
    let mut reason = String::with_capacity(160);
    let _ = chosen.receipt.write_header(&mut reason);
    if retried {
        reason.push_str(";retry=1");
    }
    if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(reason)) {
        h.insert(&names::REASON, v);
    }
    resp
}

/// An error and its sources, joined by ": ".
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        let text = src.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = src.source();
    }
    s
}

/// The client's soft criteria with the request's header overrides applied and checked.
pub fn soft_overrides(base: SoftCriteria, h: &HeaderMap) -> Result<SoftCriteria, String> {
    let mut soft = base;
    // A request without any override (the common case) skips the four lookups.
    if !h.keys().any(|k| k.as_str().starts_with("x-mulambda-")) {
        return Ok(soft);
    }
    let read = |name: &'static HeaderName| -> Result<Option<f64>, String> {
        match h.get(name) {
            None => Ok(None),
            Some(v) => {
                let name = name.as_str();
                let text = v
                    .to_str()
                    .map_err(|_| format!("invalid {name} header: not visible ASCII"))?;
                mulambda_catalog::parse_number(name, text)
                    .map(Some)
                    .map_err(|e| format!("invalid {name} header: {e}"))
            }
        }
    };
    if let Some(v) = read(&names::LATENCY_WEIGHT)? {
        soft.latency_weight = v;
    }
    if let Some(v) = read(&names::ACCURACY_WEIGHT)? {
        soft.accuracy_weight = v;
    }
    if let Some(v) = read(&names::MAX_LATENCY_MS)? {
        soft.max_latency_ms = Some(v);
    }
    if let Some(v) = read(&names::MIN_ACCURACY)? {
        soft.min_accuracy = Some(v);
    }
    soft.validate()
        .map_err(|e| format!("invalid soft criteria in request headers: {e}"))?;
    Ok(soft)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_overrides_are_checked() {
        let mut h = HeaderMap::new();
        h.insert(headers::LATENCY_WEIGHT, HeaderValue::from_static("3"));
        h.insert(headers::MIN_ACCURACY, HeaderValue::from_static("0.5"));
        let s = soft_overrides(SoftCriteria::default(), &h).unwrap();
        assert_eq!(s.latency_weight, 3.0);
        assert_eq!(s.min_accuracy, Some(0.5));
        h.insert(headers::ACCURACY_WEIGHT, HeaderValue::from_static("-1"));
        let e = soft_overrides(SoftCriteria::default(), &h).unwrap_err();
        assert!(e.contains("accuracy_weight"), "{e}");
        let mut h = HeaderMap::new();
        h.insert(headers::MAX_LATENCY_MS, HeaderValue::from_static("fast"));
        let e = soft_overrides(SoftCriteria::default(), &h).unwrap_err();
        assert!(e.contains(headers::MAX_LATENCY_MS), "{e}");
    }

    #[test]
    fn request_ids_are_kept_or_made() {
        let mut h = HeaderMap::new();
        assert_eq!(request_id(&h).len(), 16);
        h.insert(headers::REQUEST_ID, HeaderValue::from_static("abc"));
        assert_eq!(request_id(&h), "abc");
    }
}
