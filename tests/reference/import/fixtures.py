"""What the import fixtures share: a pipeline's training rows (splitmix64 of the 1-based
row below 60), fitting a LightGBM, an XGBoost or a scikit-learn model there and writing it
with its reference rows (the rows as the model saw them, the library's own probability
and, for the trees, contributions per feature and bias)."""
import json
import os
import sys

import lightgbm as lgb
import numpy as np
import pandas as pd
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from splitmix import splitmix64  # noqa: E402


def data(pipeline):
    """A bundled pipeline's source file."""
    return pd.read_parquet(os.path.join(HERE, "..", "..", "..", "sql", pipeline, "data", f"{pipeline}.parquet"))


def training_rows(n):
    """The pipeline's training split of n rows, as a mask."""
    return np.array([splitmix64(i + 1) % 100 < 60 for i in range(n)])


def write_reference(df, ref, probability, contrib, name):
    """The reference rows as the model saw them, the library's probability and its
    contributions per feature and bias, as `name` beside this file."""
    out = pd.DataFrame({c: ref[c].astype(object) for c in df.columns})
    out["probability"] = probability
    for i, c in enumerate(df.columns):
        out[f"contrib_{c}"] = contrib[:, i]
    out["contrib_bias"] = contrib[:, -1]
    out.to_csv(os.path.join(HERE, name), index=False, float_format="%.17g")
    print(len(out), "reference rows")


def fit_lightgbm(df, y, train, ref, stem, **params):
    """LightGBM fitted on the training rows: `{stem}.txt` (its text model) and
    `{stem}_reference.csv` (its predict_proba and pred_contrib)."""
    model = lgb.LGBMClassifier(learning_rate=0.1, verbose=-1, random_state=7, **params)
    model.fit(df[train], y[train])
    model.booster_.save_model(os.path.join(HERE, f"{stem}.txt"))
    write_reference(
        df, ref, model.predict_proba(ref)[:, 1], model.booster_.predict(ref, pred_contrib=True),
        f"{stem}_reference.csv",
    )


def dump_lightgbm(stem):
    """The JSON dump (`Booster.dump_model()`) of the text model `{stem}.txt`, as
    `{stem}.json`: the same model in LightGBM's other format."""
    booster = lgb.Booster(model_file=os.path.join(HERE, f"{stem}.txt"))
    with open(os.path.join(HERE, f"{stem}.json"), "w") as f:
        json.dump(booster.dump_model(), f)


def fit_xgboost(df, y, train, ref, stem, **params):
    """XGBoost fitted on the training rows with native categorical splits: `{stem}.json`
    (its JSON model) and `{stem}_reference.csv` (its predict_proba and pred_contribs)."""
    model = xgb.XGBClassifier(
        learning_rate=0.1, tree_method="hist", enable_categorical=True, max_cat_to_onehot=1,
        random_state=7, **params,
    )
    model.fit(df[train], y[train])
    model.save_model(os.path.join(HERE, f"{stem}.json"))
    contrib = model.get_booster().predict(xgb.DMatrix(ref, enable_categorical=True), pred_contribs=True)
    write_reference(df, ref, model.predict_proba(ref)[:, 1], contrib, f"{stem}_reference.csv")


