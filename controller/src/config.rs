//! Command line and environment: `mulambda-controller [run] [FLAGS]` and
//! `mulambda-controller crd`. Every flag has a `MULAMBDA_*` variable (the flag wins); values are
//! validated once at start-up into a [`Config`], and an error names the flag, its variable and
//! the refused value.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand};
use mulambda_catalog::names::env;
use mulambda_catalog::redact_url;
use mulambda_catalog::schema::DEFAULT_PREFIX;

use crate::executor::resources::ExecutorTemplate;
use crate::executor::validate::is_dns_subdomain;
use crate::podspec::{StoreEnv, StoreUrlSource};
use crate::webhook::inject::InjectConfig;
use crate::webhook::sidecar::SidecarTemplate;
use crate::well_known::{DEFAULT_IMAGE, DEFAULT_MODEL_FETCH_IMAGE, DEFAULT_SERVING_IMAGE};

/// Environment variables of the controller's own options (shared ones are in
/// [`mulambda_catalog::names::env`]).
pub mod controller_env {
    /// Webhook HTTPS listener.
    pub const WEBHOOK_LISTEN: &str = "MULAMBDA_WEBHOOK_LISTEN";
    /// Webhook certificate (PEM).
    pub const TLS_CERT: &str = "MULAMBDA_TLS_CERT";
    /// Webhook private key (PEM).
    pub const TLS_KEY: &str = "MULAMBDA_TLS_KEY";
    /// How often the certificate files are checked for changes.
    pub const TLS_RELOAD_INTERVAL: &str = "MULAMBDA_TLS_RELOAD_INTERVAL";
    /// Image of the injected proxy.
    pub const PROXY_IMAGE: &str = "MULAMBDA_PROXY_IMAGE";
    /// Image of the executors' companion.
    pub const COMPANION_IMAGE: &str = "MULAMBDA_COMPANION_IMAGE";
    /// Default TF Serving image.
    pub const SERVING_IMAGE: &str = "MULAMBDA_SERVING_IMAGE";
    /// Image of the executors' model-fetch init container (the MinIO client `mc`).
    pub const MODEL_FETCH_IMAGE: &str = "MULAMBDA_MODEL_FETCH_IMAGE";
    /// Secret (in each pod's namespace) holding the store URL.
    pub const STORE_URL_SECRET: &str = "MULAMBDA_STORE_URL_SECRET";
    /// Key of that Secret.
    pub const STORE_URL_SECRET_KEY: &str = "MULAMBDA_STORE_URL_SECRET_KEY";
    /// Inject pods without a `mulambda.io/inject` annotation.
    pub const INJECT_BY_DEFAULT: &str = "MULAMBDA_INJECT_BY_DEFAULT";
    /// Do not run the webhook.
    pub const NO_WEBHOOK: &str = "MULAMBDA_NO_WEBHOOK";
    /// Do not run the reconciler.
    pub const NO_RECONCILER: &str = "MULAMBDA_NO_RECONCILER";
    /// Periodic re-check of each `ModelExecutor`.
    pub const RESYNC_INTERVAL: &str = "MULAMBDA_RESYNC_INTERVAL";
}

