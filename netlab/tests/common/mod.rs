//! Helpers shared by the lab's integration tests. They need root (namespaces, TUN devices);
//! without it each test prints a skip message and passes. Every test's traffic stays inside
//! the lab it built.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use mulambda_netlab::{Lab, LabOptions, Naming};

/// Whether the test can run; prints why not otherwise.
pub fn root_or_skip(test: &str) -> bool {
    if mulambda_netlab::privilege::is_root() {
        true
    } else {
        eprintln!("skipping {test}: needs root (network namespaces, TUN devices)");
        false
    }
}

/// A naming prefix no other test uses, for tests that leave or look for leftovers.
pub fn unique_naming() -> Naming {
    let n: u32 = rand::random::<u32>() & 0xff_ffff;
    Naming::new(&format!("t{n:06x}")).unwrap()
}

/// Options with a prefix of this test's own.
pub fn options(naming: &Naming) -> LabOptions {
    LabOptions {
        naming: naming.clone(),
        grace: Duration::from_secs(2),
        ..LabOptions::default()
    }
}

/// Starts a TCP echo server on a host of the lab (a thread inside its namespace); returns the
/// address it listens on. It answers every connection until the lab is torn down.
pub fn echo_server(lab: &Lab, host: &str, port: u16) -> SocketAddr {
    let addr = SocketAddr::new(lab.addr(host).unwrap().into(), port);
    let listener = lab
        .thread_in(host, move || TcpListener::bind(addr))
        .unwrap()
        .join()
        .unwrap()
        .unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 512];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A TCP connection from `host` to `to` (connected inside the host's namespace).
pub fn connect(lab: &Lab, host: &str, to: SocketAddr) -> TcpStream {
    let s = lab
        .thread_in(host, move || {
            TcpStream::connect_timeout(&to, Duration::from_secs(20))
        })
        .unwrap()
        .join()
        .unwrap()
        .unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// One request/response over an established connection; its round-trip time.
pub fn round_trip(s: &mut TcpStream) -> Duration {
    let t = Instant::now();
    s.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    t.elapsed()
}

/// The median of `n` round trips.
pub fn median_round_trip(s: &mut TcpStream, n: usize) -> Duration {
    let mut v: Vec<Duration> = (0..n).map(|_| round_trip(s)).collect();
    v.sort();
    v[n / 2]
}

/// What is left of a lab in the host namespace: its namespaces, its guard route, its lock
/// file. Empty when it was removed completely.
pub fn remains(naming: &Naming, id: &str, prefix: &str) -> Vec<String> {
    let mut left = Vec::new();
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let marker = format!("{}-{id}", naming.prefix());
    for line in String::from_utf8_lossy(&list.stdout).lines() {
        if line.starts_with(&marker) {
            left.push(format!("namespace {line}"));
        }
    }
    let routes = std::process::Command::new("ip")
        .args(["-6", "route", "show", "table", "all"])
        .output()
        .unwrap();
    for line in String::from_utf8_lossy(&routes.stdout).lines() {
        if line.contains(prefix.trim_end_matches("::/48")) {
            left.push(format!("route {line}"));
        }
    }
    let links = std::process::Command::new("ip")
        .args(["-d", "link", "show"])
        .output()
        .unwrap();
    for line in String::from_utf8_lossy(&links.stdout).lines() {
        if line.contains(&marker) {
            left.push(format!("link {line}"));
        }
    }
    let lock = format!("/run/mulambda-netlab/{}-{id}.lock", naming.prefix());
    if std::path::Path::new(&lock).exists() {
        left.push(format!("lock file {lock}"));
    }
    left
}

/// Waits for `cond` up to `timeout`.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}
