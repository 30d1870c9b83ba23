"""scikit-learn's RandomForestClassifier on riskfn's own design matrices, for
tests/e2e/families.rs: the test ROC AUC of every point of riskfn's default forest grid.

Usage: for p in german_credit credit_data islr_default; do
         riskfn prepare --pipeline $p --design-out DESIGN/$p; done
       python tests/reference/forest_sklearn.py DESIGN > tests/reference/forest_sklearn.json
(scikit-learn 1.9.1, numpy 2.4.6, pandas 3.x produced the checked-in file)
"""
import json
import sys

import pandas as pd
import sklearn
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score

GRID = [dict(n_estimators=300, max_depth=None, min_samples_leaf=leaf) for leaf in (1, 5, 20)]


def main(root):
    out = dict(source=f"scikit-learn {sklearn.__version__} RandomForestClassifier(max_features='sqrt', "
                      "bootstrap=True, random_state=42) fitted on train.csv, scored on test.csv",
               datasets={})
    for name in ("german_credit", "credit_data", "islr_default"):
        split = {s: pd.read_csv(f"{root}/{name}/{s}.csv") for s in ("train", "test")}
        xs = {s: d.drop(columns="adverse").to_numpy() for s, d in split.items()}
        ys = {s: d["adverse"].to_numpy() for s, d in split.items()}
        points = []
        for g in GRID:
            m = RandomForestClassifier(max_features="sqrt", random_state=42, n_jobs=2, **g)
            m.fit(xs["train"], ys["train"])
            auc = roc_auc_score(ys["test"], m.predict_proba(xs["test"])[:, 1])
            points.append(dict(trees=g["n_estimators"], max_depth=g["max_depth"],
                               min_samples_leaf=g["min_samples_leaf"], test_auc=auc))
        out["datasets"][name] = points
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main(sys.argv[1])
