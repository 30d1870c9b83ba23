//! Shared helpers of the end-to-end tests: paths, a german_credit model trained once per
//! test binary, and the bundled data as raw JSON records.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use riskfn_batch::train::{TrainOptions, TrainReport};
use riskfn_core::features::value::Value;
use riskfn_core::registry::s3::S3Settings;
use tokio::sync::OnceCell;

pub mod s3_server;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

pub fn sql_dir() -> PathBuf {
    repo().join("sql")
}

/// A fresh folder under `base` for one test.
pub fn fresh_dir(base: &Path, name: &str) -> PathBuf {
    let dir = base.join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create test folder");
    dir
}

/// The families most tests train: logistic regression alone (every family is trained by
/// the tests that are about them). `RISKFN_TEST_ALL_FAMILIES=1` trains all everywhere.
pub fn fast_families() -> Option<Vec<String>> {
    if std::env::var_os("RISKFN_TEST_ALL_FAMILIES").is_some() {
        None
    } else {
        Some(vec!["logistic_regression".to_owned()])
    }
}

/// Train `pipeline` into the store at `store`.
pub async fn train(
    pipeline: &str,
    store: &Path,
    data: Option<String>,
) -> riskfn_batch::Result<TrainReport> {
    run_train(
        pipeline,
        data,
        &store.display().to_string(),
        &S3Settings::default(),
        false,
    )
    .await
}

/// Train every configured family of `pipeline` into the store at `store`.
pub async fn train_all_families(pipeline: &str, store: &Path) -> riskfn_batch::Result<TrainReport> {
    riskfn_batch::train::train(&TrainOptions {
        families: None,
        ..train_options(pipeline, &store.display().to_string())
    })
    .await
}

/// Train only `families` of `pipeline` into the store at `store`.
pub async fn train_families(
    pipeline: &str,
    store: &Path,
    families: &[&str],
) -> riskfn_batch::Result<TrainReport> {
    riskfn_batch::train::train(&TrainOptions {
        families: Some(families.iter().map(|f| (*f).to_owned()).collect()),
        ..train_options(pipeline, &store.display().to_string())
    })
    .await
}

/// Train `pipeline` (a name under `sql/` or a folder) into the store at `uri`.
pub async fn train_into(
    pipeline: &str,
    uri: &str,
    s3: &S3Settings,
    force: bool,
) -> riskfn_batch::Result<TrainReport> {
    run_train(pipeline, None, uri, s3, force).await
}

async fn run_train(
    pipeline: &str,
    data: Option<String>,
    uri: &str,
    s3: &S3Settings,
    force: bool,
) -> riskfn_batch::Result<TrainReport> {
    riskfn_batch::train::train(&TrainOptions {
        data,
        s3: s3.clone(),
        force,
        ..train_options(pipeline, uri)
    })
    .await
}

/// How the tests train `pipeline` into the store at `uri`: the bundled pipelines' folder,
/// its own data, the fast families ([`fast_families`]), in process, no `--force`.
pub fn train_options(pipeline: &str, uri: &str) -> TrainOptions {
    TrainOptions {
        pipeline: pipeline.to_owned(),
        sql_dir: sql_dir(),
        data: None,
        store: uri.to_owned(),
        s3: S3Settings::default(),
        force: false,
        progress: false,
        families: fast_families(),
        engine: Default::default(),
        by: "trainer".to_owned(),
    }
}

/// A model store to run a test against: a local folder, or a bucket prefix on a real
/// S3-compatible server (kept running while this lives).
#[derive(Debug)]
pub struct Backend {
    pub label: &'static str,
    pub uri: String,
    pub s3: S3Settings,
    _server: Option<s3_server::S3Server>,
}

impl Backend {
    /// Both backends, each fresh, under `dir`.
    pub fn both(dir: &Path) -> Vec<Backend> {
        let server = s3_server::S3Server::start(dir);
        vec![
            Backend {
                label: "local",
                uri: dir.join("store").display().to_string(),
                s3: S3Settings::default(),
                _server: None,
            },
            Backend {
                label: "s3",
                uri: server.uri("models"),
                s3: server.settings(),
                _server: Some(server),
            },
        ]
    }

    pub async fn store(&self) -> Arc<dyn riskfn_core::registry::store::Store> {
        riskfn_core::registry::store::open_with(&self.uri, &self.s3)
            .await
            .expect("open store")
    }

    pub async fn registry(&self) -> riskfn_core::registry::Registry {
        riskfn_core::registry::Registry::new(self.store().await)
    }
}

