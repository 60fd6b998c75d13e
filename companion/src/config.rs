//! Configuration: command-line flags and `MULAMBDA_*` environment variables, validated once at
//! start-up into a [`Config`]. Every error names the option and the refused value.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use http::Uri;
use mulambda_catalog::names::{env, ports};
/// Durations in flags and env: one parser shared by every binary.
pub use mulambda_catalog::parse_duration;
use mulambda_catalog::schema::DEFAULT_PREFIX;
use mulambda_catalog::{Endpoint, Id, ModelName, ModelTraits};

/// Environment variables of the companion's own tuning options (the shared ones are in
/// [`mulambda_catalog::names::env`]).
pub mod tuning_env {
    /// Lease heartbeat.
    pub const HEARTBEAT: &str = "MULAMBDA_HEARTBEAT";
    /// TF Serving status poll interval.
    pub const READINESS_INTERVAL: &str = "MULAMBDA_READINESS_INTERVAL";
    /// Deadline of one TF Serving status or metadata call.
    pub const READINESS_TIMEOUT: &str = "MULAMBDA_READINESS_TIMEOUT";
    /// Time between probe rounds.
    pub const PROBE_INTERVAL: &str = "MULAMBDA_PROBE_INTERVAL";
    /// Window over which a round's probes are spread.
    pub const PROBE_SPREAD: &str = "MULAMBDA_PROBE_SPREAD";
    /// Timed samples per client per round.
    pub const PROBE_SAMPLES: &str = "MULAMBDA_PROBE_SAMPLES";
    /// Deadline of one probe request.
    pub const PROBE_TIMEOUT: &str = "MULAMBDA_PROBE_TIMEOUT";
    /// Clients probed at the same time.
    pub const PROBE_CONCURRENCY: &str = "MULAMBDA_PROBE_CONCURRENCY";
    /// Weight of the newest round in the per-client moving average.
    pub const PROBE_EWMA_ALPHA: &str = "MULAMBDA_PROBE_EWMA_ALPHA";
    /// Lifetime of a latency row after its last write.
    pub const ROW_TTL: &str = "MULAMBDA_ROW_TTL";
    /// Deadline of one store call.
    pub const STORE_TIMEOUT: &str = "MULAMBDA_STORE_TIMEOUT";
}

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
    /// Metadata store URL: redis://[user:pass@]host:port[/db] or rediss://… (TLS).
    #[arg(long, env = env::STORE_URL, value_name = "URL", hide_env_values = true)]
    pub store_url: String,

    /// Key prefix (namespace) in the store.
    #[arg(long, env = env::STORE_PREFIX, default_value = DEFAULT_PREFIX, value_name = "PREFIX")]
    pub store_prefix: String,

    /// Deadline of one store call.
    #[arg(long, env = tuning_env::STORE_TIMEOUT, default_value = "1s", value_name = "DURATION")]
    pub store_timeout: String,

    /// Executor id in the catalog [default: the pod name].
    #[arg(long, env = env::EXECUTOR_ID, value_name = "ID")]
    pub executor_id: Option<String>,

    /// Pod name (downward API `metadata.name`); the default executor id.
    #[arg(long, env = env::POD_NAME, value_name = "NAME")]
    pub pod_name: Option<String>,

    /// Pod IP (downward API `status.podIP`); the default host of --rest-endpoint.
    #[arg(long, env = env::POD_IP, value_name = "IP")]
    pub pod_ip: Option<String>,

    /// TF Serving's REST base URL as the companion reaches it (plain http).
    #[arg(long, env = env::TFSERVING_URL, default_value = "http://127.0.0.1:8501", value_name = "URL")]
    pub tfserving_url: String,

    /// TF Serving's REST endpoint as clients must reach it (host:port) [default: <pod-ip>:8501].
    #[arg(long, env = env::REST_ENDPOINT, value_name = "HOST:PORT")]
    pub rest_endpoint: Option<String>,

    /// TF Serving's gRPC endpoint as clients must reach it (host:port), when exposed.
    #[arg(long, env = env::GRPC_ENDPOINT, value_name = "HOST:PORT")]
    pub grpc_endpoint: Option<String>,

    /// Name TF Serving serves the model under (`/v1/models/{name}`).
    #[arg(long, env = env::MODEL_NAME, value_name = "NAME")]
    pub model_name: String,

    /// Model version to serve and watch [default: any (TF Serving serves the latest)].
    #[arg(long, env = env::MODEL_VERSION, value_name = "N")]
    pub model_version: Option<String>,

    /// Model type trait, e.g. `classification`.
    #[arg(long, env = env::MODEL_TYPE, value_name = "TRAIT")]
    pub model_type: String,

    /// Input format trait, e.g. `image`.
    #[arg(long, env = env::INPUT_FORMAT, value_name = "TRAIT")]
    pub input_format: String,

    /// Output format trait, e.g. `label`.
    #[arg(long, env = env::OUTPUT_FORMAT, value_name = "TRAIT")]
    pub output_format: String,

    /// Declared accuracy of the model, in [0, 1].
    #[arg(long, env = env::ACCURACY, value_name = "X")]
    pub accuracy: String,

    /// Kubernetes node name (downward API `spec.nodeName`); empty = unknown.
    #[arg(long, env = env::NODE, value_name = "NODE")]
    pub node: Option<String>,

    /// Zone of the node; empty = unknown.
    #[arg(long, env = env::ZONE, value_name = "ZONE")]
    pub zone: Option<String>,

    /// Admin listener (`/metrics`, `/live`, `/ready`).
    #[arg(long, env = env::ADMIN_LISTEN, default_value = "0.0.0.0:9902", value_name = "ADDR")]
    pub admin_listen: String,

    /// Lease heartbeat; the lease lasts three heartbeats.
    #[arg(long, env = tuning_env::HEARTBEAT, default_value = "2s", value_name = "DURATION")]
    pub heartbeat: String,

    /// How often TF Serving's model status is polled.
    #[arg(long, env = tuning_env::READINESS_INTERVAL, default_value = "1s", value_name = "DURATION")]
    pub readiness_interval: String,

    /// Deadline of one TF Serving status or metadata call (a timeout = not ready).
    #[arg(long, env = tuning_env::READINESS_TIMEOUT, default_value = "1s", value_name = "DURATION")]
    pub readiness_timeout: String,

    /// Time between the starts of two probe rounds.
    #[arg(long, env = tuning_env::PROBE_INTERVAL, default_value = "5s", value_name = "DURATION")]
    pub probe_interval: String,

    /// Window at the start of a round over which client probes are spread
    /// [default: half the probe interval].
    #[arg(long, env = tuning_env::PROBE_SPREAD, value_name = "DURATION")]
    pub probe_spread: Option<String>,

    /// Timed samples per client per round (after one untimed warm-up request).
    #[arg(long, env = tuning_env::PROBE_SAMPLES, default_value = "3", value_name = "N")]
    pub probe_samples: String,

    /// Deadline of one probe request; a client none of whose samples answer in time is
    /// published as unreachable.
    #[arg(long, env = tuning_env::PROBE_TIMEOUT, default_value = "1s", value_name = "DURATION")]
    pub probe_timeout: String,

    /// How many clients are probed at the same time.
    #[arg(long, env = tuning_env::PROBE_CONCURRENCY, default_value = "64", value_name = "N")]
    pub probe_concurrency: String,

    /// Weight of the newest round's median in the per-client moving average, in (0, 1];
    /// 1 publishes each round's median as is.
    #[arg(long, env = tuning_env::PROBE_EWMA_ALPHA, default_value = "0.5", value_name = "X")]
    pub probe_ewma_alpha: String,

    /// Lifetime of a latency row after its last write [default: three probe intervals].
    #[arg(long, env = tuning_env::ROW_TTL, value_name = "DURATION")]
    pub row_ttl: Option<String>,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Store URL (may hold a password: never log it; use the store's redacted URL).
    pub store_url: String,
    /// Store key prefix.
    pub store_prefix: String,
    /// Deadline of one store call.
    pub store_timeout: Duration,
    /// This executor's id.
    pub executor_id: Id,
    /// TF Serving's REST base URL for the companion, without a trailing slash.
    pub tfserving_url: String,
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
    /// Lease heartbeat.
    pub heartbeat: Duration,
    /// Readiness poll interval.
    pub readiness_interval: Duration,
    /// Readiness call deadline.
    pub readiness_timeout: Duration,
    /// Probing options.
    pub probe: ProbeConfig,
    /// Latency row lifetime after its last write.
    pub row_ttl: Duration,
}

