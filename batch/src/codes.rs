//! De-duplication on packed keys instead of columns: a row's values (strings as integer
//! codes, one per distinct string of the whole source) written as one short byte string,
//! the aggregate run on that, and the columns put back in its result. The packing is one
//! to one, so the same rows are kept; the aggregate then hashes and compares one short key
//! per row, not twenty columns (each compared in its own memory) or long category strings.
//! Each distinct string of a batch is looked up once (see `distinct`), not once per row.
//!
//! A key is, for up to 64 columns: when any of them may be NULL, a LEB128 varint whose bit
//! `c` marks column `c` NULL; then a varint per non-NULL column: the string's code, an
//! integer zig-zagged, a float's bits byte-swapped (round numbers then take few bytes).
//! Every part is self-delimiting and the columns fixed, so equal keys mean equal rows.
//! Floats compare by bits, as DataFusion's grouping does. Columns of other types stay
//! columns of their own.

use std::sync::{Arc, Mutex};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float32Array, Float64Array, Int64Array,
    LargeBinaryArray, RecordBatch, StringViewArray, UInt32Array, UInt64Array,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::compute::{cast, interleave, take};
use arrow::datatypes::{
    DataType, Field, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, Schema,
    SchemaRef, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow::error::ArrowError;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use riskfn_core::value::DataType as OnlineType;

use crate::compile::online_type;
use crate::distinct::distinct;

// Keys are `LargeBinary`: DataFusion's map of distinct byte strings stops (panics) past
// 2 GB of them with 32-bit offsets, which a wide source of many distinct rows can reach.

/// Names of the packed key columns: `__packed_key0`, `__packed_key1`, ...
const KEY_PREFIX: &str = "__packed_key";
/// Columns per key: one bit each in its NULL mask.
const PER_KEY: usize = 64;

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

/// How a packed column's values become words and back.
enum Kind {
    Str(Mutex<Interner>),
    Int,
    UInt,
    Float32,
    Float64,
    Bool,
}

impl Kind {
    fn of(t: &DataType) -> Option<Kind> {
        Some(match t {
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => Kind::Int,
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => Kind::UInt,
            DataType::Float32 => Kind::Float32,
            DataType::Float64 => Kind::Float64,
            DataType::Boolean => Kind::Bool,
            t if online_type(t) == Some(OnlineType::Str) => Kind::Str(Mutex::default()),
            _ => return None,
        })
    }
}

/// One packed column: its field as decoded (a dictionary's as views) and its kind.
struct Packed {
    field: Field,
    kind: Kind,
}

/// One key column and the source columns it packs, in source order.
struct Key {
    name: String,
    columns: Vec<Packed>,
    /// Whether any of them may be NULL (the key then starts with a NULL mask).
    masked: bool,
}

pub struct KeyCodes {
    keys: Vec<Key>,
    coded: SchemaRef,
    /// The coded columns a row's identity is in.
    identity: Vec<String>,
}

impl KeyCodes {
    /// Keys for every column of `schema` of a packable type but `keep` (left as it is), and
    /// `skip` (left out of the keys too: the row number).
    pub fn new(schema: &SchemaRef, keep: Option<&str>, skip: &str) -> KeyCodes {
        let mut packed = Vec::new();
        let mut rest = Vec::new();
        for f in schema.fields() {
            let kind = match keep == Some(f.name().as_str()) || f.name() == skip {
                true => None,
                false => Kind::of(f.data_type()),
            };
            match kind {
                Some(kind) => {
                    let t = match kind {
                        Kind::Str(_) if matches!(f.data_type(), DataType::Dictionary(..)) => {
                            DataType::Utf8View
                        }
                        _ => f.data_type().clone(),
                    };
                    let field = f.as_ref().clone().with_data_type(t);
                    packed.push(Packed { field, kind });
                }
                None => rest.push(f.as_ref().clone()),
            }
        }
        let mut keys = Vec::new();
        let mut columns = packed.into_iter().peekable();
        while columns.peek().is_some() {
            let columns: Vec<Packed> = columns.by_ref().take(PER_KEY).collect();
            keys.push(Key {
                name: format!("{KEY_PREFIX}{}", keys.len()),
                masked: columns.iter().any(|p| p.field.is_nullable()),
                columns,
            });
        }
        let fields: Vec<Field> = keys
            .iter()
            .map(|k| Field::new(&k.name, DataType::LargeBinary, false))
            .chain(rest)
            .collect();
        let identity = fields
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| keep != Some(n.as_str()) && n != skip)
            .collect();
        KeyCodes {
            keys,
            coded: Arc::new(Schema::new(fields)),
            identity,
        }
    }

    /// The schema of coded batches: the keys, then the columns left as they are.
    pub fn coded_schema(&self) -> SchemaRef {
        self.coded.clone()
    }

    /// The columns a coded row's identity is in: the keys and the unpacked columns but
    /// `keep` and `skip` given to [`KeyCodes::new`].
    pub fn key_columns(&self) -> &[String] {
        &self.identity
    }

    /// A source batch with its packable columns packed into keys.
    pub fn encode(&self, b: &RecordBatch) -> Result<RecordBatch, ArrowError> {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.coded.fields().len());
        for key in &self.keys {
            let mut words = Vec::with_capacity(key.columns.len());
            let mut masks = vec![0u64; b.num_rows()];
            for (c, p) in key.columns.iter().enumerate() {
                let a = b.column_by_name(p.field.name()).ok_or_else(|| {
                    ArrowError::SchemaError(format!("no column {}", p.field.name()))
                })?;
                words.push(to_words(a, &p.kind)?);
                if let Some(nulls) = a.logical_nulls().filter(|n| n.null_count() > 0) {
                    for r in (0..a.len()).filter(|&r| nulls.is_null(r)) {
                        masks[r] |= 1 << c;
                    }
                }
            }
            columns.push(Arc::new(pack(&words, &masks, key.masked)));
        }
        for f in &self.coded.fields()[self.keys.len()..] {
            let a = b
                .column_by_name(f.name())
                .ok_or_else(|| ArrowError::SchemaError(format!("no column {}", f.name())))?;
            columns.push(a.clone());
        }
        RecordBatch::try_new(self.coded.clone(), columns)
    }

    /// Rows of `batches` (batch, row) as one decoded batch, in the order of `at`: key
    /// columns given their columns back, in the source's types (a dictionary's as views),
    /// read where they are, not gathered first; the other columns as they are.
    pub fn decode_at(
        &self,
        batches: &[RecordBatch],
        at: &[(usize, usize)],
    ) -> Result<RecordBatch, ArrowError> {
        let Some(first) = batches.first() else {
            return Ok(RecordBatch::new_empty(Arc::new(Schema::empty())));
        };
        let schema = first.schema();
        let mut fields = Vec::with_capacity(schema.fields().len());
        let mut columns = Vec::with_capacity(schema.fields().len());
        for (c, f) in schema.fields().iter().enumerate() {
            match self.keys.iter().find(|k| &k.name == f.name()) {
                Some(key) => {
                    let keys: Vec<&LargeBinaryArray> =
                        batches.iter().map(|b| b.column(c).as_binary()).collect();
                    let words = unpack(&keys, at, key)?;
                    let arrays: Vec<ArrayRef> = key
                        .columns
                        .par_iter()
                        .zip(words)
                        .map(|(p, (words, valid))| from_words(words, valid, p))
                        .collect::<Result<_, _>>()?;
                    columns.extend(arrays);
                    fields.extend(key.columns.iter().map(|p| p.field.clone()));
                }
                None => {
                    let arrays: Vec<&dyn Array> =
                        batches.iter().map(|b| b.column(c).as_ref()).collect();
                    columns.push(interleave(&arrays, at)?);
                    fields.push(f.as_ref().clone());
                }
            }
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
    }
}