def fit_sklearn(df, y, train, ref, stem, kind="logistic"):
    """A scikit-learn model behind the reference pipeline's preprocessing (numbers: median
    imputation, and StandardScaler for the logistic regression; categories: "missing" for
    a missing value, one-hot ignoring unseen levels), fitted on the training rows and
    exported by skl2onnx with one input per feature: `{stem}.onnx` and
    `{stem}_reference.csv` (the reference rows, one with a level the model never saw, with
    scikit-learn's predict_proba, ONNX Runtime's probability and, for gradient boosting,
    shap's TreeExplainer contributions per feature, each the sum over its one-hot columns,
    and bias). `kind`: logistic (LogisticRegression(C=1)), boosting
    (GradientBoostingClassifier, 40 trees of depth 3), forest (RandomForestClassifier, 25
    trees of depth 6, at least 5 rows a leaf) or histogram (HistGradientBoostingClassifier,
    40 iterations, numbers not imputed: its trees route a missing one). A missing category reaches the model as ""
    (skl2onnx imputes strings only)."""
    import onnxruntime
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categorical = [c for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype)]
    numeric = [c for c in df.columns if c not in categorical]

    def strings(frame):
        out = frame.copy()
        for c in categorical:
            out[c] = out[c].astype(object).where(out[c].notna(), "")
        return out

    numbers = [("impute", SimpleImputer(strategy="median"))]
    if kind == "logistic":
        numbers.append(("scale", StandardScaler()))
    # Histogram boosting: missing numbers reach the trees, which route them.
    numbers = "passthrough" if kind == "histogram" else Pipeline(numbers)
    estimator = {
        "logistic": lambda: LogisticRegression(C=1.0, max_iter=5000),
        "boosting": lambda: GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=7),
        "forest": lambda: RandomForestClassifier(n_estimators=25, max_depth=6, min_samples_leaf=5, random_state=7),
        "histogram": lambda: HistGradientBoostingClassifier(max_iter=40, random_state=7),
    }[kind]()
    model = Pipeline([
        ("pre", ColumnTransformer([
            ("num", numbers, numeric),
            ("cat", Pipeline([
                ("impute", SimpleImputer(missing_values="", strategy="constant", fill_value="missing")),
                ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]), categorical),
        ])),
        ("model", estimator),
    ])
    X = strings(df)
    model.fit(X[train], y[train])
    types = [(c, StringTensorType([None, 1]) if c in categorical else FloatTensorType([None, 1])) for c in df.columns]
    onx = to_onnx(model, initial_types=types, options={id(model): {"zipmap": False}},
                  target_opset={"": 17, "ai.onnx.ml": 3})
    with open(os.path.join(HERE, f"{stem}.onnx"), "wb") as f:
        f.write(onx.SerializeToString())

    ref = ref.copy()
    first = categorical[0]
    ref[first] = ref[first].cat.add_categories(["a level never seen"])
    ref.loc[ref.index[3], first] = "a level never seen"
    Xr = strings(ref)
    session = onnxruntime.InferenceSession(onx.SerializeToString())
    feed = {c: Xr[c].to_numpy().reshape(-1, 1).astype(object if c in categorical else np.float32) for c in df.columns}
    out = pd.DataFrame({c: ref[c].astype(object) for c in df.columns})
    out["probability"] = model.predict_proba(Xr)[:, 1]
    out["onnxruntime"] = session.run(None, feed)[1][:, 1].astype(np.float64)
    if kind == "boosting":
        import shap
        pre = model.named_steps["pre"]
        explainer = shap.TreeExplainer(model.named_steps["model"])
        phi = explainer.shap_values(pre.transform(Xr))
        # The transformed columns: each number, then each category's levels.
        widths = [1] * len(numeric) + [len(k) for k in pre.named_transformers_["cat"]["onehot"].categories_]
        starts = np.cumsum([0] + widths)
        for i, c in enumerate(numeric + categorical):
            out[f"contrib_{c}"] = phi[:, starts[i]:starts[i + 1]].sum(axis=1)
        out["contrib_bias"] = float(np.ravel(explainer.expected_value)[0])
    out.to_csv(os.path.join(HERE, f"{stem}_reference.csv"), index=False, float_format="%.17g")
    print(len(out), "reference rows")


