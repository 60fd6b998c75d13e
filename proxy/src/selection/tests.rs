//! Scenario and property tests of the selection.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mulambda_catalog::{
    ClientView, Endpoint, Executor, Id, LatencyMeasurement, Leased, ModelName, ModelTraits,
    SoftCriteria,
};
use proptest::prelude::*;

use super::*;

const NOW_MS: u64 = 1_700_000_000_000;

fn traits(t: &str, i: &str, o: &str) -> ModelTraits {
    ModelTraits::parse(t, i, o).unwrap()
}

fn cls() -> ModelTraits {
    traits("classification", "image", "label")
}

/// An executor: id, model, traits, accuracy; ready, no placement.
fn exe(id: &str, model: &str, t: &ModelTraits, accuracy: f64) -> Executor {
    Executor {
        id: Id::parse(id).unwrap(),
        model_name: ModelName::parse(model).unwrap(),
        model_version: None,
        traits: t.clone(),
        accuracy,
        rest_endpoint: Endpoint::parse("10.0.0.1:8501").unwrap(),
        grpc_endpoint: None,
        node: None,
        zone: None,
        ready: true,
        signature: None,
    }
}

/// A view with probe figures `(id, latency or None for unreachable, age in ms)`.
fn view(executors: &[Executor], figures: &[(&str, Option<f64>, u64)]) -> ClientView {
    let latencies: HashMap<Id, LatencyMeasurement> = figures
        .iter()
        .map(|(id, ms, age)| {
            let m = match ms {
                Some(v) => LatencyMeasurement::reachable(*v, 10, NOW_MS - age),
                None => LatencyMeasurement::unreachable(NOW_MS - age),
            };
            (Id::parse(id).unwrap(), m)
        })
        .collect();
    ClientView {
        server_time_ms: NOW_MS,
        generation: 1,
        executors: executors
            .iter()
            .map(|e| Leased {
                value: e.clone(),
                lease_until_ms: NOW_MS + 30_000,
            })
            .collect(),
        latencies,
        rejected: Vec::new(),
        expired: 0,
    }
}

struct Fixture {
    health: HealthRegistry,
    cfg: ScoreConfig,
    t0: Instant,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with(HealthConfig::default(), ScoreConfig::default())
    }

    fn with(h: HealthConfig, cfg: ScoreConfig) -> Fixture {
        Fixture {
            health: HealthRegistry::new(h),
            cfg,
            t0: Instant::now(),
        }
    }

    fn table(&self, v: &ClientView) -> Table {
        self.table_at(v, &ClientPlacement::default(), self.t0)
    }

    fn table_at(&self, v: &ClientView, c: &ClientPlacement, now: Instant) -> Table {
        Table::build(v, c, &self.health, &self.cfg, now)
    }
}

fn soft(latency_weight: f64, accuracy_weight: f64) -> SoftCriteria {
    SoftCriteria {
        latency_weight,
        accuracy_weight,
        max_latency_ms: None,
        min_accuracy: None,
    }
}

fn req<'a>(hard: &'a ModelTraits, soft: SoftCriteria) -> SelectionRequest<'a> {
    SelectionRequest {
        hard,
        soft,
        pinned_model: None,
    }
}

fn chosen_id(t: &Table, r: &SelectionRequest, random: u64, now: Instant) -> String {
    let s = select_executor(t, r, &[], random, now).unwrap();
    t.executor(s.index).id.to_string()
}

fn header(r: &Receipt) -> String {
    let mut s = String::new();
    r.write_header(&mut s).unwrap();
    s
}

#[test]
fn hard_criteria_are_never_bent() {
    let f = Fixture::new();
    let execs = [
        exe("a", "m1", &traits("regression", "image", "label"), 1.0),
        exe("b", "m2", &traits("classification", "text", "label"), 1.0),
        exe("c", "m3", &traits("classification", "image", "number"), 1.0),
        exe("d", "m4", &cls(), 0.5),
    ];
    let v = view(
        &execs,
        &[
            ("a", Some(0.1), 0),
            ("b", Some(0.1), 0),
            ("d", Some(50.0), 0),
        ],
    );
    let t = f.table(&v);
    let hard = cls();
    let s = select_executor(&t, &req(&hard, soft(1.0, 0.0)), &[], 7, f.t0).unwrap();
    assert_eq!(t.executor(s.index).id.as_str(), "d");
    assert_eq!(s.reason, Reason::Best);
    let rm = s.receipt.removed;
    assert_eq!(
        (rm.model_type, rm.input_format, rm.output_format),
        (1, 1, 1)
    );
    assert_eq!((s.receipt.candidates, s.receipt.total), (1, 4));

    // Traits nobody has: a clear error naming them.
    let none = traits("object-detection", "image", "boxes");
    let e = select_executor(&t, &req(&none, soft(1.0, 1.0)), &[], 7, f.t0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no executor matches model_type=object-detection input_format=image \
         output_format=boxes (4 executors: 4 differ in model_type)"
    );
}

