#!/usr/bin/env python3
"""Reasons of a 300-tree boosted model: riskfn against the `shap` package, in one run.

    python3 tests/bench/explain.py --python PY_WITH_SHAP [--rows 200000] [--depth 3] [--riskfn BIN]

1. Trains credit_data's gradient_boosting family alone (one grid point: depth --depth,
   learning rate 0.02, at most 300 trees, no early stop before 300) with the optimised
   `riskfn`, into target/bench/explain/.
2. One record with reasons: `benches/score.rs` on the published model.json and the
   bundled rows (parse the JSON body, features, model, points, TreeSHAP reasons).
3. Many rows with reasons: credit_data tiled to --rows rows (Amount shifted by the tile
   number, so rows are distinct), `riskfn score` (reasons on) end to end (read Parquet,
   features, score, reasons, write Parquet), against shap's
   `TreeExplainer(tree_path_dependent).shap_values(X)` plus the ensemble's own
   prediction on the same rows' encoded inputs already in memory (reading and encoding
   left out, to shap's favour). The trees reach shap in its custom-tree format, as
   tests/reference/treeshap.py exports them.
Results: target/bench/explain.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SHAP = r'''
import sys, json, time, glob
import numpy as np, pandas as pd
sys.path.insert(0, sys.argv[3])
from treeshap import export
import shap
model = json.load(open(sys.argv[1]))["model"]
X = pd.concat([pd.read_csv(f) for f in sorted(glob.glob(sys.argv[2] + "/*.csv"))])
X = X.drop(columns="adverse").to_numpy(dtype=np.float64)
ensemble = dict(trees=[export(t) for t in model["trees"]], base_offset=model["base_score"],
                tree_output="log_odds", objective="binary_crossentropy",
                input_dtype=np.float64, internal_dtype=np.float64)
e = shap.TreeExplainer(ensemble, feature_perturbation="tree_path_dependent")
t0 = time.perf_counter()
phi = e.shap_values(X)
margin = e.model.predict(X)
p = 1.0 / (1.0 + np.exp(-margin))
dt = time.perf_counter() - t0
print(json.dumps({"rows": len(X), "seconds": dt, "rows_per_s": len(X) / dt, "shap": shap.__version__}))
'''

CONFIG = '''
[models]
families = ["gradient_boosting"]
folds = 0

[models.gradient_boosting]
max_depth = [{depth}]
learning_rate = [0.02]
min_leaf_weight = [1.0]
max_trees = 300
early_stopping_rounds = 300
'''


def run(cmd, **kw):
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)
    return time.perf_counter() - t0, out.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", required=True, help="an interpreter with shap, pandas, pyarrow")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--riskfn", default=os.path.join(REPO, "target", "bench-fast", "riskfn"))
    a = ap.parse_args()
    if not os.path.exists(a.riskfn):
        subprocess.run(["cargo", "build", "--profile", "bench-fast", "-p", "riskfn-batch", "--bin", "riskfn"],
                       check=True, cwd=REPO)
    work = os.path.join(REPO, "target", "bench", "explain")
    shutil.rmtree(work, ignore_errors=True)
    pipe = os.path.join(work, "credit_data")
    shutil.copytree(os.path.join(REPO, "sql", "credit_data"), pipe)
    text = open(os.path.join(pipe, "pipeline.toml")).read()
    head, _, _ = text.partition("[models]")
    rest = text[text.index("[decision]"):]
    open(os.path.join(pipe, "pipeline.toml"), "w").write(head + CONFIG.format(depth=a.depth) + "\n" + rest)
    store = os.path.join(work, "store")
    train_s, out = run([a.riskfn, "train", "--pipeline", pipe, "--store", store, "--json"], cwd=REPO)
    report = json.loads(out)
    version = report["version"]
    model_json = os.path.join(store, "credit_data", "versions", version, "model.json")
    trees = len(json.load(open(model_json))["model"]["trees"])

    # The raw rows, as JSON records and tiled into a larger Parquet file.
    prog = r'''
import sys, json, pandas as pd, numpy as np
df = pd.read_parquet(sys.argv[1])
recs = df.drop(columns=["Status"]).head(1000)
open(sys.argv[2], "w").write(recs.to_json(orient="records"))
n = int(sys.argv[4]); reps = -(-n // len(df))
big = pd.concat([df.assign(Amount=df["Amount"] + k) for k in range(reps)]).head(n)
big["rownames"] = np.arange(1, len(big) + 1)
big.to_parquet(sys.argv[3], index=False)
'''
    records = os.path.join(work, "records.json")
    big = os.path.join(work, "big.parquet")
    subprocess.run([a.python, "-c", prog, os.path.join(pipe, "data", "credit_data.parquet"), records, big,
                    str(a.rows)], check=True)

    _, out = run(["cargo", "bench", "-q", "-p", "riskfn-core", "--bench", "score", "--", model_json, records,
                  "100000"], cwd=REPO)
    one = json.loads(out)

    scores = os.path.join(work, "scores.parquet")
    score_s, _ = run([a.riskfn, "score", "--pipeline", "credit_data", "--version", version, "--store", store,
                      "--data", big, "--out", scores], cwd=REPO)
    design = os.path.join(work, "design")
    run([a.riskfn, "prepare", "--pipeline", pipe, "--data", big, "--design-out", design], cwd=REPO)
    _, out = run([a.python, "-c", SHAP, model_json, design, os.path.join(REPO, "tests", "reference")])
    theirs = json.loads(out)
    result = {
        "model": {"trees": trees, "max_depth": a.depth, "train_seconds": train_s},
        "one_record_with_reasons": one["from_json_bytes_with_reasons"],
        "riskfn_score_with_reasons": {"rows": a.rows, "seconds": score_s, "rows_per_s": a.rows / score_s},
        "shap_values_plus_prediction": theirs,
        "ratio": (a.rows / score_s) / theirs["rows_per_s"],
    }
    os.makedirs(os.path.dirname(work), exist_ok=True)
    json.dump(result, open(os.path.join(REPO, "target", "bench", "explain.json"), "w"), indent=1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
