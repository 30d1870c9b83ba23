//! A derived feature evaluated over a whole batch at once on typed vectors: what batch
//! scoring runs before falling back to [`Expr::eval`] row by row. The row evaluator works on
//! [`Value`]s (a tagged value, a string behind a reference count) node by node; here each
//! node is a loop over plain `i64`/`f64`/`bool` vectors, and strings stay dictionary keys.
//!
//! Every value equals [`Expr::eval`]'s for the same row (tested below against it on every
//! row): the same operations in the same types (wrapping integer arithmetic, floats
//! compared in IEEE total order, NULL propagation, three-valued logic, first-true CASE).
//! What this evaluator does not cover gives `None` and the caller takes the row path:
//! node kinds or type pairs it does not implement, and any row that would fail (a division
//! by zero, a failing CAST). Every CASE branch is computed on every row, but a failure
//! counts only in the rows that take the branch, as `eval` evaluates it only there.
//!
//! (A third of the file, from `mod tests` on, checks each kernel against the row evaluator.)

use std::cmp::Ordering;
use std::sync::Arc;

use crate::features::expr::{BinaryOp, Expr, Literal, and_or, cast, holds};
use crate::features::func::{Func, float_fn};
use crate::features::value::{DataType, Value};
use crate::scoring::columns::Column;

/// One type's values for every row; a NULL row's value is meaningless.
#[derive(Debug, Clone)]
pub(crate) enum Data {
    /// Every row NULL, of no type (a NULL literal, or an operation on one).
    Null,
    Bool(Vec<bool>),
    Int(Vec<i64>),
    Float(Vec<f64>),
    /// Row `r` holds `dict[keys[r]]`.
    Str {
        keys: Vec<u32>,
        dict: Vec<Arc<str>>,
    },
}

/// An expression's values over a batch: `nulls[r]` marks row `r` NULL (`None`: none is).
#[derive(Debug, Clone)]
pub(crate) struct Typed {
    pub(crate) data: Data,
    pub(crate) nulls: Option<Vec<bool>>,
}

impl Typed {
    fn new(data: Data, nulls: Option<Vec<bool>>) -> Typed {
        Typed { data, nulls }
    }

    fn null() -> Typed {
        Typed::new(Data::Null, None)
    }

    pub(crate) fn is_null(&self, r: usize) -> bool {
        matches!(self.data, Data::Null) || self.nulls.as_ref().is_some_and(|n| n[r])
    }

    /// Row `r`'s value, as `eval` gives it.
    pub(crate) fn value(&self, r: usize) -> Value {
        if self.is_null(r) {
            return Value::Null;
        }
        match &self.data {
            Data::Null => Value::Null,
            Data::Bool(v) => Value::Bool(v[r]),
            Data::Int(v) => Value::Int(v[r]),
            Data::Float(v) => Value::Float(v[r]),
            Data::Str { keys, dict } => Value::Str(dict[keys[r] as usize].clone()),
        }
    }

    /// The rows NULL in either.
    fn nulls_of_either(&self, other: &Typed, rows: usize) -> Option<Vec<bool>> {
        match (&self.nulls, &other.nulls) {
            (None, None) => None,
            (Some(n), None) | (None, Some(n)) => Some(n.clone()),
            (Some(a), Some(b)) => Some((0..rows).map(|r| a[r] || b[r]).collect()),
        }
    }

    /// Whether `f` holds for every row that is not NULL.
    fn all_valid(&self, rows: usize, f: impl Fn(usize) -> bool) -> bool {
        (0..rows).all(|r| self.is_null(r) || f(r))
    }
}

