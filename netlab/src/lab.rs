//! A lab: the hosts of a topology as network namespaces, joined by a bridge, with the
//! delayed links emulated, and everything removed again at teardown.
//!
//! Layout (per lab, `P` = its random /48, `ID` = its random id):
//!
//! ```text
//!  namespace PREFIX-ID (hub)          namespaces PREFIX-ID-HOST (one per host)
//!  ┌──────────────────────────┐       ┌──────────────────────────────────────────┐
//!  │ br0 ── h0 ═══════════════╪═veth══╪═ lab0  P::1/64   (undelayed peers)       │
//!  │     ── h1 ═══════ …      │       │ tun0  routes P::peer/128 (delayed peers) │
//!  └──────────────────────────┘       └──────────────┬───────────────────────────┘
//!                                                    │ fd held by this process
//!                                        emulator thread: hold for the link's delay
//! ```
//!
//! The bridge lives in a hub namespace of its own rather than in the host namespace: the host
//! namespace then has no interface into the lab at all (it cannot send into the lab even by
//! mistake, and its firewall never sees lab traffic), concurrent labs cannot clash on
//! interface names, and deleting the hub namespace removes the bridge and every veth at once.
//! The host namespace gets one thing: an `unreachable` route for `P` (a guard, protocol
//! [`ROUTE_PROTO`]), so even a stray packet for the lab's addresses goes nowhere.

use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::Signal;

use crate::addr::LabPrefix;
use crate::cmd::{self, ip, ip_in};
use crate::emulator::{Emulator, EmulatorPlan, EmulatorStats, LinkPlan};
use crate::error::Error;
use crate::names::{self, LabId, Naming, iface};
use crate::netns::{self, NsThread};
use crate::privilege;
use crate::process::{self, LabCommand, LabProcess, Tracked};
use crate::state::{self, LabLock, LabRecord, ROUTE_PROTO};
use crate::topology::{Delay, Role, Topology};

/// How a lab is built and named.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Naming scheme of its namespaces.
    pub naming: Naming,
    /// Directory of the lock files.
    pub state_dir: PathBuf,
    /// Set (e.g. by a signal handler) to abandon a build in progress; it then cleans up and
    /// returns [`Error::Cancelled`].
    pub cancel: Option<Arc<AtomicBool>>,
    /// How long processes get between SIGTERM and SIGKILL at teardown.
    pub grace: Duration,
    /// Real-time priority (`SCHED_FIFO`, 1–99) for the emulator thread, so a busy machine
    /// does not delay its wake-ups; `None` leaves it an ordinary thread. It uses a few
    /// percent of a core at thousands of packets a second, and the kernel's real-time
    /// throttling bounds it regardless. If the priority cannot be set (no `CAP_SYS_NICE`, no
    /// `chrt`), the lab warns and runs without it.
    pub realtime: Option<u8>,
}

impl Default for LabOptions {
    fn default() -> LabOptions {
        LabOptions {
            naming: Naming::default(),
            state_dir: PathBuf::from(names::DEFAULT_STATE_DIR),
            cancel: None,
            grace: Duration::from_secs(3),
            realtime: Some(10),
        }
    }
}

impl LabOptions {
    /// Defaults, with the prefix and state directory from `MULAMBDA_NETLAB_PREFIX` and
    /// `MULAMBDA_NETLAB_STATE_DIR` when set.
    pub fn from_env() -> Result<LabOptions, Error> {
        let mut o = LabOptions::default();
        if let Ok(p) = std::env::var(names::ENV_PREFIX) {
            o.naming =
                Naming::new(&p).map_err(|e| Error::io("naming", std::io::Error::other(e)))?;
        }
        if let Ok(d) = std::env::var(names::ENV_STATE_DIR) {
            o.state_dir = d.into();
        }
        Ok(o)
    }
}

/// One host of a running lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    /// Its name in the topology.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Its network namespace.
    pub namespace: String,
    /// Its address (on `lab0`; also the source of its delayed traffic).
    pub addr: Ipv6Addr,
}

/// A running lab. Dropping it tears it down; [`Lab::teardown`] does so and reports problems.
pub struct Lab {
    id: LabId,
    naming: Naming,
    prefix: LabPrefix,
    topology: Topology,
    hosts: Vec<HostInfo>,
    hub: String,
    grace: Duration,
    cancel: Option<Arc<AtomicBool>>,
    realtime: Option<u8>,
    state_dir: PathBuf,
    res: Mutex<Resources>,
    processes: Mutex<Vec<Arc<Tracked>>>,
}

