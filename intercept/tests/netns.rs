//! Interception for real, in a network namespace per test (root; skipped with a message
//! otherwise): the init binary installs the rules, an unmodified client (curl, Python's urllib)
//! calls `http://tf-serving.models.example:8501/...` — a name that resolves to an address on
//! the namespace's loopback where nothing listens — and the stand-in proxy answers with the
//! original destination it read. Without the rules the same call is refused: the test proves
//! the interception, not a coincidence.

mod support;

use std::net::SocketAddr;

use mulambda_intercept::{Redirects, Rules};
use support::clients::{Reply, curl, predict_url, urllib};
use support::lab::{Family, Lab, root_or_skip};
use support::proxy::FakeProxy;

/// An unused UID for the proxy in these tests.
const PROXY_UID: u32 = 4242;

/// The stand-in proxy on the default ports: REST on a dual-stack `[::]:18501` (so IPv4 arrives
/// IPv4-mapped), gRPC on separate `127.0.0.1:18500` and `[::1]:18500` sockets; each serves the
/// TF Serving ports the default mapping sends it.
fn start_proxy(lab: &Lab) -> FakeProxy {
    let redirects = Redirects::default();
    let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
    FakeProxy::start(vec![
        (
            lab.bind(addr("[::]:18501"), true),
            redirects.served_by(18501),
        ),
        (
            lab.bind(addr("127.0.0.1:18500"), false),
            redirects.served_by(18500),
        ),
        (
            lab.bind(addr("[::1]:18500"), false),
            redirects.served_by(18500),
        ),
    ])
}

