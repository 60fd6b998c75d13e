//! Command line and environment: `mulambda-controller [run] [FLAGS]` and
//! `mulambda-controller crd`. Every flag has a `MULAMBDA_*` variable (the flag wins); values are
//! typed where clap reads them, modules own their options ([`WebhookConfig`], [`InjectArgs`],
//! [`ImageArgs`], [`StoreEnvArgs`], [`ReconcilerArgs`]); this module assembles a [`Config`]. An
//! error names the flag, its variable and the refused value.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use mulambda_catalog::names::env;
use mulambda_runtime::{LogArgs, OptionError, parse};

use crate::executor::reconcile::ReconcilerArgs;
use crate::executor::resources::{ExecutorTemplate, ImageArgs};
use crate::leader::{ElectionArgs, LeaseConfig};
use crate::podspec::StoreEnvArgs;
use crate::webhook::inject::{InjectArgs, InjectConfig};
use crate::webhook::server::WebhookConfig;

/// The controller's command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mulambda-controller",
    version,
    about = "mulambda's Kubernetes controller: the webhook that injects the mulambda proxy into \
             pods, and the reconciler that turns ModelExecutor resources into TF Serving \
             Deployments with their companion.",
    long_about = None,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do (default: run).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `run` (also accepted without the word `run`).
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the webhook, the reconciler and the admin listener until SIGTERM/SIGINT (default).
    Run(Box<RunArgs>),
    /// Print the ModelExecutor CustomResourceDefinition (YAML) and exit.
    Crd,
}

/// Options of `run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    webhook: WebhookConfig,

    /// Admin listener (`/metrics`, `/live`, `/ready`), plain HTTP.
    #[arg(long, env = env::ADMIN_LISTEN, default_value = "0.0.0.0:9903", value_name = "ADDR",
          value_parser = parse::socket_addr)]
    admin_listen: SocketAddr,

    #[command(flatten)]
    inject: InjectArgs,
    #[command(flatten)]
    images: ImageArgs,
    #[command(flatten)]
    store: StoreEnvArgs,

    /// Do not run the webhook (reconciler only).
    #[arg(long, env = "MULAMBDA_NO_WEBHOOK")]
    no_webhook: bool,

    #[command(flatten)]
    reconciler: ReconcilerArgs,
    #[command(flatten)]
    election: ElectionArgs,
    #[command(flatten)]
    log: LogArgs,
}

/// What to do.
#[derive(Debug, Clone)]
pub enum Invocation {
    /// Run with a validated configuration.
    Run(Box<Config>),
    /// Print the CRD.
    Crd,
}

/// A validated configuration of `run`.
#[derive(Debug, Clone)]
pub struct Config {
    /// The webhook, unless --no-webhook.
    pub webhook: Option<WebhookConfig>,
    /// Whether the reconciler runs.
    pub reconciler: bool,
    /// Admin listener.
    pub admin_listen: SocketAddr,
    /// Injection settings.
    pub inject: InjectConfig,
    /// Executor settings.
    pub executor: ExecutorTemplate,
    /// Periodic re-check interval.
    pub resync: Duration,
    /// The reconciler's leader election; `None`: it runs without one (one replica only).
    pub election: Option<LeaseConfig>,
    /// Log filter.
    pub log: String,
}

// === impl Invocation ===

impl Invocation {
    /// Parses and validates a command line (first item: the program name), reading the
    /// environment for options not given.
    pub fn try_parse_from<I, T>(args: I) -> Result<Invocation, OptionError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let cli: Cli = mulambda_runtime::parse_args(args)?;
        match cli.command {
            Some(Command::Crd) => Ok(Invocation::Crd),
            Some(Command::Run(args)) => Ok(Invocation::Run(Box::new(Config::from_args(*args)?))),
            None => Ok(Invocation::Run(Box::new(Config::from_args(cli.run)?))),
        }
    }
}

// === impl Config ===

