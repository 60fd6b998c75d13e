//! `bench header-flood`: the proxy's resident memory under connections that send a large
//! request head and never finish it (a slowloris with big headers).
//!
//! A `mulambda-proxy` process (with a store and one simulated executor, as in `bench overhead`)
//! gets, in turn, `connections` connections on its application port, the same on its admin port,
//! and both at once. Each connection writes `POST … HTTP/1.1`, a `Host` and one header whose
//! value is `header_bytes` long, in 4 KiB writes, without the blank line that would end the head,
//! then holds the connection for `hold`. The proxy's `VmRSS` is sampled every 20 ms; the report
//! gives it before, at its peak during, and after each phase, and how the proxy answered (a 431
//! with a JSON body is the bounded answer; "held" means the proxy kept reading and buffering).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::{proc_status_kib, stack};

/// Settings of a header-flood benchmark.
#[derive(Debug, Clone)]
pub struct FloodConfig {
    /// Connections per port.
    pub connections: usize,
    /// Length of the unfinished header's value, bytes.
    pub header_bytes: usize,
    /// How long the connections are held after writing.
    pub hold: Duration,
    /// The proxy binary (default: beside this binary or on PATH).
    pub proxy_bin: Option<PathBuf>,
    /// Directory for logs and the report.
    pub work_dir: PathBuf,
}

/// One phase's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FloodPhase {
    /// `app`, `admin` or `app+admin`.
    pub ports: String,
    /// Connections opened.
    pub connections: usize,
    /// Resident memory before the phase, KiB.
    pub rss_before_kib: u64,
    /// Highest resident memory sampled during the phase, KiB.
    pub rss_peak_kib: u64,
    /// Resident memory 1 s after the connections closed, KiB.
    pub rss_after_kib: u64,
    /// Connections the proxy answered with 431 and a JSON `{"error": …}` body.
    pub answered_431_json: usize,
    /// Connections the proxy closed otherwise (or answered with something else).
    pub closed_otherwise: usize,
    /// Connections still open, with every byte written, when the hold ended.
    pub held: usize,
    /// Whether the admin listener answered `/ready` 200 right after the phase.
    pub ready_after: bool,
}

/// The report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FloodReport {
    /// The machine.
    pub machine: String,
    /// Connections per port.
    pub connections: usize,
    /// Unfinished header value length, bytes.
    pub header_bytes: usize,
    /// Resident memory right after start-up (first snapshot loaded), KiB.
    pub rss_idle_kib: u64,
    /// The phases, in order.
    pub phases: Vec<FloodPhase>,
    /// The proxy's `VmHWM` (peak resident memory over its life) at the end, KiB.
    pub vm_hwm_kib: u64,
}

// === impl FloodReport ===

impl FloodReport {
    /// The report as a Markdown table.
    pub fn to_markdown(&self) -> String {
        let mib = |k: u64| k as f64 / 1024.0;
        let mut s = format!(
            "Header flood: {} connections per port, each writing a {:.0} KiB header value without \
             ending the head; machine: {}.\nmulambda-proxy resident memory idle: {:.1} MiB.\n\n\
             | ports | connections | RSS before MiB | RSS peak MiB | RSS after MiB | 431 + JSON | \
             closed otherwise | held | /ready after |\n|---|---|---|---|---|---|---|---|---|\n",
            self.connections,
            self.header_bytes as f64 / 1024.0,
            self.machine,
            mib(self.rss_idle_kib)
        );
        for p in &self.phases {
            s.push_str(&format!(
                "| {} | {} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {} |\n",
                p.ports,
                p.connections,
                mib(p.rss_before_kib),
                mib(p.rss_peak_kib),
                mib(p.rss_after_kib),
                p.answered_431_json,
                p.closed_otherwise,
                p.held,
                if p.ready_after { "200" } else { "no" },
            ));
        }
        s.push_str(&format!(
            "\nmulambda-proxy peak resident memory over the run (VmHWM): {:.1} MiB.\n",
            mib(self.vm_hwm_kib)
        ));
        s
    }
}

/// How one flood connection ended.
enum Ending {
    Json431,
    Other,
    Held,
}

