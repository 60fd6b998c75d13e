#!/usr/bin/env bash
# Interop suite for the Open Inference Protocol ("V2") with real servers and clients:
#   1. wire conformance: mulambda's own .proto (wire/proto/inference) against the descriptors
#      shipped by kserve, mlserver and tritonclient — every declared message, field and method
#      must match each of them;
#   2. testkit's real-server tests (testkit/tests/model_servers.rs): MLServer and KServe's model
#      server serving a scikit-learn model trained at test time, driven by tritonclient (HTTP,
#      gRPC, binary tensors), mulambda-wire's tonic client and raw rewritten requests, and plain
#      HTTP (KServe V1). Here a missing environment fails instead of skipping.
# The Python environment (~650 MB, no TensorFlow) is built once and cached
# (scripts/interop-env.sh v2). Servers listen on free 127.0.0.1 ports and are stopped by the
# tests; nothing is left running.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-deps.sh
python="$(bash scripts/interop-env.sh v2)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "test-interop-v2: wire conformance" >&2
protoc -I wire/proto -I /usr/include --include_imports \
    --descriptor_set_out="$work/v2.desc" wire/proto/inference/grpc_predict_v2.proto
for source in kserve mlserver tritonclient; do
    "$python" testkit/python/v2_wire_conformance.py "$work/v2.desc" "$source"
done

echo "test-interop-v2: real V2 servers" >&2
export MULAMBDA_V2_PYTHON="$python" MULAMBDA_REQUIRE_V2=1
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run -p mulambda-testkit --test model_servers --no-fail-fast
else
    cargo test -p mulambda-testkit --test model_servers --no-fail-fast
fi
