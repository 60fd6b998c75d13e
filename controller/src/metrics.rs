//! The controller's Prometheus metrics (names are a contract with the dashboard and alerts,
//! `deploy/metrics-contract.txt`).

use prometheus::{Encoder, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

use crate::webhook::inject::Outcome;

/// The controller's metrics, cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    reconciliations: IntCounterVec,
    webhook_requests: IntCounterVec,
    leader: IntGauge,
}

/// Result label of a reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileResult {
    /// The reconciliation finished (including "spec invalid, status says why").
    Ok,
    /// It failed and is retried with backoff.
    Error,
}

// === impl Metrics ===

impl Metrics {
    /// Registers the metrics in a fresh registry; every label value starts at 0.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let reconciliations = IntCounterVec::new(
            Opts::new(
                "mulambda_controller_reconciliations_total",
                "ModelExecutor reconciliations by result (ok|error).",
            ),
            &["result"],
        )
        .expect("valid metric");
        let webhook_requests = IntCounterVec::new(
            Opts::new(
                "mulambda_controller_webhook_requests_total",
                "Admission requests by outcome (injected|skipped|denied|error).",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let leader = IntGauge::new(
            "mulambda_controller_leader",
            "1 while this replica holds the reconciler's Lease (runs the reconciler), else 0.",
        )
        .expect("valid metric");
        registry
            .register(Box::new(leader.clone()))
            .expect("registered once");
        registry
            .register(Box::new(reconciliations.clone()))
            .expect("registered once");
        registry
            .register(Box::new(webhook_requests.clone()))
            .expect("registered once");
        for r in ["ok", "error"] {
            reconciliations.with_label_values(&[r]);
        }
        for o in [
            Outcome::Injected,
            Outcome::Skipped,
            Outcome::Denied,
            Outcome::Error,
        ] {
            webhook_requests.with_label_values(&[o.as_str()]);
        }
        Metrics {
            registry,
            reconciliations,
            webhook_requests,
            leader,
        }
    }

    /// Counts one reconciliation.
    pub fn reconciled(&self, result: ReconcileResult) {
        let label = match result {
            ReconcileResult::Ok => "ok",
            ReconcileResult::Error => "error",
        };
        self.reconciliations.with_label_values(&[label]).inc();
    }

    /// Whether this replica leads (runs the reconciler).
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// Whether this replica leads, as exported (for tests).
    pub fn is_leader(&self) -> bool {
        self.leader.get() == 1
    }

    /// Counts one admission request.
    pub fn webhook_request(&self, outcome: Outcome) {
        self.webhook_requests
            .with_label_values(&[outcome.as_str()])
            .inc();
    }

    /// The current value of a webhook outcome counter (for tests).
    pub fn webhook_requests(&self, outcome: Outcome) -> u64 {
        self.webhook_requests
            .with_label_values(&[outcome.as_str()])
            .get()
    }

    /// The current value of a reconciliation counter (for tests).
    pub fn reconciliations(&self, result: ReconcileResult) -> u64 {
        let label = match result {
            ReconcileResult::Ok => "ok",
            ReconcileResult::Error => "error",
        };
        self.reconciliations.with_label_values(&[label]).get()
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .is_err()
        {
            return String::new();
        }
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
    fn exports_the_contract_names_with_zeroes() {
        let m = Metrics::new();
        m.webhook_request(Outcome::Injected);
        let text = m.render();
        assert!(
            text.contains("mulambda_controller_webhook_requests_total{outcome=\"injected\"} 1")
        );
        assert!(text.contains("mulambda_controller_webhook_requests_total{outcome=\"denied\"} 0"));
        assert!(text.contains("mulambda_controller_reconciliations_total{result=\"error\"} 0"));
    }
}