/// How clients are probed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeConfig {
    /// Time between round starts.
    pub interval: Duration,
    /// Window over which a round's probes start.
    pub spread: Duration,
    /// Timed samples per client.
    pub samples: u32,
    /// Deadline of one request.
    pub timeout: Duration,
    /// Clients probed at the same time.
    pub concurrency: usize,
    /// EWMA weight of the newest round, in (0, 1].
    pub ewma_alpha: f64,
}

impl Default for ProbeConfig {
    fn default() -> ProbeConfig {
        ProbeConfig {
            interval: Duration::from_secs(5),
            spread: Duration::from_millis(2500),
            samples: 3,
            timeout: Duration::from_secs(1),
            concurrency: 64,
            ewma_alpha: 0.5,
        }
    }
}

/// A configuration error.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The command line could not be parsed (also carries `--help` and `--version` output).
    #[error(transparent)]
    Cli(#[from] clap::Error),
    /// An option's value was refused.
    #[error("invalid --{option} ({env}) {value:?}: {reason}")]
    Invalid {
        /// The option, without dashes.
        option: &'static str,
        /// Its environment variable.
        env: &'static str,
        /// The refused value (cut to 64 characters; never the store URL's password).
        value: String,
        /// Why.
        reason: String,
    },
}

const MAX_SAMPLES: u32 = 100;
const MAX_CONCURRENCY: usize = 10_000;

