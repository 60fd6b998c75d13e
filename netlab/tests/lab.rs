//! A real lab: namespaces, bridge, emulated delay, processes, teardown.

mod common;

use std::io::Read;
use std::time::Duration;

use common::*;
use mulambda_netlab::{Delay, Error, Lab, LabCommand, Output, Topology, state};

const TWO_BY_TWO: &str = r#"
    [[infra]]
    name = "infra"
    [[node]]
    name = "node0"
    delay = "20ms"
    [[node]]
    name = "node1"
    delay = "60ms"
    [[client]]
    name = "client0"
    [[client]]
    name = "client1"
    [[link]]
    client = "client1"
    node = "node0"
    delay = "100ms"
"#;

/// Generous upper bound on what a loaded 2-core machine adds to a round trip.
const SLACK: Duration = Duration::from_millis(1500);

#[test]
fn tcp_round_trips_take_twice_each_pairs_delay_and_infra_is_undelayed() {
    if !root_or_skip("tcp_round_trips_take_twice_each_pairs_delay_and_infra_is_undelayed") {
        return;
    }
    let naming = unique_naming();
    let lab = Lab::build(&Topology::from_toml(TWO_BY_TWO).unwrap(), options(&naming)).unwrap();
    let node0 = echo_server(&lab, "node0", 7000);
    let node1 = echo_server(&lab, "node1", 7000);
    let infra = echo_server(&lab, "infra", 7000);

    for (client, server, delay_ms) in [
        ("client0", node0, 20),
        ("client0", node1, 60),
        ("client1", node0, 100),
        ("client1", node1, 60),
    ] {
        let mut s = connect(&lab, client, server);
        for _ in 0..3 {
            let rtt = round_trip(&mut s);
            let least = Duration::from_millis(2 * delay_ms);
            assert!(
                rtt >= least,
                "{client} → {server}: {rtt:?} < 2 × {delay_ms} ms"
            );
            assert!(
                rtt <= least + SLACK,
                "{client} → {server}: {rtt:?} ≫ 2 × {delay_ms} ms"
            );
        }
    }
    // Store traffic is not delayed: the median infra round trip stays far below the smallest
    // delayed one (40 ms).
    let mut s = connect(&lab, "client0", infra);
    let rtt = median_round_trip(&mut s, 7);
    assert!(rtt < Duration::from_millis(40), "infra round trip {rtt:?}");
    // Node ↔ node is not delayed either.
    let mut s = connect(&lab, "node1", node0);
    let rtt = median_round_trip(&mut s, 7);
    assert!(
        rtt < Duration::from_millis(40),
        "node ↔ node round trip {rtt:?}"
    );

    let stats = lab.stats().unwrap();
    assert!(stats.forwarded > 0, "{stats:?}");
    assert_eq!(stats.overflow, 0, "{stats:?}");
    lab.teardown().unwrap();
}

#[test]
fn timed_step_and_runtime_changes_take_effect() {
    if !root_or_skip("timed_step_and_runtime_changes_take_effect") {
        return;
    }
    let topology = Topology::from_toml(
        r#"
        [[node]]
        name = "node0"
        delay = "10ms"
        steps = [{ after = "2s", delay = "150ms" }]
        [[client]]
        name = "client0"
        "#,
    )
    .unwrap();
    let naming = unique_naming();
    let lab = Lab::build(&topology, options(&naming)).unwrap();
    let server = echo_server(&lab, "node0", 7001);
    let mut s = connect(&lab, "client0", server);

    // The step: round trips grow to at least 2 × 150 ms within a generous deadline.
    let stepped = wait_for(Duration::from_secs(30), || {
        round_trip(&mut s) >= Duration::from_millis(300)
    });
    assert!(stepped, "the step to 150 ms never showed");
    assert_eq!(
        lab.delay("client0", "node0").unwrap().delay,
        Duration::from_millis(150)
    );
    let rtt = round_trip(&mut s);
    assert!(
        rtt >= Duration::from_millis(300) && rtt <= Duration::from_millis(300) + SLACK,
        "{rtt:?}"
    );

    // A runtime change back down: round trips shrink below 2 × 150 ms, and never below 2 × 5.
    lab.set_delay(
        "client0",
        "node0",
        Delay {
            delay: Duration::from_millis(5),
            jitter: Duration::ZERO,
        },
    )
    .unwrap();
    let shrunk = wait_for(Duration::from_secs(30), || {
        round_trip(&mut s) < Duration::from_millis(200)
    });
    assert!(shrunk, "the change to 5 ms never showed");
    assert!(round_trip(&mut s) >= Duration::from_millis(10));

    // Only (client, node) pairs are links.
    assert!(matches!(
        lab.set_delay(
            "node0",
            "client0",
            Delay {
                delay: Duration::ZERO,
                jitter: Duration::ZERO
            }
        ),
        Err(Error::NotALink { .. })
    ));
    assert!(matches!(
        lab.delay("client0", "nope"),
        Err(Error::UnknownHost { .. })
    ));
    lab.teardown().unwrap();
}

