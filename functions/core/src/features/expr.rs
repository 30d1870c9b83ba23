//! Row-local feature expressions in a portable form, and their evaluator.
//!
//! The batch job compiles each feature of a pipeline's SQL (as planned and type-coerced by
//! DataFusion) into this small expression tree and checks, on every training row, that
//! evaluating the tree gives exactly DataFusion's value. The online side then evaluates the
//! tree on one request without carrying a query engine. The semantics below follow
//! DataFusion's kernels: wrapping integer `+ - *`, an error on integer division by zero,
//! SQL three-valued logic, NULL propagation, first-true `CASE`.

use std::cmp::Ordering;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::features::func::{Func, call};
use crate::features::value::{DataType, Value};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    /// A raw input field, by position in the pipeline's raw schema.
    Column(usize),
    Literal(Literal),
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    Not(Box<Expr>),
    Negative(Box<Expr>),
    IsNull(Box<Expr>),
    IsNotNull(Box<Expr>),
    Case {
        operand: Option<Box<Expr>>,
        branches: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
    },
    /// `CAST` (`safe = false`: a value that does not convert is an error) or `TRY_CAST`
    /// (`safe = true`: it becomes NULL).
    Cast {
        expr: Box<Expr>,
        to: DataType,
        safe: bool,
    },
    Call {
        func: Func,
        args: Vec<Expr>,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
}

/// A literal value. Floats are kept as their bits: JSON has no NaN or infinity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    FloatBits(u64),
    Str(String),
}

impl Literal {
    pub fn new(v: &Value) -> Self {
        match v {
            Value::Null => Literal::Null,
            Value::Bool(b) => Literal::Bool(*b),
            Value::Int(i) => Literal::Int(*i),
            Value::Float(x) => Literal::FloatBits(x.to_bits()),
            Value::Str(s) => Literal::Str(s.to_string()),
        }
    }

    pub fn value(&self) -> Value {
        match self {
            Literal::Null => Value::Null,
            Literal::Bool(b) => Value::Bool(*b),
            Literal::Int(i) => Value::Int(*i),
            Literal::FloatBits(b) => Value::Float(f64::from_bits(*b)),
            Literal::Str(s) => Value::str(s),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    And,
    Or,
    IsDistinctFrom,
    IsNotDistinctFrom,
    /// `||` on strings (NULL if either side is NULL, unlike `concat`).
    Concat,
}

/// The operator as SQL writes it, as errors name it.
impl std::fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::And => "AND",
            BinaryOp::Or => "OR",
            BinaryOp::IsDistinctFrom => "IS DISTINCT FROM",
            BinaryOp::IsNotDistinctFrom => "IS NOT DISTINCT FROM",
            BinaryOp::Concat => "||",
        })
    }
}

