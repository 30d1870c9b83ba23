#!/usr/bin/env python3
"""Scale benchmark: `riskfn train` over german_credit tiled to 50 million rows, end to end
(read, de-duplicate, SQL, split, fit, train logistic regression, evaluate, publish), with
wall time and peak memory: once in process (the default engine), then on a local Ballista
cluster of one scheduler and two executors, in the same run.

    python3 tests/bench/scale.py [--rows 50000000] [--python PY_WITH_PYARROW]
                                 [--max-rows N] [--ballista-bin DIR | --ballista-node PATH]
                                 [--skip-cluster]

`--max-rows N`: train on a copy of the pipeline with `[split] max_rows = N` (the sample
drawn in SQL; the tiled data has about 1M distinct rows, and logistic regression on all of
them takes linfa many minutes).

`--ballista-bin`: where `ballista-scheduler` and `ballista-executor` are (default: PATH);
`cargo install ballista-scheduler ballista-executor --version 55.0.0` provides them.
`--ballista-node PATH`: run the scheduler and executors on `ballista_node` instead (the same
Ballista library code, without the stock binaries' mimalloc), built with riskfn's profile:
`cargo build --profile bench-fast -p riskfn-tests --bin ballista_node`.
Results: target/bench/scale.json.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scoring  # noqa: E402


def timed(cmd, env=None):
    """Run `cmd` under /usr/bin/time; (wall seconds, peak RSS in MB, stdout, stderr)."""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return wall, int(p.stderr.strip().splitlines()[-1]) / 1024, p.stdout, p.stderr


def staged_seconds(stderr):
    """The seconds the command's `staged` log line reports (None without one)."""
    m = re.search(r"staged.*seconds=([0-9.]+)", re.sub(r"\x1b\[[0-9;]*m", "", stderr))
    return float(m.group(1)) if m else None


def wait_port(port, what, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    sys.exit(f"{what} did not listen on {port}")


def model_of(store, report):
    path = os.path.join(store, report["pipeline"], "versions", report["version"], "model.json")
    with open(path) as f:
        m = json.load(f)
    m.pop("version")
    return m


def summary(report, wall, peak):
    return {"wall_seconds": wall, "peak_rss_mb": peak, "rows_per_s": report["data"]["rows_read"] / wall,
            "data": report["data"], "test_auc": report["metrics"]["test"]["roc_auc"],
            "model": report["model"]["family"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=50_000_000)
    ap.add_argument("--python", default=sys.executable, help="a Python with pyarrow (to tile the data)")
    ap.add_argument("--ballista-bin", default=None)
    ap.add_argument("--ballista-node", default=None,
                    help="run the cluster on tests' ballista_node binary (Ballista's own scheduler and "
                         "executor code) instead of the stock binaries")
    ap.add_argument("--skip-cluster", action="store_true")
    ap.add_argument("--max-rows", type=int, default=None)
    a = ap.parse_args()
    os.chdir(scoring.REPO)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(scoring.REPO, "target"))
    riskfn = scoring.batch_binary(target)
    big = scoring.ensure_tiled(target, a.python, a.rows)
    work = os.path.join(target, "bench", f"scale-{a.max_rows}" if a.max_rows else "scale")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    pipeline = "german_credit"
    if a.max_rows:
        pipeline = os.path.join(work, "pipelines", "german_credit")
        shutil.copytree(os.path.join(scoring.REPO, "sql", "german_credit"), pipeline)
        toml = os.path.join(pipeline, "pipeline.toml")
        with open(toml) as f:
            text = f.read()
        with open(toml, "w") as f:
            f.write(text.replace("[split]\n", f"[split]\nmax_rows = {a.max_rows}\n"))
        results_extra = {"max_rows": a.max_rows}
    else:
        results_extra = {}
    train = [riskfn, "train", "--pipeline", pipeline, "--data", big,
             "--families", "logistic_regression", "--json"]
    env = dict(os.environ, RISKFN_LOG="warn")
    results = {"rows": a.rows, "file_mb": os.path.getsize(big) / 2**20, "loadavg_start": os.getloadavg(),
               **results_extra}

    store = os.path.join(work, "store-local")
    wall, peak, out, _ = timed([*train, "--store", store], env)
    local = json.loads(out)
    results["in_process"] = summary(local, wall, peak)
    print(f"in process: {wall:.1f} s, peak {peak:.0f} MB, {a.rows / wall:,.0f} rows/s, "
          f"data {local['data']}")

    if not a.skip_cluster:
        bin_dir = a.ballista_bin
        exe = (lambda n: os.path.join(bin_dir, n)) if bin_dir else (lambda n: shutil.which(n) or n)
        logs = open(os.path.join(work, "cluster.log"), "w")
        if a.ballista_node:
            scheduler = [a.ballista_node, "scheduler", "50050", "60"]
        else:
            scheduler = [exe("ballista-scheduler"), "--bind-port", "50050"]
        procs = [subprocess.Popen(scheduler, stdout=logs, stderr=logs)]
        wait_port(50050, "ballista-scheduler")
        for i, (port, grpc, health) in enumerate([(50051, 50052, 50053), (50061, 50062, 50063)]):
            work_dir = os.path.join(work, f"executor{i}")
            if a.ballista_node:
                executor = [a.ballista_node, "executor", str(port), str(grpc), "50050", work_dir]
            else:
                executor = [exe("ballista-executor"), "--bind-port", str(port), "--bind-grpc-port", str(grpc),
                            "--bind-health-port", str(health), "--scheduler-port", "50050",
                            "--work-dir", work_dir]
            procs.append(subprocess.Popen(executor, stdout=logs, stderr=logs))
            wait_port(port, "ballista-executor")
        peaks = []
        try:
            store_c = os.path.join(work, "store-cluster")
            wall, peak, out, err = timed([*train, "--store", store_c, "--engine", "df://127.0.0.1:50050",
                                          "--stage", os.path.join(work, "stage")],
                                         dict(env, RISKFN_LOG="warn,riskfn_batch=info"))
            # Executors' peak resident memory (VmHWM), read before they stop.
            for p in procs[1:]:
                with open(f"/proc/{p.pid}/status") as f:
                    peaks += [int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM")]
        finally:
            for p in reversed(procs):
                p.terminate()
            for p in procs:
                p.wait(timeout=30)
        cluster = json.loads(out)
        results["ballista_2_executors"] = dict(summary(cluster, wall, peak), executor_peak_rss_mb=peaks,
                                               stage_seconds=staged_seconds(err))
        results["cluster_over_in_process_wall"] = wall / results["in_process"]["wall_seconds"]
        results["same_model"] = model_of(store_c, cluster) == model_of(store, local)
        print(f"ballista, 2 executors: {wall:.1f} s ({results['cluster_over_in_process_wall']:.2f}x the "
              f"in-process time; staging {staged_seconds(err)} s), client peak {peak:.0f} MB, "
              f"executor peaks {peaks} MB, "
              f"same model: {results['same_model']}")
    results["loadavg_end"] = os.getloadavg()
    name = f"scale-{a.max_rows}.json" if a.max_rows else "scale.json"
    with open(os.path.join(target, "bench", name), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
