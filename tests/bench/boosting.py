#!/usr/bin/env python3
"""Boosting alone: riskfn's booster against LightGBM at the same shape, per tree.

    python3 tests/bench/boosting.py [--rows 2000000] [--cols 80] [--trees 100]
                                    [--leaves 31] [--learning-rate 0.1] [--min-rows 20]
                                    [--threads 2] [--repeat 3]

One `appgen.py` file (cached in target/bench/), split as riskfn splits it (lender.py's
splitmix64 of the 1-based row position: < 60 train, < 80 validation, else test), written
once as the level design both sides read: numbers as they are (NaN missing), a category
its level's position among the training rows' sorted levels (NaN unseen). Then, in
alternating rounds, each in its own process:

- riskfn: `cargo run --release -p riskfn-train --example boost` (built first): the booster
  of the gradient boosting family, `--trees` trees of `--leaves` leaves, no early stop;
- LightGBM: LGBMClassifier with the same shape (max_bin 255, num_leaves, learning rate,
  min_child_samples, subsample 0.8 every tree, colsample_bytree 0.8, reg_lambda 1 as
  riskfn's L2, categorical features natively), `--trees` trees.

Both on `--threads` threads (RAYON_NUM_THREADS, n_jobs). Reported: medians of fit seconds
per tree (LightGBM's Dataset construction, its binning, counted in its fit as riskfn's
binning is in its), validation and test AUC, peak memory. Results:
target/bench/boosting.json.
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
import lender  # noqa: E402
import scale  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_design(parquet, out):
    """The level design of `parquet` into `out` (see the module docs)."""
    import numpy as np
    import pyarrow.parquet as pq
    os.makedirs(out, exist_ok=True)
    cats = [f.name for f in pq.read_schema(parquet) if f.type == "string"]
    df = pq.read_table(parquet).to_pandas()
    y = df.pop("default").to_numpy().astype(np.uint8)
    df = df.drop(columns=["id"])
    n = len(df)
    bucket = lender.splitmix64(np.arange(1, n + 1, dtype=np.uint64)) % np.uint64(100)
    split = np.where(bucket < 60, 0, np.where(bucket < 80, 1, 2)).astype(np.uint8)
    cols, flags = [], []
    for c in df.columns:
        if c in cats:
            s = df[c].fillna("missing")
            levels = np.sort(s[split == 0].unique())
            pos = np.searchsorted(levels, s.to_numpy())
            pos = np.minimum(pos, len(levels) - 1)
            hit = levels[pos] == s.to_numpy()
            cols.append(np.where(hit, pos, np.nan))
            flags.append(1)
        else:
            cols.append(df[c].to_numpy(dtype=np.float64, na_value=np.nan))
            flags.append(0)
    x = np.column_stack(cols).astype("<f8")
    x.tofile(os.path.join(out, "x.f64"))
    y.tofile(os.path.join(out, "y.u8"))
    split.tofile(os.path.join(out, "split.u8"))
    np.array(flags, np.uint8).tofile(os.path.join(out, "categorical.u8"))


def lightgbm_worker(design, trees, leaves, rate, min_rows, threads):
    import numpy as np
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score
    flags = np.fromfile(os.path.join(design, "categorical.u8"), np.uint8)
    y = np.fromfile(os.path.join(design, "y.u8"), np.uint8)
    split = np.fromfile(os.path.join(design, "split.u8"), np.uint8)
    x = np.fromfile(os.path.join(design, "x.f64"), "<f8").reshape(len(y), len(flags))
    cat = [i for i, f in enumerate(flags) if f]
    part = {s: (x[split == s], y[split == s]) for s in (0, 1, 2)}
    m = lgb.LGBMClassifier(n_estimators=trees, num_leaves=leaves, learning_rate=rate,
                           min_child_samples=min_rows, subsample=0.8, subsample_freq=1,
                           colsample_bytree=0.8, reg_lambda=1.0, max_bin=255, random_state=42,
                           verbose=-1, n_jobs=threads)
    t0 = time.perf_counter()
    m.fit(*part[0], categorical_feature=cat)
    seconds = time.perf_counter() - t0
    auc = {s: roc_auc_score(part[s][1], m.predict_proba(part[s][0])[:, 1]) for s in (1, 2)}
    print(json.dumps({"seconds": seconds, "trees": trees, "seconds_per_tree": seconds / trees,
                      "validation_auc": auc[1], "test_auc": auc[2], "train_rows": int(len(part[0][1]))}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--cols", type=int, default=80)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--leaves", type=int, default=31)
    ap.add_argument("--learning-rate", type=float, default=0.1)
    ap.add_argument("--min-rows", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lightgbm-worker", nargs=6, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.lightgbm_worker:
        d, t, l, r, m, th = a.lightgbm_worker
        return lightgbm_worker(d, int(t), int(l), float(r), int(m), int(th))
    os.chdir(REPO)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    bench = os.path.join(target, "bench")
    os.makedirs(bench, exist_ok=True)
    stem = f"lender-{a.rows}x{a.cols}-s{a.seed}"
    parquet = os.path.join(bench, stem + ".parquet")
    if not os.path.exists(parquet):
        subprocess.run([sys.executable, "tests/bench/appgen.py", "--rows", str(a.rows), "--cols", str(a.cols),
                        "--seed", str(a.seed), "--out", parquet], check=True)
    design = os.path.join(bench, stem + "-design")
    if not os.path.exists(os.path.join(design, "categorical.u8")):
        write_design(parquet, design)
    subprocess.run(["cargo", "build", "--release", "-p", "riskfn-train", "--example", "boost"], check=True)
    riskfn = os.path.join(target, "release", "examples", "boost")
    shape = [str(a.trees), str(a.leaves), str(a.learning_rate), str(a.min_rows)]
    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
    runs = {"riskfn": [], "lightgbm": []}
    for r in range(a.repeat):
        for side, cmd in (("riskfn", [riskfn, design, *shape]),
                          ("lightgbm", [sys.executable, __file__, "--lightgbm-worker", design, *shape,
                                        str(a.threads)])):
            wall, peak, out, _ = scale.timed(cmd, env=env)
            res = json.loads(out.strip().splitlines()[-1])
            res.update(wall_seconds=wall, peak_rss_mb=peak)
            runs[side].append(res)
            print(f"round {r + 1} {side}: {res['seconds_per_tree'] * 1000:.1f} ms/tree, "
                  f"test AUC {res['test_auc']:.4f}, {peak:.0f} MB", file=sys.stderr, flush=True)
    med = {s: {k: statistics.median(x[k] for x in v) for k in ("seconds_per_tree", "test_auc", "peak_rss_mb")}
           for s, v in runs.items()}
    summary = {"rows": a.rows, "cols": a.cols, "shape": vars(a), "runs": runs, "median": med,
               "per_tree_ratio": med["riskfn"]["seconds_per_tree"] / med["lightgbm"]["seconds_per_tree"],
               "loadavg": os.getloadavg()}
    with open(os.path.join(bench, "boosting.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(f"{a.rows} x {a.cols}, {a.trees} trees of {a.leaves} leaves: riskfn "
          f"{med['riskfn']['seconds_per_tree'] * 1000:.1f} ms/tree (test AUC {med['riskfn']['test_auc']:.4f}, "
          f"{med['riskfn']['peak_rss_mb']:.0f} MB), LightGBM {med['lightgbm']['seconds_per_tree'] * 1000:.1f} "
          f"ms/tree ({med['lightgbm']['test_auc']:.4f}, {med['lightgbm']['peak_rss_mb']:.0f} MB): "
          f"{summary['per_tree_ratio']:.2f}x")


if __name__ == "__main__":
    main()
