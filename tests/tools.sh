#!/usr/bin/env bash
# The tools the tests start, installed once under target/tools (or $RISKFN_TOOLS_DIR) unless
# already on PATH: s3s-fs (the S3-compatible server of the S3 tests; Garage ignores
# conditional PutObject), cargo-lambda (the Lambda Runtime API emulator) and schemathesis
# (the OpenAPI contract tester), and Chromium with ChromeDriver (the console test).
# Sourced by tests/run.sh and .ci/run; needs cargo and
# python3 with venv. The first install takes about ten minutes on 2 cores.
tools="${RISKFN_TOOLS_DIR:-${CARGO_TARGET_DIR:-$PWD/target}/tools}"
export RISKFN_TOOLS_DIR="$tools"
export PATH="$tools/bin:$PATH"
mkdir -p "$tools/bin"
command -v s3s-fs >/dev/null || cargo install s3s-fs@0.14.1 --locked --features binary --root "$tools"
command -v cargo-lambda >/dev/null || cargo install cargo-lambda --locked --root "$tools"
if ! command -v schemathesis >/dev/null; then
  python3 -m venv "$tools/schemathesis-venv"
  "$tools/schemathesis-venv/bin/pip" install -q "schemathesis==4.32.5"
  ln -sf "$tools/schemathesis-venv/bin/schemathesis" "$tools/bin/schemathesis"
fi
# Headless Chromium and its ChromeDriver (Debian's packages) for the console's browser test
# (tests/e2e/browser.rs); installed with apt-get when missing, as root or with sudo.
if ! command -v chromedriver >/dev/null || ! [ -x "${RISKFN_CHROMIUM:-/usr/bin/chromium}" ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "tests/tools.sh: the browser test needs Debian's chromium and chromium-driver: apt-get install chromium chromium-driver" >&2
    false
  fi
fi
