//! Which labs are running and what earlier runs left behind.
//!
//! A running lab holds an exclusive `flock` on its lock file (`STATE_DIR/PREFIX-LABID.lock`,
//! holding a [`LabRecord`]) from before it creates anything until after it removed everything.
//! The kernel drops the lock when the process dies, however it dies, so "namespace or route
//! whose lab holds no lock" is exactly "left behind" — even with several labs running at once
//! (tests, other users) and after PID reuse. Guard routes carry the routing protocol number
//! [`ROUTE_PROTO`] so they are recognisable without any lock file.
//!
//! The guard route and the lock file change together: a lab adds its route after creating its
//! lock file and removes it before removing the lock file, both while holding the registry lock
//! (`STATE_DIR/.registry.lock`), and every scan holds it too. Without it, a scan that lists lock
//! files and then routes could see the route of a lab that started in between and call it a
//! leftover.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::addr::LabPrefix;
use crate::cmd;
use crate::error::Error;
use crate::names::{DEFAULT_PREFIX, LabId, Naming};

/// Routing protocol number of the guard routes (`ip -6 route show proto 211`): unassigned in
/// iproute2's list, so no other software's routes carry it.
pub const ROUTE_PROTO: u8 = 211;

/// What a lock file says about its lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabRecord {
    /// The lab's id.
    pub id: String,
    /// The naming prefix of its namespaces.
    pub naming: String,
    /// The process that runs it.
    pub pid: u32,
    /// Its /48.
    pub prefix: String,
    /// Unix time it started.
    pub started_unix: u64,
}

/// The lock a running lab holds; [`LabLock::release`] removes the file.
pub struct LabLock {
    lock: Flock<File>,
    path: PathBuf,
}

/// A lab whose process holds its lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveLab {
    /// Its lock file.
    pub path: PathBuf,
    /// Its record (when readable).
    pub record: Option<LabRecord>,
}

/// What earlier runs left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// Namespaces of labs that are not running.
    pub namespaces: Vec<String>,
    /// Guard routes (destinations) of labs that are not running.
    pub routes: Vec<String>,
    /// Lock files of labs that are not running.
    pub lock_files: Vec<PathBuf>,
    /// The command that removes them.
    pub down_command: String,
}

/// Running labs and leftovers.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// Labs that are running (any naming prefix).
    pub live: Vec<LiveLab>,
    /// What dead labs left.
    pub leftovers: Leftovers,
}

/// What [`down`] did.
#[derive(Debug, Clone, Default)]
pub struct DownReport {
    /// Namespaces removed.
    pub namespaces: Vec<String>,
    /// Guard routes removed.
    pub routes: Vec<String>,
    /// Lock files removed.
    pub lock_files: Vec<PathBuf>,
    /// Processes killed (they were still inside leftover namespaces).
    pub killed: Vec<i32>,
    /// Running labs, left alone.
    pub live: Vec<LiveLab>,
    /// What could not be removed, and why.
    pub problems: Vec<String>,
}

// === impl LabLock ===

impl LabLock {
    /// Creates and locks the lock file of lab `id`. The file appears under its final name only
    /// once locked, so no scan ever sees it unlocked while the lab lives.
    pub fn acquire(
        dir: &Path,
        naming: &Naming,
        id: LabId,
        record: &LabRecord,
    ) -> Result<LabLock, Error> {
        fs::create_dir_all(dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        let path = dir.join(naming.lock_file(id));
        let tmp = dir.join(format!(".{}.{}", naming.lock_file(id), std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io(format!("create {}", tmp.display()), e))?;
        let locked = Flock::lock(file, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| Error::io(format!("lock {}", tmp.display()), std::io::Error::from(e)))
            .and_then(|mut lock| {
                let json = serde_json::to_string_pretty(record).expect("a record serialises");
                lock.write_all(json.as_bytes())
                    .and_then(|()| lock.flush())
                    .map_err(|e| Error::io(format!("write {}", tmp.display()), e))?;
                fs::rename(&tmp, &path)
                    .map_err(|e| Error::io(format!("rename to {}", path.display()), e))?;
                Ok(lock)
            });
        let lock = locked.inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })?;
        Ok(LabLock { lock, path })
    }

