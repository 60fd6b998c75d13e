//! What every engine shares: the request templates (one per phase), one attempt on a
//! connection, and reading what a response says about its executor and confidence.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, header};
use http_body_util::Full;
use mulambda_catalog::names::headers::EXECUTOR;
use tokio::time::Instant;

use super::client::{Connection, FailureKind};
use super::config::{LoadConfig, Target};
use super::sample::{Outcome, Sample};
use crate::sim::CONFIDENCE_HEADER;

/// The request every run sends, and its variants with each phase's extra headers.
#[derive(Debug)]
pub struct Templates {
    base: Request<Full<Bytes>>,
    phases: Vec<Request<Full<Bytes>>>,
}

// === impl Templates ===

impl Templates {
    /// Builds the templates of a configuration.
    pub fn new(config: &LoadConfig, target: &Target) -> Self {
        let mut builder = Request::builder()
            .method(config.method.clone())
            .uri(config.path.as_str())
            .header(header::HOST, target.authority.as_str());
        if !config.body.is_empty() {
            builder = builder.header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        let mut base = builder
            .body(Full::new(config.body.clone()))
            .unwrap_or_else(|_| Request::new(Full::new(config.body.clone())));
        for (name, value) in &config.headers {
            base.headers_mut().insert(name.clone(), value.clone());
        }
        let phases = config
            .phases
            .iter()
            .map(|extra| {
                let mut r = clone_request(&base);
                for (name, value) in extra {
                    r.headers_mut().insert(name.clone(), value.clone());
                }
                r
            })
            .collect();
        Self { base, phases }
    }

    /// A fresh request of `phase` (the base request without phases).
    pub fn request(&self, phase: Option<usize>) -> Request<Full<Bytes>> {
        let template = phase.and_then(|p| self.phases.get(p)).unwrap_or(&self.base);
        clone_request(template)
    }
}

fn clone_request(template: &Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let mut request = Request::new(template.body().clone());
    *request.method_mut() = template.method().clone();
    *request.uri_mut() = template.uri().clone();
    *request.headers_mut() = template.headers().clone();
    request
}

/// One attempt: (re)connects when needed (always, with `new_connection`), sends, reads the
/// whole response. Returns when the request was handed to the connection — with a new
/// connection per request, before connecting, so the connect time counts — and the result.
/// On any failure the connection is discarded.
pub async fn attempt(
    conn: &mut Option<Connection>,
    addr: SocketAddr,
    request: Request<Full<Bytes>>,
    new_connection: bool,
    sent_at: &mut Option<Instant>,
) -> Result<Response<()>, FailureKind> {
    if new_connection {
        *conn = None;
        *sent_at = Some(Instant::now());
    }
    if !conn.as_ref().is_some_and(Connection::is_usable) {
        *conn = None;
        *conn = Some(Connection::open(addr).await?);
    }
    let c = conn.as_mut().ok_or(FailureKind::Connect)?;
    if sent_at.is_none() {
        *sent_at = Some(Instant::now());
    }
    let result = c.send(request).await.map(|(response, _len)| response);
    if result.is_err() || new_connection {
        *conn = None;
    }
    result
}

/// Reads a response into a sample: its status, its executor (names interned per worker, so
/// a long run does not allocate one string per request) and its confidence.
#[derive(Debug, Default)]
pub struct Recorder {
    executors: HashMap<HeaderValue, Arc<str>>,
}

// === impl Recorder ===

impl Recorder {
    /// Records `response` into `sample`.
    pub fn record(&mut self, sample: &mut Sample, response: &Response<()>) {
        sample.outcome = Outcome::Status(response.status().as_u16());
        if let Some(value) = response.headers().get(EXECUTOR) {
            let name = self
                .executors
                .entry(value.clone())
                .or_insert_with(|| Arc::from(String::from_utf8_lossy(value.as_bytes()).as_ref()));
            sample.executor = Some(Arc::clone(name));
        }
        sample.confidence = response
            .headers()
            .get(CONFIDENCE_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|c| c.is_finite());
    }
}
