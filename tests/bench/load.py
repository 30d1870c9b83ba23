#!/usr/bin/env python3
"""Load check: the `predict` server under wrk (8 connections, 60 s, loopback) with its
resident memory sampled every second, to show no errors and flat memory.

    python3 tests/bench/load.py [--seconds 60]

Needs the same tools as serving.py (numpy, pyarrow, wrk). Results: target/bench/load.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serving  # noqa: E402


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    a = ap.parse_args()
    os.chdir(serving.REPO)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(serving.REPO, "target"))
    predict = os.path.join(target, "release", "predict")
    riskfn = os.path.join(target, "bench-fast", "riskfn")
    work = tempfile.mkdtemp(prefix="riskfn-load-")
    store = os.path.join(work, "store")
    subprocess.run([riskfn, "train", "--pipeline", "german_credit", "--families", "logistic_regression",
                    "--store", store, "--json"], check=True, capture_output=True)
    import pyarrow.parquet as pq
    table = pq.read_table(os.path.join(serving.REPO, "sql/german_credit/data/german_credit.parquet")).to_pylist()
    bodies = [json.dumps({k: v for k, v in r.items() if k != "creditability"}).encode()
              for i, r in enumerate(table, 1) if serving.splitmix64(i) % 100 >= 80]
    lua = os.path.join(work, "bodies.lua")
    serving.lua_script(bodies[:200], lua)
    port = serving.free_port()
    proc = serving.start(predict, store, port)
    samples, stop = [], threading.Event()
    try:
        assert serving.wait_first(port, bodies[0], proc)

        def sample():
            while not stop.is_set():
                samples.append(rss_mb(proc.pid))
                time.sleep(1.0)

        t = threading.Thread(target=sample)
        t.start()
        res = serving.wrk(port, lua, a.seconds, 8, 2)
        stop.set()
        t.join()
    finally:
        stop.set()
        serving.stop(proc)
    first, last = samples[1:6], samples[-5:]
    out = {"wrk": res, "rss_mb": samples, "rss_first_5s_mean": sum(first) / len(first),
           "rss_last_5s_mean": sum(last) / len(last), "rss_max": max(samples), "loadavg": os.getloadavg()}
    os.makedirs(os.path.join(target, "bench"), exist_ok=True)
    with open(os.path.join(target, "bench", "load.json"), "w") as f:
        json.dump(out, f, indent=1)
    print(f"{a.seconds} s at {res['requests_per_s']:.0f} req/s; non-2xx {res['non_2xx']}, socket errors {res['socket_errors']}; "
          f"RSS {out['rss_first_5s_mean']:.1f} MB in the first seconds, {out['rss_last_5s_mean']:.1f} MB in the last, "
          f"max {out['rss_max']:.1f} MB")


if __name__ == "__main__":
    main()
