//! The application listener's request handling: TF Serving REST in, the best executor out.
//!
//! [`handle`] takes four steps:
//! 1. a `Plan`: the path parsed by slicing ([`paths`](crate::paths)), the snapshot (one atomic
//!    load), per-request overrides and limits from headers, and the first choice of executor —
//!    or a `Rejection` answered at once;
//! 2. the body, read up to the retry buffer (a larger one is streamed and not retried);
//! 3. `forward_with_retry`: on a connect failure, a lost connection or a 503, one retry on the
//!    next-best executor within the retry budget;
//! 4. the answer, with `x-mulambda-model`, `x-mulambda-executor`, `x-mulambda-reason` and
//!    `x-request-id`.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::request::Parts;
use http::uri::{PathAndQuery, Scheme};
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, Version, header,
};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use mulambda_catalog::names::headers;
use mulambda_catalog::{ModelTraits, SoftCriteria};
use mulambda_runtime::component::error_chain;
use mulambda_runtime::response::error as error_response;
use tracing::Instrument;

use crate::forward::{AttemptError, BodyError, ForwardBody, Forwarder, PreparedBody};
use crate::header_names as names;
use crate::metrics::{Metrics, Outcome, RetryReason, SelectionOutcome};
use crate::paths::{ModelPath, PathError, resolve_selector};
use crate::selection::{Selection, SelectionRequest, select_executor};
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

/// The four steps of the module docs.
async fn serve(
    state: &AppState,
    req: Request<Incoming>,
    request_id: &HeaderValue,
) -> Response<ProxyBody> {
    let (mut parts, body) = req.into_parts();
    // The plan borrows the path and the pinned model name, which must outlive `parts` (consumed
    // by forwarding); the pin is taken out of the headers so it is not forwarded.
    let uri = parts.uri.clone();
    let pinned = parts.headers.remove(&names::MODEL);
    let plan = match Plan::new(state, &parts, &uri, pinned.as_ref()) {
        Ok(plan) => plan,
        Err(rejection) => return rejection.answer(&state.metrics),
    };
    let body = match plan.read_body(state, body).await {
        Ok(body) => body,
        Err(rejection) => return rejection.answer(&state.metrics),
    };
    let forwarded = forward_with_retry(state, &plan, parts, body, request_id).await;
    finish(&state.metrics, &plan, forwarded)
}

/// An answer of the proxy's own instead of a forward: status, metric outcome and message.
#[derive(Debug)]
struct Rejection {
    status: StatusCode,
    outcome: Outcome,
    message: Cow<'static, str>,
    /// A selection that found nothing, counted as such.
    selection: Option<SelectionOutcome>,
}

// === impl Rejection ===

impl Rejection {
    fn new(status: StatusCode, outcome: Outcome, message: impl Into<Cow<'static, str>>) -> Self {
        Rejection {
            status,
            outcome,
            message: message.into(),
            selection: None,
        }
    }

    fn bad_request(message: impl Into<Cow<'static, str>>) -> Rejection {
        Rejection::new(StatusCode::BAD_REQUEST, Outcome::BadRequest, message)
    }

    /// Counts the rejection and answers it in TF Serving's error shape.
    fn answer(self, m: &Metrics) -> Response<ProxyBody> {
        if let Some(s) = self.selection {
            m.selection(s);
        }
        m.request(self.outcome, "");
        error_response(self.status, &self.message).map(Either::Right)
    }
}

/// A request checked against the proxy's rules and the catalog, with its first choice; built
/// before a byte of the body is read.
struct Plan<'a> {
    path: ModelPath<'a>,
    snap: Arc<Snapshot>,
    request: SelectionRequest<'a>,
    first: Selection,
    deadline: tokio::time::Instant,
    content_length: Option<u64>,
    started: Instant,
}

// === impl Plan ===

