#!/usr/bin/env python3
"""Batch scoring benchmark: `riskfn score` over a 10-million-row Parquet file against
scikit-learn's predict_proba on the same rows, in one run.

    python3 tests/bench/scoring.py [--rows 10000000] [--python PY_WITH_SKLEARN] [--riskfn BIN]

The file is the bundled german_credit data tiled (credit_amount shifted by the tile number
so rows differ), written once to target/bench/data/. riskfn is timed end to end (read the
Parquet, score every row with reasons, write the scores as Parquet); scikit-learn on
predict_proba (in chunks of a million rows) alone over a DataFrame already in memory (reading excluded, to its favour;
riskfn's own score step, with reasons, is reported beside it),
for a logistic regression (C = 0.1) and a random forest (100 trees, depth 8) fitted the
same way on the same training split. Results: target/bench/scoring.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import shutil
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SKLEARN = r'''
import sys, time, json
import numpy as np, pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.linear_model import LogisticRegression
from sklearn.ensemble import RandomForestClassifier

def splitmix64(x):
    m = (1 << 64) - 1
    z = (x + 0x9E3779B97F4A7C15) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)

small, big = sys.argv[1], sys.argv[2]
CHUNK = 1_000_000
df = pd.read_parquet(small)
y = (df.pop("creditability") == "bad").astype(int).to_numpy()
df = df.drop(columns=["personal_status_and_sex", "foreign_worker"])
train = np.array([splitmix64(i) % 100 < 60 for i in range(1, len(df) + 1)])
cat = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
num = [c for c in df.columns if c not in cat]
def prep():
    return ColumnTransformer([("num", Pipeline([("i", SimpleImputer(strategy="median")), ("s", StandardScaler())]), num),
                              ("cat", Pipeline([("i", SimpleImputer(strategy="constant", fill_value="missing")),
                                                ("o", OneHotEncoder(handle_unknown="ignore", sparse_output=False))]), cat)])
models = {"logistic_regression": LogisticRegression(C=0.1, max_iter=5000),
          "random_forest": RandomForestClassifier(n_estimators=100, max_depth=8, n_jobs=2, random_state=42)}
X = pd.read_parquet(big).drop(columns=["creditability", "personal_status_and_sex", "foreign_worker"])
out = {}
for name, m in models.items():
    p = Pipeline([("prep", prep()), ("m", m)]).fit(df[train], y[train])
    t0 = time.perf_counter()
    # In chunks: one call over 10 million rows densifies the one-hot matrix and exhausts
    # 24 GiB of memory.
    proba = np.concatenate([p.predict_proba(X.iloc[i:i + CHUNK])[:, 1] for i in range(0, len(X), CHUNK)])
    dt = time.perf_counter() - t0
    out[name] = {"seconds": dt, "rows_per_s": len(X) / dt}
print(json.dumps(out))
'''


def batch_binary(target):
    """The optimised `riskfn` the benchmarks run, built if missing."""
    riskfn = os.path.join(target, "bench-fast", "riskfn")
    if not os.path.exists(riskfn):
        subprocess.run(["cargo", "build", "--profile", "bench-fast", "-p", "riskfn-batch", "--bin", "riskfn"], check=True)
    return riskfn


def ensure_tiled(target, python, rows):
    """german_credit tiled to `rows` rows (credit_amount + tile number % 1000, so tiles
    differ), written once under target/bench/data/."""
    small = os.path.join(REPO, "sql/german_credit/data/german_credit.parquet")
    data_dir = os.path.join(target, "bench", "data")
    os.makedirs(data_dir, exist_ok=True)
    big = os.path.join(data_dir, f"german_{rows}.parquet")
    if not os.path.exists(big):
        gen = (
            "import sys, pyarrow as pa, pyarrow.parquet as pq, pyarrow.compute as pc\n"
            "t = pq.read_table(sys.argv[1]); n = int(sys.argv[3]); reps = -(-n // t.num_rows)\n"
            "w = pq.ParquetWriter(sys.argv[2] + '.partial', t.schema)\n"
            "done = 0; parts = []\n"
            "for k in range(reps):\n"
            "    take = min(t.num_rows, n - done)\n"
            "    part = t.slice(0, take)\n"
            "    amount = pc.add(part.column('credit_amount'), pa.scalar(k % 1000, pa.int64()))\n"
            "    parts.append(part.set_column(part.schema.get_field_index('credit_amount'), 'credit_amount', amount))\n"
            "    done += take\n"
            # Row groups of up to 1M rows (a Parquet reader refuses more than 32,767 groups).
            "    if sum(p.num_rows for p in parts) >= 1_000_000 or done == n:\n"
            "        w.write_table(pa.concat_tables(parts), row_group_size=1_000_000); parts = []\n"
            "w.close()\n"
            "import os; os.rename(sys.argv[2] + '.partial', sys.argv[2])\n")
        subprocess.run([python, "-c", gen, small, big, str(rows)], check=True)
    return big


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--python", default=sys.executable, help="a Python with pandas, pyarrow and scikit-learn")
    ap.add_argument("--riskfn", help="the riskfn binary to run (default: the bench-fast build, built if missing)")
    ap.add_argument("--skip-sklearn", action="store_true", help="riskfn only (ratios then need an earlier run)")
    a = ap.parse_args()
    os.chdir(REPO)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    riskfn = a.riskfn or batch_binary(target)
    small = os.path.join(REPO, "sql/german_credit/data/german_credit.parquet")
    big = ensure_tiled(target, a.python, a.rows)
    work = tempfile.mkdtemp(prefix="riskfn-scoring-")
    results = {"rows": a.rows, "loadavg_start": os.getloadavg()}
    # The bundled pipeline with scikit-learn's forest settings, so both score the same size
    # of forest.
    pipeline = os.path.join(work, "german_credit")
    shutil.copytree(os.path.join(REPO, "sql", "german_credit"), pipeline)
    with open(os.path.join(pipeline, "pipeline.toml"), "a") as f:
        f.write("\n[models.random_forest]\ntrees = [100]\nmax_depth = [8]\n")
    for family in ["logistic_regression", "random_forest"]:
        store = os.path.join(work, f"store-{family}")
        subprocess.run([riskfn, "train", "--pipeline", pipeline, "--families", family, "--store", store],
                       check=True, capture_output=True)
        results[family] = {}
        for mode, flags in [("with_reasons", []), ("without_reasons", ["--no-reasons"])]:
            out = os.path.join(work, f"scores-{family}.parquet")
            t0 = time.perf_counter()
            p = subprocess.run(["/usr/bin/time", "-f", "%M", riskfn, "score", "--pipeline", "german_credit",
                                "--data", big, "--out", out, "--store", store, "--json", *flags],
                               capture_output=True, text=True, check=True)
            dt = time.perf_counter() - t0
            rep = json.loads(p.stdout)
            peak_mb = int(p.stderr.strip().splitlines()[-1]) / 1024
            steps = rep["seconds"]
            results[family][mode] = {"seconds": dt, "rows_per_s": rep["rows"] / dt, "failed": rep["failed"],
                                     "steps": steps, "score_rows_per_s": rep["rows"] / steps["score"],
                                     "peak_rss_mb": peak_mb}
            print(f"riskfn {family} {mode}: {dt:.1f} s, {rep['rows'] / dt:,.0f} rows/s end to end "
                  f"(read {steps['read']:.1f} s, score {steps['score']:.1f} s, write {steps['write']:.1f} s), "
                  f"peak {peak_mb:.0f} MB", flush=True)
    if a.skip_sklearn:
        subprocess.run(["rm", "-rf", work])
        return
    sk = subprocess.run([a.python, "-c", SKLEARN, small, big], capture_output=True, text=True, check=True)
    ref = json.loads(sk.stdout.strip().splitlines()[-1])
    for family, v in ref.items():
        results[family]["sklearn_seconds"] = v["seconds"]
        results[family]["sklearn_rows_per_s"] = v["rows_per_s"]
    results["loadavg_end"] = os.getloadavg()
    with open(os.path.join(target, "bench", "scoring.json"), "w") as f:
        json.dump(results, f, indent=1)
    print("\nrows/s                                riskfn end to end   riskfn score step   scikit-learn predict_proba")
    for family in ["logistic_regression", "random_forest"]:
        sk = results[family]["sklearn_rows_per_s"]
        for mode in ["with_reasons", "without_reasons"]:
            r = results[family][mode]
            print(f"{family + ' ' + mode:<38} {r['rows_per_s']:>17,.0f} {r['score_rows_per_s']:>19,.0f} {sk:>28,.0f}"
                  f"   ratios {r['rows_per_s'] / sk:.2f}x / {r['score_rows_per_s'] / sk:.2f}x")
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
