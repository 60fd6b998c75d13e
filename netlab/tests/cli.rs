//! The `mulambda-netlab` binary: it cleans up on success, on error, on Ctrl-C (SIGINT) and on
//! SIGTERM; a killed run's leftovers are named by the next start and removed by `down --all`;
//! without root it refuses with a clear message.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::*;
use mulambda_netlab::Naming;

const BIN: &str = env!("CARGO_BIN_EXE_mulambda-netlab");

const SMALL: &str = r#"
[[infra]]
name = "infra"
[[node]]
name = "node0"
delay = "10ms"
[[client]]
name = "client0"
"#;

fn topology_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("small.toml");
    std::fs::write(&path, SMALL).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    (dir, path)
}

fn netlab(naming: &Naming) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--prefix").arg(naming.prefix()).stdin(Stdio::null());
    c
}

/// Starts `up`, waits for its `ready` line; returns the child, the lab id and its prefix.
fn up(naming: &Naming, topology: &PathBuf) -> (Child, String, String) {
    let mut child = netlab(naming)
        .arg("up")
        .arg(topology)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut prefix = String::new();
    loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            panic!("`up` ended before `ready`: {:?}", child.wait());
        };
        // First line: "lab ID (PREFIX), hub namespace …"
        if line.starts_with("lab ") && prefix.is_empty() {
            prefix = line.split(['(', ')']).nth(1).unwrap().to_string();
        }
        if let Some(rest) = line.strip_prefix("ready: lab ") {
            let id = rest.split_whitespace().next().unwrap().to_string();
            // Keep draining stdout so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return (child, id, prefix);
        }
    }
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let mut status = None;
    assert!(
        wait_for(Duration::from_secs(60), || {
            status = child.try_wait().unwrap();
            status.is_some()
        }),
        "the lab process did not exit"
    );
    status.unwrap()
}

fn signal_tears_down(signal: nix::sys::signal::Signal, code: i32) {
    let naming = unique_naming();
    let (_dir, topology) = topology_file();
    let (mut child, id, prefix) = up(&naming, &topology);
    assert!(!remains(&naming, &id, &prefix).is_empty(), "the lab is up");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let status = wait_exit(&mut child);
    assert_eq!(status.code(), Some(code), "{status:?}");
    assert_eq!(remains(&naming, &id, &prefix), Vec::<String>::new());
}

#[test]
fn ctrl_c_tears_the_lab_down() {
    if root_or_skip("ctrl_c_tears_the_lab_down") {
        signal_tears_down(nix::sys::signal::Signal::SIGINT, 130);
    }
}

#[test]
fn sigterm_tears_the_lab_down() {
    if root_or_skip("sigterm_tears_the_lab_down") {
        signal_tears_down(nix::sys::signal::Signal::SIGTERM, 143);
    }
}

fn run(naming: &Naming, topology: &PathBuf, command: &[&str]) -> Output {
    netlab(naming)
        .arg("run")
        .arg(topology)
        .args(["--on", "client0", "--"])
        .args(command)
        .output()
        .unwrap()
}

fn no_leftovers(naming: &Naming) {
    let out = netlab(naming).arg("status").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("no leftovers"), "{text}");
}

#[test]
fn run_passes_on_the_commands_status_and_cleans_up() {
    if !root_or_skip("run_passes_on_the_commands_status_and_cleans_up") {
        return;
    }
    let naming = unique_naming();
    let (_dir, topology) = topology_file();
    // The command runs inside client0: its lab0 carries the lab's address.
    let out = run(
        &naming,
        &topology,
        &[
            "sh",
            "-c",
            "ip -6 -brief addr show dev lab0 | grep -q fd && exit 7",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    no_leftovers(&naming);
}

#[test]
fn run_cleans_up_when_the_command_cannot_start() {
    if !root_or_skip("run_cleans_up_when_the_command_cannot_start") {
        return;
    }
    let naming = unique_naming();
    let (_dir, topology) = topology_file();
    let out = run(&naming, &topology, &["/nonexistent/program"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent/program"), "{stderr}");
    no_leftovers(&naming);
}

#[test]
fn a_killed_run_is_named_by_the_next_start_and_removed_by_down() {
    if !root_or_skip("a_killed_run_is_named_by_the_next_start_and_removed_by_down") {
        return;
    }
    let naming = unique_naming();
    let (_dir, topology) = topology_file();
    let (mut child, id, prefix) = up(&naming, &topology);
    child.kill().unwrap(); // SIGKILL: no chance to clean up.
    child.wait().unwrap();
    assert!(!remains(&naming, &id, &prefix).is_empty());

    let out = netlab(&naming).arg("up").arg(&topology).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}-{id}-node0", naming.prefix())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&prefix),
        "the guard route is named: {stderr}"
    );
    let down = format!("mulambda-netlab down --all --prefix {}", naming.prefix());
    assert!(stderr.contains(&down), "{stderr}");

    let status = netlab(&naming).arg("status").output().unwrap();
    assert_eq!(status.status.code(), Some(3));

    // `--every-prefix` from the default prefix finds this test's prefix through its lock file.
    let out = Command::new(BIN)
        .args(["down", "--all", "--every-prefix"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("removed namespace"), "{stdout}");
    assert!(stdout.contains("removed route"), "{stdout}");
    assert_eq!(remains(&naming, &id, &prefix), Vec::<String>::new());
    no_leftovers(&naming);
}

#[test]
fn without_root_it_refuses_clearly() {
    if !root_or_skip("without_root_it_refuses_clearly (it switches to nobody)") {
        return;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!(
            "skipping without_root_it_refuses_clearly: no setpriv (unit test privilege::tests covers the check)"
        );
        return;
    }
    let (dir, topology) = topology_file();
    let bin = dir.path().join("mulambda-netlab");
    std::fs::copy(BIN, &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(&bin)
        .arg("up")
        .arg(&topology)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("needs root"), "{stderr}");
}

#[test]
fn validate_names_the_bad_field_and_accepts_the_shipped_topologies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[[node]]\nname = \"node0\"\ndelay = \"10 parsecs\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("validate")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("node[0].delay"), "{stderr}");
    assert!(stderr.contains("10 parsecs"), "{stderr}");

    for (file, links) in [("reference.toml", 4), ("reversed.toml", 8)] {
        let path = format!("{}/topologies/{file}", env!("CARGO_MANIFEST_DIR"));
        let out = Command::new(BIN)
            .arg("validate")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("{links} delayed links")),
            "{stdout}"
        );
    }
}
