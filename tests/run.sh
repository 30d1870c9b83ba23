#!/usr/bin/env bash
# The test command: every test of the workspace (unit, integration, end-to-end).
# Run from anywhere; uses CARGO_TARGET_DIR if set.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec cargo test --workspace --locked "$@"