fn install(lab: &Lab, extra: &[&str]) {
    let uid = PROXY_UID.to_string();
    let mut args = vec!["--proxy-uid", &uid];
    args.extend(extra);
    let out = lab.intercept(&args);
    assert!(
        out.status.success(),
        "init failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn remove(lab: &Lab) -> String {
    let out = lab.intercept(&["--remove"]);
    assert!(
        out.status.success(),
        "removal failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The original destination as the proxy reports it for `port` of the lab's TF address.
fn expected_dst(lab: &Lab, port: u16) -> String {
    SocketAddr::new(lab.tf_addr(), port).to_string()
}

fn unmodified_clients_reach_the_proxy_only_while_the_rules_are_installed(family: Family) {
    let lab = Lab::new(family);
    let _proxy = start_proxy(&lab);
    let url = predict_url(8501);

    // Nothing listens at the TF Serving address: without the rules, the call is refused.
    curl(&lab, &url, None).assert_refused();
    urllib(&lab, &url).assert_refused();

    install(&lab, &[]);
    for (client, reply) in [
        ("curl", curl(&lab, &url, None)),
        ("urllib", urllib(&lab, &url)),
    ] {
        let body = reply.ok();
        assert_eq!(body["listener"], 18501, "{client}: {body}");
        assert_eq!(
            body["original_dst"],
            expected_dst(&lab, 8501),
            "{client}: {body}"
        );
        assert_eq!(body["intercepted_port"], 8501, "{client}: {body}");
    }
    // TF Serving's gRPC port goes to the proxy's gRPC listener, not to the REST one.
    let body = curl(&lab, &predict_url(8500), None).ok();
    assert_eq!(body["listener"], 18500, "{body}");
    assert_eq!(body["original_dst"], expected_dst(&lab, 8500), "{body}");
    // A call already addressed to the proxy is a direct one: no original destination.
    let direct = match family {
        Family::V4 => "http://127.0.0.1:18501/v1/models/anything:predict",
        Family::V6 => "http://[::1]:18501/v1/models/anything:predict",
    };
    let body = curl(&lab, direct, None).ok();
    assert_eq!(body["original_dst"], serde_json::Value::Null, "{body}");

    assert!(remove(&lab).contains("removed table inet mulambda"));
    curl(&lab, &url, None).assert_refused();
    urllib(&lab, &url).assert_refused();
}

#[test]
fn unmodified_clients_reach_the_proxy_over_ipv4_only_while_the_rules_are_installed() {
    if root_or_skip("ipv4 interception") {
        unmodified_clients_reach_the_proxy_only_while_the_rules_are_installed(Family::V4);
    }
}

#[test]
fn unmodified_clients_reach_the_proxy_over_ipv6_only_while_the_rules_are_installed() {
    if root_or_skip("ipv6 interception") {
        unmodified_clients_reach_the_proxy_only_while_the_rules_are_installed(Family::V6);
    }
}

#[test]
fn a_connection_redirected_from_a_port_the_proxy_does_not_serve_is_refused_clearly() {
    if !root_or_skip("unserved port") {
        return;
    }
    let lab = Lab::new(Family::V4);
    let _proxy = start_proxy(&lab);
    // The init step sends 9000 to the REST listener too; the proxy serves 8501 there only.
    install(&lab, &["--redirect", "8501=18501,8500=18500,9000=18501"]);
    for reply in [
        curl(&lab, &predict_url(9000), None),
        urllib(&lab, &predict_url(9000)),
    ] {
        let Reply::Http {
            status: 421, body, ..
        } = reply
        else {
            panic!("expected 421 Misdirected Request, got {reply:?}");
        };
        let error = body["error"].as_str().expect("TF Serving's error shape");
        assert!(
            error.contains(&format!("connection to {}", expected_dst(&lab, 9000))),
            "{error}"
        );
        assert!(
            error.contains("serves TF Serving port(s) 8501 here, not 9000"),
            "{error}"
        );
    }
    // The served port on the same listener still works.
    assert_eq!(
        curl(&lab, &predict_url(8501), None).ok()["intercepted_port"],
        8501
    );
}

#[test]
fn the_proxy_uids_own_traffic_is_not_redirected() {
    if !root_or_skip("proxy uid exemption") {
        return;
    }
    let lab = Lab::new(Family::V4);
    let _proxy = start_proxy(&lab);
    install(&lab, &[]);
    let url = predict_url(8501);
    // The proxy's UID reaches the real address (where nothing listens here)...
    curl(&lab, &url, Some(PROXY_UID)).assert_refused();
    // ...while any other UID, root or not, is redirected.
    for uid in [None, Some(PROXY_UID + 1)] {
        let body = curl(&lab, &url, uid).ok();
        assert_eq!(body["original_dst"], expected_dst(&lab, 8501), "{uid:?}");
    }
}

#[test]
fn running_the_init_twice_changes_nothing_and_other_tables_are_left_alone() {
    if !root_or_skip("idempotence") {
        return;
    }
    let lab = Lab::new(Family::V4);
    let foreign = "table inet someone-else {\n\tchain output {\n\t\ttype filter hook output \
                   priority filter; policy accept;\n\t}\n}\n";
    let mut add = lab.exec("nft", &["-f", "-"]);
    add.stdin(std::process::Stdio::piped());
    let mut child = add.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), foreign.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
    let before = lab.ruleset();

    install(&lab, &[]);
    let once = lab.ruleset();
    let table = lab.mulambda_table().expect("installed");
    install(&lab, &[]);
    assert_eq!(lab.ruleset(), once, "a second run changes nothing");

    // What --dry-run prints is what nft lists.
    let rules = Rules::new(PROXY_UID, Redirects::default()).unwrap();
    assert_eq!(table, rules.table());
    let dry = lab.intercept(&["--proxy-uid", &PROXY_UID.to_string(), "--dry-run"]);
    assert_eq!(
        String::from_utf8(dry.stdout).unwrap(),
        rules.install_script()
    );

    // Removal restores the ruleset as it was; removing again is fine.
    remove(&lab);
    assert_eq!(lab.ruleset(), before);
    assert!(remove(&lab).contains("was not installed; nothing removed"));
    assert_eq!(lab.ruleset(), before);
}

#[test]
fn without_cap_net_admin_the_init_fails_saying_so() {
    if !root_or_skip("missing capability") {
        return;
    }
    let lab = Lab::new(Family::V4);
    let out = lab
        .exec(
            "setpriv",
            &[
                "--bounding-set=-net_admin",
                "--inh-caps=-net_admin",
                env!("CARGO_BIN_EXE_mulambda-intercept"),
            ],
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("this process lacks CAP_NET_ADMIN"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(lab.mulambda_table(), None);
}

#[test]
fn in_a_namespace_owned_by_another_user_namespace_the_kernels_refusal_is_reported() {
    if !root_or_skip("foreign user namespace") {
        return;
    }
    let lab = Lab::new(Family::V4);
    // Root of a new user namespace has every capability there, but not over this network
    // namespace: the capability check passes and the kernel says no.
    let out = lab
        .exec(
            "unshare",
            &[
                "--user",
                "--map-root-user",
                env!("CARGO_BIN_EXE_mulambda-intercept"),
            ],
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("the kernel refused nftables (Operation not permitted)"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(lab.mulambda_table(), None);
}

#[test]
fn cap_net_admin_alone_is_enough_even_for_a_non_root_user() {
    if !root_or_skip("net_admin only") {
        return;
    }
    let lab = Lab::new(Family::V4);
    let out = lab
        .exec(
            "setpriv",
            &[
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all,+net_admin",
                "--ambient-caps=-all,+net_admin",
                "--bounding-set=-all,+net_admin",
                env!("CARGO_BIN_EXE_mulambda-intercept"),
            ],
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(lab.mulambda_table().is_some());
}

#[test]
fn a_missing_nft_binary_is_named() {
    if !root_or_skip("missing nft") {
        return;
    }
    let lab = Lab::new(Family::V4);
    let out = lab
        .exec(env!("CARGO_BIN_EXE_mulambda-intercept"), &[])
        .env("MULAMBDA_NFT", "/nonexistent/sbin/nft")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("the nft binary `/nonexistent/sbin/nft` was not found (--nft / MULAMBDA_NFT)"),
        "{err}"
    );
}

#[test]
fn the_lab_namespace_has_no_way_out() {
    if !root_or_skip("lab isolation") {
        return;
    }
    // Lab::new asserts it (only `lo`, no route but local ones); this test makes it visible.
    let lab = Lab::new(Family::V6);
    let routes =
        String::from_utf8(lab.ip(&["-6", "route", "show", "table", "all"]).stdout).unwrap();
    assert!(!routes.contains("default"), "{routes}");
    assert!(lab.name().starts_with("mulambda-intercept-test-"));
}

#[test]
fn root_with_net_admin_as_its_only_capability_and_no_new_privileges_is_enough() {
    // What the webhook's init container gets: UID 0, capabilities {drop: [ALL], add:
    // [NET_ADMIN]} (the bounding set; root's effective set follows it on exec), no privilege
    // escalation (no_new_privs). NET_RAW is not among them.
    if !root_or_skip("the webhook's securityContext") {
        return;
    }
    let lab = Lab::new(Family::V4);
    let out = lab
        .exec(
            "setpriv",
            &[
                "--reuid=0",
                "--regid=0",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all,+net_admin",
                "--no-new-privs",
                "sh",
                "-c",
                // The capability sets as the kernel reports them, then the init step.
                "grep -E '^Cap(Eff|Bnd)' /proc/self/status && exec \"$0\" --proxy-uid 4242",
                env!("CARGO_BIN_EXE_mulambda-intercept"),
            ],
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // CAP_NET_ADMIN is bit 12: 0x1000; nothing else.
    assert!(stdout.contains("CapEff:\t0000000000001000"), "{stdout}");
    assert!(stdout.contains("CapBnd:\t0000000000001000"), "{stdout}");
    assert!(lab.mulambda_table().is_some());
}