#[test]
fn pinned_model_is_a_hard_filter() {
    let f = Fixture::new();
    let execs = [exe("a", "fast", &cls(), 0.5), exe("b", "slow", &cls(), 0.5)];
    let v = view(&execs, &[("a", Some(1.0), 0), ("b", Some(9.0), 0)]);
    let t = f.table(&v);
    let hard = cls();
    let mut r = req(&hard, soft(1.0, 1.0));
    r.pinned_model = Some("slow");
    let s = select_executor(&t, &r, &[], 1, f.t0).unwrap();
    assert_eq!(t.executor(s.index).id.as_str(), "b");
    assert_eq!(s.reason, Reason::Pinned);
    assert_eq!(s.receipt.removed.model, 1);
    r.pinned_model = Some("other");
    let e = select_executor(&t, &r, &[], 1, f.t0).unwrap_err();
    assert!(e.to_string().contains("model=other"), "{e}");
    assert!(e.to_string().contains("2 are another model"), "{e}");
}

#[test]
fn flipping_weights_flips_the_choice() {
    let f = Fixture::new();
    let execs = [
        exe("fast", "small", &cls(), 0.70),
        exe("accurate", "large", &cls(), 0.95),
    ];
    let v = view(
        &execs,
        &[("fast", Some(2.0), 0), ("accurate", Some(20.0), 0)],
    );
    let t = f.table(&v);
    let hard = cls();
    assert_eq!(chosen_id(&t, &req(&hard, soft(1.0, 0.0)), 3, f.t0), "fast");
    assert_eq!(
        chosen_id(&t, &req(&hard, soft(0.0, 1.0)), 3, f.t0),
        "accurate"
    );
    assert_eq!(chosen_id(&t, &req(&hard, soft(3.0, 1.0)), 3, f.t0), "fast");
    assert_eq!(
        chosen_id(&t, &req(&hard, soft(1.0, 9.0)), 3, f.t0),
        "accurate"
    );
}

#[test]
fn latency_ceiling_and_accuracy_floor() {
    let f = Fixture::new();
    let execs = [
        exe("fast", "small", &cls(), 0.70),
        exe("accurate", "large", &cls(), 0.95),
    ];
    let v = view(
        &execs,
        &[("fast", Some(2.0), 0), ("accurate", Some(20.0), 0)],
    );
    let t = f.table(&v);
    let hard = cls();
    let mut s = soft(0.0, 1.0);
    s.max_latency_ms = Some(10.0);
    let sel = select_executor(&t, &req(&hard, s), &[], 3, f.t0).unwrap();
    assert_eq!(t.executor(sel.index).id.as_str(), "fast");
    assert_eq!(sel.receipt.removed.latency_ceiling, 1);

    let mut s = soft(1.0, 0.0);
    s.min_accuracy = Some(0.9);
    let sel = select_executor(&t, &req(&hard, s), &[], 3, f.t0).unwrap();
    assert_eq!(t.executor(sel.index).id.as_str(), "accurate");
    assert_eq!(sel.receipt.removed.accuracy_floor, 1);

    s.max_latency_ms = Some(10.0);
    let e = select_executor(&t, &req(&hard, s), &[], 3, f.t0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no executor matches model_type=classification input_format=image output_format=label \
         max_latency_ms=10 min_accuracy=0.9 (2 executors: 1 below the accuracy floor, \
         1 above the latency ceiling)"
    );
}