use controller_env as cenv;

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
    /// Webhook HTTPS listener (`POST /mutate`).
    #[arg(long, env = cenv::WEBHOOK_LISTEN, default_value = "0.0.0.0:8443", value_name = "ADDR")]
    pub webhook_listen: String,

    /// Admin listener (`/metrics`, `/live`, `/ready`), plain HTTP.
    #[arg(long, env = env::ADMIN_LISTEN, default_value = "0.0.0.0:9903", value_name = "ADDR")]
    pub admin_listen: String,

    /// Webhook certificate chain (PEM), e.g. `tls.crt` of a cert-manager Secret; reloaded when
    /// it changes.
    #[arg(long, env = cenv::TLS_CERT, default_value = "/etc/mulambda/tls/tls.crt", value_name = "FILE")]
    pub tls_cert: PathBuf,

    /// Webhook private key (PEM: PKCS#8, PKCS#1 or SEC1); reloaded when it changes.
    #[arg(long, env = cenv::TLS_KEY, default_value = "/etc/mulambda/tls/tls.key", value_name = "FILE")]
    pub tls_key: PathBuf,

    /// How often the certificate files are checked for new contents.
    #[arg(long, env = cenv::TLS_RELOAD_INTERVAL, default_value = "5s", value_name = "DURATION")]
    pub tls_reload_interval: String,

    /// Image of the injected proxy (`mulambda-proxy` on its PATH).
    #[arg(long, env = cenv::PROXY_IMAGE, default_value = DEFAULT_IMAGE, value_name = "IMAGE")]
    pub proxy_image: String,

    /// Image of the executors' companion (`mulambda-companion` on its PATH).
    #[arg(long, env = cenv::COMPANION_IMAGE, default_value = DEFAULT_IMAGE, value_name = "IMAGE")]
    pub companion_image: String,

    /// TF Serving image of executors whose spec names none.
    #[arg(long, env = cenv::SERVING_IMAGE, default_value = DEFAULT_SERVING_IMAGE, value_name = "IMAGE")]
    pub serving_image: String,

    /// Image of the executors' init container that copies the model from S3 into the pod
    /// (the MinIO client: `mc` as its entrypoint, `mirror` and `MC_HOST_<alias>` support).
    #[arg(long, env = cenv::MODEL_FETCH_IMAGE, default_value = DEFAULT_MODEL_FETCH_IMAGE, value_name = "IMAGE")]
    pub model_fetch_image: String,

    /// Store URL given to injected proxies and companions as a literal value (visible to whoever
    /// can read those pods). Required unless --store-url-secret is set.
    #[arg(long, env = env::STORE_URL, value_name = "URL", hide_env_values = true)]
    pub store_url: Option<String>,

    /// Name of a Secret, in each injected or executor pod's own namespace, whose key
    /// (--store-url-secret-key) holds the store URL; takes precedence over --store-url.
    #[arg(long, env = cenv::STORE_URL_SECRET, value_name = "NAME")]
    pub store_url_secret: Option<String>,

    /// Key of --store-url-secret that holds the URL.
    #[arg(long, env = cenv::STORE_URL_SECRET_KEY, default_value = "url", value_name = "KEY")]
    pub store_url_secret_key: String,

    /// Store key prefix given to proxies and companions.
    #[arg(long, env = env::STORE_PREFIX, default_value = DEFAULT_PREFIX, value_name = "PREFIX")]
    pub store_prefix: String,

    /// Inject pods that reach the webhook without a `mulambda.io/inject` annotation (the
    /// webhook configuration's namespaceSelector only sends pods of opted-in namespaces).
    /// `false`: only pods annotated `mulambda.io/inject: "true"`.
    #[arg(long, env = cenv::INJECT_BY_DEFAULT, default_value_t = true, action = ArgAction::Set, value_name = "BOOL")]
    pub inject_by_default: bool,

    /// Do not run the webhook (reconciler only).
    #[arg(long, env = cenv::NO_WEBHOOK)]
    pub no_webhook: bool,

    /// Do not run the reconciler (webhook only; needs no Kubernetes API access).
    #[arg(long, env = cenv::NO_RECONCILER)]
    pub no_reconciler: bool,

    /// Periodic re-check of every ModelExecutor (changes to it and to its Deployment or
    /// Service are seen at once anyway).
    #[arg(long, env = cenv::RESYNC_INTERVAL, default_value = "5m", value_name = "DURATION")]
    pub resync_interval: String,
}

/// What to do.
#[derive(Debug, Clone)]
pub enum Invocation {
    /// Run with a validated configuration.
    Run(Box<Config>),
    /// Print the CRD.
    Crd,
}

/// The webhook's listener settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Listener address.
    pub listen: SocketAddr,
    /// Certificate file.
    pub tls_cert: PathBuf,
    /// Key file.
    pub tls_key: PathBuf,
    /// Certificate file check interval.
    pub reload_interval: Duration,
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
}

/// A configuration error.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The command line could not be parsed (also carries `--help` and `--version`).
    #[error(transparent)]
    Cli(#[from] clap::Error),
    /// A value was refused.
    #[error("invalid --{option} ({env}) {value:?}: {reason}")]
    Invalid {
        /// The flag, without dashes.
        option: &'static str,
        /// Its environment variable.
        env: &'static str,
        /// The refused value (store URLs with the password masked).
        value: String,
        /// Why.
        reason: String,
    },
}

fn invalid(
    option: &'static str,
    env: &'static str,
    value: &str,
    reason: impl ToString,
) -> ConfigError {
    ConfigError::Invalid {
        option,
        env,
        value: value.chars().take(128).collect(),
        reason: reason.to_string(),
    }
}

// === impl Invocation ===

impl Invocation {
    /// Parses and validates a command line (first item: the program name), reading the
    /// environment for options not given.
    pub fn try_parse_from<I, T>(args: I) -> Result<Invocation, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let cli = Cli::try_parse_from(args)?;
        match cli.command {
            Some(Command::Crd) => Ok(Invocation::Crd),
            Some(Command::Run(args)) => Ok(Invocation::Run(Box::new(Config::from_args(*args)?))),
            None => Ok(Invocation::Run(Box::new(Config::from_args(cli.run)?))),
        }
    }
}

// === impl Config ===

