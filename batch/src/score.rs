//! Batch scoring: a published version over the rows of a data file, through DataFusion and
//! the `riskfn_predict` function, i.e. the same [`Scorer`] the online handler uses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt64Array};
use datafusion::common::Column;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::{Expr, Partitioning};
use datafusion::prelude::{SessionContext, lit};
use parquet::arrow::ArrowWriter;
use riskfn_core::schema::RawField;
use riskfn_core::scoring::Scorer;
use riskfn_core::value::{DataType, Value};

use crate::compile::online_type;
use crate::convert;
use crate::error::{Error, Result};
use crate::prepare::field_names;
use crate::source::{ROW_ID, RawData};
use crate::udf::PredictUdf;

use riskfn_core::registry::Registry;
use riskfn_core::s3::S3Settings;
use serde::Serialize;

/// The raw fields the version reads, as columns of `raw` (by name, types checked).
fn raw_columns(scorer: &Scorer, raw: &RawData, batch: &RecordBatch) -> Result<Vec<Vec<Value>>> {
    let schema = &scorer.artifact().raw_schema;
    schema
        .fields
        .iter()
        .map(|f| {
            let idx = raw
                .schema
                .index_of(&f.name)
                .map_err(|_| Error::MissingColumn {
                    column: f.name.clone(),
                    relation: raw.uri.clone(),
                    available: field_names(&raw.schema),
                })?;
            field_values(f, batch.column(idx))
        })
        .collect()
}

/// The values of one raw field from an Arrow column: its type must be the field's (an
/// integer column may feed a float field).
pub fn field_values(f: &RawField, array: &ArrayRef) -> Result<Vec<Value>> {
    let got = online_type(array.data_type());
    let ok =
        got == Some(f.data_type) || (got == Some(DataType::Int) && f.data_type == DataType::Float);
    if !ok {
        return Err(Error::ColumnType {
            column: f.name.clone(),
            message: format!(
                "the model reads a {}, the data holds {}",
                f.data_type,
                array.data_type()
            ),
        });
    }
    let mut vals = convert::values(&f.name, array)?;
    if f.data_type == DataType::Float {
        for v in &mut vals {
            if let Value::Int(i) = v {
                *v = Value::Float(*i as f64);
            }
        }
    }
    Ok(vals)
}

/// Call `f(row_id, row)` for every row of `raw`, the row holding the raw fields `scorer`
/// reads, in its raw schema's order.
pub fn for_each_row(
    scorer: &Scorer,
    raw: &RawData,
    mut f: impl FnMut(u64, &[Value]),
) -> Result<()> {
    let mut row = vec![Value::Null; scorer.artifact().raw_schema.fields.len()];
    for batch in &raw.batches {
        let cols = raw_columns(scorer, raw, batch)?;
        let ids = batch
            .column_by_name(ROW_ID)
            .and_then(|a| a.as_any().downcast_ref::<UInt64Array>())
            .ok_or_else(|| Error::Data("row ids missing".into()))?;
        for r in 0..batch.num_rows() {
            for (slot, col) in row.iter_mut().zip(&cols) {
                *slot = col[r].clone();
            }
            f(ids.value(r), &row);
        }
    }
    Ok(())
}

/// Score every row of `raw` with `scorer` through DataFusion and [`PredictUdf`]: the
/// columns `row_id`, the id column if the source has it, `probability`, `decision`,
/// `points`, `reasons`, `version`, `error` (the reason a row could not be scored).
pub async fn score(
    ctx: &SessionContext,
    scorer: Arc<Scorer>,
    raw: RawData,
) -> Result<Vec<RecordBatch>> {
    let artifact = scorer.artifact();
    for f in &artifact.raw_schema.fields {
        if raw.schema.index_of(&f.name).is_err() {
            return Err(Error::MissingColumn {
                column: f.name.clone(),
                relation: raw.uri.clone(),
                available: field_names(&raw.schema),
            });
        }
    }
    let pipeline = artifact.pipeline.clone();
    let id = artifact
        .id_column
        .clone()
        .filter(|c| raw.schema.index_of(c).is_ok());
    let udf = PredictUdf::udf(BTreeMap::from([(pipeline.clone(), scorer.clone())]));
    let mut args = vec![lit(pipeline)];
    args.extend(artifact.raw_schema.fields.iter().map(|f| col(&f.name)));
    let mut select = vec![col(ROW_ID).alias("row_id")];
    select.extend(id.iter().map(|c| col(c)));
    select.push(udf.call(args).alias("score"));
    // Batches are scored on every core, then put back in source order.
    let partitions = ctx.copied_config().target_partitions();
    let scored = ctx
        .read_batches(raw.batches)?
        .repartition(Partitioning::RoundRobinBatch(partitions))?
        .select(select)?;
    let mut out = vec![col("row_id")];
    out.extend(id.iter().map(|c| col(c)));
    out.extend(
        crate::udf::result_fields()
            .iter()
            .map(|f| get_field(col("score"), f.name().as_str()).alias(f.name())),
    );
    Ok(scored
        .select(out)?
        .sort(vec![col("row_id").sort(true, false)])?
        .collect()
        .await?)
}