def fit_scorecard(df, y, train, ref, stem, reasons=False):
    """optbinning 1.0.0's Scorecard (binning process, logistic regression) on riskfn's
    default points scale (600 points at good:bad odds 19, 50 points to double them:
    `[scorecard]`'s defaults), fitted on the training rows and exported by sklearn2pmml as
    a PMML Scorecard: `{stem}.pmml`; with `reasons`, a twin `{stem}_reasons.pmml` with each
    characteristic's reasonCode (`RC_<FIELD>`), its best points as baselineScore,
    useReasonCodes with pointsBelow, and the top three reason codes as outputs. Writes
    `{stem}_reference.csv`: the reference rows with optbinning's probability and score, and
    JPMML-Evaluator's score (and reason codes), checked equal to optbinning's."""
    import xml.etree.ElementTree as ET

    from jpmml_evaluator import make_evaluator
    from optbinning import BinningProcess, Scorecard
    from sklearn.linear_model import LogisticRegression
    from sklearn2pmml import sklearn2pmml
    from sklearn2pmml.pipeline import PMMLPipeline

    pmml = "http://www.dmg.org/PMML-4_4"
    categorical = [c for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype)]
    strings = {c: object for c in categorical}
    card = Scorecard(
        binning_process=BinningProcess(list(df.columns), categorical_variables=categorical),
        estimator=LogisticRegression(),
        scaling_method="pdo_odds",
        scaling_method_params={"pdo": 50, "odds": 19, "scorecard_points": 600},
    )
    pipeline = PMMLPipeline([("scorecard", card)])
    pipeline.fit(df[train].astype(strings), y[train])
    path = os.path.join(HERE, f"{stem}.pmml")
    sklearn2pmml(pipeline, path)
    evaluated = path
    if reasons:
        ET.register_namespace("", pmml)
        tree = ET.parse(path)
        model = tree.getroot().find(f"{{{pmml}}}Scorecard")
        model.set("useReasonCodes", "true")
        model.set("reasonCodeAlgorithm", "pointsBelow")
        model.set("baselineMethod", "max")
        for c in model.iter(f"{{{pmml}}}Characteristic"):
            field = c.get("name")[len("optBinning("):-1]
            c.set("reasonCode", f"RC_{field.upper()}")
            c.set("baselineScore", repr(max(float(a.get("partialScore")) for a in c.iter(f"{{{pmml}}}Attribute"))))
        output = ET.Element(f"{{{pmml}}}Output")
        for k in (1, 2, 3):
            ET.SubElement(output, f"{{{pmml}}}OutputField", name=f"reason{k}", optype="categorical",
                          dataType="string", feature="reasonCode", rank=str(k))
        model.insert(list(model).index(model.find(f"{{{pmml}}}MiningSchema")) + 1, output)
        evaluated = os.path.join(HERE, f"{stem}_reasons.pmml")
        tree.write(evaluated, xml_declaration=True, encoding="UTF-8")

    score = card.score(ref.astype(strings))
    jpmml = make_evaluator(evaluated).verify().evaluateAll(ref.astype(object).where(ref.notna(), None))
    jpmml_score = jpmml[jpmml.columns[0]].to_numpy(dtype=float)
    assert np.abs(jpmml_score - score).max() < 1e-9
    out = pd.DataFrame({c: ref[c].astype(object) for c in df.columns})
    out["probability"] = card.predict_proba(ref.astype(strings))[:, 1]
    out["optbinning_score"] = score
    out["jpmml_score"] = jpmml_score
    if reasons:
        for k in (1, 2, 3):
            out[f"reason{k}"] = jpmml[f"reason{k}"]
    out.to_csv(os.path.join(HERE, f"{stem}_reference.csv"), index=False, float_format="%.17g")
    print(len(out), "reference rows")


def fit_sklearn_array(df, y, train, ref, stem):
    """scikit-learn's logistic regression (median imputation, StandardScaler) on the
    numbers of `df` as one array, exported by skl2onnx the default way (one input `X` of
    as many columns, by position): `{stem}.onnx` and `{stem}_reference.csv` (the reference
    rows by the pipeline's column names, scikit-learn's and ONNX Runtime's probabilities).
    Its columns are X_0, X_1, ... for `--features` to map."""
    import onnxruntime
    from skl2onnx import to_onnx
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    numeric = [c for c in df.columns if not isinstance(df[c].dtype, pd.CategoricalDtype)]
    X = df[numeric].to_numpy(dtype=np.float32)
    model = Pipeline([
        ("impute", SimpleImputer(strategy="median")),
        ("scale", StandardScaler()),
        ("model", LogisticRegression(C=1.0, max_iter=5000)),
    ])
    model.fit(X[train], y[train])
    onx = to_onnx(model, X[:1], options={id(model): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    with open(os.path.join(HERE, f"{stem}.onnx"), "wb") as f:
        f.write(onx.SerializeToString())
    Xr = ref[numeric].to_numpy(dtype=np.float32)
    session = onnxruntime.InferenceSession(onx.SerializeToString())
    out = pd.DataFrame({c: ref[c] for c in numeric})
    out["probability"] = model.predict_proba(Xr)[:, 1]
    out["onnxruntime"] = session.run(None, {session.get_inputs()[0].name: Xr})[1][:, 1].astype(np.float64)
    out.to_csv(os.path.join(HERE, f"{stem}_reference.csv"), index=False, float_format="%.17g")
    print(len(out), "reference rows")
