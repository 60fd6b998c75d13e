#!/usr/bin/env bash
# Creates, once, the Python virtual environments the interop tests use, and prints the
# environment's python path on stdout (progress goes to stderr).
#
# Usage: interop-env.sh [tfserving|v2] [--check]
#   tfserving (default)  TF Serving's official client (`tensorflow-serving-api`, which pulls
#                        TensorFlow for its protos) over `grpcio`; scripts/test-interop.sh.
#                        ~/.cache/mulambda/venv-tfserving (MULAMBDA_TFSERVING_VENV).
#   v2                   Real Open Inference Protocol servers and clients, CPU only, no
#                        TensorFlow: MLServer with its scikit-learn runtime, KServe's Python
#                        model server, scikit-learn, and Triton's client (`tritonclient[http,grpc]`);
#                        testkit's model-server harness and scripts/test-interop-v2.sh.
#                        ~/.cache/mulambda/venv-v2 (MULAMBDA_V2_VENV).
#   --check              Do not build: print the path if the environment is built and current,
#                        else exit 3.
#
# The two are separate on purpose: tritonclient pins grpcio < 1.68 and protobuf < 6, which
# tensorflow-serving-api 2.21's grpcio 1.85 cannot share. Within v2, kserve's newest releases
# need a FastAPI that MLServer 1.7 refuses (< 0.116); kserve 0.16 and tritonclient 2.66 are the
# newest that resolve together with MLServer 1.7.1 (measured with pip's resolver).
#
# A stamp file records the requirements and the Python version an environment was built from;
# when either changes it is rebuilt, otherwise reused as is. Concurrent callers (parallel tests)
# wait on a lock instead of building twice.
set -euo pipefail

kind="tfserving"
check_only=0
for arg in "$@"; do
    case "$arg" in
        tfserving | v2) kind="$arg" ;;
        --check) check_only=1 ;;
        *) echo "interop-env: unknown argument $arg (usage: interop-env.sh [tfserving|v2] [--check])" >&2; exit 2 ;;
    esac
done

cache="${XDG_CACHE_HOME:-$HOME/.cache}/mulambda"
case "$kind" in
    tfserving)
        venv="${MULAMBDA_TFSERVING_VENV:-$cache/venv-tfserving}"
        # Pinned so a CI cache hit and a fresh build test the same client.
        REQUIREMENTS=(
            "tensorflow-serving-api==2.21.0"
            "grpcio==1.85.3"
        )
        IMPORT_CHECKS=('import grpc; from tensorflow_serving.apis import prediction_service_pb2_grpc, model_service_pb2_grpc')
        NOTE="this downloads TensorFlow once"
        ;;
    v2)
        venv="${MULAMBDA_V2_VENV:-$cache/venv-v2}"
        # Top-level versions pinned, plus the packages pip's resolver otherwise backtracks over
        # (fastapi, protobuf, grpcio, grpcio-tools, kubernetes, googleapis-common-protos):
        # without them the resolution alone took a minute longer.
        REQUIREMENTS=(
            "mlserver==1.7.1"
            "mlserver-sklearn==1.7.1"
            "kserve==0.16.0"
            "scikit-learn==1.9.1"
            "tritonclient[http,grpc]==2.66.0"
            "fastapi==0.115.14"
            "protobuf==5.29.6"
            "grpcio==1.67.1"
            "grpcio-tools==1.67.1"
            "kubernetes==37.0.1"
            "googleapis-common-protos==1.75.0"
        )
        # One process each: kserve, mlserver and tritonclient.grpc all register the `inference`
        # protobuf package, and one Python process refuses a second registration (duplicate
        # symbol). The servers and the client run in separate processes anyway.
        IMPORT_CHECKS=(
            'import joblib, sklearn, mlserver, mlserver_sklearn, mlserver.grpc.dataplane_pb2'
            'import kserve, kserve.protocol.grpc.grpc_predict_v2_pb2'
            'import tritonclient.http, tritonclient.grpc'
        )
        NOTE="MLServer, KServe, scikit-learn and tritonclient, about 650 MB"
        ;;
esac

python="${MULAMBDA_PYTHON:-python3}"
command -v "$python" >/dev/null 2>&1 || { echo "interop-env: $python not found (set MULAMBDA_PYTHON)" >&2; exit 1; }

stamp_text="$("$python" -c 'import sys; print("python", sys.version.split()[0])')
$(printf '%s\n' "${REQUIREMENTS[@]}")"
stamp="$venv/.mulambda-stamp"

current() { [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_text" ]; }

if current; then
    echo "$venv/bin/python"
    exit 0
fi
if ((check_only)); then
    echo "interop-env: $venv is not built (run: bash scripts/interop-env.sh $kind)" >&2
    exit 3
fi

mkdir -p "$(dirname "$venv")"
# One builder at a time; whoever waited finds the environment built.
exec 9>"$venv.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi
if current; then
    echo "$venv/bin/python"
    exit 0
fi

echo "interop-env: building $venv (${REQUIREMENTS[*]}); $NOTE" >&2
start=$(date +%s)
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --no-cache-dir "${REQUIREMENTS[@]}" >&2
# Fails here, not in the tests, when the install is unusable.
for check in "${IMPORT_CHECKS[@]}"; do
    "$venv/bin/python" -c "$check" >&2
done
printf '%s\n' "$stamp_text" >"$stamp"
echo "interop-env: built in $(( $(date +%s) - start )) s" >&2
echo "$venv/bin/python"
