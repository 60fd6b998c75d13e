//! Configuration: command-line flags and `MULAMBDA_*` environment variables, validated once at
//! start-up into a [`Config`]. Every error names the option, its variable and the refused value.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use mulambda_catalog::names::env;
/// Durations in flags and env: one parser shared by every binary.
pub use mulambda_catalog::parse_duration;
use mulambda_catalog::schema::DEFAULT_PREFIX;
use mulambda_catalog::{Endpoint, Id, ModelTraits, SoftCriteria};

use crate::selection::{HealthConfig, ScoreConfig};

/// Environment variables of the proxy's own tuning options (the shared ones are in
/// [`mulambda_catalog::names::env`]).
pub mod tuning_env {
    /// Deadline of one store call.
    pub const STORE_TIMEOUT: &str = "MULAMBDA_STORE_TIMEOUT";
    /// Lease heartbeat.
    pub const HEARTBEAT: &str = "MULAMBDA_HEARTBEAT";
    /// Snapshot poll interval.
    pub const POLL_INTERVAL: &str = "MULAMBDA_POLL_INTERVAL";
    /// Full reload at least every this many polls.
    pub const FULL_RELOAD_EVERY: &str = "MULAMBDA_FULL_RELOAD_EVERY";
    /// Connect timeout to executors.
    pub const CONNECT_TIMEOUT: &str = "MULAMBDA_CONNECT_TIMEOUT";
    /// Default request timeout.
    pub const REQUEST_TIMEOUT: &str = "MULAMBDA_REQUEST_TIMEOUT";
    /// Largest timeout a request may ask for.
    pub const MAX_TIMEOUT: &str = "MULAMBDA_MAX_TIMEOUT";
    /// Request bodies up to this size are buffered so a failed attempt can be retried.
    pub const RETRY_BUFFER: &str = "MULAMBDA_RETRY_BUFFER";
    /// Hard limit of a request body.
    pub const MAX_BODY: &str = "MULAMBDA_MAX_BODY";
    /// Retries allowed as a fraction of requests.
    pub const RETRY_RATIO: &str = "MULAMBDA_RETRY_RATIO";
    /// Retries allowed per second regardless of traffic.
    pub const RETRY_MIN_PER_SEC: &str = "MULAMBDA_RETRY_MIN_PER_SEC";
    /// Window of the retry budget.
    pub const RETRY_WINDOW: &str = "MULAMBDA_RETRY_WINDOW";
    /// How long in-flight requests may finish after a shutdown signal.
    pub const DRAIN_TIMEOUT: &str = "MULAMBDA_DRAIN_TIMEOUT";
    /// How long a newly seen executor is ramped in.
    pub const RAMP_UP: &str = "MULAMBDA_RAMP_UP";
    /// Tokio worker threads of the binary.
    pub const WORKER_THREADS: &str = "MULAMBDA_WORKER_THREADS";
}

