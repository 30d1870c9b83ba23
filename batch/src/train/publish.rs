//! Evaluating a chosen model and publishing it as a version: its threshold, measures,
//! fairness and gate on the pipeline's validation and test rows; its artifact; the files a
//! version holds (model, report, card, baseline, test scores, config, SQL), its manifest,
//! the registry's publish, then promotion, a proposal for four eyes or the gate's refusal,
//! and the audit records. A trained model and an imported one go through the same steps.

use std::collections::BTreeMap;

use bytes::Bytes;
use riskfn_core::contract::artifact::{
    Decision, FORMAT_VERSION, MODEL_FILE, Manifest, ModelSummary, REPORT_FILE, ScoringArtifact,
    SplitMetrics,
};
use riskfn_core::contract::gate::AdverseImpact;
use riskfn_core::contract::measures::TestScores;
use riskfn_core::features::population::Population;
use riskfn_core::features::preprocess::Feature;
use riskfn_core::model::Model;
use riskfn_core::registry::{Champion, Registry, audit, now_rfc3339};
use riskfn_core::review::drift::Baseline;
use riskfn_core::review::{self, Promotion};
use riskfn_core::scoring::Scorer;
use riskfn_train::metrics::choose_threshold;

use super::{CODE_VERSION, TrainReport, pretty_json};
use crate::error::Result;
use crate::pipeline::{CONFIG_FILE, Pipeline};
use crate::prepare::Prepared;
use crate::train::outcome::{FairnessReport, adverse_impact, fairness_reports};

/// A model's measures on the pipeline's validation and test rows, and its gate.
pub(crate) struct Evaluation {
    /// Chosen on the validation rows by the pipeline's rule.
    pub threshold: f64,
    pub metrics: SplitMetrics,
    pub fairness: Vec<FairnessReport>,
    pub adverse_impact: Vec<AdverseImpact>,
    pub gate: riskfn_core::contract::gate::GateRecord,
}

/// Evaluate probabilities `val` and `test` (rows, outcomes, probabilities) against the
/// champion's measures, if there is one.
pub(crate) fn evaluate(
    pipeline: &Pipeline,
    prepared: &Prepared,
    champion: Option<&Manifest>,
    val: (&[usize], &[bool], &[f64]),
    test: (&[usize], &[bool], &[f64]),
) -> Evaluation {
    let threshold = choose_threshold(pipeline.threshold_rule, val.1, val.2);
    let metrics = SplitMetrics {
        validation: riskfn_train::metrics::evaluate(val.1, val.2, threshold),
        test: riskfn_train::metrics::evaluate(test.1, test.2, threshold),
    };
    let fairness = fairness_reports(&pipeline.protected, &prepared.groups, val, test, threshold);
    let adverse_impact = adverse_impact(&fairness);
    let gate = pipeline.gate.evaluate(
        &metrics.validation,
        champion.map(|m| (m.version.as_str(), &m.metrics.validation)),
        &adverse_impact,
    );
    Evaluation {
        threshold,
        metrics,
        fairness,
        adverse_impact,
        gate,
    }
}

/// The version's artifact: `model` over `features`, deciding at `threshold`; refused if
/// the scorer would refuse to load it.
pub(crate) fn artifact(
    pipeline: &Pipeline,
    prepared: &Prepared,
    version: &str,
    features: Vec<Feature>,
    model: Model,
    threshold: f64,
) -> Result<ScoringArtifact> {
    let artifact = ScoringArtifact {
        format: FORMAT_VERSION,
        pipeline: pipeline.name.clone(),
        version: version.to_owned(),
        raw_schema: prepared.raw_schema.clone(),
        unknown_fields: pipeline.unknown_fields,
        id_column: pipeline.id.clone(),
        features,
        model,
        decision: Decision {
            threshold,
            ..pipeline.decision.clone()
        },
        scorecard: pipeline.scorecard,
        reasons: pipeline.reasons_top,
        population: Population {
            rules: prepared.population.clone(),
            outside: pipeline.outside_population,
        },
    };
    // Served from its JSON: a value JSON cannot hold (an infinity, a NaN) would not read
    // back, and nothing is published that the service could not load.
    let back: ScoringArtifact = serde_json::to_vec(&artifact)
        .and_then(|bytes| serde_json::from_slice(&bytes))
        .map_err(|e| {
            crate::error::Error::Data(format!(
                "the model does not read back from its JSON ({e}); nothing published"
            ))
        })?;
    Scorer::new(back, String::new())?;
    Ok(artifact)
}

