#!/usr/bin/env bash
# The test command: every test of the workspace (unit, integration, end-to-end), then the
# predict Lambda under cargo-lambda's Runtime API emulator.
# It installs the tools the tests start (tests/tools.sh: s3s-fs, cargo-lambda, Chromium and
# ChromeDriver, schemathesis) the first time, unless they are there already.
# Arguments go to cargo test (e.g. a test name filter); with any, the emulator test is
# skipped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. tests/tools.sh
# The predict Lambda links neither the batch engine nor a trainer (its release binary
# stays small and starts fast): its dependency tree must hold none of them.
banned=$(cargo tree -p riskfn-predict --locked -e normal --prefix none --format '{p}' \
  | awk '{print $1}' | sort -u | grep -E '^(datafusion|arrow|parquet|ballista|linfa|ndarray|riskfn-train|riskfn-batch)' || true)
if [ -n "$banned" ]; then
  echo "riskfn-predict depends on $banned" >&2
  exit 1
fi
rm -f "${CARGO_TARGET_DIR:-target}/tmp/fault-suite.txt"
cargo test --workspace --locked "$@"
# The fault suite's figures (tests/e2e/faults), when it ran.
cat "${CARGO_TARGET_DIR:-target}/tmp/fault-suite.txt" 2>/dev/null || true
if [ "$#" -eq 0 ]; then
  python3 tests/lambda_emulator.py
fi
