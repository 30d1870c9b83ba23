//! De-duplication on packed keys instead of columns: a row's values (strings as integer
//! codes, one per distinct string of the whole source) written as one key, the aggregate
//! run on that, and the columns put back in its result. The packing is one to one, so the
//! same rows are kept; the aggregate then hashes and compares one key per row, not twenty
//! columns (each compared in its own memory) or long category strings. Each distinct
//! string of a batch is looked up once (see `distinct`), not once per row.
//!
//! Two layouts; equal keys mean equal rows in both:
//! - Fixed-width ([`KeyCodes::fixed`]), when every column fits: one integer with a digit
//!   for each column, 0 for NULL where NULL may occur. The aggregate then stores and
//!   compares a number, not a byte string. A column spans what the files tell it holds
//!   ([`ColumnFacts`]): an integer its range (statistics), a string its dictionaries'
//!   values, else the bits left over. A `UInt64` whenever the columns' value counts
//!   multiply to at most 2^64 (a mixed-radix number: no bits wasted on a column of 10
//!   values), else a 126-bit `Decimal128` of bit slots, which the aggregate hashes and
//!   stores at twice the cost. A value that does not fit fails the batch, and the caller
//!   reads the source again with varint keys.
//! - Varint ([`KeyCodes::new`]), for up to 64 columns a key: when any of them may be NULL,
//!   a LEB128 varint whose bit `c` marks column `c` NULL; then a varint per non-NULL
//!   column: the string's code, an integer zig-zagged, a float's bits byte-swapped (round
//!   numbers then take few bytes). Every part is self-delimiting and the columns fixed.
//!
//! Floats compare by bits, as DataFusion's grouping does. Columns of other types stay
//! columns of their own.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, DictionaryArray, Float32Array,
    Float64Array, Int32Array, Int64Array, LargeBinaryArray, RecordBatch, StringViewBuilder,
    UInt64Array,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::compute::{cast, interleave};
use arrow::datatypes::{
    DataType, Decimal128Type, Field, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, Schema, SchemaRef, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow::error::ArrowError;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use strength_reduce::StrengthReducedU64;

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

/// One packed column: its field as decoded (strings as `decoded_strings`) and its kind.
struct Packed {
    field: Field,
    kind: Kind,
}

/// One key column and the source columns it packs, in source order.
struct Key {
    name: String,
    columns: Vec<Packed>,
    /// Whether any of them may be NULL (a varint key then starts with a NULL mask).
    masked: bool,
    layout: Layout,
}

impl Key {
    fn data_type(&self) -> DataType {
        match self.layout {
            Layout::Varint => DataType::LargeBinary,
            Layout::Fixed { wide: true, .. } => DataType::Decimal128(38, 0),
            Layout::Fixed { wide: false, .. } => DataType::UInt64,
        }
    }
}

/// The columns of `schema` to pack (all of a packable type but `keep` and `skip`), in
/// order, and the others.
fn packable(schema: &SchemaRef, keep: Option<&str>, skip: &str) -> (Vec<Packed>, Vec<Field>) {
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
                    Kind::Str(_) => decoded_strings(),
                    _ => f.data_type().clone(),
                };
                let field = f.as_ref().clone().with_data_type(t);
                packed.push(Packed { field, kind });
            }
            None => rest.push(f.as_ref().clone()),
        }
    }
    (packed, rest)
}

/// The type string columns decode to: a dictionary of the source's distinct strings and a
/// 4-byte key a row (a column of category strings takes a quarter of what a view a row
/// takes, and the steps after read a row's string by its key).
pub fn decoded_strings() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8View))
}

/// How a key is written.
enum Layout {
    /// Varints, one after another (`LargeBinary`).
    Varint,
    /// Each column a digit of one integer (`UInt64`, or `Decimal128` when `wide`); a slot
    /// a column, in order.
    Fixed { slots: Vec<Slot>, wide: bool },
}

/// A column's digit in a fixed-width key: the key is the sum of each slot's value times its
/// `stride`, the product of the `radix` of the slots before it (mixed radix: a `UInt64`
/// holds columns whose value counts multiply to at most 2^64, however few bits each would
/// waste). In a wide key every radix is a power of two, so a slot is bits of its own.
///
/// The value is the offset, plus 1 when the column is `nullable` (NULL is then 0). The
/// offset is an integer minus `base` (as u64 bit patterns, wrapping: a value outside
/// `base..=base+range` then wraps to past `range`), a string's code, or a float's or a
/// boolean's word; at most `range`.
#[derive(Clone, Copy, Debug)]
struct Slot {
    stride: u128,
    radix: u128,
    base: u64,
    range: u64,
    nullable: bool,
}

impl Slot {
    /// A slot of a whole word, alone in its key: the key is the word.
    const WHOLE_WORD: Slot = Slot {
        stride: 1,
        radix: 1 << 64,
        base: 0,
        range: u64::MAX,
        nullable: false,
    };
}

/// The widest fixed key: values of `Decimal128(38, 0)` stay below 2^126 < 10^38.
const WIDE_BITS: u32 = 126;
/// Fewest bits a string column of unknown values is given in a wide key: fewer, and a
/// column of more than a handful of strings would overflow it (and the source be read
/// again, see [`KeyCodes::overflowed`]).
const MIN_STRING_BITS: u32 = 4;
/// Fewest bits a string column of unknown values is given in a 64-bit key.
const MIN_NARROW_STRING_BITS: u32 = 8;

/// Bits to tell `n` values apart.
fn bits_for(n: u128) -> u32 {
    match n {
        0 | 1 => 0,
        n => 128 - (n - 1).leading_zeros(),
    }
}

/// What the files tell of their columns before a row is read, by column name; with it a
/// fixed-width key gives each column only the values it can hold.
#[derive(Debug, Clone, Default)]
pub struct ColumnFacts {
    /// Integer columns' smallest and largest values.
    pub bounds: HashMap<String, (i128, i128)>,
    /// Columns that hold no NULL.
    pub no_nulls: HashSet<String>,
    /// String columns' distinct values (codes are given in this order).
    pub strings: HashMap<String, Vec<String>>,
}

impl ColumnFacts {
    /// What both `self` and `other` (two files of one source) tell: bounds spanning both,
    /// no NULL in either, the values of both (`self`'s first).
    pub fn and(mut self, mut other: ColumnFacts) -> ColumnFacts {
        self.bounds = (self.bounds.into_iter())
            .filter_map(|(name, (lo, hi))| {
                let &(l, h) = other.bounds.get(&name)?;
                Some((name, (lo.min(l), hi.max(h))))
            })
            .collect();
        self.no_nulls.retain(|name| other.no_nulls.contains(name));
        self.strings = (self.strings.into_iter())
            .filter_map(|(name, mut values)| {
                extend_new(&mut values, other.strings.remove(&name)?);
                Some((name, values))
            })
            .collect();
        self
    }
}