/// What exists and must be removed.
#[derive(Default)]
struct Resources {
    namespaces: Vec<String>,
    guard: bool,
    emulator: Option<Emulator>,
    lock: Option<LabLock>,
    torn_down: bool,
}

// === impl Lab ===

impl Lab {
    /// Builds a lab from a validated topology. Needs root; refuses to start over leftovers of
    /// an earlier run. On any error, what was created is removed again.
    pub fn build(topology: &Topology, options: LabOptions) -> Result<Lab, Error> {
        privilege::require_root()?;
        // Held until the lock file and the guard route both exist (see `state`).
        let registry = state::lock_registry(&options.state_dir)?;
        let scan = state::scan_locked(&options.naming, &options.state_dir)?;
        if !scan.leftovers.is_empty() {
            return Err(Error::Leftovers(scan.leftovers));
        }
        let prefix = pick_prefix()?;
        let id = LabId::random();
        let record = LabRecord {
            id: id.to_string(),
            naming: options.naming.prefix().to_string(),
            pid: std::process::id(),
            prefix: prefix.to_string(),
            started_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        let lock = LabLock::acquire(&options.state_dir, &options.naming, id, &record)?;
        let hosts = topology
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| HostInfo {
                name: h.name.clone(),
                role: h.role,
                namespace: options.naming.host(id, &h.name),
                addr: prefix.host(i),
            })
            .collect();
        let lab = Lab {
            id,
            hub: options.naming.hub(id),
            naming: options.naming,
            prefix,
            topology: topology.clone(),
            hosts,
            grace: options.grace,
            cancel: options.cancel,
            realtime: options.realtime,
            res: Mutex::new(Resources {
                lock: Some(lock),
                ..Resources::default()
            }),
            processes: Mutex::new(Vec::new()),
            state_dir: options.state_dir,
        };
        // From here on, an error drops `lab`, which removes whatever was created.
        let started = Instant::now();
        let guarded = lab.add_guard_route();
        // Released before `lab` could be dropped: its teardown takes the registry lock too.
        drop(registry);
        guarded?;
        lab.create()?;
        tracing::info!(lab = %lab.id, prefix = %lab.prefix, hosts = lab.hosts.len(), links = lab.topology.links.len(), took = ?started.elapsed(), "lab up");
        Ok(lab)
    }

    fn check_cancel(&self) -> Result<(), Error> {
        match &self.cancel {
            Some(c) if c.load(Ordering::SeqCst) => Err(Error::Cancelled),
            _ => Ok(()),
        }
    }

    fn add_namespace(&self, ns: &str) -> Result<(), Error> {
        ip(["netns", "add", ns])?;
        self.res
            .lock()
            .expect("resources")
            .namespaces
            .push(ns.to_string());
        Ok(())
    }

    /// The guard first: from now on nothing for P can leave the host namespace.
    fn add_guard_route(&self) -> Result<(), Error> {
        let proto = ROUTE_PROTO.to_string();
        let prefix = self.prefix.to_string();
        ip([
            "-6",
            "route",
            "add",
            "unreachable",
            &prefix,
            "proto",
            &proto,
        ])?;
        self.res.lock().expect("resources").guard = true;
        Ok(())
    }

