//! The prober: measures round-trip time from this executor to clients' `/probe` endpoints.
//!
//! For each client, one untimed warm-up request (it opens or revives the kept-alive connection,
//! so connect time never counts), then `samples` timed GETs on that connection; the figure is
//! their median. A client none of whose requests answer within the timeout is unreachable.
//!
//! A round probes all clients at once, not one after another: each client's probe starts at a
//! fixed offset within the spread window (a hash of executor and client id, so the load on a
//! client is regular from round to round and executors do not probe the same client at the same
//! instant), and a semaphore bounds how many clients are probed at the same time. A round's wall
//! time is therefore about `spread + (1 + samples) × RTT`, independent of the number of clients
//! as long as the concurrency bound is not the limit.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use http::Uri;
use mulambda_catalog::{Endpoint, Id};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use mulambda_runtime::OptionError;
use mulambda_runtime::parse::{self, Blankable};

use crate::fetch::{self, HttpClient};

/// Largest `/probe` body read (the proxy answers a few bytes).
const MAX_PROBE_BODY: usize = 4096;

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

/// The probing options on the command line.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct ProbeArgs {
    /// Time between the starts of two probe rounds.
    #[arg(long, env = "MULAMBDA_PROBE_INTERVAL", default_value = "5s", value_name = "DURATION",
          value_parser = parse::positive_duration)]
    probe_interval: Duration,

    /// Window at the start of a round over which client probes are spread
    /// [default: half the probe interval].
    #[arg(long, env = "MULAMBDA_PROBE_SPREAD", value_name = "DURATION", default_value = "",
          hide_default_value = true, value_parser = parse::blank_or(parse::duration))]
    probe_spread: Blankable<Duration>,

    /// Timed samples per client per round (after one untimed warm-up request).
    #[arg(long, env = "MULAMBDA_PROBE_SAMPLES", default_value = "3", value_name = "N",
          value_parser = parse::whole_in(1u32..=100))]
    probe_samples: u32,

    /// Deadline of one probe request; a client none of whose samples answer in time is
    /// published as unreachable.
    #[arg(long, env = "MULAMBDA_PROBE_TIMEOUT", default_value = "1s", value_name = "DURATION",
          value_parser = parse::positive_duration)]
    probe_timeout: Duration,

    /// How many clients are probed at the same time.
    #[arg(long, env = "MULAMBDA_PROBE_CONCURRENCY", default_value = "64", value_name = "N",
          value_parser = parse::whole_in(1usize..=10_000))]
    probe_concurrency: usize,

    /// Weight of the newest round's median in the per-client moving average, in (0, 1];
    /// 1 publishes each round's median as is.
    #[arg(long, env = "MULAMBDA_PROBE_EWMA_ALPHA", default_value = "0.5", value_name = "X",
          value_parser = ewma_alpha)]
    probe_ewma_alpha: f64,

    /// Lifetime of a latency row after its last write [default: three probe intervals].
    #[arg(long, env = "MULAMBDA_ROW_TTL", value_name = "DURATION", default_value = "",
          hide_default_value = true, value_parser = parse::blank_or(parse::positive_duration))]
    row_ttl: Blankable<Duration>,
}

fn ewma_alpha(text: &str) -> Result<f64, String> {
    (text.trim().parse::<f64>().ok())
        .filter(|x| *x > 0.0 && *x <= 1.0)
        .ok_or_else(|| "must be a number in (0, 1]".to_string())
}

// === impl ProbeArgs ===

impl ProbeArgs {
    /// The probing configuration and the latency rows' lifetime, checked against each other.
    pub fn config(self) -> Result<(ProbeConfig, Duration), OptionError> {
        let interval = self.probe_interval;
        let spread = self.probe_spread.unwrap_or(interval / 2);
        if spread >= interval {
            return Err(OptionError::of::<ProbeArgs>(
                "probe-spread",
                format!("{spread:?}"),
                "must be shorter than --probe-interval",
            ));
        }
        let row_ttl = self.row_ttl.unwrap_or(interval * 3);
        if row_ttl <= interval {
            return Err(OptionError::of::<ProbeArgs>(
                "row-ttl",
                format!("{row_ttl:?}"),
                "must be longer than --probe-interval, or rows of live clients expire between rounds",
            ));
        }
        let config = ProbeConfig {
            interval,
            spread,
            samples: self.probe_samples,
            timeout: self.probe_timeout,
            concurrency: self.probe_concurrency,
            ewma_alpha: self.probe_ewma_alpha,
        };
        Ok((config, row_ttl))
    }
}

