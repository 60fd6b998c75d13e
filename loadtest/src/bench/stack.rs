//! The processes behind the benchmark: a simulator process and a mulambda-proxy process with a
//! store in which the simulator is registered as the only executor.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow};
use mulambda_catalog::names::env;
use mulambda_catalog::{
    Endpoint, Executor, Id, Lease, LeaseConfig, ModelName, ModelTraits, Store, StoreConfig,
};
use mulambda_testkit::{RedisOptions, RedisServer};
use tokio::process::Command;

use super::procs::{ChildProcess, find_program, free_port, wait_http_ok};

/// The simulator process.
pub struct SimProcess {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The process.
    pub process: ChildProcess,
}

/// Starts `mulambda-loadtest sim` with one executor of zero service time.
pub async fn start_sim_process(dir: &Path) -> anyhow::Result<SimProcess> {
    let exe = std::env::current_exe().context("locating mulambda-loadtest")?;
    let mut cmd = Command::new(exe);
    cmd.arg("sim")
        .arg("-e")
        .arg("name=bench,model=half_plus_two,port=0,base-ms=0");
    let mut process = ChildProcess::spawn("simulator", cmd, Some(&dir.join("sim.stderr")), true)?;
    let addr = process
        .read_line_until(Duration::from_secs(10), |line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            v.get("addr")?.as_str()?.parse::<SocketAddr>().ok()
        })
        .await?;
    Ok(SimProcess { addr, process })
}

/// The proxy process and what it needs.
pub struct ProxyStack {
    /// The proxy's application URL.
    pub url: String,
    /// The proxy's application listener.
    pub app: SocketAddr,
    /// The proxy's admin listener.
    pub admin: SocketAddr,
    /// The proxy's process id (for memory readings).
    pub pid: Option<u32>,
    _proxy: ChildProcess,
    _lease: Lease,
    _record: tokio::sync::watch::Sender<Executor>,
    _redis: RedisServer,
}

/// Starts a store, registers the simulator in it, and starts `mulambda-proxy` in front.
pub async fn start_proxy_stack(sim: SocketAddr, dir: &Path) -> anyhow::Result<ProxyStack> {
    start_proxy_stack_with(sim, dir, None).await
}

/// [`start_proxy_stack`] with a given proxy binary (default: beside this binary or on PATH).
pub async fn start_proxy_stack_with(
    sim: SocketAddr,
    dir: &Path,
    bin: Option<&Path>,
) -> anyhow::Result<ProxyStack> {
    let bin = match bin {
        Some(b) => b.to_path_buf(),
        None => find_program("mulambda-proxy").ok_or_else(|| {
            anyhow!("mulambda-proxy not found beside this binary or on PATH (cargo build --release -p mulambda-proxy)")
        })?,
    };
    let redis = RedisServer::try_start_with(RedisOptions::default()).map_err(|e| anyhow!(e))?;
    let store = Store::new(StoreConfig::new(redis.url()))?;
    let executor = Executor {
        id: Id::parse("bench-sim")?,
        model_name: ModelName::parse("half_plus_two")?,
        model_version: None,
        traits: ModelTraits::parse("regression", "number", "number")?,
        accuracy: 0.9,
        rest_endpoint: Endpoint::from(sim),
        grpc_endpoint: None,
        node: None,
        zone: None,
        ready: true,
        signature: None,
    };
    let (record, rx) = tokio::sync::watch::channel(executor);
    let lease = Lease::start(
        store,
        rx,
        LeaseConfig::with_heartbeat(Duration::from_secs(1)),
    );
    let app = free_port()?;
    let admin = free_port()?;
    let mut cmd = Command::new(bin);
    cmd.env(env::STORE_URL, redis.url())
        .env(env::LISTEN, format!("127.0.0.1:{app}"))
        .env(env::ADMIN_LISTEN, format!("127.0.0.1:{admin}"))
        .env(env::PROBE_ADDR, format!("127.0.0.1:{admin}"))
        .env(env::CLIENT_ID, "bench-proxy")
        .env(env::MODEL_TYPE, "regression")
        .env(env::INPUT_FORMAT, "number")
        .env(env::OUTPUT_FORMAT, "number")
        .env(env::LOG, "warn");
    let proxy = ChildProcess::spawn(
        "mulambda-proxy",
        cmd,
        Some(&dir.join("proxy.stderr")),
        false,
    )?;
    wait_http_ok(
        &format!("http://127.0.0.1:{admin}/ready"),
        Duration::from_secs(15),
    )
    .await?;
    Ok(ProxyStack {
        url: format!("http://127.0.0.1:{app}"),
        app: SocketAddr::from(([127, 0, 0, 1], app)),
        admin: SocketAddr::from(([127, 0, 0, 1], admin)),
        pid: proxy.id(),
        _proxy: proxy,
        _lease: lease,
        _record: record,
        _redis: redis,
    })
}