#[test]
fn processes_run_inside_their_host_and_teardown_removes_everything() {
    if !root_or_skip("processes_run_inside_their_host_and_teardown_removes_everything") {
        return;
    }
    let naming = unique_naming();
    let lab = Lab::build(&Topology::from_toml(TWO_BY_TWO).unwrap(), options(&naming)).unwrap();
    let id = lab.id().to_string();
    let prefix = lab.prefix().to_string();
    assert!(
        remains(&naming, &id, &prefix).len() >= 7,
        "namespaces, route and lock exist while up"
    );

    // A process sees its host's interfaces, and knows its host.
    let mut p = lab
        .spawn(
            "client1",
            LabCommand::new("sh")
                .args([
                    "-c",
                    "ip -6 -brief addr show dev lab0; echo host=$MULAMBDA_NETLAB_HOST",
                ])
                .stdout(Output::Piped)
                .stderr(Output::Prefixed),
        )
        .unwrap();
    let mut out = String::new();
    p.take_stdout().unwrap().read_to_string(&mut out).unwrap();
    assert!(p.wait().unwrap().success());
    let addr = lab.addr("client1").unwrap().to_string();
    assert!(out.contains(&addr), "{out}");
    assert!(out.contains("host=client1"), "{out}");

    // Long-running processes (one that ignores SIGTERM, one that leaves its process group) are
    // gone after teardown.
    let stubborn = lab
        .spawn(
            "node0",
            LabCommand::new("sh").args(["-c", "trap '' TERM; sleep 600"]),
        )
        .unwrap();
    let daemon = lab
        .spawn(
            "node1",
            LabCommand::new("setsid")
                .args(["-f", "sleep", "600"])
                .stdout(Output::Null),
        )
        .unwrap();
    assert!(daemon.wait().unwrap().success());
    let ns_pids = |host: &str| {
        let ns = lab.namespace(host).unwrap().to_string();
        std::process::Command::new("ip")
            .args(["netns", "pids", &ns])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok())
                    .collect::<Vec<_>>()
            })
            .unwrap()
    };
    let daemon_pids = ns_pids("node1");
    assert_eq!(daemon_pids.len(), 1, "the daemon runs inside node1");

    lab.teardown().unwrap();
    assert!(
        stubborn.try_wait().unwrap().is_some(),
        "stopped at teardown"
    );
    let gone = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true)
    };
    assert!(
        wait_for(Duration::from_secs(10), || gone(daemon_pids[0])),
        "the daemon was killed"
    );
    assert_eq!(remains(&naming, &id, &prefix), Vec::<String>::new());
    // Teardown is idempotent, and a torn-down lab refuses new work.
    lab.teardown().unwrap();
    assert!(matches!(
        lab.spawn("node0", LabCommand::new("true")),
        Err(Error::TornDown)
    ));
    drop(lab);
}

#[test]
fn dropping_a_lab_removes_it() {
    if !root_or_skip("dropping_a_lab_removes_it") {
        return;
    }
    let naming = unique_naming();
    let lab = Lab::build(&Topology::from_toml(TWO_BY_TWO).unwrap(), options(&naming)).unwrap();
    let (id, prefix) = (lab.id().to_string(), lab.prefix().to_string());
    drop(lab);
    assert_eq!(remains(&naming, &id, &prefix), Vec::<String>::new());
}

