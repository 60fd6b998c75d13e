#!/usr/bin/env bash
# Interop suite with TF Serving's official Python client (tensorflow-serving-api over grpcio):
#   1. wire conformance: mulambda's own .proto files (wire/proto) against the official
#      descriptors — every declared message, field, enum value and method must match;
#   2. the simulator's gRPC port driven by PredictionServiceStub and ModelServiceStub
#      (loadtest/tests/interop/tfserving_client.py).
# The Python environment is built once and cached (scripts/interop-env.sh). Traffic stays on
# 127.0.0.1; the simulator started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-deps.sh
python="$(bash scripts/interop-env.sh)"
export TF_CPP_MIN_LOG_LEVEL=3

work="$(mktemp -d)"
sim_pid=""
cleanup() {
    if [ -n "$sim_pid" ]; then
        kill "$sim_pid" 2>/dev/null || true
        wait "$sim_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "test-interop: wire conformance" >&2
protoc -I wire/proto -I /usr/include --include_imports \
    --descriptor_set_out="$work/wire.desc" wire/proto/tensorflow_serving/services.proto
"$python" loadtest/tests/interop/wire_conformance.py "$work/wire.desc"

echo "test-interop: official client against the simulator" >&2
cargo build -q -p mulambda-loadtest --bin mulambda-loadtest
bin="$(cargo metadata --format-version 1 --no-deps | "$python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/mulambda-loadtest"
"$bin" sim -e "name=interop,port=0,grpc-port=0,versions=1+2,labels=stable:1+canary:2,base-ms=0" \
    >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
for _ in $(seq 1 300); do
    grep -q '"grpc_addr"' "$work/sim.out" 2>/dev/null && break
    kill -0 "$sim_pid" 2>/dev/null || { cat "$work/sim.err" >&2; exit 1; }
    sleep 0.1
done
line="$(grep '"grpc_addr"' "$work/sim.out" | head -1)"
[ -n "$line" ] || { echo "test-interop: the simulator did not report a gRPC address" >&2; exit 1; }
grpc_addr="$(printf '%s' "$line" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["grpc_addr"])')"
rest_addr="$(printf '%s' "$line" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["addr"])')"
"$python" loadtest/tests/interop/tfserving_client.py "$grpc_addr" "$rest_addr"
