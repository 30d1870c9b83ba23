"""A scikit-learn logistic regression, gradient boosting, random forest and histogram
gradient boosting for
batch/src/import on german_credit's features (german_features.py: five numbers, five
categories, missing ages), behind the reference pipeline's preprocessing, trained on the
pipeline's training split and exported to ONNX by skl2onnx (fixtures.fit_sklearn). Writes
sklearn_german.onnx, sklearn_gbm_german.onnx, sklearn_forest_german.onnx,
sklearn_hgb_german.onnx and their
reference rows with scikit-learn's and ONNX Runtime's probabilities (and shap's
contributions for the boosted trees).

Usage: python tests/reference/import/sklearn_german.py
(scikit-learn 1.9.1, skl2onnx 1.20.0, onnxruntime 1.32.0, shap 0.51.0, pandas 3.x produced
the committed files)
"""
from fixtures import fit_sklearn
from german_features import features, reference

df, y, train = features()
ref = reference(df)
fit_sklearn(df, y, train, ref, "sklearn_german")
fit_sklearn(df, y, train, ref, "sklearn_gbm_german", kind="boosting")
fit_sklearn(df, y, train, ref, "sklearn_forest_german", kind="forest")
fit_sklearn(df, y, train, ref, "sklearn_hgb_german", kind="histogram")
