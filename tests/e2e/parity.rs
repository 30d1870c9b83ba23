//! Online and offline features agree: for every row of each bundled pipeline, the compiled
//! expressions evaluated on the raw record *as JSON* give DataFusion's value of the SQL as
//! written. Plus golden files of each pipeline's SQL output and compiled features.

use std::collections::HashMap;
use std::fmt::Write;

use arrow::util::pretty::pretty_format_batches;
use riskfn_batch::compile::run_as_written;
use riskfn_batch::pipeline::Pipeline;
use riskfn_batch::values::column::Col;
use riskfn_core::contract::artifact::ScoringArtifact;
use riskfn_core::features::preprocess::category_key;
use riskfn_core::features::value::Value;
use riskfn_core::registry::Registry;
use riskfn_core::registry::store::LocalStore;
use riskfn_tests::{fresh_dir, records, repo, sql_dir, train};

use super::tmp;

async fn trained_artifact(pipeline: &str) -> ScoringArtifact {
    let store = fresh_dir(&tmp(), &format!("parity-{pipeline}"));
    let report = train(pipeline, &store, None).await.expect("trains");
    let reg = Registry::new(std::sync::Arc::new(LocalStore::new(&store)));
    let loaded = reg.load(pipeline, &report.version).await.unwrap();
    loaded.scorer.artifact().clone()
}

fn same(categorical: bool, online: &Value, engine: &Value) -> bool {
    if categorical {
        category_key(online) == category_key(engine)
    } else {
        match (online.as_f64(), engine.as_f64()) {
            (Some(a), Some(b)) => a == b || (a.is_nan() && b.is_nan()),
            (None, None) => online.is_null() && engine.is_null(),
            _ => false,
        }
    }
}

async fn check_pipeline(name: &str) {
    let pipeline = Pipeline::locate(name, &sql_dir()).unwrap();
    let artifact = trained_artifact(name).await;
    let ctx = riskfn_batch::source::session().unwrap();
    let raw = riskfn_batch::source::read(&ctx, &pipeline.source)
        .await
        .unwrap();
    let out = run_as_written(&pipeline, &raw).await.unwrap();
    let schema = out[0].schema();

    // DataFusion's values per output column, rows in source order.
    let mut engine: HashMap<String, Vec<Value>> = HashMap::new();
    for (i, f) in schema.fields().iter().enumerate() {
        let mut col = Vec::new();
        for b in &out {
            col.extend(Col::new(f.name(), b.column(i)).unwrap().values());
        }
        engine.insert(f.name().clone(), col);
    }
    let n_out = engine.values().next().unwrap().len();

    // Raw records as a client would send them (the target left out).
    let recs = records(&repo().join(&pipeline.source), &[pipeline.target.as_str()]).await;
    // Align output rows with source rows: by id when the SQL keeps it, else by position
    // (then the SQL must keep every row).
    let source_index: Vec<usize> = match pipeline
        .id
        .as_deref()
        .and_then(|id| engine.get(id).map(|c| (id, c)))
    {
        Some((id, ids)) => {
            let pos: HashMap<i64, usize> = recs
                .iter()
                .enumerate()
                .map(|(i, r)| (r[id].as_i64().unwrap(), i))
                .collect();
            ids.iter()
                .map(|v| match v {
                    Value::Int(i) => pos[i],
                    other => panic!("id {other}"),
                })
                .collect()
        }
        None => {
            assert_eq!(
                n_out,
                recs.len(),
                "{name}: without an id the SQL must keep every row"
            );
            (0..n_out).collect()
        }
    };

    for (out_row, &src) in source_index.iter().enumerate() {
        let row = artifact
            .raw_schema
            .parse_record(&recs[src], artifact.unknown_fields)
            .unwrap_or_else(|e| panic!("{name} row {src}: {e:?}"));
        for f in &artifact.features {
            let online = f.expr.eval(&row).unwrap();
            let offline = &engine[&f.name][out_row];
            let categorical = f.encoding.levels().is_some();
            assert!(
                same(categorical, &online, offline),
                "{name}: feature {} of source row {}: online {online}, DataFusion {offline}",
                f.name,
                src + 1
            );
        }
    }
    // Not vacuous: distinct source rows, and features the SQL computes (not only raw
    // fields passed through, which are equal by construction).
    let mut sources = source_index.clone();
    sources.sort_unstable();
    sources.dedup();
    assert_eq!(
        sources.len(),
        n_out,
        "{name}: two output rows matched one source row"
    );
    let computed = artifact
        .features
        .iter()
        .filter(|f| !matches!(f.expr, riskfn_core::features::expr::Expr::Column(_)))
        .count();
    assert!(computed > 0, "{name}: no computed feature was compared");
    golden(name, &out, n_out, &artifact);
}

/// Compare (or, with RISKFN_UPDATE_GOLDEN=1, rewrite) `tests/golden/<pipeline>.txt`.
fn golden(name: &str, out: &[arrow::array::RecordBatch], rows: usize, artifact: &ScoringArtifact) {
    let mut text = String::new();
    writeln!(
        text,
        "# sql/{name} as written, run by DataFusion over the bundled data."
    )
    .unwrap();
    writeln!(
        text,
        "# Regenerate: RISKFN_UPDATE_GOLDEN=1 tests/run.sh golden"
    )
    .unwrap();
    writeln!(text, "\n## output schema").unwrap();
    for f in out[0].schema().fields() {
        writeln!(
            text,
            "{}: {}{}",
            f.name(),
            f.data_type(),
            if f.is_nullable() { "" } else { " not null" }
        )
        .unwrap();
    }
    writeln!(text, "\n## rows: {rows}; the first five").unwrap();
    let head: Vec<_> = vec![out[0].slice(0, 5.min(out[0].num_rows()))];
    writeln!(text, "{}", pretty_format_batches(&head).unwrap()).unwrap();
    writeln!(text, "\n## online raw fields").unwrap();
    for f in &artifact.raw_schema.fields {
        writeln!(
            text,
            "{}: {}{}",
            f.name,
            f.data_type,
            if f.nullable { " (optional)" } else { "" }
        )
        .unwrap();
    }
    writeln!(text, "\n## compiled features").unwrap();
    for f in &artifact.features {
        writeln!(
            text,
            "{} = {}",
            f.name,
            serde_json::to_string(&f.expr).unwrap()
        )
        .unwrap();
    }
    let path = repo().join("tests/golden").join(format!("{name}.txt"));
    if std::env::var_os("RISKFN_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} missing: run with RISKFN_UPDATE_GOLDEN=1",
            path.display()
        )
    });
    assert!(
        expected == text,
        "golden file {} differs; if the change is intended, regenerate it with RISKFN_UPDATE_GOLDEN=1.\n--- expected\n{expected}\n--- got\n{text}",
        path.display()
    );
}

#[tokio::test]
async fn golden_and_parity_german_credit() {
    check_pipeline("german_credit").await;
}

#[tokio::test]
async fn golden_and_parity_credit_data() {
    check_pipeline("credit_data").await;
}

#[tokio::test]
async fn golden_and_parity_islr_default() {
    check_pipeline("islr_default").await;
}
