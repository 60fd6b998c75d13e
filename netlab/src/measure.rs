//! How accurately the emulator holds a link's delay, measured end to end.
//!
//! A lab with one client, one node per measured delay and one undelayed infra host (the
//! baseline: the same kernel path through veth and bridge, without the emulator). A thread in
//! the client sends UDP packets at a fixed total rate, round-robin to every node and to the
//! baseline, each carrying its `CLOCK_MONOTONIC` send time (the same clock in every namespace);
//! a thread in each receiver takes the receive time when `recv` returns. One-way delay minus
//! the configured delay is the error: it includes the emulator's timer wake-up, both kernel
//! paths and the receiver's scheduling, so it is what an application in the lab sees.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::clock::{mono_ns, ns};
use crate::emulator::EmulatorStats;
use crate::error::Error;
use crate::lab::{Lab, LabOptions};
use crate::topology::{HostSpec, NodeSpec, Span, TopologySpec};

/// UDP port the receivers listen on (inside their namespaces).
const PORT: u16 = 9000;

/// Bytes of the measurement header in each payload: sequence, path, send time.
const HEADER: usize = 24;

/// What to measure.
#[derive(Debug, Clone)]
pub struct MeasureOptions {
    /// One-way delays of the measured links.
    pub delays: Vec<Duration>,
    /// Packets per second through the emulator, spread evenly over the delayed links; the
    /// baseline path gets the same per-path rate on top.
    pub rate: u32,
    /// Measured time.
    pub duration: Duration,
    /// Sent before counting starts.
    pub warmup: Duration,
    /// UDP payload bytes.
    pub size: usize,
    /// Real-time priority for the sender and receiver threads too (`None`: ordinary
    /// threads). With it, the end-to-end error shows the network path; without, it also shows
    /// how late a busy machine wakes an ordinary application.
    pub probe_priority: Option<u8>,
    /// How the lab is built.
    pub lab: LabOptions,
}

/// One path's result.
#[derive(Debug, Clone, Serialize)]
pub struct PathResult {
    /// `10ms link` or `bridge (undelayed)`.
    pub path: String,
    /// Configured one-way delay, µs.
    pub configured_us: f64,
    /// Packets sent after the warm-up.
    pub sent: u64,
    /// Of those, received.
    pub received: u64,
    /// One-way delay percentiles, µs.
    pub one_way_p50_us: f64,
    /// p99.
    pub one_way_p99_us: f64,
    /// Max.
    pub one_way_max_us: f64,
    /// One-way − configured, µs: median.
    pub error_p50_us: f64,
    /// p99.
    pub error_p99_us: f64,
    /// Max.
    pub error_max_us: f64,
    /// Smallest (negative would mean released early).
    pub error_min_us: f64,
    /// Share of received packets within ±1 ms of the configured delay.
    pub within_1ms: f64,
}

/// The measurement's result.
#[derive(Debug, Clone, Serialize)]
pub struct MeasureReport {
    /// Cores and kernel of the machine.
    pub machine: String,
    /// Packets per second through the emulator.
    pub rate: u32,
    /// Measured seconds.
    pub duration_s: f64,
    /// Payload bytes.
    pub size: usize,
    /// One row per path, baseline first.
    pub paths: Vec<PathResult>,
    /// CPU time of the emulator thread over the measured window, as a fraction of one core.
    pub emulator_cpu: f64,
    /// The emulator's counters at the end.
    pub emulator: EmulatorStats,
    /// How late the emulator released packets against their deadlines, µs: median.
    pub release_late_p50_us: f64,
    /// p99.
    pub release_late_p99_us: f64,
    /// p99.9.
    pub release_late_p999_us: f64,
    /// Max.
    pub release_late_max_us: f64,
    /// Whether the emulator thread ran with real-time priority.
    pub emulator_realtime: bool,
    /// Real-time priority of the sender and receivers, if any.
    pub probe_priority: Option<u8>,
}

