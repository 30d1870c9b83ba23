//! The raw input schema of a pipeline: the fields an applicant record must (or may) carry,
//! and their conversion from JSON with every fault reported by field name, never by value.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::features::value::{DataType, Value};

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
            return Err(not_an_object());
        };
        let slots = self
            .fields
            .iter()
            .map(|f| obj.get(&f.name).map(Scalar::of))
            .collect();
        let extra = match unknown {
            UnknownFields::Ignore => Vec::new(),
            UnknownFields::Reject => obj
                .keys()
                .filter(|k| self.index_of(k).is_none())
                .cloned()
                .collect(),
        };
        self.convert_all(slots, extra)
    }

    /// [`RawSchema::parse_record`] straight from the record's JSON text, without building a
    /// `serde_json::Value` (the list route's hot path); the same rules, the same faults.
    /// `index` is this schema's [`RawSchema::index`]. The text must be valid JSON (the
    /// caller has parsed the body); an object is read, anything else is not an object.
    pub fn parse_json(
        &self,
        index: &FieldIndex,
        text: &str,
        unknown: UnknownFields,
    ) -> Result<Vec<Value>, Vec<FieldError>> {
        use serde::de::DeserializeSeed;
        let mut de = serde_json::Deserializer::from_str(text);
        let read = RecordSeed {
            index,
            n: self.fields.len(),
            reject: unknown == UnknownFields::Reject,
        }
        .deserialize(&mut de);
        match read {
            Ok(Some((slots, extra))) => self.convert_all(slots, extra),
            // Not an object; or, for text that is not JSON, nothing a caller could fix field
            // by field.
            Ok(None) | Err(_) => Err(not_an_object()),
        }
    }

    /// The position of each field by name, for [`RawSchema::parse_json`].
    pub fn index(&self) -> FieldIndex {
        FieldIndex(
            self.fields
                .iter()
                .enumerate()
                .map(|(i, f)| (f.name.clone(), i))
                .collect(),
        )
    }

    fn convert_all(
        &self,
        slots: Vec<Option<Scalar<'_>>>,
        mut extra: Vec<String>,
    ) -> Result<Vec<Value>, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut row = Vec::with_capacity(self.fields.len());
        for (field, slot) in self.fields.iter().zip(slots) {
            match convert(field, slot) {
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
        extra.sort();
        errors.extend(extra.into_iter().map(|field| FieldError {
            field,
            problem: Problem::Unknown,
        }));
        if errors.is_empty() {
            Ok(row)
        } else {
            Err(errors)
        }
    }
}

fn not_an_object() -> Vec<FieldError> {
    vec![FieldError {
        field: "$".into(),
        problem: Problem::NotAnObject,
    }]
}

/// Field positions by name (see [`RawSchema::index`]).
#[derive(Debug, Clone, Default)]
pub struct FieldIndex(std::collections::HashMap<String, usize>);

/// A JSON value as a field sees it, before conversion to the field's type.
#[derive(Debug, Clone)]
enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// Beyond `i64` (serde_json's `u64` range).
    Unsigned(u64),
    Float(f64),
    Str(std::borrow::Cow<'a, str>),
    /// An array or an object.
    Nested,
}

impl<'a> Scalar<'a> {
    fn of(v: &'a serde_json::Value) -> Self {
        use serde_json::Value as J;
        match v {
            J::Null => Scalar::Null,
            J::Bool(b) => Scalar::Bool(*b),
            J::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => Scalar::Int(i),
                (None, Some(u), _) => Scalar::Unsigned(u),
                (_, _, x) => Scalar::Float(x.unwrap_or(f64::NAN)),
            },
            J::String(s) => Scalar::Str(std::borrow::Cow::Borrowed(s)),
            J::Array(_) | J::Object(_) => Scalar::Nested,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> serde::de::Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Int(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(u).map_or(Scalar::Unsigned(u), Scalar::Int))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Float(x))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(std::borrow::Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(std::borrow::Cow::Owned(s.to_owned())))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Scalar::Nested)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        while a
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(Scalar::Nested)
    }
}

/// Reads one record: each field's value in its slot (the last one when a key repeats, as
/// `serde_json::Value` keeps it), and the names of fields the schema lacks when they are
/// refused. `None`: not an object.
struct RecordSeed<'s> {
    index: &'s FieldIndex,
    n: usize,
    reject: bool,
}

