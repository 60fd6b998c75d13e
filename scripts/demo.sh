#!/usr/bin/env bash
# The local demo: a store, three simulated TF Serving executors with companions and two proxies
# with opposite preferences on loopback; load through both; an executor slowed and one killed
# half-way; a report with a plot in demo-out/. Extra arguments go to `mulambda-loadtest demo`
# (e.g. --duration 5s, --rate 200, --out-dir /tmp/demo).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-deps.sh
# Builds every binary of the workspace: the demo starts mulambda-proxy processes.
cargo build --release --workspace --bins
exec cargo run --release --quiet -p mulambda-loadtest -- demo "$@"