/// The proxy's command line. Every option can also be given by its environment variable; a flag
/// wins over the environment. Durations take a unit (`250ms`, `5s`, `1m`); sizes may take one
/// (`64KiB`, `16MiB`; plain numbers are bytes).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mulambda-proxy",
    version,
    about = "mulambda's sidecar proxy: speaks TF Serving's REST API to the application and sends \
             each request to the best model executor in the catalog, by the client's hard and \
             soft criteria.",
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

    /// Application listener (TF Serving REST; HTTP/1.1 and HTTP/2 prior knowledge).
    #[arg(long, env = env::LISTEN, default_value = "127.0.0.1:8501", value_name = "ADDR")]
    pub listen: String,

    /// Admin listener (`/metrics`, `/live`, `/ready`, `/probe`, `/explain`).
    #[arg(long, env = env::ADMIN_LISTEN, default_value = "0.0.0.0:9901", value_name = "ADDR")]
    pub admin_listen: String,

    /// Client id in the catalog [default: the pod name, else a generated `proxy-…` id].
    #[arg(long, env = env::CLIENT_ID, value_name = "ID")]
    pub client_id: Option<String>,

    /// Pod name (downward API `metadata.name`); the default client id.
    #[arg(long, env = env::POD_NAME, value_name = "NAME")]
    pub pod_name: Option<String>,

    /// Pod IP (downward API `status.podIP`); the default host of --probe-addr.
    #[arg(long, env = env::POD_IP, value_name = "IP")]
    pub pod_ip: Option<String>,

    /// Where companions reach this proxy's `/probe` (host:port)
    /// [default: <pod-ip>:<admin port>, else the admin listener's address (127.0.0.1 when it
    /// listens on all addresses)].
    #[arg(long, env = env::PROBE_ADDR, value_name = "HOST:PORT")]
    pub probe_addr: Option<String>,

    /// Kubernetes node name (downward API `spec.nodeName`); empty = unknown.
    #[arg(long, env = env::NODE, value_name = "NODE")]
    pub node: Option<String>,

    /// Zone of the node; empty = unknown.
    #[arg(long, env = env::ZONE, value_name = "ZONE")]
    pub zone: Option<String>,

    /// Hard criterion: model type, e.g. `classification`.
    #[arg(long, env = env::MODEL_TYPE, value_name = "TRAIT")]
    pub model_type: String,

    /// Hard criterion: input format, e.g. `image`.
    #[arg(long, env = env::INPUT_FORMAT, value_name = "TRAIT")]
    pub input_format: String,

    /// Hard criterion: output format, e.g. `label`.
    #[arg(long, env = env::OUTPUT_FORMAT, value_name = "TRAIT")]
    pub output_format: String,

    /// Soft criterion: weight of low latency (≥ 0; not both weights 0).
    #[arg(long, env = env::LATENCY_WEIGHT, default_value = "1", value_name = "X")]
    pub latency_weight: String,

    /// Soft criterion: weight of high accuracy (≥ 0; not both weights 0).
    #[arg(long, env = env::ACCURACY_WEIGHT, default_value = "1", value_name = "X")]
    pub accuracy_weight: String,

    /// Soft criterion: latency ceiling in milliseconds (executors expected slower are skipped).
    #[arg(long, env = env::MAX_LATENCY_MS, value_name = "MS")]
    pub max_latency_ms: Option<String>,

    /// Soft criterion: accuracy floor in [0, 1] (less accurate executors are skipped).
    #[arg(long, env = env::MIN_ACCURACY, value_name = "X")]
    pub min_accuracy: Option<String>,

    /// Snapshot poll interval (the safety net beside pushed change events).
    #[arg(long, env = tuning_env::POLL_INTERVAL, default_value = "1s", value_name = "DURATION")]
    pub poll_interval: String,

    /// Read the whole catalog at least every this many polls, even without a change.
    #[arg(long, env = tuning_env::FULL_RELOAD_EVERY, default_value = "30", value_name = "N")]
    pub full_reload_every: String,

    /// Lease heartbeat of the client registration; the lease lasts three heartbeats.
    #[arg(long, env = tuning_env::HEARTBEAT, default_value = "2s", value_name = "DURATION")]
    pub heartbeat: String,

    /// Connect timeout to an executor.
    #[arg(long, env = tuning_env::CONNECT_TIMEOUT, default_value = "1s", value_name = "DURATION")]
    pub connect_timeout: String,

    /// Request timeout (until the executor's response headers) when the request sets none
    /// (header `x-mulambda-timeout-ms`).
    #[arg(long, env = tuning_env::REQUEST_TIMEOUT, default_value = "30s", value_name = "DURATION")]
    pub request_timeout: String,

    /// Largest timeout a request may ask for by header.
    #[arg(long, env = tuning_env::MAX_TIMEOUT, default_value = "5m", value_name = "DURATION")]
    pub max_timeout: String,

    /// Request bodies up to this size are buffered so a failed attempt can be retried on another
    /// executor; larger ones are streamed and not retried.
    #[arg(long, env = tuning_env::RETRY_BUFFER, default_value = "64KiB", value_name = "SIZE")]
    pub retry_buffer: String,

    /// Hard limit of a request body; larger requests are answered 413.
    #[arg(long, env = tuning_env::MAX_BODY, default_value = "32MiB", value_name = "SIZE")]
    pub max_body: String,

    /// Retry budget: retries allowed as a fraction of the requests in the window.
    #[arg(long, env = tuning_env::RETRY_RATIO, default_value = "0.2", value_name = "X")]
    pub retry_ratio: String,

    /// Retry budget: retries allowed per second on top of the ratio (so a quiet proxy can retry).
    #[arg(long, env = tuning_env::RETRY_MIN_PER_SEC, default_value = "10", value_name = "N")]
    pub retry_min_per_sec: String,

    /// Retry budget: sliding window.
    #[arg(long, env = tuning_env::RETRY_WINDOW, default_value = "10s", value_name = "DURATION")]
    pub retry_window: String,

    /// After SIGTERM/SIGINT, how long in-flight requests may still finish.
    #[arg(long, env = tuning_env::DRAIN_TIMEOUT, default_value = "10s", value_name = "DURATION")]
    pub drain_timeout: String,

    /// How long a newly seen executor is ramped in (0 = at once).
    #[arg(long, env = tuning_env::RAMP_UP, default_value = "30s", value_name = "DURATION")]
    pub ramp_up: String,

    /// Tokio worker threads of the binary.
    #[arg(long, env = tuning_env::WORKER_THREADS, default_value = "2", value_name = "N")]
    pub worker_threads: String,

    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `mulambda_proxy=debug`.
    #[arg(long, env = env::LOG, default_value = "info", value_name = "FILTER")]
    pub log: String,
}

