//! Keeping a registration alive: a background heartbeat that renews the lease, re-announces
//! after a lapse, and deregisters on an orderly shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::store::{Store, StoreError};
use crate::{Client, Executor, Id};

/// How often to renew and how long a lease lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseConfig {
    /// Time between renewals.
    pub heartbeat: Duration,
    /// Lease length. Readers stop seeing a record this long after its last renewal; the default
    /// of three heartbeats tolerates two lost renewals.
    pub ttl: Duration,
}

impl LeaseConfig {
    /// A lease of three heartbeats.
    pub fn with_heartbeat(heartbeat: Duration) -> LeaseConfig {
        LeaseConfig {
            heartbeat,
            ttl: heartbeat * 3,
        }
    }
}

impl Default for LeaseConfig {
    fn default() -> LeaseConfig {
        LeaseConfig::with_heartbeat(Duration::from_secs(2))
    }
}

/// Something that can be registered under a lease.
pub trait LeasedRecord: Clone + PartialEq + Send + Sync + 'static {
    /// The record's id.
    fn id(&self) -> &Id;
    /// Writes the record with a lease.
    fn register(
        &self,
        store: &Store,
        ttl: Duration,
        announce: bool,
    ) -> impl Future<Output = Result<crate::Registered, StoreError>> + Send;
    /// Removes the record.
    fn deregister(store: &Store, id: &Id) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl LeasedRecord for Executor {
    fn id(&self) -> &Id {
        &self.id
    }
    async fn register(
        &self,
        store: &Store,
        ttl: Duration,
        announce: bool,
    ) -> Result<crate::Registered, StoreError> {
        store.register_executor(self, ttl, announce).await
    }
    async fn deregister(store: &Store, id: &Id) -> Result<(), StoreError> {
        store.deregister_executor(id).await
    }
}

impl LeasedRecord for Client {
    fn id(&self) -> &Id {
        &self.id
    }
    async fn register(
        &self,
        store: &Store,
        ttl: Duration,
        announce: bool,
    ) -> Result<crate::Registered, StoreError> {
        store.register_client(self, ttl, announce).await
    }
    async fn deregister(store: &Store, id: &Id) -> Result<(), StoreError> {
        store.deregister_client(id).await
    }
}

/// Health of a lease, readable from metrics and readiness handlers.
#[derive(Debug, Default)]
pub struct LeaseState {
    registered: AtomicBool,
    renewals: AtomicU64,
    failures: AtomicU64,
}

impl LeaseState {
    /// Whether the last write succeeded.
    pub fn is_registered(&self) -> bool {
        self.registered.load(Ordering::Relaxed)
    }
    /// Successful writes so far.
    pub fn renewals(&self) -> u64 {
        self.renewals.load(Ordering::Relaxed)
    }
    /// Failed writes so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

/// A running lease. Update the record through the `watch::Sender` given to
/// [`Lease::start`]; a change is written and announced at once.
pub struct Lease {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    state: Arc<LeaseState>,
}

// === impl Lease ===

impl Lease {
    /// Starts renewing `record` (and its later values) until [`Lease::shutdown`].
    pub fn start<R: LeasedRecord>(
        store: Store,
        record: watch::Receiver<R>,
        config: LeaseConfig,
    ) -> Lease {
        let (stop_tx, stop_rx) = oneshot::channel();
        let state = Arc::new(LeaseState::default());
        let task = tokio::spawn(run_lease(store, record, config, stop_rx, state.clone()));
        Lease {
            stop: Some(stop_tx),
            task,
            state,
        }
    }

    /// The lease's health.
    pub fn state(&self) -> Arc<LeaseState> {
        self.state.clone()
    }

    /// Stops renewing and deregisters (orderly shutdown): readers lose the record at once.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Dropped without shutdown: stop renewing; the lease then lapses by itself.
        if self.stop.is_some() {
            self.task.abort();
        }
    }
}

async fn run_lease<R: LeasedRecord>(
    store: Store,
    mut record: watch::Receiver<R>,
    config: LeaseConfig,
    mut stop: oneshot::Receiver<()>,
    state: Arc<LeaseState>,
) {
    let mut announced: Option<R> = None;
    let mut last_ok: Option<Instant> = None;
    let mut tick = tokio::time::interval(config.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut record_open = true;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {}
            changed = record.changed(), if record_open => {
                if changed.is_err() { record_open = false; continue; }
            }
        }
        let current = record.borrow_and_update().clone();
        // Announce a changed record, and a renewal after a possible lapse: readers may have
        // dropped the record by lease and would not look again without a generation bump.
        let lapsed = last_ok.is_none_or(|t| t.elapsed() >= config.ttl);
        let announce = announced.as_ref() != Some(&current) || lapsed;
        match current.register(&store, config.ttl, announce).await {
            Ok(_) => {
                announced = Some(current);
                last_ok = Some(Instant::now());
                state.registered.store(true, Ordering::Relaxed);
                state.renewals.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                state.registered.store(false, Ordering::Relaxed);
                state.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(id = %current.id(), error = %e, "lease renewal failed; retrying");
            }
        }
    }
    let id = record.borrow().id().clone();
    match R::deregister(&store, &id).await {
        Ok(()) => tracing::info!(%id, "deregistered"),
        Err(e) => tracing::warn!(%id, error = %e, "deregistration failed; the lease will lapse"),
    }
    state.registered.store(false, Ordering::Relaxed);
}
