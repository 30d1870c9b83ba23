"""A points scorecard for batch/src/import as PMML: optbinning 1.0.0's Scorecard (binning
process and logistic regression) on german_credit's features (german_features.py: five
numbers, five categories, missing ages), trained on the pipeline's training split and on
riskfn's default points scale (600 points at good:bad odds 19, 50 points to double them:
`[scorecard]`'s defaults), exported by sklearn2pmml as a PMML Scorecard. Writes
scorecard_german.pmml, a twin with reason codes (scorecard_german_reasons.pmml: each
characteristic's reasonCode, useReasonCodes with pointsBelow against the max baseline, and
the top three reason codes as outputs) and the reference rows with optbinning's
probability and score and JPMML-Evaluator's score and reason codes (the PMML's own
evaluator).

Usage: python tests/reference/import/pmml_german.py
(optbinning 1.0.0, scikit-learn 1.9.1, sklearn2pmml 0.133.1, jpmml_evaluator 0.16.0 with
Java 17, pandas 3.x produced the committed files; the PMML header's timestamp is the run's)
"""
import os
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
from fixtures import HERE
from german_features import CATEGORICAL, features, reference
from jpmml_evaluator import make_evaluator
from optbinning import BinningProcess, Scorecard
from sklearn.linear_model import LogisticRegression
from sklearn2pmml import sklearn2pmml
from sklearn2pmml.pipeline import PMMLPipeline

PMML = "http://www.dmg.org/PMML-4_4"

df, y, train = features()
X = df.copy()
for c in CATEGORICAL:
    X[c] = X[c].astype(object)
card = Scorecard(
    binning_process=BinningProcess(list(X.columns), categorical_variables=CATEGORICAL),
    estimator=LogisticRegression(),
    scaling_method="pdo_odds",
    scaling_method_params={"pdo": 50, "odds": 19, "scorecard_points": 600},
)
pipeline = PMMLPipeline([("scorecard", card)])
pipeline.fit(X[train], y[train])
path = os.path.join(HERE, "scorecard_german.pmml")
sklearn2pmml(pipeline, path)

# The twin with reason codes: each characteristic's code and its best bin's points as the
# baseline (JPMML-Evaluator reads baselineScore), ranked by points below it.
ET.register_namespace("", PMML)
tree = ET.parse(path)
model = tree.getroot().find(f"{{{PMML}}}Scorecard")
model.set("useReasonCodes", "true")
model.set("reasonCodeAlgorithm", "pointsBelow")
model.set("baselineMethod", "max")
for c in model.iter(f"{{{PMML}}}Characteristic"):
    field = c.get("name")[len("optBinning("):-1]
    c.set("reasonCode", f"RC_{field.upper()}")
    c.set("baselineScore", repr(max(float(a.get("partialScore")) for a in c.iter(f"{{{PMML}}}Attribute"))))
output = ET.Element(f"{{{PMML}}}Output")
for k in (1, 2, 3):
    ET.SubElement(output, f"{{{PMML}}}OutputField", name=f"reason{k}", optype="categorical", dataType="string",
                  feature="reasonCode", rank=str(k))
model.insert(list(model).index(model.find(f"{{{PMML}}}MiningSchema")) + 1, output)
reasons_path = os.path.join(HERE, "scorecard_german_reasons.pmml")
tree.write(reasons_path, xml_declaration=True, encoding="UTF-8")

ref = reference(df)
rows = ref.astype(object).where(ref.notna(), None)
score = card.score(ref.astype({c: object for c in CATEGORICAL}))
jpmml = make_evaluator(reasons_path).verify().evaluateAll(rows)
assert np.abs(jpmml["creditability"].to_numpy(dtype=float) - score).max() < 1e-9
out = pd.DataFrame({c: ref[c].astype(object) for c in df.columns})
out["probability"] = card.predict_proba(ref.astype({c: object for c in CATEGORICAL}))[:, 1]
out["optbinning_score"] = score
out["jpmml_score"] = jpmml["creditability"].to_numpy(dtype=float)
for k in (1, 2, 3):
    out[f"reason{k}"] = jpmml[f"reason{k}"]
out.to_csv(os.path.join(HERE, "scorecard_german_reference.csv"), index=False, float_format="%.17g")
print(len(out), "reference rows")
