"""german_credit's features as its SQL computes them (renamed columns and monthly_amount),
five numbers and five categories (pandas categories, sorted), with some ages missing; the
outcome; the pipeline's training rows (splitmix64 of the 1-based row below 60); and the
reference rows the import fixtures keep (every third row, with a missing purpose,
duration and housing among them). Shared by lightgbm_german.py and xgboost_german.py."""
import os
import sys

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from splitmix import splitmix64  # noqa: E402

DATA = os.path.join(HERE, "..", "..", "..", "sql", "german_credit", "data", "german_credit.parquet")
CATEGORICAL = ["checking_account", "credit_history", "purpose", "savings", "housing"]


def features():
    """(features, outcome, training-row mask)."""
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
    # Some ages missing: the model learns where missing values go.
    df.loc[df.index % 17 == 3, "age"] = np.nan
    for c in CATEGORICAL:
        df[c] = pd.Categorical(df[c], categories=sorted(df[c].unique()))
    y = (raw["creditability"] == "bad").astype(int)
    train = np.array([splitmix64(i + 1) % 100 < 60 for i in range(len(df))])
    return df, y, train


def reference(df):
    """Every third row, with an unseen (missing) purpose and missing values in a number and
    a category among them."""
    ref = df.iloc[::3].copy()
    ref.loc[ref.index[0], "purpose"] = np.nan
    ref.loc[ref.index[1], "duration_months"] = np.nan
    ref.loc[ref.index[2], "housing"] = np.nan
    return ref


def write_reference(df, ref, probability, contrib, path):
    """The reference rows as the model saw them, the library's probability and its
    contributions per feature and bias."""
    out = pd.DataFrame({c: ref[c].astype(object) for c in df.columns})
    out["probability"] = probability
    for i, c in enumerate(df.columns):
        out[f"contrib_{c}"] = contrib[:, i]
    out["contrib_bias"] = contrib[:, -1]
    out.to_csv(path, index=False, float_format="%.17g")
    print(len(out), "reference rows")
