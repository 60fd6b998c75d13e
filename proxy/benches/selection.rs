//! ns per `select_executor` at 10, 100 and 1,000 executors.
//!
//! Two shapes per size: "spread" (figures spread out, so one executor usually wins clearly) and
//! "ties" (every matching executor has the same figure: a near-tie on every request, the worst
//! case, which needs the second pass). In both, 90 % of the executors match the hard criteria.
//! Run: `cargo bench -p mulambda-proxy --bench selection`.
#![forbid(unsafe_code)]
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mulambda_catalog::{
    ClientView, Endpoint, Executor, Id, LatencyMeasurement, Leased, ModelName, ModelTraits,
    SoftCriteria,
};
use mulambda_proxy::selection::{
    ClientPlacement, HealthConfig, HealthRegistry, ScoreConfig, SelectionRequest, Table,
    select_executor,
};

const NOW_MS: u64 = 1_700_000_000_000;

fn table(n: usize, ties: bool, health: &HealthRegistry) -> Table {
    let wanted = ModelTraits::parse("classification", "image", "label").unwrap();
    let other = ModelTraits::parse("regression", "tabular", "number").unwrap();
    let mut executors = Vec::with_capacity(n);
    let mut latencies = HashMap::new();
    for i in 0..n {
        let id = Id::parse(&format!("executor-{i:05}")).unwrap();
        executors.push(Leased {
            value: Executor {
                id: id.clone(),
                model_name: ModelName::parse(&format!("model-{}", i % 7)).unwrap(),
                model_version: None,
                traits: if i % 10 == 9 {
                    other.clone()
                } else {
                    wanted.clone()
                },
                accuracy: if ties {
                    0.9
                } else {
                    0.6 + (i % 40) as f64 / 100.0
                },
                rest_endpoint: Endpoint::parse("10.0.0.1:8501").unwrap(),
                grpc_endpoint: None,
                node: Some(Id::parse(&format!("node-{}", i % 20)).unwrap()),
                zone: Some(Id::parse(&format!("zone-{}", i % 3)).unwrap()),
                ready: i % 50 != 7,
                signature: None,
            },
            lease_until_ms: NOW_MS + 30_000,
        });
        if i % 8 != 3 || ties {
            let ms = if ties {
                2.0
            } else {
                0.5 + (i * 7919 % 1000) as f64 / 50.0
            };
            latencies.insert(id, LatencyMeasurement::reachable(ms, 10, NOW_MS - 500));
        }
    }
    let view = ClientView {
        server_time_ms: NOW_MS,
        generation: 1,
        executors,
        latencies,
        ..ClientView::default()
    };
    let client = ClientPlacement {
        node: Some(Id::parse("node-3").unwrap()),
        zone: Some(Id::parse("zone-1").unwrap()),
    };
    let t = Table::build(
        &view,
        &client,
        health,
        &ScoreConfig::default(),
        Instant::now(),
    );
    // Some own observations, as on a live proxy.
    let now = Instant::now();
    for i in (0..t.len()).step_by(3) {
        t.health(i)
            .start(now)
            .succeeded(Duration::from_micros(800 + (i as u64 * 37) % 4000), now);
    }
    t
}

fn bench(c: &mut Criterion) {
    let hard = ModelTraits::parse("classification", "image", "label").unwrap();
    let req = SelectionRequest {
        hard: &hard,
        soft: SoftCriteria::default(),
        pinned_model: None,
    };
    let mut group = c.benchmark_group("select_executor");
    for shape in ["spread", "ties"] {
        for n in [10usize, 100, 1000] {
            let health = HealthRegistry::new(HealthConfig::default());
            let t = table(n, shape == "ties", &health);
            let now = Instant::now();
            let mut random = 0x9e37_79b9_7f4a_7c15u64;
            group.bench_with_input(BenchmarkId::new(shape, n), &t, |b, t| {
                b.iter(|| {
                    random = random
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1);
                    black_box(
                        select_executor(t, black_box(&req), &[], random, now)
                            .ok()
                            .map(|s| s.index),
                    )
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