/// A validated configuration. Tests may build one with [`Config::try_parse_from`] and then
/// adjust fields (e.g. [`Config::health`]).
#[derive(Debug, Clone)]
pub struct Config {
    /// Store URL (may hold a password: never log it; use the store's redacted URL).
    pub store_url: String,
    /// Store key prefix.
    pub store_prefix: String,
    /// Deadline of one store call.
    pub store_timeout: Duration,
    /// Application listener.
    pub listen: SocketAddr,
    /// Admin listener.
    pub admin_listen: SocketAddr,
    /// This client's id.
    pub client_id: Id,
    /// Probe address; `None`: derived from the bound admin listener at start.
    pub probe_addr: Option<Endpoint>,
    /// Node.
    pub node: Option<Id>,
    /// Zone.
    pub zone: Option<Id>,
    /// Hard criteria.
    pub hard: ModelTraits,
    /// Soft criteria (defaults of every request).
    pub soft: SoftCriteria,
    /// Snapshot refresher options.
    pub refresh: RefreshConfig,
    /// Lease heartbeat.
    pub heartbeat: Duration,
    /// Forwarding options.
    pub forward: ForwardConfig,
    /// Drain deadline at shutdown.
    pub drain_timeout: Duration,
    /// Health tracking (EWMA, breaker, ramp-in) of the selection.
    pub health: HealthConfig,
    /// Scoring of the selection.
    pub score: ScoreConfig,
    /// Tokio worker threads (the binary's runtime).
    pub worker_threads: usize,
    /// Log filter.
    pub log: String,
}

/// How the snapshot is kept fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshConfig {
    /// Poll interval.
    pub poll_interval: Duration,
    /// A full read at least every this many polls.
    pub full_reload_every: u32,
    /// How long events are collected before one reload.
    pub debounce: Duration,
}

/// How requests are forwarded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForwardConfig {
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Default request timeout.
    pub request_timeout: Duration,
    /// Largest request timeout.
    pub max_timeout: Duration,
    /// Retry buffer size in bytes.
    pub retry_buffer: u64,
    /// Body limit in bytes.
    pub max_body: u64,
    /// Retry budget.
    pub budget: BudgetConfig,
}

/// A retry budget: within `window`, retries ≤ `ratio` × requests + `min_per_sec` × window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetConfig {
    /// Fraction of requests that may be retried.
    pub ratio: f64,
    /// Retries per second allowed regardless of traffic.
    pub min_per_sec: f64,
    /// Sliding window.
    pub window: Duration,
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
        /// The refused value (cut to 64 characters).
        value: String,
        /// Why.
        reason: String,
    },
}

