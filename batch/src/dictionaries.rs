//! A Parquet file's string columns' distinct values, read from their dictionary pages
//! alone (a few KB a column chunk) before any row is: with them a fixed-width key gives a
//! category column only the values it holds (see `codes::ColumnFacts`).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::async_reader::MetadataFetch;
use parquet::basic::{Encoding, EncodingMask, Type};
use parquet::column::page::{Page, PageReader};
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{ColumnChunkMetaData, ParquetMetaDataReader};
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::serialized_reader::SerializedPageReader;

use crate::codes::extend_new;

/// Column chunks read at most: past that, a source's dictionaries cost more requests than
/// they save.
const MAX_CHUNKS: usize = 4096;
/// Dictionary bytes a column may take in a file: a category column's take a few KB a
/// chunk; more is an id-like column, whose values could not narrow a key anyway.
const MAX_COLUMN_BYTES: u64 = 1 << 20;
/// Dictionary pages fetched at once from a remote store. A local store reads each on a
/// blocking thread of its own: there, one at a time (16 more threads, each with its own
/// allocator heap, cost the scan after them 80 MB of fresh memory).
const AT_ONCE: usize = 16;

/// One file in an object store.
struct StoreFile<'a> {
    store: &'a dyn ObjectStore,
    path: &'a Path,
}

impl MetadataFetch for &StoreFile<'_> {
    fn fetch(&mut self, range: Range<u64>) -> BoxFuture<'_, Result<Bytes>> {
        let (store, path) = (self.store, self.path);
        async move {
            (store.get_range(path, range).await).map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }
}

/// Bytes of a file from offset `start`: a page reader reads a page where the file has it.
struct Piece {
    start: u64,
    bytes: Bytes,
}

impl Length for Piece {
    fn len(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }
}

