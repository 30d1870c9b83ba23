"""An XGBoost model for batch/src/import: the same german_credit features, training split
and reference rows as lightgbm_german.py (five numbers, five categories as pandas
categories with native categorical splits, missing ages), saved as JSON
(`save_model("m.json")`), with XGBoost's own probability and pred_contribs of each
reference row.

Usage: python tests/reference/import/xgboost_german.py
(xgboost 3.2.0, pandas 3.x produced the committed xgboost_german.json and
xgboost_german_reference.csv)
"""
import os
import sys

import numpy as np
import pandas as pd
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from splitmix import splitmix64  # noqa: E402

DATA = os.path.join(HERE, "..", "..", "..", "sql", "german_credit", "data", "german_credit.parquet")

raw = pd.read_parquet(DATA)
df = pd.DataFrame({
    "checking_account": raw["status_of_existing_checking_account"],
    "duration_months": raw["duration_in_month"].astype(float),
    "credit_history": raw["credit_history"],
    "purpose": raw["purpose"],
    "credit_amount": raw["credit_amount"].astype(float),
    "savings": raw["savings_account_and_bonds"],
    "installment_rate": raw["installment_rate_in_percentage_of_disposable_income"].astype(float),
    "housing": raw["housing"],
    "age": raw["age_in_years"].astype(float),
})
df["monthly_amount"] = df["credit_amount"] / df["duration_months"]
df.loc[df.index % 17 == 3, "age"] = np.nan
categorical = ["checking_account", "credit_history", "purpose", "savings", "housing"]
for c in categorical:
    df[c] = pd.Categorical(df[c], categories=sorted(df[c].unique()))
y = (raw["creditability"] == "bad").astype(int)
train = [splitmix64(i + 1) % 100 < 60 for i in range(len(df))]

model = xgb.XGBClassifier(
    n_estimators=60, max_depth=4, learning_rate=0.1, tree_method="hist",
    enable_categorical=True, max_cat_to_onehot=1, random_state=7,
)
model.fit(df[train], y[train])
model.save_model(os.path.join(HERE, "xgboost_german.json"))

ref = df.iloc[::3].copy()
ref.loc[ref.index[0], "purpose"] = np.nan
ref.loc[ref.index[1], "duration_months"] = np.nan
ref.loc[ref.index[2], "housing"] = np.nan
p = model.predict_proba(ref)[:, 1]
contrib = model.get_booster().predict(xgb.DMatrix(ref, enable_categorical=True), pred_contribs=True)
out = pd.DataFrame({c: ref[c].astype(object) for c in df.columns})
out["probability"] = p
for i, c in enumerate(df.columns):
    out[f"contrib_{c}"] = contrib[:, i]
out["contrib_bias"] = contrib[:, -1]
out.to_csv(os.path.join(HERE, "xgboost_german_reference.csv"), index=False, float_format="%.17g")
print(len(out), "reference rows")
