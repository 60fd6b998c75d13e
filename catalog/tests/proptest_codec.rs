//! Property tests: encode/decode round trips, and total decoding of arbitrary bytes.

use mulambda_catalog::schema::{self, Keys};
use mulambda_catalog::{
    Client, Criteria, Endpoint, Executor, Id, LatencyMeasurement, ModelName, ModelTraits,
    SignatureSummary, SoftCriteria, TensorSummary,
};
use proptest::prelude::*;

fn trait_value() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9._-]{0,20}"
}

fn ident() -> impl Strategy<Value = Id> {
    "[A-Za-z0-9][A-Za-z0-9._:-]{0,40}".prop_map(|s| Id::parse(&s).unwrap())
}

fn traits() -> impl Strategy<Value = ModelTraits> {
    (trait_value(), trait_value(), trait_value())
        .prop_map(|(a, b, c)| ModelTraits::parse(&a, &b, &c).unwrap())
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    ("[a-z][a-z0-9.-]{0,30}", 1u16..)
        .prop_map(|(h, p)| Endpoint::parse(&format!("{h}:{p}")).unwrap())
}

fn executor() -> impl Strategy<Value = Executor> {
    (
        ident(),
        "[A-Za-z0-9][A-Za-z0-9._-]{0,30}",
        proptest::option::of(any::<u64>()),
        traits(),
        0.0f64..=1.0,
        endpoint(),
        proptest::option::of(endpoint()),
        proptest::option::of(ident()),
        proptest::option::of(ident()),
        any::<bool>(),
        proptest::option::of((
            "[a-z_]{0,10}",
            proptest::collection::vec(
                (
                    "[a-z]{1,5}",
                    "DT_[A-Z]{1,6}",
                    proptest::option::of(proptest::collection::vec(-1i64..1000, 0..4)),
                ),
                0..3,
            ),
        )),
    )
        .prop_map(
            |(id, name, version, traits, accuracy, rest, grpc, node, zone, ready, sig)| Executor {
                id,
                model_name: ModelName::parse(&name).unwrap(),
                model_version: version,
                traits,
                accuracy,
                rest_endpoint: rest,
                grpc_endpoint: grpc,
                node,
                zone,
                ready,
                signature: sig.map(|(name, tensors)| {
                    let t: Vec<TensorSummary> = tensors
                        .into_iter()
                        .map(|(name, dtype, shape)| TensorSummary { name, dtype, shape })
                        .collect();
                    SignatureSummary {
                        name,
                        inputs: t.clone(),
                        outputs: t,
                    }
                }),
            },
        )
}

fn client() -> impl Strategy<Value = Client> {
    (
        ident(),
        endpoint(),
        traits(),
        0.0f64..100.0,
        0.001f64..100.0,
        proptest::option::of(0.001f64..10_000.0),
        proptest::option::of(0.0f64..=1.0),
        proptest::option::of(ident()),
    )
        .prop_map(|(id, probe, hard, lw, aw, max, min, node)| Client {
            id,
            probe_addr: probe,
            criteria: Criteria {
                hard,
                soft: SoftCriteria {
                    latency_weight: lw,
                    accuracy_weight: aw,
                    max_latency_ms: max,
                    min_accuracy: min,
                },
            },
            node,
            zone: None,
        })
}

proptest! {
    #[test]
    fn executors_round_trip(e in executor(), lease in any::<u64>()) {
        let keys = Keys::new("mulambda");
        let bytes = schema::encode_executor(&e, lease);
        let (back, l) = schema::decode_executor(&keys, e.id.as_str().as_bytes(), bytes.as_bytes()).unwrap();
        prop_assert_eq!(back, e);
        prop_assert_eq!(l, lease);
    }

    #[test]
    fn clients_round_trip(c in client(), lease in any::<u64>()) {
        let keys = Keys::new("mulambda");
        let bytes = schema::encode_client(&c, lease);
        let (back, l) = schema::decode_client(&keys, c.id.as_str().as_bytes(), bytes.as_bytes()).unwrap();
        prop_assert_eq!(back, c);
        prop_assert_eq!(l, lease);
    }

    #[test]
    fn latencies_round_trip(ms in proptest::option::of(0.0f64..3_600_000.0), samples in any::<u32>(), at in any::<u64>()) {
        let m = LatencyMeasurement { latency_ms: ms, samples, measured_at_ms: at };
        let bytes = schema::encode_latency(&m);
        let (id, back) = schema::decode_latency("row", b"exec-1", bytes.as_bytes()).unwrap();
        prop_assert_eq!(id.as_str(), "exec-1");
        prop_assert_eq!(back, m);
    }

    #[test]
    fn arbitrary_bytes_never_panic(field in proptest::collection::vec(any::<u8>(), 0..40), value in proptest::collection::vec(any::<u8>(), 0..400)) {
        let keys = Keys::new("mulambda");
        let _ = schema::decode_executor(&keys, &field, &value);
        let _ = schema::decode_client(&keys, &field, &value);
        let _ = schema::decode_latency("row", &field, &value);
    }

    #[test]
    fn arbitrary_json_never_panics(value in arb_json()) {
        let keys = Keys::new("mulambda");
        let bytes = value.to_string();
        prop_assert!(schema::decode_executor(&keys, b"x", bytes.as_bytes()).is_err() || value.is_object());
        let _ = schema::decode_client(&keys, b"x", bytes.as_bytes());
        let _ = schema::decode_latency("row", b"x", bytes.as_bytes());
    }

    #[test]
    fn mutated_records_decode_or_name_a_field(e in executor(), cut in 0usize..400, byte in any::<u8>()) {
        let keys = Keys::new("mulambda");
        let mut bytes = schema::encode_executor(&e, 1).into_bytes();
        let i = cut % bytes.len();
        bytes[i] = byte;
        if let Err(err) = schema::decode_executor(&keys, e.id.as_str().as_bytes(), &bytes) {
            prop_assert!(!err.field.is_empty());
            prop_assert!(err.key.starts_with("mulambda:v1:executors["));
        }
    }
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,10}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("v".to_string()),
                    Just("id".to_string()),
                    Just("accuracy".to_string()),
                    Just("lease_until_ms".to_string()),
                    "[a-z_]{1,8}"
                ],
                inner,
                0..8
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}
