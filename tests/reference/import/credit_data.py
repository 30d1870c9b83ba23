"""A LightGBM and an XGBoost model for batch/src/import on credit_data's features as its
SQL computes them (a subset: Seniority, Home, Time, Age, Records, Job, Expenses, Income
with the sentinel 99999999 as missing, Amount, Price, and loan_to_price), categories as
pandas categories, trained on the pipeline's training split (splitmix64 of the 1-based row
below 60). Writes each model and reference rows (every fifth row, with a missing Home and
Income among them) with the library's own probability and contributions.

Usage: python tests/reference/import/credit_data.py
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

DATA = os.path.join(HERE, "..", "..", "..", "sql", "credit_data", "data", "credit_data.parquet")
raw = pd.read_parquet(DATA)
cat = lambda c: pd.Categorical(raw[c], categories=sorted(raw[c].dropna().unique()))  # noqa: E731
df = pd.DataFrame({
    "Seniority": raw["Seniority"].astype(float),
    "Home": cat("Home"),
    "Time": raw["Time"].astype(float),
    "Age": raw["Age"].astype(float),
    "Records": cat("Records"),
    "Job": cat("Job"),
    "Expenses": raw["Expenses"].astype(float),
    "Income": raw["Income"].where(raw["Income"] != 99999999),
    "Amount": raw["Amount"].astype(float),
    "Price": raw["Price"].astype(float),
})
df["loan_to_price"] = df["Amount"] / df["Price"]
y = (raw["Status"] == "bad").astype(int)
train = np.array([splitmix64(i + 1) % 100 < 60 for i in range(len(df))])

ref = df.iloc[::5].copy()
ref.loc[ref.index[0], "Home"] = np.nan
ref.loc[ref.index[1], "Income"] = np.nan

lgbm = lgb.LGBMClassifier(n_estimators=50, num_leaves=15, learning_rate=0.1, verbose=-1, random_state=7)
lgbm.fit(df[train], y[train])
lgbm.booster_.save_model(os.path.join(HERE, "lightgbm_credit.txt"))
write_reference(
    df, ref, lgbm.predict_proba(ref)[:, 1], lgbm.booster_.predict(ref, pred_contrib=True),
    os.path.join(HERE, "lightgbm_credit_reference.csv"),
)

xgbm = xgb.XGBClassifier(
    n_estimators=50, max_depth=4, learning_rate=0.1, tree_method="hist",
    enable_categorical=True, max_cat_to_onehot=1, random_state=7,
)
xgbm.fit(df[train], y[train])
xgbm.save_model(os.path.join(HERE, "xgboost_credit.json"))
contrib = xgbm.get_booster().predict(xgb.DMatrix(ref, enable_categorical=True), pred_contribs=True)
write_reference(
    df, ref, xgbm.predict_proba(ref)[:, 1], contrib,
    os.path.join(HERE, "xgboost_credit_reference.csv"),
)
