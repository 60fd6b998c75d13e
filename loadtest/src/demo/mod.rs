//! `demo`: the whole data plane on one machine, showing selection at work.
//!
//! It starts a real redis-server on a free loopback port, three simulated TF Serving executors
//! with companions (small/fast/less accurate → large/slow/more accurate), and two proxies with
//! opposite preferences. It drives load through both proxies, then slows the fast executor down
//! and kills the accurate one half-way, and shows both proxies moving. Everything it starts is
//! stopped at the end, on error and on Ctrl-C (tasks and the store process are owned by values
//! whose drop stops them).

mod analysis;
mod plot;
mod stack;

pub use analysis::{ProxyOutcome, analyse, dominant};

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::run::{LoadConfig, LoadReport, run_load_cancellable};
use crate::sim::{Fault, ServiceTime};

/// Settings of the demo.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Time before the event (measured), and again after it.
    pub phase: Duration,
    /// Warm-up before measuring.
    pub warmup: Duration,
    /// Requests per second through each proxy.
    pub rate: f64,
    /// Where the report goes.
    pub out_dir: PathBuf,
    /// Width of the timeline buckets.
    pub interval: Duration,
}

impl Default for DemoConfig {
    fn default() -> DemoConfig {
        DemoConfig {
            phase: Duration::from_secs(8),
            warmup: Duration::from_secs(3),
            rate: 100.0,
            out_dir: PathBuf::from("demo-out"),
            interval: Duration::from_millis(500),
        }
    }
}

/// The demo's data, as written to `demo-report.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoReport {
    /// The executors: name, model, accuracy, base service time.
    pub executors: Vec<stack::ExecutorSpec>,
    /// What happened at the event.
    pub event: String,
    /// Length of the warm-up, seconds (timelines start with it).
    pub warmup_s: f64,
    /// Seconds after the start of the run (warm-up included) at which the event happened.
    pub event_s: f64,
    /// End of the measured part, seconds.
    pub end_s: f64,
    /// Per proxy: what it chose and when it switched.
    pub outcomes: Vec<ProxyOutcome>,
    /// Per proxy: its `/explain` answer just before the event.
    pub explain_before: Vec<serde_json::Value>,
    /// Per proxy: its `/explain` answer at the end.
    pub explain_after: Vec<serde_json::Value>,
    /// Per proxy: the full load report.
    pub loads: Vec<LoadReport>,
}

/// Runs the demo until done or `cancel` fires; writes the report files into `out_dir`.
pub async fn run(config: DemoConfig, cancel: CancellationToken) -> anyhow::Result<DemoReport> {
    std::fs::create_dir_all(&config.out_dir)
        .with_context(|| format!("creating {}", config.out_dir.display()))?;
    let mut stack = stack::Stack::start().await?;
    println!("store: {} (redis-server on loopback)", stack.store_url());
    for e in stack.executors() {
        println!(
            "executor {:<6} model {:<10} accuracy {:.2}  service time {:>4.1} ms  at {}",
            e.spec.name, e.spec.model, e.spec.accuracy, e.spec.base_ms, e.url
        );
    }
    for p in stack.proxies() {
        println!(
            "proxy {:<15} {} at {} (admin {})",
            p.name, p.preference, p.url, p.admin_url
        );
    }
    stack.wait_until_routable(Duration::from_secs(20)).await?;

    let total = config.warmup + config.phase * 2;
    let mut runs = Vec::new();
    for p in stack.proxies() {
        let mut c = LoadConfig::new(p.url.clone());
        c.path = "/v1/models/half_plus_two:predict".into();
        c.rate = config.rate;
        c.warmup = config.warmup;
        c.duration = Some(config.phase * 2);
        c.connections = 16;
        c.timeout = Duration::from_secs(5);
        c.timeline_interval = config.interval;
        let cancel = cancel.clone();
        runs.push(tokio::spawn(run_load_cancellable(c, cancel)));
    }
    println!(
        "driving {} req/s through each proxy for {:.0} s (event after {:.0} s) …",
        config.rate,
        total.as_secs_f64(),
        (config.warmup + config.phase).as_secs_f64()
    );

    // The event, half-way through the measured part.
    let event = "fast executor slowed down ×40, accurate executor killed";
    tokio::select! {
        _ = tokio::time::sleep(config.warmup + config.phase) => {}
        _ = cancel.cancelled() => {}
    }
    let explain_before = stack.explain_all().await;
    print_choices("before the event", &explain_before);
    if !cancel.is_cancelled() {
        println!("EVENT: {event}");
        if let Some(fast) = stack.executor("fast")
            && let Some(sim) = &fast.sim
        {
            let mut t: ServiceTime = sim.config().timing.clone();
            t.base_ms = fast.spec.base_ms * 40.0;
            sim.set_timing(t).ok();
            sim.set_fault(Fault::none()).ok();
        }
        stack.kill_executor("accurate").await;
    }
    let mut loads = Vec::new();
    for r in runs {
        loads.push(r.await.context("load task")??);
    }
    let explain_after = stack.explain_all().await;
    print_choices("after the event", &explain_after);

    // Timelines count from the start of the run, warm-up included.
    let warmup_s = config.warmup.as_secs_f64();
    let event_s = (config.warmup + config.phase).as_secs_f64();
    let end_s = (config.warmup + config.phase * 2).as_secs_f64();
    let outcomes: Vec<ProxyOutcome> = stack
        .proxies()
        .iter()
        .zip(&loads)
        .map(|(p, l)| analyse(&p.name, &p.preference, l, warmup_s, event_s, end_s))
        .collect();
    let report = DemoReport {
        executors: stack.executors().iter().map(|e| e.spec.clone()).collect(),
        event: event.into(),
        warmup_s,
        event_s,
        end_s,
        outcomes,
        explain_before,
        explain_after,
        loads,
    };
    write_report(&config, &report)?;
    stack.shutdown().await;
    Ok(report)
}

