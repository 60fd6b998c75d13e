//! The Open Inference Protocol ("V2", KServe's predict protocol v2), as Triton, MLServer,
//! KServe's model server and OpenVINO Model Server speak it.
//!
//! - [`grpc`]: `inference.GRPCInferenceService` methods by path, and the zero-copy read and
//!   rewrite of the model name and version of an encoded message (`ModelInferRequest` and the
//!   other model-addressed messages).
//! - [`rest`]: parsing `/v2/…` paths and building the path for an executor's model name (the
//!   REST body never names the model).
//! - [`binary`]: the binary-tensor REST extension (`Inference-Header-Content-Length`).
//!
//! The generated message types and the tonic client and server are [`crate::inference`].

pub mod binary;
pub mod grpc;
pub mod rest;
