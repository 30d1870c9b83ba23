//! Reading a pipeline's source into memory, in file order, with each row's 1-based
//! position attached (the row id the default split hashes).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionConfig, SessionContext};
use riskfn_core::artifact::sha256_hex;

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

/// The session every batch step runs in. File scans are not split into byte ranges, so a
/// file is read as one ordered stream and row positions are stable.
pub fn session() -> SessionContext {
    let config = SessionConfig::new()
        .with_repartition_file_scans(false)
        .with_information_schema(false);
    SessionContext::new_with_config(config)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    Parquet,
    Csv,
}

fn format_of(path: &Path) -> Option<Format> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "parquet" | "parq" => Some(Format::Parquet),
        "csv" => Some(Format::Csv),
        _ => None,
    }
}

/// The files a local source names: the file itself, or a folder's Parquet/CSV files
/// sorted by name.
fn local_files(uri: &str) -> Result<Vec<(PathBuf, Format)>> {
    let path = PathBuf::from(uri.strip_prefix("file://").unwrap_or(uri));
    let bad = |message: String| Error::Source {
        source_uri: uri.to_owned(),
        message,
    };
    let meta = std::fs::metadata(&path).map_err(|e| bad(e.to_string()))?;
    if meta.is_file() {
        let f = format_of(&path)
            .ok_or_else(|| bad("unknown format: expected a .parquet or .csv file".into()))?;
        return Ok(vec![(path, f)]);
    }
    let mut files: Vec<(PathBuf, Format)> = std::fs::read_dir(&path)
        .map_err(|e| bad(e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .filter_map(|p| format_of(&p).map(|f| (p, f)))
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    if files.is_empty() {
        return Err(bad("folder holds no .parquet or .csv files".into()));
    }
    Ok(files)
}

/// Read the whole source in order and number its rows from 1.
pub async fn read(ctx: &SessionContext, uri: &str) -> Result<RawData> {
    let files = local_files(uri)?;
    let mut schema: Option<SchemaRef> = None;
    let mut batches = Vec::new();
    let mut hasher_input = Vec::new();
    for (path, format) in &files {
        let p = path.to_string_lossy().into_owned();
        let bad = |message: String| Error::Source {
            source_uri: p.clone(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        hasher_input.extend_from_slice(path.file_name().unwrap_or_default().as_encoded_bytes());
        hasher_input.extend_from_slice(sha256_hex(&bytes).as_bytes());
        if *format == Format::Parquet {
            check_parquet_footer(&bytes)
                .map_err(|m| bad(format!("not a readable Parquet file: {m}")))?;
        }
        let df = match format {
            Format::Parquet => ctx
                .read_parquet(p.as_str(), ParquetReadOptions::default())
                .await
                .map_err(|e| bad(format!("not a readable Parquet file: {e}")))?,
            Format::Csv => ctx
                .read_csv(
                    p.as_str(),
                    CsvReadOptions::new()
                        .has_header(true)
                        .schema_infer_max_records(100_000),
                )
                .await
                .map_err(|e| bad(format!("not a readable CSV file: {e}")))?,
        };
        let file_schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        match &schema {
            None => schema = Some(file_schema.clone()),
            Some(s) if s.fields() == file_schema.fields() => {}
            Some(s) => {
                return Err(bad(format!(
                    "schema differs from the first file's ({} vs {} columns or other types)",
                    file_schema.fields().len(),
                    s.fields().len()
                )));
            }
        }
        let parts = df
            .collect_partitioned()
            .await
            .map_err(|e| bad(format!("read failed: {e}")))?;
        batches.extend(parts.into_iter().flatten());
    }
    let schema = schema.ok_or_else(|| Error::Source {
        source_uri: uri.to_owned(),
        message: "no files".into(),
    })?;
    let (batches, rows) = number_rows(&schema, batches)?;
    Ok(RawData {
        uri: uri.to_owned(),
        schema,
        batches,
        rows,
        fingerprint: sha256_hex(&hasher_input),
    })
}

/// The checks a Parquet reader makes of a file's tail, done before the reader sees it: the
/// parquet crate (59.3) panics on a file whose footer length exceeds the file.
fn check_parquet_footer(bytes: &[u8]) -> std::result::Result<(), String> {
    const MAGIC: &[u8] = b"PAR1";
    if bytes.len() < 12 {
        return Err(format!("{} bytes is too short", bytes.len()));
    }
    if &bytes[..4] != MAGIC || &bytes[bytes.len() - 4..] != MAGIC {
        return Err("no PAR1 magic at both ends".into());
    }
    let len_at = bytes.len() - 8;
    let footer = u32::from_le_bytes([
        bytes[len_at],
        bytes[len_at + 1],
        bytes[len_at + 2],
        bytes[len_at + 3],
    ]);
    if footer as usize > bytes.len() - 12 {
        return Err(format!(
            "footer length {footer} exceeds the file ({} bytes)",
            bytes.len()
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
