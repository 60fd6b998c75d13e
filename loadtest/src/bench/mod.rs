//! `bench overhead`: what a proxy adds over a direct call, side by side in one run (and
//! `bench header-flood`, the proxy's memory under unfinished request heads: [`header_flood`]).
//!
//! One simulated executor (a separate `mulambda-loadtest sim` process with zero service time)
//! is called at one open-loop rate: directly, through `mulambda-proxy`, through nginx and
//! through haproxy (each skipped with a note when not installed). Every target gets the same
//! warm-up, rate, duration and connection count, one after the other, and then a short run at a
//! rate far above what any of them can serve to find its maximum throughput. The report gives
//! the latency each proxy adds over direct at p50 and p99, and its throughput ratio.

mod flood;
mod procs;
mod reverse_proxies;
mod stack;

pub use flood::{FloodConfig, FloodPhase, FloodReport, header_flood};
pub use procs::{ChildProcess, find_program, free_port, wait_http_ok};
pub use reverse_proxies::{haproxy_config, nginx_config};

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::run::{LoadConfig, LoadReport, Percentiles, run_load};

/// Settings of an overhead benchmark.
#[derive(Debug, Clone)]
pub struct OverheadConfig {
    /// Arrival rate of the latency runs, requests per second.
    pub rate: f64,
    /// Measured duration of each latency run.
    pub duration: Duration,
    /// Warm-up before each run.
    pub warmup: Duration,
    /// Connections of the load generator.
    pub connections: usize,
    /// Arrival rate of the throughput runs (far above capacity); 0 skips them.
    pub max_rate: f64,
    /// Measured duration of each throughput run.
    pub max_duration: Duration,
    /// Where configurations and logs of the started processes go.
    pub work_dir: PathBuf,
    /// Which targets to run (`direct`, `mulambda`, `nginx`, `haproxy`); empty = all.
    pub only: Vec<String>,
    /// Rounds: every target runs once per round, targets interleaved, so drift of a shared
    /// machine hits all of them alike; each figure is the median over the rounds.
    pub rounds: usize,
}

/// One target's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetResult {
    /// `direct`, `mulambda-proxy`, `nginx` or `haproxy`.
    pub target: String,
    /// Latency at the fixed rate, from each request's due time (includes the generator's
    /// timer granularity and any queueing; the open-loop view).
    pub latency: Percentiles,
    /// Latency from the moment each request was written to the moment its response arrived
    /// (what a proxy adds shows here without the generator's timer noise).
    pub service_latency: Percentiles,
    /// Errors at the fixed rate.
    pub errors: u64,
    /// Achieved throughput of the latency run.
    pub throughput_rps: f64,
    /// Added service latency over direct at p50, microseconds (0 for direct); median over rounds.
    pub added_p50_us: f64,
    /// Added service latency over direct at p99, microseconds; median over rounds.
    pub added_p99_us: f64,
    /// Per round: (added p50 µs, added p99 µs), to show the spread.
    pub added_by_round_us: Vec<(f64, f64)>,
    /// Maximum throughput (successful responses per second), when measured.
    pub max_throughput_rps: Option<f64>,
    /// Maximum throughput relative to direct.
    pub max_throughput_ratio: Option<f64>,
}

/// The whole benchmark's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OverheadReport {
    /// Rate of the latency runs.
    pub rate: f64,
    /// Duration of each latency run, seconds.
    pub duration_s: f64,
    /// Connections.
    pub connections: usize,
    /// Rounds.
    pub rounds: usize,
    /// One entry per target that ran.
    pub results: Vec<TargetResult>,
    /// Targets skipped, with the reason.
    pub skipped: Vec<(String, String)>,
    /// The machine: cores and kernel.
    pub machine: String,
    /// mulambda-proxy's resident memory in KiB: idle (after start-up and the first snapshot),
    /// and its peak (VmHWM) after all runs, from /proc.
    pub proxy_memory_kib: Option<(u64, u64)>,
}

// === impl OverheadReport ===

