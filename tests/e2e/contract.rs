//! The HTTP contract, checked by a third-party tool: schemathesis runs every check it has
//! (status codes, content types, response schemas and headers, positive data accepted,
//! negative data rejected, auth enforced, unsupported methods) in its examples, coverage
//! and fuzzing phases, at least 500 generated cases for each pipeline's predict route,
//! against each bundled pipeline's own document and the general one, on a real server with
//! API keys.

use std::path::Path;

use riskfn_predict::auth::Auth;
use riskfn_predict::{AppState, Config};
use riskfn_tests::{fresh_dir, train};

use crate::tmp;

const KEY: &str = "contract-key-0123456789";
const PIPELINES: [&str; 3] = ["german_credit", "credit_data", "islr_default"];

/// The schemathesis the tests use: tests/tools.sh installs it under target/tools/bin.
fn schemathesis() -> std::path::PathBuf {
    let tools = std::env::var_os("RISKFN_TOOLS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| riskfn_tests::repo().join("target/tools"));
    let local = tools.join("bin/schemathesis");
    if local.exists() {
        local
    } else {
        "schemathesis".into()
    }
}

/// Cases schemathesis must generate for a pipeline document's operation.
const CASES: u64 = 500;
/// Cases at most for each operation of the general document.
const GENERAL_CASES: u64 = 100;

/// Run schemathesis against the document at `url` (reports under `dir/name`); what it
/// found, or why the run does not count.
async fn run(url: &str, dir: &Path, name: &str, exclude: Option<&str>) -> Result<(), String> {
    // The general document's twenty routes at 100 each (its routes without a body have
    // few inputs anyway); a pipeline's predict route at 500.
    let cases = if exclude.is_some() {
        GENERAL_CASES
    } else {
        CASES
    };
    let reports = dir.join(name);
    let report = reports.join("report.json");
    let config = riskfn_tests::repo().join("tests/schemathesis.toml");
    let out = tokio::process::Command::new(schemathesis())
        .arg("--config-file")
        .arg(&config)
        .args(["run", url, "--checks", "all"])
        .args(exclude.iter().flat_map(|p| ["--exclude-path", p]))
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", &cases.to_string(), "--seed", "20261203"])
        .args(["--header", &format!("Authorization: Bearer {KEY}")])
        .args(["--generation-database", "none", "--report", "json"])
        .arg("--report-dir")
        .arg(&reports)
        .arg("--report-json-path")
        .arg(&report)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .await
        .map_err(|e| format!("schemathesis did not start ({e}): tests/run.sh installs it"))?;
    let text = || {
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let r: serde_json::Value = std::fs::read(&report)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            format!(
                "{url}: no report from schemathesis ({})\n{}",
                out.status,
                text()
            )
        })?;
    let ops = &r["operations"];
    let tested = ops["tested"].as_u64().unwrap_or(0);
    let generated = r["test_cases"]["generated"].as_u64().unwrap_or(0);
    let found =
        r["failures"].as_array().map_or(0, Vec::len) + r["errors"].as_array().map_or(0, Vec::len);
    if !out.status.success() || found > 0 {
        return Err(format!(
            "{url}: schemathesis found {found} problem(s)\n{}",
            text()
        ));
    }
    // A run that tested nothing, or little, also exits 0. The general document's routes
    // without a body have too few inputs for 500 distinct cases: there, every operation
    // must be tested; a pipeline's document (its predict route) needs the 500.
    let least = if exclude.is_some() {
        tested
    } else {
        CASES * tested
    };
    if tested == 0 || tested != ops["selected"].as_u64().unwrap_or(u64::MAX) || generated < least {
        return Err(format!(
            "{url}: {tested} of {} operations tested, {generated} cases (at least {least})\n{}",
            ops["selected"],
            text()
        ));
    }
    eprintln!("{url}: {tested} operation(s), {generated} cases, no failure");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_nothing_in_any_document() {
    let dir = fresh_dir(&tmp(), "contract");
    let store = dir.join("store");
    for p in PIPELINES {
        train(p, &store, None)
            .await
            .expect("bundled pipeline trains");
    }
    let config = Config {
        store: store.display().to_string(),
        auth: Auth::keys(&format!("contract:{KEY}")).unwrap(),
        ..Config::default()
    }
    .for_local_server()
    .unwrap();
    let state = AppState::open(config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, riskfn_predict::router(state)).into_future());

    let mut failures = Vec::new();
    let documents = PIPELINES
        .iter()
        .map(|p| (format!("{base}/v1/pipelines/{p}/openapi.json"), *p, None))
        // The general document's record is any object: its predict route is checked
        // through each pipeline's own document, where the record is exact.
        .chain([(
            format!("{base}/openapi.json"),
            "general",
            Some("/v1/pipelines/{pipeline}/predict"),
        )]);
    for (url, name, exclude) in documents {
        if let Err(e) = run(&url, &dir, name, exclude).await {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
