//! A flood of made-up pipelines and versions, as a caller with any key could send: the
//! server's resident memory stays where it was, and the store is read at most once per
//! unknown name per interval. Its own test binary, so that the process's memory is this
//! test's alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::{Request, StatusCode};
use bytes::Bytes;
use riskfn_core::Result;
use riskfn_core::registry::store::{Object, PutMode, Store};
use riskfn_predict::{AppState, Config};
use tower::ServiceExt;

/// A real local store, its reads counted.
#[derive(Debug)]
struct Counted {
    inner: Arc<dyn Store>,
    reads: AtomicUsize,
}

#[async_trait]
impl Store for Counted {
    async fn get(&self, key: &str) -> Result<Option<Object>> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.get(key).await
    }
    async fn get_if_changed(&self, key: &str, etag: &str) -> Result<Option<Object>> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.get_if_changed(key, etag).await
    }
    async fn put(&self, key: &str, bytes: Bytes, mode: PutMode) -> Result<String> {
        self.inner.put(key, bytes, mode).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.list(prefix).await
    }
    fn location(&self) -> String {
        self.inner.location()
    }
}

/// This process's resident memory, bytes (Linux).
fn resident() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// One made-up request of three kinds: a pipeline's champion, a pinned version, a
/// version's manifest.
fn made_up(i: usize, round: usize) -> Request<axum::body::Body> {
    let record = r#"{"credit_amount": 1000}"#;
    let (method, uri, body) = match i % 3 {
        0 => (
            "POST",
            format!("/v1/pipelines/p{round}x{i}/predict"),
            record,
        ),
        1 => (
            "POST",
            format!("/v1/pipelines/german_credit/predict?version=v{round}x{i}"),
            record,
        ),
        _ => (
            "GET",
            format!("/v1/pipelines/q{round}x{i}/versions/v{i}"),
            "",
        ),
    };
    Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body))
        .unwrap()
}

// One thread: the allocator keeps one arena, so resident memory measures what is held.
#[tokio::test(flavor = "current_thread")]
async fn a_flood_of_made_up_names_leaves_memory_and_store_reads_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let inner = riskfn_core::registry::store::open(dir.path().to_str().unwrap())
        .await
        .unwrap();
    let store = Arc::new(Counted {
        inner,
        reads: AtomicUsize::new(0),
    });
    let config = Config {
        champion_ttl: Duration::from_secs(3600),
        ..Config::default()
    };
    let app = riskfn_predict::router(AppState::with_store(config, store.clone()));
    let ask = |req: Request<axum::body::Body>| {
        let app = app.clone();
        async move { app.oneshot(req).await.unwrap().status() }
    };
    // Traffic before the flood: a few names asked again and again.
    for i in 0..3_000 {
        assert_eq!(ask(made_up(i % 30, 0)).await, StatusCode::NOT_FOUND);
    }
    let before = resident();
    let reads_before = store.reads.load(Ordering::Relaxed);

    let n = 100_000;
    for i in 0..n {
        assert_eq!(
            ask(made_up(i, 1)).await,
            StatusCode::NOT_FOUND,
            "request {i}"
        );
    }
    let after = resident();
    let reads = store.reads.load(Ordering::Relaxed) - reads_before;
    // Asked again at once: the last names are remembered as missing, no store read.
    for i in n - 900..n {
        assert_eq!(ask(made_up(i, 1)).await, StatusCode::NOT_FOUND);
    }
    let again = store.reads.load(Ordering::Relaxed) - reads_before - reads;
    println!(
        "flood of {n} made-up names: resident {:.1} MB before, {:.1} MB after; {reads} store reads, {again} for 900 names asked again",
        before as f64 / 1e6,
        after as f64 / 1e6
    );
    assert!(
        after as f64 <= before as f64 * 1.10,
        "resident memory grew from {before} to {after} bytes"
    );
    assert!(reads <= n, "{reads} store reads for {n} names");
    assert_eq!(again, 0, "names just found missing were read again");
}
