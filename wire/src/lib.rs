//! The wire contracts mulambda proxies: TF Serving's gRPC API and the Open Inference Protocol
//! ("V2": Triton, MLServer, KServe), gRPC and REST.
//!
//! TF Serving, at two levels:
//!
//! - [`spec`]: what a proxy must read and change. [`spec::read`] finds the [`spec::ModelSpecView`]
//!   of an encoded request of any PredictionService / ModelService method, and
//!   [`spec::rewrite_to_vec`] / [`spec::rewrite_bytes`] replace its model name (and version, when
//!   asked) **without decoding the other fields**: only `model_spec` is parsed and re-encoded,
//!   every other byte (the tensors, the examples) is copied, or with [`spec::rewrite_bytes`]
//!   shared, as is.
//! - [`tf`] and [`serving`]: full prost message types (tensors, tf.Example, every request and
//!   response) and the tonic `PredictionService` / `ModelService` clients and servers, for the
//!   simulator and for tests. The `.proto` files under `wire/proto/` are mulambda's own minimal
//!   rendering of the published contract: package, message, field and method names and numbers
//!   match TF Serving's, so its official clients interoperate.
//!
//! [`method`] maps gRPC paths (`/tensorflow.serving.PredictionService/Predict`, …) to request
//! kinds; [`frame`] reads and writes gRPC's 5-byte message prefix.
//!
//! The Open Inference Protocol: [`v2`] (gRPC methods and the zero-copy `model_name` /
//! `model_version` rewrite, REST paths, the binary-tensor extension) and [`inference`] (prost
//! messages and the tonic `GRPCInferenceService` client and server, from mulambda's own
//! rendering of KServe's published `grpc_predict_v2.proto`).
//!
//! Both rewrites share one mechanism (`splice`): walk the top-level field framing, replace the
//! addressed fields, reference every other byte of the input.
#![forbid(unsafe_code)]

pub mod frame;
pub mod method;
mod raw;
pub mod spec;
mod splice;
pub mod v2;

/// Generated code (prost messages, tonic clients and servers), one module per proto package.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/protos.rs"));
}

/// Package `inference` (the Open Inference Protocol): messages and `GRPCInferenceService`.
pub use pb::inference;
/// Package `tensorflow`: tensors, tf.Example, signatures, data types.
pub use pb::tensorflow as tf;
/// Package `tensorflow.serving`: requests, responses, the two services.
pub use pb::tensorflow::serving;

pub use method::RequestKind;
pub use raw::WireError;
pub use spec::{ModelSpecView, SpecEdit, Version};
pub use splice::RewrittenBytes;

/// The `google.protobuf.Any` type URL under which TF Serving packs the signature map of a
/// GetModelMetadata response (`metadata["signature_def"]`).
pub const SIGNATURE_DEF_MAP_TYPE_URL: &str =
    "type.googleapis.com/tensorflow.serving.SignatureDefMap";

/// The only metadata field TF Serving knows (`GetModelMetadataRequest.metadata_field`).
pub const SIGNATURE_DEF_FIELD: &str = "signature_def";
