//! Reading a pipeline's source into memory, in file order, with each row's 1-based
//! position attached (the row id the default split hashes).

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionConfig, SessionContext};
use riskfn_core::artifact::sha256_hex;
use riskfn_core::s3::S3Settings;

use crate::error::{Error, Result};

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

/// The session every batch step runs in. A large file is read on every core: DataFusion
/// splits its scan into contiguous byte ranges, one partition each, in file order, so the
/// partitions put end to end keep the file's row order (tested below). Identifiers are
/// taken as written (`Status` is the column `Status`), since source columns are often
/// CamelCase.
pub fn session() -> SessionContext {
    SessionContext::new_with_config(config())
}

fn config() -> SessionConfig {
    let mut config = SessionConfig::new()
        .with_repartition_file_scans(true)
        .with_information_schema(false);
    config.options_mut().sql_parser.enable_ident_normalization = false;
    config
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    Parquet,
    Csv,
}

fn format_of(name: &str) -> Option<Format> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    match ext.as_str() {
        "parquet" | "parq" => Some(Format::Parquet),
        "csv" => Some(Format::Csv),
        _ => None,
    }
}

/// One file of a source: where DataFusion reads it, and what identifies its content.
#[derive(Debug)]
struct SourceFile {
    url: String,
    format: Format,
    /// Local: sha256 of the bytes; S3: ETag and size.
    identity: String,
}

fn source_err(uri: &str, message: impl Into<String>) -> Error {
    Error::Source {
        source_uri: uri.to_owned(),
        message: message.into(),
    }
}

