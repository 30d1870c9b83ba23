//! `riskfn drift`: a batch against the training baseline stored with a version (PSI of the
//! score, CSI of each feature).

use riskfn_core::drift::Baseline;
use riskfn_core::registry::Registry;
use riskfn_core::s3::S3Settings;
use riskfn_core::value::Value;
use serde::Serialize;

use crate::error::Result;
use crate::source;

#[derive(Debug, Clone)]
pub struct DriftOptions {
    pub pipeline: String,
    pub version: Option<String>,
    pub data: String,
    pub store: String,
    pub s3: S3Settings,
    /// Where the new batch is read: here, or by a Ballista cluster's executors.
    pub engine: crate::engine::EngineOptions,
}

/// One stability index and its band.
#[derive(Debug, Clone, Serialize)]
pub struct Stability {
    pub name: String,
    pub index: f64,
    pub band: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    pub pipeline: String,
    pub version: String,
    pub rows: u64,
    /// Rows that failed validation: reported, not counted in the distributions.
    pub rows_failed: u64,
    pub threshold: f64,
    /// Some index is above the threshold.
    pub exceeded: bool,
    /// PSI of the score.
    pub score: Stability,
    /// CSI of each feature, largest first.
    pub features: Vec<Stability>,
}

/// Compare a batch with the baseline of a version (the champion unless pinned).
pub async fn drift(opts: &DriftOptions) -> Result<DriftReport> {
    let registry = Registry::new(riskfn_core::store::open_with(&opts.store, &opts.s3).await?);
    let version = registry
        .resolve(&opts.pipeline, opts.version.as_deref())
        .await?;
    let loaded = registry.load(&opts.pipeline, &version).await?;
    if !loaded
        .manifest
        .files
        .contains_key(riskfn_core::drift::BASELINE_FILE)
    {
        return Err(crate::error::Error::Data(format!(
            "version {version} has no drift baseline (it predates them); retrain to get one"
        )));
    }
    let baseline: Baseline = serde_json::from_slice(
        &registry
            .read_verified(&loaded.manifest, riskfn_core::drift::BASELINE_FILE)
            .await?,
    )
    .map_err(|e| crate::error::Error::Data(format!("baseline.json: {e}")))?;
    let scorer = &loaded.scorer;
    let names: Vec<&str> = scorer
        .artifact()
        .features
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    if baseline
        .features
        .iter()
        .map(|f| f.name.as_str())
        .ne(names.iter().copied())
    {
        return Err(crate::error::Error::Data(
            "baseline.json does not match the version's features".into(),
        ));
    }
    let cluster = crate::engine::Cluster::connect(&opts.engine, &opts.s3).await?;
    let ctx = source::session();
    let raw = source::open_with(&ctx, &opts.data, &opts.s3)
        .await?
        .read_with_engine(cluster.as_ref())
        .await?;
    let mut score_counts = vec![0usize; baseline.score.len()];
    let mut feature_counts: Vec<Vec<usize>> = baseline
        .features
        .iter()
        .map(|f| vec![0; f.bins.len()])
        .collect();
    let (mut rows, mut failed) = (0u64, 0u64);
    crate::score::for_each_row(scorer, &raw, |_, row| {
        rows += 1;
        match (scorer.feature_values(row), scorer.score_row(row, false)) {
            (Ok(values), Ok(s)) => {
                score_counts[baseline.score.bin(&Value::Float(s.probability))] += 1;
                for ((f, counts), v) in baseline
                    .features
                    .iter()
                    .zip(&mut feature_counts)
                    .zip(&values)
                {
                    counts[f.bins.bin(v)] += 1;
                }
            }
            _ => failed += 1,
        }
    })?;
    if rows == failed {
        return Err(crate::error::Error::Data(format!(
            "none of the {rows} rows could be scored; nothing to compare"
        )));
    }
    let index = |name: &str, i: f64| Stability {
        name: name.to_owned(),
        index: i,
        band: riskfn_core::drift::band(i),
    };
    let score = index("score", baseline.score.psi(&score_counts));
    let mut features: Vec<Stability> = baseline
        .features
        .iter()
        .zip(&feature_counts)
        .map(|(f, c)| index(&f.name, f.bins.psi(c)))
        .collect();
    features.sort_by(|a, b| b.index.total_cmp(&a.index));
    let exceeded =
        score.index > baseline.threshold || features.iter().any(|f| f.index > baseline.threshold);
    Ok(DriftReport {
        pipeline: opts.pipeline.clone(),
        version,
        rows,
        rows_failed: failed,
        threshold: baseline.threshold,
        exceeded,
        score,
        features,
    })
}