/// `expr` over the `rows` rows of `columns` (the raw fields, in raw-schema order), or `None`
/// where the row path must decide (see the module's note).
pub(crate) fn eval(expr: &Expr, columns: &[Column<'_>], rows: usize) -> Option<Typed> {
    eval_in(expr, columns, rows, None)
}

/// Which rows the row path evaluates a node on (`None`: all): a CASE branch only on the
/// rows that take it. A failure counts only in those rows; elsewhere the value is never
/// used.
type Live<'a> = Option<&'a [bool]>;

fn is_live(live: Live<'_>, r: usize) -> bool {
    live.is_none_or(|l| l[r])
}

fn eval_in(expr: &Expr, columns: &[Column<'_>], rows: usize, live: Live<'_>) -> Option<Typed> {
    let sub = |e: &Expr| eval_in(e, columns, rows, live);
    match expr {
        Expr::Column(i) => column(columns.get(*i)?, rows),
        Expr::Literal(l) => Some(literal(l, rows)),
        Expr::Binary { op, left, right } => binary(*op, &sub(left)?, &sub(right)?, rows, live),
        Expr::Not(e) => {
            let t = sub(e)?;
            match t.data {
                Data::Null => Some(t),
                Data::Bool(v) => Some(Typed::new(
                    Data::Bool(v.iter().map(|b| !b).collect()),
                    t.nulls,
                )),
                _ => None,
            }
        }
        Expr::Negative(e) => {
            let t = sub(e)?;
            let data = match t.data {
                Data::Null => Data::Null,
                Data::Int(v) => Data::Int(v.iter().map(|i| i.wrapping_neg()).collect()),
                Data::Float(v) => Data::Float(v.iter().map(|x| -x).collect()),
                _ => return None,
            };
            Some(Typed::new(data, t.nulls))
        }
        Expr::IsNull(e) | Expr::IsNotNull(e) => {
            let t = sub(e)?;
            let want_null = matches!(expr, Expr::IsNull(_));
            Some(Typed::new(
                Data::Bool((0..rows).map(|r| t.is_null(r) == want_null).collect()),
                None,
            ))
        }
        Expr::Cast { expr, to, safe } => cast_to(sub(expr)?, *to, *safe, rows, live),
        Expr::Case {
            operand,
            branches,
            otherwise,
        } => {
            let base = match operand {
                Some(o) => Some(sub(o)?),
                None => None,
            };
            // Each row's arm: the first whose WHEN holds (`branches.len()`: none does). A
            // WHEN is reached by the rows the ones before missed, a THEN by the rows its
            // WHEN took, the ELSE by the rows no WHEN took.
            let mut arm = vec![branches.len(); rows];
            let mut reach: Vec<bool> = (0..rows).map(|r| is_live(live, r)).collect();
            let mut taken = Vec::with_capacity(branches.len());
            for (i, (when, _)) in branches.iter().enumerate() {
                let w = eval_in(when, columns, rows, Some(&reach))?;
                let hit = match &base {
                    Some(b) => compare(BinaryOp::Eq, b, &w, rows)?,
                    None => w,
                };
                let mut took = vec![false; rows];
                if let Data::Bool(v) = &hit.data {
                    for r in 0..rows {
                        if reach[r] && v[r] && !hit.is_null(r) {
                            arm[r] = i;
                            took[r] = true;
                            reach[r] = false;
                        }
                    }
                }
                taken.push(took);
            }
            let mut arms = branches
                .iter()
                .zip(&taken)
                .map(|((_, then), took)| eval_in(then, columns, rows, Some(took)))
                .collect::<Option<Vec<_>>>()?;
            arms.push(match otherwise {
                Some(e) => eval_in(e, columns, rows, Some(&reach))?,
                None => Typed::null(),
            });
            pick(&arms, rows, |r| arm[r])
        }
        Expr::Call { func, args } => {
            let args = args.iter().map(sub).collect::<Option<Vec<_>>>()?;
            call(*func, &args, rows, live)
        }
        Expr::InList { .. } => None,
    }
}

fn column(c: &Column<'_>, rows: usize) -> Option<Typed> {
    let nulls = |v: &Option<crate::scoring::columns::Validity<'_>>| {
        v.map(|v| (0..rows).map(|r| !v.is_valid(r)).collect())
    };
    Some(match c {
        Column::Int { values, validity } => Typed::new(Data::Int(values.to_vec()), nulls(validity)),
        Column::Float { values, validity } => {
            Typed::new(Data::Float(values.to_vec()), nulls(validity))
        }
        Column::Str {
            keys,
            dict,
            validity,
        } => Typed::new(
            Data::Str {
                keys: keys.to_vec(),
                dict: dict.to_vec(),
            },
            nulls(validity),
        ),
        Column::Values(_) => return None,
    })
}

fn literal(l: &Literal, rows: usize) -> Typed {
    let data = match l.value() {
        Value::Null => Data::Null,
        Value::Bool(b) => Data::Bool(vec![b; rows]),
        Value::Int(i) => Data::Int(vec![i; rows]),
        Value::Float(x) => Data::Float(vec![x; rows]),
        Value::Str(s) => Data::Str {
            keys: vec![0; rows],
            dict: vec![s],
        },
    };
    Typed::new(data, None)
}

fn binary(op: BinaryOp, l: &Typed, r: &Typed, rows: usize, live: Live<'_>) -> Option<Typed> {
    match op {
        BinaryOp::And | BinaryOp::Or => logic(op, l, r, rows),
        BinaryOp::Eq
        | BinaryOp::NotEq
        | BinaryOp::Lt
        | BinaryOp::LtEq
        | BinaryOp::Gt
        | BinaryOp::GtEq => compare(op, l, r, rows),
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => {
            arithmetic(op, l, r, rows, live)
        }
        _ => None,
    }
}

/// AND / OR in three-valued logic; both sides must be booleans (or NULL).
fn logic(op: BinaryOp, l: &Typed, r: &Typed, rows: usize) -> Option<Typed> {
    let side = |t: &Typed| -> Option<Vec<Option<bool>>> {
        match &t.data {
            Data::Null => Some(vec![None; rows]),
            Data::Bool(v) => Some((0..rows).map(|i| (!t.is_null(i)).then(|| v[i])).collect()),
            _ => None,
        }
    };
    let (a, b) = (side(l)?, side(r)?);
    let out: Vec<Option<bool>> = a.iter().zip(&b).map(|(&a, &b)| and_or(op, a, b)).collect();
    let nulls = out
        .iter()
        .any(Option::is_none)
        .then(|| out.iter().map(Option::is_none).collect());
    Some(Typed::new(
        Data::Bool(out.iter().map(|v| v.unwrap_or(false)).collect()),
        nulls,
    ))
}

/// A comparison, ordering values as [`Value::sql_cmp`] does.
fn compare(op: BinaryOp, l: &Typed, r: &Typed, rows: usize) -> Option<Typed> {
    if matches!(l.data, Data::Null) || matches!(r.data, Data::Null) {
        return Some(Typed::null());
    }
    let nulls = l.nulls_of_either(r, rows);
    let each = |ord: &dyn Fn(usize) -> Ordering| each_row(op, rows, &nulls, ord);
    let out = match (&l.data, &r.data) {
        (Data::Int(a), Data::Int(b)) => each_row(op, rows, &nulls, |i| a[i].cmp(&b[i])),
        (Data::Float(a), Data::Float(b)) => each_row(op, rows, &nulls, |i| a[i].total_cmp(&b[i])),
        (Data::Int(a), Data::Float(b)) => {
            each_row(op, rows, &nulls, |i| (a[i] as f64).total_cmp(&b[i]))
        }
        (Data::Float(a), Data::Int(b)) => {
            each_row(op, rows, &nulls, |i| a[i].total_cmp(&(b[i] as f64)))
        }
        (Data::Bool(a), Data::Bool(b)) => each_row(op, rows, &nulls, |i| a[i].cmp(&b[i])),
        (Data::Str { keys: ka, dict: da }, Data::Str { keys: kb, dict: db }) => {
            // Every pair of dictionary entries ordered once, when the dictionaries are
            // small; a NULL row's key is never looked up.
            if da.len() * db.len() <= 4096 {
                let table: Vec<Ordering> = da
                    .iter()
                    .flat_map(|a| db.iter().map(move |b| a.as_ref().cmp(b.as_ref())))
                    .collect();
                each(&|i| table[ka[i] as usize * db.len() + kb[i] as usize])
            } else {
                each(&|i| da[ka[i] as usize].as_ref().cmp(db[kb[i] as usize].as_ref()))
            }
        }
        // `eval` fails on a row holding two values it cannot compare.
        _ => return None,
    };
    Some(Typed::new(Data::Bool(out), nulls))
}

/// Whether `op` holds for each row's ordering (`ord(i)`, asked only of rows not NULL).
fn each_row(
    op: BinaryOp,
    rows: usize,
    nulls: &Option<Vec<bool>>,
    ord: impl Fn(usize) -> Ordering,
) -> Vec<bool> {
    match nulls {
        None => (0..rows).map(|i| holds(op, ord(i))).collect(),
        Some(n) => (0..rows).map(|i| !n[i] && holds(op, ord(i))).collect(),
    }
}

fn arithmetic(op: BinaryOp, l: &Typed, r: &Typed, rows: usize, live: Live<'_>) -> Option<Typed> {
    if matches!(l.data, Data::Null) || matches!(r.data, Data::Null) {
        return Some(Typed::null());
    }
    let nulls = l.nulls_of_either(r, rows);
    let valid = |i: usize| nulls.as_ref().is_none_or(|n| !n[i]) && is_live(live, i);
    let data = match (&l.data, &r.data) {
        (Data::Int(a), Data::Int(b)) => {
            let f: fn(i64, i64) -> i64 = match op {
                BinaryOp::Add => i64::wrapping_add,
                BinaryOp::Sub => i64::wrapping_sub,
                BinaryOp::Mul => i64::wrapping_mul,
                _ => {
                    // Division by zero or overflow in a row that is not NULL: that row fails.
                    let checked: fn(i64, i64) -> Option<i64> = match op {
                        BinaryOp::Div => i64::checked_div,
                        _ => i64::checked_rem,
                    };
                    let out: Vec<i64> = (0..rows)
                        .map(|i| match valid(i) {
                            true => checked(a[i], b[i]),
                            false => Some(0),
                        })
                        .collect::<Option<_>>()?;
                    return Some(Typed::new(Data::Int(out), nulls));
                }
            };
            Data::Int(a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect())
        }
        _ => {
            let (a, b) = (floats(&l.data)?, floats(&r.data)?);
            let f: fn(f64, f64) -> f64 = match op {
                BinaryOp::Add => |x, y| x + y,
                BinaryOp::Sub => |x, y| x - y,
                BinaryOp::Mul => |x, y| x * y,
                BinaryOp::Div => |x, y| x / y,
                _ => |x, y| x % y,
            };
            Data::Float(a.iter().zip(b.iter()).map(|(&x, &y)| f(x, y)).collect())
        }
    };
    Some(Typed::new(data, nulls))
}

/// Numbers as floats, as `eval` widens an integer meeting a float; `None` for other types.
fn floats(d: &Data) -> Option<std::borrow::Cow<'_, [f64]>> {
    use std::borrow::Cow;
    match d {
        Data::Float(v) => Some(Cow::Borrowed(v)),
        Data::Int(v) => Some(Cow::Owned(v.iter().map(|&i| i as f64).collect())),
        _ => None,
    }
}

