//! What a source URI names: its files in order (a file, or a folder's or an S3 prefix's
//! Parquet and CSV files sorted by name), each checked at both ends before a reader sees
//! it, and what identifies each one's content (the source's fingerprint).

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::prelude::SessionContext;
use riskfn_core::registry::s3::S3Settings;

use super::source_err;
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Format {
    Parquet,
    Csv,
}

pub(super) fn format_of(name: &str) -> Option<Format> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    match ext.as_str() {
        "parquet" | "parq" => Some(Format::Parquet),
        "csv" => Some(Format::Csv),
        _ => None,
    }
}

/// One file of a source: where DataFusion reads it, and what identifies its content.
#[derive(Debug)]
pub(super) struct SourceFile {
    pub(super) url: String,
    pub(super) format: Format,
    /// Local: sha256 of the bytes; S3: ETag and size.
    pub(super) identity: String,
    pub(super) size: u64,
}

/// The files a local source names: the file itself, or a folder's Parquet/CSV files
/// sorted by name. Parquet tails are checked here.
pub(super) fn local_files(uri: &str) -> Result<Vec<SourceFile>> {
    let path = PathBuf::from(uri.strip_prefix("file://").unwrap_or(uri));
    let meta = std::fs::metadata(&path).map_err(|e| source_err(uri, e.to_string()))?;
    let mut paths: Vec<(PathBuf, Format)> = if meta.is_file() {
        let f = format_of(&path.to_string_lossy())
            .ok_or_else(|| source_err(uri, "unknown format: expected a .parquet or .csv file"))?;
        vec![(path, f)]
    } else {
        std::fs::read_dir(&path)
            .map_err(|e| source_err(uri, e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .filter_map(|p| format_of(&p.to_string_lossy()).map(|f| (p, f)))
            .collect()
    };
    paths.sort_by(|a, b| a.0.cmp(&b.0));
    paths
        .into_iter()
        .map(|(p, format)| {
            let url = p.to_string_lossy().into_owned();
            let io = |e: std::io::Error| source_err(&url, e.to_string());
            let (identity, head, tail, size) = hash_file(&p).map_err(io)?;
            if format == Format::Parquet {
                check_parquet_tail(&head, &tail, size)
                    .map_err(|m| source_err(&url, format!("not a readable Parquet file: {m}")))?;
            }
            Ok(SourceFile {
                identity,
                url,
                format,
                size,
            })
        })
        .collect()
}

/// A file's sha256 (read in chunks: sources may be larger than memory), its first 4 and
/// last 8 bytes, and its size.
fn hash_file(path: &std::path::Path) -> std::io::Result<(String, Vec<u8>, Vec<u8>, u64)> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let (mut head, mut tail) = (Vec::with_capacity(4), Vec::with_capacity(8));
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        hasher.update(chunk);
        size += n as u64;
        if head.len() < 4 {
            let take = (4 - head.len()).min(n);
            head.extend_from_slice(&chunk[..take]);
        }
        tail.extend_from_slice(&chunk[n.saturating_sub(8)..]);
        let keep = tail.len().saturating_sub(8);
        tail.drain(..keep);
    }
    Ok((hex::encode(hasher.finalize()), head, tail, size))
}

/// The files an `s3://bucket/key` source names (an object, or the Parquet/CSV objects under
/// a prefix, sorted by key); registers the bucket with the session.
pub(super) async fn s3_files(
    ctx: &SessionContext,
    uri: &str,
    s3: &S3Settings,
) -> Result<Vec<SourceFile>> {
    use object_store::path::Path as ObjPath;
    use object_store::{ObjectStore, ObjectStoreExt};

    let rest = uri.trim_start_matches("s3://");
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(source_err(uri, "no bucket in the URI"));
    }
    let mut b = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_virtual_hosted_style_request(!s3.path_style);
    if let Some(e) = &s3.endpoint {
        b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
    }
    if let Some(r) = &s3.region {
        b = b.with_region(r);
    }
    if let (Some(id), Some(secret)) = (&s3.access_key_id, &s3.secret_access_key) {
        b = b.with_access_key_id(id).with_secret_access_key(secret);
    }
    if let Some(t) = &s3.session_token {
        b = b.with_token(t);
    }
    let store = Arc::new(b.build().map_err(|e| source_err(uri, e.to_string()))?);
    let base =
        url::Url::parse(&format!("s3://{bucket}")).map_err(|e| source_err(uri, e.to_string()))?;
    ctx.register_object_store(&base, store.clone());

    let unreachable = |e: object_store::Error| source_err(uri, format!("S3: {e}"));
    let mut objects = Vec::new();
    let key = key.trim_end_matches('/');
    if format_of(key).is_some() {
        objects.push(store.head(&ObjPath::from(key)).await.map_err(unreachable)?);
    } else {
        use futures::TryStreamExt;
        let prefix = (!key.is_empty()).then(|| ObjPath::from(key));
        let mut listed: Vec<_> = store
            .list(prefix.as_ref())
            .try_collect()
            .await
            .map_err(unreachable)?;
        listed.retain(|m| format_of(m.location.as_ref()).is_some());
        listed.sort_by(|a, b| a.location.cmp(&b.location));
        if listed.is_empty() {
            return Err(source_err(
                uri,
                "no .parquet or .csv objects under this prefix",
            ));
        }
        objects = listed;
    }
    let mut files = Vec::with_capacity(objects.len());
    for m in objects {
        let url = format!("s3://{bucket}/{}", m.location);
        let format =
            format_of(m.location.as_ref()).ok_or_else(|| source_err(&url, "unknown format"))?;
        if format == Format::Parquet {
            let head = store
                .get_range(&m.location, 0..m.size.min(4))
                .await
                .map_err(unreachable)?;
            let tail = store
                .get_range(&m.location, m.size.saturating_sub(8)..m.size)
                .await
                .map_err(unreachable)?;
            check_parquet_tail(&head, &tail, m.size)
                .map_err(|e| source_err(&url, format!("not a readable Parquet file: {e}")))?;
        }
        files.push(SourceFile {
            size: m.size,
            identity: format!("{}:{}", m.e_tag.unwrap_or_default(), m.size),
            url,
            format,
        });
    }
    Ok(files)
}

/// The checks a Parquet reader makes of a file's ends, done before the reader sees it:
/// the parquet crate (59.3) panics on a footer length larger than the file.
pub(super) fn check_parquet_tail(
    head: &[u8],
    tail: &[u8],
    size: u64,
) -> std::result::Result<(), String> {
    const MAGIC: &[u8] = b"PAR1";
    if size < 12 || tail.len() < 8 {
        return Err(format!("{size} bytes is too short"));
    }
    if head != MAGIC || &tail[4..] != MAGIC {
        return Err("no PAR1 magic at both ends".into());
    }
    let footer = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    if u64::from(footer) > size - 12 {
        return Err(format!(
            "footer length {footer} exceeds the file ({size} bytes)"
        ));
    }
    Ok(())
}