/// A client to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Client id.
    pub id: Id,
    /// Where its `/probe` is.
    pub addr: Endpoint,
}

/// What probing one client found.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeOutcome {
    /// The median of the timed samples that answered.
    Reachable {
        /// Median round-trip time in milliseconds.
        median_ms: f64,
        /// How many samples answered.
        samples: u32,
    },
    /// No sample answered in time (or the warm-up failed).
    Unreachable {
        /// Why, for logs.
        reason: String,
    },
}

/// One client's result in a round.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    /// Client id.
    pub id: Id,
    /// What was found.
    pub outcome: ProbeOutcome,
    /// When the client's probing finished (for the measurement time).
    pub finished_at: Instant,
}

/// Probes clients over a shared pool of kept-alive connections.
pub struct Prober {
    client: HttpClient,
    config: ProbeConfig,
    salt: u64,
}

// === impl Prober ===

impl Prober {
    /// A prober; `salt` (the executor id) decorrelates start offsets between executors.
    pub fn new(config: ProbeConfig, salt: &str) -> Prober {
        // Idle connections outlive a round so the next round reuses them.
        let idle = config.interval * 3;
        let mut h = DefaultHasher::new();
        salt.hash(&mut h);
        Prober {
            client: fetch::client(config.timeout, idle),
            config,
            salt: h.finish(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ProbeConfig {
        &self.config
    }

    /// Where within the spread window a client's probe starts.
    pub fn start_offset(&self, id: &Id) -> Duration {
        let spread = self.config.spread.as_nanos() as u64;
        if spread == 0 {
            return Duration::ZERO;
        }
        let mut h = DefaultHasher::new();
        self.salt.hash(&mut h);
        id.as_str().hash(&mut h);
        Duration::from_nanos(h.finish() % spread)
    }

    /// Probes every target once (warm-up plus samples), spread over the window and bounded in
    /// concurrency. Results come in completion order.
    pub async fn round(&self, targets: Vec<Target>) -> Vec<ProbeResult> {
        let start = Instant::now();
        let permits = Semaphore::new(self.config.concurrency);
        let permits = &permits;
        let mut running: FuturesUnordered<_> = targets
            .into_iter()
            .map(|t| async move {
                tokio::time::sleep_until(start + self.start_offset(&t.id)).await;
                // The semaphore is never closed; a failed acquire cannot happen.
                let _permit = permits.acquire().await;
                let outcome = self.probe(&t.addr).await;
                ProbeResult {
                    id: t.id,
                    outcome,
                    finished_at: Instant::now(),
                }
            })
            .collect();
        let mut results = Vec::with_capacity(running.len());
        while let Some(r) = running.next().await {
            results.push(r);
        }
        results
    }

    /// Probes one client: a warm-up request, then the timed samples.
    pub async fn probe(&self, addr: &Endpoint) -> ProbeOutcome {
        let uri: Uri = match format!("http://{addr}/probe").parse() {
            Ok(u) => u,
            Err(e) => {
                return ProbeOutcome::Unreachable {
                    reason: format!("bad probe address {addr}: {e}"),
                };
            }
        };
        if let Err(reason) = self.get(&uri).await {
            return ProbeOutcome::Unreachable {
                reason: format!("warm-up: {reason}"),
            };
        }
        let mut samples = Vec::with_capacity(self.config.samples as usize);
        let mut last_error = String::new();
        for _ in 0..self.config.samples {
            let t0 = Instant::now();
            match self.get(&uri).await {
                Ok(()) => samples.push(t0.elapsed().as_secs_f64() * 1000.0),
                Err(e) => last_error = e,
            }
        }
        match median(&mut samples) {
            Some(median_ms) => ProbeOutcome::Reachable {
                median_ms,
                samples: samples.len() as u32,
            },
            None => ProbeOutcome::Unreachable { reason: last_error },
        }
    }

    async fn get(&self, uri: &Uri) -> Result<(), String> {
        match fetch::get(
            &self.client,
            uri.clone(),
            self.config.timeout,
            MAX_PROBE_BODY,
        )
        .await
        {
            Ok((status, _)) if status.is_success() => Ok(()),
            Ok((status, _)) => Err(format!("answered {status}")),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The median (mean of the two middle values for an even count); `None` when empty.
pub fn median(samples: &mut [f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    Some(if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    })
}

/// Per-client exponentially weighted moving average across rounds. An unreachable round resets a
/// client (the next figure starts afresh); clients absent from a round are forgotten.
#[derive(Debug, Default)]
pub struct Smoother {
    alpha: f64,
    state: HashMap<Id, f64>,
}

// === impl Smoother ===

impl Smoother {
    /// A smoother giving the newest round weight `alpha` in (0, 1].
    pub fn new(alpha: f64) -> Smoother {
        Smoother {
            alpha,
            state: HashMap::new(),
        }
    }

    /// Folds a round in and returns the smoothed figure per reachable client (`None` for an
    /// unreachable one), in the order of `results`.
    pub fn apply(&mut self, results: &[ProbeResult]) -> Vec<Option<f64>> {
        let mut next = HashMap::with_capacity(results.len());
        let out = results
            .iter()
            .map(|r| match r.outcome {
                ProbeOutcome::Reachable { median_ms, .. } => {
                    let v = match self.state.get(&r.id) {
                        Some(prev) => self.alpha * median_ms + (1.0 - self.alpha) * prev,
                        None => median_ms,
                    };
                    next.insert(r.id.clone(), v);
                    Some(v)
                }
                ProbeOutcome::Unreachable { .. } => None,
            })
            .collect();
        self.state = next;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Id {
        Id::parse(s).unwrap()
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0]), Some(3.0));
        assert_eq!(median(&mut [9.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 100.0]), Some(3.0));
    }

    #[test]
    fn offsets_are_stable_and_within_the_spread() {
        let config = ProbeConfig {
            spread: Duration::from_millis(100),
            ..ProbeConfig::default()
        };
        let p = Prober::new(config, "exec-a");
        let q = Prober::new(config, "exec-b");
        let mut differ = 0;
        for i in 0..200 {
            let c = id(&format!("client-{i}"));
            let o = p.start_offset(&c);
            assert!(o < Duration::from_millis(100));
            assert_eq!(o, p.start_offset(&c));
            if o != q.start_offset(&c) {
                differ += 1;
            }
        }
        assert!(differ > 150);
        let none = Prober::new(
            ProbeConfig {
                spread: Duration::ZERO,
                ..config
            },
            "x",
        );
        assert_eq!(none.start_offset(&id("c")), Duration::ZERO);
    }

    #[test]
    fn smoothing() {
        let r = |c: &str, ms: Option<f64>| ProbeResult {
            id: id(c),
            outcome: match ms {
                Some(median_ms) => ProbeOutcome::Reachable {
                    median_ms,
                    samples: 3,
                },
                None => ProbeOutcome::Unreachable {
                    reason: String::new(),
                },
            },
            finished_at: Instant::now(),
        };
        let mut s = Smoother::new(0.5);
        assert_eq!(
            s.apply(&[r("a", Some(10.0)), r("b", None)]),
            vec![Some(10.0), None]
        );
        assert_eq!(
            s.apply(&[r("a", Some(20.0)), r("b", Some(4.0))]),
            vec![Some(15.0), Some(4.0)]
        );
        // a unreachable resets it; b absent is forgotten.
        assert_eq!(s.apply(&[r("a", None)]), vec![None]);
        assert_eq!(
            s.apply(&[r("a", Some(8.0)), r("b", Some(2.0))]),
            vec![Some(8.0), Some(2.0)]
        );
    }
}
