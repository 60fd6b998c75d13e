//! Wiring: the admin listener, the webhook (with its certificate watcher) and the reconciler,
//! until a shutdown signal; then a graceful stop.
//!
//! One replica: kube-runtime 5 ships no leader election, so the controller must not run twice
//! (the Deployment uses `replicas: 1` and `strategy: Recreate`). Two replicas would not corrupt
//! anything (applies are idempotent and the status is recomputed from scratch) but would double
//! the API traffic; the webhook itself is stateless.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, AdminState};
use crate::config::{Config, WebhookConfig};
use crate::executor::reconcile::{self, Context};
use crate::metrics::Metrics;
use crate::tls::ReloadingCert;
use crate::webhook::inject::InjectConfig;
use crate::webhook::server::{self, WebhookState};

/// How long the tasks get to stop after the shutdown signal.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// A running webhook: HTTPS listener plus certificate watcher.
pub struct RunningWebhook {
    /// The bound address (useful with port 0).
    pub local_addr: SocketAddr,
    /// The certificate being served.
    pub cert: Arc<ReloadingCert>,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

// === impl RunningWebhook ===

impl RunningWebhook {
    /// Loads the certificate, binds the listener and starts serving. Fails, naming the file or
    /// address, when the certificate is unusable or the address cannot be bound.
    pub async fn start(
        config: &WebhookConfig,
        inject: InjectConfig,
        metrics: Metrics,
    ) -> anyhow::Result<RunningWebhook> {
        let cert = ReloadingCert::load(&config.tls_cert, &config.tls_key)
            .context("loading the webhook certificate")?;
        let tls = cert.server_config().context("TLS configuration")?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding the webhook listener {}", config.listen))?;
        let local_addr = listener.local_addr()?;
        let cancel = CancellationToken::new();
        let state = WebhookState {
            config: Arc::new(inject),
            metrics,
        };
        let tasks = vec![
            tokio::spawn(server::serve(listener, tls, state, cancel.clone())),
            tokio::spawn(Arc::clone(&cert).watch(config.reload_interval, cancel.clone())),
        ];
        tracing::info!(%local_addr, "webhook listening (HTTPS, POST /mutate)");
        Ok(RunningWebhook {
            local_addr,
            cert,
            cancel,
            tasks,
        })
    }

    /// Stops accepting, lets in-flight requests finish (bounded), and waits for the tasks.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// The running controller.
pub struct Running {
    /// Bound admin address.
    pub admin_addr: SocketAddr,
    /// Bound webhook address, when the webhook runs.
    pub webhook_addr: Option<SocketAddr>,
    /// The metrics.
    pub metrics: Metrics,
    ready: Arc<AtomicBool>,
    webhook: Option<RunningWebhook>,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

/// Starts the admin listener, the webhook and the reconciler (as configured) and marks the
/// controller ready.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let metrics = Metrics::new();
    let ready = Arc::new(AtomicBool::new(false));
    let cancel = CancellationToken::new();
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();

    let admin_listener = TcpListener::bind(config.admin_listen)
        .await
        .with_context(|| format!("binding the admin listener {}", config.admin_listen))?;
    let admin_addr = admin_listener.local_addr()?;
    tracing::info!(addr = %admin_addr, "admin listening (/metrics, /live, /ready)");
    tasks.push(tokio::spawn(admin::serve(
        admin_listener,
        AdminState {
            metrics: metrics.clone(),
            ready: Arc::clone(&ready),
        },
        cancel.clone(),
    )));

    let webhook = match &config.webhook {
        Some(w) => Some(RunningWebhook::start(w, config.inject.clone(), metrics.clone()).await?),
        None => None,
    };

    if config.reconciler {
        let client = kube::Client::try_default()
            .await
            .context("connecting to the Kubernetes API (in-cluster or kubeconfig)")?;
        let ctx = Arc::new(Context::new(
            client,
            config.executor.clone(),
            metrics.clone(),
            config.resync,
        ));
        tracing::info!("reconciler watching ModelExecutors in all namespaces");
        tasks.push(tokio::spawn(reconcile::run(ctx, cancel.clone())));
    }

    ready.store(true, Ordering::Release);
    Ok(Running {
        admin_addr,
        webhook_addr: webhook.as_ref().map(|w| w.local_addr),
        metrics,
        ready,
        webhook,
        cancel,
        tasks,
    })
}

// === impl Running ===

impl Running {
    /// Stops: not ready, the webhook drains, the reconciler and the admin listener stop
    /// (bounded by a timeout).
    pub async fn shutdown(self) {
        self.ready.store(false, Ordering::Release);
        let Running {
            webhook,
            cancel,
            tasks,
            ..
        } = self;
        let stop = async {
            if let Some(w) = webhook {
                w.shutdown().await;
            }
            cancel.cancel();
            for task in tasks {
                let _ = task.await;
            }
        };
        if tokio::time::timeout(STOP_TIMEOUT, stop).await.is_err() {
            tracing::warn!("tasks still running after {STOP_TIMEOUT:?}; exiting anyway");
        }
    }
}

/// Runs everything until `shutdown` completes (e.g. [`signal`]), then stops gracefully.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let running = start(config).await?;
    shutdown.await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

/// Completes on SIGTERM or SIGINT.
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
