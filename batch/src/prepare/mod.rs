//! From source to a labelled, split feature table: read, de-duplicate, run the pipeline's
//! SQL with DataFusion, compile the features for the online side and check both agree.
//!
//! (Its last 80 lines are the de-duplication's unit test.)

pub mod parity;
pub mod split;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::interleave;
use arrow::datatypes::{DataType as ArrowType, UInt64Type};
use datafusion::common::Column;
use datafusion::error::DataFusionError;
use datafusion::functions_aggregate::expr_fn::{first_value, min};
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;
use rayon::prelude::*;
use riskfn_core::contract::artifact::{DataSummary, Sample, SplitCount};
use riskfn_core::features::expr::Expr as Online;
use riskfn_core::features::population::Rule;
use riskfn_core::features::schema::RawSchema;

use crate::compile::{self, Flat, OnlineSchemaBuilder, to_online};
use crate::error::{Error, Result};
use crate::pipeline::{MissingPolicy, Pipeline, SplitRule};
use crate::prepare::split::{Split, hash_split};
use crate::source::engine::{self, Cluster};
use crate::source::{ROW_ID, Source};
use crate::values::column::Col;

/// One feature: its online expression, whether it is one-hot encoded, and its values.
#[derive(Debug)]
pub struct FeatureColumn {
    pub name: String,
    pub online: Online,
    pub categorical: bool,
    pub values: Col,
}

/// The labelled feature table, rows in source order.
#[derive(Debug)]
pub struct Prepared {
    pub raw_schema: RawSchema,
    pub features: Vec<FeatureColumn>,
    pub row_ids: Vec<u64>,
    pub labels: Vec<bool>,
    /// Per protected attribute (`[fairness]`, in order), each row's group.
    pub groups: Vec<Vec<Arc<str>>>,
    /// Per protected attribute, its column compiled over the raw fields of
    /// `protected_fields` (not the request's schema: requests never carry them), so
    /// `riskfn drift` can group a raw batch; `None` if it cannot be computed online.
    pub protected_online: Vec<Option<Online>>,
    pub protected_fields: Vec<String>,
    /// The SQL's filters on applicants, over `raw_schema`'s fields.
    pub population: Vec<Rule>,
    pub splits: Vec<Split>,
    pub summary: DataSummary,
}

impl Prepared {
    /// Row indices of one split.
    pub fn rows_of(&self, split: Split) -> Vec<usize> {
        (0..self.splits.len())
            .filter(|&i| self.splits[i] == split)
            .collect()
    }
}

/// Column names of a schema, for messages.
pub fn field_names(schema: &arrow::datatypes::Schema) -> String {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    names.join(", ")
}