#[test]
fn single_candidate_and_degenerate_numbers() {
    let f = Fixture::new();
    // Latency 0 and accuracy 0: no division by zero, no NaN, a sane header.
    let execs = [exe("only", "m", &cls(), 0.0)];
    let v = view(&execs, &[("only", Some(0.0), 0)]);
    let t = f.table(&v);
    let hard = cls();
    for (wl, wa) in [
        (1.0, 0.0),
        (0.0, 1.0),
        (0.0, 0.0),
        (-1.0, f64::NAN),
        (1e308, 1e308),
    ] {
        let s = select_executor(&t, &req(&hard, soft(wl, wa)), &[], 0, f.t0).unwrap();
        assert_eq!(s.index, 0);
        assert_eq!(s.reason, Reason::Best);
        let w = s.receipt.winner.unwrap();
        assert!(w.score.is_finite() && w.score >= 0.0, "{w:?}");
        assert_eq!(w.latency_term, 1.0);
        assert_eq!(w.accuracy_term, 0.0);
        let h = header(&s.receipt);
        assert!(!h.contains("NaN") && !h.contains("inf"), "{h}");
    }
}

#[test]
fn missing_figure_uses_the_prior() {
    let f = Fixture::new();
    let execs = [
        exe("a", "m", &cls(), 0.5),
        exe("b", "m", &cls(), 0.5),
        exe("c", "m", &cls(), 0.5),
        exe("new", "m", &cls(), 0.5),
    ];
    let v = view(
        &execs,
        &[
            ("a", Some(1.0), 0),
            ("b", Some(3.0), 0),
            ("c", Some(8.0), 0),
        ],
    );
    let t = f.table(&v);
    assert_eq!(t.prior_ms(), 3.0, "the median of the fresh figures");
    let hard = cls();
    let x = explain(&t, &req(&hard, soft(1.0, 0.0)), f.t0);
    let row = x.executors.iter().find(|r| r.id == "new").unwrap();
    assert_eq!(row.latency.probe_source, ProbeSource::Prior);
    assert_eq!(row.latency.expected_latency_ms, 3.0);
    assert!(row.removed_by.is_empty(), "still eligible");

    // Nothing measured at all: the configured default.
    let f = Fixture::new();
    let t = f.table(&view(&execs[..1], &[]));
    assert_eq!(t.prior_ms(), 5.0);
    let s = select_executor(&t, &req(&hard, soft(1.0, 1.0)), &[], 0, f.t0).unwrap();
    assert_eq!(s.receipt.figure_age_ms, None);
    assert!(header(&s.receipt).contains(";lat=5ms;"));
    assert!(header(&s.receipt).ends_with(";age=none"));
}

#[test]
fn unreachable_is_heavily_penalised_not_excluded() {
    let f = Fixture::new();
    let execs = [exe("near", "m", &cls(), 0.5), exe("cut", "m", &cls(), 0.99)];
    let v = view(&execs, &[("near", Some(30.0), 0), ("cut", None, 0)]);
    let t = f.table(&v);
    let hard = cls();
    // More accurate, but the companion cannot reach this client: a last resort only.
    let s = select_executor(&t, &req(&hard, soft(0.0, 1.0)), &[], 0, f.t0).unwrap();
    assert_eq!(t.executor(s.index).id.as_str(), "near");
    assert_eq!(s.receipt.removed.unreachable, 1);
    assert!(header(&s.receipt).starts_with("cand=1/2;rm=unreach:1;"));
    // Alone, it still serves (the probe path may be what is broken) ...
    let near = t.position(&Id::parse("near").unwrap()).unwrap();
    let s = select_executor(&t, &req(&hard, soft(1.0, 1.0)), &[near], 0, f.t0).unwrap();
    assert_eq!(s.receipt.winner.unwrap().expected_latency_ms, 1000.0);
    // ... unless a latency ceiling says no.
    let mut sc = soft(1.0, 1.0);
    sc.max_latency_ms = Some(500.0);
    let e = select_executor(&t, &req(&hard, sc), &[near], 0, f.t0).unwrap_err();
    assert_eq!(e.receipt.removed.latency_ceiling, 1);
    assert_eq!(e.receipt.removed.excluded, 1);
}

#[test]
fn stale_probe_figures_decay_toward_the_prior() {
    let f = Fixture::new();
    let execs = [
        exe("fresh1", "m", &cls(), 0.5),
        exe("fresh2", "m", &cls(), 0.5),
        exe("old", "m", &cls(), 0.5),
    ];
    // Prior = median of fresh = 10 ms; "old" measured 1 ms, 90 s ago: 60 s past the stale age,
    // two half-lives: 0.25 × 1 + 0.75 × 10 = 7.75 ms.
    let v = view(
        &execs,
        &[
            ("fresh1", Some(10.0), 0),
            ("fresh2", Some(10.0), 1000),
            ("old", Some(1.0), 90_000),
        ],
    );
    let t = f.table(&v);
    let hard = cls();
    let x = explain(&t, &req(&hard, soft(1.0, 0.0)), f.t0);
    let old = x.executors.iter().find(|r| r.id == "old").unwrap();
    assert_eq!(old.latency.probe_source, ProbeSource::Stale);
    assert!(
        (old.latency.probe_ms - 7.75).abs() < 1e-9,
        "{}",
        old.latency.probe_ms
    );
    assert_eq!(old.latency.probe_age_ms, Some(90_000));
}