struct Path {
    name: String,
    host: String,
    configured: Duration,
}

/// Builds the lab, measures, tears the lab down.
pub fn run_measurement(o: &MeasureOptions) -> Result<MeasureReport, Error> {
    if o.delays.is_empty() || o.rate == 0 || o.size < HEADER || o.size > 1400 {
        return Err(Error::io(
            "measure",
            std::io::Error::other(format!(
                "need at least one delay (--delays), a rate above 0 (--rate {}) and a size of {HEADER} to 1400 bytes (--size {})",
                o.rate, o.size
            )),
        ));
    }
    let mut spec = TopologySpec {
        seed: Some(1),
        infra: vec![HostSpec {
            name: "base".into(),
        }],
        clients: vec![HostSpec {
            name: "sender".into(),
        }],
        ..TopologySpec::default()
    };
    let mut paths = vec![Path {
        name: "bridge (undelayed)".into(),
        host: "base".into(),
        configured: Duration::ZERO,
    }];
    for (i, d) in o.delays.iter().enumerate() {
        let host = format!("n{i}");
        spec.nodes.push(NodeSpec {
            name: host.clone(),
            delay: Some(Span(*d)),
            jitter: None,
            steps: Vec::new(),
        });
        paths.push(Path {
            name: format!("{} link", Span(*d)),
            host,
            configured: *d,
        });
    }
    let topology = spec.validate()?;
    let lab = Lab::build(&topology, o.lab.clone())?;
    let result = measure_in(&lab, &paths, o);
    let teardown = lab.teardown();
    let report = result?;
    teardown?;
    Ok(report)
}

fn measure_in(lab: &Lab, paths: &[Path], o: &MeasureOptions) -> Result<MeasureReport, Error> {
    let stop = Arc::new(AtomicBool::new(false));
    let per_path_rate = f64::from(o.rate) / (paths.len() - 1) as f64;
    let total_rate = per_path_rate * paths.len() as f64;
    let start = mono_ns() + ns(Duration::from_millis(200));
    let count_from = start + ns(o.warmup);
    let end = count_from + ns(o.duration);

    // Receivers first, so nothing is sent to a closed port.
    let mut receivers = Vec::new();
    let mut targets = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        let addr = SocketAddr::new(lab.addr(&p.host)?.into(), PORT);
        let socket = lab
            .thread_in(&p.host, move || UdpSocket::bind(addr))?
            .join()
            .map_err(|_| Error::io("bind a receiver", std::io::Error::other("panicked")))?
            .map_err(|e| Error::io(format!("bind {addr}"), e))?;
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| Error::io("receiver timeout", e))?;
        let stop = stop.clone();
        let configured = ns(p.configured);
        let prio = o.probe_priority;
        receivers.push(std::thread::spawn(move || {
            set_own_priority(prio);
            receive(socket, i as u64, configured, count_from, &stop)
        }));
        targets.push(addr);
    }

    let sender_addr = SocketAddr::new(lab.addr("sender")?.into(), 0);
    let size = o.size;
    let prio = o.probe_priority;
    let sender = lab.thread_in("sender", move || {
        set_own_priority(prio);
        send(
            sender_addr,
            &targets,
            total_rate,
            size,
            start,
            count_from,
            end,
        )
    })?;

    // The emulator's CPU time over the measured window.
    let tid = lab.emulator_thread_id();
    sleep_until(count_from);
    let cpu0 = tid.and_then(thread_cpu);
    lab.take_emulator_lateness()?;
    let t0 = Instant::now();
    sleep_until(end);
    let cpu1 = tid.and_then(thread_cpu);
    let wall = t0.elapsed();
    let lateness = lab.take_emulator_lateness()?;

    let sent = sender
        .join()
        .map_err(|_| Error::io("sender", std::io::Error::other("panicked")))?
        .map_err(|e| Error::io("send", e))?;
    // Let the longest delay drain, then stop the receivers.
    let longest = paths.iter().map(|p| p.configured).max().unwrap_or_default();
    std::thread::sleep(longest + Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let mut rows = Vec::new();
    for (i, (r, p)) in receivers.into_iter().zip(paths).enumerate() {
        let (one_way, error, min_error, within, received) = r
            .join()
            .map_err(|_| Error::io("receiver", std::io::Error::other("panicked")))?;
        let us = |v: u64| v as f64 / 1e3;
        rows.push(PathResult {
            path: p.name.clone(),
            configured_us: us(ns(p.configured)),
            sent: sent[i],
            received,
            one_way_p50_us: us(one_way.value_at_quantile(0.5)),
            one_way_p99_us: us(one_way.value_at_quantile(0.99)),
            one_way_max_us: us(one_way.max()),
            error_p50_us: us(error.value_at_quantile(0.5)),
            error_p99_us: us(error.value_at_quantile(0.99)),
            error_max_us: us(error.max()),
            error_min_us: min_error as f64 / 1e3,
            within_1ms: if received == 0 {
                0.0
            } else {
                within as f64 / received as f64
            },
        });
    }
    let emulator_cpu = match (cpu0, cpu1) {
        (Some(a), Some(b)) => (b - a).as_secs_f64() / wall.as_secs_f64(),
        _ => f64::NAN,
    };
    Ok(MeasureReport {
        machine: machine(),
        rate: o.rate,
        duration_s: o.duration.as_secs_f64(),
        size: o.size,
        paths: rows,
        emulator_cpu,
        emulator: lab.stats()?,
        release_late_p50_us: lateness.value_at_quantile(0.5) as f64 / 1e3,
        release_late_p99_us: lateness.value_at_quantile(0.99) as f64 / 1e3,
        release_late_p999_us: lateness.value_at_quantile(0.999) as f64 / 1e3,
        release_late_max_us: lateness.max() as f64 / 1e3,
        emulator_realtime: lab.emulator_is_realtime(),
        probe_priority: o.probe_priority,
    })
}

