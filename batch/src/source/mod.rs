//! Reading a pipeline's source into memory, in file order, with each row's 1-based
//! position attached (the row id the default split hashes).
//!
//! (Its last 120 lines are the unit tests of the ordered read.)

pub mod engine;
mod files;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{ArrayRef, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::Statistics;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use datafusion::prelude::{
    CsvReadOptions, DataFrame, ParquetReadOptions, SessionConfig, SessionContext,
};
use futures::StreamExt;
use riskfn_core::contract::artifact::sha256_hex;
use riskfn_core::registry::s3::S3Settings;

use crate::error::{Error, Result};
use files::{Format, local_files, s3_files};

/// The hidden column holding a row's 1-based position in the source.
pub const ROW_ID: &str = "__row_id";

/// The source's rows, with [`ROW_ID`] appended as the last column.
#[derive(Debug)]
pub struct RawData {
    pub uri: String,
    /// The source's own schema (without the row id).
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub rows: u64,
    /// sha256 over the source files' names and bytes, in order.
    pub fingerprint: String,
}

impl RawData {
    /// Column `name` over every batch, cast to `to`; `None` if the source has no such
    /// column.
    pub fn column_as(&self, name: &str, to: &DataType) -> Result<Option<ArrayRef>> {
        let Ok(i) = self.schema.index_of(name) else {
            return Ok(None);
        };
        let parts: Vec<ArrayRef> = (self.batches.iter())
            .map(|b| arrow::compute::cast(b.column(i), to))
            .collect::<std::result::Result<_, _>>()?;
        let refs: Vec<&dyn arrow::array::Array> = parts.iter().map(|a| a.as_ref()).collect();
        Ok(Some(match refs.is_empty() {
            true => arrow::array::new_empty_array(to),
            false => arrow::compute::concat(&refs)?,
        }))
    }

    /// [`column_as`](Self::column_as), or [`missing`](Self::missing) when there is none.
    pub fn required_as(&self, name: &str, to: &DataType, what: &str) -> Result<ArrayRef> {
        self.column_as(name, to)?
            .ok_or_else(|| self.missing(name, what))
    }

    /// Column `name` is missing: the error names it, the file (`what` it is, as "the
    /// outcome file", and its URI) and the columns it has.
    pub fn missing(&self, name: &str, what: &str) -> Error {
        Error::MissingColumn {
            column: name.to_owned(),
            relation: format!("{what} {}", self.uri),
            available: crate::prepare::field_names(&self.schema),
        }
    }
}

/// The session every batch step runs in. A large file is read on every core: DataFusion
/// splits its scan into contiguous byte ranges, one partition each, in file order, so the
/// partitions put end to end keep the file's row order (tested below). Identifiers are
/// taken as written (`Status` is the column `Status`), since source columns are often
/// CamelCase.
///
/// Any other DataFusion setting can be given by its own environment variable
/// (`datafusion.execution.batch_size` as `DATAFUSION_EXECUTION_BATCH_SIZE`); a value it
/// refuses is an error naming the variable.
pub fn session() -> Result<SessionContext> {
    Ok(SessionContext::new_with_config(config()?))
}

fn config() -> Result<SessionConfig> {
    config_with(|name| std::env::var(name).ok())
}

/// The session's settings, with those `var` (the environment) names.
fn config_with(var: impl Fn(&str) -> Option<String>) -> Result<SessionConfig> {
    let mut options = datafusion::config::ConfigOptions::new();
    for entry in options.entries() {
        let name = entry.key.replace('.', "_").to_uppercase();
        if let Some(value) = var(&name) {
            options.set(&entry.key, &value).map_err(|e| Error::Env {
                name,
                message: e.strip_backtrace(),
            })?;
        }
    }
    let mut config = SessionConfig::from(options)
        .with_repartition_file_scans(true)
        .with_information_schema(false);
    config.options_mut().sql_parser.enable_ident_normalization = false;
    // Each scan partition reads only its own byte range: row positions depend on it (an
    // idle partition would otherwise take over a sibling's ranges, out of order).
    config
        .options_mut()
        .execution
        .enable_file_stream_work_stealing = false;
    Ok(config)
}

fn source_err(uri: &str, message: impl Into<String>) -> Error {
    Error::Source {
        source_uri: uri.to_owned(),
        message: message.into(),
    }
}

/// One file as a DataFrame of `ctx`, by its format.
async fn read_file(ctx: &SessionContext, url: &str, format: Format) -> DFResult<DataFrame> {
    match format {
        Format::Parquet => ctx.read_parquet(url, ParquetReadOptions::default()).await,
        Format::Csv => {
            let options = CsvReadOptions::new()
                .has_header(true)
                .schema_infer_max_records(100_000);
            ctx.read_csv(url, options).await
        }
    }
}

/// The source's schema with [`ROW_ID`] appended.
fn with_row_id(schema: &Schema) -> SchemaRef {
    let mut fields: Vec<Arc<Field>> = schema.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(ROW_ID, DataType::UInt64, false)));
    Arc::new(Schema::new(fields))
}

