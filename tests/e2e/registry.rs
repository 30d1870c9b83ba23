//! The model registry, one suite against both backends (a local folder and a real
//! S3-compatible server): races, interrupted publishes, tampering, gate, rollback.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use bytes::Bytes;
use http_body_util::BodyExt;
use riskfn_batch::models;
use riskfn_batch::train::Promotion;
use riskfn_core::registry::store::{Object, PutMode, Store};
use riskfn_core::{Error, Result};
use riskfn_predict::{AppState, Config};
use riskfn_tests::{Backend, copy_pipeline, fresh_dir, records, repo, tamper, train_into};
use tower::ServiceExt;

use super::tmp;

/// Two runs read the champion pointer, then both try to move it: the conditional write lets
/// the first through and the other reports the race it lost. The interleaving is fixed here
/// (both reads before either write): two real concurrent runs do not reliably produce it.
#[tokio::test]
async fn the_second_of_two_promotions_from_the_same_read_loses_the_race() {
    let dir = fresh_dir(&tmp(), "race-promote");
    for b in Backend::both(&dir) {
        let x = train_into("german_credit", &b.uri, &b.s3, false)
            .await
            .unwrap();
        let y = train_into("german_credit", &b.uri, &b.s3, false)
            .await
            .unwrap();
        let reg = b.registry().await;
        // Both runs read the pointer as it is now; the one promoting x writes first.
        let read = reg.champion("german_credit").await.unwrap();
        let stale = read.as_ref().map(|(c, e)| (c, e.as_str()));
        reg.set_champion("german_credit", &x.version, stale)
            .await
            .unwrap();
        let lost = riskfn_core::review::move_champion(
            &reg,
            "german_credit",
            &y.version,
            read.as_ref(),
            None,
        )
        .await
        .unwrap();
        assert_eq!(
            lost,
            Promotion::LostRace {
                champion: Some(x.version.clone())
            },
            "{}",
            b.label
        );
        let (champion, _) = reg.champion("german_credit").await.unwrap().unwrap();
        assert_eq!(
            champion.version, x.version,
            "{}: the stale write changed nothing",
            b.label
        );
    }
}

/// Two real runs at once: whatever the interleaving, both versions are kept, the pointer
/// names one of them, and that run says it was promoted.
#[tokio::test]
async fn racing_publishes_keep_both_versions_and_one_champion() {
    let dir = fresh_dir(&tmp(), "race");
    for b in Backend::both(&dir) {
        let (x, y) = tokio::join!(
            train_into("german_credit", &b.uri, &b.s3, false),
            train_into("german_credit", &b.uri, &b.s3, false)
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        let reg = b.registry().await;
        let mut versions = reg.versions("german_credit").await.unwrap();
        versions.sort();
        let mut expected = vec![x.version.clone(), y.version.clone()];
        expected.sort();
        assert_eq!(versions, expected, "{}: both versions exist", b.label);
        let (champion, _) = reg.champion("german_credit").await.unwrap().unwrap();
        let winner = [&x, &y]
            .into_iter()
            .find(|r| r.version == champion.version)
            .expect("the champion is one of the two versions");
        assert!(
            winner
                .promotion
                .as_ref()
                .is_some_and(Promotion::is_champion),
            "{}: {:?}",
            b.label,
            winner.promotion
        );
    }
}

/// A store that fails every write of a version's manifest: a run that dies after writing
/// the version's files but before completing it.
#[derive(Debug)]
struct DiesBeforeManifest(Arc<dyn Store>);

#[async_trait]
impl Store for DiesBeforeManifest {
    async fn get(&self, key: &str) -> Result<Option<Object>> {
        self.0.get(key).await
    }
    async fn get_if_changed(&self, key: &str, etag: &str) -> Result<Option<Object>> {
        self.0.get_if_changed(key, etag).await
    }
    async fn put(&self, key: &str, bytes: Bytes, mode: PutMode) -> Result<String> {
        if key.ends_with("/manifest.json") {
            return Err(Error::store(self.location(), "connection reset (injected)"));
        }
        self.0.put(key, bytes, mode).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.0.list(prefix).await
    }
    fn location(&self) -> String {
        self.0.location()
    }
}

#[tokio::test]
async fn a_publish_cut_short_leaves_the_champion_and_no_usable_version() {
    let dir = fresh_dir(&tmp(), "cut-short");
    for b in Backend::both(&dir) {
        let first = train_into("german_credit", &b.uri, &b.s3, false)
            .await
            .unwrap();
        let store = b.store().await;
        let reg = riskfn_core::registry::Registry::new(Arc::new(DiesBeforeManifest(store.clone())));
        // Publish a second version through the failing store, as `train` does.
        let m = reg.manifest("german_credit", &first.version).await.unwrap();
        let files = vec![("model.json".to_owned(), Bytes::from_static(b"{}"))];
        let cut = riskfn_core::contract::artifact::Manifest {
            version: "29991231T000000Z-deadbeef".into(),
            ..m
        };
        assert!(reg.publish(cut, files).await.is_err());
        // The unfinished folder holds a file, but no reader treats it as a version.
        let keys = store
            .list("german_credit/versions/29991231T000000Z-deadbeef/")
            .await
            .unwrap();
        assert_eq!(keys.len(), 1, "{}: {keys:?}", b.label);
        let good = b.registry().await;
        assert_eq!(
            good.versions("german_credit").await.unwrap(),
            vec![first.version.clone()],
            "{}",
            b.label
        );
        let listed = models::list(&good, "german_credit").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].champion);
        let (champion, _) = good.champion("german_credit").await.unwrap().unwrap();
        assert_eq!(champion.version, first.version, "{}", b.label);
    }
}

