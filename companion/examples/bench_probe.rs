//! Benchmark: one probe round over many registered clients.
//!
//! ```text
//! cargo run --release -p mulambda-companion --example bench_probe -- --clients 1000
//! ```
//!
//! Starts a real `redis-server` (mulambda-testkit), a `/probe` server in a *child process* (so
//! its CPU time is not counted), registers `--clients` clients pointing at it (spread over
//! `--ports` listening ports: 1 = every client shares one host, N = one connection per client as
//! in a real cluster), then runs `--rounds` real probe rounds (read clients, filter, probe with
//! warm-up + samples, smooth, publish in one write) and prints each round's wall time and this
//! process's CPU time (user + system, from `/proc/self/stat`).
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use mulambda_catalog::{
    Client, Criteria, Endpoint, Id, ModelTraits, SoftCriteria, Store, StoreConfig,
};
use mulambda_companion::probe::{Prober, Smoother};
use mulambda_companion::publish::Publisher;
use mulambda_companion::round::ProbeLoop;
use mulambda_companion::{Metrics, ProbeConfig};
use mulambda_runtime::parse::duration as parse_duration;

/// One probe round over many clients: wall and CPU time.
#[derive(Debug, Parser)]
struct Args {
    /// Registered clients.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Listening ports of the probe server (clients are spread over them).
    #[arg(long, default_value_t = 1)]
    ports: usize,
    /// Rounds to run (the first opens the connections).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Window over which a round's probes start (e.g. 0ms, 2500ms).
    #[arg(long, default_value = "0ms")]
    spread: String,
    /// Timed samples per client.
    #[arg(long, default_value_t = 3)]
    samples: u32,
    /// Clients probed at the same time.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Run the prober on tokio's multi-threaded runtime instead of the single-threaded one that
    /// the `mulambda-companion` binary uses.
    #[arg(long)]
    multi_thread: bool,
    /// Internal: serve /probe on this many ports and print them (the child process).
    #[arg(long, hide = true)]
    serve_probe: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = if args.multi_thread || args.serve_probe.is_some() {
        tokio::runtime::Runtime::new()?
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    };
    match args.serve_probe {
        Some(n) => rt.block_on(serve_probe(n)),
        None => rt.block_on(bench(args)),
    }
}

/// Child: serve `/probe` on `n` loopback ports until stdin closes.
async fn serve_probe(n: usize) -> anyhow::Result<()> {
    use http_body_util::Full;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    let mut ports = Vec::with_capacity(n);
    for _ in 0..n {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        ports.push(listener.local_addr()?.port().to_string());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let service = service_fn(|_req| async {
                        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                            bytes::Bytes::from_static(b"ok"),
                        )))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    }
    println!("{}", ports.join(" "));
    std::io::stdout().flush()?;
    // Parent closes our stdin when done.
    tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        let _ = std::io::stdin().read_line(&mut sink);
    })
    .await?;
    Ok(())
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("--serve-probe")
        .arg(args.ports.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line)?;
    let ports: Vec<u16> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    anyhow::ensure!(!ports.is_empty(), "probe server printed no ports");

    let redis = mulambda_testkit::RedisServer::start();
    let mut store_config = StoreConfig::new(redis.url()).with_prefix("bench");
    store_config.call_timeout = Duration::from_secs(10);
    let store = Store::new(store_config)?;
    let traits = ModelTraits::parse("classification", "image", "label")?;
    let setup = Instant::now();
    let mut registrations = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let client = Client {
            id: Id::parse(&format!("bench-client-{i}"))?,
            probe_addr: Endpoint::from(SocketAddr::from(([127, 0, 0, 1], ports[i % ports.len()]))),
            criteria: Criteria {
                hard: traits.clone(),
                soft: SoftCriteria::default(),
            },
            node: None,
            zone: None,
        };
        let store = store.clone();
        registrations.push(async move {
            store
                .register_client(&client, Duration::from_secs(600), false)
                .await
        });
    }
    for r in futures_util::future::join_all(registrations).await {
        r?;
    }
    println!(
        "registered {} clients on {} probe port(s) in {:?}",
        args.clients,
        ports.len(),
        setup.elapsed()
    );

    let probe = ProbeConfig {
        interval: Duration::from_secs(5),
        spread: parse_duration(&args.spread).map_err(anyhow::Error::msg)?,
        samples: args.samples,
        timeout: Duration::from_secs(1),
        concurrency: args.concurrency,
        ewma_alpha: 0.5,
    };
    let executor = Id::parse("bench-executor")?;
    let metrics = Metrics::new();
    let mut probe_loop = ProbeLoop {
        store: store.clone(),
        traits,
        prober: Prober::new(probe, executor.as_str()),
        smoother: Smoother::new(probe.ewma_alpha),
        publisher: Publisher::new(store.clone(), executor.clone(), Duration::from_secs(15)),
        metrics,
    };
    println!(
        "probe: samples={} (+1 warm-up) concurrency={} spread={:?} timeout={:?} runtime={}",
        probe.samples,
        probe.concurrency,
        probe.spread,
        probe.timeout,
        if args.multi_thread {
            "multi-thread"
        } else {
            "current-thread"
        }
    );
    println!("round | clients | unreachable | wall ms | cpu ms (user+sys) | cpu/wall");
    let ticks_per_second = clock_ticks() as f64;
    for round in 1..=args.rounds {
        let cpu0 = cpu_ticks()?;
        let t0 = Instant::now();
        let report = probe_loop.round().await;
        let wall = t0.elapsed();
        let cpu =
            Duration::from_secs_f64(cpu_ticks()?.saturating_sub(cpu0) as f64 / ticks_per_second);
        println!(
            "{round:>5} | {:>7} | {:>11} | {:>7.1} | {:>17.1} | {:.2}",
            report.probed,
            report.unreachable,
            wall.as_secs_f64() * 1e3,
            cpu.as_secs_f64() * 1e3,
            cpu.as_secs_f64() / wall.as_secs_f64()
        );
        anyhow::ensure!(report.store_ok, "publishing failed");
    }
    let row = store.read_poll(&Id::parse("bench-client-0")?).await?;
    println!(
        "bench-client-0's row: {:?}",
        row.latencies.get(&executor).map(|m| m.latency_ms)
    );
    drop(child.stdin.take());
    let _ = child.wait();
    Ok(())
}

/// This process's CPU time (user + system, all threads) in clock ticks, from `/proc/self/stat`.
fn cpu_ticks() -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow::anyhow!("unexpected /proc/self/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Ok(fields[11].parse::<u64>()? + fields[12].parse::<u64>()?)
}

fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}