/// A copy of the bundled pipeline `name` (config, SQL and data) under `to`, each text file
/// passed through `edit(file_name, text)`.
pub fn copy_pipeline(name: &str, to: &Path, edit: impl Fn(&str, String) -> String) -> PathBuf {
    let src = sql_dir().join(name);
    let dst = to.join(name);
    std::fs::create_dir_all(dst.join("data")).expect("create pipeline copy");
    for entry in std::fs::read_dir(src.join("data")).expect("data folder") {
        let p = entry.expect("entry").path();
        std::fs::copy(&p, dst.join("data").join(p.file_name().expect("name"))).expect("copy data");
    }
    for entry in std::fs::read_dir(&src).expect("pipeline folder") {
        let p = entry.expect("entry").path();
        if p.is_file() {
            let file = p.file_name().expect("name").to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).expect("read");
            std::fs::write(dst.join(&file), edit(&file, text)).expect("write");
        }
    }
    dst
}

/// A store holding one trained german_credit version.
#[derive(Debug)]
pub struct Trained {
    pub store: PathBuf,
    pub report: TrainReport,
}

static GERMAN: OnceCell<Arc<Trained>> = OnceCell::const_new();

/// german_credit trained once into `base/german-store` and shared by the tests of a binary.
pub async fn german(base: &Path) -> Arc<Trained> {
    GERMAN
        .get_or_init(|| async {
            let store = fresh_dir(base, "german-store");
            let report = train("german_credit", &store, None)
                .await
                .expect("german_credit trains");
            Arc::new(Trained { store, report })
        })
        .await
        .clone()
}

/// Rewrite a stored object in place (a conditional update), as someone tampering with the
/// store would: `edit` gets its bytes and returns the new ones.
pub async fn tamper(
    store: &dyn riskfn_core::registry::store::Store,
    key: &str,
    edit: impl FnOnce(Vec<u8>) -> Vec<u8>,
) {
    let obj = store
        .get(key)
        .await
        .unwrap()
        .expect("the object to tamper with");
    store
        .put(
            key,
            edit(obj.bytes.to_vec()).into(),
            riskfn_core::registry::store::PutMode::Update { etag: obj.etag },
        )
        .await
        .unwrap();
}

/// Every row of a data file as a JSON object of its raw columns (minus `drop`), in order.
pub async fn records(data: &Path, drop: &[&str]) -> Vec<serde_json::Value> {
    let ctx = riskfn_batch::source::session().unwrap();
    let raw = riskfn_batch::source::read(&ctx, &data.display().to_string())
        .await
        .expect("read data");
    let mut out = Vec::new();
    for batch in &raw.batches {
        let mut rows = vec![serde_json::Map::new(); batch.num_rows()];
        for (i, field) in raw.schema.fields().iter().enumerate() {
            if drop.contains(&field.name().as_str()) {
                continue;
            }
            let vals = riskfn_batch::values::column::Col::new(field.name(), batch.column(i))
                .expect("a supported column")
                .values();
            for (row, v) in rows.iter_mut().zip(vals) {
                row.insert(field.name().clone(), json(&v));
            }
        }
        out.extend(rows.into_iter().map(serde_json::Value::Object));
    }
    out
}

fn json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::Float(x) => (*x).into(),
        Value::Str(s) => s.as_ref().into(),
    }
}

/// A child process (a server the test started), killed when dropped.
#[derive(Debug)]
pub struct Process(pub std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP port free on 127.0.0.1 at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1")
        .local_addr()
        .expect("local address")
        .port()
}

/// Every file under `dir`, at any depth (none if it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Send one plain HTTP/1.1 request to `addr` (`host:port`): `method path`, `headers`
/// (`Name: value` each), `body`, `Connection: close`; the answer's status. Async, so a
/// server on the caller's own runtime keeps answering.
pub async fn http_status(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[String],
    body: &str,
) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for h in headers {
        request.push_str(&format!("{h}\r\n"));
    }
    request.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    s.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"))
}

/// `riskfn score` of the bundled `pipeline`'s data (or `data`) with `version` (default the
/// champion) of the store at `store`, into `out`, without reasons.
pub async fn score_bundled(
    pipeline: &str,
    store: &Path,
    version: Option<&str>,
    data: Option<&Path>,
    out: &Path,
) -> riskfn_batch::score::ScoreReport {
    let bundled = sql_dir()
        .join(pipeline)
        .join(format!("data/{pipeline}.parquet"));
    riskfn_batch::score::score_file(&riskfn_batch::score::ScoreOptions {
        pipeline: pipeline.into(),
        version: version.map(str::to_owned),
        data: data.unwrap_or(&bundled).display().to_string(),
        out: out.to_path_buf(),
        reasons: false,
        store: store.display().to_string(),
        s3: Default::default(),
        engine: Default::default(),
    })
    .await
    .expect("the bundled data scores")
}