/// Makes the calling thread `SCHED_FIFO` at `prio` (with `chrt`: the crate forbids unsafe).
fn set_own_priority(prio: Option<u8>) {
    if let Some(p) = prio {
        let tid = nix::unistd::gettid().as_raw().to_string();
        if let Err(e) = crate::cmd::run("chrt", ["--fifo", "--pid", &p.to_string(), &tid]) {
            tracing::warn!(error = %e, "measurement thread stays SCHED_OTHER");
        }
    }
}

fn sleep_until(t: u64) {
    let now = mono_ns();
    if t > now {
        std::thread::sleep(Duration::from_nanos(t - now));
    }
}

/// Sends round-robin to `targets` at `rate` packets/s from `start` to `end`; the per-target
/// counts sent at or after `count_from`.
fn send(
    from: SocketAddr,
    targets: &[SocketAddr],
    rate: f64,
    size: usize,
    start: u64,
    count_from: u64,
    end: u64,
) -> std::io::Result<Vec<u64>> {
    let socket = UdpSocket::bind(from)?;
    let mut sent = vec![0u64; targets.len()];
    let mut buf = vec![0u8; size];
    let period = 1e9 / rate;
    let mut seq: u64 = 0;
    loop {
        let due = start + (seq as f64 * period) as u64;
        if due >= end {
            return Ok(sent);
        }
        sleep_until(due);
        let path = (seq % targets.len() as u64) as usize;
        let now = mono_ns();
        buf[0..8].copy_from_slice(&seq.to_be_bytes());
        buf[8..16].copy_from_slice(&(path as u64).to_be_bytes());
        buf[16..24].copy_from_slice(&now.to_be_bytes());
        // A lost send (e.g. a full socket buffer) shows up as a lost packet.
        if socket.send_to(&buf, targets[path]).is_ok() && now >= count_from {
            sent[path] += 1;
        }
        seq += 1;
    }
}