/// A source resolved to its files and schema, not yet read; a clone reads it again.
#[derive(Debug, Clone)]
pub struct Source {
    pub uri: String,
    /// The source's own schema (without the row id).
    pub schema: SchemaRef,
    /// sha256 over the source files' names and identities, in order.
    pub fingerprint: String,
    files: Vec<(String, Format, DataFrame)>,
    /// String columns read as dictionaries (see [`Source::dictionaries`]).
    dictionaries: Vec<String>,
}

/// List the source's files, check each one's head and tail and that all share one schema
/// (S3 settings from the environment).
pub async fn open(ctx: &SessionContext, uri: &str) -> Result<Source> {
    open_with(ctx, uri, &S3Settings::from_env()?).await
}

pub async fn open_with(ctx: &SessionContext, uri: &str, s3: &S3Settings) -> Result<Source> {
    let listed = if uri.starts_with("s3://") {
        s3_files(ctx, uri, s3).await?
    } else {
        local_files(uri)?
    };
    // Files are planned as many small scans (ranges of about SPLIT_BYTES), so that reading
    // them in order, a few at a time, keeps every core busy and memory bounded.
    let bytes: u64 = listed.iter().map(|f| f.size).sum();
    let base = ctx.copied_config();
    let splits = ((bytes / SPLIT_BYTES) as usize).clamp(base.target_partitions(), 1024);
    let scan =
        SessionContext::new_with_config_rt(base.with_target_partitions(splits), ctx.runtime_env());
    let mut schema: Option<SchemaRef> = None;
    let mut files = Vec::with_capacity(listed.len());
    let mut identities = String::new();
    for f in listed {
        let bad = |message: String| source_err(&f.url, message);
        identities.push_str(&f.url);
        identities.push('\n');
        identities.push_str(&f.identity);
        identities.push('\n');
        let kind = match f.format {
            Format::Parquet => "Parquet",
            Format::Csv => "CSV",
        };
        let df = read_file(&scan, &f.url, f.format).await.map_err(|e| {
            bad(format!(
                "not a readable {kind} file: {}",
                e.strip_backtrace()
            ))
        })?;
        let file_schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        match &schema {
            None => schema = Some(file_schema.clone()),
            Some(s) if s.fields() == file_schema.fields() => {}
            Some(_) => {
                return Err(bad(
                    "its columns or types differ from the first file's".into()
                ));
            }
        }
        files.push((f.url, f.format, df));
    }
    let schema = schema.ok_or_else(|| source_err(uri, "no files"))?;
    if schema.field_with_name(ROW_ID).is_ok() {
        return Err(Error::Data(format!(
            "the source has a column named {ROW_ID}, which is reserved"
        )));
    }
    Ok(Source {
        uri: uri.to_owned(),
        schema,
        fingerprint: sha256_hex(identities.as_bytes()),
        files,
        dictionaries: Vec::new(),
    })
}

