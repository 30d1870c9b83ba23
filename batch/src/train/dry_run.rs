//! `riskfn prepare`: training's first half as a dry run (read, de-duplicate, SQL, split,
//! preprocessing fit), its feature table reported and, if asked, written as design matrices.

use std::collections::BTreeMap;

use riskfn_core::contract::artifact::DataSummary;
use serde::Serialize;

use super::{FeatureReport, TrainOptions, feature_reports, fit};
use crate::error::Result;
use crate::pipeline::Pipeline;
use crate::prepare::prepare;
use crate::prepare::split::Split;
use crate::source;
use crate::source::engine::Cluster;

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
    let ctx = source::session()?;
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

fn write_designs(
    dir: &std::path::Path,
    features: &[riskfn_core::features::preprocess::Feature],
    prepared: &crate::prepare::Prepared,
) -> Result<()> {
    write_design_files(dir, features, prepared, "")?;
    write_design_files(
        dir,
        &fit::Encodings::new(features.to_vec()).native,
        prepared,
        "_native",
    )
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