fn col(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

/// Run the pipeline over the source's rows: here, streaming the source through
/// de-duplication, or on `cluster` (the source staged for it first).
pub async fn prepare(
    ctx: &SessionContext,
    cluster: Option<&Cluster>,
    pipeline: &Pipeline,
    source: Source,
) -> Result<Prepared> {
    let raw_schema_arrow = source.schema.clone();
    let (source_uri, fingerprint) = (source.uri.clone(), source.fingerprint.clone());
    let logical = compile::plan(ctx, pipeline, &raw_schema_arrow).await?;
    let flat = compile::flatten(&logical)?;

    // Roles of the SQL output columns.
    let names: Vec<&str> = flat.columns.iter().map(|(n, _)| n.as_str()).collect();
    let available = names.join(", ");
    let missing = |column: &str| Error::MissingColumn {
        column: column.to_owned(),
        relation: format!("the output of {}'s SQL", pipeline.name),
        available: available.clone(),
    };
    let target_idx = names
        .iter()
        .position(|n| *n == pipeline.target)
        .ok_or_else(|| missing(&pipeline.target))?;
    let split_idx = match &pipeline.split {
        SplitRule::Column(c) => Some(
            names
                .iter()
                .position(|n| n == c)
                .ok_or_else(|| missing(c))?,
        ),
        SplitRule::Hash { .. } => None,
    };
    for c in pipeline.exclude.iter().chain(&pipeline.categorical) {
        if !names.contains(&c.as_str()) {
            return Err(missing(c));
        }
    }
    if let Some(id) = &pipeline.id
        && raw_schema_arrow.field_with_name(id).is_err()
    {
        return Err(Error::MissingColumn {
            column: id.clone(),
            relation: format!("the source {source_uri}"),
            available: field_names(&raw_schema_arrow),
        });
    }
    let is_feature = |i: usize, n: &str| {
        i != target_idx
            && Some(i) != split_idx
            && pipeline.id.as_deref() != Some(n)
            && !pipeline.exclude.iter().any(|e| e == n)
    };
    let feature_idx: Vec<usize> = (0..names.len())
        .filter(|&i| is_feature(i, names[i]))
        .collect();
    // A protected attribute is measured, never decided on: not a feature.
    let mut protected_idx = Vec::with_capacity(pipeline.protected.len());
    for a in &pipeline.protected {
        let i = names
            .iter()
            .position(|n| *n == a.column)
            .ok_or_else(|| missing(&a.column))?;
        if is_feature(i, names[i]) {
            return Err(Error::Config {
                path: pipeline.dir.join(crate::pipeline::CONFIG_FILE),
                message: format!(
                    "fairness.{}: column {} is a feature; a protected attribute may not be decided on: list it in columns.exclude",
                    a.name, a.column
                ),
            });
        }
        protected_idx.push(i);
    }
    if feature_idx.is_empty() {
        return Err(Error::Data("the SQL output has no feature columns".into()));
    }

    // The raw columns applicants do not carry: what the target, split and id come from.
    let mut training_only: Vec<&str> = std::iter::once(target_idx)
        .chain(split_idx)
        .flat_map(|i| flat.columns[i].1.column_refs())
        .map(|c| c.name.as_str())
        .collect();
    training_only.extend(pipeline.id.as_deref());
    let Compiled {
        online,
        mut raw_schema,
        population,
        protected_online,
        protected_fields,
    } = compile_online(
        pipeline,
        &flat,
        &raw_schema_arrow,
        (&feature_idx, &protected_idx),
        &training_only,
    )?;

    // Execute: de-duplicate on every raw column but the id (one aggregate: each distinct
    // row keeps its first row id, and that row's id value), filter, compute outputs.
    let id_col = pipeline.id.as_deref();
    // Step times, for `RISKFN_LOG=riskfn_batch=debug`.
    let started = std::time::Instant::now();
    let step = |name: &str| {
        tracing::debug!(
            seconds = started.elapsed().as_secs_f64(),
            "prepare: {name} done"
        )
    };
    let mut firsts = vec![min(col(ROW_ID)).alias(ROW_ID)];
    firsts.extend(
        id_col.map(|id| first_value(col(id), vec![col(ROW_ID).sort(true, false)]).alias(id)),
    );
    // The aggregate's keys, here and on a cluster: every raw column but the id.
    let keys: Vec<Expr> = (raw_schema_arrow.fields().iter())
        .filter(|f| id_col != Some(f.name().as_str()))
        .map(|f| col(f.name()))
        .collect();
    let mut select = vec![col(ROW_ID)];
    select.extend(
        raw_schema
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| col(&f.name).alias(format!("__raw{i}"))),
    );
    select.extend(
        flat.columns
            .iter()
            .enumerate()
            .map(|(i, (_, e))| e.clone().alias(format!("__out{i}"))),
    );
    // De-duplicated rows, as a frame on the engine that runs the rest; `_staged` keeps a
    // cluster's staged copy of the source until the last query is done.
    let (rows_read, n_dedup, deduped, _staged) = match cluster {
        None => {
            let failed = run_failed(pipeline, None, "de-duplication");
            let (rows_read, batches) = dedup_local(ctx, source, &keys, &firsts, &failed).await?;
            step("de-duplication");
            // The aggregate's output: the keys, then the row id.
            let deduped = in_row_order(batches, keys.len())?;
            step("back in row order");
            let n_dedup = deduped.num_rows() as u64;
            // Batches as large as the table, so that the SQL's filters do not cut it into
            // small ones (copying every column) to be put together again after.
            let whole = ctx
                .copied_config()
                .with_batch_size(deduped.num_rows().max(8192));
            let whole = SessionContext::new_with_config_rt(whole, ctx.runtime_env());
            (rows_read, n_dedup, whole.read_batch(deduped)?, None)
        }
        Some(cluster) => {
            // Every step after the numbering runs on the executors; the distinct rows are
            // counted by a query of their own, as a client-side table cannot be shipped.
            let engine = &cluster.options.engine;
            let (staged, rows_read) = engine::stage(ctx, source, &cluster.options).await?;
            let deduped = engine::read_staged(&cluster.ctx, engine, &staged)
                .await?
                .aggregate(keys, firsts)?;
            let n_dedup = deduped.clone().count().await.map_err(run_failed(
                pipeline,
                Some(cluster),
                "de-duplication",
            ))? as u64;
            (rows_read, n_dedup, deduped, Some(staged))
        }
    };
    if n_dedup == 0 {
        return Err(Error::Data(format!(
            "no rows left after cleaning ({rows_read} read, 0 after de-duplication)"
        )));
    }
    let mut q = deduped;
    let mut sample = None;
    if let Some(max_rows) = pipeline.max_rows.filter(|&m| n_dedup > m) {
        let (keep, rate) = sample_filter(max_rows, n_dedup);
        q = q.filter(keep)?;
        let kept = q
            .clone()
            .count()
            .await
            .map_err(run_failed(pipeline, cluster, "sampling"))? as u64;
        sample = Some(Sample {
            max_rows,
            rate,
            rows_left_out: n_dedup - kept,
        });
    }
    for f in &flat.filters {
        q = q.filter(f.clone())?;
    }
    let batches = q.select(select)?.collect().await.map_err(run_failed(
        pipeline,
        cluster,
        "running the pipeline",
    ))?;
    let out = in_row_order(batches, 0)?;
    step("the SQL");
    if out.num_rows() == 0 {
        return Err(Error::Data(format!(
            "no rows left after cleaning ({} read, {} after de-duplication, 0 after the SQL filters)",
            rows_read,
            n_dedup - sample.as_ref().map_or(0, |s| s.rows_left_out)
        )));
    }
    let n = out.num_rows();
    let mut row_ids: Vec<u64> = out.column(0).as_primitive::<UInt64Type>().values().to_vec();
    let n_raw = raw_schema.fields.len();
    let mut raw_cols: Vec<Col> = (0..n_raw)
        .map(|i| Col::new(&raw_schema.fields[i].name, out.column(1 + i)))
        .collect::<Result<_>>()?;
    let out_col = |i: usize| out.column(1 + n_raw + i);

    let labels = labels(pipeline, &Col::new(&pipeline.target, out_col(target_idx))?)?;
    let mut splits: Vec<Split> = match (&pipeline.split, split_idx) {
        (SplitRule::Hash { train, validation }, _) => row_ids
            .iter()
            .map(|&r| hash_split(r, *train, *validation))
            .collect(),
        (SplitRule::Column(c), Some(i)) => {
            let vals = Col::new(c, out_col(i))?;
            (0..vals.len())
                .map(|r| match vals.is_null(r) {
                    true => None,
                    false => Split::parse(&vals.key(r)),
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    Error::Data(format!(
                        "split column {c} must hold train, valid or test in every row"
                    ))
                })?
        }
        (SplitRule::Column(_), None) => unreachable!("split column resolved above"),
    };

    step("labels and split");

    let mut features: Vec<FeatureColumn> = Vec::with_capacity(feature_idx.len());
    for (k, &i) in feature_idx.iter().enumerate() {
        let name = names[i];
        let array = out_col(i);
        let categorical = match array.data_type() {
            t if matches!(
                compile::online_type(t),
                Some(
                    riskfn_core::features::value::DataType::Str
                        | riskfn_core::features::value::DataType::Bool
                )
            ) =>
            {
                true
            }
            t if compile::online_type(t).is_some() => {
                let declared = pipeline.categorical.iter().any(|c| c == name);
                if declared && matches!(t, ArrowType::Float32 | ArrowType::Float64) {
                    return Err(Error::ColumnType {
                        column: name.to_owned(),
                        message: "declared categorical but holds floats; cast it to an integer or string in SQL".into(),
                    });
                }
                declared
            }
            t => {
                return Err(Error::ColumnType {
                    column: name.to_owned(),
                    message: format!(
                        "feature of type {t} is not supported; cast it in SQL to a number or a string"
                    ),
                });
            }
        };
        features.push(FeatureColumn {
            name: name.to_owned(),
            online: online[k].clone(),
            categorical,
            values: Col::new(name, array)?,
        });
    }

    step("feature columns");
    let mut groups: Vec<Vec<Arc<str>>> = Vec::with_capacity(protected_idx.len());
    for (a, &i) in pipeline.protected.iter().zip(&protected_idx) {
        let c = Col::new(&a.column, out_col(i))?;
        groups.push(c.map_values(|v| Arc::from(a.group(v))));
    }
    step("protected groups");
    let mut labels = labels;
    let mut dropped_missing = 0;
    if pipeline.missing == MissingPolicy::Drop {
        let keep: Vec<bool> = (0..n)
            .map(|r| {
                features.iter().all(|f| {
                    if f.categorical {
                        !f.values.is_null(r)
                    } else {
                        f.values.number(r).is_some()
                    }
                })
            })
            .collect();
        dropped_missing = keep.iter().filter(|k| !**k).count() as u64;
        retain(&mut row_ids, &keep);
        retain(&mut labels, &keep);
        retain(&mut splits, &keep);
        for g in groups.iter_mut() {
            retain(g, &keep);
        }
        let mask = arrow::array::BooleanArray::from(keep);
        for c in raw_cols.iter_mut() {
            *c = c.filter(&mask)?;
        }
        for f in features.iter_mut() {
            f.values = f.values.filter(&mask)?;
        }
        if row_ids.is_empty() {
            return Err(Error::Data(format!(
                "no rows left after cleaning: all {n} rows have a missing feature value and the pipeline drops them"
            )));
        }
    }
    // Raw fields: requests may omit those the (kept) data itself leaves empty.
    for (f, vals) in raw_schema.fields.iter_mut().zip(&raw_cols) {
        f.nullable = vals.has_nulls();
    }

    step("missing values");
    parity::verify(&features, &population, &raw_cols, &row_ids)?;
    step("parity check");

    let mut split_counts: BTreeMap<String, SplitCount> = BTreeMap::new();
    for s in Split::ALL {
        split_counts.insert(s.name().to_owned(), SplitCount::default());
    }
    for (s, &y) in splits.iter().zip(&labels) {
        let c = split_counts.entry(s.name().to_owned()).or_default();
        c.rows += 1;
        c.positives += u64::from(y);
    }
    for (name, c) in &split_counts {
        if c.positives == 0 || c.positives == c.rows {
            return Err(Error::Data(format!(
                "the {name} split has {} rows of which {} adverse ({}={}); each split needs both outcomes",
                c.rows, c.positives, pipeline.target, pipeline.positive
            )));
        }
    }
    Ok(Prepared {
        raw_schema,
        features,
        row_ids,
        labels,
        groups,
        protected_online,
        protected_fields,
        population,
        splits,
        summary: DataSummary {
            source: source_uri,
            fingerprint,
            rows_read,
            duplicates_dropped: rows_read - n_dedup,
            rows_filtered: n_dedup - sample.as_ref().map_or(0, |s| s.rows_left_out) - n as u64,
            rows_dropped_missing: dropped_missing,
            sample,
            split: split_counts,
        },
    })
}

