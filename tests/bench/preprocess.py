#!/usr/bin/env python3
"""SQL preprocessing benchmark: `riskfn prepare` (read, de-duplicate, the pipeline's SQL,
split, fit imputation / standardization / category levels on the training split) against
pandas doing the same steps, over german_credit tiled to 10 million rows, in one run.

    python3 tests/bench/preprocess.py [--rows 10000000] [--python PY_WITH_PANDAS] [--riskfn BIN] [--data FILE] [--repeat 3]

Results: target/bench/preprocess.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scoring  # noqa: E402

PANDAS = r'''
import sys, time, json
import numpy as np, pandas as pd
t0 = time.perf_counter()
df = pd.read_parquet(sys.argv[1])
t_read = time.perf_counter() - t0
t0 = time.perf_counter()
row_id = np.arange(1, len(df) + 1, dtype=np.uint64)
keep = ~df.duplicated(keep="first").to_numpy()
df, row_id = df[keep], row_id[keep]
m = ((df.credit_amount > 0) & (df.duration_in_month > 0)).to_numpy()
df, row_id = df[m], row_id[m]
df = df.drop(columns=["personal_status_and_sex", "foreign_worker"])
df["monthly_amount"] = df.credit_amount.astype(float) / df.duration_in_month
df["log_credit_amount"] = np.log(df.credit_amount.astype(float))
df["age_band"] = np.select([df.age_in_years < 25, df.age_in_years < 40, df.age_in_years < 60],
                           ["under_25", "25_to_39", "40_to_59"], "60_plus")
with np.errstate(over="ignore"):
    z = row_id + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
bucket = z % np.uint64(100)
train = df[bucket < 60]
t_sql = time.perf_counter() - t0
t0 = time.perf_counter()
y = df.pop("creditability")
stats = {}
for c in train.columns:
    if c == "creditability":
        continue
    if not pd.api.types.is_numeric_dtype(train[c]):
        stats[c] = train[c].fillna("missing").value_counts(normalize=True).to_dict()
    else:
        x = train[c].astype(float)
        med = x.median()
        x = x.fillna(med)
        stats[c] = (med, x.mean(), x.std(ddof=0))
t_fit = time.perf_counter() - t0
print(json.dumps({"rows": int(len(keep)), "seconds": {"read": t_read, "clean_sql_split": t_sql, "fit": t_fit}}))
'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--python", default=sys.executable, help="a Python with pandas and pyarrow")
    ap.add_argument("--riskfn", help="the riskfn binary to run (default: the bench-fast build, built if missing)")
    ap.add_argument("--data", help="another Parquet file of german_credit rows (default: the tiled file)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each, alternating; medians compared (the machine is shared and noisy)")
    a = ap.parse_args()
    os.chdir(scoring.REPO)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(scoring.REPO, "target"))
    riskfn = a.riskfn or scoring.batch_binary(target)
    big = a.data or scoring.ensure_tiled(target, a.python, a.rows)
    results = {"rows": a.rows, "loadavg_start": os.getloadavg(), "riskfn_runs": [], "pandas_runs": []}
    for _ in range(max(1, a.repeat)):
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", riskfn, "prepare", "--pipeline", "german_credit",
                            "--data", big, "--json"], capture_output=True, text=True, check=True)
        ours_s = time.perf_counter() - t0
        ours = json.loads(p.stdout)
        results["riskfn_runs"].append({"wall_seconds": ours_s, "steps": ours["seconds"],
                                       "peak_rss_mb": int(p.stderr.strip().splitlines()[-1]) / 1024,
                                       "duplicates_dropped": ours["data"]["duplicates_dropped"]})
        t0 = time.perf_counter()
        q = subprocess.run(["/usr/bin/time", "-f", "%M", a.python, "-c", PANDAS, big],
                           capture_output=True, text=True, check=True)
        ref_s = time.perf_counter() - t0
        ref = json.loads(q.stdout.strip().splitlines()[-1])
        results["pandas_runs"].append({"wall_seconds": ref_s, "steps": ref["seconds"],
                                       "peak_rss_mb": int(q.stderr.strip().splitlines()[-1]) / 1024})
        print(f"riskfn {ours_s:.2f} s (steps {ours['seconds']}), pandas {ref_s:.2f} s (steps {ref['seconds']}): "
              f"{ref_s / ours_s:.2f}x", flush=True)
    ours_s = statistics.median(r["wall_seconds"] for r in results["riskfn_runs"])
    ref_s = statistics.median(r["wall_seconds"] for r in results["pandas_runs"])
    results["speedup"] = ref_s / ours_s
    results["loadavg_end"] = os.getloadavg()
    with open(os.path.join(target, "bench", "preprocess.json"), "w") as f:
        json.dump(results, f, indent=1)
    peak = max(r["peak_rss_mb"] for r in results["riskfn_runs"])
    ref_peak = max(r["peak_rss_mb"] for r in results["pandas_runs"])
    print(f"riskfn prepare, median of {a.repeat}: {ours_s:.2f} s ({a.rows / ours_s:,.0f} rows/s), peak {peak:.0f} MB")
    print(f"pandas, median of {a.repeat}:         {ref_s:.2f} s ({a.rows / ref_s:,.0f} rows/s), peak {ref_peak:.0f} MB")
    print(f"riskfn / pandas rows per second (medians): {results['speedup']:.2f}x")


if __name__ == "__main__":
    main()