/// Runs the benchmark.
pub async fn header_flood(config: FloodConfig) -> anyhow::Result<FloodReport> {
    std::fs::create_dir_all(&config.work_dir)?;
    let sim = stack::start_sim_process(&config.work_dir).await?;
    let proxy =
        stack::start_proxy_stack_with(sim.addr, &config.work_dir, config.proxy_bin.as_deref())
            .await?;
    let pid = proxy
        .pid
        .ok_or_else(|| anyhow::anyhow!("mulambda-proxy has no process id"))?;
    let rss = move || proc_status_kib(pid, "VmRSS").unwrap_or(0);
    let rss_idle_kib = rss();
    let mut phases = Vec::new();
    for (name, ports) in [
        ("app", vec![proxy.app]),
        ("admin", vec![proxy.admin]),
        ("app+admin", vec![proxy.app, proxy.admin]),
    ] {
        let rss_before_kib = rss();
        let (release, released) = watch::channel(false);
        let written = Arc::new(AtomicUsize::new(0));
        let total = config.connections * ports.len();
        let mut tasks = tokio::task::JoinSet::new();
        for port in &ports {
            for _ in 0..config.connections {
                let (released, written) = (released.clone(), Arc::clone(&written));
                tasks.spawn(flood_one(*port, config.header_bytes, written, released));
            }
        }
        // Sample while the connections write, then through the hold (bounded: 60 s of writing).
        let mut peak = rss_before_kib;
        let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut writing_done_at = None;
        loop {
            peak = peak.max(rss());
            let now = tokio::time::Instant::now();
            if writing_done_at.is_none() && written.load(Ordering::Relaxed) >= total {
                writing_done_at = Some(now);
            }
            if now >= give_up || writing_done_at.is_some_and(|t| now >= t + config.hold) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = release.send(true);
        let (mut json, mut other, mut held) = (0, 0, 0);
        while let Some(r) = tasks.join_next().await {
            match r {
                Ok(Ending::Json431) => json += 1,
                Ok(Ending::Held) => held += 1,
                _ => other += 1,
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let ready_after = super::procs::wait_http_ok(
            &format!("http://{}/ready", proxy.admin),
            Duration::from_secs(5),
        )
        .await
        .is_ok();
        phases.push(FloodPhase {
            ports: name.to_string(),
            connections: config.connections * ports.len(),
            rss_before_kib,
            rss_peak_kib: peak,
            rss_after_kib: rss(),
            answered_431_json: json,
            closed_otherwise: other,
            held,
            ready_after,
        });
    }
    let vm_hwm_kib = proc_status_kib(pid, "VmHWM").unwrap_or(0);
    drop(proxy);
    drop(sim);
    Ok(FloodReport {
        machine: super::machine_description(),
        connections: config.connections,
        header_bytes: config.header_bytes,
        rss_idle_kib,
        phases,
        vm_hwm_kib,
    })
}

/// One connection: the unfinished head in 4 KiB writes (counted in `written` when done), then
/// hold until released or closed.
async fn flood_one(
    addr: SocketAddr,
    header_bytes: usize,
    written: Arc<AtomicUsize>,
    mut release: watch::Receiver<bool>,
) -> Ending {
    let connected = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr)).await;
    let Ok(Ok(mut s)) = connected else {
        written.fetch_add(1, Ordering::Relaxed);
        return Ending::Other;
    };
    let head = b"POST /v1/models/m:predict HTTP/1.1\r\nHost: flood\r\nx-flood: ";
    let chunk = [b'a'; 4096];
    let mut wrote_all = s.write_all(head).await.is_ok();
    let mut left = header_bytes;
    while wrote_all && left > 0 {
        let n = left.min(chunk.len());
        let write = tokio::time::timeout(Duration::from_secs(10), s.write_all(&chunk[..n]));
        wrote_all = matches!(write.await, Ok(Ok(())));
        left -= n;
    }
    written.fetch_add(1, Ordering::Relaxed);
    // Wait for the proxy's answer (or its close) until released.
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            r = s.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
            _ = release.wait_for(|r| *r) => {
                return if wrote_all && answer.is_empty() { Ending::Held } else { classify(&answer) };
            }
        }
    }
    classify(&answer)
}

fn classify(answer: &[u8]) -> Ending {
    let text = String::from_utf8_lossy(answer);
    let json_body = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str::<serde_json::Value>(b).ok())
        .is_some_and(|v| v.get("error").is_some());
    if text.starts_with("HTTP/1.1 431") && json_body {
        Ending::Json431
    } else {
        Ending::Other
    }
}
