"""What the import fixtures share: a pipeline's training rows (splitmix64 of the 1-based
row below 60), fitting a LightGBM or an XGBoost model there and writing it with its
reference rows (the rows as the model saw them, the library's own probability and
contributions per feature and bias)."""
import os
import sys

import lightgbm as lgb
import numpy as np
import pandas as pd
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from splitmix import splitmix64  # noqa: E402


def data(pipeline):
    """A bundled pipeline's source file."""
    return pd.read_parquet(os.path.join(HERE, "..", "..", "..", "sql", pipeline, "data", f"{pipeline}.parquet"))


def training_rows(n):
    """The pipeline's training split of n rows, as a mask."""
    return np.array([splitmix64(i + 1) % 100 < 60 for i in range(n)])


def write_reference(df, ref, probability, contrib, name):
    """The reference rows as the model saw them, the library's probability and its
    contributions per feature and bias, as `name` beside this file."""
    out = pd.DataFrame({c: ref[c].astype(object) for c in df.columns})
    out["probability"] = probability
    for i, c in enumerate(df.columns):
        out[f"contrib_{c}"] = contrib[:, i]
    out["contrib_bias"] = contrib[:, -1]
    out.to_csv(os.path.join(HERE, name), index=False, float_format="%.17g")
    print(len(out), "reference rows")


def fit_lightgbm(df, y, train, ref, stem, **params):
    """LightGBM fitted on the training rows: `{stem}.txt` (its text model) and
    `{stem}_reference.csv` (its predict_proba and pred_contrib)."""
    model = lgb.LGBMClassifier(learning_rate=0.1, verbose=-1, random_state=7, **params)
    model.fit(df[train], y[train])
    model.booster_.save_model(os.path.join(HERE, f"{stem}.txt"))
    write_reference(
        df, ref, model.predict_proba(ref)[:, 1], model.booster_.predict(ref, pred_contrib=True),
        f"{stem}_reference.csv",
    )


def fit_xgboost(df, y, train, ref, stem, **params):
    """XGBoost fitted on the training rows with native categorical splits: `{stem}.json`
    (its JSON model) and `{stem}_reference.csv` (its predict_proba and pred_contribs)."""
    model = xgb.XGBClassifier(
        learning_rate=0.1, tree_method="hist", enable_categorical=True, max_cat_to_onehot=1,
        random_state=7, **params,
    )
    model.fit(df[train], y[train])
    model.save_model(os.path.join(HERE, f"{stem}.json"))
    contrib = model.get_booster().predict(xgb.DMatrix(ref, enable_categorical=True), pred_contribs=True)
    write_reference(df, ref, model.predict_proba(ref)[:, 1], contrib, f"{stem}_reference.csv")
