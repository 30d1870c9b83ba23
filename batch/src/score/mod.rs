//! Batch scoring: a published version over the rows of a data file, through DataFusion and
//! the `riskfn_predict` function, i.e. the same [`Scorer`] the online handler uses.

pub mod decisions;
pub mod udf;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType as ArrowType, Field, Schema};
use parquet::arrow::ArrowSchemaConverter;
use parquet::arrow::arrow_writer::{ArrowRowGroupWriterFactory, compute_leaves};
use parquet::basic::Encoding;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;
use riskfn_core::features::value::{DataType, Value};
use riskfn_core::scoring::Scorer;

use crate::error::{Error, Result};
use crate::prepare::field_names;
use crate::source::{ROW_ID, RawData};
use crate::values::column::Col;
use crate::values::field::FieldColumn;

use riskfn_core::registry::Registry;
use riskfn_core::registry::s3::S3Settings;
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
            Ok(Col::of_field(f, batch.column(idx))?.values())
        })
        .collect()
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
/// reason a row could not be scored), `outside_population` (the population rule a row
/// scored although outside breaks), in source order. Batches are scored on every core by
/// [`crate::score::udf::score_columns`], the function SQL's `riskfn_predict` runs.
pub fn score(scorer: &Arc<Scorer>, raw: RawData, explain: bool) -> Result<Vec<RecordBatch>> {
    let batch_schema = raw
        .batches
        .first()
        .map_or(raw.schema.clone(), |b| b.schema());
    let scores = Scores::new(scorer, &raw.uri, &raw.schema, &batch_schema)?;
    raw.batches
        .par_iter()
        .map(|b| scores.of(b, explain))
        .collect()
}

/// What [`score`] writes for a source: its schema, and where each raw field and the id
/// column are in the source's batches.
struct Scores {
    scorer: Arc<Scorer>,
    schema: arrow::datatypes::SchemaRef,
    fields: Vec<usize>,
    id: Option<usize>,
}

