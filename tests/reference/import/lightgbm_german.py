"""A LightGBM model for batch/src/import: german_credit's features as its SQL computes them
(renamed columns and monthly_amount), five numbers and five categories (pandas category
dtype, so LightGBM splits on category sets and keeps their levels in pandas_categorical),
with some ages missing, trained on the pipeline's training split only (splitmix64 of the
1-based row below 60), so that its validation and test measures in riskfn are honest. Writes the text model (save_model) and reference rows: the
features as the model saw them (an unseen category and missing values among them),
LightGBM's own probability and its pred_contrib (TreeSHAP) per feature and bias.

Usage: python tests/reference/import/lightgbm_german.py
(lightgbm 4.7.0, pandas 3.x produced the committed lightgbm_german.txt and
lightgbm_german_reference.csv)
"""
import os
import sys

import lightgbm as lgb
import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from splitmix import splitmix64  # noqa: E402
DATA = os.path.join(HERE, "..", "..", "..", "sql", "german_credit", "data", "german_credit.parquet")

raw = pd.read_parquet(DATA)
df = pd.DataFrame({
    "checking_account": raw["status_of_existing_checking_account"],
    "duration_months": raw["duration_in_month"],
    "credit_history": raw["credit_history"],
    "purpose": raw["purpose"],
    "credit_amount": raw["credit_amount"],
    "savings": raw["savings_account_and_bonds"],
    "installment_rate": raw["installment_rate_in_percentage_of_disposable_income"],
    "housing": raw["housing"],
    "age": raw["age_in_years"].astype(float),
})
df["monthly_amount"] = df["credit_amount"].astype(float) / df["duration_months"]
# Some ages missing: the model learns where missing values go.
df.loc[df.index % 17 == 3, "age"] = np.nan
categorical = ["checking_account", "credit_history", "purpose", "savings", "housing"]
for c in categorical:
    df[c] = pd.Categorical(df[c], categories=sorted(df[c].unique()))
y = (raw["creditability"] == "bad").astype(int)

model = lgb.LGBMClassifier(
    n_estimators=60, num_leaves=15, learning_rate=0.1, min_child_samples=10,
    cat_smooth=5, min_data_per_group=5, verbose=-1, random_state=7,
)
train = [splitmix64(i + 1) % 100 < 60 for i in range(len(df))]
model.fit(df[train], y[train])
model.booster_.save_model(os.path.join(HERE, "lightgbm_german.txt"))

ref = df.iloc[::3].copy()
# An unseen purpose and missing values in every kind of column.
ref.loc[ref.index[0], "purpose"] = np.nan
ref.loc[ref.index[1], "duration_months"] = np.nan
ref.loc[ref.index[2], "housing"] = np.nan
p = model.predict_proba(ref)[:, 1]
contrib = model.booster_.predict(ref, pred_contrib=True)
out = pd.DataFrame({c: ref[c].astype(object) for c in df.columns})
out["probability"] = p
for i, c in enumerate(df.columns):
    out[f"contrib_{c}"] = contrib[:, i]
out["contrib_bias"] = contrib[:, -1]
out.to_csv(os.path.join(HERE, "lightgbm_german_reference.csv"), index=False, float_format="%.17g")
print(len(out), "reference rows")
