//! Forwarding to executors: a pooled keep-alive HTTP client (hyper-util's legacy client: the
//! connection pool, keep-alive and `Host` handling are well kept there), connect and request
//! timeouts, request bodies buffered for retries ([`body`]), and the retry budget ([`budget`]).

pub mod body;
pub mod budget;

use std::time::Duration;

use http::{HeaderMap, Request, Response, header};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

pub use body::{BodyError, ForwardBody, PreparedBody};
pub use budget::{BudgetConfig, RetryBudget};
use mulambda_runtime::parse;

/// How requests are forwarded.
#[derive(Debug, Clone, Copy, PartialEq, clap::Args)]
pub struct ForwardConfig {
    /// Connect timeout to an executor.
    #[arg(long, env = "MULAMBDA_CONNECT_TIMEOUT", default_value = "1s", value_name = "DURATION",
          value_parser = parse::positive_duration)]
    pub connect_timeout: Duration,

    /// Request timeout (until the executor's response headers) when the request sets none
    /// (header `x-mulambda-timeout-ms`); at most --max-timeout.
    #[arg(long, env = "MULAMBDA_REQUEST_TIMEOUT", default_value = "30s", value_name = "DURATION",
          value_parser = parse::positive_duration)]
    pub request_timeout: Duration,

    /// Largest timeout a request may ask for by header.
    #[arg(long, env = "MULAMBDA_MAX_TIMEOUT", default_value = "5m", value_name = "DURATION",
          value_parser = parse::positive_duration)]
    pub max_timeout: Duration,

    /// Request bodies up to this size are buffered so a failed attempt can be retried on another
    /// executor; larger ones are streamed and not retried.
    #[arg(long, env = "MULAMBDA_RETRY_BUFFER", default_value = "64KiB", value_name = "SIZE",
          value_parser = parse::size)]
    pub retry_buffer: u64,

    /// Hard limit of a request body; larger requests are answered 413.
    #[arg(long, env = "MULAMBDA_MAX_BODY", default_value = "32MiB", value_name = "SIZE",
          value_parser = parse::positive_size)]
    pub max_body: u64,

    /// The retry budget.
    #[command(flatten)]
    pub budget: BudgetConfig,
}

/// The pooled client and the forwarding options.
#[derive(Debug)]
pub struct Forwarder {
    client: Client<HttpConnector, ForwardBody>,
    /// Options.
    pub cfg: ForwardConfig,
    /// The retry budget.
    pub budget: RetryBudget,
}

/// Why an attempt failed without a response.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    /// No connection could be made (nothing was sent): safe to retry elsewhere.
    #[error("cannot connect to executor: {0}")]
    Connect(#[source] hyper_util::client::legacy::Error),
    /// No response headers before the deadline.
    #[error("executor did not answer within {0:?}")]
    Timeout(Duration),
    /// The request body exceeded the limit while streaming.
    #[error("request body larger than the limit")]
    TooLarge,
    /// The executor's record does not make a valid URI.
    #[error("executor endpoint or model name does not form a valid URI")]
    InvalidTarget,
    /// Any other failure (connection reset mid-request, protocol error).
    #[error("executor request failed: {0}")]
    Other(#[source] hyper_util::client::legacy::Error),
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) and `Host`, which must not be forwarded.
static HOP_BY_HOP: [header::HeaderName; 8] = [
    header::CONNECTION,
    header::HeaderName::from_static("keep-alive"),
    header::HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::HOST,
];

/// Removes hop-by-hop headers (and `Host`) in place. One pass over the (few) headers finds
/// which are present; only those are removed (a removal hashes the name).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let mut present = [false; 8];
    let mut any = false;
    for name in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|h| h == name) {
            present[i] = true;
            any = true;
        }
    }
    if !any {
        return;
    }
    for (h, present) in HOP_BY_HOP.iter().zip(present) {
        if present {
            headers.remove(h);
        }
    }
}

// === impl Forwarder ===

impl Forwarder {
    /// A forwarder with an empty connection pool.
    pub fn new(cfg: ForwardConfig) -> Forwarder {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(cfg.connect_timeout));
        connector.set_nodelay(true);
        connector.set_keepalive(Some(Duration::from_secs(60)));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .retry_canceled_requests(true)
            .build(connector);
        Forwarder {
            client,
            cfg,
            budget: RetryBudget::new(cfg.budget),
        }
    }

    /// The timeout of a request: its `x-mulambda-timeout-ms` (bounded by the maximum), else the
    /// default. `Err` carries a message for a malformed header.
    pub fn timeout_for(&self, header: Option<&http::HeaderValue>) -> Result<Duration, String> {
        let Some(v) = header else {
            return Ok(self.cfg.request_timeout);
        };
        let ms = v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .ok_or_else(|| {
                format!(
                    "invalid {} header: expected a whole number of milliseconds > 0",
                    mulambda_catalog::names::headers::TIMEOUT_MS
                )
            })?;
        Ok(Duration::from_millis(ms).min(self.cfg.max_timeout))
    }

    /// Sends one attempt and waits for the response headers until `deadline`.
    pub async fn send(
        &self,
        req: Request<ForwardBody>,
        deadline: tokio::time::Instant,
    ) -> Result<Response<Incoming>, AttemptError> {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout_at(deadline, self.client.request(req)).await {
            Err(_) => Err(AttemptError::Timeout(left)),
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) if e.is_connect() => Err(AttemptError::Connect(e)),
            Ok(Err(e)) if body::is_length_limit(&e) => Err(AttemptError::TooLarge),
            Ok(Err(e)) => Err(AttemptError::Other(e)),
        }
    }
}
