//! Training: `train` (prepare -> fit -> every family -> evaluate -> publish -> promote if the
//! gate passes), `retrain` (the same unless nothing changed) and `prepare` (the first half,
//! as a dry run). `run` is one sequence of steps, read top to bottom, hence this file's
//! length; the report types, the dry run and the model card are modules of their own.

pub mod card;
mod dry_run;
pub mod fit;
mod outcome;
pub(crate) mod publish;
pub mod report;
pub mod resources;

pub use dry_run::{PrepareReport, prepare_only};
pub(crate) use outcome::feature_reports;
pub use outcome::{
    BinReport, CharacteristicReport, FairnessReport, FamilyReport, FeatureReport, Importance,
    ModelReport, PartialDependence, ScorecardReport, TrainReport,
};
use outcome::{Splits, family_reports};

use std::path::PathBuf;

use bytes::Bytes;
use riskfn_core::features::preprocess::numeric_value;
use riskfn_core::features::value::Value;
use riskfn_core::registry::s3::S3Settings;
use riskfn_core::registry::{Registry, new_version_id};
pub use riskfn_core::review::Promotion;
use riskfn_core::review::drift::{Baseline, Bins, FeatureBaseline};
use serde::Serialize;

use crate::error::Result;
use crate::pipeline::{CONFIG_FILE, Pipeline};
use crate::prepare::prepare;
use crate::prepare::split::Split;
use crate::source;
use crate::source::engine::{Cluster, EngineOptions};
use riskfn_train::{Data, Families, Outcome, Rows, TrainError, probabilities};

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

/// A progress bar per family over its fits (grid points, folds, halving rounds), with
/// the time left, on an interactive terminal only.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    families: usize,
    started: std::sync::atomic::AtomicUsize,
}