/// Appends those of `more` that `values` does not hold yet, in their order.
pub fn extend_new(values: &mut Vec<String>, more: Vec<String>) {
    let mut seen: HashSet<String> = values.iter().cloned().collect();
    values.extend(more.into_iter().filter(|v| seen.insert(v.clone())));
}

pub struct KeyCodes {
    keys: Vec<Key>,
    coded: SchemaRef,
    /// The coded columns a row's identity is in.
    identity: Vec<String>,
    /// Set when a value did not fit its fixed-width slot (the batch failed to encode).
    overflowed: AtomicBool,
}

impl KeyCodes {
    /// Keys for every column of `schema` of a packable type but `keep` (left as it is), and
    /// `skip` (left out of the keys too: the row number): varint keys of up to 64 columns.
    pub fn new(schema: &SchemaRef, keep: Option<&str>, skip: &str) -> KeyCodes {
        let (packed, rest) = packable(schema, keep, skip);
        let mut keys = Vec::new();
        let mut columns = packed.into_iter().peekable();
        while columns.peek().is_some() {
            let columns: Vec<Packed> = columns.by_ref().take(PER_KEY).collect();
            keys.push(Key {
                name: format!("{KEY_PREFIX}{}", keys.len()),
                masked: columns.iter().any(|p| p.field.is_nullable()),
                columns,
                layout: Layout::Varint,
            });
        }
        KeyCodes::with_keys(keys, rest, keep, skip)
    }

    /// As [`KeyCodes::new`], but every packable column in one fixed-width integer key,
    /// which the aggregate hashes and compares as one number. A column spans the values
    /// `facts` tell it holds: integers in their bounds (the type's own range otherwise),
    /// strings by their known values (else the bits left over), NULL only where it may
    /// occur. A `UInt64` when the columns' value counts multiply to at most 2^64, else a
    /// `Decimal128` of bit slots; `None` when they do not fit in 126 bits. A value outside
    /// its column's span (an integer out of its bounds, an unknown string past the room
    /// left, a NULL where there was to be none) fails the batch and sets
    /// [`KeyCodes::overflowed`].
    pub fn fixed(
        schema: &SchemaRef,
        keep: Option<&str>,
        skip: &str,
        facts: &ColumnFacts,
    ) -> Option<KeyCodes> {
        let (mut columns, rest) = packable(schema, keep, skip);
        if columns.is_empty() {
            return None;
        }
        // Each column's offsets' base and range, and whether it may be NULL; a string's
        // range is known when its values are (their codes are then 0, 1, ... in order).
        // Bounds that are no range (the largest below the smallest): no fixed key.
        let span = |(lo, hi): (i128, i128)| {
            let range = u64::try_from(hi.checked_sub(lo)?).ok()?;
            Some(Some((lo as i64 as u64, range)))
        };
        let mut spans: Vec<(Option<(u64, u64)>, bool)> = Vec::with_capacity(columns.len());
        for p in &mut columns {
            let name = p.field.name();
            let nullable = p.field.is_nullable() && !facts.no_nulls.contains(name);
            let range = match &mut p.kind {
                Kind::Str(interner) => match facts.strings.get(name) {
                    Some(values) if !values.is_empty() => {
                        let interner = interner.get_mut().ok()?;
                        values.iter().for_each(|v| _ = interner.code(v));
                        Some((0, interner.strings.len() as u64 - 1))
                    }
                    _ => None,
                },
                Kind::Int | Kind::UInt => span(
                    (facts.bounds.get(name).copied()).or_else(|| int_range(p.field.data_type()))?,
                )?,
                Kind::Float32 => span((0, u32::MAX.into()))?,
                Kind::Float64 => span((0, u64::MAX.into()))?,
                Kind::Bool => span((0, 1))?,
            };
            spans.push((range, nullable));
        }
        let radix = |range: u64, nullable: bool| u128::from(range) + 1 + u128::from(nullable);
        let unknown = spans.iter().filter(|(r, _)| r.is_none()).count() as u32;
        // Narrow: the known columns' value counts multiplied, the bits left shared out.
        let known: Option<u128> = (spans.iter().filter_map(|&(r, n)| Some(radix(r?.1, n))))
            .try_fold(1u128, |p, r| p.checked_mul(r).filter(|&p| p <= 1 << 64));
        let narrow_bits = known
            .map(|p| (64 - bits_for(p)).checked_div(unknown).unwrap_or(0).min(32))
            .filter(|&b| unknown == 0 || b >= MIN_NARROW_STRING_BITS);
        let (wide, string_bits) = match narrow_bits {
            Some(bits) => (false, bits),
            None => {
                let used: u32 = (spans.iter())
                    .filter_map(|&(r, n)| Some(bits_for(radix(r?.1, n))))
                    .sum();
                if used + MIN_STRING_BITS * unknown > WIDE_BITS {
                    return None;
                }
                let bits = (WIDE_BITS - used).checked_div(unknown).unwrap_or(0);
                (true, bits.min(32))
            }
        };
        let mut stride = 1u128;
        let mut slots = Vec::with_capacity(columns.len());
        for (range, nullable) in spans {
            let unknown = || (0, (1 << string_bits) - 1 - u64::from(nullable));
            let (base, range) = range.unwrap_or_else(unknown);
            let radix = match wide {
                true => 1 << bits_for(radix(range, nullable)),
                false => radix(range, nullable),
            };
            slots.push(Slot {
                stride,
                radix,
                base,
                range,
                nullable,
            });
            stride *= radix;
        }
        let key = Key {
            name: format!("{KEY_PREFIX}0"),
            masked: false,
            columns,
            layout: Layout::Fixed { slots, wide },
        };
        Some(KeyCodes::with_keys(vec![key], rest, keep, skip))
    }