#[test]
fn own_observations_win_while_fresh_then_decay_to_the_probe() {
    let f = Fixture::new();
    let execs = [exe("a", "m", &cls(), 0.5), exe("b", "m", &cls(), 0.5)];
    let v = view(&execs, &[("a", Some(1.0), 0), ("b", Some(2.0), 0)]);
    let t = f.table(&v);
    let hard = cls();
    let r = req(&hard, soft(1.0, 0.0));
    assert_eq!(chosen_id(&t, &r, 0, f.t0), "a");
    // The proxy sees "a" answer in 40 ms: "b" wins while that is fresh.
    let h = t.health(0);
    h.start(f.t0).succeeded(Duration::from_millis(40), f.t0);
    assert_eq!(chosen_id(&t, &r, 0, f.t0), "b");
    let later = f.t0 + Duration::from_secs(4);
    assert_eq!(chosen_id(&t, &r, 0, later), "b");
    // Stale (5 s) plus 10 half-lives (2 s each): back to about the probe figure.
    let much_later = f.t0 + Duration::from_secs(25);
    assert_eq!(chosen_id(&t, &r, 0, much_later), "a");
    let s = select_executor(&t, &r, &[], 0, much_later).unwrap();
    let lat = s.receipt.winner.unwrap().expected_latency_ms;
    assert!(lat < 1.1, "{lat}");
}

#[test]
fn fail_fast_executor_loses_traffic_then_breaker_then_one_probation() {
    let hcfg = HealthConfig::default();
    let f = Fixture::with(hcfg, ScoreConfig::default());
    let execs = [
        exe("flaky", "m", &cls(), 0.9),
        exe("steady", "m", &cls(), 0.9),
    ];
    let v = view(&execs, &[("flaky", Some(0.5), 0), ("steady", Some(5.0), 0)]);
    let t = f.table(&v);
    let hard = cls();
    let r = req(&hard, soft(1.0, 1.0));
    let now = f.t0;
    assert_eq!(chosen_id(&t, &r, 0, now), "flaky");
    // It answers errors in 1 µs. Each failure counts as at least the failure penalty.
    let flaky = t.position(&Id::parse("flaky").unwrap()).unwrap();
    let steady = t.position(&Id::parse("steady").unwrap()).unwrap();
    t.health(flaky).start(now).failed(now);
    assert_eq!(
        chosen_id(&t, &r, 0, now),
        "steady",
        "failing fast does not look fast"
    );
    for _ in 1..hcfg.breaker_failures {
        t.health(flaky).start(now).failed(now);
    }
    // Breaker open: even alone it is not chosen during the backoff.
    let e = select_executor(&t, &r, &[steady], 0, now).unwrap_err();
    assert_eq!(e.receipt.removed.breaker, 1);
    assert!(e.to_string().contains("1 breaker open"), "{e}");
    assert_eq!(f.health.open_breakers(), 1);
    // After the backoff: exactly one probation request.
    let t1 = now + hcfg.breaker_base_backoff;
    let p = select_executor(&t, &r, &[steady], 0, t1).unwrap();
    assert_eq!((p.index, p.reason), (flaky, Reason::Probation));
    assert!(
        select_executor(&t, &r, &[steady], 0, t1).is_err(),
        "only one probation"
    );
    assert_eq!(chosen_id(&t, &r, 0, t1), "steady");
    // The probation succeeds: the breaker closes.
    t.health(flaky)
        .start(t1)
        .succeeded(Duration::from_millis(1), t1);
    assert_eq!(f.health.open_breakers(), 0);
    let s = select_executor(&t, &r, &[steady], 0, t1).unwrap();
    assert_eq!(s.reason, Reason::Best);
}

