//! The scalar functions the online evaluator knows (names and semantics are DataFusion's)
//! and how each is computed on a row's values.

use std::cmp::Ordering;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::expr::{BinaryOp, EvalError, EvalResult, binary};
use super::value::Value;

/// Scalar functions the online evaluator knows. Names are DataFusion's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Func {
    Coalesce,
    Nullif,
    Abs,
    Ln,
    Log10,
    Log2,
    /// `log(x)` is base 10; `log(base, x)` any base (both computed as `x.log(base)`).
    Log,
    Exp,
    Sqrt,
    Cbrt,
    Power,
    Round,
    Trunc,
    Floor,
    Ceil,
    Signum,
    Greatest,
    Least,
    Lower,
    Upper,
    Btrim,
    Ltrim,
    Rtrim,
    CharacterLength,
    Concat,
    /// `x LIKE pattern` (`%` any run, `_` one character, `\` escapes the next);
    /// `NOT LIKE` is `Not` of it.
    Like,
    /// `ILIKE`: `LIKE` ignoring case.
    ILike,
}

impl Func {
    /// The function for a DataFusion function name, if the online evaluator has it.
    pub fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "coalesce" => Func::Coalesce,
            "nullif" => Func::Nullif,
            "abs" => Func::Abs,
            "ln" => Func::Ln,
            "log10" => Func::Log10,
            "log2" => Func::Log2,
            "log" => Func::Log,
            "exp" => Func::Exp,
            "sqrt" => Func::Sqrt,
            "cbrt" => Func::Cbrt,
            "power" | "pow" => Func::Power,
            "round" => Func::Round,
            "trunc" => Func::Trunc,
            "floor" => Func::Floor,
            "ceil" => Func::Ceil,
            "signum" => Func::Signum,
            "greatest" => Func::Greatest,
            "least" => Func::Least,
            "lower" => Func::Lower,
            "upper" => Func::Upper,
            "btrim" | "trim" => Func::Btrim,
            "ltrim" => Func::Ltrim,
            "rtrim" => Func::Rtrim,
            "character_length" | "char_length" | "length" => Func::CharacterLength,
            "concat" => Func::Concat,
            _ => return None,
        })
    }
}

impl Func {
    /// The function's SQL name, as errors name it.
    pub fn name(self) -> &'static str {
        match self {
            Func::Coalesce => "coalesce",
            Func::Nullif => "nullif",
            Func::Abs => "abs",
            Func::Ln => "ln",
            Func::Log10 => "log10",
            Func::Log2 => "log2",
            Func::Log => "log",
            Func::Exp => "exp",
            Func::Sqrt => "sqrt",
            Func::Cbrt => "cbrt",
            Func::Power => "power",
            Func::Round => "round",
            Func::Trunc => "trunc",
            Func::Floor => "floor",
            Func::Ceil => "ceil",
            Func::Signum => "signum",
            Func::Greatest => "greatest",
            Func::Least => "least",
            Func::Lower => "lower",
            Func::Upper => "upper",
            Func::Btrim => "btrim",
            Func::Ltrim => "ltrim",
            Func::Rtrim => "rtrim",
            Func::CharacterLength => "character_length",
            Func::Concat => "concat",
            Func::Like => "like",
            Func::ILike => "ilike",
        }
    }
}

