//! Command-line interface: one subcommand per tool.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use http::{HeaderName, HeaderValue, Method};
use mulambda_loadtest::run::{self, LoadConfig};
use mulambda_loadtest::sim::{SimConfig, SimFleet};
use mulambda_loadtest::util::parse_duration;
use tokio_util::sync::CancellationToken;

/// mulambda's instrument: a TF Serving REST simulator and an open-loop load generator.
#[derive(Debug, Parser)]
#[command(name = "mulambda-loadtest", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve simulated TF Serving executors (half_plus_two) on loopback ports until Ctrl-C.
    ///
    /// Prints one JSON line per executor on stdout once it listens:
    /// {"event":"listening","name":…,"model":…,"addr":"127.0.0.1:PORT","url":"http://…"}
    /// (plus "grpc_addr" when the executor serves TF Serving's gRPC API).
    Sim(SimArgs),
    /// Drive a load — open loop at a rate (uniform or Poisson arrivals), or closed loop with
    /// --streams — and report latency, errors, executors and the answers' confidence.
    Run(Box<RunArgs>),
    /// The local demo: store, three executors with companions, two proxies with opposite
    /// preferences; load through both; an event half-way; a report with a plot.
    Demo(DemoArgs),
    /// Benchmarks (see docs/loadtest.md).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Measured time before the event, and again after it (e.g. 8s).
    #[arg(long, short = 'd', env = "MULAMBDA_DEMO_DURATION", default_value = "8s", value_parser = parse_duration)]
    duration: Duration,
    /// Warm-up before measuring.
    #[arg(long, env = "MULAMBDA_DEMO_WARMUP", default_value = "3s", value_parser = parse_duration)]
    warmup: Duration,
    /// Requests per second through each proxy.
    #[arg(long, short = 'r', env = "MULAMBDA_DEMO_RATE", default_value_t = 100.0)]
    rate: f64,
    /// Width of the report's timeline buckets.
    #[arg(long, env = "MULAMBDA_DEMO_INTERVAL", default_value = "500ms", value_parser = parse_duration)]
    interval: Duration,
    /// Where the report (markdown, SVG plot, JSON data) goes.
    #[arg(
        long,
        short = 'o',
        env = "MULAMBDA_DEMO_OUT",
        default_value = "demo-out"
    )]
    out_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Latency mulambda-proxy adds over a direct call, side by side with nginx and haproxy.
    ///
    /// Starts a simulator process (zero service time), a redis-server with the simulator
    /// registered, a mulambda-proxy process (found beside this binary or on PATH), nginx and
    /// haproxy (skipped when not installed), drives the same open-loop load through each, and
    /// reports added latency at p50/p99 and the maximum-throughput ratio.
    Overhead(OverheadArgs),
    /// mulambda-proxy's resident memory under connections that send a large request head and
    /// never finish it, on the application port, the admin port and both.
    HeaderFlood(HeaderFloodArgs),
}

#[derive(Debug, Args)]
struct HeaderFloodArgs {
    /// Connections per port.
    #[arg(
        long,
        short = 'c',
        env = "MULAMBDA_BENCH_CONNECTIONS",
        default_value_t = 200
    )]
    connections: usize,
    /// Length of each connection's unfinished header value, bytes.
    #[arg(long, env = "MULAMBDA_BENCH_HEADER_BYTES", default_value_t = 292 * 1024)]
    header_bytes: usize,
    /// How long the connections are held after writing.
    #[arg(long, env = "MULAMBDA_BENCH_HOLD", default_value = "2s", value_parser = parse_duration)]
    hold: Duration,
    /// The mulambda-proxy binary [default: beside this binary, else on PATH].
    #[arg(long, env = "MULAMBDA_BENCH_PROXY_BIN")]
    proxy_bin: Option<PathBuf>,
    /// Directory for logs and the report.
    #[arg(long, env = "MULAMBDA_BENCH_DIR", default_value = "bench-out")]
    out_dir: PathBuf,
}