// === impl Config ===

impl Config {
    /// Parses and validates a command line (first item: the program name), reading the
    /// environment for options not given. Tests feed argument lists here.
    pub fn try_parse_from<I, T>(args: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        Config::from_args(Args::try_parse_from(args)?)
    }

    /// Validates parsed arguments.
    pub fn from_args(a: Args) -> Result<Config, ConfigError> {
        let pod_name = non_empty(a.pod_name);
        let executor_id = match (non_empty(a.executor_id), pod_name) {
            (Some(id), _) => id,
            (None, Some(pod)) => pod,
            (None, None) => {
                return Err(invalid(
                    "executor-id",
                    env::EXECUTOR_ID,
                    "",
                    "required (or set --pod-name)",
                ));
            }
        };
        let executor_id = Id::parse(&executor_id)
            .map_err(|e| invalid("executor-id", env::EXECUTOR_ID, &executor_id, e))?;

        if a.store_url.trim().is_empty() {
            return Err(invalid("store-url", env::STORE_URL, "", "required"));
        }
        let store_prefix = a.store_prefix.trim().to_string();
        let prefix_ok = !store_prefix.is_empty()
            && store_prefix.len() <= 64
            && store_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !prefix_ok {
            return Err(invalid(
                "store-prefix",
                env::STORE_PREFIX,
                &store_prefix,
                "1 to 64 of A-Z a-z 0-9 - _ .",
            ));
        }

        let tfserving_url = parse_base_url(&a.tfserving_url)
            .map_err(|r| invalid("tfserving-url", env::TFSERVING_URL, &a.tfserving_url, r))?;

        let rest_endpoint = match (non_empty(a.rest_endpoint), non_empty(a.pod_ip)) {
            (Some(e), _) => e,
            (None, Some(ip)) => match ip.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V6(v6)) => format!("[{v6}]:{}", ports::TFSERVING_REST),
                _ => format!("{ip}:{}", ports::TFSERVING_REST),
            },
            (None, None) => {
                return Err(invalid(
                    "rest-endpoint",
                    env::REST_ENDPOINT,
                    "",
                    "required (or set --pod-ip)",
                ));
            }
        };
        let rest_endpoint = Endpoint::parse(&rest_endpoint)
            .map_err(|e| invalid("rest-endpoint", env::REST_ENDPOINT, &rest_endpoint, e))?;
        let grpc_endpoint = non_empty(a.grpc_endpoint)
            .map(|g| {
                Endpoint::parse(&g).map_err(|e| invalid("grpc-endpoint", env::GRPC_ENDPOINT, &g, e))
            })
            .transpose()?;

        let model_name = ModelName::parse(a.model_name.trim())
            .map_err(|e| invalid("model-name", env::MODEL_NAME, &a.model_name, e))?;
        let model_version = non_empty(a.model_version)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    invalid(
                        "model-version",
                        env::MODEL_VERSION,
                        &v,
                        "not a whole number",
                    )
                })
            })
            .transpose()?;
        let traits =
            ModelTraits::parse(&a.model_type, &a.input_format, &a.output_format).map_err(|e| {
                let mulambda_catalog::Error::Invalid {
                    field,
                    value,
                    reason,
                } = e;
                let (option, var) = match field {
                    "model_type" => ("model-type", env::MODEL_TYPE),
                    "input_format" => ("input-format", env::INPUT_FORMAT),
                    _ => ("output-format", env::OUTPUT_FORMAT),
                };
                invalid(option, var, &value, reason)
            })?;
        let accuracy = a
            .accuracy
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| (0.0..=1.0).contains(x))
            .ok_or_else(|| {
                invalid(
                    "accuracy",
                    env::ACCURACY,
                    &a.accuracy,
                    "must be a number in [0, 1]",
                )
            })?;
        let node = optional_id("node", env::NODE, a.node)?;
        let zone = optional_id("zone", env::ZONE, a.zone)?;
        let admin_listen = a.admin_listen.trim().parse::<SocketAddr>().map_err(|_| {
            invalid(
                "admin-listen",
                env::ADMIN_LISTEN,
                &a.admin_listen,
                "expected ip:port",
            )
        })?;

        let store_timeout = duration("store-timeout", tuning_env::STORE_TIMEOUT, &a.store_timeout)?;
        let heartbeat = duration("heartbeat", tuning_env::HEARTBEAT, &a.heartbeat)?;
        let readiness_interval = duration(
            "readiness-interval",
            tuning_env::READINESS_INTERVAL,
            &a.readiness_interval,
        )?;
        let readiness_timeout = duration(
            "readiness-timeout",
            tuning_env::READINESS_TIMEOUT,
            &a.readiness_timeout,
        )?;
        let interval = duration(
            "probe-interval",
            tuning_env::PROBE_INTERVAL,
            &a.probe_interval,
        )?;
        let spread = match non_empty(a.probe_spread) {
            Some(s) => zero_or_duration("probe-spread", tuning_env::PROBE_SPREAD, &s)?,
            None => interval / 2,
        };
        if spread >= interval {
            return Err(invalid(
                "probe-spread",
                tuning_env::PROBE_SPREAD,
                &format!("{spread:?}"),
                "must be shorter than --probe-interval",
            ));
        }
        let samples = a
            .probe_samples
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_SAMPLES).contains(n))
            .ok_or_else(|| {
                invalid(
                    "probe-samples",
                    tuning_env::PROBE_SAMPLES,
                    &a.probe_samples,
                    format!("must be a whole number in 1..={MAX_SAMPLES}"),
                )
            })?;
        let timeout = duration("probe-timeout", tuning_env::PROBE_TIMEOUT, &a.probe_timeout)?;
        let concurrency = a
            .probe_concurrency
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_CONCURRENCY).contains(n))
            .ok_or_else(|| {
                invalid(
                    "probe-concurrency",
                    tuning_env::PROBE_CONCURRENCY,
                    &a.probe_concurrency,
                    format!("must be a whole number in 1..={MAX_CONCURRENCY}"),
                )
            })?;
        let ewma_alpha = a
            .probe_ewma_alpha
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| *x > 0.0 && *x <= 1.0)
            .ok_or_else(|| {
                invalid(
                    "probe-ewma-alpha",
                    tuning_env::PROBE_EWMA_ALPHA,
                    &a.probe_ewma_alpha,
                    "must be a number in (0, 1]",
                )
            })?;
        let row_ttl = match non_empty(a.row_ttl) {
            Some(t) => duration("row-ttl", tuning_env::ROW_TTL, &t)?,
            None => interval * 3,
        };
        if row_ttl <= interval {
            return Err(invalid(
                "row-ttl",
                tuning_env::ROW_TTL,
                &format!("{row_ttl:?}"),
                "must be longer than --probe-interval, or rows of live clients expire between rounds",
            ));
        }

        Ok(Config {
            store_url: a.store_url.trim().to_string(),
            store_prefix,
            store_timeout,
            executor_id,
            tfserving_url,
            rest_endpoint,
            grpc_endpoint,
            model_name,
            model_version,
            traits,
            accuracy,
            node,
            zone,
            admin_listen,
            heartbeat,
            readiness_interval,
            readiness_timeout,
            probe: ProbeConfig {
                interval,
                spread,
                samples,
                timeout,
                concurrency,
                ewma_alpha,
            },
            row_ttl,
        })
    }
}

