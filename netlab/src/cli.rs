//! The command line of `mulambda-netlab`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use mulambda_netlab::measure::{MeasureOptions, run_measurement};
use mulambda_netlab::names::{
    DEFAULT_PREFIX, DEFAULT_STATE_DIR, ENV_EMULATOR_PRIORITY, ENV_PREFIX, ENV_STATE_DIR,
};
use mulambda_netlab::{LabCommand, LabOptions, Naming, Output, Topology, privilege, state};

/// mulambda's network lab: hosts as network namespaces with emulated link delay.
#[derive(Debug, Parser)]
#[command(name = "mulambda-netlab", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: Global,
}

#[derive(Debug, Args)]
struct Global {
    /// Naming prefix of the lab's namespaces (labs with another prefix are invisible to this
    /// one's leftover check and `down`).
    #[arg(long, global = true, env = ENV_PREFIX, default_value = DEFAULT_PREFIX, value_parser = parse_prefix)]
    prefix: Naming,
    /// Directory of the running labs' lock files.
    #[arg(long, global = true, env = ENV_STATE_DIR, default_value = DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
    /// Real-time priority (SCHED_FIFO) of the emulator thread, 1–99; 0 leaves it an
    /// ordinary thread.
    #[arg(long, global = true, env = ENV_EMULATOR_PRIORITY, default_value_t = 10,
          value_parser = clap::value_parser!(u8).range(0..=99))]
    emulator_priority: u8,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the lab of a topology file and keep it until Ctrl-C or SIGTERM, then remove it.
    Up {
        /// The topology file (TOML; see docs/netlab.md).
        topology: PathBuf,
    },
    /// Build a lab, run one command inside a host, remove the lab; exits with the command's
    /// status.
    Run {
        /// The topology file.
        topology: PathBuf,
        /// The host to run the command on.
        #[arg(long)]
        on: String,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Remove what earlier runs left behind (namespaces, guard routes, lock files); running
    /// labs are left alone.
    Down {
        /// Remove every leftover of this prefix (the only mode: leftovers of a run are found
        /// by name and lock, not by id).
        #[arg(long, required = true)]
        all: bool,
        /// Also remove leftovers of dead labs with other prefixes (e.g. killed test runs, which
        /// use prefixes of their own), found through their lock files.
        #[arg(long)]
        every_prefix: bool,
    },
    /// List running labs and leftovers.
    Status,
    /// Check a topology file (no root needed).
    Validate {
        /// The topology file.
        topology: PathBuf,
    },
    /// Measure the link emulator's delay accuracy: timestamped UDP packets from a client to
    /// nodes at the given delays, plus an undelayed (bridge) baseline.
    Measure(MeasureArgs),
}

#[derive(Debug, Args)]
struct MeasureArgs {
    /// One-way delays of the measured links, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10ms,30ms", value_parser = parse_duration)]
    delays: Vec<Duration>,
    /// Packets per second through the emulator, spread evenly over the delayed links; the
    /// bridge baseline gets the same per-link rate on top.
    #[arg(long, default_value_t = 2000)]
    rate: u32,
    /// How long to send (after the warm-up).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Sent but not counted, first.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// UDP payload size in bytes, 24 (sequence, path, timestamp) to 1400.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Real-time priority (1–99) for the measurement's sender and receivers too, so the
    /// end-to-end error shows the network path rather than how late a busy machine wakes an
    /// ordinary thread.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=99))]
    probe_priority: Option<u8>,
    /// Also write the result as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn parse_prefix(text: &str) -> Result<Naming, String> {
    Naming::new(text).map_err(|e| e.to_string())
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    mulambda_catalog::parse_duration(text)
}

/// Signals that end a lab: they set flags the lab's build and wait loops poll, instead of
/// killing this process with the lab still up.
struct Signals {
    cancel: Arc<AtomicBool>,
    which: Arc<AtomicUsize>,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let cancel = Arc::new(AtomicBool::new(false));
        let which = Arc::new(AtomicUsize::new(0));
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal_hook::flag::register(sig, cancel.clone()).context("install signal handlers")?;
            signal_hook::flag::register_usize(sig, which.clone(), sig as usize)
                .context("install signal handlers")?;
        }
        Ok(Signals { cancel, which })
    }

    fn received(&self) -> Option<i32> {
        match self.which.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s as i32),
        }
    }

    /// The conventional exit code after a signal: 128 + its number.
    fn exit_code(&self) -> ExitCode {
        ExitCode::from(128 + self.received().unwrap_or(0) as u8)
    }
}

fn read_topology(path: &PathBuf) -> anyhow::Result<Topology> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    Topology::from_toml(&text).with_context(|| path.display().to_string())
}

// === impl Cli ===