/// What a version is published from.
pub(crate) struct Publication<'a> {
    pub pipeline: &'a Pipeline,
    pub registry: &'a Registry,
    /// The champion pointer as read before training, and its ETag.
    pub current: Option<&'a (Champion, String)>,
    pub report: &'a TrainReport,
    pub artifact: &'a ScoringArtifact,
    /// The model's features as fitted, for the card.
    pub features: &'a [Feature],
    pub baseline: &'a Baseline,
    /// The test rows' source positions, outcomes and probabilities.
    pub test: (&'a [u64], &'a [bool], &'a [f64]),
    /// The data's fingerprint.
    pub fingerprint: &'a str,
    pub adverse_impact: Vec<AdverseImpact>,
    pub inputs_sha256: Option<String>,
    /// Files beyond the usual ones (an import's model file, parity report and provenance).
    pub extra_files: Vec<(String, Bytes)>,
    /// For a model trained elsewhere, what its card says of it.
    pub imported: Option<riskfn_core::contract::card::ImportedModel>,
    /// Who published it, and whether past the gate's refusal.
    pub by: &'a str,
    pub force: bool,
}

/// Publish the version, then promote it, propose it or leave it, as its gate says.
pub(crate) async fn publish(p: Publication<'_>) -> Result<Promotion> {
    let (pipeline, report, registry) = (p.pipeline, p.report, p.registry);
    let (version, gate) = (&report.version, &report.gate);
    let (test_rows, y_test, p_test) = p.test;
    let mut files = vec![
        (MODEL_FILE.to_owned(), pretty_json(p.artifact)),
        (REPORT_FILE.to_owned(), pretty_json(report)),
        (
            crate::train::report::REPORT_HTML.to_owned(),
            Bytes::from(crate::train::report::html(report, y_test, p_test)),
        ),
        (
            riskfn_core::review::drift::BASELINE_FILE.to_owned(),
            pretty_json(p.baseline),
        ),
        (
            CONFIG_FILE.to_owned(),
            Bytes::from(pipeline.config_text.clone()),
        ),
        (
            TestScores::FILE.to_owned(),
            // Compact: up to 50,000 numbers a column.
            Bytes::from(
                serde_json::to_vec(&TestScores::new(
                    p.fingerprint,
                    report.model.threshold,
                    test_rows,
                    y_test,
                    p_test,
                ))
                .unwrap_or_default(),
            ),
        ),
    ];
    let created_at = now_rfc3339();
    files.extend(crate::train::card::files(&crate::train::card::build(
        report,
        pipeline,
        p.features,
        p.baseline,
        p.imported.as_ref(),
        &created_at,
    )));
    if let Some(text) = &pipeline.reasons_text {
        files.push((
            crate::pipeline::REASONS_FILE.to_owned(),
            Bytes::from(text.clone()),
        ));
    }
    files.extend(
        pipeline
            .sql
            .iter()
            .map(|f| (format!("sql/{}", f.file), Bytes::from(f.text.clone()))),
    );
    files.extend(p.extra_files);
    let manifest = Manifest {
        format: FORMAT_VERSION,
        pipeline: pipeline.name.clone(),
        version: version.clone(),
        created_at,
        code_version: CODE_VERSION.to_owned(),
        model: ModelSummary {
            family: report.model.family.clone(),
            params: report.model.params.clone(),
            n_inputs: report.model.n_inputs,
        },
        metrics: report.metrics.clone(),
        data: report.data.clone(),
        gate: Some(gate.clone()),
        fairness: p.adverse_impact,
        inputs_sha256: p.inputs_sha256,
        files: BTreeMap::new(),
    };
    registry.publish(manifest, files).await?;
    tracing::info!(pipeline = %pipeline.name, %version, gate = gate.passed, "published");
    let promotion = if !gate.passed && !p.force {
        Promotion::RefusedByGate {
            reason: gate.reason.clone(),
        }
    } else if gate.spec.approvals > 0 {
        // Four eyes: the one who trained it is its maker; others approve.
        review::propose(
            registry,
            &pipeline.name,
            version,
            p.by,
            "trained",
            &gate.reason,
            !gate.passed,
            gate.spec.approvals,
        )
        .await?
    } else {
        let forced_past = (!gate.passed).then_some(gate.reason.as_str());
        review::move_champion(registry, &pipeline.name, version, p.current, forced_past).await?
    };
    review::record(
        registry,
        audit::Event::Training {
            pipeline: pipeline.name.clone(),
            version: version.clone(),
            family: report.model.family.clone(),
            test_roc_auc: report.metrics.test.roc_auc,
            gate_passed: gate.passed,
            outcome: serde_json::to_value(&promotion)
                .ok()
                .and_then(|v| v["status"].as_str().map(str::to_owned))
                .unwrap_or_default(),
            by: Some(p.by.to_owned()),
        },
    )
    .await;
    if promotion.is_champion() {
        review::record(
            registry,
            audit::Event::Promotion {
                pipeline: pipeline.name.clone(),
                version: version.clone(),
                previous: p.current.map(|(c, _)| c.version.clone()),
                forced: matches!(promotion, Promotion::Forced { .. }),
                by: Some(p.by.to_owned()),
                reason: Some("trained; the gate passed".to_owned()),
                approved_by: Vec::new(),
            },
        )
        .await;
    }
    Ok(promotion)
}
