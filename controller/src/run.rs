//! Wiring: the admin listener, the webhook (with its certificate watcher) and the reconciler,
//! until a shutdown signal; then a graceful stop. The controller is a
//! [`mulambda_runtime::Component`] like the proxy and the companion.
//!
//! Several replicas: the webhook is stateless and serves in every replica; the reconciler runs
//! only in the replica that holds the Lease ([`crate::leader`]), unless
//! `--no-leader-election` (then only one replica may run).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hyper::service::service_fn;
use mulambda_runtime::server::BindError;
use mulambda_runtime::{Component, Limits, Listener};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, AdminState};
use crate::config::Config;
use crate::executor::reconcile::{self, Context};
use crate::leader::{LeaseLock, run_while_leader};
use crate::metrics::Metrics;
use crate::tls::{ReloadingCert, TlsError};
use crate::webhook::inject::InjectConfig;
use crate::webhook::server::{self, Tls, WebhookConfig, WebhookState};

/// How long the tasks get to stop after the shutdown signal.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Why the controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The webhook certificate or key is unusable.
    #[error("loading the webhook certificate: {0}")]
    Certificate(#[from] TlsError),
    /// rustls refused the TLS configuration.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// A listener could not be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// No Kubernetes API client could be made.
    #[error("connecting to the Kubernetes API (in-cluster or kubeconfig): {0}")]
    Kube(#[from] kube::Error),
}

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
    ) -> Result<RunningWebhook, StartError> {
        let cert = ReloadingCert::load(&config.tls_cert, &config.tls_key)?;
        let tls = Tls(TlsAcceptor::from(cert.server_config()?));
        let listener = Listener::bind("webhook-listen", config.listen, server::LIMITS).await?;
        let local_addr = listener.local_addr();
        let cancel = CancellationToken::new();
        let state = Arc::new(WebhookState {
            config: Arc::new(inject),
            metrics,
        });
        let serve = listener.serve_with(
            tls,
            move |peer| {
                let state = Arc::clone(&state);
                service_fn(move |req| {
                    let state = Arc::clone(&state);
                    async move {
                        let resp = server::handle(req, &state, peer.remote).await;
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                })
            },
            cancel.clone(),
        );
        let tasks = vec![
            tokio::spawn(async move {
                serve.await;
            }),
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
pub struct Controller {
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

// === impl Controller ===

impl Controller {
    /// Starts the admin listener, the webhook and the reconciler (as configured) and marks the
    /// controller ready.
    pub async fn start(config: Config) -> Result<Controller, StartError> {
        // kube's client and the webhook both use rustls with ring; make it the process default
        // so no other provider is picked implicitly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let metrics = Metrics::new();
        let ready = Arc::new(AtomicBool::new(false));
        let cancel = CancellationToken::new();
        let mut tasks: Vec<JoinHandle<()>> = Vec::new();

        let admin = Listener::bind("admin-listen", config.admin_listen, Limits::ADMIN).await?;
        let admin_addr = admin.local_addr();
        tracing::info!(addr = %admin_addr, "admin listening (/metrics, /live, /ready)");
        let state = Arc::new(AdminState {
            metrics: metrics.clone(),
            ready: Arc::clone(&ready),
        });
        let serve = admin.serve(
            move |_peer| {
                let state = Arc::clone(&state);
                service_fn(move |req| {
                    let resp = admin::handle(&req, &state);
                    async move { Ok::<_, std::convert::Infallible>(resp) }
                })
            },
            cancel.clone(),
        );
        tasks.push(tokio::spawn(async move {
            serve.await;
        }));

        let webhook = match &config.webhook {
            Some(w) => {
                Some(RunningWebhook::start(w, config.inject.clone(), metrics.clone()).await?)
            }
            None => None,
        };

        if config.reconciler {
            let client = kube::Client::try_default().await?;
            let ctx = Arc::new(Context::new(
                client.clone(),
                config.executor.clone(),
                metrics.clone(),
                config.resync,
            ));
            match config.election.clone() {
                None => {
                    tracing::info!(
                        "reconciler watching ModelExecutors in all namespaces (no leader election)"
                    );
                    metrics.set_leader(true);
                    tasks.push(tokio::spawn(reconcile::run(ctx, cancel.clone())));
                }
                Some(lease) => {
                    tracing::info!(lease = %lease.name, namespace = %lease.namespace,
                        identity = %lease.identity,
                        "reconciler waits for the Lease (leader election)");
                    let lock = LeaseLock::new(client, lease);
                    tasks.push(tokio::spawn(run_while_leader(
                        lock,
                        metrics.clone(),
                        cancel.clone(),
                        move |term| reconcile::run(Arc::clone(&ctx), term),
                    )));
                }
            }
        }

        ready.store(true, Ordering::Release);
        Ok(Controller {
            admin_addr,
            webhook_addr: webhook.as_ref().map(|w| w.local_addr),
            metrics,
            ready,
            webhook,
            cancel,
            tasks,
        })
    }

    /// Stops: not ready, the webhook drains, the reconciler and the admin listener stop
    /// (bounded by a timeout).
    pub async fn shutdown(self) {
        tracing::info!("shutting down");
        self.ready.store(false, Ordering::Release);
        let Controller {
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

impl Component for Controller {
    type Config = Config;
    type Report = ();
    type Error = StartError;

    async fn start(config: Config) -> Result<Controller, StartError> {
        Controller::start(config).await
    }

    async fn shutdown(self) {
        Controller::shutdown(self).await
    }
}

/// Starts the controller, waits for `signal` (e.g. [`mulambda_runtime::signal::shutdown`]), then
/// shuts it down in order.
pub async fn run(config: Config, signal: impl Future<Output = ()>) -> Result<(), StartError> {
    mulambda_runtime::run::<Controller>(config, signal).await
}
