//! Processes inside a lab's hosts.
//!
//! A process is started from a thread that joined the host's namespace ([`crate::netns`]), so
//! it and everything it starts use only that host's interfaces: its traffic to a delayed peer
//! crosses the emulated link. Each process leads its own process group, so Ctrl-C at the
//! terminal reaches the lab (which then stops the processes in order) rather than every
//! process at once, and stopping it also stops what it started.

use std::ffi::{OsStr, OsString};
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::error::Error;

/// Environment variable every lab process gets: the name of its host.
pub const ENV_HOST: &str = "MULAMBDA_NETLAB_HOST";
/// Environment variable every lab process gets: its host's lab address.
pub const ENV_ADDR: &str = "MULAMBDA_NETLAB_ADDR";

/// Where a lab process's stdout or stderr goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// This process's own stream.
    Inherit,
    /// Discarded.
    Null,
    /// Appended to a file (created if missing).
    File(PathBuf),
    /// Forwarded line by line to this process's stderr, each line prefixed `[host/label]`.
    Prefixed,
    /// A pipe the caller reads ([`LabProcess::take_stdout`], [`LabProcess::take_stderr`]).
    Piped,
}

/// A command to run on a lab host: program, arguments, environment, output.
#[derive(Debug, Clone)]
pub struct LabCommand {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
    stdout: Output,
    stderr: Output,
    label: Option<String>,
}

/// A process running on a lab host. Dropping the handle stops the process (SIGTERM to its
/// group, SIGKILL after a grace period); the lab's teardown stops any still running.
pub struct LabProcess {
    tracked: Arc<Tracked>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    forwarders: Vec<JoinHandle<()>>,
}

/// The lab's view of a process it started, shared with the handle.
pub(crate) struct Tracked {
    pub(crate) host: String,
    pub(crate) label: String,
    pub(crate) pid: i32,
    child: Mutex<Child>,
    status: Mutex<Option<ExitStatus>>,
}

// === impl LabCommand ===

impl LabCommand {
    /// A command running `program` (looked up in `PATH`).
    pub fn new(program: impl AsRef<OsStr>) -> LabCommand {
        LabCommand {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            stdout: Output::Inherit,
            stderr: Output::Inherit,
            label: None,
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> LabCommand {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> LabCommand
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable (the rest of this process's environment is inherited).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> LabCommand {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Sets the working directory.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> LabCommand {
        self.cwd = Some(dir.into());
        self
    }

    /// Where stdout goes (default: inherited).
    pub fn stdout(mut self, out: Output) -> LabCommand {
        self.stdout = out;
        self
    }

    /// Where stderr goes (default: inherited).
    pub fn stderr(mut self, out: Output) -> LabCommand {
        self.stderr = out;
        self
    }

    /// A short name for logs and prefixes (default: the program's file name).
    pub fn label(mut self, label: impl Into<String>) -> LabCommand {
        self.label = Some(label.into());
        self
    }

    /// The program.
    pub fn program(&self) -> &OsStr {
        &self.program
    }

    fn label_or_program(&self) -> String {
        self.label.clone().unwrap_or_else(|| {
            std::path::Path::new(&self.program)
                .file_name()
                .unwrap_or(&self.program)
                .to_string_lossy()
                .into_owned()
        })
    }
}

fn stdio(out: &Output) -> Result<Stdio, Error> {
    Ok(match out {
        Output::Inherit => Stdio::inherit(),
        Output::Null => Stdio::null(),
        Output::Prefixed | Output::Piped => Stdio::piped(),
        Output::File(path) => {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
            Stdio::from(f)
        }
    })
}

/// Starts `cmd` inside namespace `ns` as host `host` (with address `addr`).
pub(crate) fn spawn(
    ns: &str,
    host: &str,
    addr: &str,
    cmd: LabCommand,
) -> Result<LabProcess, Error> {
    let label = cmd.label_or_program();
    let mut command = Command::new(&cmd.program);
    command
        .args(&cmd.args)
        .env(ENV_HOST, host)
        .env(ENV_ADDR, addr)
        .envs(cmd.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(stdio(&cmd.stdout)?)
        .stderr(stdio(&cmd.stderr)?)
        .process_group(0);
    if let Some(dir) = &cmd.cwd {
        command.current_dir(dir);
    }
    let what = format!(
        "start {label} ({}) on {host}",
        cmd.program.to_string_lossy()
    );
    let mut child =
        crate::netns::run_in(ns, move || command.spawn())?.map_err(|e| Error::io(what, e))?;
    let pid = child.id() as i32;
    tracing::info!(host, label, pid, "started a lab process");

    let mut forwarders = Vec::new();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    if cmd.stdout == Output::Prefixed
        && let Some(out) = stdout.take()
    {
        forwarders.push(forward(out, format!("[{host}/{label}] ")));
    }
    if cmd.stderr == Output::Prefixed
        && let Some(err) = stderr.take()
    {
        forwarders.push(forward(err, format!("[{host}/{label}] ")));
    }
    Ok(LabProcess {
        tracked: Arc::new(Tracked {
            host: host.to_string(),
            label,
            pid,
            child: Mutex::new(child),
            status: Mutex::new(None),
        }),
        stdout,
        stderr,
        forwarders,
    })
}

/// Copies a stream's lines to stderr with a prefix, until the stream ends (the process exits).
fn forward(stream: impl Read + Send + 'static, prefix: String) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let mut err = std::io::stderr().lock();
                    let _ = err.write_all(prefix.as_bytes());
                    let _ = err.write_all(&line);
                    if !line.ends_with(b"\n") {
                        let _ = err.write_all(b"\n");
                    }
                }
            }
        }
    })
}

