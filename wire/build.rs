//! Compiles mulambda's own `.proto` rendering of TF Serving's wire contract and of the Open
//! Inference Protocol's (`proto/`) with tonic-prost-build. Needs `protoc` and Google's well-known type definitions
//! (`google/protobuf/{any,wrappers}.proto`): Debian's `protobuf-compiler` and
//! `libprotobuf-dev`, installed by `scripts/ensure-deps.sh`.

use std::path::{Path, PathBuf};

const PROTOS: [&str; 8] = [
    "proto/tensorflow/types.proto",
    "proto/tensorflow/tensor.proto",
    "proto/tensorflow/example.proto",
    "proto/tensorflow/signature.proto",
    "proto/tensorflow/error_codes.proto",
    "proto/tensorflow_serving/model.proto",
    "proto/tensorflow_serving/inference.proto",
    "proto/tensorflow_serving/metadata.proto",
];
const SERVICES: [&str; 2] = [
    "proto/tensorflow_serving/services.proto",
    "proto/inference/grpc_predict_v2.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for p in PROTOS.iter().chain(&SERVICES) {
        println!("cargo:rerun-if-changed={p}");
    }
    println!("cargo:rerun-if-env-changed=PROTOC");
    println!("cargo:rerun-if-env-changed=MULAMBDA_PROTO_INCLUDE");

    let well_known = well_known_include().ok_or(
        "google/protobuf/wrappers.proto not found: install Debian's protobuf-compiler and \
         libprotobuf-dev (bash scripts/ensure-deps.sh), or point MULAMBDA_PROTO_INCLUDE at the \
         directory holding google/protobuf/*.proto",
    )?;
    let includes = [PathBuf::from("proto"), well_known];
    let protos: Vec<PathBuf> = PROTOS.iter().chain(&SERVICES).map(PathBuf::from).collect();
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Clients take any tonic channel; `connect` helpers would tie this crate to tonic's
        // transport feature.
        .build_transport(false)
        // Deterministic encoding: maps in key order, so equal messages encode to equal bytes.
        .btree_map(".")
        .include_file("protos.rs")
        .compile_protos(&protos, &includes)
        .map_err(|e| format!("compiling wire/proto with protoc: {e}"))?;
    Ok(())
}

/// The directory holding `google/protobuf/wrappers.proto`.
fn well_known_include() -> Option<PathBuf> {
    let candidates = std::env::var_os("MULAMBDA_PROTO_INCLUDE")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/include", "/usr/local/include"].map(PathBuf::from));
    candidates.into_iter().find(|dir| {
        Path::new(dir)
            .join("google/protobuf/wrappers.proto")
            .is_file()
    })
}
