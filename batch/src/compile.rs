//! From a pipeline's SQL to features that run identically offline and online.
//!
//! DataFusion plans the SQL files (each one a view the next may read) and type-coerces the
//! plan. [`flatten`] then rewrites the plan, which must be row-local (projections and
//! filters over the raw table, nothing that looks at other rows), into one expression per
//! output column and a list of filters, all over raw columns. The batch job executes those
//! expressions with DataFusion; [`to_online`] compiles each feature's expression into the
//! portable tree of `riskfn_core::features::expr`, which the serving side evaluates without a query
//! engine. The batch job then checks, on every row, that both engines agree exactly.
//!
//! Why compile instead of embedding DataFusion's expression crates online: the Lambda stays
//! a few megabytes, one record is scored in microseconds without building Arrow arrays, and
//! nothing that has not been checked against DataFusion on the training rows is ever served.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType as ArrowType, Schema};
use datafusion::catalog::MemTable;
use datafusion::catalog::view::ViewTable;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Expr, LogicalPlan, Operator};
use datafusion::prelude::{SessionConfig, SessionContext};
use riskfn_core::features::expr::{BinaryOp, Expr as Online};
use riskfn_core::features::func::Func;
use riskfn_core::features::population::Rule;
use riskfn_core::features::schema::{RawField, RawSchema};
use riskfn_core::features::value::{DataType, Value};

use crate::error::{Error, Result};
use crate::pipeline::{Pipeline, RAW_TABLE};
use crate::source::RawData;

/// A row-local pipeline as expressions over raw columns.
#[derive(Debug, Clone)]
pub struct Flat {
    /// Output columns in order: name and expression over raw columns.
    pub columns: Vec<(String, Expr)>,
    /// Rows are kept where every filter is true.
    pub filters: Vec<Expr>,
}

/// Run the pipeline's SQL exactly as written over the source's rows (no de-duplication) in
/// one partition, so output rows keep the source order; returns the last file's rows. The
/// reference the online evaluator and the golden files are checked against.
pub async fn run_as_written(pipeline: &Pipeline, raw: &RawData) -> Result<Vec<RecordBatch>> {
    let mut config = SessionConfig::new().with_target_partitions(1);
    config.options_mut().sql_parser.enable_ident_normalization = false;
    let ctx = SessionContext::new_with_config(config);
    let columns: Vec<usize> = (0..raw.schema.fields().len()).collect();
    let batches = raw
        .batches
        .iter()
        .map(|b| b.project(&columns))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    ctx.register_table(
        RAW_TABLE,
        Arc::new(MemTable::try_new(raw.schema.clone(), vec![batches])?),
    )?;
    for f in &pipeline.sql {
        let df = ctx.sql(&f.text).await.map_err(|e| Error::Sql {
            file: format!("{}/{}", pipeline.name, f.file),
            message: e.strip_backtrace(),
        })?;
        ctx.register_table(f.view.as_str(), df.into_view())?;
    }
    let last = pipeline
        .sql
        .last()
        .map(|f| f.view.as_str())
        .unwrap_or(RAW_TABLE);
    Ok(ctx.table(last).await?.collect().await?)
}

/// Plan the pipeline's SQL files against a raw table of `raw_schema`, each file a view the
/// next can read; return the last file's type-coerced plan.
pub async fn plan(
    ctx: &SessionContext,
    pipeline: &Pipeline,
    raw_schema: &Schema,
) -> Result<LogicalPlan> {
    let empty = MemTable::try_new(Arc::new(raw_schema.clone()), vec![vec![]])?;
    ctx.deregister_table(RAW_TABLE)?;
    ctx.register_table(RAW_TABLE, Arc::new(empty))?;
    let state = ctx.state();
    let mut last = None;
    for f in &pipeline.sql {
        let sql_err = |message: String| Error::Sql {
            file: format!("{}/{}", pipeline.name, f.file),
            message,
        };
        let plan = state
            .create_logical_plan(&f.text)
            .await
            .map_err(|e| sql_err(e.strip_backtrace()))?;
        if !is_query(&plan) {
            return Err(sql_err("must be a single SELECT query".into()));
        }
        let analyzed = state
            .analyzer()
            .execute_and_check(plan.clone(), state.config_options(), |_, _| {})
            .map_err(|e| sql_err(e.strip_backtrace()))?;
        ctx.deregister_table(f.view.as_str())?;
        ctx.register_table(
            f.view.as_str(),
            Arc::new(ViewTable::new(plan, Some(f.text.clone()))),
        )?;
        last = Some(analyzed);
    }
    last.ok_or_else(|| Error::Config {
        path: pipeline.dir.clone(),
        message: "no SQL files".into(),
    })
}

