//! Properties of the zero-copy model-spec rewrite against prost's full decode → edit →
//! encode, over every request type, and robustness on arbitrary and mutated bytes.

use bytes::Bytes;
use mulambda_wire::serving::model_spec::VersionChoice;
use mulambda_wire::serving::{
    ClassificationRequest, ExampleList, ExampleListWithContext, GetModelMetadataRequest,
    GetModelStatusRequest, InferenceTask, Input, ModelSpec, MultiInferenceRequest, PredictRequest,
    RegressionRequest, input,
};
use mulambda_wire::spec::{self, rewrite_bytes, rewrite_to_vec};
use mulambda_wire::tf::{self, Example, Feature, Features, TensorProto, TensorShapeProto};
use mulambda_wire::{RequestKind, SpecEdit, Version, WireError};
use proptest::prelude::*;
use prost::Message;

// === reference model ===

/// A request type with its spec(s), for the reference edit.
trait Req: Message + Default + Clone {
    const KIND: RequestKind;
    fn specs_mut(&mut self) -> Vec<&mut ModelSpec>;
    fn specs(&self) -> Vec<Option<&ModelSpec>>;
}

macro_rules! single_spec {
    ($t:ty, $kind:expr) => {
        impl Req for $t {
            const KIND: RequestKind = $kind;
            fn specs_mut(&mut self) -> Vec<&mut ModelSpec> {
                vec![self.model_spec.get_or_insert_with(Default::default)]
            }
            fn specs(&self) -> Vec<Option<&ModelSpec>> {
                vec![self.model_spec.as_ref()]
            }
        }
    };
}
single_spec!(PredictRequest, RequestKind::Predict);
single_spec!(ClassificationRequest, RequestKind::Classify);
single_spec!(RegressionRequest, RequestKind::Regress);
single_spec!(GetModelMetadataRequest, RequestKind::GetModelMetadata);
single_spec!(GetModelStatusRequest, RequestKind::GetModelStatus);

impl Req for MultiInferenceRequest {
    const KIND: RequestKind = RequestKind::MultiInference;
    fn specs_mut(&mut self) -> Vec<&mut ModelSpec> {
        self.tasks
            .iter_mut()
            .map(|t| t.model_spec.get_or_insert_with(Default::default))
            .collect()
    }
    fn specs(&self) -> Vec<Option<&ModelSpec>> {
        self.tasks.iter().map(|t| t.model_spec.as_ref()).collect()
    }
}

fn apply(spec: &mut ModelSpec, edit: &SpecEdit<'_>) {
    if let Some(name) = edit.name {
        spec.name = name.to_owned();
    }
    if let Some(v) = edit.version {
        spec.version_choice = match v {
            Version::Latest => None,
            Version::Number(n) => Some(VersionChoice::Version(n)),
            Version::Label(l) => Some(VersionChoice::VersionLabel(l.to_owned())),
        };
    }
}

fn view_of(spec: Option<&ModelSpec>) -> (String, Version<'_>, String) {
    let Some(s) = spec else {
        return (String::new(), Version::Latest, String::new());
    };
    let v = match &s.version_choice {
        None => Version::Latest,
        Some(VersionChoice::Version(n)) => Version::Number(*n),
        Some(VersionChoice::VersionLabel(l)) => Version::Label(l),
    };
    (s.name.clone(), v, s.signature_name.clone())
}

/// What decode → edit → encode gives, or the error the rewrite must give.
fn reference<R: Req>(bytes: &[u8], edit: &SpecEdit<'_>) -> Option<Result<Vec<u8>, WireError>> {
    let mut msg = R::decode(bytes).ok()?;
    if R::KIND == RequestKind::MultiInference {
        let names: Vec<String> = msg.specs().iter().map(|s| view_of(*s).0).collect();
        if names.windows(2).any(|w| w[0] != w[1]) {
            return Some(Err(WireError::MixedModelNames));
        }
    }
    for spec in msg.specs_mut() {
        apply(spec, edit);
    }
    Some(Ok(msg.encode_to_vec()))
}

