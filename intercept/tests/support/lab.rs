//! A network namespace of its own per test: only `lo`, an extra IPv4 and IPv6 address on it where
//! "TF Serving" resolves, no route out. Removed on drop, also when the test panics.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};
use std::os::fd::AsFd;

/// The name the application calls, resolved through `/etc/netns/NAME/hosts`.
pub const TF_HOST: &str = "tf-serving.models.example";
/// The second loopback IPv4 address where TF Serving "is" (nothing listens there).
pub const TF_V4: Ipv4Addr = Ipv4Addr::new(127, 77, 0, 2);
/// Prefix of every namespace these tests create, so leftovers are recognisable.
const NAME_PREFIX: &str = "mulambda-intercept-test-";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Which of the namespace's addresses `TF_HOST` resolves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// The extra 127.x address.
    V4,
    /// The ULA address.
    V6,
}

/// One test's network namespace.
pub struct Lab {
    name: String,
    family: Family,
    v6: Ipv6Addr,
    /// The random /48 the IPv6 address is from; `unreachable` in the host while the lab lives.
    prefix: String,
    route_added: bool,
    etc_dir: PathBuf,
}

/// Whether the test runs as root; when not, prints why the test is skipped.
pub fn root_or_skip(test: &str) -> bool {
    let euid = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(str::to_owned))
        })
        .unwrap_or_default();
    if euid == "0" {
        true
    } else {
        eprintln!(
            "skipped {test}: network namespaces and nftables need root (CI runs as root); \
             effective uid here is {euid}"
        );
        false
    }
}

/// Runs a command to completion, panicking with its output when it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

// === impl Lab ===

impl Lab {
    /// Creates the namespace; `TF_HOST` resolves to the `family` address in it.
    pub fn new(family: Family) -> Lab {
        sweep_leftovers();
        let name = format!(
            "{NAME_PREFIX}{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let r: [u8; 5] = rand::random();
        let prefix = format!(
            "fd{:02x}:{:02x}{:02x}:{:02x}{:02x}::/48",
            r[0], r[1], r[2], r[3], r[4]
        );
        let v6 = Ipv6Addr::new(
            0xfd00 | u16::from(r[0]),
            u16::from_be_bytes([r[1], r[2]]),
            u16::from_be_bytes([r[3], r[4]]),
            0,
            0,
            0,
            0,
            2,
        );
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        // From here on, Drop cleans up whatever was set up.
        let mut lab = Lab {
            etc_dir: PathBuf::from("/etc/netns").join(&name),
            name,
            family,
            v6,
            prefix,
            route_added: false,
        };
        lab.ip(&["link", "set", "lo", "up"]);
        lab.ip(&["addr", "add", &format!("{TF_V4}/32"), "dev", "lo"]);
        lab.ip(&["addr", "add", &format!("{v6}/128"), "dev", "lo", "nodad"]);
        // Should anything ever route the /48 in the host, it ends here, not on a real network.
        run_ok(Command::new("ip").args(["-6", "route", "add", "unreachable", &lab.prefix]));
        lab.route_added = true;
        fs::create_dir_all(&lab.etc_dir).expect("create /etc/netns/NAME");
        fs::write(
            lab.etc_dir.join("hosts"),
            format!(
                "127.0.0.1 localhost\n::1 localhost ip6-localhost\n{} {TF_HOST}\n",
                lab.tf_addr()
            ),
        )
        .expect("write /etc/netns/NAME/hosts");
        lab.assert_no_way_out();
        lab
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address `TF_HOST` resolves to.
    pub fn tf_addr(&self) -> IpAddr {
        match self.family {
            Family::V4 => IpAddr::V4(TF_V4),
            Family::V6 => IpAddr::V6(self.v6),
        }
    }

    /// `ip -n NAME ARGS`, which must succeed.
    pub fn ip(&self, args: &[&str]) -> Output {
        run_ok(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// `program args` inside the namespace (through `ip netns exec`, which also bind-mounts
    /// `/etc/netns/NAME/hosts`), without any HTTP proxy settings of the environment.
    pub fn exec(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program])
            .args(args)
            .stdin(Stdio::null());
        for var in [
            "http_proxy",
            "HTTP_PROXY",
            "https_proxy",
            "HTTPS_PROXY",
            "all_proxy",
            "ALL_PROXY",
            "no_proxy",
            "NO_PROXY",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    /// Binds a TCP listener inside the namespace (from a short-lived thread that enters it:
    /// a socket stays in the namespace it was created in). `dual_stack` makes an IPv6 wildcard
    /// listener accept IPv4 too (IPv4-mapped), as a proxy on `[::]` would.
    pub fn bind(&self, addr: SocketAddr, dual_stack: bool) -> TcpListener {
        let path = PathBuf::from("/run/netns").join(&self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let ns = fs::File::open(&path).expect("open /run/netns/NAME");
                move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network))
                    .expect("setns into the lab");
                let domain = socket2::Domain::for_address(addr);
                let socket =
                    socket2::Socket::new(domain, socket2::Type::STREAM, None).expect("socket");
                if addr.is_ipv6() {
                    socket.set_only_v6(!dual_stack).expect("IPV6_V6ONLY");
                }
                socket.set_reuse_address(true).expect("SO_REUSEADDR");
                socket
                    .bind(&addr.into())
                    .unwrap_or_else(|e| panic!("bind {addr} in the lab: {e}"));
                socket.listen(128).expect("listen");
                socket.set_nonblocking(true).expect("nonblocking");
                TcpListener::from(socket)
            })
            .join()
            .expect("bind thread")
        })
    }

    /// Runs the init binary inside the namespace.
    pub fn intercept(&self, args: &[&str]) -> Output {
        let bin = intercept_binary().expect("the mulambda-intercept binary (see intercept_binary)");
        self.exec(&bin.to_string_lossy(), args)
            .output()
            .expect("run mulambda-intercept")
    }

    /// Starts a long-running `program args` inside the namespace, optionally as `uid` (through
    /// `setpriv`), stderr into `log`, stdout piped when `capture_stdout` (read it with
    /// [`LabProcess::stdout`]) or into `log` too; killed when the guard drops.
    pub fn spawn(
        &self,
        program: &Path,
        args: &[&str],
        uid: Option<u32>,
        envs: &[(&str, String)],
        log: &Path,
        capture_stdout: bool,
    ) -> LabProcess {
        let program = program.to_string_lossy().into_owned();
        let mut cmd = match uid {
            None => self.exec(&program, args),
            Some(uid) => {
                let uid = uid.to_string();
                let mut all = vec!["--reuid", &uid, "--regid", &uid, "--clear-groups", &program];
                all.extend(args);
                self.exec("setpriv", &all)
            }
        };
        let log_file = fs::File::create(log).expect("create the process log");
        let stdout = if capture_stdout {
            Stdio::piped()
        } else {
            Stdio::from(log_file.try_clone().expect("clone the log file"))
        };
        cmd.envs(envs.iter().map(|(k, v)| (k, v)))
            .stdout(stdout)
            .stderr(log_file);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        LabProcess {
            name: program,
            child,
            log: log.to_path_buf(),
        }
    }

    /// `nft list ruleset` inside the namespace.
    pub fn ruleset(&self) -> String {
        let out = run_ok(&mut self.exec("nft", &["list", "ruleset"]));
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// `nft list table inet mulambda`, or `None` when absent.
    pub fn mulambda_table(&self) -> Option<String> {
        let out = self
            .exec("nft", &["list", "table", "inet", "mulambda"])
            .output()
            .expect("run nft");
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).expect("utf-8"))
    }

    /// The lab's traffic cannot leave it: `lo` is its only interface and it has no routes but
    /// the local ones.
    fn assert_no_way_out(&self) {
        let links = String::from_utf8(self.ip(&["-o", "link", "show"]).stdout).unwrap();
        let names: Vec<&str> = links
            .lines()
            .filter_map(|l| l.split(':').nth(1).map(str::trim))
            .collect();
        assert_eq!(names, ["lo"], "the lab has only loopback: {links}");
        for family in ["-4", "-6"] {
            let routes = String::from_utf8(self.ip(&[family, "route", "show"]).stdout).unwrap();
            assert!(
                !routes.contains("default") && !routes.contains("via"),
                "the lab has no route out: {routes}"
            );
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let warn = |what: &str, r: std::io::Result<Output>| match r {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "lab cleanup: {what} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("lab cleanup: {what}: {e}"),
        };
        warn(
            "ip netns del",
            Command::new("ip")
                .args(["netns", "del", &self.name])
                .output(),
        );
        if self.route_added {
            warn(
                "ip -6 route del",
                Command::new("ip")
                    .args(["-6", "route", "del", "unreachable", &self.prefix])
                    .output(),
            );
        }
        if let Err(e) = fs::remove_dir_all(&self.etc_dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("lab cleanup: remove {}: {e}", self.etc_dir.display());
        }
    }
}

