"""A LightGBM, an XGBoost and a scikit-learn (ONNX) model for batch/src/import on
islr_default's features as its
SQL computes them (student as a pandas category, balance, income, and balance_to_income
where income is positive), trained on the pipeline's training split (splitmix64 of the
1-based row below 60). Writes each model (LightGBM's text, XGBoost's JSON, skl2onnx's ONNX) and reference
rows (every tenth row, with a missing student and income among them) with the library's
own probability and contributions.

Usage: python tests/reference/import/islr_default.py
(lightgbm 4.7.0, xgboost 3.2.0, scikit-learn 1.9.1, skl2onnx 1.20.0, onnxruntime 1.32.0,
pandas 3.x produced the committed files)
"""
import numpy as np
import pandas as pd
from fixtures import (
    data,
    fit_lightgbm,
    fit_scorecard,
    fit_sklearn,
    fit_sklearn_array,
    fit_xgboost,
    training_rows,
)

raw = data("islr_default")
df = pd.DataFrame({
    "student": pd.Categorical(raw["student"], categories=sorted(raw["student"].unique())),
    "balance": raw["balance"],
    "income": raw["income"],
})
df["balance_to_income"] = np.where(df["income"] > 0, df["balance"] / df["income"], np.nan)
y = (raw["default"] == "Yes").astype(int)
train = training_rows(len(df))

ref = df.iloc[::10].copy()
ref.loc[ref.index[0], "student"] = np.nan
ref.loc[ref.index[1], "income"] = np.nan

fit_lightgbm(df, y, train, ref, "lightgbm_islr", n_estimators=40, num_leaves=7)
fit_xgboost(df, y, train, ref, "xgboost_islr", n_estimators=40, max_depth=3)
fit_sklearn(df, y, train, ref, "sklearn_islr")
fit_sklearn(df, y, train, ref, "sklearn_gbm_islr", kind="boosting")
fit_sklearn(df, y, train, ref, "sklearn_forest_islr", kind="forest")
fit_sklearn(df, y, train, ref, "sklearn_hgb_islr", kind="histogram")
# The numbers as one array, columns by position (X_0, X_1, X_2).
fit_sklearn_array(df, y, train, ref, "sklearn_array_islr")
# Zeros read as missing (LightGBM's missing type Zero): many balances are 0.
fit_lightgbm(df, y, train, ref, "lightgbm_islr_zero", n_estimators=40, num_leaves=7, zero_as_missing=True)
# A points scorecard as PMML (optbinning through sklearn2pmml).
fit_scorecard(df, y, train, ref, "scorecard_islr")
