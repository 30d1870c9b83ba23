//! `riskfn models import`: a model trained elsewhere, converted, checked against its own
//! library's answers (the parity gate), evaluated on the pipeline's validation and test
//! splits like a trained one (metrics, threshold, fairness, the gate) and published as a
//! version of the pipeline, whose SQL computes the features it reads.

use std::collections::BTreeMap;
use std::path::PathBuf;

use arrow::array::AsArray;
use arrow::datatypes::{DataType, Float64Type};
use bytes::Bytes;
use riskfn_core::contract::artifact::FileDigest;
use riskfn_core::contract::card::{ImportedModel, ParityCheck, Provenance};
use riskfn_core::features::preprocess::{Encoding, Feature};
use riskfn_core::model::Model;
use riskfn_core::registry::s3::S3Settings;
use riskfn_core::registry::{Registry, new_version_id};
use serde::Serialize;

use super::{Converted, Imported, Parity};
use crate::error::{Error, Result};
use crate::pipeline::Pipeline;
use crate::prepare::split::Split;
use crate::prepare::{FeatureColumn, Prepared};
use crate::train::{ModelReport, TrainReport};

/// What error messages call the reference rows' file.
const REFERENCE: &str = "the reference rows";

/// The most a probability may differ from the library's own, on any row.
pub const PARITY_TOLERANCE: f64 = 1e-6;

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub pipeline: String,
    pub sql_dir: PathBuf,
    /// The pipeline's data (default: its own source): its splits evaluate the model.
    pub data: Option<String>,
    pub model: PathBuf,
    /// `lightgbm` (its text model), `xgboost` (its JSON model) or `onnx` (a scikit-learn
    /// logistic regression exported by skl2onnx).
    pub format: String,
    /// Rows as the model saw them (the SQL output columns it reads, by name) with the
    /// library's own `probability` of each.
    pub reference: String,
    /// Model feature names -> the pipeline's SQL output columns, where they differ (a
    /// model trained on other names, or on positions: LightGBM's `Column_0`, XGBoost's
    /// `f0`).
    pub features: Vec<(String, String)>,
    pub store: String,
    pub s3: S3Settings,
    pub by: String,
    /// Publish and promote past the gate's refusal.
    pub force: bool,
}

/// What the gate found: the reference rows, and the gate's own rows on every split.
#[derive(Debug, Clone, Serialize)]
pub struct ParityReport {
    pub reference: String,
    /// The reference rows' identity, as a pipeline's data is identified (sha256 over its
    /// files' names and contents' sha256, or ETags on S3).
    pub reference_fingerprint: String,
    pub tolerance: f64,
    pub reference_rows: Parity,
    pub edge_rows: Parity,
}

/// The version published, its parity and provenance.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    #[serde(flatten)]
    pub version: TrainReport,
    pub parity: ParityReport,
    pub provenance: Provenance,
}

