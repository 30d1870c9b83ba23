//! Training: `train` (prepare -> fit -> every family -> evaluate -> publish -> promote if the
//! gate passes), `retrain` (the same unless nothing changed) and `prepare` (the first half,
//! as a dry run).

pub mod card;
pub mod fit;
pub mod report;

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;
use riskfn_core::contract::artifact::{
    DataSummary, FORMAT_VERSION, MODEL_FILE, Manifest, ModelSummary, REPORT_FILE, ScoringArtifact,
    SplitMetrics,
};
use riskfn_core::contract::gate::GateRecord;
use riskfn_core::contract::measures::TestScores;
use riskfn_core::features::preprocess::numeric_value;
use riskfn_core::features::value::Value;
use riskfn_core::registry::audit;
use riskfn_core::registry::s3::S3Settings;
use riskfn_core::registry::{Registry, new_version_id, now_rfc3339};
use riskfn_core::review;
pub use riskfn_core::review::Promotion;
use riskfn_core::review::drift::{Baseline, Bins, FeatureBaseline};
use riskfn_core::scoring::Scorer;
use serde::Serialize;

use crate::error::Result;
use crate::pipeline::{CONFIG_FILE, Pipeline};
use crate::prepare::prepare;
use crate::prepare::split::Split;
use crate::source;
use crate::source::engine::{Cluster, EngineOptions};
use riskfn_core::contract::artifact::{Decision, Metrics};
use riskfn_train::metrics::{ThresholdRule, choose_threshold, evaluate};
use riskfn_train::{Data, Families, GridPoint, Outcome, Rows, TrainError, probabilities};

pub const CODE_VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub pipeline: String,
    pub sql_dir: PathBuf,
    /// Overrides the pipeline's own source.
    pub data: Option<String>,
    pub store: String,
    /// How to reach S3 for `s3://` sources and stores.
    pub s3: S3Settings,
    /// Promote even if the gate refuses.
    pub force: bool,
    /// Show a progress bar (on an interactive terminal).
    pub progress: bool,
    /// Train only these of the pipeline's families.
    pub families: Option<Vec<String>>,
    /// Where the SQL runs: here (default) or on a Ballista cluster.
    pub engine: EngineOptions,
    /// Who runs the training, for the audit records (under four eyes, one of the version's
    /// makers, who may not approve it).
    pub by: String,
}

/// What a training run did, as printed (`--json`) and stored (`report.json`).
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub pipeline: String,
    pub version: String,
    pub store: String,
    pub champion: bool,
    /// Decided after publishing: absent from the stored `report.json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion: Option<Promotion>,
    pub gate: GateRecord,
    pub model: ModelReport,
    pub metrics: SplitMetrics,
    /// How grid points and families were compared.
    pub selection: String,
    /// Outcomes by protected group, on validation and test (`[fairness]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fairness: Vec<FairnessReport>,
    pub families: Vec<FamilyReport>,
    pub data: DataSummary,
    pub features: Vec<FeatureReport>,
}

/// The chosen model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    pub family: String,
    pub params: BTreeMap<String, serde_json::Value>,
    pub n_inputs: usize,
    /// False when the solver stopped at its iteration limit (logistic regression).
    pub converged: bool,
    /// The decision threshold, chosen on the validation split by `threshold_rule`.
    pub threshold: f64,
    pub threshold_rule: ThresholdRule,
    pub warnings: Vec<String>,
}

/// Every family: its best grid point, scores, whole grid, or why it was skipped.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyReport {
    pub family: String,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, serde_json::Value>,
    /// What the family was chosen on (see `TrainReport::selection`) and its spread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spread: Option<f64>,
    /// The fitted model on the validation split.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_auc: Option<f64>,
    /// For the report only: the choice is made without the test split.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<Metrics>,
    pub fit_seconds: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grid: Vec<GridPoint>,
    /// Each feature's mean |contribution| to the log-odds (the reasons' measure) over the
    /// validation rows, largest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub importance: Vec<Importance>,
    /// Partial dependence of each monotone-constrained feature (gradient boosting).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partial_dependence: Vec<PartialDependence>,
    /// The test split in ten score bands, riskiest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gains: Vec<riskfn_train::metrics::GainsRow>,
    /// A points scorecard's characteristics, bins and points, IV ranking and what was
    /// dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scorecard: Option<ScorecardReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// One protected attribute's outcomes by group.
#[derive(Debug, Clone, Serialize)]
pub struct FairnessReport {
    pub attribute: String,
    pub column: String,
    pub reference: String,
    pub validation: Vec<riskfn_train::fairness::GroupMeasure>,
    pub test: Vec<riskfn_train::fairness::GroupMeasure>,
}