/// Batches handed on ahead of the consumer.
const AHEAD: usize = 2;

/// Batches each scan range being read decodes ahead of its turn (about 256K rows): a
/// compressible file packs millions of rows in a range, which memory need not hold (on
/// this machine every fresh page of memory costs microseconds of kernel time).
const RANGE_AHEAD: usize = 32;

/// The size of one scan range (see [`open_with`]).
const SPLIT_BYTES: u64 = 8 << 20;

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// The source's rows as one stream, in file order, with [`ROW_ID`] appended; see
/// [`Source::numbered`].
pub struct Numbered {
    pub schema: SchemaRef,
    pub stream: SendableRecordBatchStream,
    /// Rows handed on so far (all of them once the stream has ended).
    pub rows: Arc<AtomicU64>,
    /// The first read failure, naming its file (a query over the stream fails with
    /// DataFusion's wording of it; this says which file was at fault).
    pub failure: ReadFailure,
}

/// The first failure of a source stream, kept for whoever consumed the stream.
#[derive(Debug, Clone, Default)]
pub struct ReadFailure(Arc<Mutex<Option<Error>>>);

impl ReadFailure {
    fn record(&self, e: Error) {
        if let Ok(mut f) = self.0.lock() {
            f.get_or_insert(e);
        }
    }

    /// The read failure if there was one, else `e`.
    pub fn blame(&self, e: Error) -> Error {
        self.0.lock().ok().and_then(|mut f| f.take()).unwrap_or(e)
    }
}

impl std::fmt::Debug for Numbered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Numbered")
            .field("rows", &self.rows)
            .finish()
    }
}