#[derive(Debug, Args)]
struct OverheadArgs {
    /// Arrival rate of the latency runs, requests per second.
    #[arg(
        long,
        short = 'r',
        env = "MULAMBDA_BENCH_RATE",
        default_value_t = 2000.0
    )]
    rate: f64,
    /// Measured duration of each latency run.
    #[arg(long, short = 'd', env = "MULAMBDA_BENCH_DURATION", default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// Warm-up before each run.
    #[arg(long, env = "MULAMBDA_BENCH_WARMUP", default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Load generator connections.
    #[arg(
        long,
        short = 'c',
        env = "MULAMBDA_BENCH_CONNECTIONS",
        default_value_t = 32
    )]
    connections: usize,
    /// Arrival rate of the maximum-throughput runs (0 skips them).
    #[arg(long, env = "MULAMBDA_BENCH_MAX_RATE", default_value_t = 60000.0)]
    max_rate: f64,
    /// Measured duration of each maximum-throughput run.
    #[arg(long, env = "MULAMBDA_BENCH_MAX_DURATION", default_value = "3s", value_parser = parse_duration)]
    max_duration: Duration,
    /// Rounds; targets are interleaved within each round and each figure is the median.
    #[arg(long, env = "MULAMBDA_BENCH_ROUNDS", default_value_t = 3)]
    rounds: usize,
    /// Only these targets (direct, mulambda, nginx, haproxy; comma-separated).
    #[arg(long, env = "MULAMBDA_BENCH_ONLY", value_delimiter = ',')]
    only: Vec<String>,
    /// Directory for generated configurations, logs and the report.
    #[arg(long, env = "MULAMBDA_BENCH_DIR", default_value = "bench-out")]
    out_dir: PathBuf,
}