/// Checks the rewrite of `bytes` against the reference whenever prost can decode `bytes`.
fn check<R: Req>(bytes: &[u8], edit: &SpecEdit<'_>, canonical: bool) -> Result<(), TestCaseError> {
    let got = rewrite_to_vec(R::KIND, bytes, edit);
    let chained = rewrite_bytes(R::KIND, &Bytes::copy_from_slice(bytes), edit);
    prop_assert_eq!(got.clone(), chained.map(|c| c.to_vec()));
    let Some(expected) = reference::<R>(bytes, edit) else {
        return Ok(()); // prost refuses the bytes; the rewrite only must not panic.
    };
    match (got, expected) {
        (Ok(got), Ok(expected)) => {
            // Same message after decoding (unknown fields, which prost drops, aside)…
            let decoded = R::decode(&got[..]).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(decoded.encode_to_vec(), expected.clone());
            // …and for canonical input, the same bytes.
            if canonical {
                prop_assert_eq!(got, expected);
            }
        }
        (Err(got), Err(expected)) => prop_assert_eq!(got, expected),
        (got, expected) => {
            return Err(TestCaseError::fail(format!(
                "rewrite gave {got:?}, reference {expected:?}"
            )));
        }
    }
    // Reading agrees with the decoded message.
    if let Ok(msg) = R::decode(bytes) {
        let read = spec::read(R::KIND, bytes);
        let specs = msg.specs();
        let names: Vec<String> = specs.iter().map(|s| view_of(*s).0).collect();
        if R::KIND == RequestKind::MultiInference && names.windows(2).any(|w| w[0] != w[1]) {
            prop_assert_eq!(read, Err(WireError::MixedModelNames));
        } else {
            let read = read.map_err(|e| TestCaseError::fail(e.to_string()))?;
            let (name, version, signature) = view_of(specs.first().copied().flatten());
            prop_assert_eq!(read.name, name.as_str());
            prop_assert_eq!(read.version, version);
            prop_assert_eq!(read.signature_name, signature.as_str());
        }
    }
    Ok(())
}

// === strategies ===

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z_]{1,12}",
        "[^/:]{1,20}",
        any::<String>(),
    ]
}

fn model_spec() -> impl Strategy<Value = ModelSpec> {
    let version = prop_oneof![
        Just(None),
        any::<i64>().prop_map(|v| Some(VersionChoice::Version(v))),
        Just(Some(VersionChoice::Version(0))),
        text().prop_map(|l| Some(VersionChoice::VersionLabel(l))),
    ];
    (text(), version, text()).prop_map(|(name, version_choice, signature_name)| ModelSpec {
        name,
        version_choice,
        signature_name,
    })
}

fn tensor() -> impl Strategy<Value = TensorProto> {
    (
        prop::collection::vec(any::<f32>(), 0..64),
        prop::collection::vec(any::<u8>(), 0..2048),
        prop::collection::vec(-1i64..8, 0..4),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..8), 0..4),
    )
        .prop_map(
            |(float_val, tensor_content, dims, string_val)| TensorProto {
                dtype: tf::DataType::DtFloat as i32,
                tensor_shape: Some(TensorShapeProto {
                    dim: dims
                        .into_iter()
                        .map(|size| tf::tensor_shape_proto::Dim {
                            size,
                            name: String::new(),
                        })
                        .collect(),
                    unknown_rank: false,
                }),
                float_val,
                tensor_content,
                string_val,
                ..TensorProto::default()
            },
        )
}

fn example() -> impl Strategy<Value = Example> {
    prop::collection::btree_map(
        "[a-z]{1,4}",
        prop::collection::vec(any::<f32>(), 0..4),
        0..3,
    )
    .prop_map(|features| Example {
        features: Some(Features {
            feature: features
                .into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        Feature {
                            kind: Some(tf::feature::Kind::FloatList(tf::FloatList { value: v })),
                        },
                    )
                })
                .collect(),
        }),
    })
}