#[test]
fn a_new_executor_is_ramped_in() {
    let f = Fixture::new();
    let hard = cls();
    let r = req(&hard, soft(1.0, 0.0));
    let old = exe("old", "m", &cls(), 0.5);
    let new = exe("new", "m", &cls(), 0.5);
    // First snapshot: "old" is settled (not new to the platform).
    let t = f.table(&view(std::slice::from_ref(&old), &[("old", Some(10.0), 0)]));
    assert_eq!(chosen_id(&t, &r, 0, f.t0), "old");
    // "new" appears, ten times faster.
    let t1 = f.t0 + Duration::from_secs(1);
    let v = view(
        &[old, new],
        &[("old", Some(10.0), 0), ("new", Some(1.0), 0)],
    );
    let t = f.table_at(&v, &ClientPlacement::default(), t1);
    let share = |at: Instant| {
        (0..2000u64)
            .filter(|i| chosen_id(&t, &r, i.wrapping_mul(0x9e37_79b9_7f4a_7c15), at) == "new")
            .count() as f64
            / 2000.0
    };
    let start = share(t1);
    let half = share(t1 + Duration::from_secs(15));
    let done = share(t1 + Duration::from_secs(30));
    assert!((0.05..0.2).contains(&start), "{start}");
    assert!((0.45..0.65).contains(&half), "{half}");
    assert_eq!(done, 1.0);
}

#[test]
fn near_ties_are_spread_over_random_values() {
    let f = Fixture::new();
    let execs = [
        exe("a", "m", &cls(), 0.9),
        exe("b", "m", &cls(), 0.9),
        exe("c", "m", &cls(), 0.9),
        exe("far", "m", &cls(), 0.9),
    ];
    let v = view(
        &execs,
        &[
            ("a", Some(2.0), 0),
            ("b", Some(2.02), 0),
            ("c", Some(2.0), 0),
            ("far", Some(50.0), 0),
        ],
    );
    let t = f.table(&v);
    let hard = cls();
    let r = req(&hard, soft(1.0, 1.0));
    let mut counts: HashMap<String, usize> = HashMap::new();
    for seed in 0..300u64 {
        let s = select_executor(&t, &r, &[], seed, f.t0).unwrap();
        assert_eq!(s.reason, Reason::NearTie);
        assert_eq!(s.receipt.near_tie, 3);
        *counts
            .entry(t.executor(s.index).id.to_string())
            .or_default() += 1;
    }
    for id in ["a", "b", "c"] {
        assert!(counts.get(id).copied().unwrap_or(0) > 30, "{counts:?}");
    }
    assert!(!counts.contains_key("far"));

    // Of the two drawn, the one with fewer requests in flight wins: with "a" busy (cost ×2,
    // out of the margin) only b and c share.
    let _busy = t.health(0).start(f.t0);
    for seed in 0..50u64 {
        let id = chosen_id(&t, &r, seed, f.t0);
        assert!(id == "b" || id == "c", "{id}");
    }
}

#[test]
fn colocation_breaks_ties_node_then_zone() {
    let cfg = ScoreConfig {
        near_tie_margin: 0.0,
        ..ScoreConfig::default()
    };
    let f = Fixture::with(HealthConfig::default(), cfg);
    let node = Id::parse("node-1").unwrap();
    let zone = Id::parse("zone-a").unwrap();
    let mut remote = exe("remote", "m", &cls(), 0.9);
    remote.zone = Some(Id::parse("zone-b").unwrap());
    let mut same_zone = exe("same-zone", "m", &cls(), 0.9);
    same_zone.zone = Some(zone.clone());
    let mut same_node = exe("same-node", "m", &cls(), 0.9);
    same_node.node = Some(node.clone());
    same_node.zone = Some(zone.clone());
    let client = ClientPlacement {
        node: Some(node),
        zone: Some(zone),
    };
    let hard = cls();
    let r = req(&hard, soft(1.0, 1.0));
    // No figures at all: everyone has the prior; placement decides.
    let all = [remote.clone(), same_zone.clone(), same_node];
    let t = f.table_at(&view(&all, &[]), &client, f.t0);
    assert_eq!(chosen_id(&t, &r, 5, f.t0), "same-node");
    let t = f.table_at(&view(&all[..2], &[]), &client, f.t0);
    assert_eq!(chosen_id(&t, &r, 5, f.t0), "same-zone");
    // Equal figures: same.
    let t = f.table_at(
        &view(
            &all[..2],
            &[("remote", Some(1.0), 0), ("same-zone", Some(1.0), 0)],
        ),
        &client,
        f.t0,
    );
    let s = select_executor(&t, &r, &[], 5, f.t0).unwrap();
    assert_eq!(t.executor(s.index).id.as_str(), "same-zone");
    assert!(
        header(&s.receipt).contains(",c=0.001)"),
        "{}",
        header(&s.receipt)
    );
    // A clearly faster remote one still wins: co-location is only a tie-breaker.
    let t = f.table_at(
        &view(
            &all[..2],
            &[("remote", Some(1.0), 0), ("same-zone", Some(1.5), 0)],
        ),
        &client,
        f.t0,
    );
    assert_eq!(chosen_id(&t, &r, 5, f.t0), "remote");
}

