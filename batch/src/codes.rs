//! De-duplication on codes instead of strings: each string column's values replaced by
//! integer codes (one per distinct string, for the whole source) before the aggregate, and
//! the strings put back in its result. Codes and strings correspond one to one, so the same
//! rows are kept; the aggregate then hashes and compares integers, not the often long
//! category strings of credit data. Each distinct string of a batch is looked up once (see
//! `distinct`), not once per row.

use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringViewArray, UInt32Array};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type};
use arrow::error::ArrowError;
use rustc_hash::FxHashMap;

use riskfn_core::value::DataType as OnlineType;

use crate::compile::online_type;
use crate::distinct::distinct;

/// The codes of one string column.
#[derive(Default)]
struct Interner {
    by_string: FxHashMap<Arc<str>, u32>,
    strings: Vec<Arc<str>>,
}

impl Interner {
    fn code(&mut self, s: &str) -> u32 {
        if let Some(&c) = self.by_string.get(s) {
            return c;
        }
        let c = self.strings.len() as u32;
        let s: Arc<str> = Arc::from(s);
        self.strings.push(s.clone());
        self.by_string.insert(s, c);
        c
    }
}

pub struct StringCodes {
    /// Each coded column's name and codes.
    columns: Vec<(String, Mutex<Interner>)>,
    original: SchemaRef,
    coded: SchemaRef,
}

