//! The `riskfn` binary as a user runs it: exit codes, messages, `--json`.
//!
//! One file: every test runs the built binary alike, through the helpers at its top.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn scratch(name: &str) -> PathBuf {
    let d =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run `riskfn`; `train` runs train logistic regression alone, to keep the tests fast
/// (the end-to-end tests train every family).
fn riskfn(args: &[&str]) -> Output {
    let fast: &[&str] = if matches!(args.first(), Some(&"train" | &"retrain")) {
        &["--families", "logistic_regression"]
    } else {
        &[]
    };
    Command::new(env!("CARGO_BIN_EXE_riskfn"))
        .current_dir(repo())
        .args(args)
        .args(fast)
        .output()
        .expect("run riskfn")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A copy of the bundled pipeline with `02_features.sql` replaced.
fn pipeline_with_features_sql(dir: &Path, sql: &str) -> PathBuf {
    let src = repo().join("sql/german_credit");
    let dst = dir.join("german_credit");
    std::fs::create_dir_all(dst.join("data")).unwrap();
    for f in ["01_clean.sql", "data/german_credit.parquet"] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    // These tests replace the feature SQL, so the protected columns it derives are gone:
    // drop the `[fairness]` table and the exclusions that name them.
    let toml = std::fs::read_to_string(src.join("pipeline.toml")).unwrap();
    let start = toml
        .find("\n[fairness]")
        .expect("german_credit declares [fairness]");
    let end = toml[start + 1..]
        .find("\n[")
        .map_or(toml.len(), |i| start + 1 + i);
    let toml = format!("{}{}", &toml[..start], &toml[end..])
        .replace(", \"sex\", \"marital_status\", \"age_years\"]", "]");
    std::fs::write(dst.join("pipeline.toml"), toml).unwrap();
    std::fs::write(dst.join("02_features.sql"), sql).unwrap();
    dst
}

#[test]
fn train_then_score_with_json_output() {
    let dir = scratch("train");
    let store = dir.join("store");
    let out = riskfn(&[
        "train",
        "--pipeline",
        "german_credit",
        "--store",
        store.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(report["pipeline"], "german_credit");
    assert_eq!(report["model"]["family"], "logistic_regression");
    assert!(report["version"].as_str().is_some_and(|v| !v.is_empty()));
    assert!(report["metrics"]["test"]["roc_auc"].as_f64().unwrap() >= 0.80);

    let scores = dir.join("scores.parquet");
    let out = riskfn(&[
        "score",
        "--pipeline",
        "german_credit",
        "--data",
        "sql/german_credit/data/german_credit.parquet",
        "--out",
        scores.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (r["rows"].as_u64(), r["failed"].as_u64()),
        (Some(1000), Some(0))
    );
    assert!(scores.is_file());

    // Scoring a source without the model's columns over the same output fails naming a
    // column, and leaves the earlier scores as they were and no partial file.
    let before = std::fs::read(&scores).unwrap();
    let out = riskfn(&[
        "score",
        "--pipeline",
        "german_credit",
        "--data",
        "sql/islr_default/data/islr_default.parquet",
        "--out",
        scores.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("status_of_existing_checking_account"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&scores).unwrap(), before);
    let mut left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["scores.parquet", "store"]);
}

#[test]
fn an_unknown_pipeline_exits_non_zero_and_says_which() {
    let out = riskfn(&[
        "train",
        "--pipeline",
        "no_such_pipeline",
        "--store",
        "/nonexistent/never",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no_such_pipeline"),
        "{}",
        stderr(&out)
    );
}

/// A store timeout that is not a number of seconds stops the command before anything is
/// read or written, naming the variable.
#[test]
fn a_bad_store_timeout_is_refused_naming_the_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_riskfn"))
        .current_dir(repo())
        .args(["models", "list", "--pipeline", "german_credit"])
        .args(["--store", "s3://bucket/models"])
        .env("RISKFN_S3_TIMEOUT_SECS", "soon")
        .output()
        .expect("run riskfn");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("RISKFN_S3_TIMEOUT_SECS") && err.contains("\"soon\""),
        "{err}"
    );
}

#[test]
fn a_sql_syntax_error_names_the_file_and_position() {
    let dir = scratch("syntax");
    let p = pipeline_with_features_sql(&dir, "SELECT *, ln(credit_amount) AS x\nFORM clean\n");
    let store = dir.join("store");
    let out = riskfn(&[
        "train",
        "--pipeline",
        p.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("02_features.sql") && e.contains("Line: 2"),
        "{e}"
    );
    assert!(!store.exists(), "a failed run wrote to the store");
}

#[test]
fn aggregates_and_windows_are_refused_as_not_row_local() {
    let dir = scratch("rowlocal");
    for sql in [
        "SELECT *, avg(credit_amount) OVER () AS mean_amount FROM clean",
        "SELECT age, max(creditability) AS creditability FROM clean GROUP BY age",
    ] {
        let p = pipeline_with_features_sql(&dir, sql);
        let out = riskfn(&[
            "train",
            "--pipeline",
            p.to_str().unwrap(),
            "--store",
            dir.join("s").to_str().unwrap(),
        ]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains("not row-local"), "{}", stderr(&out));
    }
}

#[test]
fn a_function_the_online_side_lacks_is_refused_with_the_feature_named() {
    let dir = scratch("func");
    let p = pipeline_with_features_sql(
        &dir,
        "SELECT *, substr(purpose, 1, 4) AS purpose_prefix FROM clean",
    );
    let out = riskfn(&[
        "train",
        "--pipeline",
        p.to_str().unwrap(),
        "--store",
        dir.join("s").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("feature purpose_prefix cannot run online") && e.contains("substr"),
        "{e}"
    );
}

#[test]
fn models_commands_and_the_not_promoted_exit_code() {
    let dir = scratch("models");
    let store = dir.join("store");
    let s = store.to_str().unwrap();
    let first = riskfn(&[
        "train",
        "--pipeline",
        "german_credit",
        "--store",
        s,
        "--json",
    ]);
    assert!(first.status.success(), "{}", stderr(&first));
    let v1 = serde_json::from_slice::<serde_json::Value>(&first.stdout).unwrap()["version"]
        .as_str()
        .unwrap()
        .to_owned();

    // A much weaker model: trained and published, but the gate keeps the champion (exit 10).
    let weak = pipeline_with_features_sql(
        &dir,
        "SELECT age, personal_status_and_sex, foreign_worker, creditability FROM clean",
    );
    let second = riskfn(&[
        "train",
        "--pipeline",
        weak.to_str().unwrap(),
        "--store",
        s,
        "--json",
    ]);
    assert_eq!(second.status.code(), Some(10), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("not promoted"),
        "{}",
        stderr(&second)
    );
    let v2 = serde_json::from_slice::<serde_json::Value>(&second.stdout).unwrap()["version"]
        .as_str()
        .unwrap()
        .to_owned();

    let list = riskfn(&[
        "models",
        "list",
        "--pipeline",
        "german_credit",
        "--store",
        s,
        "--json",
    ]);
    assert!(list.status.success(), "{}", stderr(&list));
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert_eq!(rows[0]["version"], v1.as_str());
    assert_eq!(rows[0]["champion"], true);
    assert_eq!(rows[1]["gate_passed"], false);

    let show = riskfn(&[
        "models",
        "show",
        "--pipeline",
        "german_credit",
        "--version",
        &v2,
        "--store",
        s,
    ]);
    let manifest: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(manifest["gate"]["passed"], false);
    assert_eq!(manifest["gate"]["champion"], v1.as_str());

    let refused = riskfn(&[
        "models",
        "promote",
        "--pipeline",
        "german_credit",
        "--version",
        &v2,
        "--reason",
        "better on validation",
        "--store",
        s,
    ]);
    assert_eq!(refused.status.code(), Some(10));
    let forced = riskfn(&[
        "models",
        "promote",
        "--pipeline",
        "german_credit",
        "--version",
        &v2,
        "--force",
        "--reason",
        "reviewed by hand",
        "--store",
        s,
    ]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    let back = riskfn(&[
        "models",
        "rollback",
        "--pipeline",
        "german_credit",
        "--reason",
        "complaints",
        "--store",
        s,
    ]);
    assert!(back.status.success(), "{}", stderr(&back));
    assert!(String::from_utf8_lossy(&back.stdout).contains(&v1));
    let none_left = riskfn(&[
        "models",
        "rollback",
        "--pipeline",
        "german_credit",
        "--reason",
        "complaints",
        "--store",
        s,
    ]);
    assert_eq!(none_left.status.code(), Some(1));
    assert!(
        stderr(&none_left).contains("no earlier champion"),
        "{}",
        stderr(&none_left)
    );

    // The weaker version in shadow: listed as the challenger; the champion cannot be one.
    let models = |args: &[&str]| {
        let mut all = vec!["models"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--pipeline", "german_credit", "--store", s]);
        riskfn(&all)
    };
    let shadow = models(&["shadow", "--version", &v2]);
    assert!(shadow.status.success(), "{}", stderr(&shadow));
    let rows: serde_json::Value =
        serde_json::from_slice(&models(&["list", "--json"]).stdout).unwrap();
    assert_eq!(rows[1]["challenger"], true, "{rows}");
    assert_eq!(rows[0]["challenger"], false, "{rows}");
    let itself = models(&["shadow", "--version", &v1]);
    assert_eq!(itself.status.code(), Some(1));
    assert!(
        stderr(&itself).contains("is the champion"),
        "{}",
        stderr(&itself)
    );
    let neither = models(&["shadow"]);
    assert_eq!(neither.status.code(), Some(2), "{}", stderr(&neither));
    // No traffic yet: nothing to compare, said plainly.
    let compare = models(&["compare", "--json"]);
    assert!(compare.status.success(), "{}", stderr(&compare));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&compare.stdout).unwrap(),
        serde_json::json!([])
    );
    let missing = models(&["compare", "--outcomes", "no/such/outcomes.csv"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("no/such/outcomes.csv"),
        "{}",
        stderr(&missing)
    );
    let cleared = models(&["shadow", "--clear"]);
    assert!(cleared.status.success(), "{}", stderr(&cleared));
    let rows: serde_json::Value =
        serde_json::from_slice(&models(&["list", "--json"]).stdout).unwrap();
    assert_eq!(rows[1]["challenger"], false, "{rows}");
}

/// credit_data.csv with only the applicants younger than 30: a population that moved.
fn young_applicants(dir: &Path) -> PathBuf {
    let text =
        std::fs::read_to_string(repo().join("sql/credit_data/data/credit_data.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let age = header.split(',').position(|c| c == "Age").unwrap();
    let kept: Vec<&str> = lines
        .filter(|l| {
            l.split(',')
                .nth(age)
                .and_then(|a| a.parse::<f64>().ok())
                .is_some_and(|a| a < 30.0)
        })
        .collect();
    let out = dir.join("young.csv");
    std::fs::write(&out, format!("{header}\n{}\n", kept.join("\n"))).unwrap();
    out
}

#[test]
fn drift_is_stable_on_the_training_data_and_acts_on_a_moved_population() {
    let dir = scratch("drift");
    let store = dir.join("store");
    let s = store.to_str().unwrap();
    let out = riskfn(&["train", "--pipeline", "credit_data", "--store", s]);
    assert!(out.status.success(), "{}", stderr(&out));

    let same = riskfn(&[
        "drift",
        "--pipeline",
        "credit_data",
        "--data",
        "sql/credit_data/data/credit_data.parquet",
        "--store",
        s,
        "--json",
    ]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    let r: serde_json::Value = serde_json::from_slice(&same.stdout).unwrap();
    assert_eq!(r["rows"], 4454);
    assert_eq!(r["score"]["band"], "stable", "{r}");
    assert!(
        r["features"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["band"] == "stable"),
        "{r}"
    );

    let young = young_applicants(&dir);
    let moved = riskfn(&[
        "drift",
        "--pipeline",
        "credit_data",
        "--data",
        young.to_str().unwrap(),
        "--store",
        s,
        "--json",
    ]);
    assert_eq!(moved.status.code(), Some(20), "{}", stderr(&moved));
    let r: serde_json::Value = serde_json::from_slice(&moved.stdout).unwrap();
    assert_eq!(r["exceeded"], true);
    let top = &r["features"][0];
    assert_eq!(
        (top["name"].as_str(), top["band"].as_str()),
        (Some("Age"), Some("act")),
        "{r}"
    );
}

#[test]
fn sql_scores_rows_with_riskfn_predict() {
    let dir = scratch("sql");
    let store = dir.join("store");
    let s = store.to_str().unwrap();
    assert!(
        riskfn(&["train", "--pipeline", "islr_default", "--store", s])
            .status
            .success()
    );
    let table = "--table=applicants=sql/islr_default/data/islr_default.parquet";
    let out = riskfn(&[
        "sql",
        "--pipeline",
        "islr_default",
        table,
        "--store",
        s,
        "--query",
        "SELECT rownames, get_field(riskfn_predict('islr_default', student, balance, income), 'probability') AS p \
         FROM applicants WHERE balance > 2000 ORDER BY rownames LIMIT 3",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("| rownames |") && text.lines().count() >= 7,
        "{text}"
    );

    let wrong = riskfn(&[
        "sql",
        "--pipeline",
        "islr_default",
        table,
        "--store",
        s,
        "--query",
        "SELECT riskfn_predict('islr_default', balance) FROM applicants",
    ]);
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("in this order: student, balance, income"),
        "{}",
        stderr(&wrong)
    );
}

#[test]
fn retrain_twice_trains_once() {
    let dir = scratch("retrain");
    let s = dir.join("store");
    let s = s.to_str().unwrap();
    let first = riskfn(&[
        "retrain",
        "--pipeline",
        "islr_default",
        "--store",
        s,
        "--json",
    ]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let r: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(r["outcome"], "trained");
    let again = riskfn(&[
        "retrain",
        "--pipeline",
        "islr_default",
        "--store",
        s,
        "--json",
    ]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    let r2: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        (
            r2["outcome"].as_str(),
            r2["version"].as_str(),
            r2["champion"].as_bool()
        ),
        (Some("unchanged"), r["version"].as_str(), Some(true))
    );
}

/// The published model.json of the only version of `pipeline` in `store`, its version id
/// blanked (it names the run, not the model), and its sha256.
fn model_sha256(store: &Path, pipeline: &str) -> String {
    let versions: Vec<PathBuf> = std::fs::read_dir(store.join(pipeline).join("versions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(versions.len(), 1, "{versions:?}");
    let text = std::fs::read_to_string(versions[0].join("model.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["version"] = serde_json::Value::Null;
    let bytes = serde_json::to_vec(&v).unwrap();
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(&bytes))
}

/// A model validator rebuilds a version exactly: the same pipeline, data and seed give the
/// same model, bit for bit, on one thread as on every core (every family trained).
#[test]
fn the_same_inputs_train_the_same_model_on_any_number_of_threads() {
    let dir = scratch("reproducible");
    for pipeline in ["german_credit", "credit_data", "islr_default"] {
        let mut shas = Vec::new();
        for threads in ["1", "4"] {
            let store = dir.join(format!("store-{pipeline}-{threads}"));
            let out = Command::new(env!("CARGO_BIN_EXE_riskfn"))
                .current_dir(repo())
                .env("RAYON_NUM_THREADS", threads)
                .args(["train", "--pipeline", pipeline, "--store"])
                .arg(&store)
                .output()
                .expect("run riskfn");
            assert!(out.status.success(), "{pipeline}: {}", stderr(&out));
            shas.push(model_sha256(&store, pipeline));
        }
        assert_eq!(shas[0], shas[1], "{pipeline}: 1 thread against 4");
    }
}

/// The fairness gate refuses like the others: published, not promoted, exit code 10, and
/// the reason names the attribute and group.
#[test]
fn the_fairness_gate_exits_10() {
    let dir = scratch("fair-gate");
    let src = repo().join("sql/german_credit");
    let dst = dir.join("german_credit");
    std::fs::create_dir_all(dst.join("data")).unwrap();
    for f in [
        "01_clean.sql",
        "02_features.sql",
        "reasons.toml",
        "data/german_credit.parquet",
    ] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    let toml = std::fs::read_to_string(src.join("pipeline.toml"))
        .unwrap()
        .replacen(
            "[decision]",
            "[gate]\nmin_adverse_impact_ratio = 0.95\n\n[decision]",
            1,
        );
    std::fs::write(dst.join("pipeline.toml"), toml).unwrap();
    let out = riskfn(&[
        "train",
        "--pipeline",
        dst.to_str().unwrap(),
        "--store",
        dir.join("store").to_str().unwrap(),
        "--families",
        "logistic_regression",
    ]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains("not promoted") && e.contains("adverse impact ratio"),
        "{e}"
    );
}

/// `[gate] approvals = 1` from the command line: training as one user leaves the version
/// pending (exit 10), that user's own approval is refused, another user's makes it champion.
#[test]
fn four_eyes_on_the_command_line() {
    let dir = scratch("four-eyes");
    let sql = dir.join("sql");
    let src = repo().join("sql/german_credit");
    std::fs::create_dir_all(sql.join("german_credit/data")).unwrap();
    for f in [
        "01_clean.sql",
        "02_features.sql",
        "reasons.toml",
        "data/german_credit.parquet",
    ] {
        std::fs::copy(src.join(f), sql.join("german_credit").join(f)).unwrap();
    }
    let toml = std::fs::read_to_string(src.join("pipeline.toml")).unwrap();
    std::fs::write(
        sql.join("german_credit/pipeline.toml"),
        format!("{toml}\n[gate]\napprovals = 1\n"),
    )
    .unwrap();
    let store = dir.join("store");
    let (sql, s) = (sql.to_str().unwrap(), store.to_str().unwrap());
    let as_user = |user: &str, args: &[&str]| {
        let fast: &[&str] = if args.first() == Some(&"train") {
            &["--families", "logistic_regression"]
        } else {
            &[]
        };
        Command::new(env!("CARGO_BIN_EXE_riskfn"))
            .current_dir(repo())
            .env("RISKFN_USER", user)
            .args(args)
            .args(fast)
            .output()
            .unwrap()
    };
    let trained = as_user(
        "ana",
        &[
            "train",
            "--pipeline",
            "german_credit",
            "--sql-dir",
            sql,
            "--store",
            s,
            "--json",
        ],
    );
    assert_eq!(trained.status.code(), Some(10), "{}", stderr(&trained));
    assert!(
        stderr(&trained).contains("waits for approval"),
        "{}",
        stderr(&trained)
    );
    let report: serde_json::Value = serde_json::from_slice(&trained.stdout).unwrap();
    assert_eq!(report["promotion"]["status"], "pending");
    let v = report["version"].as_str().unwrap();
    let approve = |user: &str| {
        as_user(
            user,
            &[
                "models",
                "approve",
                "--pipeline",
                "german_credit",
                "--version",
                v,
                "--reason",
                "validated",
                "--store",
                s,
            ],
        )
    };
    let own = approve("ana");
    assert_eq!(own.status.code(), Some(1));
    assert!(stderr(&own).contains("four eyes"), "{}", stderr(&own));
    let list = as_user(
        "ana",
        &[
            "models",
            "list",
            "--pipeline",
            "german_credit",
            "--store",
            s,
        ],
    );
    assert!(String::from_utf8_lossy(&list.stdout).contains("pending"));
    let other = approve("ben");
    assert!(other.status.success(), "{}", stderr(&other));
    assert!(String::from_utf8_lossy(&other.stdout).contains("is now the champion"));
}

/// `outcomes load`, `report` and `check` from the command line: 200 approved decisions at
/// a PD of 10 % (as the audit trail stores them) all went bad, so the calibration tests are
/// red: `report` exits 0 and says so, `check` exits 30. Ten more, good when observed the
/// day they were decided (inside the performance window), are pending.
#[test]
fn outcomes_check_exits_30_on_a_red_test() {
    use riskfn_core::registry::audit::{Event, Record, store_predictions};
    let dir = scratch("outcomes");
    let store = dir.join("store");
    let s = store.to_str().unwrap();
    let out = riskfn(&[
        "train",
        "--pipeline",
        "german_credit",
        "--store",
        s,
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let version = report["version"].as_str().unwrap().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let st = riskfn_core::registry::store::open(s).await.unwrap();
        for i in 0..210 {
            let record = Record::now(Event::Prediction {
                request_id: format!("r{i}"),
                caller: "lender".into(),
                pipeline: "german_credit".into(),
                version: version.clone(),
                model_sha256: "m".into(),
                input_sha256: "i".into(),
                decision: "approve".into(),
                probability: 0.1,
                reasons: vec![],
                outside_population: None,
                index: None,
                challenger: None,
            });
            store_predictions(st.as_ref(), &[record], &format!("r{i}"))
                .await
                .unwrap();
        }
    });
    let csv = dir.join("outcomes.csv");
    let mut text = String::from("id,outcome,observed_at\n");
    for i in 0..200 {
        text.push_str(&format!("r{i},1,2099-01-01\n"));
    }
    // Ten still good when observed today: inside the 12-month window, pending.
    let soon = riskfn_core::registry::now_rfc3339()[..10].to_owned();
    for i in 200..210 {
        text.push_str(&format!("r{i},0,{soon}\n"));
    }
    std::fs::write(&csv, text).unwrap();
    let outcomes = |command: &str, extra: &[&str]| {
        let mut args = vec![
            "outcomes",
            command,
            "--pipeline",
            "german_credit",
            "--store",
            s,
        ];
        args.extend_from_slice(extra);
        riskfn(&args)
    };
    let out = outcomes("load", &["--data", csv.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.contains("210 rows: 200 bad, 0 good, 10 pending"),
        "{said}"
    );
    let page = dir.join("backtest.html");
    let out = outcomes("report", &["--html", page.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains(&version) && html.contains("<svg") && html.contains("Jeffreys"));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.contains("overall red") && said.contains(&version),
        "{said}"
    );
    assert_eq!(outcomes("check", &[]).status.code(), Some(30));
    // Cohorts by quarter: `all` and this quarter.
    let out = outcomes("report", &["--period", "quarter", "--json"]);
    let b: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cohorts: Vec<&str> = (b["versions"][0]["cohorts"].as_array().unwrap().iter())
        .map(|c| c["cohort"].as_str().unwrap())
        .collect();
    assert_eq!(cohorts.len(), 2);
    assert!(
        cohorts[0] == "all" && cohorts[1].contains("-Q"),
        "{cohorts:?}"
    );
    assert!(!outcomes("report", &["--period", "week"]).status.success());
    let out = outcomes("check", &["--json"]);
    let b: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(b["light"], "red");
    // Test scores changed behind the manifest's back are refused, not replaced by other
    // grades.
    let scores = store
        .join("german_credit/versions")
        .join(&version)
        .join("test_scores.json");
    let mut text = std::fs::read_to_string(&scores).unwrap();
    text.push(' ');
    std::fs::write(&scores, text).unwrap();
    let out = outcomes("report", &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("test_scores.json"),
        "{}",
        stderr(&out)
    );
}
