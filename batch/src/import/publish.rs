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
use riskfn_core::features::preprocess::{Encoding, Feature, Reason};
use riskfn_core::model::{Boosted, Model};
use riskfn_core::registry::s3::S3Settings;
use riskfn_core::registry::{Registry, new_version_id};
use serde::Serialize;

use super::{Imported, Parity};
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
    /// `lightgbm` (its text model) or `xgboost` (its JSON model).
    pub format: String,
    /// Rows as the model saw them (the SQL output columns it reads, by name) with the
    /// library's own `probability` of each.
    pub reference: String,
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

#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    pub library: String,
    pub file: String,
    pub sha256: String,
    pub imported_by: String,
    pub note: String,
}

pub async fn import(opts: &ImportOptions) -> Result<ImportReport> {
    let pipeline = Pipeline::locate(&opts.pipeline, &opts.sql_dir)?;
    let bytes = std::fs::read(&opts.model).map_err(|e| Error::io(&opts.model, e))?;
    let text = String::from_utf8(bytes.clone())
        .map_err(|_| Error::Data(format!("{}: not a text model file", opts.model.display())))?;
    let m = super::read(&opts.format, &text)?;
    let m = m.as_ref();
    let boosted = m.to_boosted()?;
    let registry =
        Registry::new(riskfn_core::registry::store::open_with(&opts.store, &opts.s3).await?);
    let current = registry.champion(&pipeline.name).await?;
    let champion_manifest = match &current {
        Some((c, _)) => Some(registry.manifest(&pipeline.name, &c.version).await?),
        None => None,
    };
    let ctx = crate::source::session()?;
    let parity = parity_gate(&ctx, m, &boosted, opts).await?;
    let data = opts.data.clone().unwrap_or_else(|| pipeline.source.clone());
    let source = crate::source::open_with(&ctx, &data, &opts.s3).await?;
    let prepared = crate::prepare::prepare(&ctx, None, &pipeline, source).await?;
    let columns = model_columns(m, &prepared, &pipeline)?;
    let train_rows = prepared.rows_of(Split::Train);
    let levels: Vec<Option<Vec<String>>> = (0..m.feature_names().len())
        .map(|f| super::levels(m, f))
        .collect();
    let features = features(&levels, &columns, &pipeline, &train_rows)?;
    let probabilities = |rows: &[usize]| -> Vec<f64> {
        rows.iter()
            .map(|&r| riskfn_core::model::sigmoid(boosted.margin(&inputs(&levels, &columns, r))))
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
        Model::GradientBoosting(boosted.clone()),
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
    let params = BTreeMap::from([
        ("library".to_owned(), serde_json::json!(m.library())),
        ("file_sha256".to_owned(), serde_json::json!(digest)),
        ("trees".to_owned(), serde_json::json!(boosted.trees.len())),
        ("imported_by".to_owned(), serde_json::json!(opts.by)),
    ]);
    let report = TrainReport {
        pipeline: pipeline.name.clone(),
        version: version.clone(),
        store: registry.store().location(),
        champion: false,
        promotion: None,
        gate: gate.clone(),
        model: ModelReport {
            family: format!("gradient_boosting (imported from {})", m.library()),
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
                format!("imported/{}", model_file_name(&opts.format)),
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
/// converted trees: more than [`PARITY_TOLERANCE`] apart anywhere and nothing is published.
async fn parity_gate(
    ctx: &datafusion::prelude::SessionContext,
    m: &dyn Imported,
    boosted: &Boosted,
    opts: &ImportOptions,
) -> Result<ParityReport> {
    let raw = crate::source::read_with(ctx, &opts.reference, &opts.s3).await?;
    let probability = raw.required_as("probability", &DataType::Float64, REFERENCE)?;
    let probability = probability.as_primitive::<Float64Type>();
    let rows = super::codes(m, &raw, REFERENCE)?;
    let positions = super::positions(m.categories());
    let mut worst = (0.0f64, 0usize);
    for (r, codes) in rows.iter().enumerate() {
        let p = riskfn_core::model::sigmoid(boosted.margin(&super::inputs(&positions, codes)));
        let d = (p - probability.value(r)).abs();
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
    let edge_rows = super::parity(m, boosted, &edges);
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

/// The pipeline's SQL output column of each model feature, by name; a feature the SQL
/// lacks, or computes as the other kind (a number for a category, or back), is refused by
/// name.
fn model_columns<'a>(
    m: &dyn Imported,
    prepared: &'a Prepared,
    pipeline: &Pipeline,
) -> Result<Vec<&'a FeatureColumn>> {
    let available = || {
        (prepared.features.iter())
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    (m.feature_names().iter().enumerate())
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

/// The version's features: each model feature's SQL expression, a number as it is (NaN
/// when missing, routed by the trees) or a category as its level's position.
fn features(
    levels: &[Option<Vec<String>>],
    columns: &[&FeatureColumn],
    pipeline: &Pipeline,
    train: &[usize],
) -> Result<Vec<Feature>> {
    Ok((columns.iter().enumerate())
        .map(|(f, c)| {
            let encoding = match levels[f].clone() {
                Some(levels) => {
                    let mut counts = vec![0usize; levels.len()];
                    for &r in train {
                        let key = c.values.key(r);
                        if let Ok(p) = levels.binary_search_by(|l| l.as_str().cmp(&key)) {
                            counts[p] += 1;
                        }
                    }
                    let n = train.len().max(1) as f64;
                    Encoding::Level {
                        frequencies: counts.iter().map(|&k| k as f64 / n).collect(),
                        levels,
                    }
                }
                None => Encoding::Numeric {
                    impute: 0.0,
                    mean: 0.0,
                    scale: 1.0,
                    native_missing: true,
                },
            };
            Feature {
                name: c.name.clone(),
                expr: c.online.clone(),
                encoding,
                reason: pipeline
                    .reasons
                    .get(&c.name)
                    .cloned()
                    .unwrap_or_else(|| Reason {
                        code: c.name.to_uppercase(),
                        text: c.name.replace('_', " "),
                    }),
            }
        })
        .collect())
}

/// The name the model file is kept under in the version.
fn model_file_name(format: &str) -> &'static str {
    match format {
        "xgboost" => "model.json",
        _ => "model.txt",
    }
}

/// Row `r`'s inputs for the converted trees: each feature's value from its SQL column
/// (`levels`: each category feature's sorted levels).
fn inputs(levels: &[Option<Vec<String>>], columns: &[&FeatureColumn], r: usize) -> Vec<f64> {
    (columns.iter().enumerate())
        .map(|(f, c)| match &levels[f] {
            Some(levels) if !c.values.is_null(r) => {
                let key = c.values.key(r);
                (levels.binary_search_by(|l| l.as_str().cmp(&key)).ok())
                    .map_or(f64::NAN, |p| p as f64)
            }
            Some(_) => f64::NAN,
            None => c.values.number(r).unwrap_or(f64::NAN),
        })
        .collect()
}