const MAX_WORKER_THREADS: usize = 256;

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
        let soft = soft_criteria(&a)?;
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
        let store_timeout = duration("store-timeout", tuning_env::STORE_TIMEOUT, &a.store_timeout)?;
        let listen = socket_addr("listen", env::LISTEN, &a.listen)?;
        let admin_listen = socket_addr("admin-listen", env::ADMIN_LISTEN, &a.admin_listen)?;

        let pod_name = non_empty(a.pod_name);
        let client_id = match (non_empty(a.client_id), pod_name) {
            (Some(id), _) => {
                Id::parse(&id).map_err(|e| invalid("client-id", env::CLIENT_ID, &id, e))?
            }
            (None, Some(pod)) => {
                Id::parse(&pod).map_err(|e| invalid("pod-name", env::POD_NAME, &pod, e))?
            }
            (None, None) => generated_id(),
        };
        let pod_ip = non_empty(a.pod_ip)
            .map(|ip| {
                ip.parse::<std::net::IpAddr>()
                    .map_err(|_| invalid("pod-ip", env::POD_IP, &ip, "not an IP address"))
            })
            .transpose()?;
        let probe_addr = match (non_empty(a.probe_addr), pod_ip) {
            (Some(p), _) => Some(
                Endpoint::parse(&p).map_err(|e| invalid("probe-addr", env::PROBE_ADDR, &p, e))?,
            ),
            (None, Some(ip)) => Some(Endpoint::from(SocketAddr::new(ip, admin_listen.port()))),
            (None, None) => None,
        };
        let node = optional_id("node", env::NODE, a.node)?;
        let zone = optional_id("zone", env::ZONE, a.zone)?;

        let hard =
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

        let poll_interval = duration("poll-interval", tuning_env::POLL_INTERVAL, &a.poll_interval)?;
        let full_reload_every = a
            .full_reload_every
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                invalid(
                    "full-reload-every",
                    tuning_env::FULL_RELOAD_EVERY,
                    &a.full_reload_every,
                    "must be a whole number ≥ 1",
                )
            })?;
        let heartbeat = duration("heartbeat", tuning_env::HEARTBEAT, &a.heartbeat)?;
        let connect_timeout = duration(
            "connect-timeout",
            tuning_env::CONNECT_TIMEOUT,
            &a.connect_timeout,
        )?;
        let request_timeout = duration(
            "request-timeout",
            tuning_env::REQUEST_TIMEOUT,
            &a.request_timeout,
        )?;
        let max_timeout = duration("max-timeout", tuning_env::MAX_TIMEOUT, &a.max_timeout)?;
        if request_timeout > max_timeout {
            return Err(invalid(
                "request-timeout",
                tuning_env::REQUEST_TIMEOUT,
                &a.request_timeout,
                "must not exceed --max-timeout",
            ));
        }
        let retry_buffer = size("retry-buffer", tuning_env::RETRY_BUFFER, &a.retry_buffer)?;
        let max_body = size("max-body", tuning_env::MAX_BODY, &a.max_body)?;
        if max_body == 0 {
            return Err(invalid(
                "max-body",
                tuning_env::MAX_BODY,
                &a.max_body,
                "must be greater than zero",
            ));
        }
        let ratio = number_in(
            "retry-ratio",
            tuning_env::RETRY_RATIO,
            &a.retry_ratio,
            0.0,
            10.0,
        )?;
        let min_per_sec = number_in(
            "retry-min-per-sec",
            tuning_env::RETRY_MIN_PER_SEC,
            &a.retry_min_per_sec,
            0.0,
            1e6,
        )?;
        let window = duration("retry-window", tuning_env::RETRY_WINDOW, &a.retry_window)?;
        if window > Duration::from_secs(3600) {
            return Err(invalid(
                "retry-window",
                tuning_env::RETRY_WINDOW,
                &a.retry_window,
                "must be at most 1h",
            ));
        }
        let drain_timeout = parse_duration(&a.drain_timeout).map_err(|r| {
            invalid(
                "drain-timeout",
                tuning_env::DRAIN_TIMEOUT,
                &a.drain_timeout,
                r,
            )
        })?;
        let ramp_up = parse_duration(&a.ramp_up)
            .map_err(|r| invalid("ramp-up", tuning_env::RAMP_UP, &a.ramp_up, r))?;
        let worker_threads = a
            .worker_threads
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_WORKER_THREADS).contains(n))
            .ok_or_else(|| {
                invalid(
                    "worker-threads",
                    tuning_env::WORKER_THREADS,
                    &a.worker_threads,
                    format!("must be a whole number in 1..={MAX_WORKER_THREADS}"),
                )
            })?;
        let log = a.log.trim().to_string();
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log) {
            return Err(invalid("log", env::LOG, &log, e));
        }
        let health = HealthConfig {
            ramp_up,
            ..HealthConfig::default()
        };

        Ok(Config {
            store_url: a.store_url.trim().to_string(),
            store_prefix,
            store_timeout,
            listen,
            admin_listen,
            client_id,
            probe_addr,
            node,
            zone,
            hard,
            soft,
            refresh: RefreshConfig {
                poll_interval,
                full_reload_every,
                debounce: Duration::from_millis(5),
            },
            heartbeat,
            forward: ForwardConfig {
                connect_timeout,
                request_timeout,
                max_timeout,
                retry_buffer,
                max_body,
                budget: BudgetConfig {
                    ratio,
                    min_per_sec,
                    window,
                },
            },
            drain_timeout,
            health,
            score: ScoreConfig::default(),
            worker_threads,
            log,
        })
    }

    /// The store configuration.
    pub fn store_config(&self) -> mulambda_catalog::StoreConfig {
        let mut c = mulambda_catalog::StoreConfig::new(self.store_url.clone())
            .with_prefix(self.store_prefix.clone());
        c.call_timeout = self.store_timeout;
        c
    }

    /// The default probe address for a bound admin listener: its address, with 127.0.0.1 (or
    /// ::1) standing in for an unspecified IP.
    pub fn probe_addr_for(&self, admin: SocketAddr) -> Endpoint {
        if let Some(p) = &self.probe_addr {
            return p.clone();
        }
        let ip = match admin.ip() {
            std::net::IpAddr::V4(v4) if v4.is_unspecified() => {
                std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
            }
            std::net::IpAddr::V6(v6) if v6.is_unspecified() => {
                std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
            }
            ip => ip,
        };
        Endpoint::from(SocketAddr::new(ip, admin.port()))
    }
}