fn invalid(
    option: &'static str,
    env: &'static str,
    value: &str,
    reason: impl std::fmt::Display,
) -> ConfigError {
    ConfigError::Invalid {
        option,
        env,
        value: value.chars().take(64).collect(),
        reason: reason.to_string(),
    }
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn optional_id(
    option: &'static str,
    var: &'static str,
    v: Option<String>,
) -> Result<Option<Id>, ConfigError> {
    non_empty(v)
        .map(|s| Id::parse(&s).map_err(|e| invalid(option, var, &s, e)))
        .transpose()
}

fn duration(option: &'static str, var: &'static str, text: &str) -> Result<Duration, ConfigError> {
    match parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(invalid(option, var, text, "must be greater than zero")),
        Err(reason) => Err(invalid(option, var, text, reason)),
    }
}

fn zero_or_duration(
    option: &'static str,
    var: &'static str,
    text: &str,
) -> Result<Duration, ConfigError> {
    parse_duration(text).map_err(|reason| invalid(option, var, text, reason))
}

/// Checks an `http://host:port[/path]` base URL and returns it without a trailing slash.
fn parse_base_url(text: &str) -> Result<String, String> {
    let t = text.trim().trim_end_matches('/');
    let uri: Uri = t
        .parse()
        .map_err(|e| format!("not a URL ({e}); expected http://host:port"))?;
    if uri.scheme_str() != Some("http") {
        return Err("expected an http:// URL (TF Serving's REST port, plain HTTP)".into());
    }
    if uri.authority().is_none() {
        return Err("expected http://host:port".into());
    }
    if uri.query().is_some() {
        return Err("must not have a query".into());
    }
    Ok(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn with(extra: &[&'static str]) -> Result<Config, ConfigError> {
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
        assert_eq!(c.tfserving_url, "http://127.0.0.1:8501");
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
        assert!(matches!(e, ConfigError::Cli(_)));
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