/// What the online side runs, compiled from the flattened SQL.
struct Compiled {
    /// Each feature's expression; these fix which raw fields requests carry.
    online: Vec<Online>,
    raw_schema: RawSchema,
    /// The SQL's filters on applicants, over the same raw fields.
    population: Vec<Rule>,
    /// Per protected attribute, its column compiled over the raw fields of
    /// `protected_fields` (requests never carry them); `None` if it cannot run online.
    protected_online: Vec<Option<Online>>,
    protected_fields: Vec<String>,
}

/// Compile the features (at `feature_idx` of the SQL's output), the population rules
/// (filters reading none of `training_only`) and the protected columns (at
/// `protected_idx`) for the online side.
fn compile_online(
    pipeline: &Pipeline,
    flat: &Flat,
    raw_schema_arrow: &arrow::datatypes::Schema,
    (feature_idx, protected_idx): (&[usize], &[usize]),
    training_only: &[&str],
) -> Result<Compiled> {
    let mut builder = OnlineSchemaBuilder::new(raw_schema_arrow);
    let online = (feature_idx.iter())
        .map(|&i| to_online(&flat.columns[i].0, &flat.columns[i].1, &mut builder))
        .collect::<Result<Vec<_>>>()?;
    let population = compile::population_rules(flat, training_only, &mut builder)?;
    let raw_schema = builder.finish();
    let mut protected_builder = OnlineSchemaBuilder::new(raw_schema_arrow);
    let protected_online: Vec<Option<Online>> = pipeline
        .protected
        .iter()
        .zip(protected_idx)
        .map(|(a, &i)| {
            to_online(&a.column, &flat.columns[i].1, &mut protected_builder)
                .inspect_err(|e| {
                    tracing::warn!(attribute = %a.name, error = %e, "a protected column cannot be computed from a raw record: riskfn drift will not measure it")
                })
                .ok()
        })
        .collect();
    let protected_fields: Vec<String> = protected_builder
        .finish()
        .fields
        .into_iter()
        .map(|f| f.name)
        .collect();
    Ok(Compiled {
        online,
        raw_schema,
        population,
        protected_online,
        protected_fields,
    })
}