fn is_query(plan: &LogicalPlan) -> bool {
    !matches!(
        plan,
        LogicalPlan::Ddl(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::DescribeTable(_)
    )
}

/// Rewrite a row-local plan into expressions over raw columns.
pub fn flatten(plan: &LogicalPlan) -> Result<Flat> {
    let (exprs, filters) = flatten_node(plan)?;
    let columns = plan
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .zip(exprs)
        .collect();
    Ok(Flat { columns, filters })
}

fn not_row_local(what: &str) -> Error {
    Error::Sql {
        file: "pipeline".into(),
        message: format!(
            "{what} is not row-local; feature SQL may only select, compute and filter each row \
             on its own (no aggregates, windows, joins, sorting, limits or DISTINCT)"
        ),
    }
}

/// One expression per output column of `plan`, plus accumulated filters.
fn flatten_node(plan: &LogicalPlan) -> Result<(Vec<Expr>, Vec<Expr>)> {
    match plan {
        LogicalPlan::TableScan(scan) => {
            if scan.table_name.table() != RAW_TABLE || !scan.filters.is_empty() {
                return Err(not_row_local(&format!("a scan of {}", scan.table_name)));
            }
            let exprs = scan
                .projected_schema
                .fields()
                .iter()
                .map(|f| Expr::Column(Column::new_unqualified(f.name())))
                .collect();
            Ok((exprs, Vec::new()))
        }
        LogicalPlan::SubqueryAlias(a) => flatten_node(&a.input),
        LogicalPlan::Projection(p) => {
            let (inputs, filters) = flatten_node(&p.input)?;
            let schema = p.input.schema();
            let exprs = p
                .expr
                .iter()
                .map(|e| substitute(e, schema, &inputs))
                .collect::<Result<_>>()?;
            Ok((exprs, filters))
        }
        LogicalPlan::Filter(f) => {
            let (inputs, mut filters) = flatten_node(&f.input)?;
            filters.push(substitute(&f.predicate, f.input.schema(), &inputs)?);
            Ok((inputs, filters))
        }
        other => Err(not_row_local(&format!("{:?}", other.display().to_string()))),
    }
}

/// Replace each column reference in `e` by the expression its input computes.
fn substitute(e: &Expr, schema: &datafusion::common::DFSchema, inputs: &[Expr]) -> Result<Expr> {
    let out = e
        .clone()
        .transform_up(|node| match node {
            Expr::Column(c) => {
                let i = schema.index_of_column(&c)?;
                Ok(Transformed::yes(inputs[i].clone()))
            }
            Expr::Alias(a) => Ok(Transformed::yes(*a.expr)),
            other => Ok(Transformed::no(other)),
        })?
        .data;
    Ok(out)
}

/// Map an Arrow type onto the online evaluator's four types.
pub fn online_type(t: &ArrowType) -> Option<DataType> {
    Some(match t {
        ArrowType::Boolean => DataType::Bool,
        ArrowType::Int8
        | ArrowType::Int16
        | ArrowType::Int32
        | ArrowType::Int64
        | ArrowType::UInt8
        | ArrowType::UInt16
        | ArrowType::UInt32
        | ArrowType::UInt64 => DataType::Int,
        ArrowType::Float32 | ArrowType::Float64 => DataType::Float,
        ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => DataType::Str,
        ArrowType::Dictionary(_, v) => online_type(v)?,
        _ => return None,
    })
}

/// Builds the raw schema of the online side: the raw columns features read, in first-use
/// order, with their types.
#[derive(Debug)]
pub struct OnlineSchemaBuilder<'a> {
    raw: &'a Schema,
    schema: RawSchema,
}

impl<'a> OnlineSchemaBuilder<'a> {
    pub fn new(raw: &'a Schema) -> Self {
        OnlineSchemaBuilder {
            raw,
            schema: RawSchema::default(),
        }
    }

    fn index(&mut self, name: &str) -> std::result::Result<usize, String> {
        if let Some(i) = self.schema.index_of(name) {
            return Ok(i);
        }
        let field = self
            .raw
            .field_with_name(name)
            .map_err(|_| format!("reads {name:?}, which is not a raw column"))?;
        let data_type = online_type(field.data_type()).ok_or_else(|| {
            format!(
                "reads raw column {name:?} of type {}, which requests cannot carry",
                field.data_type()
            )
        })?;
        self.schema.fields.push(RawField {
            name: name.to_owned(),
            data_type,
            // Settled from the data once it is read.
            nullable: true,
        });
        Ok(self.schema.fields.len() - 1)
    }

