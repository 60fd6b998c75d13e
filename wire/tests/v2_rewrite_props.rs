//! Properties of the zero-copy V2 model name / version rewrite against prost's full decode →
//! edit → encode, for every message that names a model, and robustness on arbitrary and
//! mutated bytes.

use bytes::Bytes;
use mulambda_wire::WireError;
use mulambda_wire::inference::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use mulambda_wire::inference::model_infer_response::InferOutputTensor;
use mulambda_wire::inference::model_metadata_response::TensorMetadata;
use mulambda_wire::inference::{
    InferParameter, InferTensorContents, ModelInferRequest, ModelInferResponse,
    ModelMetadataRequest, ModelMetadataResponse, ModelReadyRequest, infer_parameter,
};
use mulambda_wire::v2::grpc::{self, MessageKind, NameEdit};
use proptest::prelude::*;
use prost::Message;

// === reference model ===

/// A message type with its name and (optional) version fields, for the reference edit.
trait Named: Message + Default + Clone {
    const KIND: MessageKind;
    fn name_mut(&mut self) -> &mut String;
    fn version_mut(&mut self) -> Option<&mut String>;
}

macro_rules! named {
    ($t:ty, $kind:expr, $name:ident, $version:ident) => {
        impl Named for $t {
            const KIND: MessageKind = $kind;
            fn name_mut(&mut self) -> &mut String {
                &mut self.$name
            }
            fn version_mut(&mut self) -> Option<&mut String> {
                Some(&mut self.$version)
            }
        }
    };
}
named!(
    ModelInferRequest,
    MessageKind::ModelInferRequest,
    model_name,
    model_version
);
named!(
    ModelInferResponse,
    MessageKind::ModelInferResponse,
    model_name,
    model_version
);
named!(
    ModelReadyRequest,
    MessageKind::ModelReadyRequest,
    name,
    version
);
named!(
    ModelMetadataRequest,
    MessageKind::ModelMetadataRequest,
    name,
    version
);

impl Named for ModelMetadataResponse {
    const KIND: MessageKind = MessageKind::ModelMetadataResponse;
    fn name_mut(&mut self) -> &mut String {
        &mut self.name
    }
    fn version_mut(&mut self) -> Option<&mut String> {
        None
    }
}

/// Checks the rewrite of `bytes` against decode → edit → encode whenever prost decodes them.
fn check<M: Named>(
    bytes: &[u8],
    edit: &NameEdit<'_>,
    canonical: bool,
) -> Result<(), TestCaseError> {
    let got = grpc::rewrite_to_vec(M::KIND, bytes, edit);
    let chained = grpc::rewrite_bytes(M::KIND, &Bytes::copy_from_slice(bytes), edit);
    prop_assert!(
        got == chained.map(|c| c.to_vec()),
        "to_vec and chain differ"
    );
    let Ok(mut msg) = M::decode(bytes) else {
        return Ok(()); // prost refuses the bytes; the rewrite only must not panic.
    };
    // Reading agrees with the decoded message.
    let read = grpc::read(M::KIND, bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(read.name, msg.name_mut().as_str());
    let sent_version = msg.version_mut().map(|v| v.clone()).unwrap_or_default();
    prop_assert_eq!(read.version, sent_version.as_str());
    if let Some(name) = edit.name {
        *msg.name_mut() = name.to_owned();
    }
    if let (Some(v), Some(field)) = (edit.version, msg.version_mut()) {
        *field = v.to_owned();
    }
    let expected = msg.encode_to_vec();
    let got =
        got.map_err(|e| TestCaseError::fail(format!("rewrite refused what prost decodes: {e}")))?;
    // Same message after decoding (unknown fields, which prost drops, aside)…
    let decoded = M::decode(&got[..]).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(
        decoded.encode_to_vec() == expected,
        "decoded rewrite differs from the reference"
    );
    // …and for canonical input, the same bytes.
    if canonical {
        prop_assert!(
            got == expected,
            "canonical rewrite differs from the reference bytes"
        );
    }
    Ok(())
}

// === strategies ===

fn text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[a-z0-9_.-]{1,16}", any::<String>()]
}

fn parameter() -> impl Strategy<Value = InferParameter> {
    prop_oneof![
        any::<bool>().prop_map(infer_parameter::ParameterChoice::BoolParam),
        any::<i64>().prop_map(infer_parameter::ParameterChoice::Int64Param),
        "[a-z]{0,8}".prop_map(infer_parameter::ParameterChoice::StringParam),
    ]
    .prop_map(|c| InferParameter {
        parameter_choice: Some(c),
    })
}

fn parameters() -> impl Strategy<Value = std::collections::BTreeMap<String, InferParameter>> {
    prop::collection::btree_map("[a-z_]{1,8}", parameter(), 0..3)
}

