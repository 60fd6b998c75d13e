//! Configuration: command-line flags and `MULAMBDA_*` environment variables, typed where clap
//! reads them and assembled once at start-up into a [`Config`]. Modules own their options
//! ([`ReadinessConfig`], [`ProbeArgs`]); the store, lease, pod, trait and log options are shared
//! with the other binaries through [`mulambda_runtime`]. Every error names the flag, its variable
//! and the refused value.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use mulambda_catalog::names::{env, ports};
use mulambda_catalog::{Endpoint, Id, ModelName, ModelTraits, StoreConfig};
use mulambda_runtime::parse::{self, Blankable};
use mulambda_runtime::{LeaseArgs, LogArgs, OptionError, PodArgs, StoreArgs, TraitArgs};

use crate::probe::{ProbeArgs, ProbeConfig};
use crate::readiness::ReadinessConfig;

/// The companion's command line. Every option can also be given by its environment variable;
/// a flag wins over the environment. Durations take a unit: `250ms`, `5s`, `1m`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mulambda-companion",
    version,
    about = "mulambda's companion: registers a TF Serving executor in the catalog, reports its \
             readiness and serving signature, probes the clients that could use it and publishes \
             the measured latencies.",
    long_about = None
)]
pub struct Args {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    lease: LeaseArgs,

    /// Executor id in the catalog [default: the pod name].
    #[arg(long, env = env::EXECUTOR_ID, value_name = "ID", default_value = "",
          hide_default_value = true, value_parser = parse::blank_or(parse::id))]
    executor_id: Blankable<Id>,

    #[command(flatten)]
    pod: PodArgs,
    #[command(flatten)]
    readiness: ReadinessConfig,

    /// TF Serving's REST endpoint as clients must reach it (host:port) [default: <pod-ip>:8501].
    #[arg(long, env = env::REST_ENDPOINT, value_name = "HOST:PORT", default_value = "",
          hide_default_value = true, value_parser = parse::blank_or(Endpoint::parse))]
    rest_endpoint: Blankable<Endpoint>,

    /// TF Serving's gRPC endpoint as clients must reach it (host:port), when exposed.
    #[arg(long, env = env::GRPC_ENDPOINT, value_name = "HOST:PORT", default_value = "",
          hide_default_value = true, value_parser = parse::blank_or(Endpoint::parse))]
    grpc_endpoint: Blankable<Endpoint>,

    /// Name TF Serving serves the model under (`/v1/models/{name}`).
    #[arg(long, env = env::MODEL_NAME, value_name = "NAME",
          value_parser = |t: &str| ModelName::parse(t.trim()))]
    model_name: ModelName,

    /// Model version to serve and watch [default: any (TF Serving serves the latest)].
    #[arg(long, env = env::MODEL_VERSION, value_name = "N", default_value = "",
          hide_default_value = true,
          value_parser = parse::blank_or(|t: &str| t.parse::<u64>().map_err(|_| "not a whole number")))]
    model_version: Blankable<u64>,

    /// The model's traits.
    #[command(flatten)]
    traits: TraitArgs,

    /// Declared accuracy of the model, in [0, 1].
    #[arg(long, env = env::ACCURACY, value_name = "X", value_parser = parse::number_in(0.0, 1.0))]
    accuracy: f64,

    /// Admin listener (`/metrics`, `/live`, `/ready`).
    #[arg(long, env = env::ADMIN_LISTEN, default_value = "0.0.0.0:9902", value_name = "ADDR",
          value_parser = parse::socket_addr)]
    admin_listen: SocketAddr,

    #[command(flatten)]
    probe: ProbeArgs,
    #[command(flatten)]
    log: LogArgs,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the store is (its URL may hold a password: never log it; use the store's
    /// redacted URL).
    pub store: StoreConfig,
    /// Lease heartbeat.
    pub heartbeat: Duration,
    /// This executor's id.
    pub executor_id: Id,
    /// Where TF Serving is for the companion, and how it is watched.
    pub readiness: ReadinessConfig,
    /// TF Serving's REST endpoint for clients.
    pub rest_endpoint: Endpoint,
    /// TF Serving's gRPC endpoint for clients.
    pub grpc_endpoint: Option<Endpoint>,
    /// Model name.
    pub model_name: ModelName,
    /// Pinned model version.
    pub model_version: Option<u64>,
    /// Declared traits.
    pub traits: ModelTraits,
    /// Declared accuracy in [0, 1].
    pub accuracy: f64,
    /// Node name.
    pub node: Option<Id>,
    /// Zone.
    pub zone: Option<Id>,
    /// Admin listener address.
    pub admin_listen: SocketAddr,
    /// Probing options.
    pub probe: ProbeConfig,
    /// Latency row lifetime after its last write.
    pub row_ttl: Duration,
    /// Log filter.
    pub log: String,
}

// === impl Config ===