/// A column's values as words (anything at a NULL row).
fn to_words(a: &ArrayRef, kind: &Kind) -> Result<Vec<u64>, ArrowError> {
    fn ints<T: arrow::datatypes::ArrowPrimitiveType>(
        a: &ArrayRef,
        f: impl Fn(T::Native) -> u64,
    ) -> Vec<u64> {
        a.as_primitive::<T>()
            .values()
            .iter()
            .map(|&v| f(v))
            .collect()
    }
    let zigzag = |v: i64| ((v << 1) ^ (v >> 63)) as u64;
    Ok(match (kind, a.data_type()) {
        (Kind::Str(interner), _) => codes(a, interner)?,
        (Kind::Int, DataType::Int8) => ints::<Int8Type>(a, |v| zigzag(v.into())),
        (Kind::Int, DataType::Int16) => ints::<Int16Type>(a, |v| zigzag(v.into())),
        (Kind::Int, DataType::Int32) => ints::<Int32Type>(a, |v| zigzag(v.into())),
        (Kind::Int, DataType::Int64) => ints::<Int64Type>(a, zigzag),
        (Kind::UInt, DataType::UInt8) => ints::<UInt8Type>(a, u64::from),
        (Kind::UInt, DataType::UInt16) => ints::<UInt16Type>(a, u64::from),
        (Kind::UInt, DataType::UInt32) => ints::<UInt32Type>(a, u64::from),
        (Kind::UInt, DataType::UInt64) => ints::<UInt64Type>(a, |v| v),
        (Kind::Float32, _) => ints::<Float32Type>(a, |v| u64::from(v.to_bits().swap_bytes())),
        (Kind::Float64, _) => ints::<Float64Type>(a, |v| v.to_bits().swap_bytes()),
        (Kind::Bool, _) => a.as_boolean().values().iter().map(u64::from).collect(),
        (_, t) => {
            return Err(ArrowError::SchemaError(format!(
                "a packed key column changed type to {t}"
            )));
        }
    })
}

