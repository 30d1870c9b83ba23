"""A points scorecard for batch/src/import as PMML on german_credit's features
(german_features.py: five numbers, five categories, missing ages): fixtures.fit_scorecard
(optbinning's Scorecard on riskfn's default points scale, exported by sklearn2pmml, checked
with JPMML-Evaluator), with its reason-code twin. Writes scorecard_german.pmml,
scorecard_german_reasons.pmml and the reference rows with optbinning's probability and
score and JPMML-Evaluator's score and reason codes.

Usage: python tests/reference/import/pmml_german.py
(optbinning 1.0.0, scikit-learn 1.9.1, sklearn2pmml 0.133.1, jpmml_evaluator 0.16.0 with
Java 17, pandas 3.x produced the committed files; the PMML header's timestamp is the run's)
"""
from fixtures import fit_scorecard
from german_features import features, reference

df, y, train = features()
fit_scorecard(df, y, train, reference(df), "scorecard_german", reasons=True)
