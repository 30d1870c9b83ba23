//! The first row of each distinct fixed-width key (see `codes`), found on every core
//! without DataFusion's aggregate.
//!
//! Over 10M rows of 1M distinct keys, DataFusion's aggregate gives up its partial stage
//! (the first rows it probes are all distinct). Every row is then hashed into a
//! repartition and copied there, and interned in a table of group numbers whose keys and
//! smallest row ids sit in arrays of their own: several places in memory a row, each
//! likely a cache miss. Here a key and its first row share one slot of an open-addressing
//! table, and the slots of 16 rows are read before any of them is probed, so that their
//! misses overlap. The keys are spread over [`SHARDS`] tables by their hash. Each core
//! packs its own batches and adds a batch's rows one shard at a time, under that shard's
//! lock, starting from a shard of its own, so the cores seldom wait for each other.
//! Nothing is copied a row.

use std::sync::Mutex;

use rayon::prelude::*;

/// Tables the keys are spread over: many more than cores, so that two cores rarely want
/// the same one, and few enough that a batch's share of each is hundreds of rows.
const SHARDS: usize = 16;
/// Rows whose slots are read before any of them is probed.
const AT_ONCE: usize = 16;

/// A fixed-width key: a narrow key's u64, or a wide key's `Decimal128` value.
pub trait Word: Copy + Eq + Default + Send + Sync {
    /// 64 well-mixed bits of the key.
    fn mix(self) -> u64;
}

/// The finalizer of SplitMix64: packed keys differ in a few low bits of each digit.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Word for u64 {
    fn mix(self) -> u64 {
        mix64(self)
    }
}

impl Word for i128 {
    fn mix(self) -> u64 {
        mix64(self as u64 ^ mix64((self >> 64) as u64))
    }
}

/// An open-addressing table of keys and their first rows, probed linearly. A slot whose
/// row is 0 is empty: row ids start at 1.
struct Table<K> {
    slots: Vec<(K, u64)>,
    len: usize,
}

impl<K: Word> Table<K> {
    /// Slots a new table starts with (a power of two).
    const FIRST_SLOTS: usize = 1 << 12;

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The row in the slot a key of `hash` is probed at first: read only to bring the slot
    /// into the cache.
    #[inline]
    fn touch(&self, hash: u64) -> u64 {
        self.slots[hash as usize & self.mask()].1
    }

    /// Keeps `row` as `key`'s first row unless a smaller one is there.
    #[inline]
    fn insert_min(&mut self, hash: u64, key: K, row: u64) {
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            let slot = &mut self.slots[i];
            if slot.1 == 0 {
                *slot = (key, row);
                self.len += 1;
                // At most half full: probes stay short.
                if self.len * 2 > self.slots.len() {
                    self.grow();
                }
                return;
            }
            if slot.0 == key {
                slot.1 = slot.1.min(row);
                return;
            }
            i = (i + 1) & mask;
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let slots = vec![(K::default(), 0); self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, slots);
        self.len = 0;
        for (key, row) in old.into_iter().filter(|&(_, row)| row != 0) {
            self.insert_min(key.mix(), key, row);
        }
    }
}

impl<K: Word> Default for Table<K> {
    fn default() -> Self {
        Table {
            slots: vec![(K::default(), 0); Self::FIRST_SLOTS],
            len: 0,
        }
    }
}

/// The smallest row id of each key added so far, shared by every core.
pub struct Firsts<K> {
    shards: Vec<Mutex<Table<K>>>,
}