#[test]
fn not_ready_and_excluded_are_removed() {
    let f = Fixture::new();
    let mut down = exe("down", "m", &cls(), 0.9);
    down.ready = false;
    let execs = [down, exe("a", "m", &cls(), 0.9), exe("b", "m", &cls(), 0.9)];
    let v = view(
        &execs,
        &[
            ("a", Some(1.0), 0),
            ("b", Some(3.0), 0),
            ("down", Some(0.1), 0),
        ],
    );
    let t = f.table(&v);
    let hard = cls();
    let r = req(&hard, soft(1.0, 1.0));
    let a = t.position(&Id::parse("a").unwrap()).unwrap();
    let s = select_executor(&t, &r, &[a], 0, f.t0).unwrap();
    assert_eq!(t.executor(s.index).id.as_str(), "b");
    assert_eq!(s.receipt.removed.not_ready, 1);
    assert_eq!(s.receipt.removed.excluded, 1);
}

#[test]
fn receipt_header_of_a_real_decision() {
    let f = Fixture::new();
    let execs = [
        exe("a", "m", &cls(), 0.8),
        exe("b", "m", &cls(), 0.6),
        exe("x", "m", &traits("regression", "image", "label"), 0.6),
    ];
    let v = view(&execs, &[("a", Some(2.0), 420), ("b", Some(9.0), 0)]);
    let t = f.table(&v);
    let hard = cls();
    let s = select_executor(&t, &req(&hard, soft(1.0, 1.0)), &[], 0, f.t0).unwrap();
    // ref = 2 ms: latency term 2/(2+2) = 0.5; 0.5·0.5 + 0.5·0.8 = 0.65.
    assert_eq!(
        header(&s.receipt),
        "cand=2/3;rm=type:1;lat=2ms;score=0.65(l=0.25,a=0.4);age=420ms"
    );
}

#[test]
fn explain_agrees_with_select() {
    let f = Fixture::new();
    let mut execs = Vec::new();
    let mut figs = Vec::new();
    let ids: Vec<String> = (0..12).map(|i| format!("e{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let t = if i % 4 == 0 {
            traits("regression", "tabular", "number")
        } else {
            cls()
        };
        execs.push(exe(
            id,
            &format!("m{}", i % 3),
            &t,
            0.5 + (i % 5) as f64 / 10.0,
        ));
        if i % 3 != 0 {
            figs.push((id.as_str(), Some(1.0 + (i % 4) as f64), (i * 1000) as u64));
        }
    }
    let t = f.table(&view(&execs, &figs));
    let hard = cls();
    for (wl, wa) in [(1.0, 0.0), (1.0, 1.0), (0.0, 1.0)] {
        let r = req(&hard, soft(wl, wa));
        for random in [0u64, 1, 42, u64::MAX, 0xdead_beef] {
            let x = explain_with_random(&t, &r, random, f.t0);
            let s = select_executor(&t, &r, &[], random, f.t0).unwrap();
            let c = x.chosen.as_ref().unwrap();
            assert_eq!(c.index, s.index);
            assert_eq!(c.reason, s.reason);
            assert_eq!(x.reason_header, header(&s.receipt));
            assert_eq!(x.candidates as u32, s.receipt.candidates);
            let row = &x.executors[s.index];
            assert!(row.chosen && row.near_tie && row.removed_by.is_empty());
        }
    }
    let x = explain(&t, &req(&hard, soft(1.0, 1.0)), f.t0);
    let json = serde_json::to_value(&x).unwrap();
    assert_eq!(json["executors"].as_array().unwrap().len(), 12);
    assert_eq!(json["executors"][0]["removed_by"][0], "model_type");
    assert!(json["executors"][1]["rank"].is_u64());
}

