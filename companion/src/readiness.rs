//! Readiness: polling TF Serving's model status. The executor is ready only while TF Serving
//! reports a version of the model `AVAILABLE` (the configured version, when one is pinned).
//! Unreachable, a timeout, a non-200 answer or an unreadable body all mean not ready.
//!
//! Once the model is available the serving signature is read from `…/metadata`, summarised,
//! checked against the declared formats (see [`crate::signature`]) and published in the
//! executor record; it is read again whenever the set of available versions changes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::{StatusCode, Uri};
use mulambda_catalog::names::env;
use mulambda_catalog::{ModelName, ModelTraits, SignatureSummary};
use mulambda_runtime::parse;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::fetch::{self, HttpClient};
use crate::metrics::Metrics;
use crate::registration::RecordHandle;
use crate::signature;

/// Largest status or metadata body read.
const MAX_BODY: usize = 1 << 20;

/// Where TF Serving is and how it is watched.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct ReadinessConfig {
    /// TF Serving's REST base URL as the companion reaches it (plain http).
    #[arg(long, env = env::TFSERVING_URL, default_value = "http://127.0.0.1:8501",
          value_name = "URL", value_parser = base_url)]
    pub tfserving_url: String,

    /// How often TF Serving's model status is polled.
    #[arg(long = "readiness-interval", env = "MULAMBDA_READINESS_INTERVAL", default_value = "1s",
          value_name = "DURATION", value_parser = parse::positive_duration)]
    pub interval: Duration,

    /// Deadline of one TF Serving status or metadata call (a timeout = not ready).
    #[arg(long = "readiness-timeout", env = "MULAMBDA_READINESS_TIMEOUT", default_value = "1s",
          value_name = "DURATION", value_parser = parse::positive_duration)]
    pub timeout: Duration,
}

/// Checks an `http://host:port[/path]` base URL and returns it without a trailing slash.
fn base_url(text: &str) -> Result<String, String> {
    let t = text.trim().trim_end_matches('/');
    let uri: Uri = t
        .parse()
        .map_err(|e| format!("not a URL ({e}); expected http://host:port"))?;
    if uri.scheme_str() != Some("http") {
        return Err("expected an http:// URL (TF Serving's REST port, plain HTTP)".into());
    }
    if uri.authority().is_none() {
        return Err("expected http://host:port".into());
    }
    if uri.query().is_some() {
        return Err("must not have a query".into());
    }
    Ok(t.to_string())
}

/// What one status poll found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelStatus {
    /// These versions are `AVAILABLE` (never empty).
    Available(Vec<String>),
    /// Not ready, and why.
    NotReady(String),
}

/// Talks to TF Serving about one model.
#[derive(Clone)]
pub struct TfServing {
    client: HttpClient,
    status_uri: Uri,
    metadata_uri: Uri,
    version: Option<u64>,
    timeout: Duration,
}

// === impl TfServing ===

impl TfServing {
    /// A client for `base_url` (e.g. `http://127.0.0.1:8501`), model `name` and an optional
    /// pinned version; every call must finish within `timeout`.
    pub fn new(
        base_url: &str,
        name: &ModelName,
        version: Option<u64>,
        timeout: Duration,
    ) -> Result<TfServing, String> {
        let base = base_url.trim_end_matches('/');
        let model = match version {
            Some(v) => format!("{base}/v1/models/{name}/versions/{v}"),
            None => format!("{base}/v1/models/{name}"),
        };
        let parse = |s: String| s.parse::<Uri>().map_err(|e| format!("{s}: {e}"));
        Ok(TfServing {
            client: fetch::client(timeout, Duration::from_secs(90)),
            metadata_uri: parse(format!("{model}/metadata"))?,
            status_uri: parse(model)?,
            version,
            timeout,
        })
    }

    /// Polls `GET /v1/models/{name}[/versions/{v}]`.
    pub async fn status(&self) -> ModelStatus {
        match fetch::get(
            &self.client,
            self.status_uri.clone(),
            self.timeout,
            MAX_BODY,
        )
        .await
        {
            Err(e) => ModelStatus::NotReady(format!("TF Serving unreachable: {e}")),
            Ok((status, _)) if status != StatusCode::OK => {
                ModelStatus::NotReady(format!("TF Serving answered {status}"))
            }
            Ok((_, body)) => parse_status(&body, self.version),
        }
    }

    /// Reads and summarises the serving signature.
    pub async fn signature(&self) -> Result<SignatureSummary, String> {
        let (status, body) = fetch::get(
            &self.client,
            self.metadata_uri.clone(),
            self.timeout,
            MAX_BODY,
        )
        .await
        .map_err(|e| e.to_string())?;
        if status != StatusCode::OK {
            return Err(format!("metadata answered {status}"));
        }
        signature::parse_metadata(&body)
    }
}

