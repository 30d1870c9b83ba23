#!/usr/bin/env bash
# The test command: every test of the workspace (unit, integration, end-to-end).
# The S3 tests start their own S3-compatible server (s3s-fs) on 127.0.0.1; .ci/run installs
# it under target/tools, or put `s3s-fs` on PATH yourself
# (cargo install s3s-fs@0.14.1 --locked --features binary).
# Extra arguments go to cargo test (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tools="${RISKFN_TOOLS_DIR:-${CARGO_TARGET_DIR:-$PWD/target}/tools}"
export PATH="$tools/bin:$PATH"
exec cargo test --workspace --locked "$@"
