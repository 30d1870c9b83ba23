"""A LightGBM and an XGBoost model for batch/src/import on islr_default's features as its
SQL computes them (student as a pandas category, balance, income, and balance_to_income
where income is positive), trained on the pipeline's training split (splitmix64 of the
1-based row below 60). Writes each model (LightGBM's text, XGBoost's JSON) and reference
rows (every tenth row, with a missing student and income among them) with the library's
own probability and contributions.

Usage: python tests/reference/import/islr_default.py
(lightgbm 4.7.0, xgboost 3.2.0, pandas 3.x produced the committed files)
"""
import os
import sys

import lightgbm as lgb
import numpy as np
import pandas as pd
import xgboost as xgb
from german_features import write_reference

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from splitmix import splitmix64  # noqa: E402

DATA = os.path.join(HERE, "..", "..", "..", "sql", "islr_default", "data", "islr_default.parquet")
raw = pd.read_parquet(DATA)
df = pd.DataFrame({
    "student": pd.Categorical(raw["student"], categories=sorted(raw["student"].unique())),
    "balance": raw["balance"],
    "income": raw["income"],
})
df["balance_to_income"] = np.where(df["income"] > 0, df["balance"] / df["income"], np.nan)
y = (raw["default"] == "Yes").astype(int)
train = np.array([splitmix64(i + 1) % 100 < 60 for i in range(len(df))])

ref = df.iloc[::10].copy()
ref.loc[ref.index[0], "student"] = np.nan
ref.loc[ref.index[1], "income"] = np.nan

lgbm = lgb.LGBMClassifier(n_estimators=40, num_leaves=7, learning_rate=0.1, verbose=-1, random_state=7)
lgbm.fit(df[train], y[train])
lgbm.booster_.save_model(os.path.join(HERE, "lightgbm_islr.txt"))
write_reference(
    df, ref, lgbm.predict_proba(ref)[:, 1], lgbm.booster_.predict(ref, pred_contrib=True),
    os.path.join(HERE, "lightgbm_islr_reference.csv"),
)

xgbm = xgb.XGBClassifier(
    n_estimators=40, max_depth=3, learning_rate=0.1, tree_method="hist",
    enable_categorical=True, max_cat_to_onehot=1, random_state=7,
)
xgbm.fit(df[train], y[train])
xgbm.save_model(os.path.join(HERE, "xgboost_islr.json"))
contrib = xgbm.get_booster().predict(xgb.DMatrix(ref, enable_categorical=True), pred_contribs=True)
write_reference(
    df, ref, xgbm.predict_proba(ref)[:, 1], contrib,
    os.path.join(HERE, "xgboost_islr_reference.csv"),
)
