//! A running companion: the store handle, the registration, and the readiness, probe and admin
//! tasks, started together and stopped in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hyper::service::service_fn;
use mulambda_catalog::{Executor, Id, LeaseConfig, Store, StoreError};
use mulambda_runtime::server::BindError;
use mulambda_runtime::{Component, Limits, Listener};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, AdminState};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::probe::{Prober, Smoother};
use crate::publish::Publisher;
use crate::readiness::{ReadinessLoop, TfServing};
use crate::registration::{RecordHandle, Registration, executor_record};
use crate::round::ProbeLoop;

/// What [`Companion::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShutdownReport {
    /// Latency entries removed from clients' rows.
    pub latency_entries_removed: usize,
    /// Whether removing the latency entries failed (they then expire by their TTL).
    pub latency_removal_failed: bool,
}

/// Why the companion could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store configuration is unusable.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The admin listener could not be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The TF Serving URL cannot be used.
    #[error("TF Serving URL: {0}")]
    TfServing(String),
}

/// A running companion. Stop it with [`Companion::shutdown`]; dropping it without that leaves
/// the lease to lapse by itself.
pub struct Companion {
    executor_id: Id,
    store: Store,
    metrics: Metrics,
    record: RecordHandle,
    model_ready: Arc<AtomicBool>,
    admin_addr: SocketAddr,
    cancel: CancellationToken,
    registration: Registration,
    probe_task: JoinHandle<Publisher>,
    tasks: Vec<JoinHandle<()>>,
}

// === impl Companion ===

impl Companion {
    /// Starts everything: binds the admin listener, registers the executor (not ready) under a
    /// lease, and starts polling TF Serving and probing clients. The store may be down: the
    /// lease and the rounds retry by themselves.
    pub async fn start(config: Config) -> Result<Companion, StartError> {
        let store = Store::new(config.store.clone())?;
        let listener = Listener::bind("admin-listen", config.admin_listen, Limits::ADMIN).await?;
        let admin_addr = listener.local_addr();
        let tfserving = TfServing::new(
            &config.readiness.tfserving_url,
            &config.model_name,
            config.model_version,
            config.readiness.timeout,
        )
        .map_err(StartError::TfServing)?;

        let metrics = Metrics::new();
        let cancel = CancellationToken::new();
        let model_ready = Arc::new(AtomicBool::new(false));
        let registration = Registration::start(
            store.clone(),
            executor_record(&config),
            LeaseConfig::with_heartbeat(config.heartbeat),
        );
        let record = registration.handle();
        tracing::info!(
            executor = %config.executor_id,
            model = %config.model_name,
            traits = %config.traits,
            store = %store.redacted_url(),
            admin = %admin_addr,
            "companion starting"
        );

        let readiness = ReadinessLoop {
            tfserving,
            traits: config.traits.clone(),
            interval: config.readiness.interval,
            record: record.clone(),
            metrics: metrics.clone(),
            ready: model_ready.clone(),
        };
        let probe_loop = ProbeLoop {
            store: store.clone(),
            traits: config.traits.clone(),
            prober: Prober::new(config.probe, config.executor_id.as_str()),
            smoother: Smoother::new(config.probe.ewma_alpha),
            publisher: Publisher::new(store.clone(), config.executor_id.clone(), config.row_ttl),
            metrics: metrics.clone(),
        };
        let admin_state = Arc::new(AdminState {
            metrics: metrics.clone(),
            model_ready: model_ready.clone(),
            lease: registration.state(),
        });
        let admin_task = listener.serve(
            move |_peer| {
                let state = Arc::clone(&admin_state);
                service_fn(move |req| {
                    let resp = admin::handle(&req, &state);
                    async move { Ok::<_, std::convert::Infallible>(resp) }
                })
            },
            cancel.clone(),
        );
        let tasks = vec![
            tokio::spawn(readiness.run(cancel.clone())),
            tokio::spawn(async move {
                admin_task.await;
            }),
            tokio::spawn(count_lease_failures(
                registration.state(),
                metrics.clone(),
                config.heartbeat,
                cancel.clone(),
            )),
        ];
        let probe_task = tokio::spawn(probe_loop.run(cancel.clone()));
        Ok(Companion {
            executor_id: config.executor_id,
            store,
            metrics,
            record,
            model_ready,
            admin_addr,
            cancel,
            registration,
            probe_task,
            tasks,
        })
    }

    /// The executor id.
    pub fn executor_id(&self) -> &Id {
        &self.executor_id
    }

    /// The bound admin address (useful with `--admin-listen 127.0.0.1:0`).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The store handle.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The executor record as it is (or is about to be) registered.
    pub fn record(&self) -> Executor {
        self.record.current()
    }

    /// Whether the companion reports ready: registered and the model `AVAILABLE`.
    pub fn is_ready(&self) -> bool {
        self.registration.state().is_registered() && self.model_ready.load(Ordering::Relaxed)
    }

    /// Orderly shutdown: stops polling and probing, deregisters the executor at once, then
    /// removes its entries from the latency rows of the clients it probed.
    pub async fn shutdown(self) -> ShutdownReport {
        self.cancel.cancel();
        self.registration.shutdown().await;
        let mut report = ShutdownReport::default();
        match self.probe_task.await {
            Ok(mut publisher) => match publisher.remove_all().await {
                Ok(n) => report.latency_entries_removed = n,
                Err(e) => {
                    report.latency_removal_failed = true;
                    tracing::warn!(error = %e, "cannot remove latency entries; they expire by TTL");
                }
            },
            Err(e) => {
                report.latency_removal_failed = true;
                tracing::warn!(error = %e, "probe task failed; latency entries expire by TTL");
            }
        }
        for t in self.tasks {
            let _ = t.await;
        }
        tracing::info!(
            executor = %self.executor_id,
            latency_entries_removed = report.latency_entries_removed,
            "companion stopped"
        );
        report
    }
}

impl Component for Companion {
    type Config = Config;
    type Report = ShutdownReport;
    type Error = StartError;

    async fn start(config: Config) -> Result<Companion, StartError> {
        Companion::start(config).await
    }

    async fn shutdown(self) -> ShutdownReport {
        Companion::shutdown(self).await
    }
}

/// Starts a companion, waits for `signal` (e.g. [`mulambda_runtime::signal::shutdown`]), then
/// shuts it down in order.
pub async fn run(
    config: Config,
    signal: impl Future<Output = ()>,
) -> Result<ShutdownReport, StartError> {
    mulambda_runtime::run::<Companion>(config, signal).await
}

/// Mirrors the lease's failed writes into `mulambda_companion_store_errors_total`.
async fn count_lease_failures(
    lease: Arc<mulambda_catalog::LeaseState>,
    metrics: Metrics,
    every: Duration,
    cancel: CancellationToken,
) {
    let mut seen = 0;
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let failures = lease.failures();
        if failures > seen {
            metrics.store_errors.inc_by(failures - seen);
            seen = failures;
        }
    }
}