/// [`cast`] on every row: on the few distinct values of strings and booleans through the
/// row path's own function, on numbers by the same conversions.
fn cast_to(t: Typed, to: DataType, safe: bool, rows: usize, live: Live<'_>) -> Option<Typed> {
    let mut nulls = t.nulls.clone();
    // Rows whose conversion fails become NULL when the cast is safe; otherwise they fail
    // (rows the row path does not evaluate here just get NULL).
    let mut fail = |r: usize| -> Option<()> {
        if !safe && is_live(live, r) {
            return None;
        }
        nulls.get_or_insert_with(|| vec![false; rows])[r] = true;
        Some(())
    };
    let data = match (&t.data, to) {
        (Data::Null, _)
        | (Data::Bool(_), DataType::Bool)
        | (Data::Int(_), DataType::Int)
        | (Data::Float(_), DataType::Float)
        | (Data::Str { .. }, DataType::Str) => return Some(t),
        (Data::Bool(v), DataType::Int) => Data::Int(v.iter().map(|&b| i64::from(b)).collect()),
        (Data::Bool(v), DataType::Float) => {
            Data::Float(v.iter().map(|&b| f64::from(u8::from(b))).collect())
        }
        (Data::Int(v), DataType::Bool) => Data::Bool(v.iter().map(|&i| i != 0).collect()),
        (Data::Int(v), DataType::Float) => Data::Float(v.iter().map(|&i| i as f64).collect()),
        (Data::Float(v), DataType::Bool) => Data::Bool(v.iter().map(|&x| x != 0.0).collect()),
        (Data::Float(v), DataType::Int) => {
            let mut out = Vec::with_capacity(rows);
            for (r, x) in v.iter().enumerate() {
                match cast(&Value::Float(*x), DataType::Int) {
                    Ok(Value::Int(i)) => out.push(i),
                    _ if t.is_null(r) => out.push(0),
                    _ => {
                        fail(r)?;
                        out.push(0);
                    }
                }
            }
            Data::Int(out)
        }
        (Data::Str { keys, dict }, DataType::Int | DataType::Float | DataType::Bool) => {
            let by_key: Vec<Option<Value>> = dict
                .iter()
                .map(|s| cast(&Value::Str(s.clone()), to).ok())
                .collect();
            let mut out = Vec::with_capacity(rows);
            for (r, &k) in keys.iter().enumerate() {
                match by_key.get(k as usize) {
                    _ if t.is_null(r) => out.push(Value::Null),
                    Some(Some(v)) => out.push(v.clone()),
                    _ => {
                        fail(r)?;
                        out.push(Value::Null);
                    }
                }
            }
            match to {
                DataType::Int => Data::Int(
                    out.iter()
                        .map(|v| if let Value::Int(i) = v { *i } else { 0 })
                        .collect(),
                ),
                DataType::Float => Data::Float(
                    out.iter()
                        .map(|v| if let Value::Float(x) = v { *x } else { 0.0 })
                        .collect(),
                ),
                _ => Data::Bool(out.iter().map(|v| matches!(v, Value::Bool(true))).collect()),
            }
        }
        (Data::Bool(v), DataType::Str) => Data::Str {
            keys: v.iter().map(|&b| u32::from(b)).collect(),
            dict: vec![Arc::from("false"), Arc::from("true")],
        },
        _ => return None,
    };
    Some(Typed::new(data, nulls))
}