fn fairness_reports(
    protected: &[crate::pipeline::Protected],
    groups: &[Vec<String>],
    (val_rows, y_val, p_val): (&[usize], &[bool], &[f64]),
    (test_rows, y_test, p_test): (&[usize], &[bool], &[f64]),
    threshold: f64,
) -> Vec<FairnessReport> {
    protected
        .iter()
        .zip(groups)
        .map(|(a, g)| {
            let of = |rows: &[usize]| -> Vec<Option<String>> {
                rows.iter().map(|&r| Some(g[r].clone())).collect()
            };
            FairnessReport {
                attribute: a.name.clone(),
                column: a.column.clone(),
                reference: a.reference.clone(),
                validation: riskfn_train::fairness::by_group(
                    &of(val_rows),
                    y_val,
                    p_val,
                    threshold,
                    &a.reference,
                ),
                test: riskfn_train::fairness::by_group(
                    &of(test_rows),
                    y_test,
                    p_test,
                    threshold,
                    &a.reference,
                ),
            }
        })
        .collect()
}

/// Every group's adverse impact ratio on validation (where its rows allow one).
fn adverse_impact(fairness: &[FairnessReport]) -> Vec<riskfn_core::contract::gate::AdverseImpact> {
    fairness
        .iter()
        .flat_map(|f| {
            f.validation
                .iter()
                .filter(|g| !g.reference)
                .filter_map(|g| {
                    g.adverse_impact_ratio
                        .map(|ratio| riskfn_core::contract::gate::AdverseImpact {
                            attribute: f.attribute.clone(),
                            group: g.group.clone(),
                            ratio,
                        })
                })
        })
        .collect()
}

