//! Back-testing end to end: two german_credit versions serve 1,000 applicants each with
//! auditing on, and the first scores the whole file in batch; the lender's outcome file
//! draws the first version's applicants (online and batch) from its own probabilities and
//! the second's from doubled ones (plus a duplicate, an unknown id and declined
//! applicants). Loaded and back-tested, the first passes every calibration
//! test, the second fails the Jeffreys and binomial tests, and the whole is red.

use axum::http::StatusCode;
use riskfn_batch::outcomes::Light;
use riskfn_batch::outcomes::load::{LoadOptions, load};
use riskfn_batch::outcomes::report::{ReportOptions, report};
use riskfn_tests::{copy_pipeline, fresh_dir, records, repo, train};
use serde_json::{Value, json};

use super::tmp;

/// splitmix64 as a uniform draw in [0, 1).
fn uniform(i: u64) -> f64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as f64 / 2f64.powi(64)
}

#[tokio::test]
async fn a_version_that_underestimates_fails_calibration_on_its_outcomes() {
    let dir = fresh_dir(&tmp(), "outcomes");
    // Red below p 0.001: two dozen tests at 0.01 would give a calibrated version a red
    // one by chance one time in five.
    let pipeline = copy_pipeline("german_credit", &dir, |file, text| match file {
        "pipeline.toml" => format!("{text}\n[outcomes]\nred = 0.001\namber = 0.01\n"),
        _ => text,
    });
    let pipeline = pipeline.display().to_string();
    let store = dir.join("store");
    let first = train(&pipeline, &store, None).await.unwrap().version;
    let second = train(&pipeline, &store, None).await.unwrap().version;
    let (_, app) = super::population::audited_app(&store).await;
    let data = records(
        &repo().join("sql/german_credit/data/german_credit.parquet"),
        &["creditability"],
    )
    .await;

    // 1,000 applicants per version, in lists of 100 (request id and index name each).
    // Months on book: when a bad one went bad (1 to 12), 12 for a good one.
    let mob = |bad: bool, draw: f64| if bad { 1 + (draw * 12.0) as u32 } else { 12 };
    let mut lines = vec!["id,index,outcome,observed_at,months_on_book".to_owned()];
    let mut declined = 0;
    for (v, version) in [&first, &second].into_iter().enumerate() {
        for request in 0..10 {
            let id = format!("v{v}-req{request}");
            let batch: Vec<Value> = data.clone();
            let batch = &batch[request * 100..(request + 1) * 100];
            let uri = format!("/v1/pipelines/german_credit/predict?version={version}");
            let req = axum::http::Request::post(&uri)
                .header("content-type", "application/json")
                .header("x-request-id", &id)
                .body(axum::body::Body::from(json!(batch).to_string()))
                .unwrap();
            let (status, answer) = post_json_with(app.clone(), req).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            for (i, p) in answer["predictions"].as_array().unwrap().iter().enumerate() {
                let pd = p["probability"].as_f64().unwrap();
                declined += usize::from(p["decision"] == "decline");
                // The first version's applicants go bad as it says; the second's twice as often.
                let rate = if v == 0 { pd } else { (2.0 * pd).min(1.0) };
                let bad = uniform((v * 1000 + request * 100 + i) as u64) < rate;
                let months = mob(bad, uniform(50_000 + (v * 1000 + request * 100 + i) as u64));
                lines.push(format!("{id},{i},{},2099-01-01,{months}", u8::from(bad)));
            }
        }
    }
    // The whole file scored in batch by the first version: its decisions are kept in the
    // store, and their outcomes (by row position) joined as the online ones are.
    let scores = dir.join("scores.parquet");
    let run =
        riskfn_tests::score_bundled("german_credit", &store, Some(&first), None, &scores).await;
    assert!(run.decisions.contains("/decisions/"), "{}", run.decisions);
    let batch = records(&scores, &["reasons"]).await;
    for r in &batch {
        let id = r["row_id"].as_u64().unwrap();
        let pd = r["probability"].as_f64().unwrap();
        declined += usize::from(r["decision"] == "decline");
        let bad = uniform(10_000 + id) < pd;
        let months = mob(bad, uniform(60_000 + id));
        lines.push(format!("{id},,{},2099-01-01,{months}", u8::from(bad)));
    }
    lines.push(lines[1].clone());
    lines.push("nobody,0,1,2099-01-01,3".into());
    let outcomes = dir.join("outcomes.csv");
    std::fs::write(&outcomes, lines.join("\n") + "\n").unwrap();

    let sql_dir = riskfn_tests::sql_dir();
    let loaded = load(&LoadOptions {
        pipeline: pipeline.clone(),
        sql_dir: sql_dir.clone(),
        data: outcomes.display().to_string(),
        store: store.display().to_string(),
        s3: Default::default(),
    })
    .await
    .unwrap();
    let c = loaded.counts;
    let scored = 2000 + batch.len() as u64;
    assert_eq!((c.rows, c.duplicates, c.unknown), (scored + 2, 1, 1));
    assert_eq!(c.declined, declined as u64);
    assert_eq!(c.bad + c.good, scored - declined as u64);
    assert_eq!(c.pending, 0);

    let b = report(&ReportOptions {
        pipeline,
        sql_dir,
        store: store.display().to_string(),
        s3: Default::default(),
        period: Default::default(),
    })
    .await
    .unwrap();
    let all = |v: &str| {
        let found = b.versions.iter().find(|r| r.version == v).unwrap();
        found
            .cohorts
            .iter()
            .find(|c| c.cohort == "all")
            .unwrap()
            .clone()
    };
    let (own, doubled) = (all(&first), all(&second));
    // Calibrated: every calibration test green (discrimination is another matter: outcomes
    // drawn from the model's own probabilities rank less well than the real ones did).
    let own_calibration = own.calibration.as_ref().unwrap();
    // Graded by the version's test-split deciles, and as concentrated as its approvals were.
    let version = b.versions.iter().find(|v| v.version == first).unwrap();
    assert_eq!(version.grades_from, "the version's test-split deciles");
    assert_eq!(version.grades.len(), 9);
    let concentration = own_calibration.concentration.as_ref().unwrap();
    assert!(concentration.psi < 0.1, "{concentration:?}");
    assert_eq!(concentration.psi_band, "stable");
    assert_eq!(own_calibration.light(), Light::Green, "{own:#?}");
    let k = doubled.calibration.as_ref().unwrap();
    assert_eq!(
        (k.jeffreys.light, k.binomial.light),
        (Light::Red, Light::Red),
        "{k:#?}"
    );
    assert!(k.observed_rate > 1.5 * k.mean_pd);
    assert_eq!(b.light, Light::Red);
    // Each version's result kept beside it, with its page.
    assert_eq!(b.kept.len(), 2);
    assert!(
        b.kept.iter().all(|k| k.contains("/outcomes/versions/")),
        "{:?}",
        b.kept
    );
    // The page is kept beside the result: both versions, their tables and plots.
    let page = |v: &str| {
        let key = b.kept.iter().find(|k| k.contains(v)).unwrap();
        std::fs::read_to_string(store.join(key.replace(".json", ".html"))).unwrap()
    };
    let html = page(&second);
    assert!(html.contains(&second) && !html.contains(&first) && html.matches("<svg").count() >= 2);
    // Vintage curves from the months on book: the doubled version's bad rate climbs higher.
    let vintage = |v: &str| {
        let found = b.versions.iter().find(|r| r.version == v).unwrap();
        assert_eq!(found.vintages.len(), 1);
        let curve = &found.vintages[0].bad_rate;
        assert_eq!(curve.len(), 12);
        assert!(curve.windows(2).all(|w| w[0] <= w[1]));
        curve[11]
    };
    assert!(vintage(&second) > 1.5 * vintage(&first));
    assert!(html.contains("Vintage curves") && page(&first).contains("Vintage curves"));
    // The versions' histories (their model cards') list the back-test.
    let st = riskfn_core::registry::store::open(&store.display().to_string())
        .await
        .unwrap();
    for (version, light) in [(&first, "red"), (&second, "red")] {
        let records =
            riskfn_core::registry::audit::version_records(st.as_ref(), "german_credit", version)
                .await
                .unwrap();
        let history = riskfn_core::registry::audit::history(&records, version);
        let tested = history.iter().find(|h| h.event == "back-tested").unwrap();
        let kept = b
            .kept
            .iter()
            .find(|k| k.contains(version.as_str()))
            .unwrap();
        assert!(
            tested.detail.contains(light) && tested.detail.contains(kept),
            "{tested:?}"
        );
    }
}

async fn post_json_with(
    app: axum::Router,
    req: axum::http::Request<axum::body::Body>,
) -> (StatusCode, Value) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}