impl Numbered {
    /// The stream as a table of `parts` partitions that share it: each batch goes to the
    /// partition that asks first, so the query's first steps run on every core. The
    /// partitions' batches are not in reading order: for queries whose result does not
    /// depend on it (an aggregate that keeps the smallest row number). The table can be
    /// scanned once.
    pub fn into_shared_table(self, parts: usize) -> Result<Arc<dyn TableProvider>> {
        let shared = Arc::new(tokio::sync::Mutex::new(self.stream));
        let partitions = (0..parts.max(1))
            .map(|_| {
                Arc::new(SharedScan {
                    schema: self.schema.clone(),
                    shared: shared.clone(),
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        Ok(Arc::new(StreamingTable::try_new(self.schema, partitions)?))
    }
}

impl Source {
    /// The source reduced to those of its columns `keep` names, in the source's order (the
    /// others are never decoded); names it lacks are left for the caller to report.
    pub fn only(mut self, keep: &[&str]) -> Result<Source> {
        let kept: Vec<usize> = (0..self.schema.fields().len())
            .filter(|&i| keep.contains(&self.schema.field(i).name().as_str()))
            .collect();
        if kept.len() == self.schema.fields().len() {
            return Ok(self);
        }
        let schema = Arc::new(
            self.schema
                .project(&kept)
                .map_err(|e| source_err(&self.uri, e.to_string()))?,
        );
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        for (url, _, df) in &mut self.files {
            *df = df
                .clone()
                .select_columns(&names)
                .map_err(|e| source_err(url, e.strip_backtrace()))?;
        }
        self.schema = schema;
        Ok(self)
    }

    /// The source with those of its string columns `names` names read as dictionaries
    /// (`Dictionary(Int32, Utf8)`): a Parquet column stored by dictionary, as categories
    /// are, then arrives as the file's own small dictionary and a 4-byte key a row, not
    /// decoded into a string view a row. Only when every file is Parquet (a CSV file has
    /// no dictionaries); otherwise the source is returned as it was.
    pub fn dictionaries(mut self, names: &[&str]) -> Source {
        if self.files.iter().any(|(_, f, _)| *f != Format::Parquet) {
            return self;
        }
        self.schema = with_dictionaries(&self.schema, names);
        self.dictionaries = self
            .schema
            .fields()
            .iter()
            .filter(|f| matches!(f.data_type(), DataType::Dictionary(..)))
            .map(|f| f.name().clone())
            .collect();
        self
    }

    /// The schema [`Source::numbered`] reads into.
    pub fn numbered_schema(&self) -> SchemaRef {
        with_row_id(&self.schema)
    }

    /// Read every file in order, each file's scan split into byte ranges read on every core
    /// and handed on in order (a few batches ahead each), numbering rows from 1: memory stays
    /// bounded whatever the source's size. Must run inside a Tokio runtime.
    pub fn numbered(self) -> Numbered {
        let schema = with_row_id(&self.schema);
        let rows = Arc::new(AtomicU64::new(0));
        let failure = ReadFailure::default();
        let (tx, rx) = tokio::sync::mpsc::channel::<DFResult<RecordBatch>>(AHEAD);
        let (out_schema, counter, failed) = (schema.clone(), rows.clone(), failure.clone());
        tokio::spawn(async move {
            for (url, _, df) in self.files {
                let fail = |e: DataFusionError| {
                    let err = source_err(&url, format!("read failed: {}", e.strip_backtrace()));
                    let message = err.to_string();
                    failed.record(err);
                    DataFusionError::Execution(message)
                };
                let df_ctx = Arc::new(df.task_ctx());
                let plan = match df.create_physical_plan().await.and_then(|p| {
                    match self.dictionaries.is_empty() {
                        true => Ok(p),
                        false => read_as_dictionaries(p, &self.dictionaries),
                    }
                }) {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.send(Err(fail(e))).await;
                        return;
                    }
                };
                // A window of scan ranges decoded at once, each a bounded way ahead of
                // the consumer; handed on in order, the next range starting as the oldest
                // one's turn comes.
                let parts = plan.output_partitioning().partition_count();
                let task_ctx = df_ctx.clone();
                let start = |p: usize| {
                    let stream = plan.execute(p, task_ctx.clone());
                    let (tx, rx) = tokio::sync::mpsc::channel(RANGE_AHEAD);
                    let task = tokio::spawn(async move {
                        let mut stream = match stream {
                            Ok(s) => s,
                            Err(e) => {
                                let _ = tx.send(Err(e)).await;
                                return;
                            }
                        };
                        while let Some(b) = stream.next().await {
                            let failed = b.is_err();
                            if tx.send(b).await.is_err() || failed {
                                return;
                            }
                        }
                    });
                    (rx, task)
                };
                let window = cores() + 1;
                let mut reading: std::collections::VecDeque<_> =
                    (0..parts.min(window)).map(start).collect();
                let mut next = reading.len();
                while let Some((mut range, task)) = reading.pop_front() {
                    if next < parts {
                        reading.push_back(start(next));
                        next += 1;
                    }
                    while let Some(b) = range.recv().await {
                        let numbered = match b {
                            Ok(b) => number(&out_schema, &counter, b).map_err(Into::into),
                            Err(e) => {
                                let _ = tx.send(Err(fail(e))).await;
                                return;
                            }
                        };
                        if tx.send(numbered).await.is_err() {
                            return;
                        }
                    }
                    // A range whose task died ends its channel early: never a silent gap.
                    if let Err(e) = task.await {
                        let _ = tx
                            .send(Err(fail(DataFusionError::External(Box::new(e)))))
                            .await;
                        return;
                    }
                }
            }
        });
        let stream =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
        Numbered {
            schema: schema.clone(),
            stream: Box::pin(RecordBatchStreamAdapter::new(schema, stream)),
            rows,
            failure,
        }
    }

    /// Read the whole source into memory, numbered.
    pub async fn read(self) -> Result<RawData> {
        let (uri, schema, fingerprint) = (
            self.uri.clone(),
            self.schema.clone(),
            self.fingerprint.clone(),
        );
        let mut numbered = self.numbered();
        let mut batches = Vec::new();
        while let Some(b) = numbered.stream.next().await {
            batches.push(b.map_err(|e| numbered.failure.blame(e.into()))?);
        }
        Ok(RawData {
            uri,
            schema,
            batches,
            rows: numbered.rows.load(Ordering::Relaxed),
            fingerprint,
        })
    }
}

impl Source {
    /// Read the whole source through a Ballista cluster, numbered: its executors scan and
    /// decode each file (reaching S3 with the session's `s3.*` options) and the rows come
    /// back here in file order.
    pub async fn read_on(self, cluster: &SessionContext) -> Result<RawData> {
        let schema = with_row_id(&self.schema);
        let next = AtomicU64::new(0);
        let mut batches = Vec::new();
        for (url, format, _) in &self.files {
            let bad = |e: DataFusionError| {
                source_err(
                    url,
                    format!("read on the cluster failed: {}", e.strip_backtrace()),
                )
            };
            let df = read_file(cluster, url, *format).await.map_err(bad)?;
            for b in df.collect().await.map_err(bad)? {
                // Executors may hand strings back as Utf8 where a local scan gives Utf8View:
                // the rows take the types a local read gives, so both engines score alike.
                let columns = b
                    .columns()
                    .iter()
                    .zip(self.schema.fields())
                    .map(|(c, f)| match c.data_type() == f.data_type() {
                        true => Ok(c.clone()),
                        false => arrow::compute::cast(c, f.data_type()),
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                let b = RecordBatch::try_new(self.schema.clone(), columns)?;
                batches.push(number(&schema, &next, b)?);
            }
        }
        Ok(RawData {
            uri: self.uri,
            schema: self.schema,
            batches,
            rows: next.load(Ordering::Relaxed),
            fingerprint: self.fingerprint,
        })
    }

    /// Read the whole source here, or through `cluster`.
    pub async fn read_with_engine(
        self,
        cluster: Option<&crate::source::engine::Cluster>,
    ) -> Result<RawData> {
        match cluster {
            None => self.read().await,
            Some(c) => self.read_on(&c.ctx).await,
        }
    }
}

/// `schema` with its string columns that `names` names as dictionaries of strings with
/// 32-bit keys.
fn with_dictionaries(schema: &Schema, names: &[impl AsRef<str>]) -> SchemaRef {
    let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let fields: Vec<Arc<Field>> = schema
        .fields()
        .iter()
        .map(|f| {
            let named = names.iter().any(|n| n.as_ref() == f.name());
            let string = matches!(
                f.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            );
            match named && string {
                true => Arc::new(f.as_ref().clone().with_data_type(dictionary.clone())),
                false => f.clone(),
            }
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `plan` with its Parquet scans reading the string columns `names` as dictionaries. The
/// parquet crate keeps a column chunk's dictionary when the schema it is handed asks for
/// one; DataFusion hands it one only when each file carries its own Arrow schema, so the
/// scans are rebuilt with that schema (the files, ranges and projection as planned).
fn read_as_dictionaries(
    plan: Arc<dyn ExecutionPlan>,
    names: &[String],
) -> DFResult<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let Some(exec) = node.downcast_ref::<DataSourceExec>() else {
            return Ok(Transformed::no(node));
        };
        let Some((config, parquet)) = exec.downcast_to_file_source::<ParquetSource>() else {
            return Ok(Transformed::no(node));
        };
        let schema = with_dictionaries(config.file_schema(), names);
        let projection = node
            .schema()
            .fields()
            .iter()
            .map(|f| schema.index_of(f.name()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut source = ParquetSource::new(schema.clone())
            .with_table_parquet_options(parquet.table_parquet_options().clone());
        if let Some(factory) = parquet.parquet_file_reader_factory() {
            source = source.with_parquet_file_reader_factory(factory.clone());
        }
        let groups = config
            .file_groups
            .iter()
            .map(|g| {
                FileGroup::new(
                    g.iter()
                        .map(|f| f.clone().with_arrow_schema(schema.clone()))
                        .collect(),
                )
            })
            .collect();
        let rebuilt = FileScanConfigBuilder::from(config.clone())
            .with_source(Arc::new(source))
            .with_file_groups(groups)
            .with_statistics(Statistics::new_unknown(&schema))
            .with_projection_indices(Some(projection))?
            .build();
        Ok(Transformed::yes(
            DataSourceExec::from_data_source(rebuilt) as Arc<dyn ExecutionPlan>
        ))
    })
    .data()
}

/// Append the next row ids to a batch.
fn number(
    schema: &SchemaRef,
    next: &AtomicU64,
    b: RecordBatch,
) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    let n = b.num_rows() as u64;
    let first = next.fetch_add(n, Ordering::Relaxed) + 1;
    let ids: ArrayRef = Arc::new(UInt64Array::from_iter_values(first..first + n));
    let mut cols = b.columns().to_vec();
    cols.push(ids);
    RecordBatch::try_new(schema.clone(), cols)
}

/// One partition of a stream shared by several (see [`Numbered::into_shared_table`]).
struct SharedScan {
    schema: SchemaRef,
    shared: Arc<tokio::sync::Mutex<SendableRecordBatchStream>>,
}

impl std::fmt::Debug for SharedScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedScan").finish_non_exhaustive()
    }
}

impl PartitionStream for SharedScan {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let batches = futures::stream::unfold(self.shared.clone(), |shared| async move {
            let next = shared.lock().await.next().await;
            next.map(|b| (b, shared))
        });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), batches))
    }
}