// === impl LabProcess ===

impl LabProcess {
    /// The process id (also its process group id).
    pub fn pid(&self) -> i32 {
        self.tracked.pid
    }

    /// The host it runs on.
    pub fn host(&self) -> &str {
        &self.tracked.host
    }

    /// Its label.
    pub fn label(&self) -> &str {
        &self.tracked.label
    }

    /// Its stdout pipe, when started with [`Output::Piped`].
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.stdout.take()
    }

    /// Its stderr pipe, when started with [`Output::Piped`].
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.stderr.take()
    }

    /// Its exit status, if it has exited.
    pub fn try_wait(&self) -> Result<Option<ExitStatus>, Error> {
        self.tracked.try_wait()
    }

    /// Waits up to `timeout` for it to exit.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<Option<ExitStatus>, Error> {
        self.tracked.wait_timeout(timeout)
    }

    /// Waits for it to exit.
    pub fn wait(&self) -> Result<ExitStatus, Error> {
        loop {
            if let Some(s) = self.tracked.wait_timeout(Duration::from_secs(3600))? {
                return Ok(s);
            }
        }
    }

    /// Stops it: SIGTERM to its process group, SIGKILL after `grace`; its exit status.
    pub fn stop(&self, grace: Duration) -> Result<ExitStatus, Error> {
        self.tracked.stop(grace)
    }

    pub(crate) fn tracked(&self) -> Arc<Tracked> {
        self.tracked.clone()
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        if let Err(e) = self.tracked.stop(Duration::from_secs(2)) {
            tracing::warn!(host = %self.tracked.host, label = %self.tracked.label, error = %e, "could not stop a lab process");
        }
        // The output forwarders end when the last writer of their pipe exits; they are not
        // joined, since a daemon the process started may hold the pipe until the lab's teardown.
        self.forwarders.clear();
    }
}

// === impl Tracked ===

impl Tracked {
    pub(crate) fn try_wait(&self) -> Result<Option<ExitStatus>, Error> {
        let mut status = self.status.lock().expect("status lock");
        if status.is_none() {
            let mut child = self.child.lock().expect("child lock");
            *status = child
                .try_wait()
                .map_err(|e| Error::io(format!("wait for {} on {}", self.label, self.host), e))?;
        }
        Ok(*status)
    }

    pub(crate) fn wait_timeout(&self, timeout: Duration) -> Result<Option<ExitStatus>, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_wait()? {
                return Ok(Some(s));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends a signal to the process group (the process and what it started).
    pub(crate) fn signal(&self, signal: Signal) {
        if self.try_wait().ok().flatten().is_none() {
            // ESRCH: the group is already gone.
            let _ = killpg(Pid::from_raw(self.pid), signal);
        }
    }

    pub(crate) fn stop(&self, grace: Duration) -> Result<ExitStatus, Error> {
        if let Some(s) = self.try_wait()? {
            // Exited (and reaped) earlier: its process id may be reused by now, so no signal;
            // whatever it left in its namespace, the lab's teardown kills.
            return Ok(s);
        }
        self.signal(Signal::SIGTERM);
        if let Some(s) = self.wait_timeout(grace)? {
            let _ = killpg(Pid::from_raw(self.pid), Signal::SIGKILL);
            return Ok(s);
        }
        tracing::warn!(host = %self.host, label = %self.label, "no exit within the grace period; SIGKILL");
        self.signal(Signal::SIGKILL);
        let _ = killpg(Pid::from_raw(self.pid), Signal::SIGKILL);
        loop {
            if let Some(s) = self.wait_timeout(Duration::from_secs(5))? {
                return Ok(s);
            }
        }
    }
}
