"""A LightGBM, an XGBoost and a scikit-learn (ONNX) model for batch/src/import on
credit_data's features as its
SQL computes them (a subset: Seniority, Home, Time, Age, Records, Job, Expenses, Income
with the sentinel 99999999 as missing, Amount, Price, and loan_to_price), categories as
pandas categories, trained on the pipeline's training split (splitmix64 of the 1-based row
below 60). Writes each model and reference rows (every fifth row, with a missing Home and
Income among them) with the library's own probability and contributions.

Usage: python tests/reference/import/credit_data.py
(lightgbm 4.7.0, xgboost 3.2.0, scikit-learn 1.9.1, skl2onnx 1.20.0, onnxruntime 1.32.0,
pandas 3.x produced the committed files)
"""
import numpy as np
import pandas as pd
from fixtures import data, fit_lightgbm, fit_scorecard, fit_sklearn, fit_xgboost, training_rows

raw = data("credit_data")
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
train = training_rows(len(df))

ref = df.iloc[::5].copy()
ref.loc[ref.index[0], "Home"] = np.nan
ref.loc[ref.index[1], "Income"] = np.nan

fit_lightgbm(df, y, train, ref, "lightgbm_credit", n_estimators=50, num_leaves=15)
fit_xgboost(df, y, train, ref, "xgboost_credit", n_estimators=50, max_depth=4)
# The pipeline drops exact copies (every column but the id) before it trains, one of them
# a training row: the scikit-learn models train on its rows, so that the node counts of
# their trees (shap's weights) are the pipeline's.
kept = train & ~raw.drop(columns="rownames").duplicated().to_numpy()
fit_sklearn(df, y, kept, ref, "sklearn_credit")
fit_sklearn(df, y, kept, ref, "sklearn_gbm_credit", kind="boosting")
fit_sklearn(df, y, kept, ref, "sklearn_forest_credit", kind="forest")
fit_sklearn(df, y, kept, ref, "sklearn_hgb_credit", kind="histogram")
# A points scorecard as PMML (optbinning through sklearn2pmml).
fit_scorecard(df, y, kept, ref, "scorecard_credit")