    /// Codes for `keys`, followed in the coded schema by the `rest` of the columns.
    fn with_keys(keys: Vec<Key>, rest: Vec<Field>, keep: Option<&str>, skip: &str) -> KeyCodes {
        let fields: Vec<Field> = keys
            .iter()
            .map(|k| Field::new(&k.name, k.data_type(), false))
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
            overflowed: AtomicBool::new(false),
        }
    }

    /// Whether a value did not fit its fixed-width slot: encoding failed, and the source
    /// must be read again with [`KeyCodes::new`]'s keys, which fit every value.
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Relaxed)
    }

    /// Whether the keys are fixed-width.
    pub fn is_fixed(&self) -> bool {
        self.keys
            .iter()
            .any(|k| matches!(k.layout, Layout::Fixed { .. }))
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
            let arrays = key
                .columns
                .iter()
                .map(|p| {
                    b.column_by_name(p.field.name()).ok_or_else(|| {
                        ArrowError::SchemaError(format!("no column {}", p.field.name()))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let packed = match &key.layout {
                Layout::Varint => pack(key, &arrays)?,
                Layout::Fixed { slots, wide } => pack_fixed(key, slots, *wide, &arrays)
                    .inspect_err(|_| {
                        self.overflowed.store(true, Ordering::Relaxed);
                    })?,
            };
            columns.push(packed);
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
    /// columns given their columns back, in the source's types (strings as dictionaries),
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
                    let keys: Vec<&ArrayRef> = batches.iter().map(|b| b.column(c)).collect();
                    let arrays: Vec<ArrayRef> = match &key.layout {
                        Layout::Varint => {
                            let keys: Vec<&LargeBinaryArray> =
                                keys.iter().map(|k| k.as_binary()).collect();
                            let words = unpack(&keys, at, key)?;
                            (key.columns.par_iter().zip(words))
                                .map(|(p, (words, valid))| {
                                    let nulls = Some(NullBuffer::from(valid));
                                    from_words(words, nulls.filter(|n| n.null_count() > 0), p)
                                })
                                .collect::<Result<_, _>>()?
                        }
                        Layout::Fixed { slots, .. } => unpack_fixed(&keys, at, key, slots)?,
                    };
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
    Ok(match (kind, a.data_type()) {
        (Kind::Str(interner), _) => codes(a, interner)?,
        (Kind::Int, t) if t.is_signed_integer() => int_words(a, |b| zigzag(b as i64))?,
        (Kind::UInt, t) if t.is_unsigned_integer() => int_words(a, |b| b)?,
        (Kind::Float32, _) => (a.as_primitive::<Float32Type>().values().iter())
            .map(|v| u64::from(v.to_bits().swap_bytes()))
            .collect(),
        (Kind::Float64, _) => (a.as_primitive::<Float64Type>().values().iter())
            .map(|v| v.to_bits().swap_bytes())
            .collect(),
        (Kind::Bool, _) => a.as_boolean().values().iter().map(u64::from).collect(),
        (_, t) => return Err(changed_type(t)),
    })
}

fn changed_type(t: &DataType) -> ArrowError {
    ArrowError::SchemaError(format!("a packed key column changed type to {t}"))
}

/// An integer column's values as u64 bit patterns (signed ones sign-extended to 64 bits),
/// each through `f` (anything at a NULL row).
fn int_words(a: &ArrayRef, f: impl Fn(u64) -> u64) -> Result<Vec<u64>, ArrowError> {
    fn each<T: arrow::datatypes::ArrowPrimitiveType>(
        a: &ArrayRef,
        bits: impl Fn(T::Native) -> u64,
        f: impl Fn(u64) -> u64,
    ) -> Vec<u64> {
        let values = a.as_primitive::<T>().values().iter();
        values.map(|&v| f(bits(v))).collect()
    }
    Ok(match a.data_type() {
        DataType::Int8 => each::<Int8Type>(a, |v| i64::from(v) as u64, f),
        DataType::Int16 => each::<Int16Type>(a, |v| i64::from(v) as u64, f),
        DataType::Int32 => each::<Int32Type>(a, |v| i64::from(v) as u64, f),
        DataType::Int64 => each::<Int64Type>(a, |v| v as u64, f),
        DataType::UInt8 => each::<UInt8Type>(a, u64::from, f),
        DataType::UInt16 => each::<UInt16Type>(a, u64::from, f),
        DataType::UInt32 => each::<UInt32Type>(a, u64::from, f),
        DataType::UInt64 => each::<UInt64Type>(a, |v| v, f),
        t => return Err(changed_type(t)),
    })
}

/// Small magnitudes, either sign, to small words (0, -1, 1, -2 ... to 0, 1, 2, 3 ...).
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(w: u64) -> i64 {
    ((w >> 1) as i64) ^ -((w & 1) as i64)
}

/// One string column as codes, a row each.
fn codes(a: &ArrayRef, interner: &Mutex<Interner>) -> Result<Vec<u64>, ArrowError> {
    let mut codes = vec![0; a.len()];
    string_codes(a, interner)?.add_in(&mut codes, &Slot::WHOLE_WORD, None);
    Ok(codes)
}

/// A string column's rows as keys into the batch's distinct strings, and those strings'
/// codes.
struct StringCodes<'a> {
    /// A code a distinct string (0 for a NULL value).
    codes: Vec<u64>,
    keys: RowKeys<'a>,
}

enum RowKeys<'a> {
    /// A Parquet dictionary batch's own keys.
    Dictionary(&'a [i32]),
    /// Keys into the distinct strings `distinct` found.
    Distinct(Vec<u32>),
}

/// The batch's distinct strings are found without the lock, then it is taken once for
/// them: partitions coding the same column at once do not queue on it row by row. A
/// batch of a Parquet dictionary column keeps its own keys, and its dictionary is coded
/// whole (when no larger than the batch).
fn string_codes<'a>(
    a: &'a ArrayRef,
    interner: &Mutex<Interner>,
) -> Result<StringCodes<'a>, ArrowError> {
    let code_all =
        |values: &mut dyn Iterator<Item = Option<&str>>| -> Result<Vec<u64>, ArrowError> {
            let mut interner = lock(interner)?;
            Ok(values
                .map(|v| v.map_or(0, |s| u64::from(interner.code(s))))
                .collect())
        };
    if let Some(d) = a.as_dictionary_opt::<Int32Type>()
        && let Some(values) = d.values().as_string_opt::<i32>()
        && values.len() <= d.len()
    {
        let codes = code_all(&mut values.iter())?;
        return Ok(StringCodes {
            codes,
            keys: RowKeys::Dictionary(d.keys().values()),
        });
    }
    let d = distinct(a)?;
    Ok(StringCodes {
        codes: code_all(&mut d.values.iter())?,
        keys: RowKeys::Distinct(d.keys),
    })
}

impl StringCodes<'_> {
    /// The code of key `k`. A NULL row's key may point anywhere, or nowhere (an all-NULL
    /// batch has no values): its code is not used, and is 0 where there is none.
    fn code(&self, k: usize) -> u64 {
        self.codes.get(k).copied().unwrap_or(0)
    }

    /// [`add_in`] each row's code, read through its key in the same pass.
    fn add_in(&self, out: &mut [u64], s: &Slot, nulls: Option<&NullBuffer>) -> u64 {
        match &self.keys {
            RowKeys::Dictionary(keys) => add_in(out, keys, |k| self.code(k as usize), s, nulls),
            RowKeys::Distinct(keys) => add_in(out, keys, |k| self.code(k as usize), s, nulls),
        }
    }
}

