//! Batch scoring: a published version over the rows of a data file, through DataFusion and
//! the `riskfn_predict` function, i.e. the same [`Scorer`] the online handler uses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType as ArrowType, Field, Schema};
use parquet::arrow::ArrowSchemaConverter;
use parquet::arrow::arrow_writer::{ArrowRowGroupWriterFactory, compute_leaves};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;
use riskfn_core::schema::RawField;
use riskfn_core::scoring::Scorer;
use riskfn_core::value::{DataType, Value};

use crate::compile::online_type;
use crate::convert::{self, FieldColumn};
use crate::error::{Error, Result};
use crate::prepare::field_names;
use crate::source::{ROW_ID, RawData};

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

/// Score every row of `raw` with `scorer`: the columns `row_id`, the id column if the
/// source has it, `probability`, `decision`, `points`, `reasons`, `version`, `error` (the
/// reason a row could not be scored), in source order. Batches are scored on every core by
/// [`crate::udf::score_columns`], the function SQL's `riskfn_predict` runs.
pub fn score(scorer: &Scorer, raw: RawData, explain: bool) -> Result<Vec<RecordBatch>> {
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
    let id = artifact
        .id_column
        .as_deref()
        .filter(|c| raw.schema.index_of(c).is_ok());
    let mut fields = vec![Field::new("row_id", ArrowType::UInt64, false)];
    if let Some(c) = id {
        let batch_schema = raw
            .batches
            .first()
            .map_or(raw.schema.clone(), |b| b.schema());
        fields.push(batch_schema.field_with_name(c)?.clone());
    }
    let results = crate::udf::result_fields();
    fields.extend(results.iter().map(|f| f.as_ref().clone()));
    let schema = Arc::new(Schema::new(fields));
    raw.batches
        .par_iter()
        .map(|batch| {
            let columns = artifact
                .raw_schema
                .fields
                .iter()
                .map(|f| FieldColumn::new(f, batch.column(raw.schema.index_of(&f.name)?)))
                .collect::<Result<Vec<_>>>()?;
            let scored = crate::udf::score_columns(scorer, &columns, batch.num_rows(), explain)?;
            let mut out: Vec<ArrayRef> = vec![
                batch
                    .column_by_name(ROW_ID)
                    .ok_or_else(|| Error::Data("row ids missing".into()))?
                    .clone(),
            ];
            if let Some(c) = id {
                out.push(batch.column(raw.schema.index_of(c)?).clone());
            }
            out.extend(scored.columns().iter().cloned());
            Ok(RecordBatch::try_new(schema.clone(), out)?)
        })
        .collect()
}

/// Rows per Parquet row group written by [`write_parquet`] (whole batches, so about).
const ROW_GROUP_ROWS: usize = 1 << 20;

/// Write batches as one Parquet file, beside the target first and renamed into place, so a
/// failed run never leaves a partial file. Row groups and their columns are encoded on
/// every core (the parquet crate's column writers), then written in order.
pub fn write_parquet(path: &Path, batches: &[RecordBatch]) -> Result<()> {
    let Some(schema) = batches.first().map(RecordBatch::schema) else {
        return Err(Error::Data("nothing to write".into()));
    };
    let pq =
        |e: parquet::errors::ParquetError| Error::Data(format!("writing {}: {e}", path.display()));
    let props = Arc::new(WriterProperties::default());
    let parquet_schema = ArrowSchemaConverter::new()
        .with_coerce_types(props.coerce_types())
        .convert(&schema)
        .map_err(pq)?;
    let mut groups: Vec<&[RecordBatch]> = Vec::new();
    let (mut start, mut rows) = (0, 0);
    for (i, b) in batches.iter().enumerate() {
        rows += b.num_rows();
        if rows >= ROW_GROUP_ROWS || i + 1 == batches.len() {
            groups.push(&batches[start..=i]);
            (start, rows) = (i + 1, 0);
        }
    }
    let tmp = path.with_extension("parquet.partial");
    let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let mut writer =
        SerializedFileWriter::new(file, parquet_schema.root_schema_ptr(), props).map_err(pq)?;
    let factory = ArrowRowGroupWriterFactory::new(&writer, schema.clone());
    let encoded = groups
        .par_iter()
        .enumerate()
        .map(|(g, group)| {
            let leaves = group
                .iter()
                .map(|b| {
                    let mut leaves = Vec::new();
                    for (f, a) in schema.fields().iter().zip(b.columns()) {
                        leaves.extend(compute_leaves(f, a)?);
                    }
                    Ok(leaves)
                })
                .collect::<parquet::errors::Result<Vec<Vec<_>>>>()?;
            factory
                .create_column_writers(g)?
                .into_par_iter()
                .enumerate()
                .map(|(k, mut w)| {
                    for l in &leaves {
                        w.write(&l[k])?;
                    }
                    w.close()
                })
                .collect::<parquet::errors::Result<Vec<_>>>()
        })
        .collect::<parquet::errors::Result<Vec<_>>>()
        .map_err(pq)?;
    for chunks in encoded {
        let mut rg = writer.next_row_group().map_err(pq)?;
        for c in chunks {
            c.append_to_row_group(&mut rg).map_err(pq)?;
        }
        rg.close().map_err(pq)?;
    }
    writer.close().map_err(pq)?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct ScoreOptions {
    pub pipeline: String,
    pub version: Option<String>,
    pub data: String,
    pub out: PathBuf,
    /// Explain each score (the `reasons` column); false leaves it empty.
    pub reasons: bool,
    pub store: String,
    pub s3: S3Settings,
    /// Where the source is read: here, or by a Ballista cluster's executors (the model
    /// is applied here either way).
    pub engine: crate::engine::EngineOptions,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScoreReport {
    pub pipeline: String,
    pub version: String,
    pub rows: u64,
    pub scored: u64,
    pub failed: u64,
    pub out: String,
    /// Wall time of each step: read, score, write.
    pub seconds: BTreeMap<String, f64>,
}

/// Score every row of a data file with a published version; rows that fail validation get
/// their reason in the `error` column and no score.
pub async fn score_file(opts: &ScoreOptions) -> Result<ScoreReport> {
    let registry = Registry::new(riskfn_core::store::open_with(&opts.store, &opts.s3).await?);
    let version = registry
        .resolve(&opts.pipeline, opts.version.as_deref())
        .await?;
    let loaded = registry.load(&opts.pipeline, &version).await?;
    let cluster = crate::engine::Cluster::connect(&opts.engine, &opts.s3).await?;
    let mut seconds = BTreeMap::new();
    let t = std::time::Instant::now();
    let ctx = crate::source::session();
    let raw = crate::source::open_with(&ctx, &opts.data, &opts.s3)
        .await?
        .read_with_engine(cluster.as_ref())
        .await?;
    seconds.insert("read".to_owned(), t.elapsed().as_secs_f64());
    let t = std::time::Instant::now();
    let out = score(&loaded.scorer, raw, opts.reasons)?;
    seconds.insert("score".to_owned(), t.elapsed().as_secs_f64());
    let t = std::time::Instant::now();
    write_parquet(&opts.out, &out)?;
    seconds.insert("write".to_owned(), t.elapsed().as_secs_f64());
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
        seconds,
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