/// The files a local source names: the file itself, or a folder's Parquet/CSV files
/// sorted by name. Parquet tails are checked here.
fn local_files(uri: &str) -> Result<Vec<SourceFile>> {
    let path = PathBuf::from(uri.strip_prefix("file://").unwrap_or(uri));
    let meta = std::fs::metadata(&path).map_err(|e| source_err(uri, e.to_string()))?;
    let mut paths: Vec<(PathBuf, Format)> = if meta.is_file() {
        let f = format_of(&path.to_string_lossy())
            .ok_or_else(|| source_err(uri, "unknown format: expected a .parquet or .csv file"))?;
        vec![(path, f)]
    } else {
        std::fs::read_dir(&path)
            .map_err(|e| source_err(uri, e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .filter_map(|p| format_of(&p.to_string_lossy()).map(|f| (p, f)))
            .collect()
    };
    paths.sort_by(|a, b| a.0.cmp(&b.0));
    paths
        .into_iter()
        .map(|(p, format)| {
            let url = p.to_string_lossy().into_owned();
            let bytes = std::fs::read(&p).map_err(|e| source_err(&url, e.to_string()))?;
            if format == Format::Parquet {
                let tail = &bytes[bytes.len().saturating_sub(8)..];
                check_parquet_tail(&bytes[..bytes.len().min(4)], tail, bytes.len() as u64)
                    .map_err(|m| source_err(&url, format!("not a readable Parquet file: {m}")))?;
            }
            Ok(SourceFile {
                identity: sha256_hex(&bytes),
                url,
                format,
            })
        })
        .collect()
}

/// The files an `s3://bucket/key` source names (an object, or the Parquet/CSV objects under
/// a prefix, sorted by key); registers the bucket with the session.
async fn s3_files(ctx: &SessionContext, uri: &str, s3: &S3Settings) -> Result<Vec<SourceFile>> {
    use object_store::path::Path as ObjPath;
    use object_store::{ObjectStore, ObjectStoreExt};

    let rest = uri.trim_start_matches("s3://");
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(source_err(uri, "no bucket in the URI"));
    }
    let mut b = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_virtual_hosted_style_request(!s3.path_style);
    if let Some(e) = &s3.endpoint {
        b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
    }
    if let Some(r) = &s3.region {
        b = b.with_region(r);
    }
    if let (Some(id), Some(secret)) = (&s3.access_key_id, &s3.secret_access_key) {
        b = b.with_access_key_id(id).with_secret_access_key(secret);
    }
    if let Some(t) = &s3.session_token {
        b = b.with_token(t);
    }
    let store = Arc::new(b.build().map_err(|e| source_err(uri, e.to_string()))?);
    let base =
        url::Url::parse(&format!("s3://{bucket}")).map_err(|e| source_err(uri, e.to_string()))?;
    ctx.register_object_store(&base, store.clone());

    let unreachable = |e: object_store::Error| source_err(uri, format!("S3: {e}"));
    let mut objects = Vec::new();
    let key = key.trim_end_matches('/');
    if format_of(key).is_some() {
        objects.push(store.head(&ObjPath::from(key)).await.map_err(unreachable)?);
    } else {
        use futures::TryStreamExt;
        let prefix = (!key.is_empty()).then(|| ObjPath::from(key));
        let mut listed: Vec<_> = store
            .list(prefix.as_ref())
            .try_collect()
            .await
            .map_err(unreachable)?;
        listed.retain(|m| format_of(m.location.as_ref()).is_some());
        listed.sort_by(|a, b| a.location.cmp(&b.location));
        if listed.is_empty() {
            return Err(source_err(
                uri,
                "no .parquet or .csv objects under this prefix",
            ));
        }
        objects = listed;
    }
    let mut files = Vec::with_capacity(objects.len());
    for m in objects {
        let url = format!("s3://{bucket}/{}", m.location);
        let format =
            format_of(m.location.as_ref()).ok_or_else(|| source_err(&url, "unknown format"))?;
        if format == Format::Parquet {
            let head = store
                .get_range(&m.location, 0..m.size.min(4))
                .await
                .map_err(unreachable)?;
            let tail = store
                .get_range(&m.location, m.size.saturating_sub(8)..m.size)
                .await
                .map_err(unreachable)?;
            check_parquet_tail(&head, &tail, m.size)
                .map_err(|e| source_err(&url, format!("not a readable Parquet file: {e}")))?;
        }
        files.push(SourceFile {
            identity: format!("{}:{}", m.e_tag.unwrap_or_default(), m.size),
            url,
            format,
        });
    }
    Ok(files)
}

/// Read the whole source in order and number its rows from 1 (S3 settings from the
/// environment).
pub async fn read(ctx: &SessionContext, uri: &str) -> Result<RawData> {
    read_with(ctx, uri, &S3Settings::from_env()).await
}

pub async fn read_with(ctx: &SessionContext, uri: &str, s3: &S3Settings) -> Result<RawData> {
    let files = if uri.starts_with("s3://") {
        s3_files(ctx, uri, s3).await?
    } else {
        local_files(uri)?
    };
    let mut schema: Option<SchemaRef> = None;
    let mut batches = Vec::new();
    let mut identities = String::new();
    for f in &files {
        let bad = |message: String| source_err(&f.url, message);
        identities.push_str(&f.url);
        identities.push('\n');
        identities.push_str(&f.identity);
        identities.push('\n');
        let df = match f.format {
            Format::Parquet => ctx
                .read_parquet(f.url.as_str(), ParquetReadOptions::default())
                .await
                .map_err(|e| {
                    bad(format!(
                        "not a readable Parquet file: {}",
                        e.strip_backtrace()
                    ))
                })?,
            Format::Csv => ctx
                .read_csv(
                    f.url.as_str(),
                    CsvReadOptions::new()
                        .has_header(true)
                        .schema_infer_max_records(100_000),
                )
                .await
                .map_err(|e| bad(format!("not a readable CSV file: {}", e.strip_backtrace())))?,
        };
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
        let parts = df
            .collect_partitioned()
            .await
            .map_err(|e| bad(format!("read failed: {}", e.strip_backtrace())))?;
        batches.extend(parts.into_iter().flatten());
    }
    let schema = schema.ok_or_else(|| source_err(uri, "no files"))?;
    let (batches, rows) = number_rows(&schema, batches)?;
    Ok(RawData {
        uri: uri.to_owned(),
        schema,
        batches,
        rows,
        fingerprint: sha256_hex(identities.as_bytes()),
    })
}

/// The checks a Parquet reader makes of a file's ends, done before the reader sees it:
/// the parquet crate (59.3) panics on a footer length larger than the file.
fn check_parquet_tail(head: &[u8], tail: &[u8], size: u64) -> std::result::Result<(), String> {
    const MAGIC: &[u8] = b"PAR1";
    if size < 12 || tail.len() < 8 {
        return Err(format!("{size} bytes is too short"));
    }
    if head != MAGIC || &tail[4..] != MAGIC {
        return Err("no PAR1 magic at both ends".into());
    }
    let footer = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    if u64::from(footer) > size - 12 {
        return Err(format!(
            "footer length {footer} exceeds the file ({size} bytes)"
        ));
    }
    Ok(())
}

/// Append [`ROW_ID`] (1-based, continuing across batches) to every batch.
fn number_rows(schema: &SchemaRef, batches: Vec<RecordBatch>) -> Result<(Vec<RecordBatch>, u64)> {
    if schema.field_with_name(ROW_ID).is_ok() {
        return Err(Error::Data(format!(
            "the source has a column named {ROW_ID}, which is reserved"
        )));
    }
    let mut fields: Vec<Arc<Field>> = schema.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(ROW_ID, DataType::UInt64, false)));
    let numbered = Arc::new(Schema::new(fields));
    let mut next = 1u64;
    let mut out = Vec::with_capacity(batches.len());
    for b in batches {
        let n = b.num_rows() as u64;
        let ids: ArrayRef = Arc::new(UInt64Array::from_iter_values(next..next + n));
        next += n;
        let mut cols = b.columns().to_vec();
        cols.push(ids);
        out.push(RecordBatch::try_new(numbered.clone(), cols)?);
    }
    Ok((out, next - 1))
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

    /// Row ids are file positions even when the scan is split across partitions: a file of
    /// many row groups, read on 4 partitions, comes back in its own order.
    #[tokio::test]
    async fn split_scans_keep_file_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ordered.parquet");
        let n = 50_000i64;
        let schema = Arc::new(Schema::new(vec![Field::new("i", DataType::Int64, false)]));
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(1_000))
            .build();
        let mut w = ArrowWriter::try_new(
            std::fs::File::create(&path).unwrap(),
            schema.clone(),
            Some(props),
        )
        .unwrap();
        let values: ArrayRef = Arc::new(Int64Array::from_iter_values(0..n));
        w.write(&RecordBatch::try_new(schema, vec![values]).unwrap())
            .unwrap();
        w.close().unwrap();

        let ctx = SessionContext::new_with_config(
            config()
                .with_target_partitions(4)
                .with_repartition_file_min_size(1),
        );
        let plan = ctx
            .read_parquet(path.to_str().unwrap(), ParquetReadOptions::default())
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        assert_eq!(
            plan.output_partitioning().partition_count(),
            4,
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
}
