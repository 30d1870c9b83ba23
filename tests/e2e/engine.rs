//! The engine setting: the same pipeline on a Ballista cluster (scheduler and executor
//! started in this process) gives the same feature table and the same model as DataFusion
//! in process; an unreachable cluster fails the run and publishes nothing.

use std::path::Path;
use std::time::{Duration, Instant};

use riskfn_batch::Error;
use riskfn_batch::source::engine::{Engine, EngineOptions};
use riskfn_batch::train::{TrainOptions, TrainReport};
use riskfn_tests::{Process, copy_pipeline, free_port, fresh_dir};

use super::tmp;

async fn train_on(
    pipeline: &str,
    store: &Path,
    engine: EngineOptions,
) -> riskfn_batch::Result<TrainReport> {
    riskfn_batch::train::train(&TrainOptions {
        engine,
        ..riskfn_tests::train_options(pipeline, &store.display().to_string())
    })
    .await
}

fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).expect("serializable")
}

/// A version's model file without its version id (the one thing two runs differ in).
fn model_json(store: &Path, pipeline: &str, version: &str) -> serde_json::Value {
    let path = store
        .join(pipeline)
        .join("versions")
        .join(version)
        .join("model.json");
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("model.json")).expect("json");
    v.as_object_mut().expect("object").remove("version");
    v
}