impl<K: Word> Default for Firsts<K> {
    fn default() -> Self {
        Firsts {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

/// A key's shard: bits of its hash that the table does not use (a slot is its low bits).
fn shard_of(hash: u64) -> usize {
    (hash >> 32) as usize % SHARDS
}

/// One core's reusable space for grouping a batch's rows by shard.
#[derive(Default)]
pub struct Scratch {
    hashes: Vec<u64>,
    order: Vec<u32>,
}

impl<K: Word> Firsts<K> {
    /// Add a batch's keys with their row ids (a key keeps the smallest; ids start at 1, as
    /// the source numbers its rows); `me` picks the shard this caller starts from.
    pub fn add(&self, keys: &[K], rows: &[u64], me: usize, scratch: &mut Scratch) {
        debug_assert_eq!(keys.len(), rows.len());
        debug_assert!(!rows.contains(&0), "row ids start at 1");
        let Scratch { hashes, order } = scratch;
        hashes.clear();
        hashes.extend(keys.iter().map(|k| k.mix()));
        // The rows grouped by shard, in row order within each (a counting sort).
        let mut starts = [0usize; SHARDS + 1];
        for &h in hashes.iter() {
            starts[shard_of(h) + 1] += 1;
        }
        for s in 0..SHARDS {
            starts[s + 1] += starts[s];
        }
        let mut next = starts;
        order.clear();
        order.resize(keys.len(), 0);
        for (i, &h) in hashes.iter().enumerate() {
            let s = shard_of(h);
            order[next[s]] = i as u32;
            next[s] += 1;
        }
        for s in (0..SHARDS).map(|s| (s + me) % SHARDS) {
            let rows_here = &order[starts[s]..starts[s + 1]];
            if rows_here.is_empty() {
                continue;
            }
            // A poisoned lock means another core panicked: its panic is reported.
            let mut table = self.shards[s].lock().unwrap_or_else(|e| e.into_inner());
            // The slots of a few rows are read first, then probed: their misses to memory
            // overlap instead of coming one after another.
            for group in rows_here.chunks(AT_ONCE) {
                let touched = (group.iter()).fold(0, |t, &i| t ^ table.touch(hashes[i as usize]));
                std::hint::black_box(touched);
                for &i in group {
                    let i = i as usize;
                    table.insert_min(hashes[i], keys[i], rows[i]);
                }
            }
        }
    }

    /// Every key's first row, in row order: the keys and their row ids. The tables are
    /// left empty.
    pub fn finish(&self) -> (Vec<K>, Vec<u64>) {
        let tables: Vec<Table<K>> = (self.shards.iter())
            .map(|m| std::mem::take(&mut *m.lock().unwrap_or_else(|e| e.into_inner())))
            .collect();
        let mut firsts: Vec<(u64, K)> = Vec::with_capacity(tables.iter().map(|t| t.len).sum());
        firsts.par_extend(tables.into_par_iter().flat_map_iter(|t| {
            (t.slots.into_iter())
                .filter(|&(_, row)| row != 0)
                .map(|(k, r)| (r, k))
        }));
        // Row ids are unique, so the order is total.
        firsts.par_sort_unstable_by_key(|&(r, _)| r);
        firsts.into_iter().map(|(r, k)| (k, r)).unzip()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Batches added from several threads at once, in any order, keep each key's smallest
    /// row, as a sequential scan of the rows in order finds it; the result is in row order.
    #[test]
    fn each_key_keeps_its_smallest_row_whatever_order_batches_come_in() {
        // 400,000 rows of 100,000 keys (half of them shifted by 40 bits; as wide keys, all
        // in the top half), cut into batches of 997 added in reverse order by 4 threads:
        // each table starts at 4,096 slots and grows twice.
        let rows = 400_000u64;
        let key = |r: u64| (r * 7919 % 100_000) << (r % 2 * 40);
        let mut want: BTreeMap<u64, u64> = BTreeMap::new();
        for r in 1..=rows {
            want.entry(key(r)).or_insert(r);
        }
        let mut want: Vec<(u64, u64)> = want.into_iter().map(|(k, r)| (r, k)).collect();
        want.sort();
        let want: (Vec<u64>, Vec<u64>) = want.into_iter().map(|(r, k)| (k, r)).unzip();

        let ids: Vec<u64> = (1..=rows).collect();
        let batches: Vec<&[u64]> = ids.chunks(997).rev().collect();
        for wide in [false, true] {
            let narrow = Firsts::<u64>::default();
            let wide_keys = Firsts::<i128>::default();
            std::thread::scope(|s| {
                for me in 0..4 {
                    let (batches, narrow, wide_keys) = (&batches, &narrow, &wide_keys);
                    s.spawn(move || {
                        let mut scratch = Scratch::default();
                        for b in batches.iter().skip(me).step_by(4) {
                            let keys: Vec<u64> = b.iter().map(|&r| key(r)).collect();
                            match wide {
                                false => narrow.add(&keys, b, me, &mut scratch),
                                true => {
                                    let keys: Vec<i128> =
                                        keys.iter().map(|&k| (k as i128) << 64 | 5).collect();
                                    wide_keys.add(&keys, b, me, &mut scratch)
                                }
                            }
                        }
                    });
                }
            });
            let got = match wide {
                false => narrow.finish(),
                true => {
                    let (keys, rows) = wide_keys.finish();
                    (keys.iter().map(|&k| (k >> 64) as u64).collect(), rows)
                }
            };
            assert_eq!(got.1.len(), 100_000, "wide: {wide}");
            assert_eq!(got, want, "wide: {wide}");
        }
    }
}
