"""A LightGBM model for batch/src/import on german_credit's features (german_features.py:
five numbers, five categories as pandas categories so LightGBM splits on category sets and
keeps their levels in pandas_categorical, missing ages), trained on the pipeline's training
split. Writes the text model (save_model) and the reference rows with LightGBM's own
probability and pred_contrib (TreeSHAP).

Usage: python tests/reference/import/lightgbm_german.py
(lightgbm 4.7.0, pandas 3.x produced the committed lightgbm_german.txt and
lightgbm_german_reference.csv)
"""
from fixtures import dump_lightgbm, fit_lightgbm
from german_features import features, reference

df, y, train = features()
fit_lightgbm(
    df, y, train, reference(df), "lightgbm_german",
    n_estimators=60, num_leaves=15, min_child_samples=10, cat_smooth=5, min_data_per_group=5,
)
# Random-forest mode (average_output): bagged trees, their outputs averaged.
fit_lightgbm(
    df, y, train, reference(df), "lightgbm_german_rf",
    boosting_type="rf", n_estimators=30, num_leaves=15, min_child_samples=10, bagging_fraction=0.7,
    bagging_freq=1, feature_fraction=0.8, cat_smooth=5, min_data_per_group=5,
)
# Both as JSON dumps too (Booster.dump_model()).
dump_lightgbm("lightgbm_german")
dump_lightgbm("lightgbm_german_rf")