/// Read the whole source in order and number its rows from 1 (S3 settings from the
/// environment).
pub async fn read(ctx: &SessionContext, uri: &str) -> Result<RawData> {
    read_with(ctx, uri, &S3Settings::from_env()?).await
}

pub async fn read_with(ctx: &SessionContext, uri: &str, s3: &S3Settings) -> Result<RawData> {
    open_with(ctx, uri, s3).await?.read().await
}

impl From<arrow::error::ArrowError> for Error {
    fn from(e: arrow::error::ArrowError) -> Self {
        Error::DataFusion(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::Int64Type;
    use datafusion::physical_plan::ExecutionPlanProperties;
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    /// `batch` written to `path` as Parquet in row groups of 1,000 rows.
    fn write_groups_of_1000(path: &std::path::Path, batch: RecordBatch) {
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(1_000))
            .build();
        let file = std::fs::File::create(path).unwrap();
        let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    /// A DataFusion setting is taken from its environment variable; a value DataFusion
    /// refuses is an error naming the variable; the settings row order depends on cannot
    /// be changed.
    #[test]
    fn settings_come_from_datafusions_environment_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                (pairs.iter())
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let defaults = config_with(env(&[])).unwrap();
        let execution = &defaults.options().execution;
        assert_eq!(
            execution.skip_partial_aggregation_probe_rows_threshold,
            100_000
        );
        let set = config_with(env(&[
            ("DATAFUSION_EXECUTION_BATCH_SIZE", "1024"),
            (
                "DATAFUSION_EXECUTION_SKIP_PARTIAL_AGGREGATION_PROBE_ROWS_THRESHOLD",
                "1",
            ),
            (
                "DATAFUSION_EXECUTION_ENABLE_FILE_STREAM_WORK_STEALING",
                "true",
            ),
        ]))
        .unwrap();
        let execution = &set.options().execution;
        assert_eq!(set.batch_size(), 1024);
        assert_eq!(execution.skip_partial_aggregation_probe_rows_threshold, 1);
        assert!(!execution.enable_file_stream_work_stealing);
        match config_with(env(&[("DATAFUSION_EXECUTION_BATCH_SIZE", "many")])) {
            Err(Error::Env { name, .. }) => assert_eq!(name, "DATAFUSION_EXECUTION_BATCH_SIZE"),
            other => panic!("{other:?}"),
        }
    }

    /// A session splitting any file's scan into `parts` ranges.
    fn split_session(parts: usize) -> SessionContext {
        SessionContext::new_with_config(
            config()
                .unwrap()
                .with_target_partitions(parts)
                .with_repartition_file_min_size(1),
        )
    }

    /// Row ids are file positions even when the scan is split across partitions: a file of
    /// many row groups, read as 8 ranges (more than the window read at once, so ranges start
    /// as others are handed on), comes back in its own order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn split_scans_keep_file_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ordered.parquet");
        let n = 50_000i64;
        let schema = Arc::new(Schema::new(vec![Field::new("i", DataType::Int64, false)]));
        let values: ArrayRef = Arc::new(Int64Array::from_iter_values(0..n));
        write_groups_of_1000(&path, RecordBatch::try_new(schema, vec![values]).unwrap());

        let ctx = split_session(8);
        let plan = ctx
            .read_parquet(path.to_str().unwrap(), ParquetReadOptions::default())
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        assert_eq!(
            plan.output_partitioning().partition_count(),
            8,
            "scan not split"
        );

        let raw = read(&ctx, path.to_str().unwrap()).await.unwrap();
        assert_eq!(raw.rows, n as u64);
        let mut expect = 0i64;
        for b in &raw.batches {
            let i = b.column(0).as_primitive::<Int64Type>();
            let ids = b.column(1).as_primitive::<arrow::datatypes::UInt64Type>();
            for r in 0..b.num_rows() {
                assert_eq!(i.value(r), expect);
                assert_eq!(ids.value(r), expect as u64 + 1);
                expect += 1;
            }
        }
    }

