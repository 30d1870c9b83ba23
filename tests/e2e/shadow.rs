//! A challenger in shadow: the answer stays the champion's, the audit record holds both, a
//! broken challenger costs no request, and `models compare` counts what the records say.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;
use http_body_util::BodyExt;
use riskfn_batch::models::shadow;
use riskfn_core::registry::Registry;
use riskfn_core::registry::audit::{Event, Record, Shadow};
use riskfn_core::registry::store::Store;
use riskfn_predict::auth::Auth;
use riskfn_predict::{AppState, Config};
use riskfn_tests::{fresh_dir, records, repo, tamper, train, train_families};
use tower::ServiceExt;

use super::tmp;

const PIPELINE: &str = "german_credit";

async fn post(app: &axum::Router, uri: &str, id: &str, body: String) -> (StatusCode, Bytes) {
    let req = axum::http::Request::post(uri)
        .header("x-request-id", id)
        .body(axum::body::Body::from(body))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    (status, resp.into_body().collect().await.unwrap().to_bytes())
}

async fn app(store: &std::path::Path) -> (axum::Router, Arc<AppState>) {
    let state = AppState::open(Config {
        store: store.display().to_string(),
        auth: Auth::Disabled,
        audit_to_store: true,
        audit_salt: b"shadow-salt".to_vec(),
        ..Config::default()
    })
    .await
    .unwrap();
    (riskfn_predict::router(state.clone()), state)
}

/// The prediction records stored so far (the copy is written in the background: wait for
/// `n` of them, at most 10 s).
async fn stored(store: &dyn Store, n: usize) -> Vec<Record> {
    for _ in 0..200 {
        let got = riskfn_core::registry::audit::prediction_records(store, PIPELINE, None)
            .await
            .unwrap();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} audit records were stored");
}

fn shadow_of(r: &Record) -> (&str, Option<usize>, Option<&Shadow>) {
    match &r.event {
        Event::Prediction {
            request_id,
            index,
            challenger,
            ..
        } => (request_id.as_str(), *index, challenger.as_deref()),
        other => panic!("not a prediction: {other:?}"),
    }
}