#[derive(Debug, Args)]
struct SimArgs {
    /// An executor, as comma-separated key=value pairs (repeat for several). Keys: name, model,
    /// addr (ip:port), port, grpc-addr (ip:port), grpc-port (either turns TF Serving's gRPC API
    /// on), versions (1+2), labels (stable:1+canary:2), available, profile (FastBad … SlowGood,
    /// 0-8, -g0 suffix for γ = 0; other keys refine it), base-ms, per-element-us,
    /// per-inflight-ms, jitter-ms, concurrency-slowdown, confidence (0.9+0.7+0.5),
    /// confidence-gamma, seed, control-socket (a path), error-rate, error-status, stall-rate,
    /// drop-rate, slow-factor, extra-ms. Example:
    /// name=fast,model=half_plus_two,port=0,profile=FastGood,seed=1
    #[arg(
        long = "executor",
        short = 'e',
        env = "MULAMBDA_SIM_EXECUTORS",
        value_delimiter = ';'
    )]
    executors: Vec<String>,
    /// A JSON file: {"executors": [SimConfig, …]} (see docs/simulator.md); combined with
    /// --executor.
    #[arg(long, env = "MULAMBDA_SIM_CONFIG")]
    config: Option<PathBuf>,
    /// Serve TF Serving's gRPC API on this address (ip:port; port 0 picks one) for the single
    /// configured executor. With several executors, give each a grpc-port in its spec.
    #[arg(long, env = "MULAMBDA_SIM_GRPC_LISTEN")]
    grpc_listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Base URL of the target (http only).
    #[arg(
        long,
        short = 't',
        env = "MULAMBDA_LOADTEST_TARGET",
        default_value = "http://127.0.0.1:8501"
    )]
    target: String,
    /// Arrival rate, requests per second (open loop).
    #[arg(
        long,
        short = 'r',
        env = "MULAMBDA_LOADTEST_RATE",
        default_value_t = 100.0
    )]
    rate: f64,
    /// Measured duration after warm-up (e.g. 10s, 500ms, 1m). Default 10s unless --count.
    #[arg(long, short = 'd', env = "MULAMBDA_LOADTEST_DURATION", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Measured request count after warm-up (with --duration, the first bound reached ends the run).
    #[arg(long, short = 'n', env = "MULAMBDA_LOADTEST_COUNT")]
    count: Option<u64>,
    /// Warm-up before measuring (requests sent, not counted).
    #[arg(long, env = "MULAMBDA_LOADTEST_WARMUP", default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// HTTP/1.1 keep-alive connections (one request in flight on each).
    #[arg(
        long,
        short = 'c',
        env = "MULAMBDA_LOADTEST_CONNECTIONS",
        default_value_t = 32
    )]
    connections: usize,
    /// Per-request timeout, counted from the request's scheduled time.
    #[arg(long, env = "MULAMBDA_LOADTEST_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
    /// Request method.
    #[arg(
        long,
        short = 'X',
        env = "MULAMBDA_LOADTEST_METHOD",
        default_value = "POST"
    )]
    method: String,
    /// Request path (and query).
    #[arg(long, short = 'p', env = "MULAMBDA_LOADTEST_PATH", default_value = run::DEFAULT_PATH)]
    path: String,
    /// Request body (JSON text).
    #[arg(long, short = 'b', env = "MULAMBDA_LOADTEST_BODY", default_value = run::DEFAULT_BODY, conflicts_with = "body_file")]
    body: String,
    /// Read the request body from a file instead.
    #[arg(long, env = "MULAMBDA_LOADTEST_BODY_FILE")]
    body_file: Option<PathBuf>,
    /// Extra request header `name: value` (repeatable), e.g. x-mulambda-latency-weight: 2.
    #[arg(
        long = "header",
        short = 'H',
        env = "MULAMBDA_LOADTEST_HEADERS",
        value_delimiter = ';'
    )]
    headers: Vec<String>,
    /// Width of the timeline buckets in the JSON report.
    #[arg(long, env = "MULAMBDA_LOADTEST_TIMELINE_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    timeline_interval: Duration,
    /// Closed loop: this many parallel streams of sequential requests, no think time (--rate,
    /// --duration, --count, --warmup and --connections then do not apply).
    #[arg(long, env = "MULAMBDA_LOADTEST_STREAMS")]
    streams: Option<usize>,
    /// Closed loop: requests per stream.
    #[arg(
        long,
        env = "MULAMBDA_LOADTEST_REQUESTS_PER_STREAM",
        default_value_t = 100,
        requires = "streams"
    )]
    requests_per_stream: u64,
    /// Open loop: when requests are due — evenly spaced (uniform) or a Poisson process of
    /// mean --rate (poisson, seeded by --seed).
    #[arg(long, env = "MULAMBDA_LOADTEST_ARRIVAL", value_enum, default_value_t = ArrivalArg::Uniform)]
    arrival: ArrivalArg,
    /// Seed of Poisson arrivals and of --elements' values.
    #[arg(long, env = "MULAMBDA_LOADTEST_SEED", default_value_t = 1)]
    seed: u64,
    /// Open a new connection for every request (its connect time counts).
    #[arg(long, env = "MULAMBDA_LOADTEST_NEW_CONNECTION")]
    new_connection: bool,
    /// Send a predict body of this many random values ({"instances":[…]}) instead of --body.
    #[arg(long, env = "MULAMBDA_LOADTEST_ELEMENTS", conflicts_with = "body_file")]
    elements: Option<usize>,
    /// A phase's extra headers, `name: value` pairs separated by `;` (repeat for each phase):
    /// the requests are split into equal consecutive phases (per stream in a closed loop).
    #[arg(
        long = "phase",
        env = "MULAMBDA_LOADTEST_PHASES",
        value_delimiter = '|'
    )]
    phases: Vec<String>,
    /// Print the report as JSON on stdout instead of the table.
    #[arg(long, env = "MULAMBDA_LOADTEST_JSON")]
    json: bool,
    /// Also write the JSON report to this file.
    #[arg(long, short = 'o', env = "MULAMBDA_LOADTEST_OUT")]
    out: Option<PathBuf>,
}

/// `--arrival` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ArrivalArg {
    /// Evenly spaced.
    Uniform,
    /// A seeded Poisson process.
    Poisson,
}

// === impl Cli ===

