#!/usr/bin/env python3
"""An imported model against a riskfn-trained one of the same size, one record with reasons.

    python3 tests/bench/imported.py [--riskfn BIN] [--rounds 5] [--n 200000]

1. Trains german_credit's gradient_boosting family alone at the LightGBM fixture's size
   (60 trees of at most 15 leaves; learning rate 0.05, at which the validation loss still
   falls at the 60th tree, so none is cut), and imports
   tests/reference/import/lightgbm_german.txt (LightGBM 4.7.0: 60 trees of at most 15
   leaves) into the same store (`--force`: the gate's verdict is not the point here).
   Any build of `riskfn` makes the same two models; the default is the debug one.
2. Scores the same raw german_credit records with each version's model.json through
   `benches/score.rs` (parse the JSON body, the SQL's features, the model, points, TreeSHAP
   reasons; release build), in alternating rounds, and reports each model's size (trees,
   leaves, inputs) and the medians of the rounds' p50 and p99, and their ratio.
3. In the same rounds, what the model's own library does for one record with reasons:
   LightGBM's `Booster.predict` and `predict(pred_contrib=True)` on a one-row DataFrame of
   the features already computed (reading the record and computing its features left out,
   to LightGBM's favour), as a Python service would answer it.
Results: target/bench/imported.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(REPO, "tests", "reference", "import")

LIGHTGBM = r'''
import sys, json, time, statistics
import lightgbm as lgb, pandas as pd
sys.path.insert(0, sys.argv[2])
from german_features import features
booster = lgb.Booster(model_file=sys.argv[1])
df, _, _ = features()
rows = [df.iloc[[i]] for i in range(len(df))]
n = int(sys.argv[3])
for i in range(200):
    booster.predict(rows[i % len(rows)])
ns = []
for i in range(n):
    row = rows[i % len(rows)]
    t = time.perf_counter_ns()
    booster.predict(row)
    booster.predict(row, pred_contrib=True)
    ns.append(time.perf_counter_ns() - t)
ns.sort()
print(json.dumps({"p50_us": ns[len(ns) // 2] / 1000, "p99_us": ns[int((len(ns) - 1) * 0.99)] / 1000,
                  "lightgbm": lgb.__version__}))
'''

CONFIG = '''
[models]
families = ["gradient_boosting"]
folds = 0

[models.gradient_boosting]
max_depth = [16]
num_leaves = [15]
learning_rate = [0.05]
min_leaf_weight = [1.0]
max_trees = 60
early_stopping_rounds = 60
'''


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO, **kw).stdout


def size(model_json):
    """Trees, leaves and encoded inputs of a version's model."""
    artifact = json.load(open(model_json))
    trees = artifact["model"]["trees"]
    leaves = sum(sum(1 for n in t["nodes"] if "leaf" in n) for t in trees)
    inputs = sum(len(f["encoding"].get("levels", [])) if f["encoding"]["kind"] == "one_hot" else 1
                 for f in artifact["features"])
    return {"trees": len(trees), "leaves": leaves, "features": len(artifact["features"]), "inputs": inputs}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--riskfn", default=os.path.join(REPO, "target", "debug", "riskfn"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=200_000, help="records scored per round")
    ap.add_argument("--lightgbm-n", type=int, default=2_000, help="records LightGBM scores per round")
    a = ap.parse_args()
    if not os.path.exists(a.riskfn):
        run(["cargo", "build", "-p", "riskfn-batch", "--bin", "riskfn"])
    work = os.path.join(REPO, "target", "bench", "imported")
    shutil.rmtree(work, ignore_errors=True)
    pipe = os.path.join(work, "german_credit")
    shutil.copytree(os.path.join(REPO, "sql", "german_credit"), pipe)
    text = open(os.path.join(pipe, "pipeline.toml")).read()
    head, _, _ = text.partition("[models]")
    rest = text[text.index("[serving]"):]
    open(os.path.join(pipe, "pipeline.toml"), "w").write(head + CONFIG + "\n" + rest)
    store = os.path.join(work, "store")
    trained = json.loads(run([a.riskfn, "train", "--pipeline", pipe, "--store", store, "--json"]))["version"]
    imported = json.loads(run([
        a.riskfn, "models", "import", "--pipeline", pipe, "--store", store, "--force", "--json",
        "--model", os.path.join(FIXTURES, "lightgbm_german.txt"),
        "--reference", os.path.join(FIXTURES, "lightgbm_german_reference.csv"),
    ]))["version"]
    models = {
        "trained": os.path.join(store, "german_credit", "versions", trained, "model.json"),
        "imported": os.path.join(store, "german_credit", "versions", imported, "model.json"),
    }

    prog = r'''
import sys, pandas as pd
df = pd.read_parquet(sys.argv[1]).drop(columns=["creditability"])
open(sys.argv[2], "w").write(df.to_json(orient="records"))
'''
    records = os.path.join(work, "records.json")
    subprocess.run(["python3", "-c", prog, os.path.join(pipe, "data", "german_credit.parquet"), records],
                   check=True)
    run(["cargo", "bench", "--no-run", "-q", "-p", "riskfn-core", "--bench", "score"])
    rounds = {k: [] for k in [*models, "lightgbm"]}
    for _ in range(a.rounds):
        for name, path in models.items():
            out = run(["cargo", "bench", "-q", "-p", "riskfn-core", "--bench", "score", "--", path, records,
                       str(a.n)])
            rounds[name].append(json.loads(out)["from_json_bytes_with_reasons"])
        out = run(["python3", "-c", LIGHTGBM, os.path.join(FIXTURES, "lightgbm_german.txt"), FIXTURES,
                   str(a.lightgbm_n)])
        rounds["lightgbm"].append(json.loads(out))
    result = {}
    for name in models:
        result[name] = {
            "version": {"trained": trained, "imported": imported}[name],
            **size(models[name]),
            "p50_us": statistics.median(r["p50_us"] for r in rounds[name]),
            "p99_us": statistics.median(r["p99_us"] for r in rounds[name]),
            "rounds_p50_us": [r["p50_us"] for r in rounds[name]],
        }
    result["lightgbm"] = {
        "library": rounds["lightgbm"][0]["lightgbm"],
        "p50_us": statistics.median(r["p50_us"] for r in rounds["lightgbm"]),
        "p99_us": statistics.median(r["p99_us"] for r in rounds["lightgbm"]),
    }
    result["lightgbm_over_imported"] = {
        q: result["lightgbm"][q] / result["imported"][q] for q in ("p50_us", "p99_us")
    }
    if (result["trained"]["trees"], result["trained"]["leaves"]) != (result["imported"]["trees"],
                                                                    result["imported"]["leaves"]):
        print("warning: the two models differ in size")
    result["imported_over_trained"] = {
        q: result["imported"][q] / result["trained"][q] for q in ("p50_us", "p99_us")
    }
    json.dump(result, open(os.path.join(REPO, "target", "bench", "imported.json"), "w"), indent=1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
