#!/usr/bin/env bash
# Creates, once, the Python virtual environment the interop tests use: TF Serving's official
# client (`tensorflow-serving-api`, which pulls TensorFlow for its protos) over `grpcio`.
#
# The environment lives outside the repository, under ~/.cache/mulambda/venv-tfserving
# (override with MULAMBDA_TFSERVING_VENV). A stamp file records the requirements and the Python
# version it was built from; when either changes the environment is rebuilt, otherwise it is
# reused as is. Prints the environment's python path on stdout (progress goes to stderr).
set -euo pipefail

# Pinned so a CI cache hit and a fresh build test the same client.
REQUIREMENTS=(
    "tensorflow-serving-api==2.21.0"
    "grpcio==1.85.3"
)

venv="${MULAMBDA_TFSERVING_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mulambda/venv-tfserving}"
python="${MULAMBDA_PYTHON:-python3}"
command -v "$python" >/dev/null 2>&1 || { echo "interop-env: $python not found (set MULAMBDA_PYTHON)" >&2; exit 1; }

stamp_text="$("$python" -c 'import sys; print("python", sys.version.split()[0])')
$(printf '%s\n' "${REQUIREMENTS[@]}")"
stamp="$venv/.mulambda-stamp"

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_text" ]; then
    echo "$venv/bin/python"
    exit 0
fi

echo "interop-env: building $venv (${REQUIREMENTS[*]}); this downloads TensorFlow once" >&2
start=$(date +%s)
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --no-cache-dir "${REQUIREMENTS[@]}" >&2
# Fails here, not in the tests, when the install is unusable.
"$venv/bin/python" -c 'import grpc; from tensorflow_serving.apis import prediction_service_pb2_grpc, model_service_pb2_grpc' >&2
printf '%s\n' "$stamp_text" >"$stamp"
echo "interop-env: built in $(( $(date +%s) - start )) s" >&2
echo "$venv/bin/python"
