//! De-duplication as the source streams by: each row is kept if no earlier row had the
//! same values in every key column. The source is numbered in reading order, so the row
//! kept for each distinct key is the one with the smallest row number, and its id is that
//! row's: what the aggregate `GROUP BY keys` with `min(row) , first_value(id ORDER BY row)`
//! computes (and still computes on a cluster), without a hash aggregate's per-batch
//! repartitioning, group-state bookkeeping and final merge.
//!
//! Keys are compared in Arrow's row format, which encodes each value so that two rows'
//! bytes are equal exactly when their values are (NULL equals NULL, floats by their IEEE
//! total order as DataFusion's grouping compares them).

use std::collections::HashSet;
use std::hash::BuildHasherDefault;

use arrow::array::{BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::row::{RowConverter, SortField};
use rustc_hash::FxHasher;

pub struct FirstRows {
    converter: RowConverter,
    /// The key columns' positions in each batch.
    keys: Vec<usize>,
    /// Every distinct key seen so far, in row format.
    seen: HashSet<Box<[u8]>, BuildHasherDefault<FxHasher>>,
}

impl FirstRows {
    /// De-duplication of batches of `schema` on every column but those named in `skip`.
    pub fn new(schema: &SchemaRef, skip: &[&str]) -> Result<FirstRows, ArrowError> {
        let keys: Vec<usize> = (0..schema.fields().len())
            .filter(|&i| !skip.contains(&schema.field(i).name().as_str()))
            .collect();
        let fields = keys
            .iter()
            .map(|&i| SortField::new(schema.field(i).data_type().clone()))
            .collect();
        Ok(FirstRows {
            converter: RowConverter::new(fields)?,
            keys,
            seen: HashSet::default(),
        })
    }

    /// The rows of `batch` whose key no earlier row had (batches in reading order).
    pub fn first_of(&mut self, batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<_> = self.keys.iter().map(|&i| batch.column(i).clone()).collect();
        let rows = self.converter.convert_columns(&columns)?;
        let keep: Vec<bool> = rows
            .iter()
            .map(|row| {
                let key = row.as_ref();
                if self.seen.contains(key) {
                    return false;
                }
                self.seen.insert(key.into());
                true
            })
            .collect();
        if keep.iter().all(|&k| k) {
            return Ok(batch.clone());
        }
        filter_record_batch(batch, &BooleanArray::from(keep))
    }

    /// How many distinct keys have been seen.
    pub fn distinct(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray, Float64Array, Int64Array, StringArray, UInt64Array};
    use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, UInt64Type};
    use std::sync::Arc;

    #[test]
    fn the_first_row_of_each_key_is_kept_across_batches() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("n", DataType::Int64, true),
            Field::new("x", DataType::Float64, true),
            Field::new("row", DataType::UInt64, false),
        ]));
        let batch = |ids: &[&str], n: Vec<Option<i64>>, x: Vec<Option<f64>>, first: u64| {
            let len = ids.len() as u64;
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(ids.to_vec())),
                    Arc::new(Int64Array::from(n)),
                    Arc::new(Float64Array::from(x)),
                    Arc::new(UInt64Array::from_iter_values(first..first + len)),
                ],
            )
            .unwrap()
        };
        let mut first = FirstRows::new(&schema, &["id", "row"]).unwrap();
        // NULL equals NULL; -0.0 and 0.0 differ, as do NaN and a number (IEEE total order,
        // as DataFusion groups floats); the id does not count.
        let b1 = batch(
            &["a", "b", "c", "d", "e"],
            vec![Some(1), None, Some(1), None, Some(1)],
            vec![Some(0.0), None, Some(-0.0), None, Some(0.0)],
            1,
        );
        let b2 = batch(
            &["f", "g", "h"],
            vec![Some(1), Some(2), None],
            vec![Some(f64::NAN), Some(f64::NAN), None],
            6,
        );
        let k1 = first.first_of(&b1).unwrap();
        let k2 = first.first_of(&b2).unwrap();
        let ids = |b: &RecordBatch| -> Vec<String> {
            b.column(0)
                .as_string::<i32>()
                .iter()
                .map(|s| s.unwrap().to_owned())
                .collect()
        };
        assert_eq!(ids(&k1), ["a", "b", "c"]);
        assert_eq!(ids(&k2), ["f", "g"]);
        let rows: Vec<u64> = k2.column(3).as_primitive::<UInt64Type>().values().to_vec();
        assert_eq!(rows, [6, 7]);
        assert_eq!(first.distinct(), 5);
        // The kept rows' values are the batch's.
        assert_eq!(k1.column(1).as_primitive::<Int64Type>().null_count(), 1);
        assert!(k2.column(2).as_primitive::<Float64Type>().value(0).is_nan());
    }
}
