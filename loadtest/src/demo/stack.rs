//! The demo's local stack: store, simulated executors with companions, proxies.
//!
//! Simulators and companions run in this process (their libraries); the proxies run as
//! `mulambda-proxy` child processes configured purely through their `MULAMBDA_*` environment,
//! exactly as the Kubernetes webhook configures them.

use std::time::Duration;

use anyhow::{Context, anyhow};
use mulambda_catalog::names::env;
use serde::{Deserialize, Serialize};
use tokio::process::Command;

use crate::bench::{ChildProcess, find_program, free_port, wait_http_ok};
use crate::sim::{ServiceTime, SimConfig, SimServer};
use mulambda_testkit::{RedisOptions, RedisServer};

/// The traits every demo executor and proxy share (half_plus_two is a regression model).
const TRAITS: (&str, &str, &str) = ("regression", "number", "number");

/// One executor of the demo.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecutorSpec {
    /// Short name (`fast`, `balanced`, `accurate`), also its executor id.
    pub name: String,
    /// Model name it serves.
    pub model: String,
    /// Declared accuracy.
    pub accuracy: f64,
    /// Base service time, ms.
    pub base_ms: f64,
}

/// A running executor: simulator + companion.
pub struct DemoExecutor {
    /// What it is.
    pub spec: ExecutorSpec,
    /// The simulated TF Serving (`None` once killed).
    pub sim: Option<SimServer>,
    /// Its URL.
    pub url: String,
    companion: Option<mulambda_companion::Companion>,
}

/// A running proxy.
pub struct DemoProxy {
    /// `latency-first` or `accuracy-first`.
    pub name: String,
    /// The preference in words.
    pub preference: String,
    /// Application URL (TF Serving REST).
    pub url: String,
    /// Admin URL.
    pub admin_url: String,
    process: ChildProcess,
}

/// Everything the demo started.
pub struct Stack {
    redis: RedisServer,
    executors: Vec<DemoExecutor>,
    proxies: Vec<DemoProxy>,
}

fn specs() -> Vec<ExecutorSpec> {
    let spec = |name: &str, model: &str, accuracy, base_ms| ExecutorSpec {
        name: name.into(),
        model: model.into(),
        accuracy,
        base_ms,
    };
    vec![
        spec("fast", "hpt-small", 0.71, 1.0),
        spec("balanced", "hpt-base", 0.83, 4.0),
        spec("accurate", "hpt-large", 0.94, 12.0),
    ]
}

// === impl Stack ===

impl Stack {
    /// Starts the store, the executors with their companions, and two proxies.
    pub async fn start() -> anyhow::Result<Stack> {
        let redis = RedisServer::try_start_with(RedisOptions::default()).map_err(|e| {
            anyhow!(
                "{e}\n(run `bash scripts/ensure-deps.sh` or `sudo apt-get install -y redis-server`)"
            )
        })?;
        let url = redis.url();
        let mut executors = Vec::new();
        for spec in specs() {
            let mut sc = SimConfig::named(&spec.name);
            sc.model = spec.model.clone();
            sc.timing = ServiceTime {
                base_ms: spec.base_ms,
                jitter_ms: spec.base_ms * 0.1,
                ..ServiceTime::default()
            };
            let sim = SimServer::start(sc)
                .await
                .context("starting a simulated executor")?;
            let addr = sim.local_addr().to_string();
            let args = [
                "mulambda-companion".to_string(),
                format!("--store-url={url}"),
                format!("--executor-id={}", spec.name),
                format!("--rest-endpoint={addr}"),
                format!("--tfserving-url=http://{addr}"),
                format!("--model-name={}", spec.model),
                format!("--model-type={}", TRAITS.0),
                format!("--input-format={}", TRAITS.1),
                format!("--output-format={}", TRAITS.2),
                format!("--accuracy={}", spec.accuracy),
                "--admin-listen=127.0.0.1:0".into(),
                "--heartbeat=1s".into(),
                "--readiness-interval=250ms".into(),
                "--probe-interval=1s".into(),
            ];
            let cfg = mulambda_companion::Config::try_parse_from(args)
                .map_err(|e| anyhow!("companion configuration: {e}"))?;
            let companion = mulambda_companion::Companion::start(cfg).await?;
            executors.push(DemoExecutor {
                spec,
                url: sim.url(),
                sim: Some(sim),
                companion: Some(companion),
            });
        }
        let mut stack = Stack {
            redis,
            executors,
            proxies: Vec::new(),
        };
        stack.proxies.push(
            start_proxy(
                &url,
                "latency-first",
                "latency weight 1, accuracy weight 0.05",
                1.0,
                0.05,
            )
            .await?,
        );
        stack.proxies.push(
            start_proxy(
                &url,
                "accuracy-first",
                "latency weight 0.05, accuracy weight 1",
                0.05,
                1.0,
            )
            .await?,
        );
        Ok(stack)
    }