impl ChunkReader for Piece {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> Result<Self::T> {
        Ok(self
            .get_bytes(start, self.len().saturating_sub(start) as usize)?
            .reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes> {
        let from = usize::try_from(start.checked_sub(self.start).unwrap_or(u64::MAX))
            .ok()
            .filter(|&f| f.saturating_add(length) <= self.bytes.len())
            .ok_or_else(|| ParquetError::EOF(format!("no bytes at {start}+{length}")))?;
        Ok(self.bytes.slice(from..from + length))
    }
}

/// The distinct values of each column of the file at `path` that `names` names, in the
/// order of its row groups' dictionaries, by name. A column is left out unless every row
/// group has it as strings in a dictionary its metadata says all its data pages use (or
/// says nothing of); a file that cannot be read gives nothing. `local`: the store is a
/// local file system (see [`AT_ONCE`]).
pub async fn string_values(
    store: &dyn ObjectStore,
    path: &Path,
    names: &[&str],
    local: bool,
) -> HashMap<String, Vec<String>> {
    let file = StoreFile { store, path };
    let Ok(head) = store.head(path).await else {
        return HashMap::new();
    };
    let Ok(meta) = ParquetMetaDataReader::new()
        .with_prefetch_hint(Some(64 << 10))
        .load_and_finish(&file, head.size)
        .await
    else {
        return HashMap::new();
    };
    let schema = meta.file_metadata().schema_descr();
    // Leaf columns by name: a top-level string column is one leaf of that name.
    let leaves: Vec<(usize, &str)> = (0..schema.num_columns())
        .filter_map(|i| {
            let column = schema.column(i);
            let path = column.path().parts();
            let name = names.iter().find(|n| path == [n.to_string()])?;
            if column.physical_type() != Type::BYTE_ARRAY {
                return None;
            }
            Some((i, *name))
        })
        .collect();
    let groups = meta.row_groups();
    let bytes = |c: &ColumnChunkMetaData| dictionary_range(c).map_or(0, |r| r.end - r.start);
    let leaves: Vec<(usize, &str)> = (leaves.into_iter())
        .filter(|&(i, _)| {
            groups.iter().map(|g| bytes(g.column(i))).sum::<u64>() <= MAX_COLUMN_BYTES
        })
        .collect();
    if groups.is_empty() || groups.len() * leaves.len() > MAX_CHUNKS {
        return HashMap::new();
    }
    // Futures made first, then run: a stream mapping borrowed chunks to futures would not
    // be `Send` for every lifetime (a compiler limit), and the caller's future must be.
    let reads: Vec<_> = (groups.iter())
        .flat_map(|g| {
            leaves
                .iter()
                .map(move |&(i, name)| (name, g.column(i), g.num_rows()))
        })
        .map(|(name, chunk, rows)| async move {
            (name, dictionary(store, path, chunk, rows as usize).await)
        })
        .collect();
    let pages: Vec<(&str, Option<Vec<String>>)> = futures::stream::iter(reads)
        .buffered(if local { 1 } else { AT_ONCE })
        .collect()
        .await;
    let mut values: HashMap<String, Vec<String>> = HashMap::new();
    let mut unknown: Vec<&str> = Vec::new();
    for (name, page) in pages {
        match page {
            Some(page) => extend_new(values.entry(name.to_string()).or_default(), page),
            None => unknown.push(name),
        }
    }
    values.retain(|name, _| !unknown.contains(&name.as_str()));
    values
}

/// The strings of a column chunk's dictionary page (see [`dictionary_range`]), if its
/// values are UTF-8.
async fn dictionary(
    store: &dyn ObjectStore,
    path: &Path,
    chunk: &ColumnChunkMetaData,
    rows: usize,
) -> Option<Vec<String>> {
    let Range { start, end } = dictionary_range(chunk)?;
    let bytes = store.get_range(path, start..end).await.ok()?;
    let piece = Arc::new(Piece { start, bytes });
    let mut pages = SerializedPageReader::new(piece, chunk, rows, None).ok()?;
    match pages.get_next_page().ok()?? {
        Page::DictionaryPage {
            buf, num_values, ..
        } => plain_strings(&buf, num_values as usize),
        _ => None,
    }
}

/// Where a column chunk's dictionary page is, if it has one and all its data pages use it
/// (as far as the metadata tells).
fn dictionary_range(chunk: &ColumnChunkMetaData) -> Option<Range<u64>> {
    let start = u64::try_from(chunk.dictionary_page_offset()?).ok()?;
    let end = u64::try_from(chunk.data_page_offset()).ok()?;
    let dictionary_only = |m: &EncodingMask| {
        m.is_only(Encoding::RLE_DICTIONARY) || m.is_only(Encoding::PLAIN_DICTIONARY)
    };
    let all_pages = chunk.page_encoding_stats_mask().is_none_or(dictionary_only);
    (start < end && all_pages).then_some(start..end)
}

/// PLAIN-encoded byte arrays (each a little-endian u32 length, then its bytes) as
/// strings: `n` of them, all UTF-8, or none.
fn plain_strings(buf: &[u8], n: usize) -> Option<Vec<String>> {
    let mut rest = buf;
    let mut out = Vec::with_capacity(n.min(buf.len() / 4));
    for _ in 0..n {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len) as usize;
        let (s, tail) = (tail.len() >= len).then(|| tail.split_at(len))?;
        out.push(std::str::from_utf8(s).ok()?.to_owned());
        rest = tail;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_strings_are_read_whole_or_not_at_all() {
        let mut page = Vec::new();
        for s in ["a", "", "ccc"] {
            page.extend((s.len() as u32).to_le_bytes());
            page.extend(s.as_bytes());
        }
        let want: Vec<String> = vec!["a".into(), "".into(), "ccc".into()];
        assert_eq!(plain_strings(&page, 3), Some(want));
        // Cut short, fewer values than the header says, not UTF-8, a length past the end.
        assert_eq!(plain_strings(&page[..page.len() - 1], 3), None);
        assert_eq!(plain_strings(&page, 4), None);
        let mut bad = page.clone();
        bad[4] = 0xff;
        assert_eq!(plain_strings(&bad, 3), None);
        assert_eq!(plain_strings(&u32::MAX.to_le_bytes(), 1), None);
    }
}