impl std::fmt::Display for Func {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The function of a one-argument float function (`LN`, `SQRT`, ...), `None` for others.
pub(crate) fn float_fn(func: Func) -> Option<fn(f64) -> f64> {
    Some(match func {
        Func::Ln => f64::ln,
        Func::Log10 => f64::log10,
        Func::Log2 => f64::log2,
        Func::Exp => f64::exp,
        Func::Sqrt => f64::sqrt,
        Func::Cbrt => f64::cbrt,
        Func::Floor => f64::floor,
        Func::Ceil => f64::ceil,
        Func::Signum => |x| if x == 0.0 { 0.0 } else { x.signum() },
        _ => return None,
    })
}

fn float_arg(func: Func, v: &Value) -> Result<Option<f64>, EvalError> {
    match v {
        Value::Null => Ok(None),
        Value::Int(i) => Ok(Some(*i as f64)),
        Value::Float(x) => Ok(Some(*x)),
        _ => Err(EvalError::Invalid(format!("{func} of a {}", v.kind()))),
    }
}

fn str_arg(func: Func, v: &Value) -> Result<Option<&str>, EvalError> {
    match v {
        Value::Null => Ok(None),
        Value::Str(s) => Ok(Some(s)),
        _ => Err(EvalError::Invalid(format!("{func} of a {}", v.kind()))),
    }
}

fn arity(func: Func, args: &[Value], n: usize) -> Result<(), EvalError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(EvalError::Invalid(format!(
            "{func} takes {n} arguments, got {}",
            args.len()
        )))
    }
}

fn unary_float(func: Func, args: &[Value], f: impl Fn(f64) -> f64) -> EvalResult {
    arity(func, args, 1)?;
    Ok(float_arg(func, &args[0])?.map_or(Value::Null, |x| Value::Float(f(x))))
}

fn unary_str(func: Func, args: &[Value], f: impl Fn(&str) -> String) -> EvalResult {
    arity(func, args, 1)?;
    Ok(str_arg(func, &args[0])?.map_or(Value::Null, |s| Value::Str(Arc::from(f(s)))))
}

/// SQL `LIKE`: `%` matches any run of characters, `_` one character, `\` makes the next
/// character literal. Greedy with one backtrack point, linear in practice.
pub(super) fn like(s: &str, pattern: &str) -> bool {
    #[derive(PartialEq)]
    enum Tok {
        Any,
        One,
        Char(char),
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        toks.push(match c {
            '%' => Tok::Any,
            '_' => Tok::One,
            '\\' => Tok::Char(chars.next().unwrap_or('\\')),
            c => Tok::Char(c),
        });
    }
    let s: Vec<char> = s.chars().collect();
    let (mut si, mut pi) = (0, 0);
    // The last `%` seen and the text position it is tried from.
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match toks.get(pi) {
            Some(Tok::One) => {
                si += 1;
                pi += 1;
            }
            Some(Tok::Char(c)) if *c == s[si] => {
                si += 1;
                pi += 1;
            }
            Some(Tok::Any) => {
                star = Some((pi, si));
                pi += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    star = Some((sp, ss + 1));
                    pi = sp + 1;
                    si = ss + 1;
                }
                None => return false,
            },
        }
    }
    toks[pi..].iter().all(|t| *t == Tok::Any)
}