/// One string column as codes. The batch's distinct strings are found without the lock,
/// then it is taken once for them: partitions coding the same column at once do not queue
/// on it row by row.
fn codes(a: &ArrayRef, interner: &Mutex<Interner>) -> Result<Vec<u64>, ArrowError> {
    // A batch of a Parquet dictionary column: its dictionary coded whole (when no larger
    // than the batch), then each row by its key, in one pass.
    if let Some(d) = a.as_dictionary_opt::<Int32Type>()
        && let Some(values) = d.values().as_string_opt::<i32>()
        && values.len() <= d.len()
    {
        let keys = d.keys().values().iter().map(|&k| k as usize);
        return code_rows(interner, values.iter(), keys);
    }
    let d = distinct(a)?;
    code_rows(
        interner,
        d.values.iter(),
        d.keys.iter().map(|&k| k as usize),
    )
}

/// Each row's code: the batch's `values` coded under one lock (a NULL value as 0), then
/// each row by its key into them. A NULL row's key may point anywhere, or nowhere (an
/// all-NULL batch has no values): its word is not used, and is 0 where there is none.
fn code_rows<'a>(
    interner: &Mutex<Interner>,
    values: impl Iterator<Item = Option<&'a str>>,
    keys: impl Iterator<Item = usize>,
) -> Result<Vec<u64>, ArrowError> {
    let global: Vec<u64> = {
        let mut interner = lock(interner)?;
        values
            .map(|v| v.map_or(0, |s| u64::from(interner.code(s))))
            .collect()
    };
    Ok(keys.map(|k| global.get(k).copied().unwrap_or(0)).collect())
}

fn lock(interner: &Mutex<Interner>) -> Result<std::sync::MutexGuard<'_, Interner>, ArrowError> {
    interner
        .lock()
        .map_err(|_| ArrowError::ComputeError("string codes poisoned".into()))
}

/// Rows of words as keys: the NULL mask (if `masked`), then each non-NULL word.
fn pack(words: &[Vec<u64>], masks: &[u64], masked: bool) -> LargeBinaryArray {
    let mut bytes: Vec<u8> = Vec::with_capacity(masks.len() * (words.len() + 1) * 2);
    let mut offsets: Vec<i64> = Vec::with_capacity(masks.len() + 1);
    offsets.push(0);
    // A row is written here first, then copied once (not pushed byte by byte).
    let mut row = [0u8; MAX_VARINT * (PER_KEY + 1)];
    for (r, &mask) in masks.iter().enumerate() {
        let mut len = 0;
        if masked {
            len = put(&mut row, len, mask);
        }
        for (c, column) in words.iter().enumerate() {
            if mask & (1 << c) == 0 {
                len = put(&mut row, len, column[r]);
            }
        }
        bytes.extend_from_slice(&row[..len]);
        offsets.push(bytes.len() as i64);
    }
    LargeBinaryArray::new(OffsetBuffer::new(offsets.into()), bytes.into(), None)
}

/// A column's words and which rows are valid.
type Words = (Vec<u64>, Vec<bool>);