impl<'a> Plan<'a> {
    fn new(
        state: &'a AppState,
        parts: &Parts,
        uri: &'a Uri,
        pinned: Option<&'a HeaderValue>,
    ) -> Result<Plan<'a>, Rejection> {
        let path = match ModelPath::parse(&parts.method, uri.path()) {
            Ok(p) => p,
            Err(PathError::NotFound) => {
                let msg = format!("Not found: {} {}", parts.method, uri.path());
                return Err(Rejection::new(
                    StatusCode::NOT_FOUND,
                    Outcome::NotFound,
                    msg,
                ));
            }
            Err(PathError::Malformed) => {
                return Err(Rejection::bad_request(format!(
                    "Malformed request: {} {} (expected GET /v1/models/{{name}}[/versions/{{n}}|/labels/{{l}}][/metadata] or POST /v1/models/{{name}}[/versions/{{n}}|/labels/{{l}}]:predict|classify|regress)",
                    parts.method,
                    uri.path()
                )));
            }
        };
        let Some(snap) = state.snapshot.load() else {
            return Err(Rejection {
                selection: Some(SelectionOutcome::NoSnapshot),
                ..Rejection::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Outcome::NoSnapshot,
                    "no catalog snapshot loaded yet",
                )
            });
        };
        let h = &parts.headers;
        let soft = soft_overrides(state.soft, h).map_err(Rejection::bad_request)?;
        let pinned_model = match pinned.map(|v| v.to_str()) {
            None => None,
            Some(Ok(s)) if s.trim().is_empty() => None,
            Some(Ok(s)) => Some(s.trim()),
            Some(Err(_)) => {
                let msg = format!("invalid {} header: not visible ASCII", headers::MODEL);
                return Err(Rejection::bad_request(msg));
            }
        };
        let timeout = (state.forwarder)
            .timeout_for(h.get(&names::TIMEOUT_MS))
            .map_err(Rejection::bad_request)?;
        let content_length = match h.get(header::CONTENT_LENGTH) {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .ok_or_else(|| Rejection::bad_request("invalid content-length header"))?,
            ),
        };
        let max_body = state.forwarder.cfg.max_body;
        if content_length.is_some_and(|n| n > max_body) {
            let msg = format!("request body larger than the limit of {max_body} bytes");
            return Err(Rejection::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                Outcome::TooLarge,
                msg,
            ));
        }
        let request = SelectionRequest {
            hard: &state.hard,
            soft,
            pinned_model,
        };
        let started = Instant::now();
        let first =
            select_executor(&snap.table, &request, &[], rand::random(), started).map_err(|nc| {
                Rejection {
                    selection: Some(SelectionOutcome::NoCandidate),
                    ..Rejection::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        Outcome::NoCandidate,
                        nc.to_string(),
                    )
                }
            })?;
        state.metrics.selection(first.reason);
        Ok(Plan {
            path,
            snap,
            request,
            first,
            deadline: tokio::time::Instant::now() + timeout,
            content_length,
            started,
        })
    }

    /// Reads the body up to the retry buffer (a replayable body), else streams it.
    async fn read_body(&self, state: &AppState, body: Incoming) -> Result<PreparedBody, Rejection> {
        let cfg = &state.forwarder.cfg;
        let read = PreparedBody::read(body, self.content_length, cfg.retry_buffer, cfg.max_body);
        match tokio::time::timeout_at(self.deadline, read).await {
            Ok(Ok(p)) => Ok(p),
            Err(_) => Err(Rejection::new(
                StatusCode::REQUEST_TIMEOUT,
                Outcome::Timeout,
                "timed out reading the request body",
            )),
            Ok(Err(e @ BodyError::TooLarge { .. })) => Err(Rejection::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                Outcome::TooLarge,
                e.to_string(),
            )),
            Ok(Err(e @ BodyError::Read(_))) => Err(Rejection::new(
                StatusCode::BAD_REQUEST,
                Outcome::ClientError,
                e.to_string(),
            )),
        }
    }
}

/// What forwarding did: the executor that answered (or failed last), whether it was a retry,
/// and the result.
struct Forwarded {
    chosen: Selection,
    retried: bool,
    result: AttemptResult,
}

/// Sends the request to the plan's first choice; on a connect failure, a lost connection or a
/// 503, and when the body could be kept, retries once on the next-best executor within the
/// retry budget and the request's deadline.
async fn forward_with_retry(
    state: &AppState,
    plan: &Plan<'_>,
    mut parts: Parts,
    body: PreparedBody,
    request_id: &HeaderValue,
) -> Forwarded {
    let m = &state.metrics;
    crate::forward::strip_hop_by_hop(&mut parts.headers);
    parts.headers.insert(&names::REQUEST_ID, request_id.clone());
    let (body, replay) = match body {
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
    let retry_headers =
        (replay.is_some() && plan.snap.table.len() > 1).then(|| parts.headers.clone());

    state.forwarder.budget.request(plan.started);
    let attempt = Attempt {
        state,
        snap: &plan.snap,
        path: &plan.path,
        pinned: plan.request.pinned_model.is_some(),
        method: &parts.method,
        query: parts.uri.query(),
        deadline: plan.deadline,
    };
    let first = plan.first;
    let result = attempt.send(first.index, parts.headers, body).await;
    let retry_reason = match &result {
        Err(AttemptError::Connect(_)) => Some(RetryReason::ConnectError),
        Err(AttemptError::Other(_)) => Some(RetryReason::ConnectionLost),
        Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => Some(RetryReason::Unavailable),
        _ => None,
    };
    let no_retry = Forwarded {
        chosen: first,
        retried: false,
        result,
    };
    let (Some(reason), Some(bytes), Some(headers)) = (retry_reason, replay, retry_headers) else {
        return no_retry;
    };
    if tokio::time::Instant::now() >= plan.deadline {
        return no_retry;
    }
    let now = Instant::now();
    let snap = &plan.snap;
    let Ok(second) = select_executor(
        &snap.table,
        &plan.request,
        &[first.index],
        rand::random(),
        now,
    ) else {
        return no_retry;
    };
    if !state.forwarder.budget.try_retry(now) {
        m.retry(RetryReason::BudgetExhausted);
        return no_retry;
    }
    m.retry(reason);
    m.selection(second.reason);
    tracing::debug!(
        reason = reason.as_str(),
        from = ?snap.executors[first.index].id,
        to = ?snap.executors[second.index].id,
        "retrying on the next-best executor"
    );
    let result = attempt
        .send(second.index, headers, ForwardBody::Full(Some(bytes)))
        .await;
    Forwarded {
        chosen: second,
        retried: true,
        result,
    }
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

/// The answer: the executor's response (hop-by-hop headers removed) or an error of the proxy's
/// own, with the decision's headers; counted per model.
fn finish(m: &Metrics, plan: &Plan<'_>, forwarded: Forwarded) -> Response<ProxyBody> {
    let Forwarded {
        chosen,
        retried,
        result,
    } = forwarded;
    let snap = &plan.snap;
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
    info.duration.observe(plan.started.elapsed().as_secs_f64());
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
