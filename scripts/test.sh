#!/usr/bin/env bash
# Runs every test of the workspace: unit, property and integration tests (against real
# redis-server processes on free loopback ports), plus the offline validation of deploy/.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-deps.sh

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
else
    cargo test --workspace --no-fail-fast
fi

if [ -f deploy/validate.sh ]; then
    bash deploy/validate.sh --strict
fi
