//! Configuration: command-line flags and `MULAMBDA_*` environment variables, typed where clap
//! reads them and assembled once at start-up into a [`Config`]. Each module owns its options
//! ([`ForwardConfig`], [`RefreshConfig`]; the store, pod, trait and log options are shared with
//! the other binaries through [`mulambda_runtime`]); this module adds the proxy's own and checks
//! what spans several options. Every error names the flag, its variable and the refused value.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use mulambda_catalog::names::env;
use mulambda_catalog::{Endpoint, Id, ModelTraits, SoftCriteria, StoreConfig};
use mulambda_intercept::Redirects;
use mulambda_runtime::parse::{self, Blankable};
use mulambda_runtime::{LeaseArgs, LogArgs, OptionError, PodArgs, StoreArgs, TraitArgs};

use crate::admin::ExplainAccess;
use crate::forward::ForwardConfig;
use crate::selection::{HealthConfig, ScoreConfig};
use crate::snapshot::RefreshConfig;

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
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    lease: LeaseArgs,

    /// Application listener (TF Serving REST; HTTP/1.1 and HTTP/2 prior knowledge).
    #[arg(long, env = env::LISTEN, default_value = "127.0.0.1:8501", value_name = "ADDR",
          value_parser = parse::socket_addr)]
    listen: SocketAddr,

    /// Intercepted mode: the init step's port mapping, `TF_PORT=PROXY_PORT` items separated by
    /// commas (the same value as `mulambda-intercept --redirect`; same variable). Application
    /// listeners then also listen on the other loopback address, read each connection's original
    /// destination and refuse connections redirected from ports they do not serve. Empty:
    /// localhost mode.
    #[arg(long, env = mulambda_intercept::cli::env::REDIRECT, value_name = "TF_PORT=PROXY_PORT,...",
          default_value = "", hide_default_value = true,
          value_parser = parse::blank_or(Redirects::parse))]
    intercept_redirect: Blankable<Redirects>,

    /// Admin listener (`/metrics`, `/live`, `/ready`, `/probe`; `/explain` see --explain-from).
    #[arg(long, env = env::ADMIN_LISTEN, default_value = "0.0.0.0:9901", value_name = "ADDR",
          value_parser = parse::socket_addr)]
    admin_listen: SocketAddr,

    /// Who may call `/explain` (the whole candidate table) on the admin listener.
    #[arg(
        long,
        env = "MULAMBDA_EXPLAIN_FROM",
        default_value = "loopback",
        value_name = "WHO"
    )]
    explain_from: ExplainAccess,

    /// Client id in the catalog [default: the pod name, else a generated `proxy-…` id].
    #[arg(long, env = env::CLIENT_ID, value_name = "ID", default_value = "",
          hide_default_value = true, value_parser = parse::blank_or(parse::id))]
    client_id: Blankable<Id>,

    #[command(flatten)]
    pod: PodArgs,

    /// Where companions reach this proxy's `/probe` (host:port)
    /// [default: <pod-ip>:<admin port>, else the admin listener's address (127.0.0.1 when it
    /// listens on all addresses)].
    #[arg(long, env = env::PROBE_ADDR, value_name = "HOST:PORT", default_value = "",
          hide_default_value = true, value_parser = parse::blank_or(Endpoint::parse))]
    probe_addr: Blankable<Endpoint>,

    /// Hard criteria.
    #[command(flatten)]
    hard: TraitArgs,

    /// Soft criterion: weight of low latency (≥ 0; not both weights 0).
    #[arg(long, env = env::LATENCY_WEIGHT, default_value = "1", value_name = "X",
          value_parser = parse::weight)]
    latency_weight: f64,

    /// Soft criterion: weight of high accuracy (≥ 0; not both weights 0).
    #[arg(long, env = env::ACCURACY_WEIGHT, default_value = "1", value_name = "X",
          value_parser = parse::weight)]
    accuracy_weight: f64,

    /// Soft criterion: latency ceiling in milliseconds (executors expected slower are skipped).
    #[arg(long, env = env::MAX_LATENCY_MS, value_name = "MS", default_value = "",
          hide_default_value = true, value_parser = parse::blank_or(parse::latency_ceiling_ms))]
    max_latency_ms: Blankable<f64>,

    /// Soft criterion: accuracy floor in [0, 1] (less accurate executors are skipped).
    #[arg(long, env = env::MIN_ACCURACY, value_name = "X", default_value = "",
          hide_default_value = true, value_parser = parse::blank_or(parse::accuracy_floor))]
    min_accuracy: Blankable<f64>,

    #[command(flatten)]
    refresh: RefreshConfig,
    #[command(flatten)]
    forward: ForwardConfig,

    /// After SIGTERM/SIGINT, how long in-flight requests may still finish.
    #[arg(long, env = "MULAMBDA_DRAIN_TIMEOUT", default_value = "10s", value_name = "DURATION",
          value_parser = parse::duration)]
    drain_timeout: Duration,

    /// How long a newly seen executor is ramped in (0 = at once).
    #[arg(long, env = "MULAMBDA_RAMP_UP", default_value = "30s", value_name = "DURATION",
          value_parser = parse::duration)]
    ramp_up: Duration,

    /// Tokio worker threads of the binary.
    #[arg(long, env = "MULAMBDA_WORKER_THREADS", default_value = "2", value_name = "N",
          value_parser = parse::whole_in(1usize..=256))]
    worker_threads: usize,

    #[command(flatten)]
    log: LogArgs,
}

