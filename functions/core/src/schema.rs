//! The raw input schema of a pipeline: the fields an applicant record must (or may) carry,
//! and their conversion from JSON with every fault reported by field name, never by value.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Map;

use crate::value::{DataType, Value};

/// The largest whole number a JSON client can send as a float without losing digits
/// (2^53 - 1); an integer field's documented range is within plus or minus this.
pub const MAX_EXACT_INT: i64 = (1 << 53) - 1;

/// One raw field read by the online feature expressions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawField {
    pub name: String,
    pub data_type: DataType,
    /// The training data had missing values here, so a request may omit it or send `null`
    /// (the fitted imputation fills it). Otherwise the field is required.
    pub nullable: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawSchema {
    pub fields: Vec<RawField>,
}

/// What to do with a request field the pipeline does not read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownFields {
    /// Accept and ignore (a lender's record usually carries more than the model reads).
    #[default]
    Ignore,
    /// Answer 400 naming the field.
    Reject,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    Missing,
    NullNotAllowed,
    WrongType {
        expected: DataType,
    },
    NotAnInteger,
    /// A whole number beyond plus or minus [`MAX_EXACT_INT`].
    OutOfRange,
    Unknown,
    NotAnObject,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing => f.write_str("required field is missing"),
            Problem::NullNotAllowed => f.write_str("must not be null"),
            Problem::WrongType { expected } => write!(f, "expected type {expected}"),
            Problem::NotAnInteger => f.write_str("expected a whole number"),
            Problem::OutOfRange => {
                f.write_str("whole number out of range (at most 2^53 - 1 either way)")
            }
            Problem::Unknown => f.write_str("unknown field"),
            Problem::NotAnObject => f.write_str("expected a JSON object"),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl FieldError {
    pub fn summary(errors: &[FieldError]) -> String {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl RawSchema {
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// Check a raw row (from any source) against the schema's nullability.
    pub fn check_nulls(&self, row: &[Value]) -> Result<(), Vec<FieldError>> {
        let errors: Vec<FieldError> = self
            .fields
            .iter()
            .zip(row)
            .filter(|(f, v)| !f.nullable && v.is_null())
            .map(|(f, _)| FieldError {
                field: f.name.clone(),
                problem: Problem::NullNotAllowed,
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Convert one JSON applicant record into a raw row, in schema order. All faults are
    /// collected, so the caller learns every field at fault at once.
    pub fn parse_record(
        &self,
        record: &serde_json::Value,
        unknown: UnknownFields,
    ) -> Result<Vec<Value>, Vec<FieldError>> {
        let Some(obj) = record.as_object() else {
            return Err(vec![FieldError {
                field: "$".into(),
                problem: Problem::NotAnObject,
            }]);
        };
        let mut errors = Vec::new();
        let mut row = Vec::with_capacity(self.fields.len());
        for field in &self.fields {
            match convert(field, obj) {
                Ok(v) => row.push(v),
                Err(problem) => {
                    row.push(Value::Null);
                    errors.push(FieldError {
                        field: field.name.clone(),
                        problem,
                    });
                }
            }
        }
        if unknown == UnknownFields::Reject {
            let mut extra: Vec<_> = obj
                .keys()
                .filter(|k| self.index_of(k).is_none())
                .map(|k| FieldError {
                    field: k.clone(),
                    problem: Problem::Unknown,
                })
                .collect();
            extra.sort_by(|a, b| a.field.cmp(&b.field));
            errors.extend(extra);
        }
        if errors.is_empty() {
            Ok(row)
        } else {
            Err(errors)
        }
    }
}

fn convert(field: &RawField, obj: &Map<String, serde_json::Value>) -> Result<Value, Problem> {
    use serde_json::Value as J;
    let Some(v) = obj.get(&field.name) else {
        return if field.nullable {
            Ok(Value::Null)
        } else {
            Err(Problem::Missing)
        };
    };
    let wrong = || Problem::WrongType {
        expected: field.data_type,
    };
    match (field.data_type, v) {
        (_, J::Null) if field.nullable => Ok(Value::Null),
        (_, J::Null) => Err(Problem::NullNotAllowed),
        (DataType::Str, J::String(s)) => Ok(Value::str(s)),
        (DataType::Bool, J::Bool(b)) => Ok(Value::Bool(*b)),
        (DataType::Float, J::Number(n)) => n.as_f64().map(Value::Float).ok_or_else(wrong),
        (DataType::Int, J::Number(n)) => {
            // 3.0 is a whole number sent as a float; 3.5 is not. Past 2^53 a float cannot
            // tell neighbouring integers apart, so the range is the same either way.
            let whole = match n.as_i64() {
                Some(i) => Some(i),
                None => n
                    .as_f64()
                    .filter(|x| x.fract() == 0.0 && x.abs() <= MAX_EXACT_INT as f64)
                    .map(|x| x as i64),
            };
            match whole {
                Some(i) if i.unsigned_abs() <= MAX_EXACT_INT as u64 => Ok(Value::Int(i)),
                Some(_) => Err(Problem::OutOfRange),
                None if n.as_f64().is_some_and(|x| x.fract() == 0.0) => Err(Problem::OutOfRange),
                None => Err(Problem::NotAnInteger),
            }
        }
        _ => Err(wrong()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> RawSchema {
        RawSchema {
            fields: vec![
                RawField {
                    name: "age".into(),
                    data_type: DataType::Int,
                    nullable: false,
                },
                RawField {
                    name: "income".into(),
                    data_type: DataType::Float,
                    nullable: true,
                },
                RawField {
                    name: "home".into(),
                    data_type: DataType::Str,
                    nullable: false,
                },
            ],
        }
    }

    #[test]
    fn every_fault_is_reported_by_field() {
        let err = schema()
            .parse_record(
                &json!({"age": 30.5, "home": 3, "zzz": 1}),
                UnknownFields::Reject,
            )
            .unwrap_err();
        let fields: Vec<_> = err.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["age", "home", "zzz"]);
        assert_eq!(err[0].problem, Problem::NotAnInteger);
    }

    #[test]
    fn integers_hold_within_plus_or_minus_2_pow_53_however_sent() {
        let age = |v: serde_json::Value| {
            schema().parse_record(&json!({"age": v, "home": "own"}), UnknownFields::Ignore)
        };
        let int = |v| match age(v).unwrap()[0] {
            Value::Int(i) => i,
            ref other => panic!("{other:?}"),
        };
        assert_eq!(int(json!(MAX_EXACT_INT)), MAX_EXACT_INT);
        assert_eq!(int(json!(-(MAX_EXACT_INT as f64))), -MAX_EXACT_INT);
        assert_eq!(int(json!(30.0)), 30);
        for v in [
            json!(MAX_EXACT_INT + 1),
            json!(i64::MIN),
            json!(1e300),
            json!(-9.0e15 * 2.0),
        ] {
            assert_eq!(
                age(v.clone()).unwrap_err()[0].problem,
                Problem::OutOfRange,
                "{v}"
            );
        }
        assert_eq!(
            age(json!(0.5)).unwrap_err()[0].problem,
            Problem::NotAnInteger
        );
    }

    #[test]
    fn optional_fields_may_be_absent_or_null() {
        let row = schema()
            .parse_record(&json!({"age": 30, "home": "own"}), UnknownFields::Ignore)
            .unwrap();
        assert!(row[1].is_null());
        let missing = schema()
            .parse_record(&json!({"income": null}), UnknownFields::Ignore)
            .unwrap_err();
        assert_eq!(missing.len(), 2);
        assert_eq!(missing[0].problem, Problem::Missing);
    }

    #[test]
    fn messages_never_echo_values() {
        let err = schema()
            .parse_record(
                &json!({"age": "secret-value", "home": "x"}),
                UnknownFields::Ignore,
            )
            .unwrap_err();
        assert!(!FieldError::summary(&err).contains("secret-value"));
    }
}