    fn create(&self) -> Result<(), Error> {
        self.check_cancel()?;
        self.add_namespace(&self.hub)?;
        ip_in(
            &self.hub,
            &[
                "link",
                "add",
                iface::BRIDGE,
                "type",
                "bridge",
                "mcast_snooping",
                "0",
            ],
        )?;
        ip_in(
            &self.hub,
            &["link", "set", iface::BRIDGE, "addrgenmode", "none"],
        )?;
        ip_in(&self.hub, &["link", "set", iface::BRIDGE, "up"])?;

        for (i, h) in self.hosts.iter().enumerate() {
            self.check_cancel()?;
            self.add_namespace(&h.namespace)?;
            quiet_ipv6(&h.namespace)?;
            ip_in(&h.namespace, &["link", "set", "lo", "up"])?;
            let port = format!("h{i}");
            ip_in(
                &self.hub,
                &[
                    "link",
                    "add",
                    &port,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    iface::VETH,
                    "netns",
                    &h.namespace,
                ],
            )?;
            ip_in(
                &self.hub,
                &["link", "set", &port, "master", iface::BRIDGE, "up"],
            )?;
            let addr = format!("{}/64", h.addr);
            ip_in(
                &h.namespace,
                &["-6", "addr", "add", &addr, "dev", iface::VETH, "nodad"],
            )?;
            ip_in(&h.namespace, &["link", "set", iface::VETH, "up"])?;
        }

        // Delayed links: a TUN device in every host that has one, routes to its delayed peers.
        let mut devices = Vec::new();
        for (i, h) in self.hosts.iter().enumerate() {
            let peers: Vec<usize> = self
                .topology
                .links
                .iter()
                .filter_map(|l| {
                    if l.client == i {
                        Some(l.node)
                    } else if l.node == i {
                        Some(l.client)
                    } else {
                        None
                    }
                })
                .collect();
            if peers.is_empty() {
                continue;
            }
            self.check_cancel()?;
            let dev = netns::run_in(&h.namespace, || {
                tun_rs::DeviceBuilder::new()
                    .name(iface::TUN)
                    .mtu(1500)
                    .build_sync()
            })?
            .map_err(|e| Error::io(format!("create {} in {}", iface::TUN, h.namespace), e))?;
            ip_in(
                &h.namespace,
                &["link", "set", iface::TUN, "addrgenmode", "none"],
            )?;
            ip_in(
                &h.namespace,
                &["link", "set", iface::TUN, "txqueuelen", "10000", "up"],
            )?;
            // No queueing discipline on the way in: with one (pfifo_fast by default), a busy
            // machine can defer the hand-over to the TUN device to a softirq thread of
            // ordinary priority, milliseconds late. `txqueuelen` above sizes the device's own
            // ring, which the emulator drains.
            cmd::run(
                "tc",
                [
                    "-n",
                    &h.namespace,
                    "qdisc",
                    "replace",
                    "dev",
                    iface::TUN,
                    "root",
                    "noqueue",
                ],
            )?;
            let src = h.addr.to_string();
            for p in peers {
                let dst = format!("{}/128", self.hosts[p].addr);
                ip_in(
                    &h.namespace,
                    &["-6", "route", "add", &dst, "dev", iface::TUN, "src", &src],
                )?;
            }
            devices.push((i, dev));
        }
        self.check_cancel()?;
        let emulator = Emulator::start(EmulatorPlan {
            prefix: self.prefix,
            hosts: self.hosts.len(),
            devices,
            links: self
                .topology
                .links
                .iter()
                .map(|l| LinkPlan {
                    a: l.client,
                    b: l.node,
                    initial: l.initial,
                    steps: l.steps.clone(),
                })
                .collect(),
            seed: self.topology.seed,
        })?;
        if let (Some(prio), Some(tid)) = (self.realtime, emulator.thread_id()) {
            // `chrt` rather than a system call here: the crate forbids unsafe code.
            match cmd::run(
                "chrt",
                ["--fifo", "--pid", &prio.to_string(), &tid.to_string()],
            ) {
                Ok(_) => tracing::debug!(prio, tid, "emulator thread runs SCHED_FIFO"),
                Err(e) => {
                    tracing::warn!(error = %e, "emulator thread stays SCHED_OTHER; delays may run late on a busy machine")
                }
            }
        }
        self.res.lock().expect("resources").emulator = Some(emulator);
        self.wait_for_bridge()
    }