#[tokio::test]
async fn a_challenger_is_audited_beside_an_unchanged_answer_and_a_broken_one_is_skipped() {
    let dir = fresh_dir(&tmp(), "shadow");
    let store_dir = dir.join("store");
    let champion = train(PIPELINE, &store_dir, None).await.unwrap();
    let challenger = train_families(PIPELINE, &store_dir, &["gaussian_nb"])
        .await
        .unwrap();
    let store = riskfn_core::registry::store::open(&store_dir.display().to_string())
        .await
        .unwrap();
    let reg = Registry::new(store.clone());
    // Whatever the gate made of the second run, the first serves.
    let current = reg.champion(PIPELINE).await.unwrap();
    if current.as_ref().map(|(c, _)| c.version.as_str()) != Some(champion.version.as_str()) {
        let cur = current.as_ref().map(|(c, e)| (c, e.as_str()));
        reg.set_champion(PIPELINE, &champion.version, cur)
            .await
            .unwrap();
    }
    let rows = records(
        &repo().join("sql/german_credit/data/german_credit.parquet"),
        &["creditability"],
    )
    .await;
    let list = serde_json::Value::Array(rows[..40].to_vec()).to_string();
    let one = rows[40].to_string();
    let route = format!("/v1/pipelines/{PIPELINE}/predict");

    // Without a challenger.
    let (plain, _) = app(&store_dir).await;
    let (s, plain_list) = post(&plain, &route, "plain-list", list.clone()).await;
    assert_eq!(s, StatusCode::OK);
    let (s, plain_one) = post(&plain, &route, "plain-one", one.clone()).await;
    assert_eq!(s, StatusCode::OK);
    let before = stored(store.as_ref(), 41).await;
    assert!(before.iter().all(|r| shadow_of(r).2.is_none()));

    // With one: the same bytes answer, and every record's audit holds the challenger's own
    // score of that record.
    shadow::set(&reg, PIPELINE, Some(&challenger.version))
        .await
        .unwrap();
    let (shadowed, _) = app(&store_dir).await;
    let (s, list_answer) = post(&shadowed, &route, "shadow-list", list.clone()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list_answer, plain_list, "a challenger changed the answer");
    let (s, one_answer) = post(&shadowed, &route, "shadow-one", one.clone()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one_answer, plain_one);
    // A pinned request asked for one version: not shadowed.
    let pinned = format!("{route}?version={}", champion.version);
    let (s, _) = post(&shadowed, &pinned, "pinned-one", one.clone()).await;
    assert_eq!(s, StatusCode::OK);

    let all = stored(store.as_ref(), 41 + 42).await;
    let direct = reg.load(PIPELINE, &challenger.version).await.unwrap();
    let mut seen = 0;
    for r in &all {
        let (id, index, shadow) = shadow_of(r);
        let record = match (id, index) {
            ("shadow-list", Some(i)) => &rows[i],
            ("shadow-one", None) => &rows[40],
            ("pinned-one", _) | ("plain-list", _) | ("plain-one", _) => {
                assert!(shadow.is_none(), "{id} was shadowed");
                continue;
            }
            other => panic!("unexpected record {other:?}"),
        };
        let shadow = shadow.unwrap_or_else(|| panic!("{id} {index:?} has no challenger"));
        let expected = direct.scorer.score_json(record).unwrap();
        assert_eq!(shadow.version, challenger.version);
        assert_eq!(shadow.model_sha256, direct.scorer.content_sha256());
        assert_eq!(shadow.probability, expected.probability);
        assert_eq!(shadow.decision, expected.decision.as_ref());
        let codes: Vec<String> = expected
            .reasons
            .iter()
            .map(|r| r.code.to_string())
            .collect();
        assert_eq!(shadow.reasons, codes);
        seen += 1;
    }
    assert_eq!(seen, 41, "every shadowed record is audited once");
    // The shadow is in both versions' lifecycle (and so in their cards' history).
    let history = riskfn_core::registry::audit::version_records(
        store.as_ref(),
        PIPELINE,
        &challenger.version,
    )
    .await
    .unwrap();
    assert!(
        history
            .iter()
            .any(|r| matches!(&r.event, Event::Shadow { version: Some(v), .. } if *v == challenger.version)),
        "{history:?}"
    );

    // A challenger whose artifact no longer matches its manifest fails to load: the request
    // is answered as before, its audit record has no challenger part.
    let key = format!("{PIPELINE}/versions/{}/model.json", challenger.version);
    tamper(store.as_ref(), &key, |mut b| {
        b.push(b' ');
        b
    })
    .await;
    let (broken, _) = app(&store_dir).await;
    let (s, answer) = post(&broken, &route, "broken-one", one.clone()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(answer, plain_one);
    let after = stored(store.as_ref(), 41 + 42 + 1).await;
    let broken_record = after
        .iter()
        .find(|r| shadow_of(r).0 == "broken-one")
        .expect("the request is audited");
    assert!(shadow_of(broken_record).2.is_none());
}

/// One hand-made audit record: request, index, champion probability and decision,
/// challenger probability and decision, observed outcome.
type Row = (
    &'static str,
    Option<usize>,
    f64,
    &'static str,
    f64,
    &'static str,
    Option<bool>,
);

/// A hand-made audit log of 10 records: 6 agree, 3 swap in, 1 swaps out; and one record
/// of another pair, kept apart.
#[tokio::test]
async fn compare_counts_a_hand_made_audit_log_and_joins_outcomes() {
    let dir = fresh_dir(&tmp(), "compare");
    let store_dir = dir.join("store");
    let a = train(PIPELINE, &store_dir, None).await.unwrap().version;
    let b = train(PIPELINE, &store_dir, None).await.unwrap().version;
    let store = riskfn_core::registry::store::open(&store_dir.display().to_string())
        .await
        .unwrap();
    let reg = Registry::new(store.clone());
    let (bad, good) = ("decline", "approve"); // german_credit's decision labels
    let log: [Row; 10] = [
        ("r1", None, 0.10, good, 0.12, good, Some(false)),
        ("r2", None, 0.20, good, 0.18, good, Some(false)),
        ("r3", None, 0.80, bad, 0.70, bad, Some(true)),
        ("r4", None, 0.90, bad, 0.85, bad, Some(true)),
        ("l1", Some(0), 0.30, good, 0.35, good, Some(true)),
        ("l1", Some(1), 0.75, bad, 0.60, bad, None),
        // swap in: the challenger approves what the champion declines
        ("l1", Some(2), 0.60, bad, 0.40, good, Some(false)),
        ("l1", Some(3), 0.65, bad, 0.30, good, Some(true)),
        ("r5", None, 0.55, bad, 0.45, good, Some(false)),
        // swap out
        ("r6", None, 0.40, good, 0.58, bad, Some(true)),
    ];
    for (i, (id, index, p, d, cp, cd, _)) in log.iter().enumerate() {
        let r = Record {
            at: format!("2026-11-30T10:00:{i:02}Z"),
            event: Event::Prediction {
                request_id: (*id).to_owned(),
                caller: "lender".into(),
                pipeline: PIPELINE.into(),
                version: a.clone(),
                model_sha256: "x".into(),
                input_sha256: "y".into(),
                decision: (*d).to_owned(),
                probability: *p,
                reasons: vec![],
                outside_population: None,
                index: *index,
                challenger: Some(Box::new(Shadow {
                    version: b.clone(),
                    model_sha256: "z".into(),
                    decision: (*cd).to_owned(),
                    probability: *cp,
                    reasons: vec![],
                })),
            },
        };
        r.store(store.as_ref(), &format!("rec-{i}")).await.unwrap();
    }
    // Another pair (b champion, a challenger) a day later, and a record with no challenger.
    for (name, at, challenger) in [
        ("other", "2026-12-01T09:00:00Z", true),
        ("alone", "2026-12-01T09:00:01Z", false),
    ] {
        Record {
            at: at.into(),
            event: Event::Prediction {
                request_id: name.into(),
                caller: "lender".into(),
                pipeline: PIPELINE.into(),
                version: b.clone(),
                model_sha256: "x".into(),
                input_sha256: "y".into(),
                decision: good.into(),
                probability: 0.2,
                reasons: vec![],
                outside_population: None,
                index: None,
                challenger: challenger.then(|| {
                    Box::new(Shadow {
                        version: a.clone(),
                        model_sha256: "z".into(),
                        decision: bad.into(),
                        probability: 0.9,
                        reasons: vec![],
                    })
                }),
            },
        }
        .store(store.as_ref(), name)
        .await
        .unwrap();
    }

    let c = shadow::compare(&reg, PIPELINE, None, None).await.unwrap();
    assert_eq!(c.len(), 2, "{c:?}");
    let (first, second) = (&c[0], &c[1]);
    assert_eq!(
        (first.champion.as_str(), first.challenger.as_str()),
        (a.as_str(), b.as_str())
    );
    assert_eq!(first.records, 10);
    assert_eq!(first.agreement_rate, 0.6);
    assert_eq!(first.swap_in.count, 3);
    assert_eq!(first.swap_in.share, 0.3);
    let close = |x: f64, y: f64| assert!((x - y).abs() < 1e-12, "{x} != {y}");
    close(
        first.swap_in.champion_mean_probability,
        (0.60 + 0.65 + 0.55) / 3.0,
    );
    close(
        first.swap_in.challenger_mean_probability,
        (0.40 + 0.30 + 0.45) / 3.0,
    );
    assert_eq!(first.swap_out.count, 1);
    close(first.swap_out.challenger_mean_probability, 0.58);
    assert!(first.psi > 0.0 && first.psi.is_finite());
    assert_eq!((second.champion.as_str(), second.records), (b.as_str(), 1));
    assert_eq!(second.swap_out.count, 1);
    // --since leaves the first day out.
    let later = shadow::compare(&reg, PIPELINE, Some("2026-12-01"), None)
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].champion, b);

    // Outcomes from a CSV file; one record has none.
    let csv = dir.join("outcomes.csv");
    let mut text = String::from("id,index,outcome\n");
    for (id, index, .., outcome) in &log {
        if let Some(o) = outcome {
            let index = index.map(|i| i.to_string()).unwrap_or_default();
            text.push_str(&format!("{id},{index},{}\n", u8::from(*o)));
        }
    }
    std::fs::write(&csv, text).unwrap();
    let outcomes = shadow::read_outcomes(&csv.display().to_string())
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 9);
    let joined = shadow::compare(&reg, PIPELINE, None, Some(&outcomes))
        .await
        .unwrap();
    let o = joined[0].outcomes.as_ref().unwrap();
    let known: Vec<_> = log.iter().filter(|r| r.6.is_some()).collect();
    let y: Vec<bool> = known.iter().map(|r| r.6.unwrap()).collect();
    let champion_p: Vec<f64> = known.iter().map(|r| r.2).collect();
    let challenger_p: Vec<f64> = known.iter().map(|r| r.4).collect();
    assert_eq!(o.all.known, 9);
    close(o.all.bad_rate, 5.0 / 9.0); // r3, r4, l1/0, l1/3, r6
    // The training report's AUC on the same rows, and by counting pairs by hand.
    close(
        o.all.champion_auc,
        riskfn_train::metrics::roc_auc(&y, &champion_p),
    );
    close(
        o.all.challenger_auc,
        riskfn_train::metrics::roc_auc(&y, &challenger_p),
    );
    close(o.all.champion_auc, pairs_auc(&y, &champion_p));
    close(o.all.challenger_auc, pairs_auc(&y, &challenger_p));
    // DeLong's paired test, as the back-testing statistics compute it (checked there
    // against the pairwise definition).
    let (z, p) = o.all.delong.unwrap();
    let want =
        riskfn_batch::outcomes::stats::delong_paired(&champion_p, &challenger_p, &y).unwrap();
    close(z, want.0);
    close(p, want.1);
    assert_eq!(z > 0.0, o.all.champion_auc > o.all.challenger_auc);
    assert!(p > 0.0 && p <= 1.0);
    // The champion approves r1, r2, l1/0, r6: bad l1/0 and r6 -> 2 of 4. The challenger
    // approves r1, r2, l1/0, l1/2, l1/3, r5: bad l1/0 and l1/3 -> 2 of 6.
    close(o.champion_approved_bad_rate, 0.5);
    close(o.challenger_approved_bad_rate, 2.0 / 6.0);
    let swap_in = joined[0].swap_in.outcomes.as_ref().unwrap();
    assert_eq!(swap_in.known, 3);
    close(swap_in.bad_rate, 1.0 / 3.0);
    // Swap in: l1/2 (good), l1/3 (bad), r5 (good). The champion ranks the bad one highest
    // (0.65 over 0.60 and 0.55): AUC 1; the challenger ranks it lowest (0.30): AUC 0.
    close(swap_in.champion_auc, 1.0);
    close(swap_in.challenger_auc, 0.0);
    let swap_out = joined[0].swap_out.outcomes.as_ref().unwrap();
    assert!(swap_out.champion_auc.is_nan(), "one outcome only");

    // A bad outcomes file says what is wrong with it.
    std::fs::write(&csv, "id,outcome\nr1,2\n").unwrap();
    let err = shadow::read_outcomes(&csv.display().to_string())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("row 1") && err.contains("outcome"), "{err}");
    std::fs::write(&csv, "request_id,outcome\nr1,1\n").unwrap();
    let err = shadow::read_outcomes(&csv.display().to_string())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"id\""), "{err}");
}

/// AUC as the share of (bad, good) pairs the score orders right, ties counting half.
fn pairs_auc(y: &[bool], p: &[f64]) -> f64 {
    let (mut right, mut pairs) = (0.0, 0.0);
    for (i, &yi) in y.iter().enumerate() {
        for (j, &yj) in y.iter().enumerate() {
            if yi && !yj {
                pairs += 1.0;
                right += if p[i] > p[j] {
                    1.0
                } else if p[i] == p[j] {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    right / pairs
}