    /// Columns read as dictionaries hold the strings a plain read gives, row for row, in a
    /// scan split into ranges and reduced to some of the columns.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dictionaries_hold_the_plain_reads_strings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("categories.parquet");
        let n = 20_000;
        let schema = Arc::new(Schema::new(vec![
            Field::new("s", DataType::Utf8, true),
            Field::new("t", DataType::Utf8, false),
            Field::new("i", DataType::Int64, false),
        ]));
        let levels = ["A11", "A12", "a level longer than twelve bytes"];
        let s = arrow::array::StringArray::from_iter(
            (0..n).map(|r| (r % 7 != 0).then(|| levels[r % 3])),
        );
        let t = arrow::array::StringArray::from_iter_values((0..n).map(|r| format!("t{r}")));
        let i = Int64Array::from_iter_values(0..n as i64);
        let columns: Vec<ArrayRef> = vec![Arc::new(s), Arc::new(t), Arc::new(i)];
        write_groups_of_1000(&path, RecordBatch::try_new(schema, columns).unwrap());

        let ctx = split_session(4);
        let url = path.to_str().unwrap();
        let plain = read(&ctx, url).await.unwrap();
        let source = open(&ctx, url)
            .await
            .unwrap()
            .only(&["s", "i"])
            .unwrap()
            .dictionaries(&["s", "i"]);
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        assert_eq!(source.schema.field(0).data_type(), &dict);
        assert_eq!(source.schema.field(1).data_type(), &DataType::Int64);
        let read = source.read().await.unwrap();
        assert_eq!(read.rows, n as u64);
        let column = |batches: &[RecordBatch], c: usize| {
            let parts: Vec<ArrayRef> = batches
                .iter()
                .map(|b| arrow::compute::cast(b.column(c), &DataType::Utf8).unwrap())
                .collect();
            let parts: Vec<&dyn arrow::array::Array> = parts.iter().map(|a| a.as_ref()).collect();
            arrow::compute::concat(&parts)
                .unwrap()
                .as_string::<i32>()
                .clone()
        };
        assert!(
            read.batches
                .iter()
                .all(|b| b.column(0).data_type() == &dict)
        );
        assert_eq!(column(&read.batches, 0), column(&plain.batches, 0));
        assert_eq!(column(&read.batches, 1), column(&plain.batches, 2));
        assert_eq!(column(&read.batches, 2), column(&plain.batches, 3));
    }
}
