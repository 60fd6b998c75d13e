//! The executor's registration: the record built from the configuration, kept under a lease
//! that the catalog's [`Lease`] renews. Readiness and signature changes go through a `watch`
//! channel, so the lease writes and announces them at once instead of at the next heartbeat.

use std::sync::Arc;

use mulambda_catalog::{Executor, Lease, LeaseConfig, LeaseState, SignatureSummary, Store};
use tokio::sync::watch;

use crate::config::Config;

/// The executor record as registered at start-up: not ready, no signature yet.
pub fn executor_record(config: &Config) -> Executor {
    Executor {
        id: config.executor_id.clone(),
        model_name: config.model_name.clone(),
        model_version: config.model_version,
        traits: config.traits.clone(),
        accuracy: config.accuracy,
        rest_endpoint: config.rest_endpoint.clone(),
        grpc_endpoint: config.grpc_endpoint.clone(),
        node: config.node.clone(),
        zone: config.zone.clone(),
        ready: false,
        signature: None,
    }
}

/// A running registration.
pub struct Registration {
    record: watch::Sender<Executor>,
    lease: Lease,
}

/// A cheap handle that updates the registered record (readiness, signature).
#[derive(Clone)]
pub struct RecordHandle {
    record: watch::Sender<Executor>,
}

// === impl Registration ===

impl Registration {
    /// Starts the lease: the record is written at once, then renewed every `config.heartbeat`
    /// and rewritten (and announced) whenever it changes.
    pub fn start(store: Store, executor: Executor, lease: LeaseConfig) -> Registration {
        let (record, rx) = watch::channel(executor);
        let lease = Lease::start(store, rx, lease);
        Registration { record, lease }
    }

    /// A handle to update the record.
    pub fn handle(&self) -> RecordHandle {
        RecordHandle {
            record: self.record.clone(),
        }
    }

    /// The lease's health (whether the last write succeeded).
    pub fn state(&self) -> Arc<LeaseState> {
        self.lease.state()
    }

    /// Stops renewing and deregisters at once.
    pub async fn shutdown(self) {
        self.lease.shutdown().await;
    }
}

// === impl RecordHandle ===

impl RecordHandle {
    /// The current record.
    pub fn current(&self) -> Executor {
        self.record.borrow().clone()
    }

    /// Sets readiness and, when given, the signature; the lease writes the record at once if
    /// anything changed. Returns whether it changed.
    pub fn update(&self, ready: bool, signature: Option<SignatureSummary>) -> bool {
        self.record.send_if_modified(|e| {
            let mut changed = false;
            if e.ready != ready {
                e.ready = ready;
                changed = true;
            }
            if let Some(sig) = signature
                && e.signature.as_ref() != Some(&sig)
            {
                e.signature = Some(sig);
                changed = true;
            }
            changed
        })
    }
}
