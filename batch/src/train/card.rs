//! Builds a version's model card (`riskfn_core::contract::card`) from its training report, pipeline
//! and drift baseline, and names what it left out or could not do (the limitations).

use bytes::Bytes;
use riskfn_core::contract::card::{
    CARD_HTML, CARD_JSON, CARD_MARKDOWN, CardFeature, ChosenModel, FairnessTable, FamilyTried,
    FeatureStability, ImportedModel, ModelCard, ProtectedAttribute, ScoreBin, Stability,
};
use riskfn_core::features::preprocess::Feature;
use riskfn_core::review::drift::{Baseline, Bins};

use crate::pipeline::Pipeline;
use crate::train::TrainReport;

/// The card of a version about to be published.
pub fn build(
    report: &TrainReport,
    pipeline: &Pipeline,
    features: &[Feature],
    baseline: &Baseline,
    imported: Option<&ImportedModel>,
    created_at: &str,
) -> ModelCard {
    let rule = serde_json::to_value(report.model.threshold_rule)
        .ok()
        .and_then(|v| v["rule"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let chosen = report
        .families
        .iter()
        .find(|f| f.family == report.model.family);
    ModelCard {
        pipeline: report.pipeline.clone(),
        version: report.version.clone(),
        created_at: created_at.to_owned(),
        code_version: crate::train::CODE_VERSION.to_owned(),
        purpose: pipeline.purpose.clone(),
        data: report.data.clone(),
        features: features
            .iter()
            .map(|f| {
                let (kind, levels) = match f.encoding.levels() {
                    None => ("numeric", None),
                    Some((levels, _)) => ("categorical", Some(levels.len())),
                };
                CardFeature {
                    name: f.name.clone(),
                    kind: kind.to_owned(),
                    levels,
                    reason_code: f.reason.code.clone(),
                    reason_text: f.reason.text.clone(),
                }
            })
            .collect(),
        excluded: pipeline.exclude.clone(),
        protected: pipeline
            .protected
            .iter()
            .map(|p| ProtectedAttribute {
                name: p.name.clone(),
                column: p.column.clone(),
                bands: p.bands.clone(),
                reference: p.reference.clone(),
            })
            .collect(),
        model: ChosenModel {
            family: report.model.family.clone(),
            params: report.model.params.clone(),
            inputs: report.model.n_inputs,
            threshold: report.model.threshold,
            threshold_rule: rule,
            selection: report.selection.clone(),
            adverse: pipeline.decision.adverse.clone(),
            favourable: pipeline.decision.favourable.clone(),
        },
        families: report
            .families
            .iter()
            .map(|f| FamilyTried {
                family: f.family.clone(),
                status: f.status.to_owned(),
                reason: f.reason.clone(),
                score: f.score,
                spread: f.spread,
                validation_auc: f.validation_auc,
                test_auc: f.test.as_ref().map(|m| m.roc_auc),
            })
            .collect(),
        metrics: report.metrics.clone(),
        gains: chosen.map(|f| f.gains.clone()).unwrap_or_default(),
        fairness: report
            .fairness
            .iter()
            .map(|f| FairnessTable {
                attribute: f.attribute.clone(),
                column: f.column.clone(),
                reference: f.reference.clone(),
                validation: f.validation.clone(),
                test: f.test.clone(),
            })
            .collect(),
        stability: stability(baseline),
        gate: report.gate.clone(),
        limitations: limitations(report),
        imported: imported.cloned(),
        history: Vec::new(),
    }
}

fn stability(b: &Baseline) -> Stability {
    let score = match &b.score {
        Bins::Numeric { edges, shares } => shares
            .iter()
            .enumerate()
            .map(|(i, &share)| {
                let (from, to) = if i == edges.len() + 1 {
                    (None, None)
                } else {
                    (i.checked_sub(1).map(|j| edges[j]), edges.get(i).copied())
                };
                ScoreBin { from, to, share }
            })
            // The missing bin of a probability is always empty.
            .filter(|bin| bin.from.is_some() || bin.to.is_some() || bin.share > 0.0)
            .collect(),
        Bins::Categorical { .. } => Vec::new(),
    };
    let features = b
        .features
        .iter()
        .map(|f| {
            let shares = match &f.bins {
                Bins::Numeric { shares, .. } | Bins::Categorical { shares, .. } => shares,
            };
            FeatureStability {
                name: f.name.clone(),
                bins: shares.iter().filter(|&&s| s > 0.0).count(),
                largest_share: shares.iter().copied().fold(0.0, f64::max),
            }
        })
        .collect();
    Stability {
        rows: b.rows,
        threshold: b.threshold,
        score,
        features,
    }
}

fn limitations(report: &TrainReport) -> Vec<String> {
    let d = &report.data;
    let mut out = Vec::new();
    if d.duplicates_dropped > 0 {
        out.push(format!(
            "{} exact duplicate rows of the source were dropped before training.",
            d.duplicates_dropped
        ));
    }
    if d.rows_filtered > 0 {
        out.push(format!(
            "{} rows were filtered out by the pipeline's SQL; the model was not trained on such applicants.",
            d.rows_filtered
        ));
    }
    if d.rows_dropped_missing > 0 {
        out.push(format!(
            "{} rows were dropped for a missing feature value.",
            d.rows_dropped_missing
        ));
    }
    if let Some(s) = &d.sample {
        out.push(format!(
            "Trained on a hash sample of about {} rows; {} rows were left out.",
            s.max_rows, s.rows_left_out
        ));
    }
    for f in &report.families {
        if f.status == "skipped" {
            out.push(format!(
                "Family {} was skipped: {}.",
                f.family,
                f.reason.as_deref().unwrap_or("no reason recorded")
            ));
        }
        for w in &f.warnings {
            out.push(format!("{}: {w}", f.family));
        }
    }
    if !report.model.converged {
        out.push("The chosen model's solver stopped at its iteration limit.".into());
    }
    for w in &report.model.warnings {
        out.push(format!("Chosen model: {w}"));
    }
    for f in &report.fairness {
        for (split, groups) in [("validation", &f.validation), ("test", &f.test)] {
            for g in groups.iter().filter(|g| g.small) {
                out.push(format!(
                    "{} group {:?} has {} rows on the {split} split: too few for a ratio.",
                    f.attribute, g.group, g.rows
                ));
            }
        }
    }
    if report.fairness.is_empty() {
        out.push(
            "No protected attributes are declared ([fairness]): outcomes by group are not measured."
                .into(),
        );
    }
    out
}

/// The card's three files, as published in the version folder.
pub fn files(card: &ModelCard) -> Vec<(String, Bytes)> {
    vec![
        (
            CARD_JSON.to_owned(),
            // Plain structs with string keys: serialization cannot fail.
            Bytes::from(serde_json::to_vec_pretty(card).unwrap_or_default()),
        ),
        (CARD_MARKDOWN.to_owned(), Bytes::from(card.to_markdown())),
        (CARD_HTML.to_owned(), Bytes::from(card.to_html())),
    ]
}
