//! The Open Inference Protocol's gRPC service (`inference.GRPCInferenceService`): its methods
//! by path, and reading and rewriting the model name and version of an encoded message
//! without decoding anything else.
//!
//! In V2 the model is addressed by two plain top-level string fields, `1` (name) and `2`
//! (version), in every message that names a model: `ModelInferRequest` (`model_name`,
//! `model_version`), `ModelReadyRequest` and `ModelMetadataRequest` (`name`, `version`) and
//! `ModelInferResponse`; `ModelMetadataResponse` has the name in `1` but the list of the
//! server's versions in `2`. A `ModelInferRequest` may carry megabytes in
//! `raw_input_contents` (field 7): only the top-level field framing is walked, fields 1 and 2
//! are read, and the output is the input's bytes with new fields 1 and 2 in place of the old.
//!
//! Semantics are protobuf's: a scalar field sent several times takes its last value. The
//! rewritten message has each of the two fields at most once (empty strings are not encoded,
//! as proto3 writes them), at the position of the first of either in the input (at the start
//! when there was none). For a canonically encoded input (fields in number order, as prost and
//! the official libraries write them) the output is byte for byte what decoding, editing and
//! re-encoding would give; for any other input, decoding the output gives the decoded input
//! with the edit applied. Every other field, unknown ones included, is copied untouched.

use bytes::Bytes;

use crate::raw::{LEN, WireError, fields, put_len_field};
use crate::splice::{RewrittenBytes, Splice};

/// gRPC service name of the Open Inference Protocol.
pub const SERVICE: &str = "inference.GRPCInferenceService";

/// Field number of the model name in every [`MessageKind`].
const NAME: u32 = 1;
/// Field number of the model version where a [`MessageKind`] has one.
const VERSION: u32 = 2;

/// A method of `inference.GRPCInferenceService` (the core protocol; the repository and
/// vendor extensions are not routed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `ServerLive`: whether the server takes requests.
    ServerLive,
    /// `ServerReady`: whether the server is ready for inference.
    ServerReady,
    /// `ModelReady` (`ModelReadyRequest { name, version }`).
    ModelReady,
    /// `ServerMetadata`: server name, version, extensions.
    ServerMetadata,
    /// `ModelMetadata` (`ModelMetadataRequest { name, version }`).
    ModelMetadata,
    /// `ModelInfer` (`ModelInferRequest { model_name, model_version, … }`).
    ModelInfer,
}

/// An encoded V2 message that names a model, by where its name and version are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// `ModelInferRequest`: `model_name` (1), `model_version` (2).
    ModelInferRequest,
    /// `ModelReadyRequest`: `name` (1), `version` (2).
    ModelReadyRequest,
    /// `ModelMetadataRequest`: `name` (1), `version` (2).
    ModelMetadataRequest,
    /// `ModelInferResponse`: `model_name` (1), `model_version` (2).
    ModelInferResponse,
    /// `ModelMetadataResponse`: `name` (1); its field 2 is the repeated `versions` list, which
    /// is neither read nor rewritten.
    ModelMetadataResponse,
}

/// The model a V2 message names, borrowing from the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModelRef<'a> {
    /// The model name (empty when absent).
    pub name: &'a str,
    /// The version (empty when absent: the server picks one by its version policy; always
    /// empty for [`MessageKind::ModelMetadataResponse`]).
    pub version: &'a str,
}

/// What to change in a V2 message; `None` keeps the field as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NameEdit<'e> {
    /// New model name.
    pub name: Option<&'e str>,
    /// New version (`Some("")` removes it: the server's choice). Ignored for
    /// [`MessageKind::ModelMetadataResponse`], which has no version field.
    pub version: Option<&'e str>,
}

// === impl Method ===

impl Method {
    /// Every method.
    pub const ALL: [Method; 6] = [
        Method::ServerLive,
        Method::ServerReady,
        Method::ModelReady,
        Method::ServerMetadata,
        Method::ModelMetadata,
        Method::ModelInfer,
    ];

    /// The HTTP/2 `:path`, e.g. `/inference.GRPCInferenceService/ModelInfer`.
    pub fn path(self) -> &'static str {
        match self {
            Method::ServerLive => "/inference.GRPCInferenceService/ServerLive",
            Method::ServerReady => "/inference.GRPCInferenceService/ServerReady",
            Method::ModelReady => "/inference.GRPCInferenceService/ModelReady",
            Method::ServerMetadata => "/inference.GRPCInferenceService/ServerMetadata",
            Method::ModelMetadata => "/inference.GRPCInferenceService/ModelMetadata",
            Method::ModelInfer => "/inference.GRPCInferenceService/ModelInfer",
        }
    }

    /// The method of a `:path`; `None` for any other (gRPC paths are case-sensitive).
    pub fn from_path(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.path() == path)
    }

    /// The method name alone (`ModelInfer`, …).
    pub fn method_name(self) -> &'static str {
        let path = self.path();
        &path[path.rfind('/').map_or(0, |i| i + 1)..]
    }

    /// How the request names its model; `None` for the server-level calls (live, ready,
    /// server metadata), whose requests are empty.
    pub fn request(self) -> Option<MessageKind> {
        match self {
            Method::ModelInfer => Some(MessageKind::ModelInferRequest),
            Method::ModelReady => Some(MessageKind::ModelReadyRequest),
            Method::ModelMetadata => Some(MessageKind::ModelMetadataRequest),
            Method::ServerLive | Method::ServerReady | Method::ServerMetadata => None,
        }
    }

    /// How the response names its model, where it does.
    pub fn response(self) -> Option<MessageKind> {
        match self {
            Method::ModelInfer => Some(MessageKind::ModelInferResponse),
            Method::ModelMetadata => Some(MessageKind::ModelMetadataResponse),
            _ => None,
        }
    }
}

