//! Scoring in SQL: `riskfn_predict('<pipeline>', field1, ..., fieldN)` as a DataFusion
//! scalar function, the raw fields in the order the version lists them
//! (`GET /v1/pipelines/{pipeline}`), answering a struct
//! `{probability, decision, points, reasons, version, error, outside_population}` per row (read a member with
//! `get_field(riskfn_predict(...), 'probability')`), through the same
//! [`Scorer`] as the HTTP handler. A row that fails validation, or falls outside the
//! version's population when it refuses such rows, gets no score and its reason in `error`:
//! nothing is dropped. One scored although outside names the rule in `outside_population`.
//!
//! A scalar function rather than a table function: it composes with any query (joins,
//! filters, the analyst's own columns) and DataFusion runs it batch by batch.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBufferBuilder, Float64Array, ListArray, StringArray, StringBuilder,
    StructArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType as ArrowType, Field, Fields};
use arrow::error::ArrowError;
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use riskfn_core::scoring::Scorer;

use crate::values::field::FieldColumn;

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
        Field::new("outside_population", ArrowType::Utf8, true),
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
            match FieldColumn::new(f, &array) {
                Ok(c) => columns.push(c),
                Err(e) => return exec_err!("{NAME}: {e}"),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(score_columns(
            scorer, &columns, n, true,
        )?)))
    }
}

/// Score `n` rows, given as the version's raw fields (one column each, in raw-schema
/// order), into the struct the function answers, with reasons when `explain` (else an
/// empty list). `riskfn score` calls this too, so SQL and batch scoring share it; both go
/// through [`Scorer::score_batch`], which gives every row the handler's numbers.
pub fn score_columns(
    scorer: &Scorer,
    columns: &[FieldColumn],
    n: usize,
    explain: bool,
) -> Result<StructArray, ArrowError> {
    let columns: Vec<_> = columns.iter().map(FieldColumn::column).collect();
    let s = scorer
        .score_batch(&columns, n, explain)
        .map_err(|e| ArrowError::InvalidArgumentError(e.to_string()))?;
    // Rows that could not be scored are NULL but for their error.
    let nulls = (!s.errors.is_empty()).then(|| {
        let mut valid = BooleanBufferBuilder::new(n);
        valid.append_n(n, true);
        for (r, _) in &s.errors {
            valid.set_bit(*r, false);
        }
        NullBuffer::new(valid.finish())
    });
    let mut decision = StringBuilder::with_capacity(n, n * 8);
    for (r, adverse) in s.adverse.iter().enumerate() {
        if nulls.as_ref().is_none_or(|v| v.is_valid(r)) {
            decision.append_value(&**scorer.decision_label(*adverse));
        } else {
            decision.append_null();
        }
    }
    let mut codes = StringBuilder::with_capacity(s.reasons.len(), s.reasons.len() * 8);
    for &i in &s.reasons {
        codes.append_value(scorer.reason_code(i));
    }
    let offsets = OffsetBuffer::new(
        s.reason_offsets
            .iter()
            .map(|&o| {
                i32::try_from(o).map_err(|_| {
                    ArrowError::InvalidArgumentError("too many reasons in one batch".into())
                })
            })
            .collect::<Result<ScalarBuffer<i32>, _>>()?,
    );
    let reasons = ListArray::try_new(
        Arc::new(Field::new("item", ArrowType::Utf8, true)),
        offsets,
        Arc::new(codes.finish()),
        nulls.clone(),
    )?;
    let mut error = StringBuilder::new();
    let mut errors = s.errors.iter().peekable();
    for r in 0..n {
        match errors.next_if(|(at, _)| *at == r) {
            Some((_, e)) => error.append_value(e.to_string()),
            None => error.append_null(),
        }
    }
    // The rule a row scored although outside the population breaks (flagging versions).
    let mut outside = StringBuilder::new();
    let mut flagged = s.outside.iter().peekable();
    for r in 0..n {
        match flagged.next_if(|(at, _)| *at == r) {
            Some(&(_, rule)) => outside.append_value(&**scorer.rule_text(rule)),
            None => outside.append_null(),
        }
    }
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(Float64Array::new(s.probability.into(), nulls.clone())),
        Arc::new(decision.finish()),
        Arc::new(Float64Array::new(s.points.into(), nulls)),
        Arc::new(reasons),
        Arc::new(StringArray::new_repeated(scorer.version(), n)),
        Arc::new(error.finish()),
        Arc::new(outside.finish()),
    ];
    StructArray::try_new(result_fields(), arrays, None)
}