impl Cli {
    /// Runs the chosen command.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let options = |signals: Option<&Signals>| LabOptions {
            naming: self.global.prefix.clone(),
            state_dir: self.global.state_dir.clone(),
            cancel: signals.map(|s| s.cancel.clone()),
            realtime: (self.global.emulator_priority > 0).then_some(self.global.emulator_priority),
            ..LabOptions::default()
        };
        match &self.command {
            Command::Validate { topology } => {
                let t = read_topology(topology)?;
                println!(
                    "{}: {} hosts ({} infra, {} nodes, {} clients), {} delayed links",
                    topology.display(),
                    t.hosts.len(),
                    t.names_of(mulambda_netlab::Role::Infra).len(),
                    t.names_of(mulambda_netlab::Role::Node).len(),
                    t.names_of(mulambda_netlab::Role::Client).len(),
                    t.links.len()
                );
                Ok(ExitCode::SUCCESS)
            }
            Command::Up { topology } => {
                let t = read_topology(topology)?;
                privilege::require_root()?;
                let signals = Signals::install()?;
                let lab = mulambda_netlab::Lab::build(&t, options(Some(&signals)))?;
                print!("{}", lab.describe());
                println!(
                    "ready: lab {} is up; Ctrl-C or SIGTERM removes it",
                    lab.id()
                );
                while signals.received().is_none() {
                    std::thread::sleep(Duration::from_millis(50));
                }
                eprintln!("mulambda-netlab: signal received, tearing the lab down");
                lab.teardown()?;
                Ok(signals.exit_code())
            }
            Command::Run {
                topology,
                on,
                command,
            } => {
                let t = read_topology(topology)?;
                if t.host_index(on).is_none() {
                    bail!(
                        "--on {on:?}: no such host in {} (hosts: {})",
                        topology.display(),
                        t.hosts
                            .iter()
                            .map(|h| h.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                privilege::require_root()?;
                let signals = Signals::install()?;
                let lab = mulambda_netlab::Lab::build(&t, options(Some(&signals)))?;
                let child = lab.spawn(
                    on,
                    LabCommand::new(&command[0])
                        .args(&command[1..])
                        .stdout(Output::Inherit)
                        .stderr(Output::Inherit),
                )?;
                let status = loop {
                    if let Some(s) = child.wait_timeout(Duration::from_millis(50))? {
                        break Some(s);
                    }
                    if signals.received().is_some() {
                        break None;
                    }
                };
                drop(child);
                lab.teardown()?;
                Ok(match status {
                    None => signals.exit_code(),
                    Some(s) => {
                        match (s.code(), std::os::unix::process::ExitStatusExt::signal(&s)) {
                            (Some(c), _) => ExitCode::from(c as u8),
                            (None, Some(sig)) => ExitCode::from(128 + sig as u8),
                            _ => ExitCode::FAILURE,
                        }
                    }
                })
            }
            Command::Down {
                all: _,
                every_prefix,
            } => {
                privilege::require_root()?;
                let mut namings = vec![self.global.prefix.clone()];
                if *every_prefix {
                    for n in state::dead_namings(&self.global.state_dir)? {
                        if !namings.contains(&n) {
                            namings.push(n);
                        }
                    }
                }
                let mut problems = Vec::new();
                let mut removed = 0;
                let mut live = Vec::new();
                for naming in &namings {
                    let r = state::down(naming, &self.global.state_dir)?;
                    for ns in &r.namespaces {
                        println!("removed namespace {ns}");
                    }
                    for dst in &r.routes {
                        println!(
                            "removed route unreachable {dst} proto {}",
                            state::ROUTE_PROTO
                        );
                    }
                    for p in &r.lock_files {
                        println!("removed lock file {}", p.display());
                    }
                    if !r.killed.is_empty() {
                        println!("killed processes {:?}", r.killed);
                    }
                    removed += r.namespaces.len() + r.routes.len() + r.lock_files.len();
                    problems.extend(r.problems);
                    live = r.live;
                }
                for l in &live {
                    println!("left running: {}", describe_live(l));
                }
                if removed == 0 {
                    println!("nothing left behind");
                }
                if !problems.is_empty() {
                    bail!("could not remove everything: {}", problems.join("; "));
                }
                Ok(ExitCode::SUCCESS)
            }
            Command::Status => {
                privilege::require_root()?;
                let s = state::scan(&self.global.prefix, &self.global.state_dir)?;
                if s.live.is_empty() {
                    println!("no lab running");
                }
                for l in &s.live {
                    println!("running: {}", describe_live(l));
                }
                if s.leftovers.is_empty() {
                    println!("no leftovers");
                    Ok(ExitCode::SUCCESS)
                } else {
                    println!("{}", s.leftovers);
                    Ok(ExitCode::from(3))
                }
            }
            Command::Measure(m) => {
                privilege::require_root()?;
                let signals = Signals::install()?;
                let opts = MeasureOptions {
                    delays: m.delays.clone(),
                    rate: m.rate,
                    duration: m.duration,
                    warmup: m.warmup,
                    size: m.size,
                    probe_priority: m.probe_priority,
                    lab: options(Some(&signals)),
                };
                let report = run_measurement(&opts)?;
                print!("{}", report.to_markdown());
                if let Some(path) = &m.json {
                    std::fs::write(path, serde_json::to_string_pretty(&report)?)
                        .with_context(|| format!("write {}", path.display()))?;
                }
                if signals.received().is_some() {
                    return Ok(signals.exit_code());
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

fn describe_live(l: &state::LiveLab) -> String {
    match &l.record {
        Some(r) => format!(
            "lab {} (prefix {}, {}), process {}",
            r.id, r.naming, r.prefix, r.pid
        ),
        None => l.path.display().to_string(),
    }
}