fn lock(interner: &Mutex<Interner>) -> Result<std::sync::MutexGuard<'_, Interner>, ArrowError> {
    interner
        .lock()
        .map_err(|_| ArrowError::ComputeError("string codes poisoned".into()))
}

/// Rows as varint keys: the NULL mask (if the key has one), then each non-NULL word.
fn pack(key: &Key, arrays: &[&ArrayRef]) -> Result<ArrayRef, ArrowError> {
    let n = arrays.first().map_or(0, |a| a.len());
    let mut words = Vec::with_capacity(key.columns.len());
    let mut masks = vec![0u64; n];
    for (c, (p, a)) in key.columns.iter().zip(arrays).enumerate() {
        words.push(to_words(a, &p.kind)?);
        if let Some(nulls) = a.logical_nulls().filter(|n| n.null_count() > 0) {
            for r in (0..a.len()).filter(|&r| nulls.is_null(r)) {
                masks[r] |= 1 << c;
            }
        }
    }
    let mut bytes: Vec<u8> = Vec::with_capacity(n * (words.len() + 1) * 2);
    let mut offsets: Vec<i64> = Vec::with_capacity(n + 1);
    offsets.push(0);
    // A row is written here first, then copied once (not pushed byte by byte).
    let mut row = [0u8; MAX_VARINT * (PER_KEY + 1)];
    for (r, &mask) in masks.iter().enumerate() {
        let mut len = 0;
        if key.masked {
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
    Ok(Arc::new(LargeBinaryArray::new(
        OffsetBuffer::new(offsets.into()),
        bytes.into(),
        None,
    )))
}

/// Rows as fixed-width keys, a column at a time into its slot; fails on a value that does
/// not fit its slot.
fn pack_fixed(
    key: &Key,
    slots: &[Slot],
    wide: bool,
    arrays: &[&ArrayRef],
) -> Result<ArrayRef, ArrowError> {
    let n = arrays.first().map_or(0, |a| a.len());
    // A narrow key, or a wide key's two 64-bit halves: a column's value is scaled by the
    // same amount in every row, so each loop is one the compiler vectorizes (a u128
    // shift is a branchy sequence).
    let mut lo = vec![0u64; n];
    let mut hi = vec![0u64; if wide { n } else { 0 }];
    for ((p, s), a) in key.columns.iter().zip(slots).zip(arrays) {
        let nulls = a.logical_nulls().filter(|n| n.null_count() > 0);
        let too_large = |what: &str| {
            ArrowError::ComputeError(format!(
                "column {} has {what} its packed key cannot hold",
                p.field.name()
            ))
        };
        if nulls.is_some() && !s.nullable {
            return Err(too_large("a NULL"));
        }
        let words = || match p.kind {
            // Minus `base`, wrapping (see `Slot`).
            Kind::Int | Kind::UInt => int_words(a, |b| b.wrapping_sub(s.base)),
            _ => to_words(a, &p.kind),
        };
        let largest = match (wide, &p.kind) {
            // Strings' codes read through their keys as they are added: no word a row.
            (false, Kind::Str(interner)) => {
                string_codes(a, interner)?.add_in(&mut lo, s, nulls.as_ref())
            }
            (false, _) => add_in(&mut lo, &words()?, |w| w, s, nulls.as_ref()),
            (true, _) => or_in_wide(&mut lo, &mut hi, s, &words()?, nulls.as_ref()),
        };
        // Checked after the pass: a batch that does not fit fails whole.
        if largest > s.range {
            return Err(too_large("a value"));
        }
    }
    Ok(match wide {
        true => {
            let keys = lo
                .iter()
                .zip(&hi)
                .map(|(&l, &h)| (i128::from(h) << 64) | i128::from(l));
            Arc::new(Decimal128Array::from_iter_values(keys).with_precision_and_scale(38, 0)?)
        }
        false => Arc::new(UInt64Array::new(lo.into(), None)),
    })
}

/// Adds each row's slot value (see `Slot`: its `word` of `rows`, plus 1 when nullable, or
/// 0 at NULL) times the slot's stride to its narrow key; returns the largest valid word.
/// One pass, which the compiler vectorizes when `word` is a plain read.
fn add_in<K: Copy>(
    out: &mut [u64],
    rows: &[K],
    word: impl Fn(K) -> u64,
    s: &Slot,
    nulls: Option<&NullBuffer>,
) -> u64 {
    let add = u64::from(s.nullable);
    // The product of the slots' value counts is at most 2^64, so a stride fits a u64 but
    // that of a last slot of one value (which adds 0 to every valid key).
    let stride = u64::try_from(s.stride).unwrap_or(0);
    let mut largest = 0;
    match nulls {
        None => {
            for (k, &r) in out.iter_mut().zip(rows) {
                let w = word(r);
                largest = largest.max(w);
                *k = k.wrapping_add(w.wrapping_add(add).wrapping_mul(stride));
            }
        }
        Some(nulls) => {
            for ((k, &r), v) in out.iter_mut().zip(rows).zip(nulls.iter()) {
                let (w, v) = (word(r), u64::from(v));
                largest = largest.max(w * v);
                *k = k.wrapping_add((w.wrapping_add(add) * v).wrapping_mul(stride));
            }
        }
    }
    largest
}

/// ORs a column's slot values into wide keys' halves `lo` and `hi`; returns the largest
/// valid word.
fn or_in_wide(
    lo: &mut [u64],
    hi: &mut [u64],
    s: &Slot,
    words: &[u64],
    nulls: Option<&NullBuffer>,
) -> u64 {
    let (shift, bits) = (s.stride.trailing_zeros(), s.radix.trailing_zeros());
    let add = u64::from(s.nullable);
    match (shift, shift + bits) {
        // Within one half: one pass ORs the words in and finds the largest.
        (shift, end) if bits <= 64 && (end <= 64 || shift >= 64) => {
            let (half, shift) = match shift >= 64 {
                true => (hi, shift - 64),
                false => (lo, shift),
            };
            match nulls {
                None => or_in(half, words, add, shift),
                Some(nulls) => {
                    let mut largest = 0;
                    for ((k, &w), v) in half.iter_mut().zip(words).zip(nulls.iter()) {
                        let v = u64::from(v);
                        largest = largest.max(w * v);
                        *k |= (w.wrapping_add(add) * v) << shift;
                    }
                    largest
                }
            }
        }
        // Across the halves, or a 65-bit slot (a whole u64 and NULL): a u128 a row, once
        // every value is known to fit.
        (shift, _) => {
            let valid = |r: usize| nulls.is_none_or(|n| n.is_valid(r));
            let largest = (0..words.len())
                .filter(|&r| valid(r))
                .map(|r| words[r])
                .max();
            let largest = largest.unwrap_or(0);
            if largest <= s.range {
                for (r, &w) in words.iter().enumerate() {
                    let v = ((u128::from(w) + u128::from(add)) * u128::from(valid(r))) << shift;
                    lo[r] |= v as u64;
                    hi[r] |= (v >> 64) as u64;
                }
            }
            largest
        }
    }
}

/// ORs `(word + add) << shift` into each key's half; returns the largest word.
fn or_in(half: &mut [u64], words: &[u64], add: u64, shift: u32) -> u64 {
    let mut largest = 0;
    for (k, &w) in half.iter_mut().zip(words) {
        largest = largest.max(w);
        *k |= w.wrapping_add(add) << shift;
    }
    largest
}

/// The smallest and largest value of an integer type.
fn int_range(t: &DataType) -> Option<(i128, i128)> {
    Some(match t {
        DataType::Int8 => (i8::MIN.into(), i8::MAX.into()),
        DataType::Int16 => (i16::MIN.into(), i16::MAX.into()),
        DataType::Int32 => (i32::MIN.into(), i32::MAX.into()),
        DataType::Int64 => (i64::MIN.into(), i64::MAX.into()),
        DataType::UInt8 => (0, u8::MAX.into()),
        DataType::UInt16 => (0, u16::MAX.into()),
        DataType::UInt32 => (0, u32::MAX.into()),
        DataType::UInt64 => (0, u64::MAX.into()),
        _ => return None,
    })
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

/// Each packed column from the fixed keys at `at`: the keys gathered once (in chunks, on
/// every core), then each column's slot taken out of them.
fn unpack_fixed(
    keys: &[&ArrayRef],
    at: &[(usize, usize)],
    key: &Key,
    slots: &[Slot],
) -> Result<Vec<ArrayRef>, ArrowError> {
    // Each batch's keys, as u64 or (wide) i128 values.
    let narrow: Vec<&[u64]> = (keys.iter())
        .filter_map(|k| k.as_primitive_opt::<UInt64Type>())
        .map(|k| k.values().as_ref())
        .collect();
    let wide: Vec<&[i128]> = (keys.iter())
        .filter_map(|k| k.as_primitive_opt::<Decimal128Type>())
        .map(|k| k.values().as_ref())
        .collect();
    if narrow.len() + wide.len() != keys.len() {
        return Err(ArrowError::ComputeError(
            "a fixed-width key column is neither UInt64 nor Decimal128".into(),
        ));
    }
    let columns = key.columns.par_iter().zip(slots);
    if wide.is_empty() {
        let gathered = gather(&narrow, at, |k| k);
        return columns
            .map(|(p, s)| {
                // Divided by multiplying: a u64 division a row and column costs three
                // times as much (82 ms against 26 ms for 1M keys of 21 columns).
                let stride = u64::try_from(s.stride).ok().map(StrengthReducedU64::new);
                let radix = u64::try_from(s.radix).ok().map(StrengthReducedU64::new);
                let slot = |k: u64| match (stride, radix) {
                    // A stride of 2^64: a last slot of one value.
                    (None, _) => 0,
                    (Some(d), Some(r)) => u128::from((k / d) % r),
                    // Only the last slot's value count may be 2^64.
                    (Some(d), None) => u128::from(k / d),
                };
                column_of(&gathered, slot, s, p)
            })
            .collect();
    }
    let gathered = gather(&wide, at, |k| k as u128);
    columns
        .map(|(p, s)| {
            let (shift, mask) = (s.stride.trailing_zeros(), s.radix - 1);
            column_of(&gathered, |k: u128| (k >> shift) & mask, s, p)
        })
        .collect()
}

/// The keys at `at` (batch, row) of `keys`' batches, in chunks on every core.
fn gather<K: Copy + Send + Sync, T: Copy + Default + Send>(
    keys: &[&[K]],
    at: &[(usize, usize)],
    f: impl Fn(K) -> T + Sync,
) -> Vec<T> {
    const CHUNK: usize = 1 << 14;
    let mut gathered = vec![T::default(); at.len()];
    (gathered.par_chunks_mut(CHUNK).zip(at.par_chunks(CHUNK))).for_each(|(out, at)| {
        for (o, &(b, r)) in out.iter_mut().zip(at) {
            *o = f(keys[b][r]);
        }
    });
    gathered
}

/// A packed column from its `slot` value in each of the `keys`: 0 at NULL when nullable,
/// else 1 + the offset (see `Slot`). A dictionary's keys and 64-bit integers are written
/// straight from it.
fn column_of<K: Copy>(
    keys: &[K],
    slot: impl Fn(K) -> u128,
    s: &Slot,
    p: &Packed,
) -> Result<ArrayRef, ArrowError> {
    let null = u128::from(s.nullable);
    let offset = |k: K| slot(k).saturating_sub(null) as u64;
    let nulls = match s.nullable {
        true => Some(NullBuffer::new(
            keys.iter().map(|&k| slot(k) != 0).collect(),
        )),
        false => None,
    };
    let nulls = nulls.filter(|n| n.null_count() > 0);
    let values = keys.iter().map(|&k| offset(k));
    let array: ArrayRef = match &p.kind {
        Kind::Str(interner) => {
            return strings(values.map(|o| o as i32).collect(), nulls, interner, p);
        }
        Kind::Int => Arc::new(Int64Array::new(
            values.map(|o| s.base.wrapping_add(o) as i64).collect(),
            nulls,
        )),
        Kind::UInt => Arc::new(UInt64Array::new(
            values.map(|o| s.base.wrapping_add(o)).collect(),
            nulls,
        )),
        _ => return from_words(values.collect(), nulls, p),
    };
    in_field_type(array, p)
}

/// A packed column back from its words (as [`to_words`] gives them), in its decoded type.
fn from_words(
    words: Vec<u64>,
    nulls: Option<NullBuffer>,
    p: &Packed,
) -> Result<ArrayRef, ArrowError> {
    let array: ArrayRef = match &p.kind {
        Kind::Str(interner) => {
            return strings(
                words.into_iter().map(|w| w as i32).collect(),
                nulls,
                interner,
                p,
            );
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
    in_field_type(array, p)
}

/// `array` in `p`'s decoded type: narrower integers came from that type.
fn in_field_type(array: ArrayRef, p: &Packed) -> Result<ArrayRef, ArrowError> {
    match array.data_type() == p.field.data_type() {
        true => Ok(array),
        false => cast(&array, p.field.data_type()),
    }
}

/// A string column from each row's code (0 at a NULL row): the distinct strings once, a
/// row's code its key (a column of NULLs gets one string its rows never use).
fn strings(
    keys: Vec<i32>,
    nulls: Option<NullBuffer>,
    interner: &Mutex<Interner>,
    p: &Packed,
) -> Result<ArrayRef, ArrowError> {
    let values = {
        let strings = lock(interner)?;
        if strings.strings.len() > i32::MAX as usize {
            return Err(ArrowError::ComputeError(format!(
                "column {} has more distinct strings than a dictionary holds",
                p.field.name()
            )));
        }
        let mut values = StringViewBuilder::with_capacity(strings.strings.len().max(1));
        strings.strings.iter().for_each(|s| values.append_value(s));
        if strings.strings.is_empty() {
            values.append_value("");
        }
        values.finish()
    };
    let keys = Int32Array::new(keys.into(), nulls);
    Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(
        keys,
        Arc::new(values),
    )?))
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
    use arrow::array::{Int8Array, StringArray, StringViewArray};

    impl KeyCodes {
        /// One coded batch decoded, rows in place.
        fn decode(&self, b: &RecordBatch) -> Result<RecordBatch, ArrowError> {
            let at: Vec<(usize, usize)> = (0..b.num_rows()).map(|r| (0, r)).collect();
            self.decode_at(std::slice::from_ref(b), &at)
        }
    }

    /// `decoded` with its columns cast to the types of `like`'s, after checking that those
    /// of another type are packed strings come back as dictionaries.
    fn typed_like(decoded: &RecordBatch, like: &RecordBatch) -> RecordBatch {
        let columns = (decoded.columns().iter().zip(like.columns()))
            .map(|(d, l)| {
                if d.data_type() != l.data_type() {
                    assert_eq!(online_type(l.data_type()), Some(OnlineType::Str));
                    assert_eq!(d.data_type(), &decoded_strings());
                }
                cast(d, l.data_type()).unwrap()
            })
            .collect();
        RecordBatch::try_new(like.schema(), columns).unwrap()
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
        let key = |k: &ArrayRef, r: usize| k.as_binary::<i64>().value(r).to_vec();
        let at = [(1, 4), (0, 2), (1, 0), (0, 6)];
        let e1 = check_keys(&codes, [&b1, &b2], key, &[0, 3, 7], in_coded_order, &at);
        assert_eq!(e1.schema(), codes.coded_schema());
        // The id and row columns are kept as they are.
        assert_eq!(e1.column(1), b1.column(2));
    }

    /// `batches` encoded by `codes`: only the rows `equal_to_base` (numbered across both)
    /// have the first row's key (as `key` reads it); each batch decodes back to itself
    /// (its columns put `in_order`); and rows picked `at` (batch, row) across both come
    /// back as those rows, in that order. Returns the first batch encoded.
    fn check_keys<K: PartialEq>(
        codes: &KeyCodes,
        batches: [&RecordBatch; 2],
        key: impl Fn(&ArrayRef, usize) -> K,
        equal_to_base: &[usize],
        in_order: impl Fn(&RecordBatch) -> RecordBatch,
        at: &[(usize, usize)],
    ) -> RecordBatch {
        let coded = batches.map(|b| codes.encode(b).unwrap());
        let all: Vec<K> = (coded.iter())
            .flat_map(|e| (0..e.num_rows()).map(|r| key(e.column(0), r)))
            .collect();
        for (i, k) in all.iter().enumerate() {
            assert_eq!(*k == all[0], equal_to_base.contains(&i), "row {i}");
        }
        let decoded = batches.map(&in_order);
        for (e, d) in coded.iter().zip(&decoded) {
            assert_eq!(&typed_like(&codes.decode(e).unwrap(), d), d);
        }
        let picked = codes.decode_at(&coded, at).unwrap();
        let want: Vec<RecordBatch> = at.iter().map(|&(b, r)| decoded[b].slice(r, 1)).collect();
        let want = arrow::compute::concat_batches(&decoded[0].schema(), &want).unwrap();
        assert_eq!(typed_like(&picked, &want), want);
        let [first, _] = coded;
        first
    }

    #[test]
    fn a_dictionary_column_packs_as_its_strings_and_decodes_to_the_strings_used() {
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
        assert_eq!(back.column(0).data_type(), &decoded_strings());
        let views = |b: &RecordBatch| cast(b.column(0), &DataType::Utf8View).unwrap();
        let want = StringViewArray::from(vec![Some("q"), Some("p"), None, Some("q")]);
        assert_eq!(views(&back).as_string_view(), &want);
        let back = codes.decode(&large).unwrap();
        let want = StringViewArray::from(vec!["r", "q"]);
        assert_eq!(views(&back).as_string_view(), &want);
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

    /// `schema()` without its float column (65 bits with NULL), leaving a 64-bit key.
    fn no_float(b: &RecordBatch) -> RecordBatch {
        b.project(&[0, 1, 2, 3, 4, 6, 7]).unwrap()
    }

    #[test]
    fn fixed_keys_round_trip_match_equal_rows_only_and_refuse_what_does_not_fit() {
        let bounds = HashMap::from([("n".to_string(), (-3, 1000))]);
        let bounds = ColumnFacts {
            bounds,
            ..ColumnFacts::default()
        };
        // Two 65-bit columns (a float and an unbounded i64, each with NULL) do not fit;
        // with n bounded, they do.
        let none = ColumnFacts::default();
        assert!(KeyCodes::fixed(&schema(), Some("id"), "row", &none).is_none());
        assert!(KeyCodes::fixed(&schema(), Some("id"), "row", &bounds).is_some());
        let long = "a category text longer than twelve bytes";
        let base: Row = (Some(long), Some("p"), Some(0), Some(-1), None, Some(false));
        let with = |change: fn(&mut Row)| {
            let mut row = base;
            change(&mut row);
            row
        };
        let b1 = no_float(&batch(&[
            base,
            with(|r| r.1 = None),
            with(|r| r.1 = Some("")),
            base,
            with(|r| r.2 = None),
            with(|r| r.3 = Some(1)),
            with(|r| r.5 = None),
            with(|r| r.0 = None),
        ]));
        let b2 = no_float(&batch(&[
            base,
            with(|r| r.0 = Some("")),
            (Some("x"), None, Some(-3), Some(i8::MIN), None, Some(true)),
            (None, Some("y"), Some(1000), Some(i8::MAX), None, None),
        ]));
        let codes = KeyCodes::fixed(&b1.schema(), Some("id"), "row", &bounds).unwrap();
        assert!(codes.is_fixed());
        // n: 1,004 values and NULL; i8: 256 and NULL; b: 2 and NULL; their product takes 20
        // bits, which leaves 22 bits for each string.
        assert_eq!(codes.coded_schema().field(0).data_type(), &DataType::UInt64);
        let key = |k: &ArrayRef, r: usize| k.as_primitive::<UInt64Type>().value(r);
        let in_order = |b: &RecordBatch| b.project(&[0, 1, 3, 4, 5, 2, 6]).unwrap();
        let at = [(1, 3), (0, 2), (1, 2), (0, 7)];
        check_keys(&codes, [&b1, &b2], key, &[0, 3, 8], in_order, &at);
        // Out of the bounds, either side, overflows; a NULL row's value is not looked at.
        assert!(!codes.overflowed());
        for n in [-4, 1001] {
            let b = no_float(&batch(&[with(|r| r.2 = Some(0)), base]));
            let mut columns = b.columns().to_vec();
            columns[3] = Arc::new(Int64Array::from(vec![0, n]));
            let b = RecordBatch::try_new(b.schema(), columns).unwrap();
            let e = codes.encode(&b).unwrap_err().to_string();
            assert!(e.contains("column n has a value its packed key"), "{e}");
            assert!(codes.overflowed());
        }
        let b = no_float(&batch(&[base]));
        let mut columns = b.columns().to_vec();
        let behind_null = arrow::buffer::ScalarBuffer::from(vec![5000i64]);
        columns[3] = Arc::new(Int64Array::new(behind_null, Some(NullBuffer::new_null(1))));
        let b = RecordBatch::try_new(b.schema(), columns).unwrap();
        let back = codes.decode(&codes.encode(&b).unwrap()).unwrap();
        assert!(back.column(2).is_null(0));
    }

    /// Slots that cross from the low 64 bits to the high ones, a 65-bit slot (a whole u64
    /// and NULL) among them, keep their values: extremes and NULL come back, and only the
    /// repeated row shares a key.
    #[test]
    fn fixed_slots_across_the_halves_round_trip() {
        use arrow::array::{Int16Array, Int32Array};
        let extremes = |schema: Schema, columns: Vec<ArrayRef>| {
            let b = RecordBatch::try_new(Arc::new(schema), columns).unwrap();
            let none = ColumnFacts::default();
            let codes = KeyCodes::fixed(&b.schema(), None, "row", &none).unwrap();
            let coded = codes.encode(&b).unwrap();
            assert_eq!(typed_like(&codes.decode(&coded).unwrap(), &b), b);
            let keys = coded.column(0).as_primitive::<Decimal128Type>();
            let n = keys.len();
            for r in 0..n {
                for q in 0..n {
                    let same_row = r == q || (r.min(q) == 0 && r.max(q) == n - 1);
                    assert_eq!(keys.value(r) == keys.value(q), same_row, "{r} {q}");
                }
            }
        };
        // b: 1 bit; u: 64 bits from bit 1, across the halves; i: 33 bits, the high half.
        extremes(
            Schema::new(vec![
                Field::new("b", DataType::Boolean, false),
                Field::new("u", DataType::UInt64, false),
                Field::new("i", DataType::Int32, true),
            ]),
            vec![
                Arc::new(BooleanArray::from(vec![true, false, true, true, true])),
                Arc::new(UInt64Array::from(vec![u64::MAX, u64::MAX, 0, 1, u64::MAX])),
                Arc::new(Int32Array::from(vec![
                    None,
                    None,
                    Some(i32::MIN),
                    Some(i32::MAX),
                    None,
                ])),
            ],
        );
        // i: 65 bits from bit 0; f: 32 bits and j: 17 bits, the high half.
        extremes(
            Schema::new(vec![
                Field::new("i", DataType::Int64, true),
                Field::new("f", DataType::Float32, false),
                Field::new("j", DataType::Int16, true),
            ]),
            vec![
                Arc::new(Int64Array::from(vec![
                    Some(i64::MAX),
                    None,
                    Some(i64::MIN),
                    Some(-1),
                    Some(i64::MAX),
                ])),
                Arc::new(Float32Array::from(vec![
                    -0.0,
                    -0.0,
                    f32::MAX,
                    f32::NAN,
                    -0.0,
                ])),
                Arc::new(Int16Array::from(vec![
                    Some(i16::MAX),
                    Some(i16::MAX),
                    None,
                    Some(i16::MIN),
                    Some(i16::MAX),
                ])),
            ],
        );
    }

    #[test]
    fn a_wide_fixed_key_holds_what_its_string_bits_hold_and_overflows_past_that() {
        // 30 nullable string columns: more than 64 bits at 8 each, so a 126-bit key of 4
        // bits a column: 15 strings and NULL.
        let fields: Vec<Field> = (0..30)
            .map(|i| Field::new(format!("s{i}"), DataType::Utf8, true))
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let none = ColumnFacts::default();
        let codes = KeyCodes::fixed(&schema, None, "row", &none).unwrap();
        assert_eq!(
            codes.coded_schema().field(0).data_type(),
            &DataType::Decimal128(38, 0)
        );
        let batch = |first: Vec<Option<String>>| {
            let n = first.len();
            let columns: Vec<ArrayRef> = std::iter::once(first)
                .chain((1..30).map(|c| (0..n).map(|r| Some(format!("{}", (r + c) % 3))).collect()))
                .map(|v| Arc::new(StringArray::from(v)) as ArrayRef)
                .collect();
            RecordBatch::try_new(schema.clone(), columns).unwrap()
        };
        let mut fifteen: Vec<Option<String>> = (0..15).map(|i| Some(format!("v{i}"))).collect();
        fifteen.push(None);
        let b = batch(fifteen);
        let coded = codes.encode(&b).unwrap();
        let back = codes.decode(&coded).unwrap();
        assert_eq!(typed_like(&back, &b), b);
        let keys = coded.column(0).as_primitive::<Decimal128Type>();
        assert!(keys.values().iter().all(|&k| (0..1 << 120).contains(&k)));
        let e = codes.encode(&batch(vec![Some("v15".into())])).unwrap_err();
        assert!(e.to_string().contains("column s0 has a value"), "{e}");
        assert!(codes.overflowed());
    }

    /// 13 columns of 30 values take 65 bits as bit slots, but 30^13 < 2^64 values as
    /// digits of one number: a UInt64 key. Extremes round trip, only equal rows share a
    /// key, and a value past a column's bounds or a NULL where the files said there was
    /// none overflows.
    #[test]
    fn a_narrow_key_holds_columns_whose_value_counts_multiply_to_at_most_2_to_the_64() {
        use arrow::array::Int16Array;
        let names: Vec<String> = (0..13).map(|c| format!("c{c}")).collect();
        let fields: Vec<Field> = (names.iter())
            .map(|n| Field::new(n, DataType::Int16, true))
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let facts = ColumnFacts {
            bounds: names.iter().map(|n| (n.clone(), (-10, 19))).collect(),
            no_nulls: names.iter().cloned().collect(),
            ..ColumnFacts::default()
        };
        let codes = KeyCodes::fixed(&schema, None, "row", &facts).unwrap();
        assert_eq!(codes.coded_schema().field(0).data_type(), &DataType::UInt64);
        // With NULL allowed, 31^13 > 2^64: bit slots of a wide key.
        let nullable = ColumnFacts {
            no_nulls: HashSet::new(),
            ..facts.clone()
        };
        let wide = KeyCodes::fixed(&schema, None, "row", &nullable).unwrap();
        assert_eq!(
            wide.coded_schema().field(0).data_type(),
            &DataType::Decimal128(38, 0)
        );
        let rows: [[i16; 13]; 5] = [
            [19; 13],
            [-10; 13],
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
            [19, -10, 19, -10, 19, -10, 19, -10, 19, -10, 19, -10, 19],
            [19; 13],
        ];
        let batch = |rows: &[[i16; 13]]| {
            let columns: Vec<ArrayRef> = (0..13)
                .map(|c| Arc::new(Int16Array::from_iter_values(rows.iter().map(|r| r[c]))) as _)
                .collect();
            RecordBatch::try_new(schema.clone(), columns).unwrap()
        };
        for codes in [&codes, &wide] {
            let b = batch(&rows);
            let coded = codes.encode(&b).unwrap();
            assert_eq!(codes.decode(&coded).unwrap(), b);
            let keys = coded.column(0);
            let key = |r: usize| arrow::array::Scalar::new(keys.slice(r, 1));
            for r in 0..5 {
                for q in 0..5 {
                    let same = arrow::compute::kernels::cmp::eq(&key(r), &key(q)).unwrap();
                    assert_eq!(same.value(0), rows[r] == rows[q], "{r} {q}");
                }
            }
        }
        let mut past = rows[2];
        past[12] = 20;
        let e = codes.encode(&batch(&[past])).unwrap_err().to_string();
        assert!(e.contains("column c12 has a value its packed key"), "{e}");
        let mut columns = batch(&rows).columns().to_vec();
        columns[3] = Arc::new(Int16Array::from(vec![
            Some(0),
            None,
            Some(1),
            Some(2),
            Some(3),
        ]));
        let with_null = RecordBatch::try_new(schema.clone(), columns).unwrap();
        let e = codes.encode(&with_null).unwrap_err().to_string();
        assert!(e.contains("column c3 has a NULL its packed key"), "{e}");
        assert!(codes.overflowed());
    }

    /// A whole u64 column fills a narrow key (2^64 values): its digit needs no remainder,
    /// and a column of one value after it (stride 2^64) adds nothing.
    #[test]
    fn a_narrow_key_of_a_whole_u64_and_a_column_of_one_value_round_trips() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("u", DataType::UInt64, false),
            Field::new("one", DataType::Int64, true),
        ]));
        let facts = ColumnFacts {
            bounds: HashMap::from([("one".to_string(), (7, 7))]),
            no_nulls: HashSet::from(["one".to_string()]),
            ..ColumnFacts::default()
        };
        let codes = KeyCodes::fixed(&schema, None, "row", &facts).unwrap();
        assert_eq!(codes.coded_schema().field(0).data_type(), &DataType::UInt64);
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(UInt64Array::from(vec![u64::MAX, 0, 1 << 63])),
                Arc::new(Int64Array::from(vec![7, 7, 7])),
            ],
        )
        .unwrap();
        let coded = codes.encode(&b).unwrap();
        let keys = coded.column(0).as_primitive::<UInt64Type>();
        assert_eq!(keys.values().as_ref(), [u64::MAX, 0, 1 << 63]);
        assert_eq!(codes.decode(&coded).unwrap(), b);
        let mut columns = b.columns().to_vec();
        columns[1] = Arc::new(Int64Array::from(vec![7, 8, 7]));
        let e = codes
            .encode(&RecordBatch::try_new(schema, columns).unwrap())
            .unwrap_err();
        assert!(e.to_string().contains("column one has a value"), "{e}");
    }

    /// A string column whose values the files list gets codes in that order and only room
    /// for them (and NULL): another string overflows.
    #[test]
    fn known_strings_are_coded_in_their_order_and_others_overflow() {
        let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, true)]));
        let values = vec!["b".to_string(), "a".to_string()];
        let facts = ColumnFacts {
            strings: HashMap::from([("s".to_string(), values)]),
            ..ColumnFacts::default()
        };
        let codes = KeyCodes::fixed(&schema, None, "row", &facts).unwrap();
        let batch = |v: Vec<Option<&str>>| {
            RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(v))]).unwrap()
        };
        let b = batch(vec![Some("a"), None, Some("b")]);
        let coded = codes.encode(&b).unwrap();
        // NULL is 0, then 1 + the code.
        let keys = coded.column(0).as_primitive::<UInt64Type>();
        assert_eq!(keys.values().as_ref(), [2, 0, 1]);
        assert_eq!(typed_like(&codes.decode(&coded).unwrap(), &b), b);
        let e = codes
            .encode(&batch(vec![Some("c")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("column s has a value its packed key"), "{e}");
        // A Parquet dictionary batch is coded through its own keys, to the same keys.
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let schema = Arc::new(Schema::new(vec![Field::new("s", dict, true)]));
        let codes = KeyCodes::fixed(&schema, None, "row", &facts).unwrap();
        let column = DictionaryArray::<Int32Type>::try_new(
            Int32Array::from(vec![Some(1), None, Some(0)]),
            Arc::new(StringArray::from(vec!["b", "a"])),
        )
        .unwrap();
        let b = RecordBatch::try_new(schema, vec![Arc::new(column)]).unwrap();
        let coded = codes.encode(&b).unwrap();
        let keys = coded.column(0).as_primitive::<UInt64Type>();
        assert_eq!(keys.values().as_ref(), [2, 0, 1]);
    }

    #[test]
    fn facts_of_two_files_are_what_both_tell() {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let facts = |bounds: &[(&str, (i128, i128))], no_nulls: &[&str], s: &[(&str, &[&str])]| {
            ColumnFacts {
                bounds: bounds.iter().map(|(n, b)| (n.to_string(), *b)).collect(),
                no_nulls: no_nulls.iter().map(|n| n.to_string()).collect(),
                strings: s.iter().map(|(n, v)| (n.to_string(), strings(v))).collect(),
            }
        };
        let one = facts(
            &[("a", (0, 5)), ("b", (1, 1))],
            &["a", "b"],
            &[("s", &["x", "y"])],
        );
        let two = facts(
            &[("a", (-2, 3))],
            &["a", "t"],
            &[("s", &["z", "x"]), ("t", &["q"])],
        );
        let both = one.and(two);
        assert_eq!(both.bounds, HashMap::from([("a".to_string(), (-2, 5))]));
        assert_eq!(both.no_nulls, HashSet::from(["a".to_string()]));
        let want = HashMap::from([("s".to_string(), strings(&["x", "y", "z"]))]);
        assert_eq!(both.strings, want);
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