/// Why a row's expression could not be evaluated (the same rows fail in DataFusion).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error("division by zero")]
    DivideByZero,
    #[error("integer overflow in {0}")]
    Overflow(&'static str),
    /// Errors name kinds of values, never values: a row is an applicant's record.
    #[error("cannot cast a {from} to {to}")]
    Cast { from: &'static str, to: DataType },
    #[error("{0}")]
    Domain(&'static str),
    #[error("invalid expression: {0}")]
    Invalid(String),
}

pub(crate) type EvalResult = std::result::Result<Value, EvalError>;

impl Expr {
    pub fn column(i: usize) -> Expr {
        Expr::Column(i)
    }

    pub fn lit(v: impl Into<Value>) -> Expr {
        Expr::Literal(Literal::new(&v.into()))
    }

    pub fn binary(op: BinaryOp, left: Expr, right: Expr) -> Expr {
        Expr::Binary {
            op,
            left: Box::new(left),
            right: Box::new(right),
        }
    }

    pub fn call(func: Func, args: Vec<Expr>) -> Expr {
        Expr::Call { func, args }
    }

    /// Raw fields this expression reads (positions in the raw schema), appended to `out`.
    pub fn collect_columns(&self, out: &mut Vec<usize>) {
        match self {
            Expr::Column(i) => out.push(*i),
            Expr::Literal(_) => {}
            Expr::Binary { left, right, .. } => {
                left.collect_columns(out);
                right.collect_columns(out);
            }
            Expr::Not(e) | Expr::Negative(e) | Expr::IsNull(e) | Expr::IsNotNull(e) => {
                e.collect_columns(out)
            }
            Expr::Cast { expr, .. } => expr.collect_columns(out),
            Expr::Case {
                operand,
                branches,
                otherwise,
            } => {
                for e in operand.iter().chain(otherwise.iter()) {
                    e.collect_columns(out);
                }
                for (w, t) in branches {
                    w.collect_columns(out);
                    t.collect_columns(out);
                }
            }
            Expr::Call { args, .. } => args.iter().for_each(|a| a.collect_columns(out)),
            Expr::InList { expr, list, .. } => {
                expr.collect_columns(out);
                list.iter().for_each(|a| a.collect_columns(out));
            }
        }
    }

    /// Evaluate on one raw row (values in raw-schema order).
    pub fn eval(&self, row: &[Value]) -> EvalResult {
        match self {
            Expr::Column(i) => row
                .get(*i)
                .cloned()
                .ok_or_else(|| EvalError::Invalid(format!("column {i} out of range"))),
            Expr::Literal(l) => Ok(l.value()),
            Expr::Binary { op, left, right } => {
                let l = left.eval(row)?;
                // AND/OR short-circuit like SQL's three-valued logic; the right side is still
                // evaluated when needed to decide NULL vs FALSE/TRUE.
                match op {
                    BinaryOp::And | BinaryOp::Or => logic(*op, &l, &right.eval(row)?),
                    _ => binary(*op, &l, &right.eval(row)?),
                }
            }
            Expr::Not(e) => match e.eval(row)? {
                Value::Null => Ok(Value::Null),
                Value::Bool(b) => Ok(Value::Bool(!b)),
                v => Err(EvalError::Invalid(format!("NOT on a {}", v.kind()))),
            },
            Expr::Negative(e) => match e.eval(row)? {
                Value::Null => Ok(Value::Null),
                Value::Int(i) => Ok(Value::Int(i.wrapping_neg())),
                Value::Float(x) => Ok(Value::Float(-x)),
                v => Err(EvalError::Invalid(format!("negation of a {}", v.kind()))),
            },
            Expr::IsNull(e) => Ok(Value::Bool(e.eval(row)?.is_null())),
            Expr::IsNotNull(e) => Ok(Value::Bool(!e.eval(row)?.is_null())),
            Expr::Case {
                operand,
                branches,
                otherwise,
            } => {
                let base = match operand {
                    Some(o) => Some(o.eval(row)?),
                    None => None,
                };
                case(
                    base,
                    branches.len(),
                    |i| branches[i].0.eval(row),
                    |i| branches[i].1.eval(row),
                    || otherwise.as_ref().map_or(Ok(Value::Null), |e| e.eval(row)),
                )
            }
            Expr::Cast { expr, to, safe } => {
                let v = expr.eval(row)?;
                match cast(&v, *to) {
                    Ok(v) => Ok(v),
                    Err(_) if *safe => Ok(Value::Null),
                    Err(e) => Err(e),
                }
            }
            Expr::Call { func, args } => {
                let vals = args
                    .iter()
                    .map(|a| a.eval(row))
                    .collect::<Result<Vec<_>, _>>()?;
                call(*func, &vals)
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let v = expr.eval(row)?;
                in_list(&v, list.iter().map(|item| item.eval(row)), *negated)
            }
        }
    }
}

/// CASE: the first of `arms` arms whose WHEN (`when(i)`) is true, or equals `base` when
/// there is one, gives `then(i)`; none does, `otherwise()`. Each WHEN is taken only if the
/// arms before it missed.
fn case(
    base: Option<Value>,
    arms: usize,
    when: impl Fn(usize) -> EvalResult,
    then: impl FnOnce(usize) -> EvalResult,
    otherwise: impl FnOnce() -> EvalResult,
) -> EvalResult {
    for i in 0..arms {
        let w = when(i)?;
        let hit = match &base {
            Some(b) => matches!(binary(BinaryOp::Eq, b, &w)?, Value::Bool(true)),
            None => matches!(w, Value::Bool(true)),
        };
        if hit {
            return then(i);
        }
    }
    otherwise()
}

/// `v [NOT] IN (items)` with SQL's NULLs; the items are taken in order, only until one
/// matches.
fn in_list(v: &Value, items: impl Iterator<Item = EvalResult>, negated: bool) -> EvalResult {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let mut saw_null = false;
    for item in items {
        match binary(BinaryOp::Eq, v, &item?)? {
            Value::Bool(true) => return Ok(Value::Bool(!negated)),
            Value::Null => saw_null = true,
            _ => {}
        }
    }
    Ok(if saw_null {
        Value::Null
    } else {
        Value::Bool(negated)
    })
}

fn logic(op: BinaryOp, l: &Value, r: &Value) -> EvalResult {
    let as_bool = |v: &Value| match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        v => Err(EvalError::Invalid(format!(
            "boolean expected, got a {}",
            v.kind()
        ))),
    };
    let (l, r) = (as_bool(l)?, as_bool(r)?);
    Ok(and_or(op, l, r).map_or(Value::Null, Value::Bool))
}

/// AND (`op`), or else OR, of two SQL booleans (`None`: NULL) in three-valued logic.
pub(crate) fn and_or(op: BinaryOp, l: Option<bool>, r: Option<bool>) -> Option<bool> {
    match op {
        BinaryOp::And => match (l, r) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        _ => match (l, r) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
    }
}

/// Whether comparison `op` (`=`, `<>`, `<`, `<=`, `>`, `>=`) holds of two values ordered
/// `ord`.
pub(crate) fn holds(op: BinaryOp, ord: Ordering) -> bool {
    match op {
        BinaryOp::Eq => ord == Ordering::Equal,
        BinaryOp::NotEq => ord != Ordering::Equal,
        BinaryOp::Lt => ord == Ordering::Less,
        BinaryOp::LtEq => ord != Ordering::Greater,
        BinaryOp::Gt => ord == Ordering::Greater,
        _ => ord != Ordering::Less,
    }
}

pub(super) fn binary(op: BinaryOp, l: &Value, r: &Value) -> EvalResult {
    match op {
        BinaryOp::IsDistinctFrom | BinaryOp::IsNotDistinctFrom => {
            let same = match (l, r) {
                (Value::Null, Value::Null) => true,
                (Value::Null, _) | (_, Value::Null) => false,
                _ => l.sql_cmp(r) == Some(Ordering::Equal),
            };
            return Ok(Value::Bool(same == (op == BinaryOp::IsNotDistinctFrom)));
        }
        BinaryOp::And | BinaryOp::Or => return logic(op, l, r),
        _ => {}
    }
    if l.is_null() || r.is_null() {
        return Ok(Value::Null);
    }
    match op {
        BinaryOp::Eq
        | BinaryOp::NotEq
        | BinaryOp::Lt
        | BinaryOp::LtEq
        | BinaryOp::Gt
        | BinaryOp::GtEq => {
            let ord = l.sql_cmp(r).ok_or_else(|| {
                EvalError::Invalid(format!("cannot compare a {} with a {}", l.kind(), r.kind()))
            })?;
            Ok(Value::Bool(holds(op, ord)))
        }
        BinaryOp::Concat => match (l, r) {
            (Value::Str(a), Value::Str(b)) => Ok(Value::Str(Arc::from(format!("{a}{b}")))),
            _ => Err(EvalError::Invalid(format!(
                "|| on a {} and a {}",
                l.kind(),
                r.kind()
            ))),
        },
        _ => arithmetic(op, l, r),
    }
}

fn arithmetic(op: BinaryOp, l: &Value, r: &Value) -> EvalResult {
    match (l, r) {
        (Value::Int(a), Value::Int(b)) => {
            let (a, b) = (*a, *b);
            Ok(Value::Int(match op {
                BinaryOp::Add => a.wrapping_add(b),
                BinaryOp::Sub => a.wrapping_sub(b),
                BinaryOp::Mul => a.wrapping_mul(b),
                BinaryOp::Div | BinaryOp::Mod => {
                    if b == 0 {
                        return Err(EvalError::DivideByZero);
                    }
                    let out = if op == BinaryOp::Div {
                        a.checked_div(b)
                    } else {
                        a.checked_rem(b)
                    };
                    out.ok_or(EvalError::Overflow("division"))?
                }
                _ => return Err(EvalError::Invalid(format!("{op} on integers"))),
            }))
        }
        _ => {
            let (Some(a), Some(b)) = (num(l), num(r)) else {
                return Err(EvalError::Invalid(format!(
                    "{op} on a {} and a {}",
                    l.kind(),
                    r.kind()
                )));
            };
            Ok(Value::Float(match op {
                BinaryOp::Add => a + b,
                BinaryOp::Sub => a - b,
                BinaryOp::Mul => a * b,
                BinaryOp::Div => a / b,
                BinaryOp::Mod => a % b,
                _ => return Err(EvalError::Invalid(format!("{op} on numbers"))),
            }))
        }
    }
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(x) => Some(*x),
        _ => None,
    }
}