impl OverheadReport {
    /// A markdown table of the results.
    pub fn to_markdown(&self) -> String {
        let mut s = format!(
            "Rate {} req/s, {} s per target and round, {} rounds (targets interleaved), {} connections; machine: {}.\n\
             Service latency = request written → response received; added = target − direct, median over rounds.\n\n\
             | target | service p50 ms | service p99 ms | added p50 µs | added p99 µs | per round (p50/p99 µs) | open-loop p50 / p99 ms | errors | max throughput req/s | ratio to direct |\n\
             |---|---|---|---|---|---|---|---|---|---|\n",
            self.rate, self.duration_s, self.rounds, self.connections, self.machine
        );
        for r in &self.results {
            let rounds: Vec<String> = r
                .added_by_round_us
                .iter()
                .map(|(a, b)| format!("{a:.0}/{b:.0}"))
                .collect();
            s.push_str(&format!(
                "| {} | {:.3} | {:.3} | {:.0} | {:.0} | {} | {:.3} / {:.3} | {} | {} | {} |\n",
                r.target,
                r.service_latency.p50_ms,
                r.service_latency.p99_ms,
                r.added_p50_us,
                r.added_p99_us,
                rounds.join(", "),
                r.latency.p50_ms,
                r.latency.p99_ms,
                r.errors,
                r.max_throughput_rps
                    .map_or("—".into(), |t| format!("{t:.0}")),
                r.max_throughput_ratio
                    .map_or("—".into(), |t| format!("{t:.2}")),
            ));
        }
        if let Some((idle, peak)) = self.proxy_memory_kib {
            s.push_str(&format!(
                "\nmulambda-proxy resident memory: {:.1} MiB idle, {:.1} MiB peak (VmHWM) over all runs.\n",
                idle as f64 / 1024.0,
                peak as f64 / 1024.0
            ));
        }
        for (t, why) in &self.skipped {
            s.push_str(&format!("\n{t}: skipped ({why})"));
        }
        s
    }
}