    pub fn finish(self) -> RawSchema {
        self.schema
    }
}

/// Compile one feature's expression (over raw columns) for the online evaluator.
pub fn to_online(feature: &str, e: &Expr, raw: &mut OnlineSchemaBuilder<'_>) -> Result<Online> {
    convert(e, raw).map_err(|reason| Error::NotRowLocal {
        feature: feature.to_owned(),
        reason,
    })
}

/// The SQL's filters as population rules, one per conjunct (`a > 0 AND b > 0` is two, so
/// an answer names the one a record breaks), compiled like the features. A filter reading
/// a raw column applicants do not carry (`skip`: what the target, the split or the id is
/// computed from) only sorts the training rows, and is left out.
pub fn population_rules(
    flat: &Flat,
    skip: &[&str],
    raw: &mut OnlineSchemaBuilder<'_>,
) -> Result<Vec<Rule>> {
    let mut rules = Vec::new();
    for e in flat.filters.iter().flat_map(split_conjunction) {
        let rule = rule_text(e);
        if e.column_refs()
            .iter()
            .any(|c| skip.contains(&c.name.as_str()))
        {
            tracing::info!(%rule, "a filter on the outcome, split or id: applied in training only");
            continue;
        }
        let expr = convert(e, raw).map_err(|reason| Error::FilterNotOnline {
            rule: rule.clone(),
            reason,
        })?;
        rules.push(Rule { rule, expr });
    }
    Ok(rules)
}

/// A filter as SQL over the raw fields by their bare names, as a request carries them, and
/// with the literals the planner cast written in their type (`2.0`, not `CAST(2 AS
/// DOUBLE)`).
fn rule_text(e: &Expr) -> String {
    let bare = e.clone().transform(|e| {
        Ok(match e {
            Expr::Column(c) => Transformed::yes(Expr::Column(Column::new_unqualified(c.name))),
            Expr::Cast(c) => match c.expr.as_ref() {
                Expr::Literal(v, _) => match v.cast_to(c.field.data_type()) {
                    Ok(v) => Transformed::yes(Expr::Literal(v, None)),
                    Err(_) => Transformed::no(Expr::Cast(c)),
                },
                _ => Transformed::no(Expr::Cast(c)),
            },
            e => Transformed::no(e),
        })
    });
    let bare = bare.map_or_else(|_| e.clone(), |t| t.data);
    let text = match datafusion::sql::unparser::expr_to_sql(&bare) {
        Ok(sql) => sql.to_string(),
        Err(_) => bare.to_string(),
    };
    without_outer_parentheses(text)
}

/// `(a <> 3)` as `a <> 3`; `(a) + (b)` as it is.
fn without_outer_parentheses(text: String) -> String {
    let Some(inner) = text.strip_prefix('(').and_then(|t| t.strip_suffix(')')) else {
        return text;
    };
    let mut depth = 0i32;
    for c in inner.chars() {
        depth += match c {
            '(' => 1,
            ')' => -1,
            _ => 0,
        };
        if depth < 0 {
            return text;
        }
    }
    inner.to_owned()
}

fn scalar(v: &ScalarValue) -> std::result::Result<Value, String> {
    let int = |x: Option<i64>| x.map_or(Value::Null, Value::Int);
    Ok(match v {
        ScalarValue::Null => Value::Null,
        ScalarValue::Boolean(b) => b.map_or(Value::Null, Value::Bool),
        ScalarValue::Int8(x) => int(x.map(i64::from)),
        ScalarValue::Int16(x) => int(x.map(i64::from)),
        ScalarValue::Int32(x) => int(x.map(i64::from)),
        ScalarValue::Int64(x) => int(*x),
        ScalarValue::UInt8(x) => int(x.map(i64::from)),
        ScalarValue::UInt16(x) => int(x.map(i64::from)),
        ScalarValue::UInt32(x) => int(x.map(i64::from)),
        ScalarValue::UInt64(Some(x)) => {
            Value::Int(i64::try_from(*x).map_err(|_| format!("literal {x} is out of range"))?)
        }
        ScalarValue::UInt64(None) => Value::Null,
        ScalarValue::Float64(x) => x.map_or(Value::Null, Value::Float),
        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => {
            s.as_deref().map_or(Value::Null, Value::str)
        }
        ScalarValue::Dictionary(_, inner) => scalar(inner)?,
        other => {
            return Err(format!(
                "literal of type {} is not supported online",
                other.data_type()
            ));
        }
    })
}