/// A scorecard as credit officers read it.
#[derive(Debug, Clone, Serialize)]
pub struct ScorecardReport {
    /// Characteristics on the card, highest information value first.
    pub characteristics: Vec<CharacteristicReport>,
    pub dropped: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct CharacteristicReport {
    pub feature: String,
    pub iv: f64,
    pub suspicious: bool,
    pub bins: Vec<BinReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BinReport {
    pub bin: String,
    pub rows: u64,
    pub share: f64,
    pub bad_rate: f64,
    pub woe: f64,
    pub points: f64,
}

fn scorecard_report(
    card: &riskfn_core::model::PointsCard,
    features: &[riskfn_core::features::preprocess::Feature],
    notes: &BTreeMap<String, serde_json::Value>,
) -> ScorecardReport {
    let mut characteristics: Vec<CharacteristicReport> = card
        .characteristics
        .iter()
        .map(|c| {
            let total: u64 = c.stats.iter().map(|b| b.rows).sum();
            let iv = c.stats.iter().map(|b| b.iv).sum();
            CharacteristicReport {
                feature: features
                    .get(c.feature)
                    .map_or_else(|| c.feature.to_string(), |f| f.name.clone()),
                iv,
                suspicious: iv > riskfn_train::ScorecardSpec::default().iv_suspicious,
                bins: c
                    .stats
                    .iter()
                    .zip(&c.points)
                    .map(|(b, &points)| BinReport {
                        bin: b.label.clone(),
                        rows: b.rows,
                        share: b.rows as f64 / total.max(1) as f64,
                        bad_rate: if b.rows == 0 {
                            f64::NAN
                        } else {
                            b.adverse as f64 / b.rows as f64
                        },
                        woe: b.woe,
                        points,
                    })
                    .collect(),
            }
        })
        .collect();
    characteristics.sort_by(|a, b| b.iv.total_cmp(&a.iv));
    ScorecardReport {
        characteristics,
        dropped: notes.get("dropped").cloned().unwrap_or_default(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Importance {
    pub feature: String,
    pub mean_abs_contribution: f64,
}

/// The model's mean probability with one input set to each of `values` (its training
/// quantiles) on every training row, and whether it moves only the constrained way.
#[derive(Debug, Clone, Serialize)]
pub struct PartialDependence {
    pub feature: String,
    pub direction: i8,
    pub values: Vec<f64>,
    pub mean_probability: Vec<f64>,
    pub monotone: bool,
}

/// The encoded splits a family's model reads.
#[derive(Clone, Copy)]
pub(crate) struct Splits<'a> {
    pub train: Rows<'a>,
    pub validation: Rows<'a>,
    pub test: Rows<'a>,
}

/// Most rows the importance and partial dependence are averaged over.
const EXPLAIN_ROWS: usize = 1000;

fn family_reports(
    outcomes: &[Outcome],
    artifact: &ScoringArtifact,
    imputed_features: &[riskfn_core::features::preprocess::Feature],
    native_features: &[riskfn_core::features::preprocess::Feature],
    splits: Splits<'_>,
    monotone: &[(String, usize, i8)],
    threshold: f64,
) -> Result<Vec<FamilyReport>> {
    outcomes
        .iter()
        .map(|o| match o {
            Outcome::Trained(r) => {
                let is_boosted = matches!(r.model, riskfn_core::model::Model::GradientBoosting(_));
                let mut a = artifact.clone();
                a.model = r.model.clone();
                a.features = if r.model.reads_missing() {
                    native_features.to_vec()
                } else {
                    imputed_features.to_vec()
                };
                let p_test = probabilities(&r.model, splits.test.x_for(&r.model));
                let scorecard = match &r.model {
                    riskfn_core::model::Model::Scorecard(card) => {
                        Some(scorecard_report(card, &a.features, &r.chosen.notes))
                    }
                    _ => None,
                };
                Ok(FamilyReport {
                    family: r.family.clone(),
                    status: "trained",
                    reason: None,
                    gains: riskfn_train::metrics::gains(splits.test.y, &p_test, 10),
                    scorecard,
                    params: r.chosen.params.clone(),
                    score: Some(r.chosen.score),
                    spread: Some(r.chosen.spread),
                    validation_auc: Some(r.validation_auc),
                    test: Some(evaluate(splits.test.y, &p_test, threshold)),
                    fit_seconds: r.grid.iter().map(|g| g.fit_seconds).sum(),
                    grid: r.grid.clone(),
                    importance: importance(&Scorer::new(a, String::new())?, splits.validation),
                    partial_dependence: if is_boosted {
                        monotone
                            .iter()
                            .map(|(name, input, dir)| {
                                partial_dependence(
                                    &r.model,
                                    splits.train.native,
                                    name,
                                    *input,
                                    *dir,
                                )
                            })
                            .collect()
                    } else {
                        Vec::new()
                    },
                    warnings: r.warnings.clone(),
                })
            }
            Outcome::Skipped { family, reason } => Ok(FamilyReport {
                family: family.clone(),
                status: "skipped",
                reason: Some(reason.clone()),
                params: BTreeMap::new(),
                score: None,
                spread: None,
                validation_auc: None,
                test: None,
                fit_seconds: 0.0,
                grid: Vec::new(),
                importance: Vec::new(),
                partial_dependence: Vec::new(),
                gains: Vec::new(),
                scorecard: None,
                warnings: Vec::new(),
            }),
        })
        .collect()
}

/// Evenly spaced rows of `x`, at most [`EXPLAIN_ROWS`].
fn spaced_rows(n: usize) -> impl Iterator<Item = usize> {
    let take = n.min(EXPLAIN_ROWS);
    (0..take).map(move |i| i * n / take.max(1))
}

fn importance(scorer: &Scorer, rows: Rows<'_>) -> Vec<Importance> {
    let model = &scorer.artifact().model;
    let x = rows.x_for(model);
    let features = &scorer.artifact().features;
    let mut sum = vec![0.0; features.len()];
    let mut n = 0usize;
    for i in spaced_rows(x.nrows()) {
        let row = x.row(i).to_vec();
        let c = scorer.contributions(&row, model.probability(&row));
        for (s, c) in sum.iter_mut().zip(c) {
            if c.is_finite() {
                *s += c.abs();
            }
        }
        n += 1;
    }
    let mut out: Vec<Importance> = features
        .iter()
        .zip(sum)
        .map(|(f, s)| Importance {
            feature: f.name.clone(),
            mean_abs_contribution: s / n.max(1) as f64,
        })
        .collect();
    out.sort_by(|a, b| b.mean_abs_contribution.total_cmp(&a.mean_abs_contribution));
    out
}

fn partial_dependence(
    model: &riskfn_core::model::Model,
    x: &ndarray::Array2<f64>,
    name: &str,
    input: usize,
    direction: i8,
) -> PartialDependence {
    let sample = x.select(
        ndarray::Axis(0),
        &spaced_rows(x.nrows()).collect::<Vec<_>>(),
    );
    let mut present: Vec<f64> = x
        .column(input)
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    present.sort_by(f64::total_cmp);
    let mut values: Vec<f64> = (0..=10)
        .filter_map(|k| {
            present
                .get(k * (present.len().saturating_sub(1)) / 10)
                .copied()
        })
        .collect();
    values.dedup();
    let mean_probability: Vec<f64> = values
        .iter()
        .map(|&v| riskfn_train::boosting::partial_dependence(model, &sample, input, v))
        .collect();
    let monotone = mean_probability
        .windows(2)
        .all(|w| (w[1] - w[0]) * f64::from(direction) >= -1e-12);
    PartialDependence {
        feature: name.to_owned(),
        direction,
        values,
        mean_probability,
        monotone,
    }
}

/// A progress bar over the families, on an interactive terminal only.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(enabled: bool, families: &Families) -> Self {
        use std::io::IsTerminal;
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let n = families.members().len();
        let bar = indicatif::ProgressBar::new(n as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} training [{bar:20}] {pos}/{len} {msg} ({elapsed})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Progress(Some(bar))
    }

    fn family(&self, family: &str) {
        if let Some(b) = &self.0 {
            if b.message().is_empty() {
                b.set_message(family.to_owned());
            } else {
                b.inc(1);
                b.set_message(family.to_owned());
            }
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FeatureReport {
    pub name: String,
    pub encoding: riskfn_core::features::preprocess::Encoding,
}

/// What a retrain run did.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Retrained {
    Trained(Box<TrainReport>),
    /// A version trained from exactly these inputs exists already: nothing was done.
    Unchanged {
        pipeline: String,
        version: String,
        champion: bool,
    },
}

/// Train, evaluate, publish and promote if the gate passes.
pub async fn train(opts: &TrainOptions) -> Result<TrainReport> {
    match run(opts, false).await? {
        Retrained::Trained(r) => Ok(*r),
        Retrained::Unchanged { .. } => {
            unreachable!("training without the unchanged check always trains")
        }
    }
}

/// [`train`], unless a version trained from the very same inputs (code, config, SQL,
/// data) exists: then nothing is trained or published. Safe to run on a schedule.
pub async fn retrain(opts: &TrainOptions) -> Result<Retrained> {
    run(opts, true).await
}

/// The inputs of `[models.gradient_boosting] monotone`'s features, each a numeric feature.
fn monotone_inputs(
    pipeline: &Pipeline,
    features: &[riskfn_core::features::preprocess::Feature],
) -> Result<Vec<(String, usize, i8)>> {
    let mut out = Vec::new();
    for (name, dir) in &pipeline.monotone {
        let mut at = 0;
        let mut found = None;
        for f in features {
            if &f.name == name {
                found = Some((at, &f.encoding));
            }
            at += f.encoding.width();
        }
        let bad = |why: String| crate::error::Error::Config {
            path: pipeline.dir.join(CONFIG_FILE),
            message: format!("models.gradient_boosting.monotone.{name}: {why}"),
        };
        match found {
            Some((i, riskfn_core::features::preprocess::Encoding::Numeric { .. })) => {
                out.push((name.clone(), i, *dir));
            }
            Some(_) => {
                return Err(bad(
                    "a categorical feature has no order to be monotone in".into()
                ));
            }
            None => {
                return Err(bad(format!(
                    "not a feature (features: {})",
                    features
                        .iter()
                        .map(|f| f.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    Ok(out)
}

/// Every feature as a scorecard characteristic, with `[models.scorecard] trend` checked:
/// a trend names a numeric feature.
fn scorecard_characteristics(
    pipeline: &Pipeline,
    features: &[riskfn_core::features::preprocess::Feature],
) -> Result<Vec<riskfn_train::scorecard::CharacteristicSpec>> {
    use riskfn_core::features::preprocess::Encoding;
    use riskfn_train::binning::Trend;
    let bad = |name: &str, why: String| crate::error::Error::Config {
        path: pipeline.dir.join(CONFIG_FILE),
        message: format!("models.scorecard.trend.{name}: {why}"),
    };
    for (name, _) in &pipeline.trends {
        match features.iter().find(|f| &f.name == name) {
            None => return Err(bad(name, "not a feature".into())),
            Some(f) if matches!(f.encoding, Encoding::OneHot { .. }) => {
                return Err(bad(
                    name,
                    "a categorical feature has no order for a trend (its levels are grouped by WoE)"
                        .into(),
                ));
            }
            Some(_) => {}
        }
    }
    let mut at = 0;
    Ok(features
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let width = f.encoding.width();
            let (levels, scaling) = match &f.encoding {
                Encoding::OneHot { levels, .. } => (levels.clone(), (0.0, 1.0)),
                Encoding::Numeric { mean, scale, .. } => (Vec::new(), (*mean, *scale)),
            };
            let spec = riskfn_train::scorecard::CharacteristicSpec {
                name: f.name.clone(),
                feature: i,
                inputs: at..at + width,
                levels,
                trend: pipeline
                    .trends
                    .iter()
                    .find(|(n, _)| n == &f.name)
                    .map_or(Trend::Auto, |(_, t)| *t),
                scaling,
            };
            at += width;
            spec
        })
        .collect())
}

/// sha256 over everything a version is trained from.
fn inputs_fingerprint(pipeline: &Pipeline, opts: &TrainOptions, data_fingerprint: &str) -> String {
    let mut text = format!("code {CODE_VERSION}\nconfig\n{}\n", pipeline.config_text);
    for f in &pipeline.sql {
        text.push_str(&format!("sql {}\n{}\n", f.file, f.text));
    }
    text.push_str(&format!(
        "reasons\n{}\nfamilies {:?}\ndata {data_fingerprint}\n",
        pipeline.reasons_text.as_deref().unwrap_or(""),
        opts.families
    ));
    riskfn_core::contract::artifact::sha256_hex(text.as_bytes())
}

async fn run(opts: &TrainOptions, skip_unchanged: bool) -> Result<Retrained> {
    // A pipeline folder on S3 is copied to a local folder first (kept while this runs).
    let (mut pipeline, _fetched) = if opts.pipeline.starts_with("s3://") {
        let (p, dir) = crate::pipeline::fetch(&opts.pipeline, &opts.s3).await?;
        (p, Some(dir))
    } else {
        (Pipeline::locate(&opts.pipeline, &opts.sql_dir)?, None)
    };
    if let Some(names) = &opts.families {
        pipeline
            .families
            .retain(names)
            .map_err(|m| crate::error::Error::Config {
                path: pipeline.dir.join(crate::pipeline::CONFIG_FILE),
                message: format!("--families: {m}"),
            })?;
    }
    let data_uri = opts.data.clone().unwrap_or_else(|| pipeline.source.clone());
    // Reach the store first: an unreachable store or bad credentials fail the run before
    // any work.
    let registry =
        Registry::new(riskfn_core::registry::store::open_with(&opts.store, &opts.s3).await?);
    // The champion this run is compared with (and whose pointer it may move).
    let current = registry.champion(&pipeline.name).await?;
    let champion_manifest = match &current {
        Some((c, _)) => Some(registry.manifest(&pipeline.name, &c.version).await?),
        None => None,
    };

    let cluster = Cluster::connect(&opts.engine, &opts.s3).await?;
    let ctx = source::session();
    let source = source::open_with(&ctx, &data_uri, &opts.s3).await?;
    let inputs = inputs_fingerprint(&pipeline, opts, &source.fingerprint);
    if skip_unchanged {
        for v in registry.versions(&pipeline.name).await?.iter().rev() {
            if registry
                .manifest(&pipeline.name, v)
                .await?
                .inputs_sha256
                .as_deref()
                == Some(inputs.as_str())
            {
                let champion = current.as_ref().is_some_and(|(c, _)| &c.version == v);
                tracing::info!(pipeline = %pipeline.name, version = %v, champion, "unchanged inputs: nothing to train");
                return Ok(Retrained::Unchanged {
                    pipeline: pipeline.name.clone(),
                    version: v.clone(),
                    champion,
                });
            }
        }
    }
    let prepared = prepare(&ctx, cluster.as_ref(), &pipeline, source).await?;
    let rows = |s| prepared.rows_of(s);
    let (train_rows, val_rows, test_rows) = (
        rows(Split::Train),
        rows(Split::Validation),
        rows(Split::Test),
    );
    let labels_of = |rs: &[usize]| {
        rs.iter()
            .map(|&r| prepared.labels[r])
            .collect::<Vec<bool>>()
    };
    let (y_train, y_val, y_test) = (
        labels_of(&train_rows),
        labels_of(&val_rows),
        labels_of(&test_rows),
    );

    for name in pipeline.reasons.keys() {
        if !prepared.features.iter().any(|f| &f.name == name) {
            tracing::warn!(pipeline = %pipeline.name, feature = %name, "reasons.toml names a column that is not a feature");
        }
    }
    for f in &prepared.features {
        if !pipeline.reasons.contains_key(&f.name) && pipeline.reasons_text.is_some() {
            tracing::warn!(pipeline = %pipeline.name, feature = %f.name, "feature has no entry in reasons.toml; its code is its name");
        }
    }
    let features = fit::fit(&prepared.features, &train_rows, &pipeline.reasons)?;
    let native_features = natively_missing(&features);
    let x_train = fit::design(&features, &prepared, &train_rows);
    let x_val = fit::design(&features, &prepared, &val_rows);
    let x_test = fit::design(&features, &prepared, &test_rows);
    let n_train = fit::design(&native_features, &prepared, &train_rows);
    let n_val = fit::design(&native_features, &prepared, &val_rows);
    let n_test = fit::design(&native_features, &prepared, &test_rows);
    // Checked against the features only when the boosted trees that read it are trained.
    let mut monotone = Vec::new();
    if pipeline.families.gradient_boosting.is_some() {
        monotone = monotone_inputs(&pipeline, &features)?;
    }
    if let Some(gb) = &mut pipeline.families.gradient_boosting {
        gb.monotone = monotone.iter().map(|&(_, i, d)| (i, d)).collect();
    }
    if pipeline.families.scorecard.is_some() {
        let characteristics = scorecard_characteristics(&pipeline, &features)?;
        let scaling = pipeline.scorecard;
        if let Some(sc) = &mut pipeline.families.scorecard {
            sc.characteristics = characteristics;
            sc.offset = scaling.offset();
            sc.factor = scaling.factor();
        }
    }
    tracing::info!(
        pipeline = %pipeline.name,
        train = train_rows.len(),
        validation = val_rows.len(),
        test = test_rows.len(),
        inputs = x_train.ncols(),
        "prepared"
    );

    let splits = Splits {
        train: Rows {
            x: &x_train,
            native: &n_train,
            y: &y_train,
        },
        validation: Rows {
            x: &x_val,
            native: &n_val,
            y: &y_val,
        },
        test: Rows {
            x: &x_test,
            native: &n_test,
            y: &y_test,
        },
    };
    let data = Data {
        train: splits.train,
        validation: splits.validation,
        seed: pipeline.seed,
    };
    let progress = Progress::new(opts.progress, &pipeline.families);
    let outcomes = riskfn_train::train_all(
        &pipeline.families,
        &data,
        &pipeline.selection,
        &mut |family| progress.family(family),
    );
    progress.finish();
    let chosen =
        riskfn_train::select(&outcomes, pipeline.selection.tie_tolerance).ok_or_else(|| {
            let reasons: Vec<String> = outcomes
                .iter()
                .map(|o| match o {
                    Outcome::Skipped { family, reason } => format!("{family}: {reason}"),
                    Outcome::Trained(r) => r.family.clone(),
                })
                .collect();
            TrainError::new(
                "every family",
                format!("no model could be trained ({})", reasons.join("; ")),
            )
        })?;
    let p_val = probabilities(&chosen.model, splits.validation.x_for(&chosen.model));
    let p_test = probabilities(&chosen.model, splits.test.x_for(&chosen.model));
    let baseline = drift_baseline(
        &prepared,
        &train_rows,
        &probabilities(&chosen.model, splits.train.x_for(&chosen.model)),
        pipeline.drift_threshold,
        &pipeline.protected,
    );
    let threshold = choose_threshold(pipeline.threshold_rule, &y_val, &p_val);
    let metrics = SplitMetrics {
        validation: evaluate(&y_val, &p_val, threshold),
        test: evaluate(&y_test, &p_test, threshold),
    };
    let decision = Decision {
        threshold,
        ..pipeline.decision.clone()
    };

    let fairness = fairness_reports(
        &pipeline.protected,
        &prepared.groups,
        (&val_rows, &y_val, &p_val),
        (&test_rows, &y_test, &p_test),
        threshold,
    );
    let adverse_impact = adverse_impact(&fairness);
    let gate = pipeline.gate.evaluate(
        &metrics.validation,
        champion_manifest
            .as_ref()
            .map(|m| (m.version.as_str(), &m.metrics.validation)),
        &adverse_impact,
    );
    let version = new_version_id();
    let artifact = ScoringArtifact {
        format: FORMAT_VERSION,
        pipeline: pipeline.name.clone(),
        version: version.clone(),
        raw_schema: prepared.raw_schema.clone(),
        unknown_fields: pipeline.unknown_fields,
        id_column: pipeline.id.clone(),
        features: if chosen.model.reads_missing() {
            native_features.clone()
        } else {
            features.clone()
        },
        model: chosen.model.clone(),
        decision,
        scorecard: pipeline.scorecard,
        reasons: pipeline.reasons_top,
    };
    // Refuse to publish anything the scorer would refuse to load.
    Scorer::new(artifact.clone(), String::new())?;
    let families = family_reports(
        &outcomes,
        &artifact,
        &features,
        &native_features,
        splits,
        &monotone,
        threshold,
    )?;

    let report = TrainReport {
        pipeline: pipeline.name.clone(),
        version: version.clone(),
        store: registry.store().location(),
        champion: false,
        promotion: None,
        gate: gate.clone(),
        model: ModelReport {
            family: chosen.family.clone(),
            params: chosen.chosen.params.clone(),
            n_inputs: chosen.model.n_inputs(),
            converged: chosen
                .chosen
                .notes
                .get("converged")
                .and_then(|v| v.as_bool())
                .unwrap_or(true),
            threshold,
            threshold_rule: pipeline.threshold_rule,
            warnings: chosen.warnings.clone(),
        },
        selection: pipeline.selection.describe(&data),
        fairness,
        families,
        metrics: metrics.clone(),
        data: prepared.summary.clone(),
        features: feature_reports(&features),
    };
    let mut files = vec![
        (MODEL_FILE.to_owned(), pretty_json(&artifact)),
        (REPORT_FILE.to_owned(), pretty_json(&report)),
        (
            crate::train::report::REPORT_HTML.to_owned(),
            Bytes::from(crate::train::report::html(&report, &y_test, &p_test)),
        ),
        (
            riskfn_core::review::drift::BASELINE_FILE.to_owned(),
            pretty_json(&baseline),
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
                    &prepared.summary.fingerprint,
                    threshold,
                    &test_rows
                        .iter()
                        .map(|&r| prepared.row_ids[r])
                        .collect::<Vec<_>>(),
                    &y_test,
                    &p_test,
                ))
                .unwrap_or_default(),
            ),
        ),
    ];
    let created_at = now_rfc3339();
    files.extend(crate::train::card::files(&crate::train::card::build(
        &report,
        &pipeline,
        &features,
        &baseline,
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
        metrics,
        data: prepared.summary.clone(),
        gate: Some(gate.clone()),
        fairness: adverse_impact,
        inputs_sha256: Some(inputs),
        files: BTreeMap::new(),
    };
    registry.publish(manifest, files).await?;
    tracing::info!(pipeline = %pipeline.name, %version, gate = gate.passed, "published");

    let promotion = if !gate.passed && !opts.force {
        Promotion::RefusedByGate {
            reason: gate.reason.clone(),
        }
    } else if gate.spec.approvals > 0 {
        // Four eyes: the one who trained it is its maker; others approve.
        review::propose(
            &registry,
            &pipeline.name,
            &version,
            &opts.by,
            "trained",
            &gate.reason,
            !gate.passed,
            gate.spec.approvals,
        )
        .await?
    } else {
        let forced_past = (!gate.passed).then_some(gate.reason.as_str());
        review::move_champion(
            &registry,
            &pipeline.name,
            &version,
            current.as_ref(),
            forced_past,
        )
        .await?
    };
    review::record(
        &registry,
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
            by: Some(opts.by.clone()),
        },
    )
    .await;
    if promotion.is_champion() {
        review::record(
            &registry,
            audit::Event::Promotion {
                pipeline: pipeline.name.clone(),
                version: version.clone(),
                previous: current.as_ref().map(|(c, _)| c.version.clone()),
                forced: matches!(promotion, Promotion::Forced { .. }),
                by: Some(opts.by.clone()),
                reason: Some("trained; the gate passed".to_owned()),
                approved_by: Vec::new(),
            },
        )
        .await;
    }
    Ok(Retrained::Trained(Box::new(TrainReport {
        champion: promotion.is_champion(),
        promotion: Some(promotion),
        ..report
    })))
}

/// The training split's score deciles and feature distributions, for drift checks.
fn drift_baseline(
    prepared: &crate::prepare::Prepared,
    train: &[usize],
    p_train: &[f64],
    threshold: f64,
    protected: &[crate::pipeline::Protected],
) -> Baseline {
    let score = Bins::numeric(&p_train.iter().map(|p| Some(*p)).collect::<Vec<_>>(), 10);
    let features = prepared
        .features
        .iter()
        .map(|f| {
            let values: Vec<Value> = train.iter().map(|&r| f.values.value(r)).collect();
            let bins = if f.categorical {
                Bins::categorical(&values)
            } else {
                Bins::numeric(&values.iter().map(numeric_value).collect::<Vec<_>>(), 10)
            };
            FeatureBaseline {
                name: f.name.clone(),
                bins,
            }
        })
        .collect();
    Baseline {
        rows: train.len() as u64,
        score,
        features,
        threshold,
        protected: protected
            .iter()
            .zip(&prepared.protected_online)
            .map(|(a, expr)| riskfn_core::review::drift::ProtectedBaseline {
                name: a.name.clone(),
                column: a.column.clone(),
                bands: a.bands.clone(),
                reference: a.reference.clone(),
                expr: expr.clone(),
            })
            .collect(),
        protected_fields: prepared.protected_fields.clone(),
    }
}

/// Artifact files are pretty JSON, for people reading the store.
fn pretty_json<T: Serialize>(v: &T) -> Bytes {
    // These types serialize infallibly (string-keyed maps, no custom serializers).
    Bytes::from(serde_json::to_vec_pretty(v).unwrap_or_default())
}

/// What `riskfn prepare` found: the feature table and the fitted preprocessing, without
/// training anything.
#[derive(Debug, Clone, Serialize)]
pub struct PrepareReport {
    pub pipeline: String,
    pub data: DataSummary,
    pub features: Vec<FeatureReport>,
    pub inputs: usize,
    pub seconds: BTreeMap<String, f64>,
}

/// Read, de-duplicate, run the SQL, split and fit the preprocessing on the training split:
/// a dry run of training's first half (and the preprocessing benchmark).
///
/// With `design_out`, also write each split's encoded design matrix as `train.csv`,
/// `validation.csv` and `test.csv` there (missing numbers imputed, as most families read
/// them) and `train_native.csv` ... (missing numbers left empty, as boosted trees and
/// scorecards read them): one column per model input (named as the reports name them) and
/// `adverse` (1 or 0), so a validator can fit another tool on exactly the rows and inputs
/// riskfn trains on.
pub async fn prepare_only(
    opts: &TrainOptions,
    design_out: Option<&std::path::Path>,
) -> Result<PrepareReport> {
    let pipeline = Pipeline::locate(&opts.pipeline, &opts.sql_dir)?;
    let data_uri = opts.data.clone().unwrap_or_else(|| pipeline.source.clone());
    let mut seconds = BTreeMap::new();
    let t = std::time::Instant::now();
    let cluster = Cluster::connect(&opts.engine, &opts.s3).await?;
    let ctx = source::session();
    let source = source::open_with(&ctx, &data_uri, &opts.s3).await?;
    seconds.insert("open".to_owned(), t.elapsed().as_secs_f64());
    // The source streams into de-duplication: reading is part of the next step.
    let t = std::time::Instant::now();
    let prepared = prepare(&ctx, cluster.as_ref(), &pipeline, source).await?;
    seconds.insert("read_clean_sql_split".to_owned(), t.elapsed().as_secs_f64());
    let t = std::time::Instant::now();
    let train_rows = prepared.rows_of(Split::Train);
    let features = fit::fit(&prepared.features, &train_rows, &pipeline.reasons)?;
    seconds.insert("fit".to_owned(), t.elapsed().as_secs_f64());
    if let Some(dir) = design_out {
        write_designs(dir, &features, &prepared)?;
    }
    Ok(PrepareReport {
        pipeline: pipeline.name.clone(),
        data: prepared.summary.clone(),
        inputs: features.iter().map(|f| f.encoding.width()).sum(),
        features: feature_reports(&features),
        seconds,
    })
}

/// The features with missing numbers left missing (NaN), for the models that read them
/// themselves (boosted trees route them, scorecards bin them).
fn natively_missing(
    features: &[riskfn_core::features::preprocess::Feature],
) -> Vec<riskfn_core::features::preprocess::Feature> {
    features
        .iter()
        .cloned()
        .map(|mut f| {
            if let riskfn_core::features::preprocess::Encoding::Numeric { native_missing, .. } =
                &mut f.encoding
            {
                *native_missing = true;
            }
            f
        })
        .collect()
}

fn write_designs(
    dir: &std::path::Path,
    features: &[riskfn_core::features::preprocess::Feature],
    prepared: &crate::prepare::Prepared,
) -> Result<()> {
    write_design_files(dir, features, prepared, "")?;
    write_design_files(dir, &natively_missing(features), prepared, "_native")
}

fn write_design_files(
    dir: &std::path::Path,
    features: &[riskfn_core::features::preprocess::Feature],
    prepared: &crate::prepare::Prepared,
    suffix: &str,
) -> Result<()> {
    use std::io::Write;
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |e| crate::error::Error::io(path, e)
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let names: Vec<String> = features.iter().flat_map(|f| f.encoded_names()).collect();
    let header: Vec<String> = names.iter().map(|n| csv_field(n)).collect();
    for (split, file) in [
        (Split::Train, "train"),
        (Split::Validation, "validation"),
        (Split::Test, "test"),
    ] {
        let path = dir.join(format!("{file}{suffix}.csv"));
        let rows = prepared.rows_of(split);
        let x = fit::design(features, prepared, &rows);
        let mut text = format!("{},adverse\n", header.join(","));
        for (row, &r) in x.rows().into_iter().zip(&rows) {
            // A missing value (native encoding) is an empty field.
            let values: Vec<String> = row
                .iter()
                .map(|v| {
                    if v.is_nan() {
                        String::new()
                    } else {
                        format!("{v:?}")
                    }
                })
                .collect();
            text.push_str(&format!(
                "{},{}\n",
                values.join(","),
                u8::from(prepared.labels[r])
            ));
        }
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(io(&path))?;
    }
    Ok(())
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Each feature's name and fitted encoding, as reports list them.
fn feature_reports(features: &[riskfn_core::features::preprocess::Feature]) -> Vec<FeatureReport> {
    features
        .iter()
        .map(|f| FeatureReport {
            name: f.name.clone(),
            encoding: f.encoding.clone(),
        })
        .collect()
}
