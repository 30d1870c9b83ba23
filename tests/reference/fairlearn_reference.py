"""Expected fairness measures for tests/e2e/fairness.rs, from fairlearn.

Reads the bundled german_credit data and a scores file of its published version
(`riskfn score --pipeline german_credit --data ... --out SCORES`), takes the test split
(splitmix64(row) % 100 >= 80), approves where the probability is below the version's
threshold, and computes with fairlearn's MetricFrame each group's count and selection rate
(here: approval rate) for sex, marital status and age bands as the pipeline derives them,
and each group's ratio to the reference group.

Usage: python tests/reference/fairlearn_reference.py DATA.parquet SCORES.parquet THRESHOLD > OUT.json
(fairlearn 0.15.0, pandas 3.x produced tests/reference/fairlearn_german_credit.json)
"""
import json
import sys

import fairlearn
import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, count, selection_rate

from splitmix import splitmix64


def band(age):
    return "< 25" if age < 25 else "[25, 40)" if age < 40 else "[40, 62)" if age < 62 else ">= 62"


def main(data, scores, threshold):
    raw = pd.read_parquet(data)
    raw["row_id"] = np.arange(1, len(raw) + 1)
    s = pd.read_parquet(scores)[["row_id", "probability"]]
    df = raw.merge(s, on="row_id")
    df = df[[splitmix64(int(r)) % 100 >= 80 for r in df["row_id"]]]
    approved = (df["probability"] < float(threshold)).astype(int)
    y = (df["creditability"] == "bad").astype(int)
    attributes = {
        "sex": (np.where(df["personal_status_and_sex"].str.startswith("female"), "female", "male"), "male"),
        "marital_status": (np.where(df["personal_status_and_sex"].str.contains("single"), "single", "not single"),
                           "single"),
        "age": (df["age_in_years"].map(band).to_numpy(), "[25, 40)"),
    }
    out = dict(source=f"fairlearn {fairlearn.__version__} MetricFrame(count, selection_rate) on the approvals "
                      "of german_credit's published version, test split", attributes={})
    for name, (groups, reference) in attributes.items():
        mf = MetricFrame(metrics={"count": count, "selection_rate": selection_rate}, y_true=y,
                         y_pred=approved, sensitive_features=pd.Series(groups, name=name))
        by = mf.by_group
        ref = by.loc[reference, "selection_rate"]
        out["attributes"][name] = {
            g: dict(count=int(by.loc[g, "count"]), selection_rate=float(by.loc[g, "selection_rate"]),
                    ratio_to_reference=float(by.loc[g, "selection_rate"] / ref))
            for g in by.index
        }
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main(*sys.argv[1:4])