/// Row `r` takes its value from `arms[arm(r)]`; every arm of one type (or NULL).
fn pick(arms: &[Typed], rows: usize, arm: impl Fn(usize) -> usize) -> Option<Typed> {
    let kind = |d: &Data| std::mem::discriminant(d);
    let typed: Vec<&Typed> = arms
        .iter()
        .filter(|a| !matches!(a.data, Data::Null))
        .collect();
    let Some(first) = typed.first() else {
        return Some(Typed::null());
    };
    if typed.iter().any(|a| kind(&a.data) != kind(&first.data)) {
        return None;
    }
    let nulls = match arms
        .iter()
        .any(|a| a.nulls.is_some() || matches!(a.data, Data::Null))
    {
        true => {
            let n: Vec<bool> = (0..rows).map(|r| arms[arm(r)].is_null(r)).collect();
            n.iter().any(|&n| n).then_some(n)
        }
        false => None,
    };
    let data = match &first.data {
        Data::Bool(_) => Data::Bool(
            (0..rows)
                .map(|r| matches!(&arms[arm(r)].data, Data::Bool(v) if v[r]))
                .collect(),
        ),
        Data::Int(_) => Data::Int(
            (0..rows)
                .map(|r| match &arms[arm(r)].data {
                    Data::Int(v) => v[r],
                    _ => 0,
                })
                .collect(),
        ),
        Data::Float(_) => Data::Float(
            (0..rows)
                .map(|r| match &arms[arm(r)].data {
                    Data::Float(v) => v[r],
                    _ => 0.0,
                })
                .collect(),
        ),
        // One dictionary: the arms' dictionaries one after the other.
        Data::Str { .. } => {
            let mut dict = Vec::new();
            let mut offsets = Vec::with_capacity(arms.len());
            for a in arms {
                offsets.push(dict.len() as u32);
                if let Data::Str { dict: d, .. } = &a.data {
                    dict.extend(d.iter().cloned());
                }
            }
            let keys = (0..rows)
                .map(|r| {
                    let a = arm(r);
                    match &arms[a].data {
                        Data::Str { keys, .. } => offsets[a].wrapping_add(keys[r]),
                        _ => 0,
                    }
                })
                .collect();
            Data::Str { keys, dict }
        }
        Data::Null => return Some(Typed::null()),
    };
    Some(Typed::new(data, nulls))
}