impl Config {
    /// Validates parsed options.
    pub fn from_args(a: RunArgs) -> Result<Config, ConfigError> {
        let webhook_listen: SocketAddr =
            a.webhook_listen.trim().parse().map_err(|e| {
                invalid("webhook-listen", cenv::WEBHOOK_LISTEN, &a.webhook_listen, e)
            })?;
        let admin_listen: SocketAddr = a
            .admin_listen
            .trim()
            .parse()
            .map_err(|e| invalid("admin-listen", env::ADMIN_LISTEN, &a.admin_listen, e))?;
        let reload_interval = parse_duration(&a.tls_reload_interval).map_err(|r| {
            invalid(
                "tls-reload-interval",
                cenv::TLS_RELOAD_INTERVAL,
                &a.tls_reload_interval,
                r,
            )
        })?;
        let resync = parse_duration(&a.resync_interval).map_err(|r| {
            invalid(
                "resync-interval",
                cenv::RESYNC_INTERVAL,
                &a.resync_interval,
                r,
            )
        })?;
        let image = |option, env, value: &str| {
            let v = value.trim();
            if v.is_empty() || v.chars().any(char::is_whitespace) {
                Err(invalid(
                    option,
                    env,
                    value,
                    "must be an image reference without spaces",
                ))
            } else {
                Ok(v.to_string())
            }
        };
        let proxy_image = image("proxy-image", cenv::PROXY_IMAGE, &a.proxy_image)?;
        let companion_image = image("companion-image", cenv::COMPANION_IMAGE, &a.companion_image)?;
        let serving_image = image("serving-image", cenv::SERVING_IMAGE, &a.serving_image)?;
        let model_fetch_image = image(
            "model-fetch-image",
            cenv::MODEL_FETCH_IMAGE,
            &a.model_fetch_image,
        )?;

        let prefix = a.store_prefix.trim().to_string();
        let prefix_ok = !prefix.is_empty()
            && prefix.len() <= 64
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !prefix_ok {
            return Err(invalid(
                "store-prefix",
                env::STORE_PREFIX,
                &prefix,
                "1 to 64 of A-Z a-z 0-9 - _ .",
            ));
        }
        let url = store_url_source(&a)?;
        let store = StoreEnv { url, prefix };

        if a.no_webhook && a.no_reconciler {
            return Err(invalid(
                "no-reconciler",
                cenv::NO_RECONCILER,
                "true",
                "--no-webhook and --no-reconciler together leave nothing to run",
            ));
        }
        let webhook = (!a.no_webhook).then(|| WebhookConfig {
            listen: webhook_listen,
            tls_cert: a.tls_cert.clone(),
            tls_key: a.tls_key.clone(),
            reload_interval,
        });
        Ok(Config {
            webhook,
            reconciler: !a.no_reconciler,
            admin_listen,
            inject: InjectConfig {
                sidecar: SidecarTemplate {
                    image: proxy_image,
                    store: store.clone(),
                },
                inject_by_default: a.inject_by_default,
            },
            executor: ExecutorTemplate {
                companion_image,
                default_serving_image: serving_image,
                model_fetch_image,
                store,
            },
            resync,
        })
    }
}

fn store_url_source(a: &RunArgs) -> Result<StoreUrlSource, ConfigError> {
    if let Some(name) = a
        .store_url_secret
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if !is_dns_subdomain(name) {
            return Err(invalid(
                "store-url-secret",
                cenv::STORE_URL_SECRET,
                name,
                "must be the name of a Secret (a DNS subdomain)",
            ));
        }
        let key = a.store_url_secret_key.trim();
        let key_ok = !key.is_empty()
            && key.len() <= 253
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !key_ok {
            return Err(invalid(
                "store-url-secret-key",
                cenv::STORE_URL_SECRET_KEY,
                key,
                "must be a Secret key (A-Z a-z 0-9 - _ .)",
            ));
        }
        return Ok(StoreUrlSource::Secret {
            name: name.to_string(),
            key: key.to_string(),
        });
    }
    let Some(raw) = a
        .store_url
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        return Err(invalid(
            "store-url",
            env::STORE_URL,
            "",
            "required (or set --store-url-secret)",
        ));
    };
    match url::Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "redis" | "rediss") && u.host_str().is_some() => {
            Ok(StoreUrlSource::Value(raw.to_string()))
        }
        Ok(_) => Err(invalid(
            "store-url",
            env::STORE_URL,
            &redact_url(raw),
            "must be redis://host:port or rediss://host:port",
        )),
        Err(e) => Err(invalid("store-url", env::STORE_URL, &redact_url(raw), e)),
    }
}

/// Parses a positive duration with a unit (`250ms`, `5s`, `2m`; see
/// [`mulambda_catalog::parse_duration`]); intervals of zero would spin.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    match mulambda_catalog::parse_duration(text)? {
        d if d.is_zero() => Err("must be more than 0 and at most 24h".to_string()),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Invocation, ConfigError> {
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
