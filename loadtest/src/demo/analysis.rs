//! What the demo's data says: which executor each proxy preferred before the event, which
//! after, and how long the switch took. Computed from the load reports' timelines only, so the
//! demo's test checks the same numbers the report prints.

use serde::{Deserialize, Serialize};

use crate::run::{LoadReport, NO_EXECUTOR};

/// One proxy's behaviour over the demo.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProxyOutcome {
    /// The proxy's name (`latency-first`, `accuracy-first`).
    pub proxy: String,
    /// Its preference in words.
    pub preference: String,
    /// The executor that served most requests between warm-up and the event.
    pub before: Option<String>,
    /// Share of requests `before` served in that window.
    pub before_share: f64,
    /// The executor that served most requests in the last third after the event.
    pub after: Option<String>,
    /// Share of requests `after` served in that window.
    pub after_share: f64,
    /// Seconds from the event to the first timeline bucket in which `before` no longer served
    /// most requests.
    pub switched_after_s: Option<f64>,
    /// Requests that failed, over the whole run.
    pub errors: u64,
    /// Requests sent, over the whole run.
    pub requests: u64,
}

/// Finds the dominant executor of a report's timeline in `[from_s, to_s)` and its share.
pub fn dominant(report: &LoadReport, from_s: f64, to_s: f64) -> (Option<String>, f64) {
    let mut counts: std::collections::BTreeMap<&str, u64> = Default::default();
    let mut total = 0;
    for b in &report.timeline {
        if b.start_s + 1e-9 < from_s || b.start_s >= to_s {
            continue;
        }
        for (executor, stats) in &b.executors {
            if executor == NO_EXECUTOR {
                continue;
            }
            let ok = stats.requests.saturating_sub(stats.errors);
            *counts.entry(executor.as_str()).or_default() += ok;
            total += ok;
        }
    }
    match counts.into_iter().max_by_key(|(_, n)| *n) {
        Some((e, n)) if total > 0 => (Some(e.to_string()), n as f64 / total as f64),
        _ => (None, 0.0),
    }
}

/// Analyses one proxy's run. Times are on the timeline's clock (seconds since the start of the
/// run, warm-up included): the warm-up ends at `warmup_s`, the event is at `event_s`, the run
/// ends at `end_s`.
pub fn analyse(
    proxy: &str,
    preference: &str,
    report: &LoadReport,
    warmup_s: f64,
    event_s: f64,
    end_s: f64,
) -> ProxyOutcome {
    let settle = (end_s - event_s) * 2.0 / 3.0;
    let (before, before_share) = dominant(report, warmup_s, event_s);
    let (after, after_share) = dominant(report, event_s + settle, end_s);
    let switched_after_s = before.as_ref().and_then(|b| {
        report
            .timeline
            .iter()
            .filter(|bucket| bucket.start_s + 1e-9 >= event_s)
            .find(|bucket| {
                let (d, _) = dominant(report, bucket.start_s, bucket.end_s);
                d.as_deref() != Some(b.as_str()) && d.is_some()
            })
            .map(|bucket| bucket.end_s - event_s)
    });
    ProxyOutcome {
        proxy: proxy.to_string(),
        preference: preference.to_string(),
        before,
        before_share,
        after,
        after_share,
        switched_after_s,
        errors: report.sent.saturating_sub(report.succeeded),
        requests: report.sent,
    }
}