impl Config {
    /// Parses and validates a command line (first item: the program name), reading the
    /// environment for options not given. Tests feed argument lists here.
    pub fn try_parse_from<I, T>(args: I) -> Result<Config, OptionError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        Config::from_args(mulambda_runtime::parse_args(args)?)
    }

    /// Checks what spans several options and assembles the configuration.
    pub fn from_args(a: Args) -> Result<Config, OptionError> {
        let Some(executor_id) = a.executor_id.or(a.pod.pod_name) else {
            let why = "required (or set --pod-name)";
            return Err(OptionError::of::<Args>("executor-id", "", why));
        };
        let url = a.store.required_url()?;
        let pod_rest = |ip| Endpoint::from(SocketAddr::new(ip, ports::TFSERVING_REST));
        let Some(rest_endpoint) = a.rest_endpoint.or_else(|| a.pod.pod_ip.map(pod_rest)) else {
            let why = "required (or set --pod-ip)";
            return Err(OptionError::of::<Args>("rest-endpoint", "", why));
        };
        let (probe, row_ttl) = a.probe.config()?;
        Ok(Config {
            store: a.store.config(url, &a.lease),
            heartbeat: a.lease.heartbeat,
            executor_id,
            readiness: a.readiness,
            rest_endpoint,
            grpc_endpoint: a.grpc_endpoint,
            model_name: a.model_name,
            model_version: a.model_version,
            traits: a.traits.traits(),
            accuracy: a.accuracy,
            node: a.pod.node,
            zone: a.pod.zone,
            admin_listen: a.admin_listen,
            probe,
            row_ttl,
            log: a.log.log,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mulambda_runtime::parse::duration as parse_duration;

    fn base() -> Vec<&'static str> {
        vec![
            "mulambda-companion",
            "--store-url",
            "redis://127.0.0.1:6379",
            "--executor-id",
            "exec-1",
            "--rest-endpoint",
            "10.0.0.7:8501",
            "--model-name",
            "half_plus_two",
            "--model-type",
            "Regression",
            "--input-format",
            "number",
            "--output-format",
            "number",
            "--accuracy",
            "0.9",
        ]
    }

    fn with(extra: &[&'static str]) -> Result<Config, OptionError> {
        // Extra flags replace the base's.
        let mut args = vec![base()[0]];
        for pair in base()[1..].chunks(2) {
            if !extra.contains(&pair[0]) {
                args.extend_from_slice(pair);
            }
        }
        args.extend_from_slice(extra);
        Config::try_parse_from(args)
    }

    fn error(extra: &[&'static str]) -> String {
        with(extra).unwrap_err().to_string()
    }

    #[test]
    fn defaults() {
        let c = with(&[]).unwrap();
        assert_eq!(c.executor_id.as_str(), "exec-1");
        assert_eq!(c.traits.model_type.as_str(), "regression");
        assert_eq!(c.readiness.tfserving_url, "http://127.0.0.1:8501");
        assert_eq!(c.admin_listen.port(), ports::COMPANION_ADMIN);
        assert_eq!(c.probe, ProbeConfig::default());
        assert_eq!(c.row_ttl, Duration::from_secs(15));
        assert_eq!(c.heartbeat, Duration::from_secs(2));
        assert_eq!(c.model_version, None);
        assert_eq!(c.node, None);
    }

    #[test]
    fn pod_name_and_ip_are_defaults() {
        let c = Config::try_parse_from([
            "c",
            "--store-url",
            "redis://h:1",
            "--pod-name",
            "tf-abc",
            "--pod-ip",
            "10.1.2.3",
            "--model-name",
            "m",
            "--model-type",
            "t",
            "--input-format",
            "i",
            "--output-format",
            "o",
            "--accuracy",
            "1",
            "--zone",
            "",
            "--model-version",
            "7",
        ])
        .unwrap();
        assert_eq!(c.executor_id.as_str(), "tf-abc");
        assert_eq!(c.rest_endpoint.to_string(), "10.1.2.3:8501");
        assert_eq!(c.zone, None);
        assert_eq!(c.model_version, Some(7));
    }

    #[test]
    fn errors_name_the_option_and_value() {
        let e = error(&["--accuracy", "1.5"]);
        assert!(e.contains("--accuracy") && e.contains("1.5"), "{e}");
        let e = error(&["--probe-interval", "5"]);
        assert!(e.contains("--probe-interval") && e.contains("unit"), "{e}");
        let e = error(&["--probe-interval", "0s"]);
        assert!(e.contains("greater than zero"), "{e}");
        let e = error(&["--probe-samples", "0"]);
        assert!(e.contains("--probe-samples"), "{e}");
        let e = error(&["--tfserving-url", "https://x:1"]);
        assert!(
            e.contains("--tfserving-url") && e.contains("http://"),
            "{e}"
        );
        let e = error(&["--rest-endpoint", "nope"]);
        assert!(e.contains("--rest-endpoint") && e.contains("nope"), "{e}");
        let e = error(&["--model-type", "a b"]);
        assert!(e.contains("--model-type"), "{e}");
        let e = error(&["--row-ttl", "1s"]);
        assert!(e.contains("--row-ttl"), "{e}");
        let e = error(&["--probe-spread", "6s"]);
        assert!(e.contains("--probe-spread"), "{e}");
        let e = error(&["--admin-listen", "localhost"]);
        assert!(e.contains("--admin-listen"), "{e}");
        let e = error(&["--model-version", "latest"]);
        assert!(e.contains("--model-version"), "{e}");
        let e = error(&["--probe-ewma-alpha", "0"]);
        assert!(e.contains("--probe-ewma-alpha"), "{e}");
        let e = error(&["--executor-id", "a/b"]);
        assert!(e.contains("--executor-id"), "{e}");
    }

    #[test]
    fn missing_required_values() {
        let e = Config::try_parse_from(["c"]).unwrap_err();
        assert!(matches!(e, OptionError::Cli(_)));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(
            parse_duration(" 1.5s ").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("NaNs").is_err());
        assert!(parse_duration("2d").is_err());
    }

    #[test]
    fn help_documents_every_option() {
        use clap::CommandFactory;
        let mut cmd = Args::command();
        let help = cmd.render_long_help().to_string();
        for a in Args::command().get_arguments() {
            if let Some(long) = a.get_long() {
                assert!(help.contains(&format!("--{long}")), "{long} missing");
                assert!(a.get_help().is_some(), "{long} undocumented");
            }
        }
        assert!(help.contains("MULAMBDA_PROBE_INTERVAL"));
    }
}
