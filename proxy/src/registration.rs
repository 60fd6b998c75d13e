//! The client's registration: this proxy's [`Client`] record (id, probe address, criteria, node,
//! zone) kept under a lease that the catalog's [`Lease`] renews every heartbeat. Companions read
//! it to know whom to probe. Removed at once on shutdown.

use std::sync::Arc;
use std::time::Duration;

use mulambda_catalog::{Client, Criteria, Endpoint, Lease, LeaseConfig, LeaseState, Store};
use tokio::sync::watch;

use crate::config::Config;

/// The client record for a configuration and a probe address.
pub fn client_record(config: &Config, probe_addr: Endpoint) -> Client {
    Client {
        id: config.client_id.clone(),
        probe_addr,
        criteria: Criteria {
            hard: config.hard.clone(),
            soft: config.soft,
        },
        node: config.node.clone(),
        zone: config.zone.clone(),
    }
}

/// A running registration.
pub struct Registration {
    _record: watch::Sender<Client>,
    lease: Lease,
}

// === impl Registration ===

impl Registration {
    /// Starts the lease: written at once, renewed every `heartbeat` (the lease lasts three).
    pub fn start(store: Store, client: Client, heartbeat: Duration) -> Registration {
        let (record, rx) = watch::channel(client);
        let lease = Lease::start(store, rx, LeaseConfig::with_heartbeat(heartbeat));
        Registration {
            _record: record,
            lease,
        }
    }

    /// The lease's health.
    pub fn state(&self) -> Arc<LeaseState> {
        self.lease.state()
    }

    /// Stops renewing and deregisters at once.
    pub async fn shutdown(self) {
        self.lease.shutdown().await;
    }
}