/// Each packed column's words and validity, from the keys at `at`; in chunks of rows on every
/// core, each written straight into its place.
fn unpack(
    keys: &[&LargeBinaryArray],
    at: &[(usize, usize)],
    key: &Key,
) -> Result<Vec<Words>, ArrowError> {
    const CHUNK: usize = 1 << 14;
    let n = at.len();
    let mut words: Vec<Vec<u64>> = key.columns.iter().map(|_| vec![0; n]).collect();
    let mut valid: Vec<Vec<bool>> = key.columns.iter().map(|_| vec![true; n]).collect();
    // Each chunk's first row and its part of every column.
    type Part<'a> = (usize, Vec<&'a mut [u64]>, Vec<&'a mut [bool]>);
    let mut parts: Vec<Part> = (0..n.div_ceil(CHUNK))
        .map(|k| (k * CHUNK, Vec::new(), Vec::new()))
        .collect();
    for (w, v) in words.iter_mut().zip(valid.iter_mut()) {
        let chunks = w.chunks_mut(CHUNK).zip(v.chunks_mut(CHUNK));
        for (part, (w, v)) in parts.iter_mut().zip(chunks) {
            part.1.push(w);
            part.2.push(v);
        }
    }
    let corrupt = || ArrowError::ComputeError("a packed key is cut short".into());
    parts
        .into_par_iter()
        .try_for_each(|(start, mut words, mut valid)| {
            let rows = words.first().map_or(0, |w| w.len());
            for i in 0..rows {
                let (b, r) = at[start + i];
                let mut bytes = keys[b].value(r);
                let mask = match key.masked {
                    true => get(&mut bytes).ok_or_else(corrupt)?,
                    false => 0,
                };
                for (c, (words, valid)) in words.iter_mut().zip(valid.iter_mut()).enumerate() {
                    match mask & (1 << c) != 0 {
                        true => valid[i] = false,
                        false => words[i] = get(&mut bytes).ok_or_else(corrupt)?,
                    }
                }
            }
            Ok::<(), ArrowError>(())
        })?;
    Ok(words.into_iter().zip(valid).collect())
}

/// A packed column back from its words, in its decoded type.
fn from_words(words: Vec<u64>, valid: Vec<bool>, p: &Packed) -> Result<ArrayRef, ArrowError> {
    let nulls = Some(NullBuffer::from(valid)).filter(|n| n.null_count() > 0);
    let unzigzag = |w: u64| ((w >> 1) as i64) ^ -((w & 1) as i64);
    let array: ArrayRef = match &p.kind {
        Kind::Str(interner) => {
            // The distinct strings once, each row's view gathered from them (the rows
            // share their bytes).
            let values = {
                let strings = lock(interner)?;
                StringViewArray::from_iter_values(strings.strings.iter().map(|s| &**s))
            };
            let codes = UInt32Array::new(words.into_iter().map(|w| w as u32).collect(), nulls);
            take(&values, &codes, None)?
        }
        Kind::Int => Arc::new(Int64Array::new(
            words.into_iter().map(unzigzag).collect(),
            nulls,
        )),
        Kind::UInt => Arc::new(UInt64Array::new(words.into(), nulls)),
        Kind::Float32 => Arc::new(Float32Array::new(
            words
                .into_iter()
                .map(|w| f32::from_bits((w as u32).swap_bytes()))
                .collect(),
            nulls,
        )),
        Kind::Float64 => Arc::new(Float64Array::new(
            words
                .into_iter()
                .map(|w| f64::from_bits(w.swap_bytes()))
                .collect(),
            nulls,
        )),
        Kind::Bool => Arc::new(BooleanArray::new(
            words.into_iter().map(|w| w != 0).collect(),
            nulls,
        )),
    };
    match array.data_type() == p.field.data_type() {
        true => Ok(array),
        // Narrower integers and other string types: the values came from that type.
        false => cast(&array, p.field.data_type()),
    }
}

/// The longest varint of a u64.
const MAX_VARINT: usize = 10;

/// LEB128 (seven bits a byte, low first, the high bit set on all but the last) at
/// `out[at..]`; returns where it ends.
fn put(out: &mut [u8], mut at: usize, mut v: u64) -> usize {
    while v >= 0x80 {
        out[at] = v as u8 | 0x80;
        v >>= 7;
        at += 1;
    }
    out[at] = v as u8;
    at + 1
}