#[test]
fn explain_reports_no_candidate() {
    let f = Fixture::new();
    let t = f.table(&view(&[exe("a", "m", &cls(), 0.9)], &[]));
    let other = traits("regression", "image", "label");
    let x = explain(&t, &req(&other, soft(1.0, 1.0)), f.t0);
    assert!(x.chosen.is_none());
    assert!(x.error.unwrap().contains("1 differ in model_type"));
    assert_eq!(x.reason_header, "cand=0/1;rm=type:1");
}

// === properties ===

#[derive(Debug, Clone)]
struct ArbExec {
    t: u8,
    i: u8,
    o: u8,
    model: u8,
    accuracy: f64,
    ready: bool,
    figure: Option<Option<f64>>,
    age_s: u64,
    inflight: u8,
    failures: u8,
    observed_ms: Option<f64>,
}

fn arb_exec() -> impl Strategy<Value = ArbExec> {
    (
        (0u8..2, 0u8..2, 0u8..2, 0u8..3),
        prop_oneof![Just(0.0), Just(1.0), 0.0f64..=1.0],
        any::<bool>(),
        prop_oneof![
            Just(None),
            Just(Some(None)),
            prop_oneof![Just(0.0), 0.0f64..100.0, 0.0f64..3_600_000.0].prop_map(|v| Some(Some(v))),
        ],
        0u64..200,
        (0u8..4, 0u8..7),
        proptest::option::of(0.0f64..1000.0),
    )
        .prop_map(
            |(
                (t, i, o, model),
                accuracy,
                ready,
                figure,
                age_s,
                (inflight, failures),
                observed_ms,
            )| {
                ArbExec {
                    t,
                    i,
                    o,
                    model,
                    accuracy,
                    ready,
                    figure,
                    age_s,
                    inflight,
                    failures,
                    observed_ms,
                }
            },
        )
}

fn arb_soft() -> impl Strategy<Value = SoftCriteria> {
    (
        prop_oneof![Just(0.0), 0.0f64..10.0, Just(f64::NAN), Just(-1.0)],
        prop_oneof![Just(0.0), 0.0f64..10.0],
        proptest::option::of(prop_oneof![Just(0.0), 0.0f64..2000.0]),
        proptest::option::of(0.0f64..=1.0),
    )
        .prop_map(
            |(latency_weight, accuracy_weight, max_latency_ms, min_accuracy)| SoftCriteria {
                latency_weight,
                accuracy_weight,
                max_latency_ms,
                min_accuracy,
            },
        )
}

const TRAIT_NAMES: [[&str; 2]; 3] = [
    ["classification", "regression"],
    ["image", "text"],
    ["label", "number"],
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn select_never_panics_and_respects_every_filter(
        execs in proptest::collection::vec(arb_exec(), 0..24),
        want in (0u8..2, 0u8..2, 0u8..2),
        pinned in proptest::option::of(0u8..4),
        sc in arb_soft(),
        random in any::<u64>(),
        exclude in proptest::collection::vec(0usize..30, 0..3),
        later_s in 0u64..60,
    ) {
        let f = Fixture::new();
        let mut list = Vec::new();
        let mut figs = Vec::new();
        let ids: Vec<String> = (0..execs.len()).map(|i| format!("e{i:02}")).collect();
        for (n, a) in execs.iter().enumerate() {
            let t = traits(
                TRAIT_NAMES[0][a.t as usize],
                TRAIT_NAMES[1][a.i as usize],
                TRAIT_NAMES[2][a.o as usize],
            );
            let mut e = exe(&ids[n], &format!("m{}", a.model), &t, a.accuracy);
            e.ready = a.ready;
            list.push(e);
            if let Some(fig) = a.figure {
                figs.push((ids[n].as_str(), fig, a.age_s * 1000));
            }
        }
        let t = f.table(&view(&list, &figs));
        let mut guards = Vec::new();
        for (n, a) in execs.iter().enumerate() {
            let h = t.health(n);
            if let Some(ms) = a.observed_ms {
                h.start(f.t0).succeeded(Duration::from_secs_f64(ms / 1000.0), f.t0);
            }
            for _ in 0..a.failures {
                h.start(f.t0).failed(f.t0);
            }
            for _ in 0..a.inflight {
                guards.push(h.start(f.t0));
            }
        }
        let hard = traits(
            TRAIT_NAMES[0][want.0 as usize],
            TRAIT_NAMES[1][want.1 as usize],
            TRAIT_NAMES[2][want.2 as usize],
        );
        let pinned_name = pinned.map(|p| format!("m{p}"));
        let r = SelectionRequest { hard: &hard, soft: sc, pinned_model: pinned_name.as_deref() };
        let now = f.t0 + Duration::from_secs(later_s);
        let x = explain_with_random(&t, &r, random, now);
        match select_executor(&t, &r, &exclude, random, now) {
            Ok(s) => {
                let e = t.executor(s.index);
                prop_assert_eq!(&e.traits, &hard);
                prop_assert!(e.ready);
                prop_assert!(!exclude.contains(&s.index));
                if let Some(p) = &pinned_name { prop_assert_eq!(e.model_name.as_str(), p.as_str()); }
                if let Some(floor) = sc.min_accuracy { prop_assert!(e.accuracy >= floor); }
                let w = s.receipt.winner.unwrap();
                if let Some(ceiling) = sc.max_latency_ms { prop_assert!(w.expected_latency_ms <= ceiling); }
                prop_assert!(w.score.is_finite() && w.latency_term > 0.0 && w.latency_term <= 1.0);
                prop_assert_eq!(s.receipt.candidates + s.receipt.removed.total(), s.receipt.total);
                // Within the near-tie margin of the best score (no ramping in a first snapshot;
                // without exclusions the explanation's best is the same population's).
                if exclude.is_empty() {
                    let best = x.executors.iter().filter_map(|r| r.score).map(|s| s.score).fold(f64::NEG_INFINITY, f64::max);
                    prop_assert!(w.score >= best - 0.05 * best - 1e-12, "{} vs best {}", w.score, best);
                    prop_assert!(x.executors[s.index].near_tie);
                }
                let h = header(&s.receipt);
                prop_assert!(!h.contains("NaN") && !h.contains("inf"), "{}", h);
            }
            Err(e) => {
                prop_assert_eq!(e.receipt.candidates, 0);
                prop_assert_eq!(e.receipt.removed.total(), e.receipt.total);
                prop_assert!(e.to_string().starts_with("no executor matches"));
                if exclude.is_empty() { prop_assert!(x.chosen.is_none()); }
            }
        }
    }
}