type Read<'de> = Option<(Vec<Option<Scalar<'de>>>, Vec<String>)>;

impl<'de> serde::de::DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = Read<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for RecordSeed<'_> {
    type Value = Read<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an applicant record")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        let mut slots = vec![None; self.n];
        let mut extra = Vec::new();
        while let Some(key) = a.next_key::<Scalar<'de>>()? {
            let Scalar::Str(key) = key else {
                continue; // JSON object keys are strings
            };
            match self.index.0.get(key.as_ref()) {
                Some(&i) => slots[i] = Some(a.next_value::<Scalar<'de>>()?),
                None => {
                    a.next_value::<serde::de::IgnoredAny>()?;
                    if self.reject && !extra.iter().any(|k: &String| *k == key) {
                        extra.push(key.into_owned());
                    }
                }
            }
        }
        Ok(Some((slots, extra)))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
        ScalarVisitor.visit_seq(a).map(|_| None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// One field's value, converted to its type, or the problem with it.
fn convert(field: &RawField, v: Option<Scalar<'_>>) -> Result<Value, Problem> {
    let Some(v) = v else {
        return if field.nullable {
            Ok(Value::Null)
        } else {
            Err(Problem::Missing)
        };
    };
    let wrong = || Problem::WrongType {
        expected: field.data_type,
    };
    let max = MAX_EXACT_INT as f64;
    match (field.data_type, v) {
        (_, Scalar::Null) if field.nullable => Ok(Value::Null),
        (_, Scalar::Null) => Err(Problem::NullNotAllowed),
        (DataType::Str, Scalar::Str(s)) => Ok(Value::str(&s)),
        (DataType::Bool, Scalar::Bool(b)) => Ok(Value::Bool(b)),
        (DataType::Float, Scalar::Int(i)) => Ok(Value::Float(i as f64)),
        (DataType::Float, Scalar::Unsigned(u)) => Ok(Value::Float(u as f64)),
        (DataType::Float, Scalar::Float(x)) => Ok(Value::Float(x)),
        // 3.0 is a whole number sent as a float; 3.5 is not. Past 2^53 a float cannot tell
        // neighbouring integers apart, so the range is the same however it is sent.
        (DataType::Int, Scalar::Int(i)) if i.unsigned_abs() <= MAX_EXACT_INT as u64 => {
            Ok(Value::Int(i))
        }
        (DataType::Int, Scalar::Int(_) | Scalar::Unsigned(_)) => Err(Problem::OutOfRange),
        (DataType::Int, Scalar::Float(x)) if x.fract() == 0.0 && x.abs() <= max => {
            Ok(Value::Int(x as i64))
        }
        (DataType::Int, Scalar::Float(x)) if x.fract() == 0.0 => Err(Problem::OutOfRange),
        (DataType::Int, Scalar::Float(_)) => Err(Problem::NotAnInteger),
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

    /// The text reader and the `Value` reader agree, faults included, on every shape a
    /// client may send (each case is checked against `parse_record`, the reference).
    #[test]
    fn reading_the_text_matches_reading_a_value() {
        let schema = schema();
        let index = schema.index();
        let cases = [
            r#"{"age": 30, "income": 1.5, "home": "own"}"#,
            r#"{"home": "o\u0077n", "age": 30.0, "zzz": [1, {"a": 2}], "income": 3}"#,
            r#"{"age": 30, "age": 31, "home": "own", "income": null}"#,
            r#"{"age": 9007199254740992, "home": 3, "zzz": 1, "yyy": {}, "zzz": 2}"#,
            r#"{"age": 18446744073709551615, "income": "x", "home": null}"#,
            r#"{"age": -1e300, "income": 1e-300, "home": ""}"#,
            r#"{"age": 0.5, "income": true, "home": ["own"]}"#,
            r#"{}"#,
            r#"[{"age": 30}]"#,
            r#""own""#,
            r#"null"#,
            r#"12"#,
        ];
        for text in cases {
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            for unknown in [UnknownFields::Ignore, UnknownFields::Reject] {
                let want = schema.parse_record(&value, unknown);
                let got = schema.parse_json(&index, text, unknown);
                assert_eq!(
                    format!("{got:?}"),
                    format!("{want:?}"),
                    "{text} {unknown:?}"
                );
            }
        }
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