fn print_choices(when: &str, explains: &[serde_json::Value]) {
    for e in explains {
        let chosen = e
            .pointer("/chosen/id")
            .and_then(|c| c.as_str())
            .unwrap_or("nothing");
        let why = e
            .get("reason_header")
            .and_then(|c| c.as_str())
            .unwrap_or("");
        println!(
            "  {when}: {:<15} would choose {chosen:<9} {why}",
            e["_proxy"].as_str().unwrap_or("?")
        );
    }
}

fn write_report(config: &DemoConfig, report: &DemoReport) -> anyhow::Result<()> {
    let dir = &config.out_dir;
    std::fs::write(
        dir.join("demo-report.json"),
        serde_json::to_string_pretty(report)?,
    )?;
    let names: Vec<String> = report.executors.iter().map(|e| e.name.clone()).collect();
    let panels: Vec<(String, &LoadReport)> = report
        .outcomes
        .iter()
        .zip(&report.loads)
        .map(|(o, l)| (format!("proxy {} ({})", o.proxy, o.preference), l))
        .collect();
    plot::draw(
        &dir.join("demo-latency.svg"),
        &panels,
        &names,
        report.warmup_s,
        report.event_s,
        &report.event,
    )?;
    let mut md = String::from("# mulambda demo report\n\n");
    md.push_str("| executor | model | accuracy | service time |\n|---|---|---|---|\n");
    for e in &report.executors {
        md.push_str(&format!(
            "| {} | {} | {:.2} | {:.1} ms |\n",
            e.name, e.model, e.accuracy, e.base_ms
        ));
    }
    md.push_str(&format!(
        "\nEvent at {:.1} s after the start (the first {:.0} s are warm-up): {}.\n\n| proxy | preference | before (share) | after (share) | switched within | failed requests |\n|---|---|---|---|---|---|\n",
        report.event_s, report.warmup_s, report.event
    ));
    for o in &report.outcomes {
        md.push_str(&format!(
            "| {} | {} | {} ({:.0} %) | {} ({:.0} %) | {} | {} of {} |\n",
            o.proxy,
            o.preference,
            o.before.as_deref().unwrap_or("—"),
            o.before_share * 100.0,
            o.after.as_deref().unwrap_or("—"),
            o.after_share * 100.0,
            o.switched_after_s
                .map_or("—".into(), |s| format!("{s:.1} s")),
            o.errors,
            o.requests,
        ));
    }
    md.push_str("\n![median latency per executor over time](demo-latency.svg)\n");
    md.push_str("\n## Why: the proxies' `/explain` tables\n");
    for (when, explains) in [
        ("just before the event", &report.explain_before),
        ("at the end", &report.explain_after),
    ] {
        for e in explains {
            md.push_str(&explain_table(when, e));
        }
    }
    md.push_str("\nThe full `/explain` answers are in `demo-report.json`.\n");
    std::fs::write(dir.join("demo-report.md"), md)?;
    println!("\n{}", summary_table(report));
    println!(
        "report: {}/demo-report.md (plot demo-latency.svg, data demo-report.json)",
        dir.display()
    );
    Ok(())
}

/// One proxy's `/explain` as a markdown table: rank, expected latency, accuracy, score.
fn explain_table(when: &str, e: &serde_json::Value) -> String {
    let proxy = e["_proxy"].as_str().unwrap_or("?");
    let mut s = format!(
        "\n**{proxy}**, {when}: `x-mulambda-reason: {}`\n\n| executor | rank | expected latency ms | accuracy | latency term | accuracy term | score | removed by |\n|---|---|---|---|---|---|---|---|\n",
        e["reason_header"].as_str().unwrap_or("")
    );
    let num = |v: &serde_json::Value| v.as_f64().map_or("—".to_string(), |x| format!("{x:.3}"));
    for x in e["executors"].as_array().into_iter().flatten() {
        let chosen = if x["chosen"].as_bool() == Some(true) {
            " **(chosen)**"
        } else {
            ""
        };
        s.push_str(&format!(
            "| {}{chosen} | {} | {} | {} | {} | {} | {} | {} |\n",
            x["id"].as_str().unwrap_or("?"),
            x["rank"].as_u64().map_or("—".into(), |r| r.to_string()),
            num(&x["latency"]["expected_latency_ms"]),
            num(&x["accuracy"]),
            num(&x["score"]["latency_term"]),
            num(&x["score"]["accuracy_term"]),
            num(&x["score"]["score"]),
            x["removed_by"].as_array().map_or(String::new(), |r| r
                .iter()
                .filter_map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(", ")),
        ));
    }
    s
}

fn summary_table(report: &DemoReport) -> String {
    let mut s = String::from(
        "proxy            before            after             switched within  failed\n",
    );
    for o in &report.outcomes {
        s.push_str(&format!(
            "{:<16} {:<17} {:<17} {:<16} {}/{}\n",
            o.proxy,
            format!(
                "{} {:.0}%",
                o.before.as_deref().unwrap_or("-"),
                o.before_share * 100.0
            ),
            format!(
                "{} {:.0}%",
                o.after.as_deref().unwrap_or("-"),
                o.after_share * 100.0
            ),
            o.switched_after_s
                .map_or("-".into(), |x| format!("{x:.1} s")),
            o.errors,
            o.requests
        ));
    }
    s
}
