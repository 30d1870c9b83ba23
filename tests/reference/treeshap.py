"""Expected TreeSHAP values for functions/core/tests/treeshap.rs, from the `shap` package.

Reads a published model.json whose model is gradient_boosting, exports its trees in shap's
custom-tree dictionary format, draws input rows (normal values, 0/1 values and NaN, seeded),
and writes the rows, shap.TreeExplainer's path-dependent values and expected value, and
the model itself, to the fixture the Rust test reads.

Usage: python tests/reference/treeshap.py STORE/german_credit/versions/V/model.json OUT.json
(shap 0.51.0, numpy 2.4.6 produced functions/core/tests/fixtures/treeshap_german_credit.json)
"""
import json
import sys

import numpy as np
import shap


def export(tree):
    """Our tree (children after parents, `x < threshold` goes left, NaN left iff
    missing_left) as shap's dict: `x <= threshold` goes left, so the threshold is the
    largest float below ours; leaves have children -1."""
    nodes = tree["nodes"]
    n = len(nodes)
    left, right, default = -np.ones(n, np.int32), -np.ones(n, np.int32), -np.ones(n, np.int32)
    features, thresholds = np.zeros(n, np.int32), np.zeros(n)
    values = np.zeros((n, 1))
    for i, node in enumerate(nodes):
        if "split" in node:
            s = node["split"]
            left[i], right[i] = s["left"], s["right"]
            default[i] = s["left"] if s.get("missing_left", False) else s["right"]
            features[i] = s["feature"]
            thresholds[i] = np.nextafter(s["threshold"], -np.inf)
        else:
            values[i, 0] = node["leaf"]["value"]
    return dict(children_left=left, children_right=right, children_default=default,
                features=features, thresholds=thresholds, values=values,
                node_sample_weight=np.array(tree["cover"], dtype=np.float64))


def main(model_path, out_path):
    artifact = json.load(open(model_path))
    model = artifact["model"]
    assert model["family"] == "gradient_boosting", model["family"]
    p = sum(len(f["encoding"].get("levels", [None])) for f in artifact["features"])
    ensemble = dict(trees=[export(t) for t in model["trees"]], base_offset=model["base_score"],
                    tree_output="log_odds", objective="binary_crossentropy",
                    input_dtype=np.float64, internal_dtype=np.float64)
    explainer = shap.TreeExplainer(ensemble, feature_perturbation="tree_path_dependent")
    rng = np.random.default_rng(20261202)
    x = rng.normal(size=(120, p))
    x = np.where(rng.random((120, p)) < 0.3, rng.integers(0, 2, (120, p)).astype(float), x)
    x = np.where(rng.random((120, p)) < 0.1, np.nan, x)
    phi = explainer.shap_values(x)
    json.dump(dict(
        source=f"shap {shap.__version__} TreeExplainer(feature_perturbation='tree_path_dependent') "
               f"on the trees of {model_path.split('/')[-4]}'s gradient_boosting model",
        model=model,
        x=[[None if np.isnan(v) else float(v) for v in row] for row in x],
        phi=phi.tolist(),
        expected_value=float(np.ravel(explainer.expected_value)[0]),
    ), open(out_path, "w"))


if __name__ == "__main__":
    main(*sys.argv[1:3])
