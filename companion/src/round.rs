//! The probe loop: every interval, one round — read the live clients, keep those whose hard
//! criteria match this executor's traits, probe them ([`crate::probe`]), smooth, and publish
//! all figures in one write ([`crate::publish`]).
//!
//! A client that registers is probed from the next round on; one that leaves (deregistered or
//! its lease lapsed) is no longer read, so no longer probed, and its row expires by its TTL.

use mulambda_catalog::{LatencyMeasurement, ModelTraits, Store};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::probe::{ProbeOutcome, Prober, Smoother, Target};
use crate::publish::{Publisher, measured_at_ms};

/// What one round did (for logs, tests and the benchmark).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoundReport {
    /// Clients probed.
    pub probed: usize,
    /// Of which unreachable.
    pub unreachable: usize,
    /// Whether the store calls succeeded.
    pub store_ok: bool,
}

/// The probe loop's parts.
pub struct ProbeLoop {
    /// Where clients are read from.
    pub store: Store,
    /// This executor's traits (clients whose hard criteria equal them are probed).
    pub traits: ModelTraits,
    /// The prober.
    pub prober: Prober,
    /// The per-client smoother.
    pub smoother: Smoother,
    /// The publisher.
    pub publisher: Publisher,
    /// Metrics.
    pub metrics: Metrics,
}

// === impl ProbeLoop ===

impl ProbeLoop {
    /// Runs rounds every probe interval until cancelled; returns the publisher so that shutdown
    /// can remove what it wrote. A round cut short by cancellation is abandoned.
    pub async fn run(mut self, cancel: CancellationToken) -> Publisher {
        let mut tick = tokio::time::interval(self.prober.config().interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = self.round() => {}
            }
        }
        self.publisher
    }

    /// One round.
    pub async fn round(&mut self) -> RoundReport {
        let started = Instant::now();
        let view = match self.store.read_clients().await {
            Ok(v) => v,
            Err(e) => {
                self.metrics.store_errors.inc();
                tracing::warn!(error = %e, "cannot read clients; skipping this round");
                return RoundReport::default();
            }
        };
        // The view's clock comes from the same round trip: the store's time, read once a round.
        let base_ms = view.server_time_ms;
        let base = Instant::now();
        if !view.rejected.is_empty() {
            tracing::debug!(
                rejected = view.rejected.len(),
                "skipped undecodable client records"
            );
        }
        let targets: Vec<Target> = view
            .clients
            .into_iter()
            .filter(|c| c.value.criteria.hard.matches(&self.traits))
            .map(|c| Target {
                id: c.value.id,
                addr: c.value.probe_addr,
            })
            .collect();
        let results = self.prober.round(targets).await;
        let smoothed = self.smoother.apply(&results);

        let mut report = RoundReport {
            probed: results.len(),
            store_ok: true,
            ..RoundReport::default()
        };
        let mut rows = Vec::with_capacity(results.len());
        for (r, figure) in results.iter().zip(smoothed) {
            let at = measured_at_ms(base_ms, base, r.finished_at);
            let m = match (&r.outcome, figure) {
                (ProbeOutcome::Reachable { median_ms, samples }, Some(ms)) => {
                    self.metrics.probe_latency.observe(median_ms / 1000.0);
                    LatencyMeasurement::reachable(ms, *samples, at)
                }
                (outcome, _) => {
                    report.unreachable += 1;
                    self.metrics.probe_failures.inc();
                    if let ProbeOutcome::Unreachable { reason } = outcome {
                        tracing::debug!(client = %r.id, %reason, "client unreachable");
                    }
                    LatencyMeasurement::unreachable(at)
                }
            };
            rows.push((r.id.clone(), m));
        }
        if let Err(e) = self.publisher.publish(&rows).await {
            self.metrics.store_errors.inc();
            report.store_ok = false;
            tracing::warn!(error = %e, clients = rows.len(), "cannot publish latencies");
        }
        self.metrics.clients_probed.set(report.probed as i64);
        self.metrics
            .probe_round_duration
            .observe(started.elapsed().as_secs_f64());
        tracing::debug!(
            probed = report.probed,
            unreachable = report.unreachable,
            took = ?started.elapsed(),
            "probe round"
        );
        report
    }
}