impl Config {
    /// Checks what spans several options and assembles the configuration.
    pub fn from_args(a: RunArgs) -> Result<Config, OptionError> {
        let store = a.store.store_env()?;
        if a.no_webhook && a.reconciler.no_reconciler {
            return Err(OptionError::of::<RunArgs>(
                "no-reconciler",
                "true",
                "--no-webhook and --no-reconciler together leave nothing to run",
            ));
        }
        Ok(Config {
            webhook: (!a.no_webhook).then_some(a.webhook),
            reconciler: !a.reconciler.no_reconciler,
            admin_listen: a.admin_listen,
            inject: a.inject.config(store.clone()),
            executor: a.images.template(store),
            resync: a.reconciler.resync,
            election: a.election.config(),
            log: a.log.log,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::podspec::StoreUrlSource;
    use crate::well_known::DEFAULT_IMAGE;
    use mulambda_runtime::parse::positive_duration as parse_duration;

    fn parse(args: &[&str]) -> Result<Invocation, OptionError> {
        Invocation::try_parse_from(
            std::iter::once("mulambda-controller").chain(args.iter().copied()),
        )
    }

    fn run(args: &[&str]) -> Config {
        match parse(args).unwrap() {
            Invocation::Run(c) => *c,
            Invocation::Crd => panic!("expected run"),
        }
    }

    #[test]
    fn defaults_with_and_without_the_run_word() {
        let c = run(&["--store-url", "redis://:pw@store:6379"]);
        let w = c.webhook.clone().unwrap();
        assert_eq!(w.listen, "0.0.0.0:8443".parse().unwrap());
        assert_eq!(w.reload_interval, Duration::from_secs(5));
        assert_eq!(c.admin_listen, "0.0.0.0:9903".parse().unwrap());
        assert!(c.reconciler && c.inject.inject_by_default);
        assert_eq!(c.inject.sidecar.image, DEFAULT_IMAGE);
        assert_eq!(c.executor.default_serving_image, "tensorflow/serving");
        assert_eq!(
            c.executor.model_fetch_image,
            "quay.io/minio/mc:RELEASE.2025-08-13T08-35-41Z"
        );
        let c = run(&[
            "run",
            "--store-url",
            "redis://store:6379",
            "--no-reconciler",
            "--inject-by-default",
            "false",
        ]);
        assert!(!c.reconciler && !c.inject.inject_by_default);
        assert!(matches!(parse(&["crd"]).unwrap(), Invocation::Crd));
    }

    #[test]
    fn the_lease_follows_the_pod_unless_told_otherwise() {
        let c = run(&[
            "--store-url",
            "redis://s:1",
            "--pod-name",
            "mulambda-controller-abc",
            "--pod-namespace",
            "ops",
        ]);
        let lease = c.election.unwrap();
        assert_eq!(
            (
                lease.name.as_str(),
                lease.namespace.as_str(),
                lease.identity.as_str()
            ),
            ("mulambda-controller", "ops", "mulambda-controller-abc")
        );
        assert_eq!(lease.lease_duration, Duration::from_secs(15));
        let c = run(&[
            "--store-url",
            "redis://s:1",
            "--leader-lease-namespace",
            "elsewhere",
            "--leader-lease-duration",
            "30s",
        ]);
        let lease = c.election.unwrap();
        assert_eq!(lease.namespace, "elsewhere");
        assert_eq!(lease.renew_deadline, Duration::from_secs(20));
        assert!(!lease.identity.is_empty());
        assert!(
            run(&["--store-url", "redis://s:1", "--no-leader-election"])
                .election
                .is_none()
        );
        let e = parse(&["--store-url", "redis://s:1", "--leader-lease", "Bad_Name"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--leader-lease (MULAMBDA_LEADER_LEASE)"), "{e}");
    }

    #[test]
    fn store_url_secret_wins() {
        let c = run(&[
            "--store-url",
            "redis://s:1",
            "--store-url-secret",
            "mulambda-store-url",
        ]);
        assert_eq!(
            c.executor.store.url,
            StoreUrlSource::Secret {
                name: "mulambda-store-url".into(),
                key: "url".into()
            }
        );
    }

    #[test]
    fn errors_name_flag_env_and_value_without_passwords() {
        let e = parse(&["--store-url", "http://:hunter2@x:1"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--store-url (MULAMBDA_STORE_URL)"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = parse(&["--store-url", "redis://s:1", "--tls-reload-interval", "5"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("MULAMBDA_TLS_RELOAD_INTERVAL") && e.contains("\"5\""),
            "{e}"
        );
        let e = parse(&["--store-url", "redis://s:1", "--webhook-listen", "nope"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--webhook-listen"), "{e}");
        let e = parse(&[
            "--store-url",
            "redis://s:1",
            "--no-webhook",
            "--no-reconciler",
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("nothing to run"), "{e}");
        let e = parse(&[
            "--store-url",
            "redis://s:1",
            "--model-fetch-image",
            "mc latest",
        ])
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("--model-fetch-image (MULAMBDA_MODEL_FETCH_IMAGE) \"mc latest\""),
            "{e}"
        );
        let e = parse(&["--store-url-secret", "Bad_Name"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--store-url-secret"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("x").is_err());
    }
}