// === impl MessageKind ===

impl MessageKind {
    /// Every kind.
    pub const ALL: [MessageKind; 5] = [
        MessageKind::ModelInferRequest,
        MessageKind::ModelReadyRequest,
        MessageKind::ModelMetadataRequest,
        MessageKind::ModelInferResponse,
        MessageKind::ModelMetadataResponse,
    ];

    /// The protobuf message name (for errors).
    pub fn type_name(self) -> &'static str {
        match self {
            MessageKind::ModelInferRequest => "ModelInferRequest",
            MessageKind::ModelReadyRequest => "ModelReadyRequest",
            MessageKind::ModelMetadataRequest => "ModelMetadataRequest",
            MessageKind::ModelInferResponse => "ModelInferResponse",
            MessageKind::ModelMetadataResponse => "ModelMetadataResponse",
        }
    }

    /// Whether field 2 is the model version.
    fn has_version(self) -> bool {
        self != MessageKind::ModelMetadataResponse
    }

    /// Whether `number` is one of the fields this crate reads and rewrites.
    fn is_model_field(self, number: u32) -> bool {
        number == NAME || (number == VERSION && self.has_version())
    }
}

/// Reads the model name and version of an encoded message (the last value of each field, as
/// protobuf decoders do).
///
/// # Errors
/// Malformed top-level framing, or a name / version field that is not a UTF-8 string.
pub fn read(kind: MessageKind, msg: &[u8]) -> Result<ModelRef<'_>, WireError> {
    let mut model = ModelRef::default();
    for field in fields(msg) {
        let field = field?;
        if !kind.is_model_field(field.number) {
            continue;
        }
        if field.wire_type != LEN {
            return Err(WireError::WrongWireType {
                message: kind.type_name(),
                field: field.number,
                wire_type: field.wire_type,
                expected: LEN,
            });
        }
        let value = std::str::from_utf8(&msg[field.payload.clone()]).map_err(|_| {
            WireError::InvalidUtf8 {
                message: kind.type_name(),
                field: field.number,
            }
        })?;
        if field.number == NAME {
            model.name = value;
        } else {
            model.version = value;
        }
    }
    Ok(model)
}

/// Rewrites the model name and version of an encoded message into a new buffer (the other
/// fields are copied once).
///
/// # Errors
/// As [`read`].
pub fn rewrite_to_vec(
    kind: MessageKind,
    msg: &[u8],
    edit: &NameEdit<'_>,
) -> Result<Vec<u8>, WireError> {
    Ok(plan(kind, msg, edit)?.to_vec(msg))
}

/// Rewrites the model name and version of an encoded message without copying the rest: the
/// result is a chain of slices of `msg` (shared, reference-counted) and one small new piece.
///
/// # Errors
/// As [`read`].
pub fn rewrite_bytes(
    kind: MessageKind,
    msg: &Bytes,
    edit: &NameEdit<'_>,
) -> Result<RewrittenBytes, WireError> {
    Ok(plan(kind, msg, edit)?.into_bytes(msg))
}