/// A validated configuration. Tests may build one with [`Config::try_parse_from`] and then
/// adjust fields (e.g. [`Config::health`]).
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the store is (its URL may hold a password: never log it; use the store's
    /// redacted URL).
    pub store: StoreConfig,
    /// Lease heartbeat.
    pub heartbeat: Duration,
    /// Application listener.
    pub listen: SocketAddr,
    /// Intercepted mode's port mapping; `None`: localhost mode.
    pub intercept: Option<Redirects>,
    /// Admin listener.
    pub admin_listen: SocketAddr,
    /// Who may call `/explain`.
    pub explain: ExplainAccess,
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
        if a.latency_weight == 0.0 && a.accuracy_weight == 0.0 {
            return Err(OptionError::of::<Args>(
                "accuracy-weight",
                "0",
                "--latency-weight and --accuracy-weight must not both be 0",
            ));
        }
        if a.forward.request_timeout > a.forward.max_timeout {
            return Err(OptionError::of::<Args>(
                "request-timeout",
                format!("{:?}", a.forward.request_timeout),
                "must not exceed --max-timeout",
            ));
        }
        let url = a.store.required_url()?;
        let probe_addr = a.probe_addr.or_else(|| {
            let ip = a.pod.pod_ip?;
            Some(Endpoint::from(SocketAddr::new(ip, a.admin_listen.port())))
        });
        Ok(Config {
            store: a.store.config(url, &a.lease),
            heartbeat: a.lease.heartbeat,
            listen: a.listen,
            intercept: a.intercept_redirect,
            admin_listen: a.admin_listen,
            explain: a.explain_from,
            client_id: a.client_id.or(a.pod.pod_name).unwrap_or_else(generated_id),
            probe_addr,
            node: a.pod.node,
            zone: a.pod.zone,
            hard: a.hard.traits(),
            soft: SoftCriteria {
                latency_weight: a.latency_weight,
                accuracy_weight: a.accuracy_weight,
                max_latency_ms: a.max_latency_ms,
                min_accuracy: a.min_accuracy,
            },
            refresh: a.refresh,
            forward: a.forward,
            drain_timeout: a.drain_timeout,
            health: HealthConfig {
                ramp_up: a.ramp_up,
                ..HealthConfig::default()
            },
            score: ScoreConfig::default(),
            worker_threads: a.worker_threads,
            log: a.log.log,
        })
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

fn generated_id() -> Id {
    let n: u64 = rand::random();
    // A fixed-shape lowercase id always parses.
    Id::parse(&format!("proxy-{:012x}", n & 0xffff_ffff_ffff)).unwrap_or_else(|_| {
        Id::parse("proxy").unwrap_or_else(|_| unreachable!("a constant id is valid"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mulambda_catalog::names::ports;
    use mulambda_runtime::parse::{duration as parse_duration, size as parse_size};

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

    fn parse_with(extra: &[&'static str]) -> Result<Config, OptionError> {
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
    fn intercepted_mode_takes_the_init_steps_mapping() {
        assert_eq!(parse_with(&[]).unwrap().intercept, None);
        let c = parse_with(&["--intercept-redirect", "8501=18501,8500=18500"]).unwrap();
        assert_eq!(c.intercept, Some(Redirects::default()));
        let e = parse_with(&["--intercept-redirect", "8501"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--intercept-redirect (MULAMBDA_INTERCEPT_REDIRECT)") && e.contains("8501"),
            "{e}"
        );
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
