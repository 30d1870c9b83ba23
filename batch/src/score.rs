//! Batch scoring: a published version over the rows of a data file, through the same
//! [`Scorer`] the online handler uses.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Float64Array, ListBuilder, RecordBatch, StringArray, StringBuilder,
    UInt64Array,
};
use arrow::datatypes::{DataType as ArrowType, Field, Schema};
use parquet::arrow::ArrowWriter;
use riskfn_core::scoring::Scorer;
use riskfn_core::value::{DataType, Value};

use crate::compile::online_type;
use crate::convert;
use crate::error::{Error, Result};
use crate::prepare::field_names;
use crate::source::{ROW_ID, RawData};

/// Scores of every row, in source order.
#[derive(Debug, Default)]
pub struct Scored {
    pub row_ids: Vec<u64>,
    pub probability: Vec<Option<f64>>,
    pub decision: Vec<Option<String>>,
    pub points: Vec<Option<f64>>,
    /// Reason codes, strongest first.
    pub reasons: Vec<Option<Vec<String>>>,
    pub error: Vec<Option<String>>,
    pub version: String,
}

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
            let array = batch.column(idx);
            let got = online_type(array.data_type());
            let ok = got == Some(f.data_type)
                || (got == Some(DataType::Int) && f.data_type == DataType::Float);
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
        })
        .collect()
}

pub fn score_batches(scorer: &Scorer, raw: &RawData) -> Result<Scored> {
    let mut out = Scored {
        version: scorer.version().to_owned(),
        ..Scored::default()
    };
    let n_fields = scorer.artifact().raw_schema.fields.len();
    let mut row = vec![Value::Null; n_fields];
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
            out.row_ids.push(ids.value(r));
            match scorer.score_row(&row, true) {
                Ok(s) => {
                    out.probability.push(Some(s.probability));
                    out.decision.push(Some(s.decision));
                    out.points.push(Some(s.points));
                    out.reasons
                        .push(Some(s.reasons.into_iter().map(|r| r.code).collect()));
                    out.error.push(None);
                }
                Err(e) => {
                    out.probability.push(None);
                    out.decision.push(None);
                    out.points.push(None);
                    out.reasons.push(None);
                    out.error.push(Some(e.to_string()));
                }
            }
        }
    }
    Ok(out)
}

/// Write scores as Parquet: `row_id, probability, decision, points, reasons, version, error`.
pub fn write_parquet(path: &Path, s: &Scored) -> Result<()> {
    let mut reasons = ListBuilder::new(StringBuilder::new());
    for r in &s.reasons {
        match r {
            Some(codes) => {
                codes.iter().for_each(|c| reasons.values().append_value(c));
                reasons.append(true);
            }
            None => reasons.append(false),
        }
    }
    let reasons = reasons.finish();
    let schema = Arc::new(Schema::new(vec![
        Field::new("row_id", ArrowType::UInt64, false),
        Field::new("probability", ArrowType::Float64, true),
        Field::new("decision", ArrowType::Utf8, true),
        Field::new("points", ArrowType::Float64, true),
        Field::new("reasons", reasons.data_type().clone(), true),
        Field::new("version", ArrowType::Utf8, false),
        Field::new("error", ArrowType::Utf8, true),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from(s.row_ids.clone())),
        Arc::new(Float64Array::from(s.probability.clone())),
        Arc::new(StringArray::from(s.decision.clone())),
        Arc::new(Float64Array::from(s.points.clone())),
        Arc::new(reasons),
        Arc::new(StringArray::from(vec![s.version.as_str(); s.row_ids.len()])),
        Arc::new(StringArray::from(s.error.clone())),
    ];
    let batch = RecordBatch::try_new(schema.clone(), cols)?;
    // Write beside the target and rename, so a failed run never leaves a partial file.
    let tmp = path.with_extension("parquet.partial");
    let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let mut w = ArrowWriter::try_new(file, schema, None).map_err(|e| Error::Data(e.to_string()))?;
    w.write(&batch).map_err(|e| Error::Data(e.to_string()))?;
    w.close().map_err(|e| Error::Data(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    Ok(())
}
