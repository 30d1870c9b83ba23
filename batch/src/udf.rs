//! Scoring in SQL: `riskfn_predict('<pipeline>', field1, ..., fieldN)` as a DataFusion
//! scalar function, the raw fields in the order the version lists them
//! (`GET /v1/pipelines/{pipeline}`), answering a struct
//! `{probability, decision, points, reasons, version, error}` per row (read a member with
//! `get_field(riskfn_predict(...), 'probability')`), through the same
//! [`Scorer`] as the HTTP handler. A row that fails validation gets no score and its reason
//! in `error`: nothing is dropped.
//!
//! A scalar function rather than a table function: it composes with any query (joins,
//! filters, the analyst's own columns) and DataFusion runs it batch by batch.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, ListBuilder, StringBuilder, StructArray};
use arrow::datatypes::{DataType as ArrowType, Field, Fields};
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use riskfn_core::scoring::{Scorer, Scratch};
use riskfn_core::value::Value;

pub const NAME: &str = "riskfn_predict";

pub struct PredictUdf {
    scorers: BTreeMap<String, Arc<Scorer>>,
    signature: Signature,
}

impl std::fmt::Debug for PredictUdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Plans print their functions: name the versions, not the models.
        let loaded: Vec<String> = self
            .scorers
            .iter()
            .map(|(p, s)| format!("{p}@{}", s.version()))
            .collect();
        write!(f, "{NAME}({})", loaded.join(", "))
    }
}

impl PartialEq for PredictUdf {
    fn eq(&self, other: &Self) -> bool {
        self.key().eq(other.key())
    }
}

impl Eq for PredictUdf {}

impl Hash for PredictUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().for_each(|k| k.hash(state));
    }
}

impl PredictUdf {
    /// The function over these loaded versions, by pipeline name.
    pub fn udf(scorers: BTreeMap<String, Arc<Scorer>>) -> ScalarUDF {
        ScalarUDF::new_from_impl(PredictUdf {
            scorers,
            signature: Signature::variadic_any(Volatility::Immutable),
        })
    }

    fn key(&self) -> impl Iterator<Item = (&String, &str)> {
        self.scorers.iter().map(|(p, s)| (p, s.content_sha256()))
    }
}

/// The struct each row answers.
pub fn result_fields() -> Fields {
    Fields::from(vec![
        Field::new("probability", ArrowType::Float64, true),
        Field::new("decision", ArrowType::Utf8, true),
        Field::new("points", ArrowType::Float64, true),
        Field::new(
            "reasons",
            ArrowType::List(Arc::new(Field::new("item", ArrowType::Utf8, true))),
            true,
        ),
        Field::new("version", ArrowType::Utf8, false),
        Field::new("error", ArrowType::Utf8, true),
    ])
}

fn pipeline_name(v: &ColumnarValue) -> Option<&str> {
    match v {
        ColumnarValue::Scalar(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)),
        ) => Some(s),
        _ => None,
    }
}

impl ScalarUDFImpl for PredictUdf {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[ArrowType]) -> datafusion::common::Result<ArrowType> {
        Ok(ArrowType::Struct(result_fields()))
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        let Some(pipeline) = args.args.first().and_then(pipeline_name) else {
            return plan_err!("{NAME}: the first argument must be a pipeline name in quotes");
        };
        let Some(scorer) = self.scorers.get(pipeline) else {
            return plan_err!(
                "{NAME}: pipeline {pipeline:?} is not loaded (loaded: {})",
                self.scorers.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        };
        let fields = &scorer.artifact().raw_schema.fields;
        if args.args.len() - 1 != fields.len() {
            let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
            return plan_err!(
                "{NAME}('{pipeline}', ...) takes {} fields, in this order: {}",
                fields.len(),
                names.join(", ")
            );
        }
        let n = args.number_rows;
        let mut columns = Vec::with_capacity(fields.len());
        for (f, a) in fields.iter().zip(&args.args[1..]) {
            let array = a.to_array(n)?;
            match crate::score::field_values(f, &array) {
                Ok(v) => columns.push(v),
                Err(e) => return exec_err!("{NAME}: {e}"),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(score_columns(
            scorer, columns, n, true,
        )?)))
    }
}

/// Score `n` rows, given as the version's raw fields (one column each, in raw-schema
/// order), into the struct the function answers, with reasons when `explain` (else an
/// empty list). `riskfn score` calls this too, so SQL
/// and batch scoring share it with the handler's [`Scorer`]. Values are moved out of
/// `columns` into the row, not copied.
pub fn score_columns(
    scorer: &Scorer,
    mut columns: Vec<Vec<Value>>,
    n: usize,
    explain: bool,
) -> Result<StructArray, arrow::error::ArrowError> {
    let mut probability = Float64Builder::with_capacity(n);
    let mut decision = StringBuilder::with_capacity(n, n * 8);
    let mut points = Float64Builder::with_capacity(n);
    let mut reasons = ListBuilder::with_capacity(StringBuilder::new(), n);
    let mut version = StringBuilder::with_capacity(n, n * scorer.version().len());
    let mut error = StringBuilder::new();
    let mut row = vec![Value::Null; columns.len()];
    let mut scratch = Scratch::default();
    for r in 0..n {
        for (slot, col) in row.iter_mut().zip(columns.iter_mut()) {
            *slot = std::mem::take(&mut col[r]);
        }
        version.append_value(scorer.version());
        match scorer.score_with(&row, explain, &mut scratch) {
            Ok(s) => {
                probability.append_value(s.probability);
                decision.append_value(&**scorer.decision_label(s.adverse));
                points.append_value(s.points);
                for &i in scratch.reasons() {
                    reasons.values().append_value(scorer.reason_code(i));
                }
                reasons.append(true);
                error.append_null();
            }
            Err(e) => {
                probability.append_null();
                decision.append_null();
                points.append_null();
                reasons.append(false);
                error.append_value(e.to_string());
            }
        }
    }
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(probability.finish()),
        Arc::new(decision.finish()),
        Arc::new(points.finish()),
        Arc::new(reasons.finish()),
        Arc::new(version.finish()),
        Arc::new(error.finish()),
    ];
    StructArray::try_new(result_fields(), arrays, None)
}