fn soft_criteria(a: &Args) -> Result<SoftCriteria, ConfigError> {
    let num = |option: &'static str, var: &'static str, text: &str| {
        mulambda_catalog::parse_number(option, text).map_err(|e| invalid(option, var, text, e))
    };
    let soft = SoftCriteria {
        latency_weight: num("latency-weight", env::LATENCY_WEIGHT, &a.latency_weight)?,
        accuracy_weight: num("accuracy-weight", env::ACCURACY_WEIGHT, &a.accuracy_weight)?,
        max_latency_ms: non_empty(a.max_latency_ms.clone())
            .map(|t| num("max-latency-ms", env::MAX_LATENCY_MS, &t))
            .transpose()?,
        min_accuracy: non_empty(a.min_accuracy.clone())
            .map(|t| num("min-accuracy", env::MIN_ACCURACY, &t))
            .transpose()?,
    };
    soft.validate().map_err(|e| {
        let mulambda_catalog::Error::Invalid {
            field,
            value,
            reason,
        } = e;
        let (option, var) = match field {
            "latency_weight" => ("latency-weight", env::LATENCY_WEIGHT),
            "accuracy_weight" => ("accuracy-weight", env::ACCURACY_WEIGHT),
            "max_latency_ms" => ("max-latency-ms", env::MAX_LATENCY_MS),
            _ => ("min-accuracy", env::MIN_ACCURACY),
        };
        invalid(option, var, &value, reason)
    })?;
    Ok(soft)
}

fn generated_id() -> Id {
    let n: u64 = rand::random();
    // A fixed-shape lowercase id always parses.
    Id::parse(&format!("proxy-{:012x}", n & 0xffff_ffff_ffff)).unwrap_or_else(|_| {
        Id::parse("proxy").unwrap_or_else(|_| unreachable!("a constant id is valid"))
    })
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

fn socket_addr(
    option: &'static str,
    var: &'static str,
    text: &str,
) -> Result<SocketAddr, ConfigError> {
    text.trim()
        .parse::<SocketAddr>()
        .map_err(|_| invalid(option, var, text, "expected ip:port"))
}

fn number_in(
    option: &'static str,
    var: &'static str,
    text: &str,
    lo: f64,
    hi: f64,
) -> Result<f64, ConfigError> {
    let v =
        mulambda_catalog::parse_number(option, text).map_err(|e| invalid(option, var, text, e))?;
    if !(lo..=hi).contains(&v) {
        return Err(invalid(
            option,
            var,
            text,
            format!("must be in [{lo}, {hi}]"),
        ));
    }
    Ok(v)
}

fn duration(option: &'static str, var: &'static str, text: &str) -> Result<Duration, ConfigError> {
    match parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(invalid(option, var, text, "must be greater than zero")),
        Err(reason) => Err(invalid(option, var, text, reason)),
    }
}

