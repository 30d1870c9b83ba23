#!/usr/bin/env python3
"""Lender benchmark: `riskfn train` against a LightGBM grid on a realistic synthetic loan
application file (tests/bench/appgen.py: skewed amounts, ratios and counts with 5-20 %
missing, categories of 3 to 300 levels plus a 6,000-level employer, about 8 % defaults),
alternating in one run on this machine.

    python3 tests/bench/lender.py [--rows 200000] [--cols 80] [--seed 7] [--repeat 3]
                                  [--riskfn BIN] [--families F1,F2] [--threads 2]
                                  [--skip-riskfn] [--skip-lightgbm]

The file is generated once into target/bench/lender-<rows>x<cols>-s<seed>.parquet. Each
round runs, each in its own process under /usr/bin/time (wall time and peak RSS):

- riskfn: `riskfn train --pipeline tests/bench/lender --data FILE --store TMP --json
  --force` (every default family and grid unless `--families`), end to end: read,
  de-duplicate, SQL, hash split, fit the preprocessing, train, choose, evaluate, publish.
  Recorded: the chosen family, its test AUC, each family's fit seconds and the
  preparation steps' seconds from its debug log.
- LightGBM (`--lightgbm-worker`, this script in a subprocess): read the Parquet with
  pyarrow into pandas (categories as pandas Categorical, levels from the training rows),
  the same hash split as riskfn (splitmix64 of the 1-based row position % 100: < 60
  train, < 80 validation, else test), then the grid num_leaves [7, 15, 31] x
  learning_rate [0.03, 0.1] x min_child_samples [10, 40] of LGBMClassifier(n_estimators
  2000, subsample 0.8 every round, colsample_bytree 0.8, random_state 42), each point
  early-stopped after 100 rounds without a better validation AUC; the best point by
  validation AUC is reported with its test AUC. Recorded: read seconds, grid seconds, and
  per point its fit seconds, trees built and seconds per tree.

riskfn drops rows identical in every column but the id before splitting; the generated
rows are all distinct (the worker checks it), so both sides split the same rows.
Medians over `--repeat` rounds (riskfn, then LightGBM, in each round). Both get
`--threads` threads (riskfn's training through RAYON_NUM_THREADS, LightGBM through
n_jobs). Run it on an otherwise idle machine: LightGBM's OpenMP threads wait by spinning,
and with a cargo build busy on both cores its 200k-row grid took 467 s on 2 threads
against 125 s on 1.
Results: target/bench/lender.json.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scale  # noqa: E402
import scoring  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PIPELINE = os.path.join("tests", "bench", "lender")
GRID = [{"num_leaves": nl, "learning_rate": lr, "min_child_samples": mcs}
        for nl in (7, 15, 31) for lr in (0.03, 0.1) for mcs in (10, 40)]


def splitmix64(x):
    """splitmix64 of a uint64 array, wrapping as batch/src/prepare/split.rs does."""
    import numpy as np
    u = np.uint64
    with np.errstate(over="ignore"):
        z = x.astype(u) + u(0x9E3779B97F4A7C15)
        z = (z ^ (z >> u(30))) * u(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> u(27))) * u(0x94D049BB133111EB)
        return z ^ (z >> u(31))


def lightgbm_worker(path, threads):
    """Read, split, the grid; prints one JSON object."""
    import numpy as np
    t0 = time.perf_counter()
    import lightgbm as lgb
    import pyarrow.parquet as pq
    from sklearn.metrics import roc_auc_score
    import_s = time.perf_counter() - t0

    # The check values split.rs's test holds splitmix64 to.
    assert int(splitmix64(np.array([0], np.uint64))[0]) == 0xE220A8397B1DCDAF
    assert list(splitmix64(np.arange(1, 6, dtype=np.uint64)) % np.uint64(100)) == [65, 10, 53, 78, 18]

    t0 = time.perf_counter()
    schema = pq.read_schema(path)
    cats = [f.name for f in schema if f.type == "string"]
    df = pq.read_table(path, read_dictionary=cats).to_pandas()
    read_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    n = len(df)
    y = df.pop("default").to_numpy()
    # riskfn de-duplicates on every column but the id; a set of columns with no repeated
    # combination means no row repeats either (else check every column).
    probe = ["annual_income", "loan_amount", "revolving_balance", "bureau_score"]
    dups = int(df[probe].duplicated().sum())
    if dups:
        dups = int(df.drop(columns=["id"]).duplicated().sum())
    if dups:
        sys.exit(f"{dups} duplicate rows: riskfn would drop them and split other rows")
    df = df.drop(columns=["id"])
    bucket = splitmix64(np.arange(1, n + 1, dtype=np.uint64)) % np.uint64(100)
    tr, va = bucket < 60, (bucket >= 60) & (bucket < 80)
    te = ~(tr | va)
    for c in cats:
        seen = df[c][tr].cat.remove_unused_categories().cat.categories
        df[c] = df[c].cat.set_categories(seen)
    X_tr, X_va, X_te = df[tr], df[va], df[te]
    y_tr, y_va, y_te = y[tr], y[va], y[te]
    prep_s = time.perf_counter() - t0

    # LightGBM 4.6+ takes the validation rows as eval_X / eval_y (eval_set is deprecated).
    new_api = "eval_X" in inspect.signature(lgb.LGBMClassifier.fit).parameters
    evals = {"eval_X": (X_va,), "eval_y": (y_va,)} if new_api else {"eval_set": [(X_va, y_va)]}
    points = []
    t_grid = time.perf_counter()
    for params in GRID:
        m = lgb.LGBMClassifier(n_estimators=2000, subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
                               random_state=42, verbose=-1, n_jobs=threads, **params)
        built = [0]

        def count(env):  # the booster kept is cut back to the best iteration: count them all
            built[0] = env.iteration + 1
        t0 = time.perf_counter()
        m.fit(X_tr, y_tr, eval_metric="auc", callbacks=[lgb.early_stopping(100, verbose=False), count], **evals)
        fit_s = time.perf_counter() - t0
        trees = built[0]
        t0 = time.perf_counter()
        test_auc = roc_auc_score(y_te, m.predict_proba(X_te)[:, 1])  # at the best iteration
        points.append({**params, "validation_auc": m.best_score_["valid_0"]["auc"], "test_auc": test_auc,
                       "best_iteration": m.best_iteration_, "trees_built": trees, "fit_seconds": fit_s,
                       "seconds_per_tree": fit_s / trees, "predict_test_seconds": time.perf_counter() - t0})
        print(f"  {params}: {fit_s:.1f} s, {trees} trees, val {points[-1]['validation_auc']:.4f}",
              file=sys.stderr, flush=True)
    grid_s = time.perf_counter() - t_grid
    best = max(points, key=lambda p: p["validation_auc"])
    print(json.dumps({"rows": n, "train": int(tr.sum()), "validation": int(va.sum()), "test": int(te.sum()),
                      "positives": int(y.sum()), "categorical": cats, "import_seconds": import_s,
                      "read_seconds": read_s, "prepare_seconds": prep_s, "grid_seconds": grid_s,
                      "best": best, "grid": points}))


def prepare_steps(stderr):
    """`prepare: <step> done seconds=S` debug lines: seconds since preparation began."""
    clean = re.sub(r"\x1b\[[0-9;]*m", "", stderr)
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"prepare: ([^:\n]+?) done.*?seconds=([0-9.]+)", clean)}


def run_riskfn(riskfn, data, families, threads, work):
    store = tempfile.mkdtemp(prefix="store-", dir=work)
    # --force: a refusing gate would exit 10; the benchmark wants the run, not the promotion.
    cmd = [riskfn, "train", "--pipeline", PIPELINE, "--data", data, "--store", store, "--json", "--force"]
    if families:
        cmd += ["--families", families]
    env = dict(os.environ, RISKFN_LOG="warn,riskfn_batch=debug", RAYON_NUM_THREADS=str(threads))
    try:
        wall, peak, out, err = scale.timed(cmd, env)  # exits with the stderr tail on failure
    finally:
        shutil.rmtree(store, ignore_errors=True)
    try:
        r = json.loads(out)
    except json.JSONDecodeError:
        sys.exit(f"riskfn printed no JSON report:\n{out[-2000:]}\n{err[-3000:]}")
    fams = {f["family"]: {"status": f["status"], "fit_seconds": f["fit_seconds"],
                          "validation_auc": f.get("validation_auc"), "params": f.get("params")}
            for f in r["families"]}
    return {"wall_seconds": wall, "peak_rss_mb": peak, "family": r["model"]["family"],
            "params": r["model"]["params"], "n_inputs": r["model"]["n_inputs"],
            "test_auc": r["metrics"]["test"]["roc_auc"],
            "validation_auc": r["metrics"]["validation"]["roc_auc"], "data": r["data"],
            "prepare_steps_seconds": prepare_steps(err), "families": fams,
            "fit_seconds_total": sum(f["fit_seconds"] for f in fams.values())}


def run_lightgbm(data, threads):
    wall, peak, out, _ = scale.timed([sys.executable, os.path.abspath(__file__), "--lightgbm-worker", data,
                                      "--threads", str(threads)])
    return dict(json.loads(out), wall_seconds=wall, peak_rss_mb=peak)


def med(runs, key):
    return statistics.median(r[key] for r in runs) if runs else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--cols", type=int, default=80)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--riskfn", default=None, help="the riskfn binary (default: target/bench-fast/riskfn)")
    ap.add_argument("--families", default=None, help="riskfn families, comma-separated (default: all defaults)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-riskfn", action="store_true")
    ap.add_argument("--skip-lightgbm", action="store_true")
    ap.add_argument("--lightgbm-worker", metavar="FILE", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.lightgbm_worker:
        return lightgbm_worker(a.lightgbm_worker, a.threads)

    os.chdir(scoring.REPO)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(scoring.REPO, "target"))
    bench = os.path.join(target, "bench")
    os.makedirs(bench, exist_ok=True)
    data = os.path.join(bench, f"lender-{a.rows}x{a.cols}-s{a.seed}.parquet")
    if not os.path.exists(data):
        subprocess.run([sys.executable, os.path.join(HERE, "appgen.py"), "--rows", str(a.rows),
                        "--cols", str(a.cols), "--seed", str(a.seed), "--out", data], check=True)
    riskfn = None
    if not a.skip_riskfn:
        riskfn = os.path.abspath(a.riskfn) if a.riskfn else scoring.batch_binary(target)
    work = tempfile.mkdtemp(prefix="riskfn-lender-")
    results = {"rows": a.rows, "cols": a.cols, "seed": a.seed, "file": data,
               "file_mb": os.path.getsize(data) / 2**20, "threads": a.threads, "families": a.families,
               "riskfn_binary": riskfn, "loadavg_start": os.getloadavg(), "riskfn": [], "lightgbm": []}
    try:
        for i in range(a.repeat):
            if not a.skip_riskfn:
                r = run_riskfn(riskfn, data, a.families, a.threads, work)
                results["riskfn"].append(r)
                print(f"round {i + 1} riskfn: {r['wall_seconds']:.1f} s, peak {r['peak_rss_mb']:.0f} MB, "
                      f"{r['family']}, test AUC {r['test_auc']:.4f}", flush=True)
            if not a.skip_lightgbm:
                g = run_lightgbm(data, a.threads)
                results["lightgbm"].append(g)
                print(f"round {i + 1} LightGBM: {g['wall_seconds']:.1f} s (read {g['read_seconds']:.1f} s, grid "
                      f"{g['grid_seconds']:.1f} s), peak {g['peak_rss_mb']:.0f} MB, test AUC "
                      f"{g['best']['test_auc']:.4f} at {({k: g['best'][k] for k in GRID[0]})}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rs, gs = results["riskfn"], results["lightgbm"]
    summary = {"riskfn_wall_s": med(rs, "wall_seconds"), "riskfn_peak_mb": med(rs, "peak_rss_mb"),
               "riskfn_test_auc": med(rs, "test_auc"), "riskfn_family": rs[-1]["family"] if rs else None,
               "lightgbm_wall_s": med(gs, "wall_seconds"), "lightgbm_peak_mb": med(gs, "peak_rss_mb"),
               "lightgbm_grid_s": med(gs, "grid_seconds"), "lightgbm_read_s": med(gs, "read_seconds"),
               "lightgbm_test_auc": statistics.median(g["best"]["test_auc"] for g in gs) if gs else None}
    if rs and gs:
        summary["wall_ratio_riskfn_over_lightgbm"] = summary["riskfn_wall_s"] / summary["lightgbm_wall_s"]
    results["summary"] = summary
    results["loadavg_end"] = os.getloadavg()
    with open(os.path.join(bench, "lender.json"), "w") as f:
        json.dump(results, f, indent=1)

    def fmt(v, spec):
        return format(v, spec) if v is not None else "-".rjust(int(spec.split(".")[0]))
    s = summary
    print(f"\n{'rows':>10}  {'riskfn s':>9} {'peak MB':>8} {'test AUC':>8} {'family':<20}  "
          f"{'LightGBM s':>10} {'peak MB':>8} {'test AUC':>8}  {'riskfn/LightGBM':>15}")
    print(f"{a.rows:>10,}  {fmt(s['riskfn_wall_s'], '9.1f')} {fmt(s['riskfn_peak_mb'], '8.0f')} "
          f"{fmt(s['riskfn_test_auc'], '8.4f')} {s['riskfn_family'] or '-':<20}  "
          f"{fmt(s['lightgbm_wall_s'], '10.1f')} {fmt(s['lightgbm_peak_mb'], '8.0f')} "
          f"{fmt(s['lightgbm_test_auc'], '8.4f')}  {fmt(s.get('wall_ratio_riskfn_over_lightgbm'), '15.2f')}")
    print(f"(medians of {a.repeat} rounds; results: {os.path.join(bench, 'lender.json')})")


if __name__ == "__main__":
    main()