fn input() -> impl Strategy<Value = Option<Input>> {
    prop_oneof![
        Just(None),
        prop::collection::vec(example(), 0..3).prop_map(|examples| Some(Input {
            kind: Some(input::Kind::ExampleList(ExampleList { examples })),
        })),
        (prop::collection::vec(example(), 0..3), example()).prop_map(|(examples, c)| Some(Input {
            kind: Some(input::Kind::ExampleListWithContext(
                ExampleListWithContext {
                    examples,
                    context: Some(c),
                }
            )),
        })),
    ]
}

fn maybe_spec() -> impl Strategy<Value = Option<ModelSpec>> {
    prop::option::weighted(0.85, model_spec())
}

fn predict() -> impl Strategy<Value = PredictRequest> {
    (
        maybe_spec(),
        prop::collection::btree_map("[a-z]{1,3}", tensor(), 0..3),
        prop::collection::vec("[a-z]{1,3}", 0..3),
    )
        .prop_map(|(model_spec, inputs, output_filter)| PredictRequest {
            model_spec,
            inputs,
            output_filter,
        })
}

fn multi() -> impl Strategy<Value = MultiInferenceRequest> {
    // Half of the time all tasks share one name (the valid case).
    let tasks = prop::collection::vec((maybe_spec(), "[a-z/]{0,10}"), 0..4);
    (tasks, input(), any::<bool>(), text()).prop_map(|(tasks, input, same, name)| {
        MultiInferenceRequest {
            tasks: tasks
                .into_iter()
                .map(|(spec, method_name)| InferenceTask {
                    model_spec: spec.map(|mut s| {
                        if same {
                            s.name = name.clone();
                        }
                        s
                    }),
                    method_name,
                })
                .collect(),
            input,
        }
    })
}

fn edit() -> impl Strategy<Value = (Option<String>, Option<(u8, i64, String)>)> {
    (
        prop::option::of(text()),
        prop::option::of((0u8..3, any::<i64>(), text())),
    )
}