async fn predict_version(
    state: Arc<AppState>,
    record: &serde_json::Value,
) -> (StatusCode, Option<String>) {
    let req = axum::http::Request::post("/v1/pipelines/german_credit/predict")
        .body(axum::body::Body::from(record.to_string()))
        .unwrap();
    let resp = riskfn_predict::router(state).oneshot(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    (status, v["version"].as_str().map(str::to_owned))
}

async fn one_record() -> serde_json::Value {
    records(
        &repo().join("sql/german_credit/data/german_credit.parquet"),
        &["creditability"],
    )
    .await
    .remove(0)
}

#[tokio::test]
async fn a_tampered_artifact_is_refused_at_load_and_never_served() {
    let dir = fresh_dir(&tmp(), "tamper");
    for b in Backend::both(&dir) {
        let r = train_into("german_credit", &b.uri, &b.s3, false)
            .await
            .unwrap();
        let store = b.store().await;
        let key = format!("german_credit/versions/{}/model.json", r.version);
        tamper(store.as_ref(), &key, |b| {
            String::from_utf8(b)
                .unwrap()
                .replacen("\"intercept\": ", "\"intercept\": 1", 1)
                .into_bytes()
        })
        .await;

        let err = b
            .registry()
            .await
            .load("german_credit", &r.version)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Integrity { .. }), "{}: {err}", b.label);
        assert!(err.to_string().contains("model.json"), "{err}");
        let state = AppState::with_store(Config::default(), store);
        let (status, version) = predict_version(state, &one_record().await).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{}", b.label);
        assert_eq!(version, None);
    }
}

#[tokio::test]
async fn rollback_returns_the_previous_champion_and_serving_follows_without_restart() {
    let dir = fresh_dir(&tmp(), "rollback");
    for b in Backend::both(&dir) {
        let v1 = train_into("german_credit", &b.uri, &b.s3, false)
            .await
            .unwrap()
            .version;
        let v2 = train_into("german_credit", &b.uri, &b.s3, false)
            .await
            .unwrap()
            .version;
        let config = Config {
            champion_ttl: Duration::ZERO,
            ..Config::default()
        };
        let state = AppState::with_store(config, b.store().await);
        let record = one_record().await;
        assert_eq!(
            predict_version(state.clone(), &record).await.1.as_deref(),
            Some(v2.as_str())
        );

        let reg = b.registry().await;
        let back = riskfn_core::review::rollback(&reg, "german_credit", "operator", "test")
            .await
            .unwrap();
        assert_eq!(back.version, v1, "{}", b.label);
        assert_eq!(
            predict_version(state.clone(), &record).await.1.as_deref(),
            Some(v1.as_str()),
            "{}: serving follows",
            b.label
        );
        // Nothing earlier than v1.
        assert!(
            riskfn_core::review::rollback(&reg, "german_credit", "operator", "test")
                .await
                .is_err()
        );
        // And forward again.
        let p = riskfn_core::review::promote(&reg, "german_credit", &v2, "operator", "test", false)
            .await
            .unwrap();
        assert_eq!(
            p,
            Promotion::Promoted {
                previous: Some(v1.clone())
            }
        );
        assert_eq!(
            predict_version(state, &record).await.1.as_deref(),
            Some(v2.as_str())
        );
    }
}

#[tokio::test]
async fn the_gate_refuses_a_worse_model_records_why_and_force_overrides() {
    let dir = fresh_dir(&tmp(), "gate");
    // A variant that only knows the applicant's age: far weaker than the champion.
    let weak = copy_pipeline("german_credit", &dir, |name, text| {
        match name {
        "02_features.sql" => {
            "SELECT age, personal_status_and_sex, foreign_worker, creditability,\n\
             CASE WHEN personal_status_and_sex LIKE 'female%' THEN 'female' ELSE 'male' END AS sex,\n\
             CASE WHEN personal_status_and_sex LIKE '%single%' THEN 'single' ELSE 'not single' END AS marital_status,\n\
             age AS age_years FROM clean\n"
                .to_owned()
        }
        _ => text,
    }
    });
    for b in Backend::both(&dir) {
        let good = train_into("german_credit", &b.uri, &b.s3, false)
            .await
            .unwrap();
        let bad = train_into(&weak.display().to_string(), &b.uri, &b.s3, false)
            .await
            .unwrap();
        let Some(Promotion::RefusedByGate { reason }) = &bad.promotion else {
            panic!("{}: {:?}", b.label, bad.promotion);
        };
        assert!(reason.contains(&good.version), "{reason}");
        let reg = b.registry().await;
        let m = reg.manifest("german_credit", &bad.version).await.unwrap();
        let gate = m.gate.expect("the refusal is recorded");
        assert!(!gate.passed);
        assert_eq!(gate.champion.as_deref(), Some(good.version.as_str()));
        assert_eq!(
            reg.champion("german_credit")
                .await
                .unwrap()
                .unwrap()
                .0
                .version,
            good.version
        );
        // The refused version stays listed, not champion.
        let rows = models::list(&reg, "german_credit").await.unwrap();
        assert_eq!(
            rows.iter().filter(|r| r.gate_passed == Some(false)).count(),
            1
        );

        let refused = riskfn_core::review::promote(
            &reg,
            "german_credit",
            &bad.version,
            "operator",
            "test",
            false,
        )
        .await
        .unwrap();
        assert!(matches!(refused, Promotion::RefusedByGate { .. }));
        let forced = riskfn_core::review::promote(
            &reg,
            "german_credit",
            &bad.version,
            "operator",
            "test",
            true,
        )
        .await
        .unwrap();
        assert!(matches!(forced, Promotion::Forced { .. }), "{forced:?}");
        assert_eq!(
            reg.champion("german_credit")
                .await
                .unwrap()
                .unwrap()
                .0
                .version,
            bad.version
        );
    }
}