impl Cli {
    /// Runs the chosen subcommand.
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Sim(args) => sim(args).await,
            Command::Run(args) => run_load(*args).await,
            Command::Bench(BenchCommand::Overhead(args)) => bench_overhead(args).await,
            Command::Bench(BenchCommand::HeaderFlood(args)) => bench_header_flood(args).await,
            Command::Demo(args) => demo(args).await,
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SimFile {
    executors: Vec<SimConfig>,
}

async fn sim(args: SimArgs) -> anyhow::Result<()> {
    let mut configs = Vec::new();
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading --config {}", path.display()))?;
        let file: SimFile = serde_json::from_str(&text)
            .with_context(|| format!("parsing --config {}", path.display()))?;
        configs.extend(file.executors);
    }
    for spec in &args.executors {
        configs.push(SimConfig::parse_spec(spec).with_context(|| format!("--executor {spec:?}"))?);
    }
    if configs.is_empty() {
        configs.push(SimConfig::default());
    }
    if let Some(addr) = args.grpc_listen {
        match configs.as_mut_slice() {
            [only] => only.grpc_addr = Some(addr),
            _ => bail!(
                "--grpc-listen (MULAMBDA_SIM_GRPC_LISTEN) = {addr} needs exactly one executor, got {}; \
                 give each executor a grpc-port in its --executor spec instead",
                configs.len()
            ),
        }
    }
    for c in &configs {
        c.validate()
            .with_context(|| format!("executor {:?}", c.name))?;
    }
    let fleet = SimFleet::start(configs).await?;
    {
        let mut stdout = std::io::stdout().lock();
        for line in fleet.listening_lines() {
            writeln!(stdout, "{}", serde_json::to_string(&line)?)?;
        }
        stdout.flush()?;
    }
    shutdown_signal().await;
    fleet.shutdown().await;
    Ok(())
}

async fn run_load(args: RunArgs) -> anyhow::Result<()> {
    let method: Method = args
        .method
        .parse()
        .with_context(|| format!("--method {:?} is not an HTTP method", args.method))?;
    let body = match (&args.body_file, args.elements) {
        (Some(path), _) => Bytes::from(
            std::fs::read(path)
                .with_context(|| format!("reading --body-file {}", path.display()))?,
        ),
        (None, Some(0)) => {
            bail!("--elements (MULAMBDA_LOADTEST_ELEMENTS) = 0 must be ≥ 1")
        }
        (None, Some(n)) => run::instances_body(n, args.seed),
        (None, None) => Bytes::from(args.body.clone()),
    };
    let phases = args
        .phases
        .iter()
        .map(|phase| {
            phase
                .split(';')
                .filter(|h| !h.trim().is_empty())
                .map(parse_header)
                .collect::<anyhow::Result<Vec<_>>>()
                .with_context(|| format!("--phase {phase:?} (MULAMBDA_LOADTEST_PHASES)"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let headers = args
        .headers
        .iter()
        .map(|h| parse_header(h))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let duration = match (args.duration, args.count) {
        (None, None) => Some(Duration::from_secs(10)),
        (d, _) => d,
    };
    let config = LoadConfig {
        target: args.target,
        method,
        path: args.path,
        body,
        headers,
        rate: args.rate,
        duration,
        count: args.count,
        warmup: args.warmup,
        connections: args.connections,
        timeout: args.timeout,
        timeline_interval: args.timeline_interval,
        arrival: match args.arrival {
            ArrivalArg::Uniform => run::Arrival::Uniform,
            ArrivalArg::Poisson => run::Arrival::Poisson { seed: args.seed },
        },
        closed_loop: args.streams.map(|streams| run::ClosedLoop {
            streams,
            requests_per_stream: args.requests_per_stream,
        }),
        new_connection_per_request: args.new_connection,
        phases,
    };
    config.validate()?;
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        on_signal.cancel();
    });
    let report = run::run_load_cancellable(config, cancel).await?;
    if let Some(path) = &args.out {
        std::fs::write(path, report.to_json())
            .with_context(|| format!("writing --out {}", path.display()))?;
    }
    if args.json {
        println!("{}", report.to_json());
    } else {
        println!("{report}");
    }
    Ok(())
}

fn parse_header(h: &str) -> anyhow::Result<(HeaderName, HeaderValue)> {
    let Some((name, value)) = h.split_once(':') else {
        bail!("--header {h:?} is not `name: value`");
    };
    let name: HeaderName = name
        .trim()
        .parse()
        .with_context(|| format!("--header {h:?}: bad name"))?;
    let value: HeaderValue = value
        .trim()
        .parse()
        .with_context(|| format!("--header {h:?}: bad value"))?;
    Ok((name, value))
}

/// Resolves on Ctrl-C or SIGTERM.
async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    if !(args.rate.is_finite() && args.rate > 0.0) {
        bail!("--rate {} must be a positive number", args.rate);
    }
    let config = mulambda_loadtest::demo::DemoConfig {
        phase: args.duration,
        warmup: args.warmup,
        rate: args.rate,
        out_dir: args.out_dir,
        interval: args.interval,
    };
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        eprintln!("interrupted: stopping everything the demo started");
        on_signal.cancel();
    });
    mulambda_loadtest::demo::run(config, cancel).await?;
    Ok(())
}