pub async fn import(opts: &ImportOptions) -> Result<ImportReport> {
    let pipeline = Pipeline::locate(&opts.pipeline, &opts.sql_dir)?;
    let bytes = std::fs::read(&opts.model).map_err(|e| Error::io(&opts.model, e))?;
    let pipeline_scale = pipeline.scorecard;
    let mut m = super::read(&opts.format, &bytes)?;
    m.set_scale(pipeline_scale);
    let m = m.as_ref();
    let converted = m.convert()?;
    let names = super::sql_names(m, &opts.features)?;
    let registry =
        Registry::new(riskfn_core::registry::store::open_with(&opts.store, &opts.s3).await?);
    let current = registry.champion(&pipeline.name).await?;
    let champion_manifest = match &current {
        Some((c, _)) => Some(registry.manifest(&pipeline.name, &c.version).await?),
        None => None,
    };
    let ctx = crate::source::session()?;
    let parity = parity_gate(&ctx, m, &names, &converted, opts).await?;
    let data = opts.data.clone().unwrap_or_else(|| pipeline.source.clone());
    let source = crate::source::open_with(&ctx, &data, &opts.s3).await?;
    let prepared = crate::prepare::prepare(&ctx, None, &pipeline, source).await?;
    let columns = model_columns(m, &names, &prepared, &pipeline)?;
    let train_rows = prepared.rows_of(Split::Train);
    let features = features(&converted, &columns, &pipeline, &train_rows);
    let mut model = converted.model.clone();
    super::describe_from_training(
        &mut model,
        (train_rows.iter()).map(|&r| (encode_row(&features, &columns, r), prepared.labels[r])),
    );
    let probabilities = |rows: &[usize]| -> Vec<f64> {
        (rows.iter())
            .map(|&r| model.probability(&encode_row(&features, &columns, r)))
            .collect()
    };
    let (val_rows, test_rows) = (
        prepared.rows_of(Split::Validation),
        prepared.rows_of(Split::Test),
    );
    let labels = |rows: &[usize]| rows.iter().map(|&r| prepared.labels[r]).collect::<Vec<_>>();
    let (y_val, y_test) = (labels(&val_rows), labels(&test_rows));
    let (p_train, p_val, p_test) = (
        probabilities(&train_rows),
        probabilities(&val_rows),
        probabilities(&test_rows),
    );
    let crate::train::publish::Evaluation {
        threshold,
        metrics,
        fairness,
        adverse_impact,
        gate,
    } = crate::train::publish::evaluate(
        &pipeline,
        &prepared,
        champion_manifest.as_ref(),
        (&val_rows, &y_val, &p_val),
        (&test_rows, &y_test, &p_test),
    );
    let baseline = crate::train::drift_baseline(
        &prepared,
        columns
            .iter()
            .map(|c| crate::train::feature_baseline(c, &train_rows))
            .collect(),
        &train_rows,
        &p_train,
        pipeline.drift_threshold,
        &pipeline.protected,
    );
    let version = new_version_id();
    let artifact = crate::train::publish::artifact(
        &pipeline,
        &prepared,
        &version,
        features.clone(),
        model.clone(),
        threshold,
    )?;
    let digest = FileDigest::of(&bytes).sha256;
    let provenance = Provenance {
        library: m.library().into(),
        file: opts.model.display().to_string(),
        sha256: digest.clone(),
        imported_by: opts.by.clone(),
        note: "trained outside riskfn: its training was not reproduced; its parity with the library's own probabilities was checked".into(),
    };
    let mut params = BTreeMap::from([
        ("library".to_owned(), serde_json::json!(m.library())),
        ("file_sha256".to_owned(), serde_json::json!(digest)),
        ("imported_by".to_owned(), serde_json::json!(opts.by)),
    ]);
    if let Model::GradientBoosting(b) = &model {
        params.insert("trees".to_owned(), serde_json::json!(b.trees.len()));
    }
    let report = TrainReport {
        pipeline: pipeline.name.clone(),
        version: version.clone(),
        store: registry.store().location(),
        champion: false,
        promotion: None,
        gate: gate.clone(),
        model: ModelReport {
            family: format!("{} (imported from {})", model.family(), m.library()),
            params,
            n_inputs: features.len(),
            converged: true,
            threshold,
            threshold_rule: pipeline.threshold_rule,
            warnings: vec![provenance.note.clone()],
        },
        metrics,
        selection: format!(
            "imported from {} (sha256 {digest}) by {}; parity with {} within {PARITY_TOLERANCE} on {} reference and {} edge rows",
            opts.model.display(),
            opts.by,
            m.library(),
            parity.reference_rows.rows,
            parity.edge_rows.rows
        ),
        fairness,
        families: Vec::new(),
        data: prepared.summary.clone(),
        features: crate::train::feature_reports(&features),
        resources: crate::train::resources::Clock::start().resources(),
    };
    let test_ids: Vec<u64> = test_rows.iter().map(|&r| prepared.row_ids[r]).collect();
    let promotion = crate::train::publish::publish(crate::train::publish::Publication {
        pipeline: &pipeline,
        registry: &registry,
        current: current.as_ref(),
        report: &report,
        artifact: &artifact,
        features: &features,
        baseline: &baseline,
        test: (&test_ids, &y_test, &p_test),
        fingerprint: &prepared.summary.fingerprint,
        adverse_impact,
        inputs_sha256: None,
        extra_files: vec![
            (
                format!("imported/{}", model_file_name(&opts.format, &opts.model)),
                Bytes::from(bytes),
            ),
            (
                "imported/parity.json".into(),
                crate::train::pretty_json(&parity),
            ),
            (
                "imported/provenance.json".into(),
                crate::train::pretty_json(&provenance),
            ),
        ],
        imported: Some(ImportedModel {
            provenance: provenance.clone(),
            tolerance: PARITY_TOLERANCE,
            parity: vec![
                ParityCheck {
                    rows_of: format!("reference rows ({})", parity.reference),
                    rows: parity.reference_rows.rows,
                    max_difference: parity.reference_rows.max_difference,
                },
                ParityCheck {
                    rows_of: "the gate's own: each split's edges, missing, zero, each level, an unseen one".into(),
                    rows: parity.edge_rows.rows,
                    max_difference: parity.edge_rows.max_difference,
                },
            ],
        }),
        by: &opts.by,
        force: opts.force,
    })
    .await?;
    Ok(ImportReport {
        version: TrainReport {
            champion: promotion.is_champion(),
            promotion: Some(promotion),
            ..report
        },
        parity,
        provenance,
    })
}