/// The worked example of docs/selection.md, number for number.
#[test]
fn worked_example_of_the_docs() {
    let f = Fixture::new();
    let node = Id::parse("node-1").unwrap();
    let mut a = exe("a", "resnet-small", &cls(), 0.76);
    a.node = Some(node.clone());
    let b = exe("b", "resnet-large", &cls(), 0.92);
    let c = exe("c", "efficientnet", &cls(), 0.88);
    let v = view(&[a, b, c], &[("a", Some(1.2), 400), ("b", Some(2.0), 400)]);
    let client = ClientPlacement {
        node: Some(node),
        zone: None,
    };
    // The proxy saw "a" answer in 4 ms just now (before the table was built).
    let pre = f.table_at(&v, &client, f.t0);
    pre.health(0)
        .start(f.t0)
        .succeeded(Duration::from_millis(4), f.t0);
    let t = f.table_at(&v, &client, f.t0);
    assert_eq!(t.prior_ms(), 1.6);
    let _busy = t.health(0).start(f.t0);
    let hard = cls();
    let r = req(&hard, soft(2.0, 1.0));
    let x = explain(&t, &r, f.t0);
    assert_eq!(x.latency_ref_ms, 1.6);
    let score = |i: usize| x.executors[i].score.unwrap().score;
    assert!((score(0) - 0.366_444).abs() < 1e-6, "{}", score(0));
    assert!((score(1) - 0.602_963).abs() < 1e-6, "{}", score(1));
    assert!((score(2) - 0.626_667).abs() < 1e-6, "{}", score(2));
    assert_eq!(x.near_tie, ["c", "b"]);
    let mut seen = [false; 3];
    for random in 0..64u64 {
        let s = select_executor(&t, &r, &[], random, f.t0).unwrap();
        seen[s.index] = true;
        if s.index == 2 {
            assert_eq!(
                header(&s.receipt),
                "cand=3/3;rm=none;tie=2;lat=1.6ms;score=0.627(l=0.333,a=0.293);age=none"
            );
        }
    }
    assert_eq!(seen, [false, true, true]);
    let mut sc = soft(2.0, 1.0);
    sc.min_accuracy = Some(0.9);
    let s = select_executor(&t, &req(&hard, sc), &[], 0, f.t0).unwrap();
    assert_eq!(
        header(&s.receipt),
        "cand=1/3;rm=acc:2;lat=2ms;score=0.603(l=0.296,a=0.307);age=400ms"
    );
}
