//! `riskfn drift`: a batch against the training baseline stored with a version (PSI of the
//! score, CSI of each feature), and approvals by protected group over the batch (adverse
//! impact ratios, as at training).

use riskfn_core::features::value::Value;
use riskfn_core::registry::Registry;
use riskfn_core::registry::s3::S3Settings;
use riskfn_core::review::drift::Baseline;
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
    pub engine: crate::source::engine::EngineOptions,
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
    /// When the batch was compared (RFC 3339, UTC), and which batch.
    pub at: String,
    pub data: String,
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
    /// Approvals by protected group over the batch (`[fairness]` of the version).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fairness: Vec<GroupApprovals>,
}

/// One protected attribute's approvals over the batch.
#[derive(Debug, Clone, Serialize)]
pub struct GroupApprovals {
    pub attribute: String,
    pub reference: String,
    /// Why the attribute could not be measured on this batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_measured: Option<String>,
    pub groups: Vec<GroupApproval>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupApproval {
    pub group: String,
    pub reference: bool,
    pub rows: u64,
    /// Fewer than `MIN_ROWS` rows (this group's or the reference's): no ratio.
    pub small: bool,
    pub approval_rate: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adverse_impact_ratio: Option<f64>,
    /// The group's ratio on the version's validation split, at training.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub training_ratio: Option<f64>,
    /// Below the version's `[gate] min_adverse_impact_ratio`.
    pub below_gate: bool,
}

/// Each row's group per protected attribute (`None`: the row's value could not be
/// computed), or why the attribute cannot be measured on `raw`.
fn protected_groups(
    baseline: &Baseline,
    raw: &source::RawData,
) -> Result<Vec<std::result::Result<Vec<Option<String>>, String>>> {
    let absent: Vec<&String> = baseline
        .protected_fields
        .iter()
        .filter(|f| raw.schema.field_with_name(f).is_err())
        .collect();
    let mut columns: Vec<Vec<Value>> = vec![Vec::new(); baseline.protected_fields.len()];
    for batch in &raw.batches {
        for (col, name) in columns.iter_mut().zip(&baseline.protected_fields) {
            match batch.column_by_name(name) {
                Some(a) => col.extend(crate::values::column::Col::new(name, a)?.values()),
                None => col.extend(std::iter::repeat_n(Value::Null, batch.num_rows())),
            }
        }
    }
    let n = raw.batches.iter().map(|b| b.num_rows()).sum::<usize>();
    let mut out = Vec::new();
    for p in &baseline.protected {
        let Some(expr) = &p.expr else {
            out.push(Err(format!(
                "column {} cannot be computed from a raw record",
                p.column
            )));
            continue;
        };
        let mut reads = Vec::new();
        expr.collect_columns(&mut reads);
        if let Some(f) = reads
            .iter()
            .map(|&i| &baseline.protected_fields[i])
            .find(|f| absent.contains(f))
        {
            out.push(Err(format!("the batch has no field {f}")));
            continue;
        }
        let attr = crate::pipeline::Protected {
            name: p.name.clone(),
            column: p.column.clone(),
            bands: p.bands.clone(),
            reference: p.reference.clone(),
        };
        let mut row = vec![Value::Null; columns.len()];
        let groups = (0..n)
            .map(|r| {
                for (slot, c) in row.iter_mut().zip(&columns) {
                    *slot = c[r].clone();
                }
                expr.eval(&row).ok().map(|v| attr.group(&v))
            })
            .collect();
        out.push(Ok(groups));
    }
    Ok(out)
}

/// Rows and approvals per group, the reference first, then in order of first appearance.
fn approvals(
    p: &riskfn_core::review::drift::ProtectedBaseline,
    counts: &[(String, u64, u64)],
    training: &[riskfn_core::contract::gate::AdverseImpact],
    gate_min: Option<f64>,
) -> Vec<GroupApproval> {
    let rate = |rows: u64, approved: u64| approved as f64 / rows.max(1) as f64;
    // No reference rows in the batch: every group is too small for a ratio.
    let (ref_rows, ref_rate) = counts
        .iter()
        .find(|(g, ..)| *g == p.reference)
        .map_or((0, 0.0), |(_, r, a)| (*r as usize, rate(*r, *a)));
    let mut out: Vec<GroupApproval> = counts
        .iter()
        .map(|(group, rows, approved)| {
            let is_ref = *group == p.reference;
            let (small, ratio) = riskfn_core::contract::measures::impact_ratio(
                *rows as usize,
                rate(*rows, *approved),
                ref_rows,
                ref_rate,
            );
            GroupApproval {
                group: group.clone(),
                reference: is_ref,
                rows: *rows,
                small,
                approval_rate: rate(*rows, *approved),
                adverse_impact_ratio: ratio,
                training_ratio: training
                    .iter()
                    .find(|a| a.attribute == p.name && a.group == *group)
                    .map(|a| a.ratio),
                below_gate: matches!((ratio, gate_min), (Some(r), Some(m)) if !is_ref && r < m),
            }
        })
        .collect();
    out.sort_by_key(|g| !g.reference);
    out
}

/// Compare a batch with the baseline of a version (the champion unless pinned).
pub async fn drift(opts: &DriftOptions) -> Result<DriftReport> {
    let registry =
        Registry::new(riskfn_core::registry::store::open_with(&opts.store, &opts.s3).await?);
    let version = registry
        .resolve(&opts.pipeline, opts.version.as_deref())
        .await?;
    let loaded = registry.load(&opts.pipeline, &version).await?;
    if !loaded
        .manifest
        .files
        .contains_key(riskfn_core::review::drift::BASELINE_FILE)
    {
        return Err(crate::error::Error::Data(format!(
            "version {version} has no drift baseline (it predates them); retrain to get one"
        )));
    }
    let baseline: Baseline = serde_json::from_slice(
        &registry
            .read_verified(&loaded.manifest, riskfn_core::review::drift::BASELINE_FILE)
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
    let cluster = crate::source::engine::Cluster::connect(&opts.engine, &opts.s3).await?;
    let ctx = source::session()?;
    let raw = source::open_with(&ctx, &opts.data, &opts.s3)
        .await?
        .read_with_engine(cluster.as_ref())
        .await?;
    let groups = protected_groups(&baseline, &raw)?;
    // Per attribute: (group, rows, approved), in order of first appearance.
    let mut group_counts: Vec<Vec<(String, u64, u64)>> = vec![Vec::new(); groups.len()];
    let threshold = scorer.artifact().decision.threshold;
    let mut row_index = 0usize;
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
                let approved = u64::from(s.probability < threshold);
                for (g, counts) in groups.iter().zip(&mut group_counts) {
                    if let Ok(Some(group)) = g.as_ref().map(|g| &g[row_index]) {
                        match counts.iter_mut().find(|(name, ..)| name == group) {
                            Some(c) => {
                                c.1 += 1;
                                c.2 += approved;
                            }
                            None => counts.push((group.clone(), 1, approved)),
                        }
                    }
                }
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
        row_index += 1;
    })?;
    if rows == failed {
        return Err(crate::error::Error::Data(format!(
            "none of the {rows} rows could be scored; nothing to compare"
        )));
    }
    let index = |name: &str, i: f64| Stability {
        name: name.to_owned(),
        index: i,
        band: riskfn_core::review::drift::band(i),
    };
    let score = index("score", baseline.score.psi(&score_counts));
    let mut features: Vec<Stability> = baseline
        .features
        .iter()
        .zip(&feature_counts)
        .map(|(f, c)| index(&f.name, f.bins.psi(c)))
        .collect();
    features.sort_by(|a, b| b.index.total_cmp(&a.index));
    let gate_min = loaded
        .manifest
        .gate
        .as_ref()
        .and_then(|g| g.spec.min_adverse_impact_ratio);
    let fairness: Vec<GroupApprovals> = baseline
        .protected
        .iter()
        .zip(&groups)
        .zip(&group_counts)
        .map(|((p, g), counts)| GroupApprovals {
            attribute: p.name.clone(),
            reference: p.reference.clone(),
            not_measured: g.as_ref().err().cloned(),
            groups: approvals(p, counts, &loaded.manifest.fairness, gate_min),
        })
        .collect();
    let exceeded = score.index > baseline.threshold
        || features.iter().any(|f| f.index > baseline.threshold)
        || fairness
            .iter()
            .any(|f| f.groups.iter().any(|g| g.below_gate));
    let report = DriftReport {
        pipeline: opts.pipeline.clone(),
        version,
        at: riskfn_core::registry::now_rfc3339(),
        data: opts.data.clone(),
        rows,
        rows_failed: failed,
        threshold: baseline.threshold,
        exceeded,
        score,
        features,
        fairness,
    };
    // Kept on the version for the review console; the comparison stands if it cannot be.
    let json = bytes::Bytes::from(serde_json::to_vec_pretty(&report).unwrap_or_default());
    if let Err(e) = riskfn_core::review::drift::store_report(
        registry.store().as_ref(),
        &report.pipeline,
        &report.version,
        json,
    )
    .await
    {
        tracing::error!(error = %e, "drift report not kept in the store");
    }
    Ok(report)
}
