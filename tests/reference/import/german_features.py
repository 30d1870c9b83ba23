"""german_credit's features as its SQL computes them (renamed columns and monthly_amount),
five numbers and five categories (pandas categories, sorted), with some ages missing; the
outcome; the pipeline's training rows (splitmix64 of the 1-based row below 60); and the
reference rows the import fixtures keep (every third row, with a missing purpose,
duration and housing among them). Shared by lightgbm_german.py and xgboost_german.py."""
import numpy as np
import pandas as pd
from fixtures import data, training_rows

CATEGORICAL = ["checking_account", "credit_history", "purpose", "savings", "housing"]


def features():
    """(features, outcome, training-row mask)."""
    raw = data("german_credit")
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
    train = training_rows(len(df))
    return df, y, train


def reference(df):
    """Every third row, with an unseen (missing) purpose and missing values in a number and
    a category among them."""
    ref = df.iloc[::3].copy()
    ref.loc[ref.index[0], "purpose"] = np.nan
    ref.loc[ref.index[1], "duration_months"] = np.nan
    ref.loc[ref.index[2], "housing"] = np.nan
    return ref

