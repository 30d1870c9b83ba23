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
from german_features import features, reference, write_reference

HERE = os.path.dirname(os.path.abspath(__file__))

df, y, train = features()
model = xgb.XGBClassifier(
    n_estimators=60, max_depth=4, learning_rate=0.1, tree_method="hist",
    enable_categorical=True, max_cat_to_onehot=1, random_state=7,
)
model.fit(df[train], y[train])
model.save_model(os.path.join(HERE, "xgboost_german.json"))
ref = reference(df)
contrib = model.get_booster().predict(xgb.DMatrix(ref, enable_categorical=True), pred_contribs=True)
write_reference(
    df, ref, model.predict_proba(ref)[:, 1], contrib,
    os.path.join(HERE, "xgboost_german_reference.csv"),
)