#[test]
fn a_build_that_fails_half_way_removes_what_it_created() {
    if !root_or_skip("a_build_that_fails_half_way_removes_what_it_created") {
        return;
    }
    let naming = unique_naming();
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = cancel.clone();
    // Cancel while the build runs (a signal handler does this in the binary).
    let ours = format!("{}-", naming.prefix());
    let watcher = std::thread::spawn(move || {
        // Cancel once a few of this lab's namespaces exist.
        wait_for(Duration::from_secs(60), || {
            let out = std::process::Command::new("ip")
                .args(["netns", "list"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| l.starts_with(&ours))
                .count()
                >= 5
        });
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let mut opts = options(&naming);
    opts.cancel = Some(cancel.clone());
    // A big topology, so the build is still running when the flag is set.
    let mut text = String::new();
    for i in 0..30 {
        text.push_str(&format!("[[node]]\nname = \"n{i}\"\ndelay = \"1ms\"\n"));
    }
    text.push_str("[[client]]\nname = \"c\"\n");
    let result = Lab::build(&Topology::from_toml(&text).unwrap(), opts);
    watcher.join().unwrap();
    match result {
        Err(Error::Cancelled) => eprintln!("cancelled half-way, as intended"),
        Err(e) => panic!("unexpected error {e}"),
        // The machine was fast enough to finish first: still a valid outcome; tear down.
        Ok(lab) => lab.teardown().unwrap(),
    }
    let scan = state::scan(
        &naming,
        std::path::Path::new(mulambda_netlab::names::DEFAULT_STATE_DIR),
    )
    .unwrap();
    assert!(scan.leftovers.namespaces.is_empty(), "{}", scan.leftovers);
    assert!(scan.leftovers.lock_files.is_empty(), "{}", scan.leftovers);
}

#[test]
fn leftovers_are_refused_by_name_and_down_removes_them() {
    if !root_or_skip("leftovers_are_refused_by_name_and_down_removes_them") {
        return;
    }
    let naming = unique_naming();
    // What a killed run leaves: a namespace of a lab that holds no lock.
    let leftover = naming.host(mulambda_netlab::LabId(0x0bad_cafe), "node0");
    std::process::Command::new("ip")
        .args(["netns", "add", &leftover])
        .status()
        .unwrap();
    let topology = Topology::from_toml("[[infra]]\nname = \"a\"\n").unwrap();
    let err = Lab::build(&topology, options(&naming))
        .err()
        .expect("refused");
    let msg = err.to_string();
    assert!(matches!(err, Error::Leftovers(_)), "{msg}");
    assert!(msg.contains(&leftover), "{msg}");
    assert!(
        msg.contains(&format!(
            "mulambda-netlab down --all --prefix {}",
            naming.prefix()
        )),
        "{msg}"
    );

    let dir = std::path::Path::new(mulambda_netlab::names::DEFAULT_STATE_DIR);
    let report = state::down(&naming, dir).unwrap();
    assert_eq!(report.namespaces, vec![leftover.clone()]);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let lab = Lab::build(&topology, options(&naming)).unwrap();
    lab.teardown().unwrap();
}

#[test]
fn jitter_varies_round_trips_within_its_bounds() {
    if !root_or_skip("jitter_varies_round_trips_within_its_bounds") {
        return;
    }
    let topology = Topology::from_toml(
        "seed = 5\n[[node]]\nname = \"node0\"\ndelay = \"30ms\"\njitter = \"20ms\"\n[[client]]\nname = \"client0\"\n",
    )
    .unwrap();
    let naming = unique_naming();
    let lab = Lab::build(&topology, options(&naming)).unwrap();
    let server = echo_server(&lab, "node0", 7002);
    let mut s = connect(&lab, "client0", server);
    let rtts: Vec<Duration> = (0..20).map(|_| round_trip(&mut s)).collect();
    for rtt in &rtts {
        // Each direction holds 30 ± 20 ms.
        assert!(*rtt >= Duration::from_millis(20), "{rtt:?}");
        assert!(*rtt <= Duration::from_millis(100) + SLACK, "{rtt:?}");
    }
    let (min, max) = (rtts.iter().min().unwrap(), rtts.iter().max().unwrap());
    assert!(
        *max - *min >= Duration::from_millis(5),
        "jitter shows: {min:?}..{max:?}"
    );
    lab.teardown().unwrap();
}

#[test]
fn a_lab_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Lab>();
}
