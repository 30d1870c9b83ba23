//! The batch decision trail: what `riskfn score` decided, kept in the store as the audit
//! trail keeps online decisions, so outcomes can be attributed to the version and the date
//! that scored each row. One Parquet object per run, `<pipeline>/decisions/<run>.parquet`:
//! each scored row's `id` (the pipeline's id column, or the row's 1-based position),
//! `probability` and `decision`, with the version and the date in its metadata-free
//! columns `version` and `decided`.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use riskfn_core::registry::store::{PutMode, Store, put_once};

use crate::error::{Error, Result};

/// Where a pipeline's batch decisions are kept.
pub fn prefix(pipeline: &str) -> String {
    format!("{pipeline}/decisions/")
}

/// One batch decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub id: String,
    pub version: String,
    /// `yyyy-mm-dd`.
    pub decided: String,
    pub probability: f64,
    pub decision: String,
}

/// Keep the scored rows of the scores file `scores` (its `id_column`, or `row_id`), as
/// decided by `version` today. Returns the object's key.
pub async fn keep(
    store: &dyn Store,
    pipeline: &str,
    version: &str,
    scores: &Path,
    id_column: Option<&str>,
) -> Result<String> {
    let failed =
        |e: &dyn std::fmt::Display| Error::Data(format!("reading {}: {e}", scores.display()));
    let file = std::fs::File::open(scores).map_err(|e| failed(&e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| failed(&e))?;
    let id_name = id_column.unwrap_or("row_id");
    // Only the three columns kept are read back (not the reasons).
    let wanted = [id_name, "probability", "decision"];
    let schema = builder.schema().clone();
    let roots = (wanted.iter())
        .map(|&name| {
            schema.index_of(name).map_err(|_| Error::MissingColumn {
                column: name.to_owned(),
                relation: scores.display().to_string(),
                available: crate::prepare::field_names(&schema),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = (builder.with_projection(mask).build()).map_err(|e| failed(&e))?;
    let today = riskfn_core::registry::now_rfc3339()[..10].to_owned();
    let (mut ids, mut probability, mut decision) = (Vec::new(), Vec::new(), Vec::new());
    for batch in reader {
        let batch = batch?;
        let column = |name: &str| {
            (batch.column_by_name(name).cloned())
                .ok_or_else(|| failed(&format!("no column {name} in a batch")))
        };
        let id = arrow::compute::cast(&column(id_name)?, &DataType::Utf8)?;
        let (id, p, d) = (
            id.as_string::<i32>(),
            column("probability")?,
            column("decision")?,
        );
        let (p, d) = (
            p.as_primitive::<arrow::datatypes::Float64Type>(),
            d.as_string::<i32>(),
        );
        for r in 0..batch.num_rows() {
            // A row that failed validation was not decided.
            if p.is_valid(r) && d.is_valid(r) && id.is_valid(r) {
                ids.push(id.value(r).to_owned());
                probability.push(p.value(r));
                decision.push(d.value(r).to_owned());
            }
        }
    }
    let n = ids.len();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("version", DataType::Utf8, false),
        Field::new("decided", DataType::Utf8, false),
        Field::new("probability", DataType::Float64, false),
        Field::new("decision", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids)),
        Arc::new(StringArray::from(vec![version; n])),
        Arc::new(StringArray::from(vec![today.as_str(); n])),
        Arc::new(Float64Array::from(probability)),
        Arc::new(StringArray::from(decision)),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    let key = format!(
        "{}{}.parquet",
        prefix(pipeline),
        riskfn_core::registry::new_version_id()
    );
    let mut bytes = Vec::new();
    let written = ArrowWriter::try_new(&mut bytes, schema, None).and_then(|mut w| {
        w.write(&batch)?;
        w.close()
    });
    written.map_err(|e| Error::Data(format!("writing {key}: {e}")))?;
    put_once(store, &key, Bytes::from(bytes), PutMode::Create).await?;
    Ok(key)
}

/// Every batch decision kept for `pipeline`.
pub async fn read_all(store: &dyn Store, pipeline: &str) -> Result<Vec<Decision>> {
    let mut out = Vec::new();
    for key in store.list(&prefix(pipeline)).await? {
        let Some(obj) = store.get(&key).await? else {
            continue;
        };
        let failed = |e: &dyn std::fmt::Display| Error::Data(format!("reading {key}: {e}"));
        let reader = ParquetRecordBatchReaderBuilder::try_new(obj.bytes)
            .and_then(|b| b.build())
            .map_err(|e| failed(&e))?;
        for batch in reader {
            let batch = batch?;
            let text = |i: usize| batch.column(i).as_string::<i32>().clone();
            let (id, version, decided, decision) = (text(0), text(1), text(2), text(4));
            let p = batch
                .column(3)
                .as_primitive::<arrow::datatypes::Float64Type>();
            for r in 0..batch.num_rows() {
                out.push(Decision {
                    id: id.value(r).to_owned(),
                    version: version.value(r).to_owned(),
                    decided: decided.value(r).to_owned(),
                    probability: p.value(r),
                    decision: decision.value(r).to_owned(),
                });
            }
        }
    }
    Ok(out)
}