/// Reads a status answer: the versions in state `AVAILABLE` (only `version` when pinned).
/// Anything unreadable means not ready.
pub fn parse_status(body: &[u8], version: Option<u64>) -> ModelStatus {
    let Ok(doc) = serde_json::from_slice::<Value>(body) else {
        return ModelStatus::NotReady("status answer is not JSON".into());
    };
    let Some(list) = doc.get("model_version_status").and_then(Value::as_array) else {
        return ModelStatus::NotReady("status answer has no model_version_status list".into());
    };
    let mut available = Vec::new();
    let mut states = Vec::new();
    for entry in list {
        // Versions are strings in TF Serving's JSON; accept numbers too.
        let v = match entry.get("version") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => continue,
        };
        if version.is_some_and(|want| v.parse::<u64>().ok() != Some(want)) {
            continue;
        }
        let state = entry.get("state").and_then(Value::as_str).unwrap_or("?");
        if state == "AVAILABLE" {
            available.push(v);
        } else {
            states.push(format!(
                "{v}:{}",
                state.chars().take(16).collect::<String>()
            ));
        }
    }
    if available.is_empty() {
        ModelStatus::NotReady(if states.is_empty() {
            "no version of the model is loaded".into()
        } else {
            format!("no version AVAILABLE ({})", states.join(", "))
        })
    } else {
        available.sort();
        ModelStatus::Available(available)
    }
}

/// The readiness loop's inputs.
pub struct ReadinessLoop {
    /// TF Serving client.
    pub tfserving: TfServing,
    /// Declared traits, checked against the signature.
    pub traits: ModelTraits,
    /// Poll interval.
    pub interval: Duration,
    /// Where readiness and signature go.
    pub record: RecordHandle,
    /// Metrics.
    pub metrics: Metrics,
    /// Mirror of readiness for `/ready`.
    pub ready: Arc<AtomicBool>,
}

// === impl ReadinessLoop ===

impl ReadinessLoop {
    /// Polls until cancelled.
    pub async fn run(self, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The versions whose signature was last read, and the versions whose metadata error was
        // last logged (to log a persistent failure once, not every poll).
        let mut signature_for: Option<Vec<String>> = None;
        let mut error_logged_for: Option<Vec<String>> = None;
        let mut last_reason: Option<String> = None;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let status = tokio::select! {
                _ = cancel.cancelled() => return,
                s = self.tfserving.status() => s,
            };
            match status {
                ModelStatus::Available(versions) => {
                    let mut new_signature = None;
                    if signature_for.as_ref() != Some(&versions) {
                        match self.tfserving.signature().await {
                            Ok(sig) => {
                                self.check_signature(&sig);
                                new_signature = Some(sig);
                                signature_for = Some(versions.clone());
                                error_logged_for = None;
                            }
                            Err(e) => {
                                if error_logged_for.as_ref() != Some(&versions) {
                                    tracing::warn!(error = %e, "cannot read the serving signature; retrying every poll");
                                    error_logged_for = Some(versions.clone());
                                }
                            }
                        }
                    }
                    if last_reason.is_some() || !self.ready.load(Ordering::Relaxed) {
                        tracing::info!(?versions, "model AVAILABLE: executor ready");
                    }
                    last_reason = None;
                    self.set(true, new_signature);
                }
                ModelStatus::NotReady(reason) => {
                    if last_reason.as_ref() != Some(&reason) {
                        tracing::warn!(%reason, "executor not ready");
                        last_reason = Some(reason);
                    }
                    self.set(false, None);
                }
            }
        }
    }

    fn set(&self, ready: bool, signature: Option<SignatureSummary>) {
        self.ready.store(ready, Ordering::Relaxed);
        self.metrics.executor_ready.set(i64::from(ready));
        self.record.update(ready, signature);
    }

    fn check_signature(&self, sig: &SignatureSummary) {
        let check = signature::check(&self.traits, sig);
        for verdict in [&check.input, &check.output] {
            if let signature::Verdict::Mismatch(why) = verdict {
                tracing::warn!(signature = %sig.name, "signature mismatch: {why}");
            }
        }
        if !check.is_mismatch() {
            tracing::info!(
                signature = %sig.name,
                inputs = sig.inputs.len(),
                outputs = sig.outputs.len(),
                "serving signature read"
            );
        }
        self.metrics
            .signature_mismatch
            .set(i64::from(check.is_mismatch()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(body: &str, v: Option<u64>) -> ModelStatus {
        parse_status(body.as_bytes(), v)
    }

    #[test]
    fn available_only_when_a_version_is() {
        let ok = r#"{"model_version_status": [{"version": "2", "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""}},
            {"version": "1", "state": "END"}]}"#;
        assert_eq!(status(ok, None), ModelStatus::Available(vec!["2".into()]));
        assert_eq!(
            status(ok, Some(2)),
            ModelStatus::Available(vec!["2".into()])
        );
        assert!(matches!(status(ok, Some(1)), ModelStatus::NotReady(r) if r.contains("1:END")));
        assert!(matches!(status(ok, Some(3)), ModelStatus::NotReady(_)));
        let loading = r#"{"model_version_status": [{"version": 1, "state": "LOADING"}]}"#;
        assert!(matches!(status(loading, None), ModelStatus::NotReady(r) if r.contains("LOADING")));
    }

    #[test]
    fn garbage_is_not_ready() {
        for body in [
            "",
            "{",
            "[]",
            "{\"model_version_status\": 3}",
            "{\"model_version_status\": [1, null, {\"state\": \"AVAILABLE\"}]}",
            "{\"model_version_status\": []}",
        ] {
            assert!(
                matches!(status(body, None), ModelStatus::NotReady(_)),
                "{body}"
            );
        }
    }
}