fn size(option: &'static str, var: &'static str, text: &str) -> Result<u64, ConfigError> {
    parse_size(text).map_err(|r| invalid(option, var, text, r))
}

/// Parses a size: bytes, or a number with `KiB`, `MiB`, `GiB`, `kB`, `MB`, `GB`. At most 4 GiB.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let units: [(&str, f64); 7] = [
        ("KiB", 1024.0),
        ("MiB", 1024.0 * 1024.0),
        ("GiB", 1024.0 * 1024.0 * 1024.0),
        ("kB", 1e3),
        ("MB", 1e6),
        ("GB", 1e9),
        ("B", 1.0),
    ];
    let (number, scale) = units
        .iter()
        .find_map(|(u, s)| t.strip_suffix(u).map(|n| (n, *s)))
        .unwrap_or((t, 1.0));
    let v: f64 = number
        .trim()
        .parse()
        .map_err(|_| "expected a size such as 65536, 64KiB or 16MiB".to_string())?;
    let bytes = v * scale;
    if !(0.0..=4.0 * 1024.0 * 1024.0 * 1024.0).contains(&bytes) {
        return Err("must be between 0 and 4GiB".into());
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mulambda_catalog::names::ports;

    fn base() -> Vec<&'static str> {
        vec![
            "mulambda-proxy",
            "--store-url",
            "redis://127.0.0.1:1",
            "--model-type",
            "classification",
            "--input-format",
            "image",
            "--output-format",
            "label",
        ]
    }

    fn parse_with(extra: &[&'static str]) -> Result<Config, ConfigError> {
        let mut args = base();
        args.extend_from_slice(extra);
        Config::try_parse_from(args)
    }

    #[test]
    fn defaults_are_sane() {
        let c = parse_with(&["--client-id", "app-1"]).unwrap();
        assert_eq!(c.listen.port(), ports::PROXY_APP);
        assert_eq!(c.admin_listen.port(), ports::PROXY_ADMIN);
        assert_eq!(c.client_id.as_str(), "app-1");
        assert_eq!(c.forward.retry_buffer, 64 * 1024);
        assert_eq!(c.refresh.poll_interval, Duration::from_secs(1));
        assert_eq!(c.soft, SoftCriteria::default());
        assert!(c.probe_addr.is_none());
        assert_eq!(
            c.probe_addr_for("0.0.0.0:9901".parse().unwrap())
                .to_string(),
            "127.0.0.1:9901"
        );
    }

    #[test]
    fn ids_and_probe_address_follow_the_pod() {
        let c = parse_with(&["--pod-name", "web-1", "--pod-ip", "10.1.2.3"]).unwrap();
        assert_eq!(c.client_id.as_str(), "web-1");
        assert_eq!(c.probe_addr.unwrap().to_string(), "10.1.2.3:9901");
        let c = parse_with(&[]).unwrap();
        assert!(c.client_id.as_str().starts_with("proxy-"));
    }

    #[test]
    fn errors_name_the_option_and_value() {
        let cases: [(&[&'static str], &str); 8] = [
            (&["--latency-weight=-1"], "latency-weight"),
            (
                &["--latency-weight", "0", "--accuracy-weight", "0"],
                "accuracy-weight",
            ),
            (&["--min-accuracy", "2"], "min-accuracy"),
            (&["--poll-interval", "1"], "poll-interval"),
            (&["--listen", "localhost"], "listen"),
            (&["--max-body", "lots"], "max-body"),
            (&["--request-timeout", "10m"], "request-timeout"),
            (&["--client-id", "Bad Id!"], "client-id"),
        ];
        for (extra, option) in cases {
            let e = parse_with(extra).unwrap_err().to_string();
            assert!(e.contains(option), "{e}");
        }
        let e = Config::try_parse_from([
            "mulambda-proxy",
            "--store-url",
            "redis://x:1",
            "--model-type",
            "Not A Trait",
            "--input-format",
            "image",
            "--output-format",
            "label",
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("model-type") && e.contains("Not A Trait"), "{e}");
    }

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("-1s").is_err());
        assert_eq!(parse_size("16MiB").unwrap(), 16 << 20);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(parse_size("1kB").unwrap(), 1000);
        assert!(parse_size("5GiB").is_err());
    }
}