/// Rows of a run's source file, and its distinct rows on every column but the id, counted
/// by a plain DataFusion query (not riskfn's de-duplication).
async fn counted(label: &str) -> (u64, u64) {
    let (file, id) = match label {
        "credit_data" => ("sql/credit_data/data/credit_data.parquet", Some("rownames")),
        _ => ("sql/german_credit/data/german_credit.parquet", None),
    };
    let ctx = datafusion::prelude::SessionContext::new();
    let path = riskfn_tests::repo().join(file);
    ctx.register_parquet("t", path.to_str().unwrap(), Default::default())
        .await
        .unwrap();
    let columns: Vec<String> = ctx
        .table("t")
        .await
        .unwrap()
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| Some(n.as_str()) != id)
        .map(|n| format!("\"{n}\""))
        .collect();
    let count = |sql: String| {
        let ctx = ctx.clone();
        async move {
            let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
            let c = batches[0]
                .column(0)
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .unwrap()
                .value(0);
            c as u64
        }
    };
    (
        count("SELECT COUNT(*) FROM t".into()).await,
        count(format!(
            "SELECT COUNT(*) FROM (SELECT DISTINCT {} FROM t)",
            columns.join(", ")
        ))
        .await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ballista_standalone_trains_the_same_model_as_in_process() {
    let dir = fresh_dir(&tmp(), "engine-same");
    // german_credit trained on a sample of about 600 of its 1,000 rows.
    let sampled = copy_pipeline(
        "german_credit",
        &dir.join("sampled"),
        |file, text| match file {
            "pipeline.toml" => text.replace("[split]\n", "[split]\nmax_rows = 600\n"),
            _ => text,
        },
    );
    let sampled = sampled.display().to_string();
    // credit_data: sentinel codes, missing values, duplicates; german_credit: the spine.
    for (label, pipeline) in [
        ("german_credit", "german_credit"),
        ("credit_data", "credit_data"),
        ("sampled", sampled.as_str()),
    ] {
        let here = dir.join(format!("{label}-local"));
        let there = dir.join(format!("{label}-ballista"));
        let a = train_on(pipeline, &here, EngineOptions::default())
            .await
            .unwrap();
        let b = train_on(
            pipeline,
            &there,
            EngineOptions {
                engine: Engine::Standalone,
                stage: None,
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{pipeline} on Ballista: {e}"));
        assert_eq!(
            json(&b.data),
            json(&a.data),
            "{pipeline}: rows, duplicates, split"
        );
        assert_eq!(
            json(&b.features),
            json(&a.features),
            "{pipeline}: fitted features"
        );
        assert_eq!(
            json(&b.metrics),
            json(&a.metrics),
            "{pipeline}: test metrics"
        );
        assert_eq!(
            model_json(&there, &a.pipeline, &b.version),
            model_json(&here, &a.pipeline, &a.version),
            "{pipeline}: the published model (weights, encodings, threshold, baseline)"
        );
        // The rows read and the duplicates dropped, as another query of the file counts
        // them; only the sampled run has a sample.
        let d = &a.data;
        let kept: u64 = d.split.values().map(|c| c.rows).sum();
        let (rows, distinct) = counted(label).await;
        assert_eq!(d.rows_read, rows, "{label}: rows read");
        assert_eq!(
            d.rows_read - d.duplicates_dropped,
            distinct,
            "{label}: duplicates"
        );
        assert_eq!(d.sample.is_some(), label == "sampled", "{label}");
        if let Some(s) = &d.sample {
            assert_eq!(s.max_rows, 600);
            // The first 32 bits of md5 below 0.6 of their range: a binomial(1000, 0.6)
            // draw, deterministic; sd 15.5 rows.
            assert!((s.rate - 0.6).abs() < 1e-9, "{s:?}");
            assert!(kept.abs_diff(600) < 62, "{kept} rows kept");
        }
    }
}

/// The run failed with an engine error naming the cluster, and published nothing.
fn assert_failed_on_cluster(err: &Error, url: &str, store: &Path) {
    assert!(
        matches!(err, Error::Engine { engine, .. } if engine == url),
        "{err}"
    );
    assert!(
        !store.join("german_credit").exists(),
        "nothing published: {err}"
    );
}

#[tokio::test]
async fn an_unreachable_cluster_fails_the_run_and_publishes_nothing() {
    let dir = fresh_dir(&tmp(), "engine-unreachable");
    // A port nothing listens on: bound, then released.
    let url = format!("df://127.0.0.1:{}", free_port());
    let store = dir.join("store");
    let err = train_on(
        "german_credit",
        &store,
        EngineOptions {
            engine: url.parse().unwrap(),
            stage: Some(dir.join("stage").display().to_string()),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_failed_on_cluster(&err, &url, &store);
}

/// A scheduler or executor process (`ballista_node`), started and listening; killed when
/// dropped.
fn start_node(dir: &Path, name: &str, args: &[String], listens_on: u16) -> Process {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ballista_node"))
        .args(args)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut node = Process(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", listens_on)).is_err() {
        assert!(
            node.0.try_wait().unwrap().is_none() && Instant::now() < deadline,
            "{name} did not start; see {}/{name}.log",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    node
}

/// A scheduler and one executor, each its own process; the executor is killed (SIGKILL) as
/// soon as the source is staged, while the run goes on to the queries that need it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_dying_mid_job_fails_the_run_and_publishes_nothing() {
    let dir = fresh_dir(&tmp(), "engine-executor-dies");
    let [scheduler, flight, grpc] = [free_port(), free_port(), free_port()];
    let _scheduler = start_node(
        &dir,
        "scheduler",
        &["scheduler".into(), scheduler.to_string()],
        scheduler,
    );
    let mut executor = start_node(
        &dir,
        "executor",
        &[
            "executor".into(),
            flight.to_string(),
            grpc.to_string(),
            scheduler.to_string(),
            dir.join("work").display().to_string(),
        ],
        flight,
    );
    let url = format!("df://127.0.0.1:{scheduler}");
    let (store, stage) = (dir.join("store"), dir.join("stage"));
    let run = tokio::spawn({
        let (store, options) = (
            store.clone(),
            EngineOptions {
                engine: url.parse().unwrap(),
                stage: Some(stage.display().to_string()),
                ..Default::default()
            },
        );
        async move { train_on("german_credit", &store, options).await }
    });
    // The stage file appears whole (written under a temporary name, then renamed).
    let staged = || {
        std::fs::read_dir(&stage)
            .into_iter()
            .flatten()
            .flatten()
            .any(|d| d.path().join("part-0.parquet").is_file())
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while !staged() {
        assert!(!run.is_finished(), "the run ended before staging");
        assert!(Instant::now() < deadline, "no stage after 120 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    executor.0.kill().unwrap();
    let err = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the run fails within 120 s of losing its executor")
        .unwrap()
        .unwrap_err();
    assert_failed_on_cluster(&err, &url, &store);
    eprintln!("{err}");
}

/// A scheduler that answers but has no executor queues a job for ever: the run gives up
/// after the probe timeout instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_without_executors_fails_the_run_instead_of_hanging() {
    let dir = fresh_dir(&tmp(), "engine-no-executor");
    let scheduler = free_port();
    let _scheduler = start_node(
        &dir,
        "scheduler",
        &["scheduler".into(), scheduler.to_string()],
        scheduler,
    );
    let url = format!("df://127.0.0.1:{scheduler}");
    let store = dir.join("store");
    let err = train_on(
        "german_credit",
        &store,
        EngineOptions {
            engine: url.parse().unwrap(),
            stage: Some(dir.join("stage").display().to_string()),
            probe_timeout: Duration::from_secs(2),
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::Engine { engine, message } if *engine == url
            && message.contains("no query within 2 s")),
        "{err}"
    );
    assert_failed_on_cluster(&err, &url, &store);
    assert!(!dir.join("stage").exists(), "nothing staged");
}

#[test]
fn engine_settings_parse_or_say_what_is_expected() {
    assert_eq!("local".parse::<Engine>(), Ok(Engine::Local));
    assert_eq!("standalone".parse::<Engine>(), Ok(Engine::Standalone));
    assert_eq!(
        "df://scheduler:50050".parse::<Engine>(),
        Ok(Engine::Remote("df://scheduler:50050".into()))
    );
    let err = "spark://x".parse::<Engine>().unwrap_err();
    assert!(err.contains("local, standalone or df://host:port"), "{err}");
}
