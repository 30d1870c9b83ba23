"""An XGBoost model for batch/src/import on german_credit's features (german_features.py:
five numbers, five categories as pandas categories with native categorical splits, missing
ages), trained on the pipeline's training split. Writes the JSON model
(`save_model("m.json")`) and the reference rows with XGBoost's own probability and
pred_contribs.

Usage: python tests/reference/import/xgboost_german.py
(xgboost 3.2.0, pandas 3.x produced the committed xgboost_german.json and
xgboost_german_reference.csv)
"""
import os

import xgboost as xgb
from fixtures import HERE, fit_xgboost
from german_features import features, reference

df, y, train = features()
fit_xgboost(df, y, train, reference(df), "xgboost_german", n_estimators=60, max_depth=4)
# The same model as UBJSON (save_model("m.ubj")), XGBoost's binary format.
xgb.Booster(model_file=os.path.join(HERE, "xgboost_german.json")).save_model(os.path.join(HERE, "xgboost_german.ubj"))