fn with_edit<T>(
    e: &(Option<String>, Option<(u8, i64, String)>),
    f: impl FnOnce(&SpecEdit<'_>) -> T,
) -> T {
    let version = e.1.as_ref().map(|(which, n, l)| match which {
        0 => Version::Latest,
        1 => Version::Number(*n),
        _ => Version::Label(l),
    });
    f(&SpecEdit {
        name: e.0.as_deref(),
        version,
    })
}

/// Flips, inserts or truncates bytes of a valid encoding.
fn mutate(mut bytes: Vec<u8>, ops: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(at, op, value) in ops {
        if bytes.is_empty() {
            bytes.push(value);
            continue;
        }
        let i = at % bytes.len();
        match op % 3 {
            0 => bytes[i] ^= value | 1,
            1 => bytes.insert(i, value),
            _ => bytes.truncate(i),
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn predict_rewrite_equals_decode_edit_encode(m in predict(), e in edit()) {
        let bytes = m.encode_to_vec();
        with_edit(&e, |edit| check::<PredictRequest>(&bytes, edit, true))?;
    }

    #[test]
    fn classify_and_regress_rewrite_equals_decode_edit_encode(
        spec in maybe_spec(), input in input(), e in edit(),
    ) {
        let c = ClassificationRequest { model_spec: spec.clone(), input: input.clone() }.encode_to_vec();
        with_edit(&e, |edit| check::<ClassificationRequest>(&c, edit, true))?;
        let r = RegressionRequest { model_spec: spec, input }.encode_to_vec();
        with_edit(&e, |edit| check::<RegressionRequest>(&r, edit, true))?;
    }

    #[test]
    fn metadata_and_status_rewrite_equals_decode_edit_encode(
        spec in maybe_spec(), fields in prop::collection::vec("[a-z_]{0,14}", 0..3), e in edit(),
    ) {
        let m = GetModelMetadataRequest { model_spec: spec.clone(), metadata_field: fields }.encode_to_vec();
        with_edit(&e, |edit| check::<GetModelMetadataRequest>(&m, edit, true))?;
        let s = GetModelStatusRequest { model_spec: spec }.encode_to_vec();
        with_edit(&e, |edit| check::<GetModelStatusRequest>(&s, edit, true))?;
    }

    #[test]
    fn multi_inference_rewrites_every_task(m in multi(), e in edit()) {
        let bytes = m.encode_to_vec();
        with_edit(&e, |edit| check::<MultiInferenceRequest>(&bytes, edit, true))?;
    }

    /// Concatenated encodings are merged messages: several model_spec fields, interleaved
    /// with the payload, merge like prost merges them.
    #[test]
    fn repeated_specs_merge_like_prost(a in predict(), b in predict(), c in maybe_spec(), e in edit()) {
        let mut bytes = a.encode_to_vec();
        bytes.extend(b.encode_to_vec());
        bytes.extend(GetModelStatusRequest { model_spec: c }.encode_to_vec());
        with_edit(&e, |edit| check::<PredictRequest>(&bytes, edit, false))?;
        // Tasks are a repeated message: concatenation appends them; the input merges.
        let task = |spec: Option<ModelSpec>| MultiInferenceRequest {
            tasks: vec![InferenceTask { model_spec: spec, method_name: "m".into() }],
            input: None,
        };
        let mut multi = task(a.model_spec.clone()).encode_to_vec();
        multi.extend(task(a.model_spec).encode_to_vec());
        with_edit(&e, |edit| check::<MultiInferenceRequest>(&multi, edit, false))?;
    }

    /// Unknown fields inside model_spec survive the rewrite; prost (which drops them) agrees on
    /// everything else.
    #[test]
    fn unknown_spec_fields_are_kept(spec in model_spec(), number in 5u32..1000, value in any::<u64>(), e in edit()) {
        let mut spec_bytes = spec.encode_to_vec();
        let mut unknown = Vec::new();
        prost::encoding::encode_key(number, prost::encoding::WireType::Varint, &mut unknown);
        prost::encoding::encode_varint(value, &mut unknown);
        spec_bytes.extend(&unknown);
        let mut bytes = Vec::new();
        prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut bytes);
        prost::encoding::encode_varint(spec_bytes.len() as u64, &mut bytes);
        bytes.extend(spec_bytes);
        with_edit(&e, |edit| -> Result<(), TestCaseError> {
            check::<GetModelStatusRequest>(&bytes, edit, false)?;
            let out = rewrite_to_vec(RequestKind::GetModelStatus, &bytes, edit).unwrap();
            prop_assert!(out.windows(unknown.len()).any(|w| w == &unknown[..]));
            Ok(())
        })?;
    }

    /// Arbitrary bytes: never a panic; when prost decodes them, the rewrite agrees.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256), e in edit()) {
        for kind in RequestKind::ALL {
            let _ = spec::read(kind, &bytes);
        }
        with_edit(&e, |edit| -> Result<(), TestCaseError> {
            check::<PredictRequest>(&bytes, edit, false)?;
            check::<MultiInferenceRequest>(&bytes, edit, false)?;
            check::<GetModelStatusRequest>(&bytes, edit, false)
        })?;
    }

    /// Mutated valid encodings (bit flips, insertions, truncation): never a panic; agreement
    /// with prost whenever it still decodes.
    #[test]
    fn mutated_requests_never_panic(
        m in predict(), multi in multi(),
        ops in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
        e in edit(),
    ) {
        let bytes = mutate(m.encode_to_vec(), &ops);
        let multi_bytes = mutate(multi.encode_to_vec(), &ops);
        with_edit(&e, |edit| -> Result<(), TestCaseError> {
            check::<PredictRequest>(&bytes, edit, false)?;
            check::<MultiInferenceRequest>(&multi_bytes, edit, false)
        })?;
    }
}