impl StringCodes {
    /// Codes for every string column of `schema` (dictionaries of strings included) but
    /// `keep` (left as it is).
    pub fn new(schema: &SchemaRef, keep: Option<&str>) -> StringCodes {
        let is_coded = |f: &Field| {
            online_type(f.data_type()) == Some(OnlineType::Str) && Some(f.name().as_str()) != keep
        };
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| match is_coded(f) {
                true => Field::new(f.name(), DataType::UInt32, f.is_nullable()),
                false => f.as_ref().clone(),
            })
            .collect();
        // Decoded, a dictionary column comes back as views (the other string types as
        // they were): the pipeline's SQL is planned on the source as a scan gives it.
        let original: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Dictionary(..) if is_coded(f) => {
                    f.as_ref().clone().with_data_type(DataType::Utf8View)
                }
                _ => f.as_ref().clone(),
            })
            .collect();
        StringCodes {
            columns: schema
                .fields()
                .iter()
                .filter(|f| is_coded(f))
                .map(|f| (f.name().clone(), Mutex::new(Interner::default())))
                .collect(),
            original: Arc::new(Schema::new(original)),
            coded: Arc::new(Schema::new(fields)),
        }
    }

    /// The schema of coded batches.
    pub fn coded_schema(&self) -> SchemaRef {
        self.coded.clone()
    }

    fn interner(&self, name: &str) -> Option<&Mutex<Interner>> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, i)| i)
    }

    /// A source batch with its string columns coded.
    pub fn encode(&self, b: &RecordBatch) -> Result<RecordBatch, ArrowError> {
        let columns = b
            .schema()
            .fields()
            .iter()
            .zip(b.columns())
            .map(|(f, a)| match self.interner(f.name()) {
                Some(interner) => encode(a, interner),
                None => Ok(a.clone()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        RecordBatch::try_new(self.coded.clone(), columns)
    }

    /// A batch with coded columns (by name) given its strings back, in the source's types
    /// (a dictionary's as views).
    pub fn decode(&self, b: &RecordBatch) -> Result<RecordBatch, ArrowError> {
        let schema = b.schema();
        let mut fields = Vec::with_capacity(b.num_columns());
        let mut columns = Vec::with_capacity(b.num_columns());
        for (f, a) in schema.fields().iter().zip(b.columns()) {
            match self.interner(f.name()) {
                Some(interner) => {
                    let original = self.original.field_with_name(f.name())?;
                    let strings = interner
                        .lock()
                        .map_err(|_| ArrowError::ComputeError("string codes poisoned".into()))?;
                    // The distinct strings once, each row's view gathered from them (the
                    // rows share their bytes).
                    let values =
                        StringViewArray::from_iter_values(strings.strings.iter().map(|s| &**s));
                    let views = take(&values, a.as_primitive::<UInt32Type>(), None)?;
                    columns.push(cast(&views, original.data_type())?);
                    fields.push(Field::new(
                        f.name(),
                        original.data_type().clone(),
                        f.is_nullable(),
                    ));
                }
                None => {
                    columns.push(a.clone());
                    fields.push(f.as_ref().clone());
                }
            }
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
    }
}

/// One string column as codes (NULL stays NULL). The batch's distinct strings are found
/// without the lock, then it is taken once for them: partitions coding the same column at
/// once do not queue on it row by row.
fn encode(a: &ArrayRef, interner: &Mutex<Interner>) -> Result<ArrayRef, ArrowError> {
    let d = distinct(a)?;
    let global: Vec<u32> = {
        let mut interner = interner
            .lock()
            .map_err(|_| ArrowError::ComputeError("string codes poisoned".into()))?;
        (0..d.values.len())
            .map(|i| interner.code(d.values.value(i)))
            .collect()
    };
    // A NULL row's key is 0, which an all-NULL batch has no value for.
    let codes: Vec<u32> = d
        .keys
        .iter()
        .map(|&k| global.get(k as usize).copied().unwrap_or(0))
        .collect();
    Ok(Arc::new(UInt32Array::new(codes.into(), d.nulls)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

    #[test]
    fn codes_round_trip_and_match_equal_strings_only() {
        let long = "a category text longer than twelve bytes";
        let schema = Arc::new(Schema::new(vec![
            Field::new("s", DataType::Utf8View, true),
            Field::new("t", DataType::Utf8, true),
            Field::new("id", DataType::Utf8, false),
            Field::new("n", DataType::Int64, false),
        ]));
        let batch = |s: Vec<Option<&str>>, t: Vec<Option<&str>>| {
            let n = s.len();
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringViewArray::from(s)),
                    Arc::new(StringArray::from(t)),
                    Arc::new(StringArray::from_iter_values(
                        (0..n).map(|i| format!("id{i}")),
                    )),
                    Arc::new(Int64Array::from_iter_values(0..n as i64)),
                ],
            )
            .unwrap()
        };
        let codes = StringCodes::new(&schema, Some("id"));
        let b1 = batch(
            vec![Some(long), Some("x"), None, Some(long)],
            vec![Some("p"), None, Some("q"), Some("p")],
        );
        // A second batch (its own buffers): the same strings get the same codes.
        let b2 = batch(
            vec![Some("x"), Some(long), Some("y"), None],
            vec![Some("q"), Some("p"), None, None],
        );
        let (e1, e2) = (codes.encode(&b1).unwrap(), codes.encode(&b2).unwrap());
        assert_eq!(e1.schema(), codes.coded_schema());
        let s = |b: &RecordBatch| {
            b.column(0)
                .as_primitive::<arrow::datatypes::UInt32Type>()
                .iter()
                .collect::<Vec<_>>()
        };
        assert_eq!(s(&e1), [Some(0), Some(1), None, Some(0)]);
        assert_eq!(s(&e2), [Some(1), Some(0), Some(2), None]);
        // The id column is kept as it is; decoding gives the batches back.
        assert_eq!(e1.column(2), b1.column(2));
        assert_eq!(codes.decode(&e1).unwrap(), b1);
        assert_eq!(codes.decode(&e2).unwrap(), b2);
    }

    #[test]
    fn a_dictionary_column_codes_as_its_strings_and_decodes_to_views() {
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let schema = Arc::new(Schema::new(vec![Field::new("s", dict, true)]));
        let codes = StringCodes::new(&schema, None);
        let column: ArrayRef = Arc::new(
            arrow::array::DictionaryArray::<arrow::datatypes::Int32Type>::try_new(
                arrow::array::Int32Array::from(vec![Some(2), Some(0), None, Some(2)]),
                Arc::new(StringArray::from(vec!["p", "unused", "q"])),
            )
            .unwrap(),
        );
        let coded = codes
            .encode(&RecordBatch::try_new(schema, vec![column]).unwrap())
            .unwrap();
        let c = coded.column(0).as_primitive::<UInt32Type>();
        assert_eq!(
            c.iter().collect::<Vec<_>>(),
            [Some(0), Some(1), None, Some(0)]
        );
        let back = codes.decode(&coded).unwrap();
        assert_eq!(back.column(0).data_type(), &DataType::Utf8View);
        let want = StringViewArray::from(vec![Some("q"), Some("p"), None, Some("q")]);
        assert_eq!(back.column(0).as_string_view(), &want);
    }
}