    /// The store's URL.
    pub fn store_url(&self) -> String {
        self.redis.url()
    }

    /// The executors.
    pub fn executors(&self) -> &[DemoExecutor] {
        &self.executors
    }

    /// One executor by name.
    pub fn executor(&self, name: &str) -> Option<&DemoExecutor> {
        self.executors.iter().find(|e| e.spec.name == name)
    }

    /// The proxies.
    pub fn proxies(&self) -> &[DemoProxy] {
        &self.proxies
    }

    /// Waits until every proxy sees all executors ready (its `/explain` lists them eligible).
    pub async fn wait_until_routable(&self, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        for p in &self.proxies {
            wait_http_ok(&format!("{}/ready", p.admin_url), within).await?;
            loop {
                let explained = get_json(&format!("{}/explain", p.admin_url)).await;
                let eligible = explained.as_ref().map(count_eligible).unwrap_or(0);
                if eligible >= self.executors.len() {
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    anyhow::bail!(
                        "proxy {} sees {eligible} of {} executors eligible after {within:?}: {explained:?}",
                        p.name,
                        self.executors.len()
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// Each proxy's `/explain`, tagged with `_proxy`.
    pub async fn explain_all(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for p in &self.proxies {
            let mut v = get_json(&format!("{}/explain", p.admin_url))
                .await
                .unwrap_or_else(|e| serde_json::json!({"error": e.to_string()}));
            if let Some(m) = v.as_object_mut() {
                m.insert("_proxy".into(), p.name.clone().into());
            }
            out.push(v);
        }
        out
    }

    /// Kills an executor's simulator (a crash: connections refused from now on). Its companion
    /// stays up and reports it not ready, as in a pod whose TF Serving container died.
    pub async fn kill_executor(&mut self, name: &str) {
        if let Some(e) = self.executors.iter_mut().find(|e| e.spec.name == name)
            && let Some(sim) = e.sim.take()
        {
            sim.kill().await;
        }
    }

    /// Stops everything in order: proxies, companions (deregistering), simulators, store.
    pub async fn shutdown(mut self) {
        for p in self.proxies.drain(..) {
            p.process.kill().await;
        }
        for e in &mut self.executors {
            if let Some(c) = e.companion.take() {
                c.shutdown().await;
            }
        }
        for e in self.executors.drain(..) {
            if let Some(sim) = e.sim {
                sim.kill().await;
            }
        }
        self.redis.stop();
    }
}

fn count_eligible(explain: &serde_json::Value) -> usize {
    // The proxy's /explain: `candidates` counts the executors that passed every filter.
    explain
        .get("candidates")
        .and_then(|c| c.as_u64())
        .unwrap_or(0) as usize
}

async fn start_proxy(
    store_url: &str,
    name: &str,
    preference: &str,
    latency_weight: f64,
    accuracy_weight: f64,
) -> anyhow::Result<DemoProxy> {
    let bin = find_program("mulambda-proxy").ok_or_else(|| {
        anyhow!("mulambda-proxy not found beside this binary or on PATH (build the workspace: cargo build --release)")
    })?;
    let app = free_port()?;
    let admin = free_port()?;
    let mut cmd = Command::new(bin);
    cmd.env(env::STORE_URL, store_url)
        .env(env::LISTEN, format!("127.0.0.1:{app}"))
        .env(env::ADMIN_LISTEN, format!("127.0.0.1:{admin}"))
        .env(env::PROBE_ADDR, format!("127.0.0.1:{admin}"))
        .env(env::CLIENT_ID, name)
        .env(env::MODEL_TYPE, TRAITS.0)
        .env(env::INPUT_FORMAT, TRAITS.1)
        .env(env::OUTPUT_FORMAT, TRAITS.2)
        .env(env::LATENCY_WEIGHT, latency_weight.to_string())
        .env(env::ACCURACY_WEIGHT, accuracy_weight.to_string())
        .env(env::LOG, "warn");
    let log = std::env::temp_dir().join(format!("mulambda-demo-{name}.log"));
    let process = ChildProcess::spawn(name, cmd, Some(&log), false)?;
    Ok(DemoProxy {
        name: name.into(),
        preference: preference.into(),
        url: format!("http://127.0.0.1:{app}"),
        admin_url: format!("http://127.0.0.1:{admin}"),
        process,
    })
}

async fn get_json(url: &str) -> anyhow::Result<serde_json::Value> {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let resp = tokio::time::timeout(Duration::from_secs(2), client.get(url.parse()?)).await??;
    let body = resp.into_body().collect().await?.to_bytes();
    Ok(serde_json::from_slice(&body)?)
}