/// The source de-duplicated on this machine, in no order: each distinct row (its first)
/// once, with its row id and, if any, id column's value; and the rows read.
/// `failed` tells what a failed query means.
///
/// The same aggregate a cluster runs (on every raw column but the id, keeping the smallest
/// row id), fed by the ordered stream shared by one partition per core: the result does
/// not depend on which core a row went to, so the decoding and the aggregate run on every
/// core. Only the result, usually as large as the source, is materialised.
async fn dedup_local(
    ctx: &SessionContext,
    source: Source,
    keys: &[Expr],
    firsts: &[Expr],
    failed: &(dyn Fn(DataFusionError) -> Error + Sync),
) -> Result<(u64, Vec<RecordBatch>)> {
    let numbered = source.numbered();
    let (rows, failure) = (numbered.rows.clone(), numbered.failure.clone());
    let table = numbered.into_shared_table(crate::source::cores())?;
    let batches = ctx
        .read_table(table)?
        .aggregate(keys.to_vec(), firsts.to_vec())?
        .collect()
        .await
        .map_err(|e| failure.blame(failed(e)))?;
    let rows_read = rows.load(std::sync::atomic::Ordering::Relaxed);
    Ok((rows_read, batches))
}

/// How a failed query is reported: a SQL error here, an engine error on a cluster.
fn run_failed<'a>(
    pipeline: &'a Pipeline,
    cluster: Option<&'a Cluster>,
    what: &'a str,
) -> impl Fn(datafusion::error::DataFusionError) -> Error + 'a {
    move |e| match cluster {
        None => Error::Sql {
            file: pipeline.name.clone(),
            message: format!("{what} failed: {}", e.strip_backtrace()),
        },
        Some(c) => Error::Engine {
            engine: c.options.engine.to_string(),
            message: format!("{what} failed: {}", e.strip_backtrace()),
        },
    }
}

