//! The companion's Prometheus metrics, in a private registry (names are a contract with the
//! Grafana dashboard: `mulambda_companion_*`).

use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntGauge, Registry, TextEncoder};

/// All metrics of one companion.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `mulambda_companion_executor_ready`: 1 while TF Serving reports the model `AVAILABLE`.
    pub executor_ready: IntGauge,
    /// `mulambda_companion_probe_latency_seconds`: one observation per reachable client per round
    /// (the round's median).
    pub probe_latency: Histogram,
    /// `mulambda_companion_probe_round_duration_seconds`: wall time of each probe round.
    pub probe_round_duration: Histogram,
    /// `mulambda_companion_probe_failures_total`: clients published as unreachable (one per
    /// client per round).
    pub probe_failures: IntCounter,
    /// `mulambda_companion_clients_probed`: clients probed in the last round.
    pub clients_probed: IntGauge,
    /// `mulambda_companion_signature_mismatch`: 1 when the declared formats disagree with the
    /// serving signature.
    pub signature_mismatch: IntGauge,
    /// `mulambda_companion_store_errors_total`: failed store calls (reads, publishes, lease
    /// renewals).
    pub store_errors: IntCounter,
}

// === impl Metrics ===

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let executor_ready = IntGauge::new(
            "mulambda_companion_executor_ready",
            "1 while TF Serving reports a version of the model AVAILABLE, else 0.",
        )
        .expect("valid metric");
        let probe_latency = Histogram::with_opts(
            HistogramOpts::new(
                "mulambda_companion_probe_latency_seconds",
                "Round-trip time to a client's /probe: the round's median, one per client per round.",
            )
            .buckets(vec![
                0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                0.5, 1.0, 2.5,
            ]),
        )
        .expect("valid metric");
        let probe_round_duration = Histogram::with_opts(
            HistogramOpts::new(
                "mulambda_companion_probe_round_duration_seconds",
                "Wall time of one probe round, from reading the clients to publishing.",
            )
            .buckets(vec![
                0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 20.0,
            ]),
        )
        .expect("valid metric");
        let probe_failures = IntCounter::new(
            "mulambda_companion_probe_failures_total",
            "Clients published as unreachable (no sample answered in time), one per client per round.",
        )
        .expect("valid metric");
        let clients_probed = IntGauge::new(
            "mulambda_companion_clients_probed",
            "Clients probed in the last round (those whose hard criteria match this executor).",
        )
        .expect("valid metric");
        let signature_mismatch = IntGauge::new(
            "mulambda_companion_signature_mismatch",
            "1 when the declared input/output formats disagree with TF Serving's serving signature.",
        )
        .expect("valid metric");
        let store_errors = IntCounter::new(
            "mulambda_companion_store_errors_total",
            "Failed store calls: reads, latency publishes, lease renewals.",
        )
        .expect("valid metric");
        for c in [
            Box::new(executor_ready.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(probe_latency.clone()),
            Box::new(probe_round_duration.clone()),
            Box::new(probe_failures.clone()),
            Box::new(clients_probed.clone()),
            Box::new(signature_mismatch.clone()),
            Box::new(store_errors.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        Metrics {
            registry,
            executor_ready,
            probe_latency,
            probe_round_duration,
            probe_failures,
            clients_probed,
            signature_mismatch,
            store_errors,
        }
    }

    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_the_contracted_names() {
        let m = Metrics::new();
        m.probe_latency.observe(0.001);
        m.probe_round_duration.observe(0.1);
        let text = m.render();
        for name in [
            "mulambda_companion_executor_ready",
            "mulambda_companion_probe_latency_seconds_bucket",
            "mulambda_companion_probe_round_duration_seconds_bucket",
            "mulambda_companion_probe_failures_total",
            "mulambda_companion_clients_probed",
            "mulambda_companion_signature_mismatch",
            "mulambda_companion_store_errors_total",
        ] {
            assert!(text.contains(name), "{name} missing");
        }
    }
}