/// A process started inside a lab; killed (SIGKILL) and reaped when dropped, before the lab
/// (declare it after the lab).
pub struct LabProcess {
    name: String,
    child: Child,
    log: PathBuf,
}

impl LabProcess {
    /// Its standard output, to read start-up lines from.
    pub fn stdout(&mut self) -> std::process::ChildStdout {
        self.child.stdout.take().expect("stdout taken once")
    }

    /// Panics, with its log, when the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited ({status}):\n{}", self.name, self.log_text());
        }
    }

    /// What it wrote to its log so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `mulambda-intercept` binary: Cargo's path when this is the intercept crate's test, else
/// the one a workspace build put in the target directory (see [`workspace_binary`]).
pub fn intercept_binary() -> Option<PathBuf> {
    match option_env!("CARGO_BIN_EXE_mulambda-intercept") {
        Some(path) => Some(PathBuf::from(path)),
        None => workspace_binary("mulambda-intercept"),
    }
}

/// A binary of another workspace crate: Cargo gives a test only its own crate's binaries, but a
/// workspace build (`cargo nextest run --workspace`, CI) puts all of them in the target
/// directory this test binary runs from (`target/<profile>/deps/<test>`).
pub fn workspace_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Removes namespaces (and their /etc/netns entries) left by a test process that was killed
/// before its guards ran: the name carries the pid, and that pid no longer exists.
fn sweep_leftovers() {
    let Ok(entries) = fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(NAME_PREFIX)
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if PathBuf::from("/proc").join(pid).exists() {
            continue;
        }
        eprintln!("removing namespace {name} left by a killed test run");
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let _ = fs::remove_dir_all(PathBuf::from("/etc/netns").join(&name));
    }
}