    /// Removes the lock file, then lets go of the lock.
    pub fn release(self) -> Result<(), Error> {
        let removed = fs::remove_file(&self.path);
        drop(self.lock);
        removed.map_err(|e| Error::io(format!("remove {}", self.path.display()), e))
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

// === impl Leftovers ===

impl Leftovers {
    /// Whether nothing was left behind.
    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty() && self.routes.is_empty() && self.lock_files.is_empty()
    }
}

impl fmt::Display for Leftovers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "an earlier mulambda-netlab run left things behind (its process is gone):"
        )?;
        if !self.namespaces.is_empty() {
            writeln!(f, "  namespaces: {}", self.namespaces.join(", "))?;
        }
        for r in &self.routes {
            writeln!(f, "  host route: unreachable {r} proto {ROUTE_PROTO}")?;
        }
        for p in &self.lock_files {
            writeln!(f, "  lock file: {}", p.display())?;
        }
        write!(f, "remove them with: {}", self.down_command)
    }
}

/// The command that removes leftovers of this naming scheme.
pub fn down_command(naming: &Naming) -> String {
    if naming.prefix() == DEFAULT_PREFIX {
        "mulambda-netlab down --all".into()
    } else {
        format!("mulambda-netlab down --all --prefix {}", naming.prefix())
    }
}

/// Holds the registry lock (see the module docs) until dropped.
pub struct RegistryGuard {
    _lock: Flock<File>,
}

/// Takes the registry lock, waiting for whoever holds it (holders keep it for milliseconds).
pub fn lock_registry(dir: &Path) -> Result<RegistryGuard, Error> {
    fs::create_dir_all(dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    let path = dir.join(".registry.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
    let lock = Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| Error::io(format!("lock {}", path.display()), std::io::Error::from(e)))?;
    Ok(RegistryGuard { _lock: lock })
}

/// Finds running labs (any prefix) and what dead labs of this naming scheme left (plus guard
/// routes that no lock file explains).
pub fn scan(naming: &Naming, dir: &Path) -> Result<Scan, Error> {
    let _registry = lock_registry(dir)?;
    scan_locked(naming, dir)
}

/// [`scan`] for a caller that holds the registry lock.
pub fn scan_locked(naming: &Naming, dir: &Path) -> Result<Scan, Error> {
    let mut live = Vec::new();
    let mut dead_locks = Vec::new();
    // (prefix, naming) of every dead lab with a readable lock file, whatever its naming.
    let mut dead_records: Vec<(LabPrefix, String)> = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(Result::ok).map(|e| e.path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(format!("read {}", dir.display()), e)),
    };
    for path in entries {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.starts_with('.') || !name.ends_with(".lock") {
            continue;
        }
        let Ok(file) = OpenOptions::new().read(true).open(&path) else {
            continue;
        };
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(unlocked_by_drop) => {
                drop(unlocked_by_drop);
                let record: Option<LabRecord> = fs::read_to_string(&path)
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok());
                if let Some(r) = record
                    && let Some(p) = LabPrefix::parse(&r.prefix)
                {
                    dead_records.push((p, r.naming));
                }
                if naming.lab_of_lock_file(name).is_some() {
                    dead_locks.push(path);
                }
            }
            Err((_, Errno::EWOULDBLOCK)) => {
                let record = fs::read_to_string(&path)
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok());
                live.push(LiveLab { path, record });
            }
            Err((_, e)) => {
                return Err(Error::io(
                    format!("lock {}", path.display()),
                    std::io::Error::from(e),
                ));
            }
        }
    }
    let live_ids: Vec<LabId> = live
        .iter()
        .filter_map(|l| l.path.file_name()?.to_str())
        .filter_map(|n| naming.lab_of_lock_file(n))
        .collect();
    let live_prefixes: Vec<LabPrefix> = live
        .iter()
        .filter_map(|l| LabPrefix::parse(&l.record.as_ref()?.prefix))
        .collect();

    let mut namespaces: Vec<String> = cmd::netns_list()?
        .into_iter()
        .filter(|ns| {
            naming
                .lab_of_namespace(ns)
                .is_some_and(|id| !live_ids.contains(&id))
        })
        .collect();
    namespaces.sort();
    // A guard route is this naming's leftover unless a running lab owns it or a dead lab of
    // another naming does (that one's `down` removes it); a route no lock file explains is
    // everyone's leftover.
    let routes: Vec<String> = cmd::ipv6_route_destinations(Some(ROUTE_PROTO))?
        .into_iter()
        .filter(|dst| match LabPrefix::parse(dst) {
            None => true,
            Some(p) if live_prefixes.contains(&p) => false,
            Some(p) => dead_records
                .iter()
                .find(|(q, _)| *q == p)
                .is_none_or(|(_, n)| n == naming.prefix()),
        })
        .collect();
    dead_locks.sort();
    Ok(Scan {
        live,
        leftovers: Leftovers {
            namespaces,
            routes,
            lock_files: dead_locks,
            down_command: down_command(naming),
        },
    })
}