/// The predicate that keeps about `max_rows` of `rows` de-duplicated rows, and its rate:
/// the first 32 bits of md5(row position) below `rate` of their range. Built from
/// DataFusion's own functions, so a cluster's stock executors evaluate it too, and a
/// function of the position alone, so a run draws the same sample on any engine.
fn sample_filter(max_rows: u64, rows: u64) -> (Expr, f64) {
    use datafusion::functions::crypto::expr_fn::md5;
    use datafusion::functions::unicode::expr_fn::left;
    use datafusion::prelude::{cast, lit};
    let bound = ((max_rows as f64 / rows as f64) * 4_294_967_296.0).floor() as u64;
    let rate = bound as f64 / 4_294_967_296.0;
    let prefix = left(md5(cast(col(ROW_ID), ArrowType::Utf8)), lit(8i64));
    (prefix.lt(lit(format!("{bound:08x}"))), rate)
}

/// Keep the elements whose `keep` flag is set.
fn retain<T>(v: &mut Vec<T>, keep: &[bool]) {
    let mut i = 0;
    v.retain(|_| {
        i += 1;
        keep[i - 1]
    });
}

/// The target as booleans (adverse = the configured positive value), with checks.
fn labels(pipeline: &Pipeline, target: &Col) -> Result<Vec<bool>> {
    let n = target.len();
    let nulls = (0..n).filter(|&r| target.is_null(r)).count();
    if nulls > 0 {
        return Err(Error::Data(format!(
            "target {} is NULL in {nulls} rows; filter them out in the SQL",
            pipeline.target
        )));
    }
    let distinct: BTreeSet<String> = (target.count_keys(0..n).into_keys())
        .map(Cow::into_owned)
        .collect();
    if distinct.len() != 2 || !distinct.contains(&pipeline.positive) {
        let shown: Vec<_> = distinct.iter().take(5).map(|s| format!("{s:?}")).collect();
        return Err(Error::Data(format!(
            "target {} must have exactly two classes including the adverse value {:?}; found {} class(es): {}",
            pipeline.target,
            pipeline.positive,
            distinct.len(),
            shown.join(", ")
        )));
    }
    Ok((0..n)
        .map(|r| target.key(r) == pipeline.positive.as_str())
        .collect())
}