type Received = (Histogram<u64>, Histogram<u64>, i64, u64, u64);

/// Receives until `stop`: one-way delay and error histograms (ns), smallest signed error,
/// packets within ±1 ms, packets counted.
fn receive(
    socket: UdpSocket,
    path: u64,
    configured: u64,
    count_from: u64,
    stop: &AtomicBool,
) -> Received {
    let mut one_way =
        Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds");
    let mut error = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds");
    let (mut min_error, mut within, mut received) = (i64::MAX, 0u64, 0u64);
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::SeqCst) {
        let Ok((n, _)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let now = mono_ns();
        if n < HEADER {
            continue;
        }
        let p = u64::from_be_bytes(buf[8..16].try_into().expect("8 bytes"));
        let sent_at = u64::from_be_bytes(buf[16..24].try_into().expect("8 bytes"));
        if p != path || sent_at < count_from {
            continue;
        }
        let d = now.saturating_sub(sent_at);
        let e = d as i64 - configured as i64;
        one_way.saturating_record(d.max(1));
        error.saturating_record(e.max(1) as u64);
        min_error = min_error.min(e);
        if e.abs() <= 1_000_000 {
            within += 1;
        }
        received += 1;
    }
    (
        one_way,
        error,
        if received == 0 { 0 } else { min_error },
        within,
        received,
    )
}

/// CPU time (user + system) of one of this process's threads, from `/proc`.
fn thread_cpu(tid: i32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let tck = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()??;
    Some(Duration::from_secs_f64((utime + stime) as f64 / tck as f64))
}

fn machine() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default();
    format!(
        "{cores} cores ({cpu}), Linux {}, load average {} at the start",
        kernel.trim(),
        load.join(" ")
    )
}

// === impl MeasureReport ===

impl MeasureReport {
    /// The report as a Markdown table (for BENCHMARKS.md).
    pub fn to_markdown(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} packets/s through the emulator for {:.0} s, {}-byte UDP payloads; machine: {}.",
            self.rate, self.duration_s, self.size, self.machine
        );
        let probes = match self.probe_priority {
            Some(p) => format!("sender and receivers SCHED_FIFO {p}"),
            None => "sender and receivers ordinary threads".into(),
        };
        let _ = writeln!(
            s,
            "Error = measured one-way delay − configured delay; {probes}.\n"
        );
        let _ = writeln!(
            s,
            "| path | configured ms | received / sent | one-way p50 ms | one-way p99 ms | one-way max ms | error p50 µs | error p99 µs | error max µs | error min µs | within ±1 ms |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|");
        for p in &self.paths {
            let _ = writeln!(
                s,
                "| {} | {:.0} | {} / {} | {:.3} | {:.3} | {:.3} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} % |",
                p.path,
                p.configured_us / 1e3,
                p.received,
                p.sent,
                p.one_way_p50_us / 1e3,
                p.one_way_p99_us / 1e3,
                p.one_way_max_us / 1e3,
                p.error_p50_us,
                p.error_p99_us,
                p.error_max_us,
                p.error_min_us,
                p.within_1ms * 100.0
            );
        }
        let e = &self.emulator;
        let _ = writeln!(
            s,
            "\nEmulator release lateness (release − deadline, inside the emulator): p50 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs, max {:.0} µs; thread {}.",
            self.release_late_p50_us,
            self.release_late_p99_us,
            self.release_late_p999_us,
            self.release_late_max_us,
            if self.emulator_realtime {
                "SCHED_FIFO"
            } else {
                "SCHED_OTHER (no real-time priority)"
            }
        );
        let _ = writeln!(
            s,
            "Emulator thread CPU over the measured window: {:.3} of a core. Forwarded {} packets; dropped: {} unrouted, {} overflow, {} write errors.",
            self.emulator_cpu, e.forwarded, e.unrouted, e.overflow, e.write_errors
        );
        s
    }
}