pub(super) fn call(func: Func, args: &[Value]) -> EvalResult {
    match func {
        Func::Coalesce => Ok(args
            .iter()
            .find(|v| !v.is_null())
            .cloned()
            .unwrap_or_default()),
        Func::Nullif => {
            arity(func, args, 2)?;
            match binary(BinaryOp::Eq, &args[0], &args[1])? {
                Value::Bool(true) => Ok(Value::Null),
                _ => Ok(args[0].clone()),
            }
        }
        Func::Abs => {
            arity(func, args, 1)?;
            match &args[0] {
                Value::Int(i) => i
                    .checked_abs()
                    .map(Value::Int)
                    .ok_or(EvalError::Overflow("abs")),
                v => unary_float(func, std::slice::from_ref(v), f64::abs),
            }
        }
        Func::Ln
        | Func::Log10
        | Func::Log2
        | Func::Exp
        | Func::Sqrt
        | Func::Cbrt
        | Func::Floor
        | Func::Ceil
        | Func::Signum => match float_fn(func) {
            Some(f) => unary_float(func, args, f),
            None => Err(EvalError::Invalid(format!(
                "{func} is not a float function"
            ))),
        },
        Func::Log => {
            let (base, x) = match args {
                [x] => (Some(10.0), float_arg(func, x)?),
                [b, x] => (float_arg(func, b)?, float_arg(func, x)?),
                _ => return Err(EvalError::Invalid("log takes 1 or 2 arguments".into())),
            };
            Ok(match (base, x) {
                (Some(b), Some(x)) => Value::Float(x.log(b)),
                _ => Value::Null,
            })
        }
        Func::Power => {
            arity(func, args, 2)?;
            match (float_arg(func, &args[0])?, float_arg(func, &args[1])?) {
                (Some(b), Some(e)) => {
                    if b == 0.0 && e < 0.0 {
                        return Err(EvalError::Domain(
                            "zero raised to a negative power is undefined",
                        ));
                    }
                    Ok(Value::Float(b.powf(e)))
                }
                _ => Ok(Value::Null),
            }
        }
        Func::Round | Func::Trunc => {
            let (x, places) = match args {
                [x] => (float_arg(func, x)?, Some(0)),
                [x, d] => (
                    float_arg(func, x)?,
                    match d {
                        Value::Null => None,
                        Value::Int(d) => Some(
                            i32::try_from(*d)
                                .map_err(|_| EvalError::Domain("decimal places out of range"))?,
                        ),
                        v => {
                            return Err(EvalError::Invalid(format!(
                                "{func} places: a {}",
                                v.kind()
                            )));
                        }
                    },
                ),
                _ => {
                    return Err(EvalError::Invalid(format!("{func} takes 1 or 2 arguments")));
                }
            };
            Ok(match (x, places) {
                (Some(x), Some(0)) if func == Func::Round => Value::Float(x.round()),
                (Some(x), Some(0)) => Value::Float(x.trunc()),
                (Some(x), Some(d)) => {
                    let factor = 10_f64.powi(d);
                    let scaled = x * factor;
                    let r = if func == Func::Round {
                        scaled.round()
                    } else {
                        scaled.trunc()
                    };
                    Value::Float(r / factor)
                }
                _ => Value::Null,
            })
        }
        Func::Greatest | Func::Least => {
            let mut best: Option<&Value> = None;
            for v in args.iter().filter(|v| !v.is_null()) {
                let ord = match best {
                    None => None,
                    Some(b) => Some(v.sql_cmp(b).ok_or_else(|| {
                        EvalError::Invalid(format!(
                            "cannot compare a {} with a {}",
                            v.kind(),
                            b.kind()
                        ))
                    })?),
                };
                let better = match ord {
                    None => true,
                    Some(o) if func == Func::Greatest => o == Ordering::Greater,
                    Some(o) => o == Ordering::Less,
                };
                if better {
                    best = Some(v);
                }
            }
            Ok(best.cloned().unwrap_or_default())
        }
        Func::Like | Func::ILike => {
            arity(func, args, 2)?;
            match (&args[0], &args[1]) {
                (Value::Null, _) | (_, Value::Null) => Ok(Value::Null),
                (Value::Str(s), Value::Str(p)) => Ok(Value::Bool(if func == Func::ILike {
                    like(&s.to_lowercase(), &p.to_lowercase())
                } else {
                    like(s, p)
                })),
                (a, b) => Err(EvalError::Invalid(format!(
                    "LIKE needs strings, got a {} and a {}",
                    a.kind(),
                    b.kind()
                ))),
            }
        }
        Func::Lower => unary_str(func, args, str::to_lowercase),
        Func::Upper => unary_str(func, args, str::to_uppercase),
        Func::Btrim => unary_str(func, args, |s| s.trim_matches(' ').to_string()),
        Func::Ltrim => unary_str(func, args, |s| s.trim_start_matches(' ').to_string()),
        Func::Rtrim => unary_str(func, args, |s| s.trim_end_matches(' ').to_string()),
        Func::CharacterLength => {
            arity(func, args, 1)?;
            Ok(str_arg(func, &args[0])?
                .map_or(Value::Null, |s| Value::Int(s.chars().count() as i64)))
        }
        Func::Concat => {
            let mut out = String::new();
            for v in args {
                match v {
                    Value::Null => {}
                    Value::Str(s) => out.push_str(s),
                    other => out.push_str(&other.to_string()),
                }
            }
            Ok(Value::Str(Arc::from(out)))
        }
    }
}