fn contents() -> impl Strategy<Value = Option<InferTensorContents>> {
    prop::option::of(
        (
            prop::collection::vec(any::<f32>(), 0..32),
            prop::collection::vec(any::<i64>(), 0..8),
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..8), 0..3),
        )
            .prop_map(|(fp32_contents, int64_contents, bytes_contents)| {
                InferTensorContents {
                    fp32_contents,
                    int64_contents,
                    bytes_contents,
                    ..InferTensorContents::default()
                }
            }),
    )
}

fn infer_request() -> impl Strategy<Value = ModelInferRequest> {
    let input = (
        "[a-z0-9_-]{1,8}",
        prop_oneof!["FP32", "INT64", "BYTES"],
        prop::collection::vec(-1i64..16, 0..4),
        parameters(),
        contents(),
    )
        .prop_map(
            |(name, datatype, shape, parameters, contents)| InferInputTensor {
                name,
                datatype: datatype.to_owned(),
                shape,
                parameters,
                contents,
            },
        );
    let output = ("[a-z_]{1,8}", parameters())
        .prop_map(|(name, parameters)| InferRequestedOutputTensor { name, parameters });
    (
        (text(), text(), text()),
        parameters(),
        prop::collection::vec(input, 0..3),
        prop::collection::vec(output, 0..3),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..4096), 0..3),
    )
        .prop_map(
            |((model_name, model_version, id), parameters, inputs, outputs, raw_input_contents)| {
                ModelInferRequest {
                    model_name,
                    model_version,
                    id,
                    parameters,
                    inputs,
                    outputs,
                    raw_input_contents,
                }
            },
        )
}

fn infer_response() -> impl Strategy<Value = ModelInferResponse> {
    let output = (
        "[a-z_]{1,8}",
        prop::collection::vec(0i64..8, 0..3),
        contents(),
    )
        .prop_map(|(name, shape, contents)| InferOutputTensor {
            name,
            datatype: "FP64".into(),
            shape,
            parameters: Default::default(),
            contents,
        });
    (
        (text(), text(), text()),
        prop::collection::vec(output, 0..3),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..1024), 0..2),
    )
        .prop_map(
            |((model_name, model_version, id), outputs, raw_output_contents)| ModelInferResponse {
                model_name,
                model_version,
                id,
                parameters: Default::default(),
                outputs,
                raw_output_contents,
            },
        )
}

fn metadata_response() -> impl Strategy<Value = ModelMetadataResponse> {
    let tensor =
        ("[a-z_]{1,8}", prop::collection::vec(-1i64..8, 0..3)).prop_map(|(name, shape)| {
            TensorMetadata {
                name,
                datatype: "FP32".into(),
                shape,
            }
        });
    (
        text(),
        prop::collection::vec("[0-9]{1,3}", 0..3),
        text(),
        prop::collection::vec(tensor.clone(), 0..3),
        prop::collection::vec(tensor, 0..3),
    )
        .prop_map(
            |(name, versions, platform, inputs, outputs)| ModelMetadataResponse {
                name,
                versions,
                platform,
                inputs,
                outputs,
            },
        )
}

fn edit() -> impl Strategy<Value = (Option<String>, Option<String>)> {
    (prop::option::of(text()), prop::option::of(text()))
}