fn binary_op(op: &Operator) -> Option<BinaryOp> {
    Some(match op {
        Operator::Plus => BinaryOp::Add,
        Operator::Minus => BinaryOp::Sub,
        Operator::Multiply => BinaryOp::Mul,
        Operator::Divide => BinaryOp::Div,
        Operator::Modulo => BinaryOp::Mod,
        Operator::Eq => BinaryOp::Eq,
        Operator::NotEq => BinaryOp::NotEq,
        Operator::Lt => BinaryOp::Lt,
        Operator::LtEq => BinaryOp::LtEq,
        Operator::Gt => BinaryOp::Gt,
        Operator::GtEq => BinaryOp::GtEq,
        Operator::And => BinaryOp::And,
        Operator::Or => BinaryOp::Or,
        Operator::IsDistinctFrom => BinaryOp::IsDistinctFrom,
        Operator::IsNotDistinctFrom => BinaryOp::IsNotDistinctFrom,
        Operator::StringConcat => BinaryOp::Concat,
        _ => return None,
    })
}

fn boxed(e: &Expr, raw: &mut OnlineSchemaBuilder<'_>) -> std::result::Result<Box<Online>, String> {
    convert(e, raw).map(Box::new)
}

fn convert(e: &Expr, raw: &mut OnlineSchemaBuilder<'_>) -> std::result::Result<Online, String> {
    Ok(match e {
        Expr::Column(c) => Online::Column(raw.index(&c.name)?),
        Expr::Alias(a) => convert(&a.expr, raw)?,
        Expr::Literal(v, _) => Online::lit(scalar(v)?),
        Expr::BinaryExpr(b) => {
            let op = binary_op(&b.op)
                .ok_or_else(|| format!("operator {} is not supported online", b.op))?;
            Online::Binary {
                op,
                left: boxed(&b.left, raw)?,
                right: boxed(&b.right, raw)?,
            }
        }
        Expr::Not(x) => Online::Not(boxed(x, raw)?),
        Expr::Negative(x) => Online::Negative(boxed(x, raw)?),
        Expr::IsNull(x) => Online::IsNull(boxed(x, raw)?),
        Expr::IsNotNull(x) => Online::IsNotNull(boxed(x, raw)?),
        Expr::IsTrue(x) | Expr::IsNotTrue(x) | Expr::IsFalse(x) | Expr::IsNotFalse(x) => {
            let (target, op) = match e {
                Expr::IsTrue(_) => (true, BinaryOp::IsNotDistinctFrom),
                Expr::IsNotTrue(_) => (true, BinaryOp::IsDistinctFrom),
                Expr::IsFalse(_) => (false, BinaryOp::IsNotDistinctFrom),
                _ => (false, BinaryOp::IsDistinctFrom),
            };
            Online::binary(op, convert(x, raw)?, Online::lit(target))
        }
        Expr::Between(b) => {
            let x = convert(&b.expr, raw)?;
            let within = Online::binary(
                BinaryOp::And,
                Online::binary(BinaryOp::GtEq, x.clone(), convert(&b.low, raw)?),
                Online::binary(BinaryOp::LtEq, x, convert(&b.high, raw)?),
            );
            if b.negated {
                Online::Not(Box::new(within))
            } else {
                within
            }
        }
        Expr::Case(c) => Online::Case {
            operand: c.expr.as_deref().map(|x| boxed(x, raw)).transpose()?,
            branches: c
                .when_then_expr
                .iter()
                .map(|(w, t)| Ok((convert(w, raw)?, convert(t, raw)?)))
                .collect::<std::result::Result<_, String>>()?,
            otherwise: c.else_expr.as_deref().map(|x| boxed(x, raw)).transpose()?,
        },
        Expr::Cast(c) => Online::Cast {
            expr: boxed(&c.expr, raw)?,
            to: cast_target(c.field.data_type())?,
            safe: false,
        },
        Expr::TryCast(c) => Online::Cast {
            expr: boxed(&c.expr, raw)?,
            to: cast_target(c.field.data_type())?,
            safe: true,
        },
        Expr::ScalarFunction(f) => {
            let name = f.func.name();
            let func = Func::from_name(name)
                .ok_or_else(|| format!("function {name}() is not supported online"))?;
            Online::call(
                func,
                f.args
                    .iter()
                    .map(|a| convert(a, raw))
                    .collect::<std::result::Result<_, String>>()?,
            )
        }
        Expr::Like(l) => {
            if l.escape_char.is_some_and(|c| c != '\\') {
                return Err("LIKE ... ESCAPE other than '\\' is not supported online".into());
            }
            let func = if l.case_insensitive {
                Func::ILike
            } else {
                Func::Like
            };
            let like = Online::call(
                func,
                vec![convert(&l.expr, raw)?, convert(&l.pattern, raw)?],
            );
            if l.negated {
                Online::Not(Box::new(like))
            } else {
                like
            }
        }
        Expr::InList(l) => Online::InList {
            expr: boxed(&l.expr, raw)?,
            list: l
                .list
                .iter()
                .map(|a| convert(a, raw))
                .collect::<std::result::Result<_, String>>()?,
            negated: l.negated,
        },
        other => {
            return Err(format!("{} is not supported online", other.variant_name()));
        }
    })
}

