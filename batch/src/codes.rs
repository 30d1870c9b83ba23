//! De-duplication on codes instead of strings: each string column's values replaced by
//! integer codes (one per distinct string, for the whole source) before the aggregate, and
//! the strings put back in its result. Codes and strings correspond one to one, so the same
//! rows are kept; the aggregate then hashes and compares integers, not the often long
//! category strings of credit data. A view array (what the Parquet scan yields) is coded
//! by its 16-byte views within a batch, so each distinct string is looked up once per
//! batch, not once per row.

use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringViewArray, UInt32Array};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type};
use arrow::error::ArrowError;
use rustc_hash::FxHashMap;

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
    /// Codes for every string column of `schema` but `keep` (left as it is).
    pub fn new(schema: &SchemaRef, keep: Option<&str>) -> StringCodes {
        let is_coded = |f: &Field| {
            matches!(
                f.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) && Some(f.name().as_str()) != keep
        };
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| match is_coded(f) {
                true => Field::new(f.name(), DataType::UInt32, f.is_nullable()),
                false => f.as_ref().clone(),
            })
            .collect();
        StringCodes {
            columns: schema
                .fields()
                .iter()
                .filter(|f| is_coded(f))
                .map(|f| (f.name().clone(), Mutex::new(Interner::default())))
                .collect(),
            original: schema.clone(),
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

    /// A batch with coded columns (by name) given its strings back, in the source's types.
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

/// One string column as codes (NULL stays NULL).
fn encode(a: &ArrayRef, interner: &Mutex<Interner>) -> Result<ArrayRef, ArrowError> {
    let views = match a.data_type() {
        DataType::Utf8View => a.clone(),
        _ => cast(a, &DataType::Utf8View)?,
    };
    let v = views.as_string_view();
    // Rows are keyed by view without the lock (each distinct view's first row kept), then
    // the lock is taken once for the batch's few distinct strings: partitions coding the
    // same column at once do not queue on it row by row.
    let mut by_view: FxHashMap<u128, u32> = FxHashMap::default();
    let mut firsts: Vec<usize> = Vec::new();
    let mut local: Vec<u32> = v
        .views()
        .iter()
        .enumerate()
        .map(|(r, view)| {
            if v.is_null(r) {
                return 0;
            }
            *by_view.entry(*view).or_insert_with(|| {
                firsts.push(r);
                (firsts.len() - 1) as u32
            })
        })
        .collect();
    let global: Vec<u32> = {
        let mut interner = interner
            .lock()
            .map_err(|_| ArrowError::ComputeError("string codes poisoned".into()))?;
        firsts.iter().map(|&r| interner.code(v.value(r))).collect()
    };
    for (r, c) in local.iter_mut().enumerate() {
        if !v.is_null(r) {
            *c = global[*c as usize];
        }
    }
    let codes = local;
    Ok(Arc::new(UInt32Array::new(codes.into(), v.logical_nulls())))
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
}