fn plan(kind: MessageKind, msg: &[u8], edit: &NameEdit<'_>) -> Result<Splice, WireError> {
    let sent = read(kind, msg)?;
    let name = edit.name.unwrap_or(sent.name);
    let version = if kind.has_version() {
        edit.version.unwrap_or(sent.version)
    } else {
        ""
    };
    let mut splice = Splice::default();
    splice.replace_fields(
        msg,
        0..msg.len(),
        |n| kind.is_model_field(n),
        |out| {
            // proto3 does not encode empty strings; name (1) before version (2).
            if !name.is_empty() {
                put_len_field(out, NAME, name.as_bytes());
            }
            if !version.is_empty() {
                put_len_field(out, VERSION, version.as_bytes());
            }
        },
    )?;
    Ok(splice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::put_varint;

    fn infer_request(name: &[u8], version: &[u8], raw: &[u8]) -> Vec<u8> {
        let mut msg = Vec::new();
        put_len_field(&mut msg, NAME, name);
        if !version.is_empty() {
            put_len_field(&mut msg, VERSION, version);
        }
        put_len_field(&mut msg, 3, b"request-id");
        put_len_field(&mut msg, 7, raw);
        msg
    }

    #[test]
    fn paths_round_trip_and_are_exact() {
        for m in Method::ALL {
            assert_eq!(Method::from_path(m.path()), Some(m));
            assert!(m.path().starts_with(&format!("/{SERVICE}/")));
        }
        assert_eq!(Method::ModelInfer.method_name(), "ModelInfer");
        assert!(Method::from_path("/inference.GRPCInferenceService/modelinfer").is_none());
        assert!(Method::from_path("/inference.GRPCInferenceService/ModelStreamInfer").is_none());
        assert_eq!(
            Method::ModelReady.request(),
            Some(MessageKind::ModelReadyRequest)
        );
        assert_eq!(Method::ServerLive.request(), None);
        assert_eq!(
            Method::ModelMetadata.response(),
            Some(MessageKind::ModelMetadataResponse)
        );
    }

    #[test]
    fn reads_the_last_name_and_version() {
        let mut msg = infer_request(b"first", b"1", b"tensor");
        put_len_field(&mut msg, NAME, b"second");
        assert_eq!(
            read(MessageKind::ModelInferRequest, &msg),
            Ok(ModelRef {
                name: "second",
                version: "1"
            })
        );
        assert_eq!(
            read(MessageKind::ModelReadyRequest, &[]),
            Ok(ModelRef::default())
        );
    }

    #[test]
    fn metadata_response_versions_are_not_a_version() {
        let mut msg = Vec::new();
        put_len_field(&mut msg, NAME, b"iris");
        put_len_field(&mut msg, VERSION, b"1");
        put_len_field(&mut msg, VERSION, b"2");
        let read_back = read(MessageKind::ModelMetadataResponse, &msg).unwrap();
        assert_eq!(read_back.version, "");
        let edit = NameEdit {
            name: Some("alias"),
            version: Some("9"),
        };
        let out = rewrite_to_vec(MessageKind::ModelMetadataResponse, &msg, &edit).unwrap();
        let mut expected = Vec::new();
        put_len_field(&mut expected, NAME, b"alias");
        put_len_field(&mut expected, VERSION, b"1");
        put_len_field(&mut expected, VERSION, b"2");
        assert_eq!(out, expected);
    }

    #[test]
    fn rewrite_replaces_only_name_and_version_and_shares_the_payload() {
        let raw = vec![0x5a; 1 << 20];
        let msg = infer_request(b"alias", b"", &raw);
        let edit = NameEdit {
            name: Some("iris"),
            version: Some("3"),
        };
        let out = rewrite_to_vec(MessageKind::ModelInferRequest, &msg, &edit).unwrap();
        assert_eq!(
            read(MessageKind::ModelInferRequest, &out),
            Ok(ModelRef {
                name: "iris",
                version: "3"
            })
        );
        let header = 2 + "alias".len();
        // (assert! rather than assert_eq!: a failure must not print a megabyte)
        assert!(out[2 + 4 + 3..] == msg[header..]);
        let shared = Bytes::from(msg);
        let chained = rewrite_bytes(MessageKind::ModelInferRequest, &shared, &edit).unwrap();
        assert!(chained.to_vec() == out);
        // The megabyte is referenced, not copied.
        let last = chained.chunks().last().unwrap();
        assert_eq!(last.len(), shared.len() - header);
        assert_eq!(last.as_ptr(), shared[header..].as_ptr());
    }

    #[test]
    fn empty_edits_remove_fields_like_proto3() {
        let msg = infer_request(b"alias", b"7", b"x");
        let edit = NameEdit {
            name: None,
            version: Some(""),
        };
        let out = rewrite_to_vec(MessageKind::ModelInferRequest, &msg, &edit).unwrap();
        let mut expected = Vec::new();
        put_len_field(&mut expected, NAME, b"alias");
        put_len_field(&mut expected, 3, b"request-id");
        put_len_field(&mut expected, 7, b"x");
        assert_eq!(out, expected);
    }

    #[test]
    fn malformed_model_fields_are_errors() {
        let mut varint_name = Vec::new();
        put_varint(&mut varint_name, u64::from(NAME << 3));
        put_varint(&mut varint_name, 5);
        assert!(matches!(
            read(MessageKind::ModelInferRequest, &varint_name),
            Err(WireError::WrongWireType { field: 1, .. })
        ));
        let mut bad_utf8 = Vec::new();
        put_len_field(&mut bad_utf8, VERSION, &[0xff, 0xfe]);
        assert_eq!(
            read(MessageKind::ModelReadyRequest, &bad_utf8),
            Err(WireError::InvalidUtf8 {
                message: "ModelReadyRequest",
                field: 2
            })
        );
        assert_eq!(
            rewrite_to_vec(
                MessageKind::ModelInferRequest,
                &[0x0a, 9, b'a'],
                &NameEdit::default()
            ),
            Err(WireError::Truncated)
        );
    }
}
