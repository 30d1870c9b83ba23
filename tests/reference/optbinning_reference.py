"""Expected WoE and IV for tests/e2e/scorecard.rs, from optbinning.

For each characteristic on a published scorecard (model.json), on the training rows riskfn
bins (`riskfn prepare --design-out DIR`: train_native.csv, missing values empty):
  * `same_bins`: optbinning's binning table for riskfn's own bins (`user_splits` = riskfn's
    cuts, or its level groups for a category): rows, events, WoE and IV per bin, missing
    bin included, and the total IV;
  * `optimal_iv`: the IV of optbinning's own `OptimalBinning` under the same constraints
    (monotonic_trend "auto_asc_desc" for a number, "ascending" for a category in event-rate
    order, min_bin_size 0.05, max_n_bins 6, max_n_prebins 20).

Usage: python tests/reference/optbinning_reference.py MODEL_JSON DESIGN_DIR > OUT.json
(optbinning 1.0.0, scikit-learn 1.9.1, numpy 2.4.6 produced tests/reference/optbinning_*.json, from
the cards tests/e2e/scorecard.rs trains: scorecard only, max_bins = [6], c = [1.0])
"""
import json
import sys
import warnings

import numpy as np
import optbinning
import pandas as pd
from optbinning import OptimalBinning

warnings.filterwarnings("ignore")


def main(model_path, design):
    artifact = json.load(open(model_path))
    card = artifact["model"]
    assert card["family"] == "scorecard", card["family"]
    df = pd.read_csv(f"{design}/train_native.csv")
    y = df.pop("adverse").to_numpy()
    features = artifact["features"]
    out = dict(source=f"optbinning {optbinning.__version__} OptimalBinning on {design}/train_native.csv "
                      f"and the bins of {model_path.split('/')[-4]}'s scorecard",
               characteristics={})
    for c in card["characteristics"]:
        f = features[c["feature"]]
        bins = c["bins"]
        if bins["kind"] == "numeric":
            x = df.iloc[:, bins["input"]].to_numpy(dtype=float)
            cuts = list(bins["cuts"])
            same = OptimalBinning(name=f["name"], dtype="numerical", user_splits=cuts,
                                  user_splits_fixed=[True] * len(cuts), monotonic_trend=None,
                                  min_prebin_size=1e-6, max_n_prebins=len(cuts) + 1)
            optimal = OptimalBinning(name=f["name"], dtype="numerical", monotonic_trend="auto_asc_desc",
                                     min_bin_size=0.05, max_n_bins=6, max_n_prebins=20)
        else:
            levels = f["encoding"]["levels"]
            block = df.iloc[:, bins["start"]:bins["start"] + len(levels)].to_numpy()
            x = np.array([levels[int(np.argmax(r))] if r.max() == 1 else "unseen" for r in block], dtype=object)
            groups = {}
            for lvl, b in zip(levels, bins["level_bins"]):
                groups.setdefault(b, []).append(lvl)
            splits = [np.array(groups[b], dtype=object) for b in sorted(groups)]
            same = OptimalBinning(name=f["name"], dtype="categorical", user_splits=splits,
                                  monotonic_trend=None, min_prebin_size=1e-6, cat_cutoff=None)
            optimal = OptimalBinning(name=f["name"], dtype="categorical", monotonic_trend="ascending",
                                     min_bin_size=0.05, max_n_bins=6, max_n_prebins=20, cat_cutoff=None)
        same.fit(x, y)
        table = same.binning_table.build()
        rows = table[~table.index.isin(["Totals"])]
        rows = rows[rows["Bin"] != "Special"]
        optimal.fit(x, y)
        opt_table = optimal.binning_table.build()
        out["characteristics"][f["name"]] = dict(
            same_bins=[dict(bin=str(r["Bin"]), rows=int(r["Count"]), events=int(r["Event"]),
                            woe=float(r["WoE"]), iv=float(r["IV"])) for _, r in rows.iterrows()],
            iv=float(table.loc["Totals", "IV"]),
            optimal_iv=float(opt_table.loc["Totals", "IV"]),
        )
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main(*sys.argv[1:3])