fn with_edit<T>(e: &(Option<String>, Option<String>), f: impl FnOnce(&NameEdit<'_>) -> T) -> T {
    f(&NameEdit {
        name: e.0.as_deref(),
        version: e.1.as_deref(),
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
    fn infer_request_rewrite_equals_decode_edit_encode(m in infer_request(), e in edit()) {
        let bytes = m.encode_to_vec();
        with_edit(&e, |edit| check::<ModelInferRequest>(&bytes, edit, true))?;
    }

    #[test]
    fn infer_response_rewrite_equals_decode_edit_encode(m in infer_response(), e in edit()) {
        let bytes = m.encode_to_vec();
        with_edit(&e, |edit| check::<ModelInferResponse>(&bytes, edit, true))?;
    }

    #[test]
    fn ready_and_metadata_rewrites_equal_decode_edit_encode(
        name in text(), version in text(), meta in metadata_response(), e in edit(),
    ) {
        let ready = ModelReadyRequest { name: name.clone(), version: version.clone() }.encode_to_vec();
        with_edit(&e, |edit| check::<ModelReadyRequest>(&ready, edit, true))?;
        let req = ModelMetadataRequest { name, version }.encode_to_vec();
        with_edit(&e, |edit| check::<ModelMetadataRequest>(&req, edit, true))?;
        // The response's field 2 is the versions list: it must come through untouched.
        let resp = meta.encode_to_vec();
        with_edit(&e, |edit| check::<ModelMetadataResponse>(&resp, edit, true))?;
    }

    /// Concatenated encodings are merged messages: name and version fields repeated and
    /// interleaved with the payload take their last values, as prost decodes them.
    #[test]
    fn repeated_and_reordered_fields_rewrite_like_prost(
        a in infer_request(), b in infer_request(), c in (text(), text()), e in edit(),
    ) {
        let mut bytes = a.encode_to_vec();
        bytes.extend(b.encode_to_vec());
        bytes.extend(ModelReadyRequest { name: c.0, version: c.1 }.encode_to_vec());
        with_edit(&e, |edit| check::<ModelInferRequest>(&bytes, edit, false))?;
        // Name and version after the payload (a non-canonical writer).
        let mut late = ModelInferRequest { model_name: String::new(), model_version: String::new(), ..a.clone() }
            .encode_to_vec();
        late.extend(ModelReadyRequest { name: a.model_name.clone(), version: a.model_version.clone() }.encode_to_vec());
        with_edit(&e, |edit| check::<ModelInferRequest>(&late, edit, false))?;
    }

    /// Unknown fields (Triton's extra InferParameter members, future fields) survive.
    #[test]
    fn unknown_fields_are_kept(m in infer_request(), number in 8u32..1000, value in any::<u64>(), e in edit()) {
        let mut bytes = m.encode_to_vec();
        let mut unknown = Vec::new();
        prost::encoding::encode_key(number, prost::encoding::WireType::Varint, &mut unknown);
        prost::encoding::encode_varint(value, &mut unknown);
        bytes.extend(&unknown);
        with_edit(&e, |edit| -> Result<(), TestCaseError> {
            check::<ModelInferRequest>(&bytes, edit, false)?;
            let out = grpc::rewrite_to_vec(MessageKind::ModelInferRequest, &bytes, edit).unwrap();
            prop_assert!(out.ends_with(&unknown));
            Ok(())
        })?;
    }

    /// Arbitrary bytes: never a panic; when prost decodes them, the rewrite agrees.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256), e in edit()) {
        for kind in MessageKind::ALL {
            let _ = grpc::read(kind, &bytes);
        }
        with_edit(&e, |edit| -> Result<(), TestCaseError> {
            check::<ModelInferRequest>(&bytes, edit, false)?;
            check::<ModelReadyRequest>(&bytes, edit, false)?;
            check::<ModelMetadataResponse>(&bytes, edit, false)
        })?;
    }

    /// Mutated valid encodings (bit flips, insertions, truncation): never a panic; agreement
    /// with prost whenever it still decodes.
    #[test]
    fn mutated_messages_never_panic(
        m in infer_request(), r in infer_response(),
        ops in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
        e in edit(),
    ) {
        let request = mutate(m.encode_to_vec(), &ops);
        let response = mutate(r.encode_to_vec(), &ops);
        with_edit(&e, |edit| -> Result<(), TestCaseError> {
            check::<ModelInferRequest>(&request, edit, false)?;
            check::<ModelInferResponse>(&response, edit, false)
        })?;
    }
}

/// A request whose payload is megabytes: the rewrite references it instead of copying it, and
/// the result still decodes to the edited request.
#[test]
fn megabyte_payload_is_shared_not_copied() {
    let request = ModelInferRequest {
        model_name: "alias".into(),
        id: "r-1".into(),
        inputs: vec![InferInputTensor {
            name: "input-0".into(),
            datatype: "FP32".into(),
            shape: vec![1 << 20],
            ..InferInputTensor::default()
        }],
        raw_input_contents: vec![vec![7; 4 << 20]],
        ..ModelInferRequest::default()
    };
    let bytes = Bytes::from(request.encode_to_vec());
    let edit = NameEdit {
        name: Some("iris"),
        version: Some("2"),
    };
    let out = grpc::rewrite_bytes(MessageKind::ModelInferRequest, &bytes, &edit).unwrap();
    let copied: usize = out
        .chunks()
        .iter()
        .filter(|c| !bytes.as_ptr_range().contains(&c.as_ptr()))
        .map(Bytes::len)
        .sum();
    assert!(copied < 16, "{copied} bytes were not shared");
    let decoded = ModelInferRequest::decode(out).unwrap();
    assert_eq!(decoded.model_name, "iris");
    assert_eq!(decoded.model_version, "2");
    assert!(decoded.raw_input_contents == request.raw_input_contents);
    assert_eq!(
        grpc::read(MessageKind::ModelInferRequest, &[0x0a, 0x02, 0xc3, 0x28]),
        Err(WireError::InvalidUtf8 {
            message: "ModelInferRequest",
            field: 1
        })
    );
}