fn call(func: Func, args: &[Typed], rows: usize, live: Live<'_>) -> Option<Typed> {
    match func {
        Func::Coalesce => {
            // Each row's first argument that is not NULL (`args.len()`: none).
            let first: Vec<usize> = (0..rows)
                .map(|r| {
                    args.iter()
                        .position(|a| !a.is_null(r))
                        .unwrap_or(args.len())
                })
                .collect();
            let mut arms = args.to_vec();
            arms.push(Typed::null());
            pick(&arms, rows, |r| first[r])
        }
        Func::Nullif => {
            // The first argument, NULL where it equals the second.
            let [a, b] = args else { return None };
            let equal = compare(BinaryOp::Eq, a, b, rows)?;
            let Data::Bool(eq) = &equal.data else {
                return Some(a.clone());
            };
            let nulls: Vec<bool> = (0..rows)
                .map(|r| a.is_null(r) || (eq[r] && !equal.is_null(r)))
                .collect();
            Some(Typed::new(a.data.clone(), Some(nulls)))
        }
        Func::Abs => {
            let [a] = args else { return None };
            let data = match &a.data {
                Data::Null => Data::Null,
                Data::Int(v) => {
                    // `eval` fails on the one integer without an absolute value.
                    if !a.all_valid(rows, |r| v[r] != i64::MIN || !is_live(live, r)) {
                        return None;
                    }
                    Data::Int(v.iter().map(|i| i.wrapping_abs()).collect())
                }
                Data::Float(v) => Data::Float(v.iter().map(|x| x.abs()).collect()),
                _ => return None,
            };
            Some(Typed::new(data, a.nulls.clone()))
        }
        // A one-argument float function, or one this evaluator does not cover.
        _ => {
            let f = float_fn(func)?;
            let [a] = args else { return None };
            if matches!(a.data, Data::Null) {
                return Some(Typed::null());
            }
            let x = floats(&a.data)?;
            Some(Typed::new(
                Data::Float(x.iter().map(|&x| f(x)).collect()),
                a.nulls.clone(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoring::columns::Validity;

    /// Rows with every awkward value: NULLs, NaN, infinities, -0.0, zero divisors,
    /// strings that do and do not parse.
    struct Batch {
        ints: Vec<i64>,
        int_bits: Vec<u8>,
        floats: Vec<f64>,
        float_bits: Vec<u8>,
        keys: Vec<u32>,
        dict: Vec<Arc<str>>,
        str_bits: Vec<u8>,
        rows: usize,
    }

    impl Batch {
        fn new(rows: usize) -> Batch {
            let ints = [0, 3, -7, 12, i64::MAX, 40];
            let floats = [f64::NAN, f64::INFINITY, 0.25, -1.0, -0.0, 0.0, 1e300, 3.5];
            let dict: Vec<Arc<str>> = ["u", "v", "12", "2.5", "true", "x"]
                .iter()
                .map(|s| Arc::from(*s))
                .collect();
            let bits = |skip: usize| -> Vec<u8> {
                let mut b = vec![0u8; rows.div_ceil(8)];
                for r in (0..rows).filter(|r| r % skip != 0) {
                    b[r / 8] |= 1 << (r % 8);
                }
                b
            };
            Batch {
                ints: (0..rows).map(|r| ints[r % ints.len()]).collect(),
                int_bits: bits(5),
                floats: (0..rows).map(|r| floats[(r / 3) % floats.len()]).collect(),
                float_bits: bits(7),
                keys: (0..rows)
                    .map(|r| ((r * 7) / 5 % dict.len()) as u32)
                    .collect(),
                dict,
                str_bits: bits(11),
                rows,
            }
        }

        fn columns(&self) -> Vec<Column<'_>> {
            let v = |bits| Some(Validity { bits, offset: 0 });
            vec![
                Column::Int {
                    values: &self.ints,
                    validity: v(&self.int_bits),
                },
                Column::Float {
                    values: &self.floats,
                    validity: v(&self.float_bits),
                },
                Column::Str {
                    keys: &self.keys,
                    dict: &self.dict,
                    validity: v(&self.str_bits),
                },
                // Never NULL (but zero in some rows).
                Column::Int {
                    values: &self.ints[..self.rows],
                    validity: None,
                },
            ]
        }
    }

    fn case(operand: Option<Expr>, branches: Vec<(Expr, Expr)>, otherwise: Option<Expr>) -> Expr {
        Expr::Case {
            operand: operand.map(Box::new),
            branches,
            otherwise: otherwise.map(Box::new),
        }
    }

    fn cast_as(e: Expr, to: DataType, safe: bool) -> Expr {
        Expr::Cast {
            expr: Box::new(e),
            to,
            safe,
        }
    }

    #[test]
    fn typed_vectors_give_the_row_evaluators_values() {
        let (i, x, s) = (Expr::column(0), Expr::column(1), Expr::column(2));
        let b = |op, l: &Expr, r: Expr| Expr::binary(op, l.clone(), r);
        // (expression, whether the typed path must take it: no row can fail)
        let exprs: Vec<(Expr, bool)> = vec![
            (
                b(
                    BinaryOp::Div,
                    &cast_as(i.clone(), DataType::Float, false),
                    x.clone(),
                ),
                true,
            ),
            (
                Expr::call(Func::Ln, vec![cast_as(i.clone(), DataType::Float, false)]),
                true,
            ),
            (
                case(
                    None,
                    vec![
                        (b(BinaryOp::Lt, &i, Expr::lit(0i64)), Expr::lit("negative")),
                        (b(BinaryOp::Lt, &i, Expr::lit(10i64)), Expr::lit("small")),
                        (b(BinaryOp::GtEq, &x, Expr::lit(0.25)), s.clone()),
                    ],
                    Some(Expr::lit("other")),
                ),
                true,
            ),
            (
                case(
                    Some(s.clone()),
                    vec![
                        (Expr::lit("u"), Expr::lit(1i64)),
                        (Expr::lit("v"), i.clone()),
                    ],
                    None,
                ),
                true,
            ),
            (b(BinaryOp::Add, &i, Expr::lit(i64::MAX)), true),
            (b(BinaryOp::Mul, &i, x.clone()), true),
            (b(BinaryOp::Mod, &x, Expr::lit(2i64)), true),
            (b(BinaryOp::Sub, &Expr::lit(Value::Null), i.clone()), true),
            (b(BinaryOp::Div, &i, Expr::column(3)), false),
            (b(BinaryOp::Div, &Expr::lit(100i64), i.clone()), false),
            (b(BinaryOp::Eq, &x, Expr::lit(0.0)), true),
            (b(BinaryOp::Lt, &x, i.clone()), true),
            (b(BinaryOp::GtEq, &s, Expr::lit("12")), true),
            (b(BinaryOp::NotEq, &s, s.clone()), true),
            (
                b(
                    BinaryOp::Or,
                    &b(
                        BinaryOp::And,
                        &b(BinaryOp::Gt, &i, Expr::lit(1i64)),
                        b(BinaryOp::Lt, &x, Expr::lit(1.0)),
                    ),
                    Expr::IsNull(Box::new(s.clone())),
                ),
                true,
            ),
            (
                Expr::Not(Box::new(b(BinaryOp::Gt, &x, Expr::lit(0.0)))),
                true,
            ),
            (Expr::Negative(Box::new(i.clone())), true),
            (Expr::Negative(Box::new(x.clone())), true),
            (Expr::IsNotNull(Box::new(x.clone())), true),
            (cast_as(s.clone(), DataType::Float, true), true),
            (cast_as(s.clone(), DataType::Int, true), true),
            (cast_as(s.clone(), DataType::Bool, true), true),
            (cast_as(s.clone(), DataType::Float, false), false),
            (cast_as(x.clone(), DataType::Int, true), true),
            (cast_as(x.clone(), DataType::Int, false), false),
            (
                cast_as(b(BinaryOp::Gt, &x, Expr::lit(0.0)), DataType::Str, false),
                true,
            ),
            (
                cast_as(b(BinaryOp::Gt, &i, Expr::lit(3i64)), DataType::Float, false),
                true,
            ),
            (
                Expr::call(
                    Func::Coalesce,
                    vec![
                        x.clone(),
                        cast_as(i.clone(), DataType::Float, false),
                        Expr::lit(-1.0),
                    ],
                ),
                true,
            ),
            (
                Expr::call(Func::Coalesce, vec![s.clone(), Expr::lit("none")]),
                true,
            ),
            (Expr::call(Func::Abs, vec![i.clone()]), false),
            (Expr::call(Func::Abs, vec![x.clone()]), true),
            (Expr::call(Func::Sqrt, vec![x.clone()]), true),
            (Expr::call(Func::Signum, vec![x.clone()]), true),
            (Expr::call(Func::Floor, vec![i.clone()]), true),
            // CASE branches fail only where taken.
            (
                case(
                    None,
                    vec![(
                        b(BinaryOp::NotEq, &Expr::column(3), Expr::lit(0i64)),
                        b(BinaryOp::Div, &i, Expr::column(3)),
                    )],
                    None,
                ),
                true,
            ),
            (
                case(
                    None,
                    vec![(
                        b(BinaryOp::Eq, &Expr::column(3), Expr::lit(0i64)),
                        Expr::lit(0i64),
                    )],
                    Some(b(BinaryOp::Mod, &Expr::lit(100i64), Expr::column(3))),
                ),
                true,
            ),
            (
                case(
                    None,
                    vec![(
                        b(BinaryOp::Gt, &Expr::column(3), Expr::lit(0i64)),
                        b(
                            BinaryOp::Div,
                            &Expr::call(Func::Coalesce, vec![i.clone(), Expr::lit(0i64)]),
                            Expr::column(3),
                        ),
                    )],
                    None,
                ),
                true,
            ),
            (
                case(
                    Some(s.clone()),
                    vec![(Expr::lit("12"), cast_as(s.clone(), DataType::Int, false))],
                    None,
                ),
                true,
            ),
            (
                case(
                    None,
                    vec![(
                        b(BinaryOp::Gt, &i, Expr::lit(0i64)),
                        cast_as(s.clone(), DataType::Int, false),
                    )],
                    None,
                ),
                false,
            ),
            (
                case(
                    None,
                    vec![
                        (b(BinaryOp::Lt, &i, Expr::lit(0i64)), Expr::lit(1.0)),
                        (
                            b(
                                BinaryOp::Gt,
                                &(b(BinaryOp::Div, &Expr::lit(6i64), Expr::column(3))),
                                Expr::lit(1i64),
                            ),
                            Expr::lit(2.0),
                        ),
                    ],
                    None,
                ),
                false,
            ),
            (
                Expr::call(Func::Nullif, vec![i.clone(), Expr::lit(3i64)]),
                true,
            ),
            (
                Expr::call(Func::Nullif, vec![s.clone(), Expr::lit("u")]),
                true,
            ),
            (
                Expr::call(Func::Nullif, vec![x.clone(), Expr::lit(0.0)]),
                true,
            ),
            (Expr::call(Func::Nullif, vec![i.clone(), s.clone()]), false),
            // Not covered: the row path decides.
            (
                Expr::InList {
                    expr: Box::new(i.clone()),
                    list: vec![Expr::lit(3i64)],
                    negated: false,
                },
                false,
            ),
            (b(BinaryOp::Concat, &s, Expr::lit("!")), false),
            (
                Expr::call(Func::Greatest, vec![i.clone(), Expr::lit(1i64)]),
                false,
            ),
        ];
        let batch = Batch::new(1_003);
        let columns = batch.columns();
        for (e, must) in &exprs {
            let got = eval(e, &columns, batch.rows);
            assert!(!must || got.is_some(), "{e:?} left to the row path");
            for r in 0..batch.rows {
                let row: Vec<Value> = columns.iter().map(|c| c.value(r)).collect();
                match (e.eval(&row), &got) {
                    (Ok(want), Some(t)) => {
                        let v = t.value(r);
                        assert!(
                            v.same_as(&want) && v.data_type() == want.data_type(),
                            "{e:?} on {row:?}: {v:?} against {want:?}"
                        );
                    }
                    (Err(err), Some(_)) => {
                        panic!("{e:?} on {row:?}: a value where eval fails ({err})")
                    }
                    (_, None) => {}
                }
            }
        }
    }
}