impl Progress {
    fn new(enabled: bool, families: &Families) -> Self {
        use std::io::IsTerminal;
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(1);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {prefix} {msg} [{bar:20}] {pos}/{len} fits ({elapsed}, about {eta} left)",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            families: families.members().len(),
            started: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl riskfn_train::Watch for Progress {
    fn family(&self, name: &str, fits: usize) {
        let k = 1 + self
            .started
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.reset();
            b.set_length(fits as u64);
            b.set_prefix(format!("family {k}/{}", self.families));
            b.set_message(name.to_owned());
        }
    }

    fn fitted(&self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }
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
                Encoding::OneHot { levels, .. } | Encoding::Level { levels, .. } => {
                    (levels.clone(), (0.0, 1.0))
                }
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

/// The share of the machine's memory the dense one-hot encodings may take.
const ONE_HOT_MEMORY_SHARE: f64 = 0.25;

/// Whether the one-hot encodings the families read (8 bytes an input, every row, imputed
/// and native alike) would take more than [`ONE_HOT_MEMORY_SHARE`] of the machine's
/// memory: why, in words.
fn one_hot_over_budget(encodings: &fit::Encodings, rows: usize) -> Option<String> {
    let width: usize = encodings.imputed.iter().map(|f| f.encoding.width()).sum();
    let one = rows as f64 * width as f64 * 8.0;
    let budget = resources::memory_bytes()? as f64 * ONE_HOT_MEMORY_SHARE;
    (2.0 * one > budget).then(|| {
        format!(
            "its one-hot inputs ({width} a row over {rows} rows: {:.1} GB, imputed and native) exceed {:.0} % of this machine's memory ({:.1} GB); boosting reads each category as one input",
            2.0 * one / 1e9,
            ONE_HOT_MEMORY_SHARE * 100.0,
            budget / ONE_HOT_MEMORY_SHARE / 1e9
        )
    })
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
    let ctx = source::session()?;
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
    let mut clock = resources::Clock::start();
    let mut prepared = prepare(&ctx, cluster.as_ref(), &pipeline, source).await?;
    clock.lap("prepare");
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
    let encodings = fit::Encodings::new(fit::fit(
        &prepared.features,
        &train_rows,
        &pipeline.reasons,
    )?);
    let features = &encodings.imputed;
    // A one-hot encoding no configured family reads is not built, nor one larger than the
    // memory budget (a 6,000-level employer one-hot over 200,000 rows is 10 GB): the
    // families that read it are skipped with the reason, and its rows left without inputs.
    let too_large = one_hot_over_budget(&encodings, prepared.labels.len());
    let mut skipped: Vec<Outcome> = Vec::new();
    if let Some(why) = &too_large {
        for family in pipeline.families.drop_one_hot() {
            tracing::warn!(family, "skipped: {why}");
            skipped.push(Outcome::Skipped {
                family: family.to_owned(),
                reason: why.clone(),
            });
        }
    }
    let (imputed, native) = pipeline.families.reads_one_hot();
    let design = |features, rows: &[usize], build: bool| {
        if build {
            fit::design(features, &prepared, rows)
        } else {
            ndarray::Array2::zeros((rows.len(), 0))
        }
    };
    let x_train = design(features, &train_rows, imputed);
    let x_val = design(features, &val_rows, imputed);
    let x_test = design(features, &test_rows, imputed);
    let n_train = design(&encodings.native, &train_rows, native);
    let n_val = design(&encodings.native, &val_rows, native);
    let n_test = design(&encodings.native, &test_rows, native);
    // The feature columns are read for the last time, one at a time: the level designs and
    // the drift baseline's distributions hold what training and evaluation need.
    let mut feature_baselines = Vec::with_capacity(prepared.features.len());
    let [l_train, l_val, l_test] = fit::designs_consuming(
        &encodings.levels,
        std::mem::take(&mut prepared.features),
        [&train_rows, &val_rows, &test_rows],
        |c| feature_baselines.push(feature_baseline(c, &train_rows)),
    );
    let categorical = encodings.categorical();
    // Checked against the features only when the boosted trees that read it are trained
    // (on the level encoding).
    let mut monotone = Vec::new();
    if pipeline.families.gradient_boosting.is_some() {
        monotone = monotone_inputs(&pipeline, &encodings.levels)?;
    }
    if let Some(gb) = &mut pipeline.families.gradient_boosting {
        gb.monotone = monotone.iter().map(|&(_, i, d)| (i, d)).collect();
    }
    if pipeline.families.scorecard.is_some() {
        let characteristics = scorecard_characteristics(&pipeline, features)?;
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
        inputs = features.iter().map(|f| f.encoding.width()).sum::<usize>(),
        "prepared"
    );

    let splits = Splits {
        train: Rows {
            x: &x_train,
            native: &n_train,
            levels: &l_train,
            categorical: &categorical,
            y: &y_train,
        },
        validation: Rows {
            x: &x_val,
            native: &n_val,
            levels: &l_val,
            categorical: &categorical,
            y: &y_val,
        },
        test: Rows {
            x: &x_test,
            native: &n_test,
            levels: &l_test,
            categorical: &categorical,
            y: &y_test,
        },
    };
    let data = Data {
        train: splits.train,
        validation: splits.validation,
        seed: pipeline.seed,
    };
    let progress = Progress::new(opts.progress, &pipeline.families);
    clock.lap("encode");
    let outcomes =
        riskfn_train::train_all(&pipeline.families, &data, &pipeline.selection, &progress);
    progress.finish();
    clock.lap("train");
    let mut outcomes = outcomes;
    outcomes.extend(skipped);
    outcomes.sort_by_key(|o| {
        riskfn_train::select::ORDER
            .iter()
            .position(|n| *n == o.family())
    });
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
        feature_baselines,
        &train_rows,
        &probabilities(&chosen.model, splits.train.x_for(&chosen.model)),
        pipeline.drift_threshold,
        &pipeline.protected,
    );
    let publish::Evaluation {
        threshold,
        metrics,
        fairness,
        adverse_impact,
        gate,
    } = publish::evaluate(
        &pipeline,
        &prepared,
        champion_manifest.as_ref(),
        (&val_rows, &y_val, &p_val),
        (&test_rows, &y_test, &p_test),
    );
    let version = new_version_id();
    // Refused here if the scorer would refuse to load it.
    let artifact = publish::artifact(
        &pipeline,
        &prepared,
        &version,
        encodings.for_model(&chosen.model).to_vec(),
        chosen.model.clone(),
        threshold,
    )?;
    let families = family_reports(
        &outcomes, &artifact, &encodings, splits, &monotone, threshold,
    )?;

    clock.lap("evaluate");
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
        features: feature_reports(features),
        resources: clock.resources(),
    };
    let test_row_ids: Vec<u64> = test_rows.iter().map(|&r| prepared.row_ids[r]).collect();
    let promotion = publish::publish(publish::Publication {
        pipeline: &pipeline,
        registry: &registry,
        current: current.as_ref(),
        report: &report,
        artifact: &artifact,
        features,
        baseline: &baseline,
        test: (&test_row_ids, &y_test, &p_test),
        fingerprint: &prepared.summary.fingerprint,
        adverse_impact,
        inputs_sha256: Some(inputs),
        extra_files: Vec::new(),
        imported: None,
        by: &opts.by,
        force: opts.force,
    })
    .await?;
    clock.lap("publish");
    Ok(Retrained::Trained(Box::new(TrainReport {
        champion: promotion.is_champion(),
        promotion: Some(promotion),
        resources: clock.resources(),
        ..report
    })))
}

/// A feature's distribution over the training split, for drift checks.
pub(crate) fn feature_baseline(
    f: &crate::prepare::FeatureColumn,
    train: &[usize],
) -> FeatureBaseline {
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
}

/// The training split's score deciles and feature distributions, for drift checks.
pub(crate) fn drift_baseline(
    prepared: &crate::prepare::Prepared,
    features: Vec<FeatureBaseline>,
    train: &[usize],
    p_train: &[f64],
    threshold: f64,
    protected: &[crate::pipeline::Protected],
) -> Baseline {
    let score = Bins::numeric(&p_train.iter().map(|p| Some(*p)).collect::<Vec<_>>(), 10);
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
pub(crate) fn pretty_json<T: Serialize>(v: &T) -> Bytes {
    // These types serialize infallibly (string-keyed maps, no custom serializers).
    Bytes::from(serde_json::to_vec_pretty(v).unwrap_or_default())
}