/// Arrow's `cast` with `safe = false` for the four types.
pub fn cast(v: &Value, to: DataType) -> EvalResult {
    let fail = || EvalError::Cast { from: v.kind(), to };
    Ok(match (v, to) {
        (Value::Null, _) => Value::Null,
        (Value::Bool(_), DataType::Bool)
        | (Value::Int(_), DataType::Int)
        | (Value::Float(_), DataType::Float)
        | (Value::Str(_), DataType::Str) => v.clone(),
        (Value::Bool(b), DataType::Int) => Value::Int(i64::from(*b)),
        (Value::Bool(b), DataType::Float) => Value::Float(f64::from(u8::from(*b))),
        (Value::Bool(b), DataType::Str) => Value::str(if *b { "true" } else { "false" }),
        (Value::Int(i), DataType::Bool) => Value::Bool(*i != 0),
        (Value::Int(i), DataType::Float) => Value::Float(*i as f64),
        (Value::Int(i), DataType::Str) => Value::Str(Arc::from(i.to_string())),
        (Value::Float(x), DataType::Bool) => Value::Bool(*x != 0.0),
        (Value::Float(x), DataType::Int) => {
            // Truncation toward zero; NaN and out-of-range values do not convert.
            if x.is_nan() || *x < -9.223_372_036_854_776e18 || *x >= 9.223_372_036_854_776e18 {
                return Err(fail());
            }
            Value::Int(x.trunc() as i64)
        }
        (Value::Float(x), DataType::Str) => Value::Str(Arc::from(format!("{x:?}"))),
        (Value::Str(s), DataType::Int) => Value::Int(s.parse::<i64>().map_err(|_| fail())?),
        (Value::Str(s), DataType::Float) => Value::Float(s.parse::<f64>().map_err(|_| fail())?),
        (Value::Str(s), DataType::Bool) => match s.to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "on" | "1" => Value::Bool(true),
            "false" | "f" | "no" | "n" | "off" | "0" => Value::Bool(false),
            _ => return Err(fail()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::func::like;

    /// A row is an applicant's record: an evaluation error names the kind of value and the
    /// operation, never the value (it reaches 422 answers, logs and audit records).
    #[test]
    fn errors_name_kinds_never_values() {
        let canary = "CANARY-7731";
        let row = [Value::str(canary), Value::Int(3)];
        let failing = [
            Expr::Cast {
                expr: Box::new(Expr::column(0)),
                to: DataType::Int,
                safe: false,
            },
            Expr::Negative(Box::new(Expr::column(0))),
            Expr::Not(Box::new(Expr::column(0))),
            Expr::Binary {
                op: BinaryOp::Lt,
                left: Box::new(Expr::column(0)),
                right: Box::new(Expr::column(1)),
            },
            Expr::Binary {
                op: BinaryOp::Mul,
                left: Box::new(Expr::column(0)),
                right: Box::new(Expr::column(1)),
            },
            Expr::Call {
                func: crate::features::func::Func::Ln,
                args: vec![Expr::column(0)],
            },
        ];
        for e in failing {
            let message = e.eval(&row).unwrap_err().to_string();
            assert!(!message.contains(canary), "{message}");
            assert!(message.contains("a string"), "{message}");
        }
        assert_eq!(
            cast(&Value::str(canary), DataType::Float)
                .unwrap_err()
                .to_string(),
            "cannot cast a string to number"
        );
    }

    #[test]
    fn like_follows_sql() {
        for (s, p, want) in [
            ("female : single", "female%", true),
            ("male : single", "%single%", true),
            ("male : married", "%single%", false),
            ("abc", "a_c", true),
            ("abc", "a_", false),
            ("", "%", true),
            ("", "_", false),
            ("a%b", "a\\%b", true),
            ("axb", "a\\%b", false),
            ("mississippi", "%iss%ppi", true),
            ("mississippi", "m%s_s%i", true),
            ("mississippi", "%x%", false),
            ("äbc", "_bc", true),
        ] {
            assert_eq!(like(s, p), want, "{s:?} LIKE {p:?}");
        }
        let l = Expr::call(Func::ILike, vec![Expr::lit("CAR (new)"), Expr::lit("car%")]);
        assert!(matches!(l.eval(&[]), Ok(Value::Bool(true))));
        let n = Expr::call(Func::Like, vec![Expr::lit(Value::Null), Expr::lit("%")]);
        assert!(matches!(n.eval(&[]), Ok(Value::Null)));
    }

    fn eval(e: &Expr) -> EvalResult {
        e.eval(&[
            Value::Int(7),
            Value::Null,
            Value::str("a"),
            Value::Float(2.5),
        ])
    }

    #[test]
    fn arithmetic_follows_sql() {
        let div = Expr::binary(BinaryOp::Div, Expr::column(0), Expr::lit(2i64));
        assert!(eval(&div).unwrap().same_as(&Value::Int(3)));
        let by_zero = Expr::binary(BinaryOp::Div, Expr::column(0), Expr::lit(0i64));
        assert_eq!(eval(&by_zero).unwrap_err(), EvalError::DivideByZero);
        let with_null = Expr::binary(BinaryOp::Add, Expr::column(0), Expr::column(1));
        assert!(eval(&with_null).unwrap().is_null());
        let float = Expr::binary(BinaryOp::Mul, Expr::column(3), Expr::lit(2.0));
        assert!(eval(&float).unwrap().same_as(&Value::Float(5.0)));
    }

    #[test]
    fn three_valued_logic() {
        let null_cmp = Expr::binary(BinaryOp::Gt, Expr::column(1), Expr::lit(1i64));
        let f = Expr::lit(false);
        let t = Expr::lit(true);
        let and = Expr::binary(BinaryOp::And, null_cmp.clone(), f);
        assert!(eval(&and).unwrap().same_as(&Value::Bool(false)));
        let or = Expr::binary(BinaryOp::Or, null_cmp.clone(), t.clone());
        assert!(eval(&or).unwrap().same_as(&Value::Bool(true)));
        let and_null = Expr::binary(BinaryOp::And, null_cmp, t);
        assert!(eval(&and_null).unwrap().is_null());
    }

    #[test]
    fn case_takes_first_true_branch_and_skips_null() {
        let case = Expr::Case {
            operand: None,
            branches: vec![
                (
                    Expr::binary(BinaryOp::Gt, Expr::column(1), Expr::lit(0i64)),
                    Expr::lit("null-branch"),
                ),
                (
                    Expr::binary(BinaryOp::Gt, Expr::column(0), Expr::lit(5i64)),
                    Expr::lit("big"),
                ),
            ],
            otherwise: Some(Box::new(Expr::lit("small"))),
        };
        assert!(eval(&case).unwrap().same_as(&Value::str("big")));
    }

    #[test]
    fn coalesce_and_in_list() {
        let c = Expr::call(Func::Coalesce, vec![Expr::column(1), Expr::column(2)]);
        assert!(eval(&c).unwrap().same_as(&Value::str("a")));
        let in_list = Expr::InList {
            expr: Box::new(Expr::column(2)),
            list: vec![Expr::lit("b"), Expr::column(1)],
            negated: false,
        };
        assert!(eval(&in_list).unwrap().is_null());
    }

    #[test]
    fn literals_survive_serialization() {
        let e = Expr::binary(BinaryOp::Add, Expr::lit(f64::NAN), Expr::lit(0.1));
        let back: Expr = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        let v = back.eval(&[]).unwrap();
        assert!(v.same_as(&Value::Float(f64::NAN)));
    }
}
