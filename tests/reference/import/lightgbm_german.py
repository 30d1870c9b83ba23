"""A LightGBM model for batch/src/import on german_credit's features (german_features.py:
five numbers, five categories as pandas categories so LightGBM splits on category sets and
keeps their levels in pandas_categorical, missing ages), trained on the pipeline's training
split. Writes the text model (save_model) and the reference rows with LightGBM's own
probability and pred_contrib (TreeSHAP).

Usage: python tests/reference/import/lightgbm_german.py
(lightgbm 4.7.0, pandas 3.x produced the committed lightgbm_german.txt and
lightgbm_german_reference.csv)
"""
import os

import lightgbm as lgb
from german_features import features, reference, write_reference

HERE = os.path.dirname(os.path.abspath(__file__))

df, y, train = features()
model = lgb.LGBMClassifier(
    n_estimators=60, num_leaves=15, learning_rate=0.1, min_child_samples=10,
    cat_smooth=5, min_data_per_group=5, verbose=-1, random_state=7,
)
model.fit(df[train], y[train])
model.booster_.save_model(os.path.join(HERE, "lightgbm_german.txt"))
ref = reference(df)
write_reference(
    df, ref, model.predict_proba(ref)[:, 1], model.booster_.predict(ref, pred_contrib=True),
    os.path.join(HERE, "lightgbm_german_reference.csv"),
)