/// Runs the benchmark.
pub async fn overhead(config: OverheadConfig) -> anyhow::Result<OverheadReport> {
    std::fs::create_dir_all(&config.work_dir)?;
    let wanted = |t: &str| config.only.is_empty() || config.only.iter().any(|o| o == t);
    let sim = stack::start_sim_process(&config.work_dir).await?;
    let mut targets: Vec<(String, String)> = Vec::new();
    let mut skipped = Vec::new();
    let mut keep_alive: Vec<ChildProcess> = Vec::new();
    if wanted("direct") {
        targets.push(("direct".into(), format!("http://{}", sim.addr)));
    }
    let mut _store = None;
    let mut proxy_pid = None;
    let mut idle_kib = None;
    if wanted("mulambda") {
        match stack::start_proxy_stack(sim.addr, &config.work_dir).await {
            Ok(s) => {
                targets.push(("mulambda-proxy".into(), s.url.clone()));
                proxy_pid = s.pid;
                idle_kib = s.pid.and_then(|p| proc_status_kib(p, "VmRSS"));
                _store = Some(s);
            }
            Err(e) => skipped.push(("mulambda-proxy".into(), format!("{e:#}"))),
        }
    }
    for (name, start) in [("nginx", 0u8), ("haproxy", 1u8)] {
        if !wanted(name) {
            continue;
        }
        let dir = config.work_dir.join(name);
        std::fs::create_dir_all(&dir)?;
        let started = if start == 0 {
            reverse_proxies::start_nginx(sim.addr, &dir).await
        } else {
            reverse_proxies::start_haproxy(sim.addr, &dir).await
        };
        match started {
            Ok(Some(b)) => {
                targets.push((name.into(), b.url.clone()));
                keep_alive.push(b.process);
            }
            Ok(None) => skipped.push((name.into(), "not installed".into())),
            Err(e) => skipped.push((name.into(), format!("{e:#}"))),
        }
    }

    // Each round runs every target once, in the same order, so slow drift of a shared machine
    // affects all targets alike; per target, the round figures' median is reported.
    let rounds = config.rounds.max(1);
    let mut by_target: Vec<Vec<LoadReport>> = vec![Vec::new(); targets.len()];
    for round in 0..rounds {
        for (i, (name, url)) in targets.iter().enumerate() {
            tracing::info!(target = %name, round, %url, "latency run");
            by_target[i].push(
                load(
                    url,
                    config.rate,
                    config.duration,
                    config.warmup,
                    config.connections,
                )
                .await?,
            );
        }
    }
    let mut max_by_target = vec![None; targets.len()];
    if config.max_rate > 0.0 {
        for (i, (name, url)) in targets.iter().enumerate() {
            tracing::info!(target = %name, "throughput run");
            let r = capacity(
                url,
                config.max_rate,
                config.max_duration,
                config.connections,
            )
            .await?;
            max_by_target[i] = Some(r.success_rps);
        }
    }
    let direct = targets.iter().position(|(n, _)| n == "direct");
    let mut results: Vec<TargetResult> = Vec::new();
    for (i, (name, _)) in targets.iter().enumerate() {
        let reports = &by_target[i];
        let added_by_round_us: Vec<(f64, f64)> = match direct {
            Some(d) => reports
                .iter()
                .zip(&by_target[d])
                .map(|(r, base)| {
                    (
                        (r.service_latency.p50_ms - base.service_latency.p50_ms) * 1000.0,
                        (r.service_latency.p99_ms - base.service_latency.p99_ms) * 1000.0,
                    )
                })
                .collect(),
            None => Vec::new(),
        };
        let middle = median_index(reports, |r| r.service_latency.p50_ms);
        let chosen = &reports[middle];
        let max = max_by_target[i];
        results.push(TargetResult {
            target: name.clone(),
            latency: chosen.latency.clone(),
            service_latency: chosen.service_latency.clone(),
            errors: reports
                .iter()
                .map(|r| r.sent.saturating_sub(r.succeeded))
                .sum(),
            throughput_rps: chosen.throughput_rps,
            added_p50_us: median(added_by_round_us.iter().map(|a| a.0)),
            added_p99_us: median(added_by_round_us.iter().map(|a| a.1)),
            added_by_round_us,
            max_throughput_rps: max,
            max_throughput_ratio: match (max, direct.and_then(|d| max_by_target[d])) {
                (Some(m), Some(d)) if d > 0.0 => Some(m / d),
                _ => None,
            },
        });
    }
    let proxy_memory_kib = match (
        idle_kib,
        proxy_pid.and_then(|p| proc_status_kib(p, "VmHWM")),
    ) {
        (Some(i), Some(p)) => Some((i, p)),
        _ => None,
    };
    for p in keep_alive {
        p.kill().await;
    }
    sim.process.kill().await;
    Ok(OverheadReport {
        rate: config.rate,
        duration_s: config.duration.as_secs_f64(),
        connections: config.connections,
        rounds,
        results,
        skipped,
        machine: machine_description(),
        proxy_memory_kib,
    })
}

async fn load(
    url: &str,
    rate: f64,
    duration: Duration,
    warmup: Duration,
    connections: usize,
) -> anyhow::Result<LoadReport> {
    let mut c = LoadConfig::new(url);
    c.rate = rate;
    c.duration = Some(duration);
    c.warmup = warmup;
    c.connections = connections;
    c.timeout = Duration::from_secs(5);
    Ok(run_load(c).await?)
}

/// A throughput run: far more requests than the target can serve, no warm-up, and a timeout
/// long enough that queued requests are served rather than timed out, so the successful
/// responses per second over the run's elapsed time measure the target's capacity.
async fn capacity(
    url: &str,
    rate: f64,
    duration: Duration,
    connections: usize,
) -> anyhow::Result<LoadReport> {
    let mut c = LoadConfig::new(url);
    c.rate = rate;
    c.duration = Some(duration);
    c.warmup = Duration::ZERO;
    c.connections = connections;
    c.timeout = Duration::from_secs(120);
    Ok(run_load(c).await?)
}

/// A `kB` field of `/proc/<pid>/status` (VmRSS, VmHWM).
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn median_index(reports: &[LoadReport], key: impl Fn(&LoadReport) -> f64) -> usize {
    let mut idx: Vec<usize> = (0..reports.len()).collect();
    idx.sort_by(|a, b| key(&reports[*a]).total_cmp(&key(&reports[*b])));
    idx[idx.len() / 2]
}

/// Cores and kernel of this machine, for the record.
pub fn machine_description() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cores} cores ({cpu}), Linux {}", kernel.trim())
}