fn col(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

/// Write batches as one Parquet file, beside the target first and renamed into place, so a
/// failed run never leaves a partial file.
pub fn write_parquet(path: &Path, batches: &[RecordBatch]) -> Result<()> {
    let Some(schema) = batches.first().map(RecordBatch::schema) else {
        return Err(Error::Data("nothing to write".into()));
    };
    let tmp = path.with_extension("parquet.partial");
    let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let mut w = ArrowWriter::try_new(file, schema, None).map_err(|e| Error::Data(e.to_string()))?;
    for b in batches {
        w.write(b).map_err(|e| Error::Data(e.to_string()))?;
    }
    w.close().map_err(|e| Error::Data(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct ScoreOptions {
    pub pipeline: String,
    pub version: Option<String>,
    pub data: String,
    pub out: PathBuf,
    pub store: String,
    pub s3: S3Settings,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScoreReport {
    pub pipeline: String,
    pub version: String,
    pub rows: u64,
    pub scored: u64,
    pub failed: u64,
    pub out: String,
}

/// Score every row of a data file with a published version; rows that fail validation get
/// their reason in the `error` column and no score.
pub async fn score_file(opts: &ScoreOptions) -> Result<ScoreReport> {
    let registry = Registry::new(riskfn_core::store::open_with(&opts.store, &opts.s3).await?);
    let version = registry
        .resolve(&opts.pipeline, opts.version.as_deref())
        .await?;
    let loaded = registry.load(&opts.pipeline, &version).await?;
    let ctx = crate::source::session();
    let raw = crate::source::read_with(&ctx, &opts.data, &opts.s3).await?;
    let out = score(&ctx, std::sync::Arc::new(loaded.scorer), raw).await?;
    write_parquet(&opts.out, &out)?;
    let rows: usize = out.iter().map(RecordBatch::num_rows).sum();
    let failed: usize = out
        .iter()
        .filter_map(|b| b.column_by_name("error"))
        .map(|c| c.len() - c.null_count())
        .sum();
    Ok(ScoreReport {
        pipeline: opts.pipeline.clone(),
        version,
        rows: rows as u64,
        scored: (rows - failed) as u64,
        failed: failed as u64,
        out: opts.out.display().to_string(),
    })
}

#[derive(Debug, Clone)]
pub struct SqlOptions {
    /// Pipelines whose champions `riskfn_predict` may call.
    pub pipelines: Vec<String>,
    /// `name=uri`: sources to query as tables.
    pub tables: Vec<(String, String)>,
    pub query: String,
    pub store: String,
    pub s3: S3Settings,
}

/// Run a query in which `riskfn_predict('<pipeline>', fields...)` scores rows.
pub async fn sql(opts: &SqlOptions) -> Result<Vec<RecordBatch>> {
    let registry = Registry::new(riskfn_core::store::open_with(&opts.store, &opts.s3).await?);
    let mut scorers = BTreeMap::new();
    for p in &opts.pipelines {
        let version = registry.resolve(p, None).await?;
        scorers.insert(
            p.clone(),
            std::sync::Arc::new(registry.load(p, &version).await?.scorer),
        );
    }
    let ctx = crate::source::session();
    ctx.register_udf(crate::udf::PredictUdf::udf(scorers));
    for (name, uri) in &opts.tables {
        let raw = crate::source::read_with(&ctx, uri, &opts.s3).await?;
        // The source's own columns; the row position stays available as __row_id.
        let table = datafusion::catalog::MemTable::try_new(
            raw.batches
                .first()
                .map(RecordBatch::schema)
                .unwrap_or(raw.schema.clone()),
            vec![raw.batches],
        )?;
        ctx.register_table(name.as_str(), std::sync::Arc::new(table))?;
    }
    let df = ctx
        .sql(&opts.query)
        .await
        .map_err(|e| crate::error::Error::Sql {
            file: "--query".into(),
            message: e.strip_backtrace(),
        })?;
    df.collect().await.map_err(|e| crate::error::Error::Sql {
        file: "--query".into(),
        message: e.strip_backtrace(),
    })
}
