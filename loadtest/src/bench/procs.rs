//! Child processes the benchmark and the demo start: found on `PATH` or beside this binary,
//! killed when dropped, waited for until they answer.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

/// A child process that is killed when dropped.
pub struct ChildProcess {
    name: String,
    child: Child,
}

// === impl ChildProcess ===

impl ChildProcess {
    /// Spawns `cmd` (stdin closed, stdout piped when `capture_stdout`, stderr to `log`).
    pub fn spawn(
        name: &str,
        mut cmd: Command,
        log: Option<&Path>,
        capture_stdout: bool,
    ) -> anyhow::Result<ChildProcess> {
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        cmd.stdout(if capture_stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        match log {
            Some(path) => {
                let file = std::fs::File::create(path)
                    .with_context(|| format!("creating log {}", path.display()))?;
                cmd.stderr(file);
            }
            None => {
                cmd.stderr(Stdio::null());
            }
        }
        let child = cmd.spawn().with_context(|| format!("starting {name}"))?;
        Ok(ChildProcess {
            name: name.to_string(),
            child,
        })
    }

    /// Reads stdout lines until `pick` accepts one (e.g. the simulator's "listening" line).
    pub async fn read_line_until<T>(
        &mut self,
        within: Duration,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> anyhow::Result<T> {
        let stdout = self
            .child
            .stdout
            .as_mut()
            .with_context(|| format!("{}: stdout not captured", self.name))?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let name = self.name.clone();
        tokio::time::timeout(within, async move {
            while let Some(line) = lines.next_line().await? {
                if let Some(v) = pick(&line) {
                    return Ok(v);
                }
            }
            bail!("{name} exited before it was ready")
        })
        .await
        .with_context(|| format!("{} did not get ready within {within:?}", self.name))?
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Terminates the process (SIGKILL) and waits for it.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// The process id, when running.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }
}

/// Finds a program: beside the current executable first (a workspace build puts all binaries
/// in one directory), then on `PATH`, then in `/usr/sbin` (nginx, haproxy).
pub fn find_program(name: &str) -> Option<PathBuf> {
    // Beside this binary (target/…/mulambda-loadtest), or one level up for test binaries
    // (target/…/deps/*).
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(2) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("binding an ephemeral port")?;
    Ok(l.local_addr()?.port())
}

/// Waits until `GET url` answers 2xx.
pub async fn wait_http_ok(url: &str, within: Duration) -> anyhow::Result<()> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let uri: http::Uri = url.parse().with_context(|| format!("bad URL {url}"))?;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Ok(Ok(resp)) =
            tokio::time::timeout(Duration::from_secs(1), client.get(uri.clone())).await
            && resp.status().is_success()
        {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{url} did not answer 2xx within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
