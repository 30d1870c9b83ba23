#!/usr/bin/env python3
"""End-to-end test of the `predict` Lambda under cargo-lambda's Runtime API emulator.

Trains the bundled german_credit pipeline into a temporary store, starts
`cargo lambda watch` (which builds and runs the `predict` binary against an emulated Lambda
Runtime API on 127.0.0.1), invokes it with each API Gateway / Function URL event in
tests/data/ and checks the answers, and checks that the function logs JSON (audit records
included). Exit status 0 when every check holds. Run by tests/run.sh; needs cargo-lambda
(`cargo install cargo-lambda --locked`).
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"

# Expected HTTP status per event file; every other event is a successful prediction.
EXPECTED = {"apigw_http_v2_predict_bad_field.json": 400, "apigw_http_v2_predict_unknown_version.json": 404,
            # The JWT's cognito:groups make the caller an approver (else 403); the trained
            # version was never proposed, so there is nothing to approve.
            "apigw_http_v2_approve_unproposed.json": 409,
            # No authorizer context (a route or Function URL left open): refused, not served.
            "apigw_http_v2_predict_no_authorizer.json": 401}


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def invoke(port, event, timeout=120):
    req = urllib.request.Request(f"http://{HOST}:{port}/2015-03-31/functions/predict/invocations",
                                 data=json.dumps(event).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def main():
    os.chdir(REPO)
    if not shutil.which("cargo-lambda"):
        sys.exit("cargo-lambda is not installed (cargo install cargo-lambda --locked); .ci/run installs it")
    work = tempfile.mkdtemp(prefix="riskfn-lambda-")
    store = os.path.join(work, "store")
    train = subprocess.run(["cargo", "run", "-q", "--bin", "riskfn", "--", "train", "--pipeline", "german_credit",
                            "--families", "logistic_regression", "--store", store, "--json"],
                           capture_output=True, text=True)
    if train.returncode != 0:
        sys.exit(f"training failed: {train.stderr}")
    version = json.loads(train.stdout)["version"]
    port = free_port()
    log_path = os.path.join(work, "watch.log")
    env = dict(os.environ, RISKFN_STORE=store, AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_LOG_LEVEL="INFO")
    with open(log_path, "w") as log:
        watch = subprocess.Popen(["cargo", "lambda", "watch", "--invoke-address", HOST, "--invoke-port", str(port),
                                  "--bin", "predict", "--ignore-changes"],
                                 env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    failures = []
    try:
        deadline = time.time() + 600
        while True:
            try:
                with socket.create_connection((HOST, port), timeout=1):
                    break
            except OSError:
                if watch.poll() is not None or time.time() > deadline:
                    sys.exit(f"cargo lambda watch did not start:\n{open(log_path).read()[-3000:]}")
                time.sleep(0.5)
        events = sorted(glob.glob(os.path.join(REPO, "tests/data/*.json")))
        for path in events:
            name = os.path.basename(path)
            with open(path) as f:
                # Events about a version name it VERSION: the one trained above.
                event = json.loads(f.read().replace("VERSION", version))
            try:
                answer = invoke(port, event)
            except urllib.error.HTTPError as e:
                failures.append(f"{name}: emulator answered HTTP {e.code}: {e.read()[:300]!r}")
                continue
            status = answer.get("statusCode")
            body = answer.get("body") or ""
            if answer.get("isBase64Encoded"):
                import base64
                body = base64.b64decode(body).decode()
            want = EXPECTED.get(name, 200)
            if status != want:
                failures.append(f"{name}: status {status}, expected {want}: {body[:300]}")
                continue
            payload = json.loads(body)
            if want == 200 and event.get("rawPath") == "/v1/me":
                if payload != {"name": "validator-7", "roles": ["approver"]}:
                    failures.append(f"{name}: the caller is not read from the JWT: {payload}")
            elif want == 409 and "not been proposed" not in payload.get("message", ""):
                failures.append(f"{name}: unexpected refusal: {payload}")
            elif want == 200 and "/card" in event.get("rawPath", ""):
                if payload.get("version") != version or not payload.get("fairness"):
                    failures.append(f"{name}: not the version's model card: {body[:300]}")
            elif want == 200:
                preds = payload.get("predictions", [payload])
                ok = payload.get("version") == version and all(0.0 <= p["probability"] <= 1.0 and p["decision"]
                                                              in ("approve", "decline") and "points" in p for p in preds)
                if not ok:
                    failures.append(f"{name}: unexpected answer {payload}")
            elif want == 401 and payload.get("error") != "unauthorized":
                failures.append(f"{name}: unexpected refusal: {payload}")
            elif want == 400 and not any(f["field"] == "duration_in_month" for f in payload.get("fields", [])):
                failures.append(f"{name}: the 400 does not name the field: {payload}")
            print(f"ok  {name}: {status}")
        time.sleep(1.0)
        logs = open(log_path).read()
        json_lines = [l for l in logs.splitlines() if l.startswith("{") and "input_sha256" in l]
        if not json_lines:
            failures.append("no JSON audit log line from the function")
        else:
            json.loads(json_lines[0])
            print("ok  the function logs JSON, audit records included")
    finally:
        try:
            os.killpg(watch.pid, signal.SIGTERM)
            watch.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(watch.pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print(f"lambda emulator: {len(events)} events answered as expected")


if __name__ == "__main__":
    main()