/// The reference rows' probabilities, and the gate's own rows on every split, against the
/// converted model: more than [`PARITY_TOLERANCE`] apart anywhere and nothing is published.
async fn parity_gate(
    ctx: &datafusion::prelude::SessionContext,
    m: &dyn Imported,
    names: &[String],
    converted: &Converted,
    opts: &ImportOptions,
) -> Result<ParityReport> {
    let raw = crate::source::read_with(ctx, &opts.reference, &opts.s3).await?;
    let probability = raw.required_as("probability", &DataType::Float64, REFERENCE)?;
    let probability = probability.as_primitive::<Float64Type>();
    let rows = super::codes(m, names, &raw, REFERENCE)?;
    let mut worst = (0.0f64, 0usize);
    for (r, codes) in rows.iter().enumerate() {
        let d = (converted.probability(m, codes) - probability.value(r)).abs();
        // A NaN (an unreadable row) counts as the worst.
        if d.is_nan() || d > worst.0 {
            worst = (d, r);
        }
    }
    if worst.0.is_nan() || worst.0 > PARITY_TOLERANCE {
        return Err(Error::Data(format!(
            "parity gate: reference row {} differs from {}'s probability by {:.3e} (at most {PARITY_TOLERANCE}); nothing published",
            worst.1 + 1,
            m.library(),
            worst.0
        )));
    }
    let edges = super::edge_rows(m, &rows[..rows.len().min(10)]);
    let edge_rows = super::parity(m, converted, &edges);
    if edge_rows.max_difference.is_nan() || edge_rows.max_difference > PARITY_TOLERANCE {
        return Err(Error::Data(format!(
            "parity gate: a split's edge is routed unlike {}'s rules (by {:.3e}); nothing published",
            m.library(),
            edge_rows.max_difference
        )));
    }
    Ok(ParityReport {
        reference: opts.reference.clone(),
        reference_fingerprint: raw.fingerprint.clone(),
        tolerance: PARITY_TOLERANCE,
        reference_rows: Parity {
            rows: rows.len(),
            max_difference: worst.0,
        },
        edge_rows,
    })
}

/// The pipeline's SQL output column of each model feature (`names`: [`super::sql_names`]);
/// a feature the SQL lacks, or computes as the other kind (a number for a category, or
/// back), is refused by name.
pub(crate) fn model_columns<'a>(
    m: &dyn Imported,
    names: &[String],
    prepared: &'a Prepared,
    pipeline: &Pipeline,
) -> Result<Vec<&'a FeatureColumn>> {
    let available = || {
        (prepared.features.iter())
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    (names.iter().enumerate())
        .map(|(f, name)| {
            let c = (prepared.features.iter())
                .find(|c| &c.name == name)
                .ok_or_else(|| Error::MissingColumn {
                    column: name.clone(),
                    relation: format!("the features of {}'s SQL", pipeline.name),
                    available: available(),
                })?;
            let model_category = m.categories()[f].is_some();
            if model_category != c.categorical {
                let (model, sql) = match model_category {
                    true => ("a category", "a number"),
                    false => ("a number", "a category"),
                };
                return Err(Error::ColumnType {
                    column: name.clone(),
                    message: format!("the model reads it as {model}; the SQL gives {sql}"),
                });
            }
            Ok(c)
        })
        .collect()
}

/// The version's features: each model feature's encoding, with its SQL expression, its
/// reason and its levels' shares of the training rows.
pub(crate) fn features(
    converted: &Converted,
    columns: &[&FeatureColumn],
    pipeline: &Pipeline,
    train: &[usize],
) -> Vec<Feature> {
    (converted.features.iter().zip(columns))
        .map(|(f, c)| {
            let mut encoding = f.encoding.clone();
            if let Encoding::OneHot {
                levels,
                frequencies,
            }
            | Encoding::Level {
                levels,
                frequencies,
            } = &mut encoding
            {
                let counts = c.values.count_keys(train.iter().copied());
                let n = train.len().max(1) as f64;
                *frequencies = (levels.iter())
                    .map(|l| counts.get(l.as_str()).map_or(0.0, |&k| k as f64 / n))
                    .collect();
            }
            // The pipeline's reason text; the code the model file names, if it names one.
            let mut reason =
                (pipeline.reasons.get(&c.name).cloned()).unwrap_or_else(|| f.reason.clone());
            if converted.own_reasons {
                reason.code = f.reason.code.clone();
            }
            Feature {
                name: c.name.clone(),
                expr: c.online.clone(),
                encoding,
                reason,
            }
        })
        .collect()
}

/// The name the model file is kept under in the version: `model.` and its own extension
/// (`.txt`, `.json`, `.ubj`, `.onnx`), or the format's usual one.
fn model_file_name(format: &str, path: &std::path::Path) -> String {
    let usual = match format {
        "xgboost" => "json",
        "onnx" => "onnx",
        _ => "txt",
    };
    let ext = (path.extension().and_then(|e| e.to_str()))
        .filter(|e| !e.is_empty() && e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or(usual);
    format!("model.{}", ext.to_ascii_lowercase())
}

/// Row `r` as the model's inputs: each feature's value from its SQL column, encoded as the
/// service encodes the same value (a missing category as riskfn's missing level).
pub(crate) fn encode_row(features: &[Feature], columns: &[&FeatureColumn], r: usize) -> Vec<f64> {
    let mut x = Vec::new();
    for (f, c) in features.iter().zip(columns) {
        match c.categorical {
            true => f.encode_key_into(&c.values.key(r), &mut x),
            false => f.encode_number_into(c.values.number(r), &mut x),
        }
    }
    x
}