/// The next varint of `bytes`, which is moved past it.
fn get(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(MAX_VARINT) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int8Array, StringArray};

    impl KeyCodes {
        /// One coded batch decoded, rows in place.
        fn decode(&self, b: &RecordBatch) -> Result<RecordBatch, ArrowError> {
            let at: Vec<(usize, usize)> = (0..b.num_rows()).map(|r| (0, r)).collect();
            self.decode_at(std::slice::from_ref(b), &at)
        }
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("s", DataType::Utf8View, true),
            Field::new("t", DataType::Utf8, true),
            Field::new("id", DataType::Utf8, false),
            Field::new("n", DataType::Int64, true),
            Field::new("i8", DataType::Int8, true),
            Field::new("f", DataType::Float64, true),
            Field::new("b", DataType::Boolean, true),
            Field::new("row", DataType::UInt64, false),
        ]))
    }

    /// One row: s, t, n, i8, f, b.
    type Row<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        Option<i64>,
        Option<i8>,
        Option<f64>,
        Option<bool>,
    );

    fn batch(rows: &[Row]) -> RecordBatch {
        let len = rows.len();
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringViewArray::from_iter(rows.iter().map(|r| r.0))),
                Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1))),
                Arc::new(StringArray::from_iter_values(
                    (0..len).map(|i| format!("id{i}")),
                )),
                Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.2))),
                Arc::new(Int8Array::from_iter(rows.iter().map(|r| r.3))),
                Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.4))),
                Arc::new(BooleanArray::from_iter(rows.iter().map(|r| r.5))),
                Arc::new(UInt64Array::from_iter_values(0..len as u64)),
            ],
        )
        .unwrap()
    }

    /// The batch's columns in `coded`'s order: keys first (as decode gives them back), then
    /// the columns left as they are.
    fn in_coded_order(b: &RecordBatch) -> RecordBatch {
        b.project(&[0, 1, 3, 4, 5, 6, 2, 7]).unwrap()
    }

    #[test]
    fn keys_round_trip_and_match_equal_rows_only() {
        let long = "a category text longer than twelve bytes";
        let codes = KeyCodes::new(&schema(), Some("id"), "row");
        assert_eq!(codes.key_columns(), ["__packed_key0"]);
        let base: Row = (
            Some(long),
            Some("p"),
            Some(0),
            Some(-1),
            Some(0.0),
            Some(false),
        );
        // Each other row differs from `base` in one column, by what a careless packing
        // would confuse: NULL against "" or 0 or false, -1 against 1, -0.0 against 0.0.
        let with = |change: fn(&mut Row)| {
            let mut row = base;
            change(&mut row);
            row
        };
        let b1 = batch(&[
            base,
            with(|r| r.1 = None),
            with(|r| r.1 = Some("")),
            base,
            with(|r| r.2 = None),
            with(|r| r.3 = Some(1)),
            with(|r| r.4 = Some(-0.0)),
        ]);
        // A second batch (its own buffers): the same rows get the same keys. The last
        // rows hold extremes, to round trip.
        let b2 = batch(&[
            base,
            with(|r| r.0 = None),
            with(|r| r.0 = Some("")),
            with(|r| r.5 = None),
            (
                Some("x"),
                None,
                Some(i64::MIN),
                None,
                Some(f64::NAN),
                Some(true),
            ),
            (None, Some("y"), Some(i64::MAX), Some(i8::MIN), None, None),
        ]);
        let (e1, e2) = (codes.encode(&b1).unwrap(), codes.encode(&b2).unwrap());
        assert_eq!(e1.schema(), codes.coded_schema());
        let keys = |b: &RecordBatch| {
            let k = b.column(0).as_binary::<i64>();
            (0..k.len())
                .map(|r| k.value(r).to_vec())
                .collect::<Vec<_>>()
        };
        let all: Vec<Vec<u8>> = keys(&e1).into_iter().chain(keys(&e2)).collect();
        let equal_to_base = [0, 3, 7];
        for (i, key) in all.iter().enumerate() {
            assert_eq!(*key == all[0], equal_to_base.contains(&i), "row {i}");
        }
        // The id and row columns are kept as they are; decoding gives the batches back.
        assert_eq!(e1.column(1), b1.column(2));
        assert_eq!(codes.decode(&e1).unwrap(), in_coded_order(&b1));
        assert_eq!(codes.decode(&e2).unwrap(), in_coded_order(&b2));
        // Rows picked across both batches come back as those rows, in that order.
        let at = [(1, 4), (0, 2), (1, 0), (0, 6)];
        let picked = codes.decode_at(&[e1, e2], &at).unwrap();
        let (d1, d2) = (in_coded_order(&b1), in_coded_order(&b2));
        let want: Vec<RecordBatch> = at.iter().map(|&(b, r)| [&d1, &d2][b].slice(r, 1)).collect();
        let want = arrow::compute::concat_batches(&d1.schema(), &want).unwrap();
        assert_eq!(picked, want);
    }

    #[test]
    fn a_dictionary_column_packs_as_its_strings_and_decodes_to_views() {
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let schema = Arc::new(Schema::new(vec![Field::new("s", dict, true)]));
        let codes = KeyCodes::new(&schema, None, "row");
        let batch = |keys: Vec<Option<i32>>, values: Vec<&str>| {
            let column = arrow::array::DictionaryArray::<Int32Type>::try_new(
                arrow::array::Int32Array::from(keys),
                Arc::new(StringArray::from(values)),
            )
            .unwrap();
            RecordBatch::try_new(schema.clone(), vec![Arc::new(column)]).unwrap()
        };
        let keys = |b: &RecordBatch| {
            let k = b.column(0).as_binary::<i64>();
            (0..k.len())
                .map(|r| k.value(r).to_vec())
                .collect::<Vec<_>>()
        };
        // A dictionary no larger than its batch is coded whole, in its order (p 0,
        // unused 1, q 2); a larger one by the strings its rows use (r 3).
        let small = codes
            .encode(&batch(
                vec![Some(2), Some(0), None, Some(2)],
                vec!["p", "unused", "q"],
            ))
            .unwrap();
        let large = codes
            .encode(&batch(vec![Some(3), Some(0)], vec!["q", "x", "y", "r"]))
            .unwrap();
        // Mask, then the code.
        assert_eq!(keys(&small), [vec![0, 2], vec![0, 0], vec![1], vec![0, 2]]);
        assert_eq!(keys(&large), [vec![0, 3], vec![0, 2]]);
        let back = codes.decode(&small).unwrap();
        assert_eq!(back.column(0).data_type(), &DataType::Utf8View);
        let want = StringViewArray::from(vec![Some("q"), Some("p"), None, Some("q")]);
        assert_eq!(back.column(0).as_string_view(), &want);
        let back = codes.decode(&large).unwrap();
        let want = StringViewArray::from(vec!["r", "q"]);
        assert_eq!(back.column(0).as_string_view(), &want);
    }

    #[test]
    fn more_than_64_columns_take_more_keys_and_other_types_stay_columns() {
        let mut fields: Vec<Field> = (0..70)
            .map(|i| Field::new(format!("c{i}"), DataType::Int32, false))
            .collect();
        fields.push(Field::new("d", DataType::Date32, true));
        let schema = Arc::new(Schema::new(fields));
        let codes = KeyCodes::new(&schema, None, "row");
        assert_eq!(codes.key_columns(), ["__packed_key0", "__packed_key1", "d"]);
        let columns: Vec<ArrayRef> = (0..70)
            .map(|i| Arc::new(arrow::array::Int32Array::from(vec![i, -i])) as ArrayRef)
            .chain([Arc::new(arrow::array::Date32Array::from(vec![Some(1), None])) as ArrayRef])
            .collect();
        let b = RecordBatch::try_new(schema, columns).unwrap();
        let coded = codes.encode(&b).unwrap();
        // Not nullable: no mask; 64 one- or two-byte words.
        assert!(coded.column(0).as_binary::<i64>().value(0).len() < 128);
        assert_eq!(codes.decode(&coded).unwrap(), b);
    }

    #[test]
    fn varints_round_trip_at_their_edges() {
        for v in [0, 1, 127, 128, 16_383, 16_384, u64::MAX - 1, u64::MAX] {
            let mut bytes = [0u8; MAX_VARINT];
            let len = put(&mut bytes, 0, v);
            let bytes = &bytes[..len];
            let mut rest = bytes;
            assert_eq!(get(&mut rest), Some(v));
            assert!(rest.is_empty());
            assert_eq!(get(&mut &bytes[..bytes.len() - 1]), None);
        }
    }
}
