//! Test harness shared by mulambda's integration tests.
//!
//! [`RedisServer`] starts a real `redis-server` (or `valkey-server`) on a free loopback port,
//! with persistence off and its files in a temporary directory, and kills it when dropped. Tests
//! that need an outage call [`RedisServer::stop`] and later [`RedisServer::restart`], which
//! brings the server back on the *same* port so clients can reconnect by themselves.
//!
//! The binary is taken from `MULAMBDA_TEST_REDIS_SERVER` when set, else the first of
//! `redis-server`, `valkey-server` found on `PATH`. `.ci/run` installs Debian's `redis-server`.
//!
//! [`model_server`] starts real Open Inference Protocol servers (MLServer, KServe's model
//! server) serving a scikit-learn model trained at test time, from the Python environment
//! [`python_env::V2Python`] finds or builds.
#![forbid(unsafe_code)]

pub mod model_server;
pub mod python_env;

pub use model_server::{IrisModel, KServeServer, MlServer};
pub use python_env::V2Python;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable naming the store server binary to use in tests.
pub const SERVER_BINARY_ENV: &str = "MULAMBDA_TEST_REDIS_SERVER";

/// How long to wait for a started server to answer `PING`.
const STARTUP_DEADLINE: Duration = Duration::from_secs(10);

/// Options for a test store server.
#[derive(Debug, Clone, Default)]
pub struct RedisOptions {
    /// `requirepass` for the default user, when set.
    pub password: Option<String>,
    /// Serve TLS only (plain port disabled), from these PEM files.
    pub tls: Option<TlsFiles>,
}

/// PEM files for a TLS-serving test store.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Server certificate chain.
    pub cert: PathBuf,
    /// Server private key.
    pub key: PathBuf,
    /// CA certificate the server trusts for client certificates (redis requires one).
    pub ca: PathBuf,
}

/// A running `redis-server` on a loopback port, killed on drop.
pub struct RedisServer {
    binary: PathBuf,
    options: RedisOptions,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

// === impl RedisServer ===

impl RedisServer {
    /// Starts a plain-TCP server without a password on a free loopback port.
    pub fn start() -> RedisServer {
        Self::start_with(RedisOptions::default())
    }

    /// Starts a server with the given options on a free loopback port.
    ///
    /// Panics with an explanation when no server binary is installed: this is test-only code and
    /// the message tells the developer what to install. Tools use [`RedisServer::try_start_with`].
    pub fn start_with(options: RedisOptions) -> RedisServer {
        Self::try_start_with(options).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`RedisServer::start_with`], but returns an error instead of panicking.
    pub fn try_start_with(options: RedisOptions) -> Result<RedisServer, String> {
        let binary = find_server_binary().ok_or_else(|| {
            format!(
                "no redis-server found: install one (`apt-get install -y redis-server`) or set {SERVER_BINARY_ENV}"
            )
        })?;
        // The port is picked by binding port 0 and releasing it; another process could take it
        // in between, so a failed start is retried on a fresh port.
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_loopback_port();
            let dir = tempfile::tempdir()
                .map_err(|e| format!("temporary directory for redis-server: {e}"))?;
            let mut server = RedisServer {
                binary: binary.clone(),
                options: options.clone(),
                port,
                dir,
                child: None,
            };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) => last_error = e,
            }
        }
        Err(format!("redis-server did not start: {last_error}"))
    }

    /// The port the server listens on (TLS port when TLS is on).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// A `redis://` (or `rediss://`) URL for this server, with the password when one is set.
    pub fn url(&self) -> String {
        let scheme = if self.options.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        match &self.options.password {
            Some(p) => format!("{scheme}://:{p}@127.0.0.1:{}/", self.port),
            None => format!("{scheme}://127.0.0.1:{}/", self.port),
        }
    }

    /// Kills the server (an outage). Its data is lost: persistence is off.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port after [`RedisServer::stop`].
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + STARTUP_DEADLINE;
        loop {
            match self.spawn() {
                Ok(()) => return,
                // The old socket may linger briefly; retry until the deadline.
                Err(e) if Instant::now() > deadline => panic!("redis-server did not restart: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Whether the server process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut cmd = Command::new(&self.binary);
        let port = self.port.to_string();
        cmd.arg("--bind")
            .arg("127.0.0.1")
            .arg("--save")
            .arg("")
            .arg("--appendonly")
            .arg("no")
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.dir.path().join("redis.log"));
        match &self.options.tls {
            None => {
                cmd.arg("--port").arg(&port);
            }
            Some(tls) => {
                cmd.arg("--port")
                    .arg("0")
                    .arg("--tls-port")
                    .arg(&port)
                    .arg("--tls-cert-file")
                    .arg(&tls.cert)
                    .arg("--tls-key-file")
                    .arg(&tls.key)
                    .arg("--tls-ca-cert-file")
                    .arg(&tls.ca)
                    .arg("--tls-auth-clients")
                    .arg("no");
            }
        }
        if let Some(p) = &self.options.password {
            cmd.arg("--requirepass").arg(p);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("spawn {:?}: {e}", self.binary))?;
        let deadline = Instant::now() + STARTUP_DEADLINE;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "exited with {status}; log: {}",
                    read_log(self.dir.path())
                ));
            }
            if TcpStream::connect(self.addr()).is_ok() {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!("no answer on port {}", self.port));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Finds the store server binary: the env override, else `redis-server` or `valkey-server`.
pub fn find_server_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(SERVER_BINARY_ENV) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for name in ["redis-server", "valkey-server"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// A loopback port that was free a moment ago.
pub fn free_loopback_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral loopback port")
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default()
}