/// Removes everything dead labs left behind (processes still inside their namespaces, the
/// namespaces, guard routes, lock files); running labs are left alone and listed.
pub fn down(naming: &Naming, dir: &Path) -> Result<DownReport, Error> {
    let _registry = lock_registry(dir)?;
    let scan = scan_locked(naming, dir)?;
    let mut report = DownReport {
        live: scan.live,
        ..DownReport::default()
    };
    let left = scan.leftovers;
    for ns in &left.namespaces {
        report.killed.extend(kill_all_in(ns));
        match cmd::ip(["netns", "del", ns]) {
            Ok(_) => report.namespaces.push(ns.clone()),
            Err(e) => report.problems.push(e.to_string()),
        }
    }
    for dst in &left.routes {
        let proto = ROUTE_PROTO.to_string();
        match cmd::ip(["-6", "route", "del", "unreachable", dst, "proto", &proto]) {
            Ok(_) => report.routes.push(dst.clone()),
            Err(e) => report.problems.push(e.to_string()),
        }
    }
    for path in &left.lock_files {
        match fs::remove_file(path) {
            Ok(()) => report.lock_files.push(path.clone()),
            Err(e) => report
                .problems
                .push(format!("remove {}: {e}", path.display())),
        }
    }
    Ok(report)
}

/// The naming prefixes of labs that left a lock file and are not running (e.g. test runs with
/// prefixes of their own that were killed), for `down --all --every-prefix`.
pub fn dead_namings(dir: &Path) -> Result<Vec<Naming>, Error> {
    let _registry = lock_registry(dir)?;
    let mut namings: Vec<Naming> = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(namings),
        Err(e) => return Err(Error::io(format!("read {}", dir.display()), e)),
    };
    for path in entries.filter_map(Result::ok).map(|e| e.path()) {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some((prefix, _)) = name.strip_suffix(".lock").and_then(|n| n.rsplit_once('-')) else {
            continue;
        };
        let Ok(naming) = Naming::new(prefix) else {
            continue;
        };
        let Ok(file) = OpenOptions::new().read(true).open(&path) else {
            continue;
        };
        // Unlocked: its lab is gone.
        if Flock::lock(file, FlockArg::LockExclusiveNonblock).is_ok() && !namings.contains(&naming)
        {
            namings.push(naming);
        }
    }
    Ok(namings)
}

/// Kills (SIGKILL) every process inside a namespace and waits up to 2 s for them to go.
/// Returns the killed pids.
pub fn kill_all_in(ns: &str) -> Vec<i32> {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let mut killed = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let pids = cmd::netns_pids(ns).unwrap_or_default();
        let pids: Vec<i32> = pids
            .into_iter()
            .filter(|&p| p != std::process::id() as i32)
            .collect();
        if pids.is_empty() || std::time::Instant::now() > deadline {
            break;
        }
        for &p in &pids {
            if kill(Pid::from_raw(p), Signal::SIGKILL).is_ok() && !killed.contains(&p) {
                killed.push(p);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    killed
}