    /// Waits until every bridge port forwards (immediately without STP, but the kernel brings
    /// ports up asynchronously).
    fn wait_for_bridge(&self) -> Result<(), Error> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = cmd::run("bridge", ["-n", &self.hub, "link", "show"])?;
            let forwarding = out
                .lines()
                .filter(|l| l.contains("state forwarding"))
                .count();
            if forwarding >= self.hosts.len() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Command {
                    command: format!("bridge -n {} link show", self.hub),
                    status: "timeout".into(),
                    stderr: format!(
                        "only {forwarding} of {} bridge ports forward after 10 s",
                        self.hosts.len()
                    ),
                });
            }
            self.check_cancel()?;
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The lab's id.
    pub fn id(&self) -> LabId {
        self.id
    }

    /// The lab's /48.
    pub fn prefix(&self) -> LabPrefix {
        self.prefix
    }

    /// The topology it was built from.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Every host, in address order.
    pub fn hosts(&self) -> &[HostInfo] {
        &self.hosts
    }

    /// The hub namespace (holds the bridge).
    pub fn hub_namespace(&self) -> &str {
        &self.hub
    }

    /// A host by name.
    pub fn host(&self, name: &str) -> Result<&HostInfo, Error> {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .ok_or_else(|| Error::UnknownHost {
                name: name.to_string(),
                known: self
                    .hosts
                    .iter()
                    .map(|h| h.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// A host's address.
    pub fn addr(&self, name: &str) -> Result<Ipv6Addr, Error> {
        Ok(self.host(name)?.addr)
    }

    /// A host's namespace.
    pub fn namespace(&self, name: &str) -> Result<&str, Error> {
        Ok(&self.host(name)?.namespace)
    }

    /// Starts a process on a host; the lab stops it at teardown if it still runs.
    pub fn spawn(&self, host: &str, command: LabCommand) -> Result<LabProcess, Error> {
        let h = self.host(host)?;
        let mut procs = self.processes.lock().expect("processes");
        if self.res.lock().expect("resources").torn_down {
            return Err(Error::TornDown);
        }
        let p = process::spawn(&h.namespace, &h.name, &h.addr.to_string(), command)?;
        procs.push(p.tracked());
        Ok(p)
    }

    /// Runs `f` on a new thread inside a host's namespace (its sockets are that host's).
    pub fn thread_in<T, F>(&self, host: &str, f: F) -> Result<NsThread<T>, Error>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        netns::spawn_in(&self.host(host)?.namespace, f)
    }

    fn link_index(&self, client: &str, node: &str) -> Result<usize, Error> {
        let c = self.topology.host_index(client);
        let n = self.topology.host_index(node);
        if c.is_none() {
            self.host(client)?;
        }
        if n.is_none() {
            self.host(node)?;
        }
        self.topology
            .links
            .iter()
            .position(|l| Some(l.client) == c && Some(l.node) == n)
            .ok_or_else(|| Error::NotALink {
                client: client.to_string(),
                node: node.to_string(),
            })
    }

    /// Changes the delay of a (client, node) link from now on, both directions. A timed step
    /// of the topology that comes later overrides it.
    pub fn set_delay(&self, client: &str, node: &str, to: Delay) -> Result<(), Error> {
        let i = self.link_index(client, node)?;
        let res = self.res.lock().expect("resources");
        let emu = res.emulator.as_ref().ok_or(Error::TornDown)?;
        emu.set_delay(i, to);
        tracing::info!(client, node, delay = ?to.delay, jitter = ?to.jitter, "link delay changed");
        Ok(())
    }

    /// The current delay of a (client, node) link.
    pub fn delay(&self, client: &str, node: &str) -> Result<Delay, Error> {
        let i = self.link_index(client, node)?;
        let res = self.res.lock().expect("resources");
        Ok(res.emulator.as_ref().ok_or(Error::TornDown)?.delay(i))
    }

    /// The emulator's counters.
    pub fn stats(&self) -> Result<EmulatorStats, Error> {
        let res = self.res.lock().expect("resources");
        Ok(res.emulator.as_ref().ok_or(Error::TornDown)?.stats())
    }

    /// How late the emulator released packets against their deadlines (ns) since the last
    /// call; see [`Emulator::take_lateness`](crate::emulator::Emulator::take_lateness).
    pub fn take_emulator_lateness(&self) -> Result<hdrhistogram::Histogram<u64>, Error> {
        let res = self.res.lock().expect("resources");
        Ok(res
            .emulator
            .as_ref()
            .ok_or(Error::TornDown)?
            .take_lateness())
    }

    /// Whether the emulator thread runs with real-time priority.
    pub fn emulator_is_realtime(&self) -> bool {
        self.emulator_thread_id()
            .and_then(|tid| std::fs::read_to_string(format!("/proc/self/task/{tid}/sched")).ok())
            .is_some_and(|s| {
                s.lines()
                    .any(|l| l.starts_with("policy") && l.trim_end().ends_with('1'))
            })
    }

    /// The emulator thread's id (its CPU time is in `/proc/self/task/TID/stat`).
    pub fn emulator_thread_id(&self) -> Option<i32> {
        self.res
            .lock()
            .expect("resources")
            .emulator
            .as_ref()?
            .thread_id()
    }

    /// A human-readable table of the hosts and links.
    pub fn describe(&self) -> String {
        use std::fmt::Write;
        let mut s = format!(
            "lab {} ({}), hub namespace {}\n",
            self.id, self.prefix, self.hub
        );
        for h in &self.hosts {
            let _ = writeln!(
                s,
                "  {:<7} {:<16} {:<28} {}",
                h.role, h.name, h.addr, h.namespace
            );
        }
        for l in &self.topology.links {
            let (c, n) = (&self.hosts[l.client].name, &self.hosts[l.node].name);
            let _ = write!(s, "  link {c} ↔ {n}: {:?}", l.initial.delay);
            if !l.initial.jitter.is_zero() {
                let _ = write!(s, " ± {:?}", l.initial.jitter);
            }
            for st in &l.steps {
                let _ = write!(s, ", after {:?} → {:?}", st.after, st.to.delay);
            }
            s.push('\n');
        }
        s
    }

    /// Removes everything: stops processes (SIGTERM, SIGKILL after the grace period), stops
    /// the emulator, kills whatever still runs inside the namespaces, deletes the namespaces
    /// (with their bridge, veths and TUN devices), the guard route and the lock file.
    /// Idempotent; continues past failures and reports them all.
    pub fn teardown(&self) -> Result<(), Error> {
        let procs: Vec<Arc<Tracked>> =
            std::mem::take(&mut *self.processes.lock().expect("processes"));
        let mut res = self.res.lock().expect("resources");
        if res.torn_down {
            return Ok(());
        }
        res.torn_down = true;
        let mut problems = Vec::new();

        // 1. Processes: all get SIGTERM at once, then up to the grace period together.
        for p in &procs {
            p.signal(Signal::SIGTERM);
        }
        let deadline = Instant::now() + self.grace;
        for p in &procs {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Err(e) = p.stop(left) {
                problems.push(e.to_string());
            }
        }
        // 2. The emulator (closes the TUN devices, which hold their namespaces).
        if let Some(mut emu) = res.emulator.take() {
            emu.stop();
        }
        // 3. Anything else still inside (e.g. a daemon that left its process group).
        for ns in &res.namespaces {
            let killed = state::kill_all_in(ns);
            if !killed.is_empty() {
                tracing::warn!(namespace = %ns, pids = ?killed, "killed leftover processes");
            }
        }
        // 4. Namespaces, hosts before the hub (deleting one end of a veth deletes both).
        for ns in res.namespaces.drain(..).rev() {
            if let Err(e) = ip(["netns", "del", &ns]) {
                problems.push(e.to_string());
            }
        }
        // 5. The guard route, then the lock, together under the registry lock (see `state`).
        let registry = match state::lock_registry(&self.state_dir) {
            Ok(r) => Some(r),
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        };
        if std::mem::take(&mut res.guard) {
            let proto = ROUTE_PROTO.to_string();
            let prefix = self.prefix.to_string();
            if let Err(e) = ip([
                "-6",
                "route",
                "del",
                "unreachable",
                &prefix,
                "proto",
                &proto,
            ]) {
                problems.push(e.to_string());
            }
        }
        // 6. The lock, last: until here a crash leaves a recognisable leftover.
        if problems.is_empty() && registry.is_some() {
            if let Some(lock) = res.lock.take()
                && let Err(e) = lock.release()
            {
                problems.push(e.to_string());
            }
        } else {
            // Keep the lock file: `down --all` finds what is left once this process exits.
            drop(res.lock.take());
        }
        drop(registry);
        if problems.is_empty() {
            tracing::info!(lab = %self.id, "lab torn down");
            Ok(())
        } else {
            Err(Error::Teardown {
                problems,
                command: state::down_command(&self.naming),
            })
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            tracing::error!(error = %e, "lab teardown");
            eprintln!("mulambda-netlab: {e}");
        }
    }
}

/// A random /48 that overlaps no route of the host namespace (so the lab never shadows a
/// network the machine uses) and no running lab's (whose guard route would then clash).
fn pick_prefix() -> Result<LabPrefix, Error> {
    let routes = cmd::ipv6_route_destinations(None)?;
    for _ in 0..100 {
        let p = LabPrefix::random();
        if !routes.iter().any(|r| p.overlaps(r)) {
            return Ok(p);
        }
    }
    Err(Error::io(
        "pick a lab prefix",
        std::io::Error::other("every random /48 overlapped a host route"),
    ))
}

/// IPv6 settings of a fresh namespace: no duplicate address detection (addresses are unique by
/// construction, and DAD would hold them tentative for a second or more), no router
/// solicitations (there is no router; they would only be noise on the links).
fn quiet_ipv6(ns: &str) -> Result<(), Error> {
    let ns_name = ns.to_string();
    netns::run_in(ns, move || -> Result<(), Error> {
        for (key, value) in [
            ("net/ipv6/conf/all/accept_dad", "0"),
            ("net/ipv6/conf/default/accept_dad", "0"),
            ("net/ipv6/conf/all/router_solicitations", "0"),
            ("net/ipv6/conf/default/router_solicitations", "0"),
        ] {
            std::fs::write(format!("/proc/sys/{key}"), value)
                .map_err(|e| Error::io(format!("set {key} in {ns_name}"), e))?;
        }
        Ok(())
    })?
}
