#!/usr/bin/env python3
"""Training benchmark: `riskfn train` (every family and grid) against the reference
pipeline (scikit-learn, `pipeline.py`) plus its LightGBM run (`gbm.py`), per dataset,
alternating in one run on this machine.

    python3 tests/bench/training.py --peer PATH_TO_REFERENCE [--peer-python PY] [--runs 2]

Wall time of a whole run on each side: read, clean, split, fit the preprocessing, every
family over its grid, choose on validation, evaluate on test; riskfn also publishes the
version and its report, the reference also times its own predictions (a few seconds).
Results: target/bench/training.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scoring  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATASETS = ["german_credit", "credit_data", "islr_default"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", required=True)
    ap.add_argument("--peer-python", default=sys.executable)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--datasets", default=",".join(DATASETS))
    a = ap.parse_args()
    os.chdir(REPO)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    riskfn = scoring.batch_binary(target)
    work = tempfile.mkdtemp(prefix="riskfn-training-")
    peer = os.path.join(work, "peer")
    shutil.copytree(a.peer, peer, ignore=shutil.ignore_patterns(".venv", "results", "models"))
    os.makedirs(os.path.join(peer, "results"))
    os.makedirs(os.path.join(peer, "models"))
    env = dict(os.environ, PEER_DATA_DIR=os.path.join(os.path.dirname(os.path.abspath(a.peer)), "data"))
    results = {"runs": a.runs, "loadavg_start": os.getloadavg(), "datasets": {}}
    for d in a.datasets.split(","):
        ours, ref, auc = [], [], {}
        for run in range(a.runs):
            store = os.path.join(work, f"store-{d}-{run}")
            t0 = time.perf_counter()
            p = subprocess.run([riskfn, "train", "--pipeline", d, "--store", store, "--json"],
                               capture_output=True, text=True, check=True)
            ours.append(time.perf_counter() - t0)
            r = json.loads(p.stdout)
            auc["riskfn"] = {"family": r["model"]["family"], "test_auc": r["metrics"]["test"]["roc_auc"]}
            t0 = time.perf_counter()
            subprocess.run([a.peer_python, "pipeline.py", d], cwd=peer, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run([a.peer_python, "gbm.py", d], cwd=peer, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ref.append(time.perf_counter() - t0)
            with open(os.path.join(peer, "results", f"{d}.json")) as f:
                pr = json.load(f)
            best = pr["best_model"]
            auc["reference"] = {"family": best, "test_auc": pr["models"][best]["test"]["roc_auc"]}
            with open(os.path.join(peer, "results", f"gbm_{d}.json")) as f:
                g = json.load(f)
            auc["lightgbm"] = {"test_auc": g["test"]["roc_auc"]}
            print(f"{d} run {run}: riskfn {ours[-1]:.1f} s, reference {ref[-1]:.1f} s", flush=True)
        o, r_ = min(ours), min(ref)
        results["datasets"][d] = {"riskfn_s": ours, "reference_s": ref, "best_riskfn_s": o, "best_reference_s": r_,
                                  "speedup": r_ / o, "chosen": auc}
    results["loadavg_end"] = os.getloadavg()
    os.makedirs(os.path.join(target, "bench"), exist_ok=True)
    with open(os.path.join(target, "bench", "training.json"), "w") as f:
        json.dump(results, f, indent=1)
    print("\ndataset          riskfn s   reference s   reference/riskfn   riskfn choice (test AUC)")
    for d, v in results["datasets"].items():
        c = v["chosen"]["riskfn"]
        print(f"{d:<16} {v['best_riskfn_s']:>8.1f} {v['best_reference_s']:>13.1f} {v['speedup']:>18.2f}x   "
              f"{c['family']} ({c['test_auc']:.4f})")
    print("best of", a.runs, "runs each; results:", os.path.join(target, "bench", "training.json"))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