fn cast_target(t: &ArrowType) -> std::result::Result<DataType, String> {
    online_type(t).ok_or_else(|| {
        format!("a cast to {t} is not supported online (use BIGINT, DOUBLE, VARCHAR or BOOLEAN)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::CONFIG_FILE;
    use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, StringArray};
    use arrow::datatypes::Field;

    /// A pipeline folder with bundled german_credit's config and these SQL files (views
    /// `v1`, `v2`, ...).
    fn pipeline(sql: &[&str]) -> (tempfile::TempDir, Pipeline) {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql/german_credit");
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("p");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(src.join(CONFIG_FILE), dir.join(CONFIG_FILE)).unwrap();
        for (i, text) in sql.iter().enumerate() {
            std::fs::write(dir.join(format!("0{}_v{}.sql", i + 1, i + 1)), text).unwrap();
        }
        let p = Pipeline::load(&dir).unwrap();
        (tmp, p)
    }

    /// Eight raw rows: `id` tells them apart; `b` and `s` have NULLs; `unused` is read by
    /// no feature.
    fn raw() -> RawData {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", ArrowType::Int64, false),
            Field::new("a", ArrowType::Int64, false),
            Field::new("b", ArrowType::Float64, true),
            Field::new("s", ArrowType::Utf8, true),
            Field::new("unused", ArrowType::Utf8, false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(0..8)),
            Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5, 6, 7, 40])),
            Arc::new(Float64Array::from(vec![
                Some(1.5),
                None,
                Some(-2.0),
                Some(0.0),
                None,
                Some(9.25),
                Some(3.0),
                Some(1e3),
            ])),
            Arc::new(StringArray::from(vec![
                Some("Owner"),
                Some("RENT"),
                None,
                Some("rent"),
                Some("Other "),
                Some("OWNER"),
                None,
                Some("x"),
            ])),
            Arc::new(StringArray::from_iter_values(
                (0..8).map(|i| format!("u{i}")),
            )),
        ];
        RawData {
            uri: "memory".into(),
            schema: schema.clone(),
            batches: vec![RecordBatch::try_new(schema, columns).unwrap()],
            rows: 8,
            fingerprint: String::new(),
        }
    }

    /// Each feature compiled for the online side gives, on each raw row, the value
    /// DataFusion computes from the pipeline's SQL (two files, the second reading the
    /// first's view), and the filters of both files are kept: compiled as population rules,
    /// they hold on exactly the rows the SQL keeps. Requests carry only the raw fields some
    /// feature or rule reads.
    #[tokio::test]
    async fn compiled_features_give_datafusions_values() {
        let (_tmp, p) = pipeline(&[
            "SELECT id, a, b, s, \
               CASE WHEN a > 2 THEN 'hi' ELSE 'lo' END AS band, \
               coalesce(b, 0.5) * 2 AS b2, \
               ln(CAST(a AS DOUBLE)) AS la, \
               lower(trim(s)) AS ls \
             FROM raw WHERE a <> 3",
            "SELECT id, band, b2 + la AS mix, ls, a % 4 AS a4, s IS NULL AS no_s \
             FROM v1 WHERE b2 < 100",
        ]);
        let raw = raw();
        let expected = run_as_written(&p, &raw).await.unwrap();
        let expected = arrow::compute::concat_batches(&expected[0].schema(), &expected).unwrap();
        // Rows 2 (a = 3) and 7 (b2 = 2000) are filtered out.
        let ids: Vec<i64> = (expected.column(0).as_any().downcast_ref::<Int64Array>())
            .unwrap()
            .values()
            .to_vec();
        assert_eq!(ids, vec![0, 1, 3, 4, 5, 6]);

        let ctx = SessionContext::new();
        let flat = flatten(&plan(&ctx, &p, &raw.schema).await.unwrap()).unwrap();
        assert_eq!(flat.filters.len(), 2);
        let mut builder = OnlineSchemaBuilder::new(&raw.schema);
        let online: Vec<(String, Online)> = (flat.columns.iter())
            .map(|(name, e)| (name.clone(), to_online(name, e, &mut builder).unwrap()))
            .collect();
        let rules = population_rules(&flat, &[], &mut builder).unwrap();
        let schema = builder.finish();
        let texts: Vec<&str> = rules.iter().map(|r| r.rule.as_str()).collect();
        assert_eq!(texts, ["a <> 3", "(coalesce(b, 0.5) * 2.0) < 100.0"]);
        let fields: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
        assert!(!fields.contains(&"unused"), "{fields:?}");

        let input = &raw.batches[0];
        let row = |id: usize| -> Vec<Value> {
            (fields.iter())
                .map(|f| {
                    let c = input.column_by_name(f).unwrap();
                    crate::values::column::Col::new(f, c).unwrap().value(id)
                })
                .collect()
        };
        // The rules hold on exactly the rows the SQL keeps.
        for id in 0..raw.rows as usize {
            let inside = rules.iter().all(|rule| rule.holds(&row(id)));
            assert_eq!(inside, ids.contains(&(id as i64)), "row id {id}");
        }
        for (r, &id) in ids.iter().enumerate() {
            let row = row(id as usize);
            for (c, (name, expr)) in online.iter().enumerate() {
                let got = expr.eval(&row).unwrap();
                let want = crate::values::column::Col::new(name, expected.column(c))
                    .unwrap()
                    .value(r);
                assert!(
                    got.same_as(&want),
                    "{name} on row id {id}: {got:?} != {want:?}"
                );
            }
        }
    }

    #[test]
    fn only_parentheses_around_the_whole_rule_are_dropped() {
        let strip = |t: &str| without_outer_parentheses(t.to_owned());
        assert_eq!(strip("(a <> 3)"), "a <> 3");
        assert_eq!(strip("(a) + (b) > 0"), "(a) + (b) > 0");
        assert_eq!(strip("(a + 1) * (b + 2)"), "(a + 1) * (b + 2)");
        assert_eq!(strip("((a + 1) * 2 > 0)"), "(a + 1) * 2 > 0");
    }

    /// SQL that is not row-local (an aggregate, a window, a join, a sort) is refused
    /// before anything runs, and says why.
    #[tokio::test]
    async fn sql_that_is_not_row_local_is_refused() {
        for sql in [
            "SELECT a, count(*) AS n FROM raw GROUP BY a",
            "SELECT a, row_number() OVER (ORDER BY a) AS r FROM raw",
            "SELECT x.a FROM raw x JOIN raw y ON x.id = y.id",
            "SELECT a FROM raw ORDER BY a",
            "SELECT DISTINCT a FROM raw",
        ] {
            let (_tmp, p) = pipeline(&[sql]);
            let ctx = SessionContext::new();
            let planned = plan(&ctx, &p, &raw().schema).await.unwrap();
            match flatten(&planned) {
                Err(Error::Sql { message, .. }) => {
                    assert!(message.contains("is not row-local"), "{sql}: {message}")
                }
                other => panic!("{sql}: {other:?}"),
            }
        }
    }

    /// A feature reading a raw column requests cannot carry (a date) is refused, naming
    /// the feature and the column.
    #[tokio::test]
    async fn a_feature_on_a_type_requests_cannot_carry_is_refused() {
        let schema = Schema::new(vec![Field::new("d", ArrowType::Date32, true)]);
        let (_tmp, p) = pipeline(&["SELECT d FROM raw"]);
        let ctx = SessionContext::new();
        let flat = flatten(&plan(&ctx, &p, &schema).await.unwrap()).unwrap();
        let mut builder = OnlineSchemaBuilder::new(&schema);
        match to_online("d", &flat.columns[0].1, &mut builder) {
            Err(Error::NotRowLocal { feature, reason }) => {
                assert_eq!(feature, "d");
                assert!(reason.contains("\"d\""), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