async fn bench_overhead(args: OverheadArgs) -> anyhow::Result<()> {
    if !(args.rate.is_finite() && args.rate > 0.0) {
        bail!("--rate {} must be a positive number", args.rate);
    }
    let config = mulambda_loadtest::bench::OverheadConfig {
        rate: args.rate,
        duration: args.duration,
        warmup: args.warmup,
        connections: args.connections,
        max_rate: args.max_rate,
        max_duration: args.max_duration,
        work_dir: args.out_dir.clone(),
        only: args.only.clone(),
        rounds: args.rounds,
    };
    let report = tokio::select! {
        r = mulambda_loadtest::bench::overhead(config) => r?,
        _ = shutdown_signal() => bail!("interrupted"),
    };
    let markdown = report.to_markdown();
    println!("{markdown}");
    std::fs::write(
        args.out_dir.join("overhead.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    std::fs::write(args.out_dir.join("overhead.md"), &markdown)?;
    eprintln!("report: {}/overhead.{{md,json}}", args.out_dir.display());
    Ok(())
}

async fn bench_header_flood(args: HeaderFloodArgs) -> anyhow::Result<()> {
    let config = mulambda_loadtest::bench::FloodConfig {
        connections: args.connections,
        header_bytes: args.header_bytes,
        hold: args.hold,
        proxy_bin: args.proxy_bin.clone(),
        work_dir: args.out_dir.clone(),
    };
    let report = tokio::select! {
        r = mulambda_loadtest::bench::header_flood(config) => r?,
        _ = shutdown_signal() => bail!("interrupted"),
    };
    let markdown = report.to_markdown();
    println!("{markdown}");
    let out = &args.out_dir;
    std::fs::write(
        out.join("header-flood.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    std::fs::write(out.join("header-flood.md"), &markdown)?;
    eprintln!("report: {}/header-flood.{{md,json}}", out.display());
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn headers_parse() {
        let (n, v) = parse_header("x-mulambda-latency-weight: 2").unwrap();
        assert_eq!(
            (n.as_str(), v.to_str().unwrap()),
            ("x-mulambda-latency-weight", "2")
        );
        assert!(parse_header("nocolon").is_err());
    }

    #[test]
    fn closed_loop_flags_parse() {
        let cli = Cli::try_parse_from([
            "mulambda-loadtest",
            "run",
            "--streams",
            "5",
            "--requests-per-stream",
            "100",
            "--elements",
            "10",
            "--new-connection",
            "--phase",
            "x-mulambda-latency-weight: 1; x-mulambda-accuracy-weight: 0",
            "--phase",
            "x-mulambda-latency-weight: 0",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert_eq!((args.streams, args.requests_per_stream), (Some(5), 100));
        assert_eq!(args.elements, Some(10));
        assert!(args.new_connection);
        assert_eq!(args.phases.len(), 2);
        assert!(
            Cli::try_parse_from(["mulambda-loadtest", "run", "--requests-per-stream", "3"])
                .is_err(),
            "--requests-per-stream needs --streams"
        );
        let cli =
            Cli::try_parse_from(["mulambda-loadtest", "run", "--arrival", "poisson"]).unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert_eq!(args.arrival, ArrivalArg::Poisson);
    }
}