/// The batches as one, rows in the order of their row ids (column `ids`), the order
/// training sees whatever order the engine returned them in: each column gathered once, on
/// every core, and its source freed as soon as it is (the table is not held twice).
/// Batches already in order are taken as they are: one batch is not copied.
fn in_row_order(batches: Vec<RecordBatch>, ids: usize) -> Result<RecordBatch> {
    let Some(first) = batches.first() else {
        return Ok(RecordBatch::new_empty(Arc::new(
            arrow::datatypes::Schema::empty(),
        )));
    };
    let schema = first.schema();
    let Some(at) = row_order(&batches, ids) else {
        return Ok(arrow::compute::concat_batches(&schema, &batches)?);
    };
    // Each column's arrays, taken out of the batches: the last holder of each.
    let mut by_column: Vec<Vec<ArrayRef>> =
        vec![Vec::with_capacity(batches.len()); schema.fields().len()];
    for batch in batches {
        for (arrays, a) in by_column.iter_mut().zip(batch.columns()) {
            arrays.push(Arc::clone(a));
        }
    }
    let columns = by_column
        .into_par_iter()
        .map(|arrays| {
            let arrays: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
            interleave(&arrays, &at)
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// Where each row is (batch, row), in the order of the row ids in column `ids`; `None`
/// when the batches are in that order already.
fn row_order(batches: &[RecordBatch], ids: usize) -> Option<Vec<(usize, usize)>> {
    let id_values = |b: &RecordBatch| b.column(ids).as_primitive::<UInt64Type>().clone();
    let mut last = 0;
    let ordered = batches.iter().all(|b| {
        id_values(b).values().iter().all(|&id| {
            let next = id > last;
            last = id;
            next
        })
    });
    if ordered {
        return None;
    }
    // Row ids are distinct numbers from 1 to the rows read: each row is put in its id's
    // place, and the places read in order (no sort).
    let last = batches
        .iter()
        .flat_map(|b| id_values(b).values().iter().copied().max())
        .max()
        .unwrap_or(0);
    let mut place: Vec<(u32, u32)> = vec![(u32::MAX, 0); last as usize + 1];
    for (b, batch) in batches.iter().enumerate() {
        for (r, &id) in id_values(batch).values().iter().enumerate() {
            place[id as usize] = (b as u32, r as u32);
        }
    }
    Some(
        place
            .into_iter()
            .filter(|&(b, _)| b != u32::MAX)
            .map(|(b, r)| (b as usize, r as usize))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    /// 200 rows, the last 100 repeating the first: 29 string columns (`s0` of `s0_values`
    /// strings, the others of 3), an integer column that tells the first 100 apart, and an
    /// id column whose value differs in every row.
    fn repeated_rows(s0_values: usize) -> RecordBatch {
        let r: Vec<usize> = (0..200).map(|r| r % 100).collect();
        let mut fields = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for c in 0..29 {
            fields.push(Field::new(format!("s{c}"), ArrowType::Utf8, true));
            let value = |&r: &usize| match c {
                0 => format!("v{}", r % s0_values),
                c => format!("{}", (r + c) % 3),
            };
            columns.push(Arc::new(StringArray::from_iter_values(r.iter().map(value))));
        }
        fields.push(Field::new("i", ArrowType::Int64, false));
        columns.push(Arc::new(Int64Array::from_iter_values(
            r.iter().map(|&r| r as i64),
        )));
        fields.push(Field::new("id", ArrowType::Int64, false));
        columns.push(Arc::new(Int64Array::from_iter_values(1000..1200)));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    /// Batches out of order come back as one, in the order of their row ids (gaps left by
    /// rows dropped included); batches in order are taken as they are.
    #[test]
    fn batches_are_put_in_row_order() {
        let batch = |ids: Vec<u64>, names: Vec<&str>| {
            let schema = Schema::new(vec![
                Field::new("name", ArrowType::Utf8, false),
                Field::new(ROW_ID, ArrowType::UInt64, false),
            ]);
            let columns: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from(names)),
                Arc::new(arrow::array::UInt64Array::from(ids)),
            ];
            RecordBatch::try_new(Arc::new(schema), columns).unwrap()
        };
        let shuffled = [
            batch(vec![7, 2, 9], vec!["g", "b", "i"]),
            batch(vec![1, 4], vec!["a", "d"]),
        ];
        let out = in_row_order(shuffled.to_vec(), 1).unwrap();
        let ids = out.column(1).as_primitive::<UInt64Type>().values().to_vec();
        assert_eq!(ids, [1, 2, 4, 7, 9]);
        let names: Vec<&str> = out.column(0).as_string::<i32>().iter().flatten().collect();
        assert_eq!(names, ["a", "b", "d", "g", "i"]);
        let ordered = [batch(vec![1, 3], vec!["a", "c"]), batch(vec![8], vec!["h"])];
        let out = in_row_order(ordered.to_vec(), 1).unwrap();
        assert_eq!(out.num_rows(), 3);
        assert!(row_order(&ordered, 1).is_none());
    }

    /// De-duplication keeps each distinct row's first, in row order, with its row id and
    /// its id column's value, whether the file stores strings by dictionary or plain, in
    /// one row group or many.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dedup_keeps_each_rows_first_in_order() {
        for (s0_values, dictionaries, group_rows) in
            [(16, false, 1000), (100, true, 1000), (17, true, 7)]
        {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("repeated.parquet");
            let batch = repeated_rows(s0_values);
            let file = std::fs::File::create(&path).unwrap();
            let props = parquet::file::properties::WriterProperties::builder()
                .set_dictionary_enabled(dictionaries)
                .set_max_row_group_row_count(Some(group_rows))
                .build();
            let mut w =
                parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
            w.write(&batch).unwrap();
            w.close().unwrap();

            let ctx = crate::source::session().unwrap();
            let source = crate::source::open(&ctx, path.to_str().unwrap())
                .await
                .unwrap();
            let keys: Vec<Expr> = (batch.schema().fields().iter())
                .filter(|f| f.name() != "id")
                .map(|f| col(f.name()))
                .collect();
            let firsts = [
                min(col(ROW_ID)).alias(ROW_ID),
                first_value(col("id"), vec![col(ROW_ID).sort(true, false)]).alias("id"),
            ];
            let fail = |e: DataFusionError| Error::Data(e.to_string());
            let (rows_read, batches) = dedup_local(&ctx, source, &keys, &firsts, &fail)
                .await
                .unwrap();
            assert_eq!(rows_read, 200);
            let rows = in_row_order(batches.clone(), keys.len()).unwrap();
            let ids = rows.column_by_name(ROW_ID).unwrap();
            let want: Vec<u64> = (1..=100).collect();
            assert_eq!(ids.as_primitive::<UInt64Type>().values().to_vec(), want);
            for f in batch.schema().fields() {
                let got = rows.column_by_name(f.name()).unwrap();
                let got = arrow::compute::cast(got, f.data_type()).unwrap();
                assert_eq!(
                    &got,
                    &batch.column_by_name(f.name()).unwrap().slice(0, 100),
                    "{} ({s0_values} strings in s0, dictionaries {dictionaries}, groups of {group_rows})",
                    f.name()
                );
            }
        }
    }
}