impl Scores {
    /// `schema`: the source's columns; `batch_schema`: its batches' (their string types).
    fn new(
        scorer: &Arc<Scorer>,
        uri: &str,
        schema: &Schema,
        batch_schema: &Schema,
    ) -> Result<Self> {
        let artifact = scorer.artifact();
        let fields = artifact
            .raw_schema
            .fields
            .iter()
            .map(|f| {
                batch_schema
                    .index_of(&f.name)
                    .map_err(|_| Error::MissingColumn {
                        column: f.name.clone(),
                        relation: uri.to_owned(),
                        available: field_names(schema),
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let id = artifact
            .id_column
            .as_deref()
            .and_then(|c| batch_schema.index_of(c).ok());
        let mut out = vec![Field::new(OUT_ROW_ID, ArrowType::UInt64, false)];
        if let Some(i) = id {
            out.push(batch_schema.field(i).clone());
        }
        out.extend(
            crate::score::udf::result_fields()
                .iter()
                .map(|f| f.as_ref().clone()),
        );
        Ok(Scores {
            scorer: scorer.clone(),
            schema: Arc::new(Schema::new(out)),
            fields,
            id,
        })
    }

    /// One source batch's scores.
    fn of(&self, batch: &RecordBatch, explain: bool) -> Result<RecordBatch> {
        let columns = self
            .scorer
            .artifact()
            .raw_schema
            .fields
            .iter()
            .zip(&self.fields)
            .map(|(f, &i)| FieldColumn::new(f, batch.column(i)))
            .collect::<Result<Vec<_>>>()?;
        let scored =
            crate::score::udf::score_columns(&self.scorer, &columns, batch.num_rows(), explain)?;
        let mut out: Vec<ArrayRef> = vec![
            batch
                .column_by_name(ROW_ID)
                .ok_or_else(|| Error::Data("row ids missing".into()))?
                .clone(),
        ];
        if let Some(i) = self.id {
            out.push(batch.column(i).clone());
        }
        out.extend(scored.columns().iter().cloned());
        Ok(RecordBatch::try_new(self.schema.clone(), out)?)
    }
}

/// The scores' column of source row positions.
const OUT_ROW_ID: &str = "row_id";

/// How a file of `schema` is written: the defaults, but row positions (an integer
/// `row_id`, counting up by one) delta-encoded without a dictionary: a few bytes a page
/// instead of eight a row, a third of a scores file.
fn properties(schema: &Schema) -> WriterProperties {
    let mut props = WriterProperties::builder();
    if let Ok(f) = schema.field_with_name(OUT_ROW_ID)
        && f.data_type().is_integer()
    {
        let path = ColumnPath::from(OUT_ROW_ID);
        props = props
            .set_column_dictionary_enabled(path.clone(), false)
            .set_column_encoding(path, Encoding::DELTA_BINARY_PACKED);
    }
    props.build()
}

/// Rows per Parquet row group written by [`write_parquet`] (whole batches, so about).
const ROW_GROUP_ROWS: usize = 1 << 20;

/// Write batches as one Parquet file, beside the target first and renamed into place, so a
/// failed run never leaves a partial file.
pub fn write_parquet(path: &Path, batches: &[RecordBatch]) -> Result<()> {
    let Some(schema) = batches.first().map(RecordBatch::schema) else {
        return Err(Error::Data("nothing to write".into()));
    };
    let mut w = ParquetOut::create(path, schema)?;
    let (mut start, mut rows) = (0, 0);
    for (i, b) in batches.iter().enumerate() {
        rows += b.num_rows();
        if rows >= ROW_GROUP_ROWS || i + 1 == batches.len() {
            w.write_group(&batches[start..=i])?;
            (start, rows) = (i + 1, 0);
        }
    }
    w.finish()
}

/// A Parquet file written a row group at a time, into a file beside the target that
/// [`ParquetOut::finish`] renames into place (dropped unfinished, it is removed). A row
/// group's columns are encoded on every core (the parquet crate's column writers).
pub struct ParquetOut {
    path: PathBuf,
    tmp: PathBuf,
    schema: arrow::datatypes::SchemaRef,
    writer: Option<SerializedFileWriter<std::fs::File>>,
    factory: ArrowRowGroupWriterFactory,
    groups: usize,
}

impl ParquetOut {
    pub fn create(path: &Path, schema: arrow::datatypes::SchemaRef) -> Result<ParquetOut> {
        let props = Arc::new(properties(&schema));
        let parquet_schema = ArrowSchemaConverter::new()
            .with_coerce_types(props.coerce_types())
            .convert(&schema)
            .map_err(|e| parquet_err(path, e))?;
        let tmp = path.with_extension("parquet.partial");
        let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let writer = SerializedFileWriter::new(file, parquet_schema.root_schema_ptr(), props)
            .map_err(|e| parquet_err(path, e))?;
        let factory = ArrowRowGroupWriterFactory::new(&writer, schema.clone());
        Ok(ParquetOut {
            path: path.to_owned(),
            tmp,
            schema,
            writer: Some(writer),
            factory,
            groups: 0,
        })
    }

    /// Write `batches` as the next row group.
    pub fn write_group(&mut self, batches: &[RecordBatch]) -> Result<()> {
        let pq = |e| parquet_err(&self.path, e);
        let leaves = batches
            .iter()
            .map(|b| {
                let mut leaves = Vec::new();
                for (f, a) in self.schema.fields().iter().zip(b.columns()) {
                    leaves.extend(compute_leaves(f, a)?);
                }
                Ok(leaves)
            })
            .collect::<parquet::errors::Result<Vec<Vec<_>>>>()
            .map_err(pq)?;
        let chunks = self
            .factory
            .create_column_writers(self.groups)
            .map_err(pq)?
            .into_par_iter()
            .enumerate()
            .map(|(k, mut w)| {
                for l in &leaves {
                    w.write(&l[k])?;
                }
                w.close()
            })
            .collect::<parquet::errors::Result<Vec<_>>>()
            .map_err(pq)?;
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| Error::Data("the scores file is closed".into()))?;
        let mut rg = writer.next_row_group().map_err(pq)?;
        for c in chunks {
            c.append_to_row_group(&mut rg).map_err(pq)?;
        }
        rg.close().map_err(pq)?;
        self.groups += 1;
        Ok(())
    }

    /// Close the file and move it into place.
    pub fn finish(mut self) -> Result<()> {
        if let Some(w) = self.writer.take() {
            w.close().map_err(|e| parquet_err(&self.path, e))?;
        }
        std::fs::rename(&self.tmp, &self.path).map_err(|e| Error::io(&self.path, e))?;
        self.groups = usize::MAX;
        Ok(())
    }
}

impl Drop for ParquetOut {
    fn drop(&mut self) {
        // Not finished: the partial file goes.
        if self.groups != usize::MAX {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn parquet_err(path: &Path, e: parquet::errors::ParquetError) -> Error {
    Error::Data(format!("writing {}: {e}", path.display()))
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
    pub engine: crate::source::engine::EngineOptions,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScoreReport {
    pub pipeline: String,
    pub version: String,
    pub rows: u64,
    pub scored: u64,
    pub failed: u64,
    pub out: String,
    /// Where the run's decisions are kept in the store.
    pub decisions: String,
    /// Wall time of each step: read, score, write.
    pub seconds: BTreeMap<String, f64>,
}

/// Score every row of a data file with a published version; rows that fail validation get
/// their reason in the `error` column and no score. Read here, the source streams through:
/// about a row group's worth of rows is scored and written while the next is read, so
/// memory stays bounded whatever the source's size. Read by a cluster, the rows come back
/// whole first.
pub async fn score_file(opts: &ScoreOptions) -> Result<ScoreReport> {
    let registry =
        Registry::new(riskfn_core::registry::store::open_with(&opts.store, &opts.s3).await?);
    let version = registry
        .resolve(&opts.pipeline, opts.version.as_deref())
        .await?;
    let scorer = Arc::new(registry.load(&opts.pipeline, &version).await?.scorer);
    let cluster = crate::source::engine::Cluster::connect(&opts.engine, &opts.s3).await?;
    let ctx = crate::source::session()?;
    let source = crate::source::open_with(&ctx, &opts.data, &opts.s3).await?;
    let started = std::time::Instant::now();
    let mut seconds = BTreeMap::new();
    let mut steps = Steps::default();
    let (rows, failed) = match cluster {
        Some(c) => {
            let t = std::time::Instant::now();
            let raw = source.read_with_engine(Some(&c)).await?;
            steps.read += t.elapsed().as_secs_f64();
            let t = std::time::Instant::now();
            let out = score(&scorer, raw, opts.reasons)?;
            steps.score += t.elapsed().as_secs_f64();
            let t = std::time::Instant::now();
            write_parquet(&opts.out, &out)?;
            steps.write += t.elapsed().as_secs_f64();
            (out.iter().map(RecordBatch::num_rows).sum(), failures(&out))
        }
        None => stream_scores(scorer.clone(), source, &opts.out, opts.reasons, &mut steps).await?,
    };
    // The decisions, kept in the store as online ones are (outcomes are joined to them).
    let t = std::time::Instant::now();
    let decisions = decisions::keep(
        registry.store().as_ref(),
        &opts.pipeline,
        &version,
        &opts.out,
        scorer.artifact().id_column.as_deref(),
    )
    .await?;
    seconds.insert("read".to_owned(), steps.read);
    seconds.insert("score".to_owned(), steps.score);
    seconds.insert("write".to_owned(), steps.write + t.elapsed().as_secs_f64());
    seconds.insert("total".to_owned(), started.elapsed().as_secs_f64());
    Ok(ScoreReport {
        pipeline: opts.pipeline.clone(),
        decisions,
        version,
        rows: rows as u64,
        scored: (rows - failed) as u64,
        failed: failed as u64,
        out: opts.out.display().to_string(),
        seconds,
    })
}

/// Seconds spent in each step; streamed, reading overlaps scoring and writing, so `read`
/// is only the time spent waiting for rows.
#[derive(Debug, Default)]
struct Steps {
    read: f64,
    score: f64,
    write: f64,
}

fn failures(out: &[RecordBatch]) -> usize {
    out.iter()
        .filter_map(|b| b.column_by_name("error"))
        .map(|c| c.len() - c.null_count())
        .sum()
}

/// Read `source` as a stream; each row group's worth of batches is scored on a blocking
/// thread while the next is read, and written on another while the next is scored.
/// Returns the rows and the failed rows.
async fn stream_scores(
    scorer: Arc<Scorer>,
    source: crate::source::Source,
    out: &Path,
    explain: bool,
    steps: &mut Steps,
) -> Result<(usize, usize)> {
    use futures::StreamExt;
    type Task<T> = tokio::task::JoinHandle<Result<T>>;
    async fn done<T>(task: Task<T>) -> Result<T> {
        task.await
            .map_err(|e| Error::Data(format!("scoring stopped: {e}")))?
    }
    // The writer back from the group being written, if one is.
    async fn written(
        writing: &mut Option<Task<(ParquetOut, f64)>>,
        writer: &mut Option<ParquetOut>,
        steps: &mut Steps,
    ) -> Result<()> {
        if let Some(w) = writing.take() {
            let (w, seconds) = done(w).await?;
            steps.write += seconds;
            *writer = Some(w);
        }
        Ok(())
    }
    let (uri, schema) = (source.uri.clone(), source.schema.clone());
    // Only the columns the scores need are decoded.
    let artifact = scorer.artifact();
    let mut needed: Vec<&str> = artifact
        .raw_schema
        .fields
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    needed.extend(artifact.id_column.as_deref());
    // Categories are read as the file's dictionaries (not one string view a row).
    let strings: Vec<&str> = artifact
        .raw_schema
        .fields
        .iter()
        .filter(|f| f.data_type == DataType::Str && Some(&f.name) != artifact.id_column.as_ref())
        .map(|f| f.name.as_str())
        .collect();
    let mut numbered = source.only(&needed)?.dictionaries(&strings).numbered();
    // Checked before any row is read: a missing column fails at once.
    let scores = Arc::new(Scores::new(&scorer, &uri, &schema, &numbered.schema)?);
    let mut writer = Some(ParquetOut::create(out, scores.schema.clone())?);
    let mut pending: Vec<RecordBatch> = Vec::new();
    let mut scoring: Option<Task<Scored>> = None;
    let mut writing: Option<Task<(ParquetOut, f64)>> = None;
    let (mut rows, mut failed) = (0, 0);
    // The group being scored, once scored, handed to the writer (after the group before).
    let mut write_next = async |scoring: Task<Scored>,
                                writing: &mut Option<Task<(ParquetOut, f64)>>,
                                writer: &mut Option<ParquetOut>,
                                steps: &mut Steps|
           -> Result<()> {
        let scored = done(scoring).await?;
        rows += scored.rows;
        failed += scored.failed;
        steps.score += scored.seconds;
        written(writing, writer, steps).await?;
        let mut w = writer
            .take()
            .ok_or_else(|| Error::Data("the scores file is closed".into()))?;
        *writing = Some(tokio::task::spawn_blocking(move || {
            let t = std::time::Instant::now();
            w.write_group(&scored.batches)?;
            Ok((w, t.elapsed().as_secs_f64()))
        }));
        Ok(())
    };
    let mut ended = false;
    while !ended {
        let t = std::time::Instant::now();
        let next = numbered.stream.next().await;
        steps.read += t.elapsed().as_secs_f64();
        match next {
            Some(b) => pending.push(b.map_err(|e| numbered.failure.blame(e.into()))?),
            None => ended = true,
        }
        let group_rows: usize = pending.iter().map(RecordBatch::num_rows).sum();
        if group_rows >= ROW_GROUP_ROWS || (ended && !pending.is_empty()) {
            if let Some(task) = scoring.take() {
                write_next(task, &mut writing, &mut writer, steps).await?;
            }
            let group = std::mem::take(&mut pending);
            let scores = scores.clone();
            scoring = Some(tokio::task::spawn_blocking(move || {
                let t = std::time::Instant::now();
                let batches = group
                    .par_iter()
                    .map(|b| scores.of(b, explain))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Scored {
                    rows: batches.iter().map(RecordBatch::num_rows).sum(),
                    failed: failures(&batches),
                    batches,
                    seconds: t.elapsed().as_secs_f64(),
                })
            }));
        }
    }
    if let Some(task) = scoring.take() {
        write_next(task, &mut writing, &mut writer, steps).await?;
    }
    written(&mut writing, &mut writer, steps).await?;
    if rows == 0 {
        return Err(Error::Data(format!("{uri}: no rows to score")));
    }
    writer
        .ok_or_else(|| Error::Data("the scores file is closed".into()))?
        .finish()?;
    Ok((rows, failed))
}

/// A row group scored.
struct Scored {
    batches: Vec<RecordBatch>,
    rows: usize,
    failed: usize,
    seconds: f64,
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
    let registry =
        Registry::new(riskfn_core::registry::store::open_with(&opts.store, &opts.s3).await?);
    let mut scorers = BTreeMap::new();
    for p in &opts.pipelines {
        let version = registry.resolve(p, None).await?;
        scorers.insert(
            p.clone(),
            std::sync::Arc::new(registry.load(p, &version).await?.scorer),
        );
    }
    let ctx = crate::source::session()?;
    ctx.register_udf(crate::score::udf::PredictUdf::udf(scorers));
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
