//! The registry routes the review console reads and acts through: a pipeline's versions,
//! one version (with the latest drift report on it), its report, two versions compared, and promote / approve / refuse /
//! rollback (each with a reason, each checked against the caller's roles). Handlers only
//! translate; the rules are `riskfn_core::review` and `riskfn_core::review::compare`.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use riskfn_core::contract::artifact::{Manifest, REPORT_FILE};
use riskfn_core::contract::card::{CARD_JSON, ModelCard};
use riskfn_core::contract::measures::TestScores;
use riskfn_core::review::compare::{VersionFacts, compare as compare_versions};
use riskfn_core::review::{self, Review};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// The stored HTML report of a version (plots inline).
const REPORT_HTML: &str = "report.html";

#[derive(Debug, Serialize)]
struct Measures {
    roc_auc: f64,
    ks: f64,
}

/// The fairness screen of a version: its lowest adverse impact ratio on validation, and
/// whether it meets the gate's minimum (when one is set).
#[derive(Debug, Serialize)]
struct Fairness {
    lowest_ratio: Option<f64>,
    group: Option<String>,
    minimum: Option<f64>,
    passed: Option<bool>,
}

#[derive(Debug, Serialize)]
struct VersionRow {
    version: String,
    created_at: String,
    family: String,
    validation: Measures,
    test: Measures,
    gate_passed: Option<bool>,
    gate_reason: Option<String>,
    fairness: Fairness,
    champion: bool,
    challenger: bool,
    review: Option<Review>,
}

fn row(
    m: &Manifest,
    champion: Option<&str>,
    challenger: Option<&str>,
    review: Option<Review>,
) -> VersionRow {
    let lowest = m.fairness.iter().min_by(|a, b| a.ratio.total_cmp(&b.ratio));
    let minimum = m
        .gate
        .as_ref()
        .and_then(|g| g.spec.min_adverse_impact_ratio);
    VersionRow {
        version: m.version.clone(),
        created_at: m.created_at.clone(),
        family: m.model.family.clone(),
        validation: Measures {
            roc_auc: m.metrics.validation.roc_auc,
            ks: m.metrics.validation.ks,
        },
        test: Measures {
            roc_auc: m.metrics.test.roc_auc,
            ks: m.metrics.test.ks,
        },
        gate_passed: m.gate.as_ref().map(|g| g.passed),
        gate_reason: m.gate.as_ref().map(|g| g.reason.clone()),
        fairness: Fairness {
            lowest_ratio: lowest.map(|f| f.ratio),
            group: lowest.map(|f| format!("{} = {}", f.attribute, f.group)),
            minimum,
            passed: minimum.map(|min| m.fairness.iter().all(|f| f.ratio >= min)),
        },
        champion: champion == Some(m.version.as_str()),
        challenger: challenger == Some(m.version.as_str()),
        review,
    }
}

/// Who is calling and what it may do (the console shows only the actions it may take).
pub async fn me(Extension(caller): Extension<Caller>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "name": caller.name, "roles": caller.roles.names() }))
}

/// A pipeline's complete versions, newest first, with the champion's history.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Path(pipeline): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let registry = state.cache.registry();
    let versions = registry.versions(&pipeline).await?;
    if versions.is_empty() {
        return Err(ApiError::NotFound(format!("pipeline {pipeline} not found")));
    }
    let champion = registry.champion(&pipeline).await?.map(|(c, _)| c);
    let challenger = registry
        .challenger(&pipeline)
        .await?
        .and_then(|(c, _)| c.version);
    let mut reviews = review::reviews(registry, &pipeline).await?;
    // Manifests not yet in memory are read at once (on S3, one round trip each).
    let mut reads = tokio::task::JoinSet::new();
    for v in &versions {
        let (state, pipeline, v) = (state.clone(), pipeline.clone(), v.clone());
        reads.spawn(async move { state.cache.manifest(&pipeline, &v).await });
    }
    while let Some(read) = reads.join_next().await {
        read.map_err(|e| {
            tracing::error!(error = %e, "manifest read task failed");
            ApiError::Internal
        })??;
    }
    let mut rows = Vec::with_capacity(versions.len());
    for v in versions.iter().rev() {
        let m = state.cache.manifest(&pipeline, v).await?;
        rows.push(row(
            &m,
            champion.as_ref().map(|c| c.version.as_str()),
            challenger.as_deref(),
            reviews.remove(v),
        ));
    }
    Ok(Json(serde_json::json!({
        "pipeline": pipeline,
        "champion": champion.as_ref().map(|c| &c.version),
        "champion_since": champion.as_ref().map(|c| &c.updated_at),
        "champion_history": champion.as_ref().map(|c| c.history.clone()).unwrap_or_default(),
        "challenger": challenger,
        "versions": rows,
    })))
}

/// One version: its row, training data summary, files, review, and latest drift report.
pub async fn show(
    State(state): State<Arc<AppState>>,
    Path((pipeline, version)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let registry = state.cache.registry();
    let m = state.cache.manifest(&pipeline, &version).await?;
    let champion = registry.champion(&pipeline).await?.map(|(c, _)| c.version);
    let challenger = registry
        .challenger(&pipeline)
        .await?
        .and_then(|(c, _)| c.version);
    let review = review::review(registry, &pipeline, &version)
        .await?
        .map(|(r, _)| r);
    // What `riskfn drift` last kept on it: aggregates of a scored batch.
    let drift =
        riskfn_core::review::drift::latest_report(registry.store().as_ref(), &pipeline, &version)
            .await?
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    // What `riskfn outcomes report` last kept on it: the back-test on its outcomes.
    let outcomes = riskfn_core::review::outcomes::latest_report(
        registry.store().as_ref(),
        &pipeline,
        &version,
    )
    .await?
    .and_then(|(_, b)| serde_json::from_slice::<serde_json::Value>(&b).ok());
    Ok(Json(serde_json::json!({
        "pipeline": pipeline,
        "version": row(&m, champion.as_deref(), challenger.as_deref(), review),
        "model": m.model,
        "metrics": m.metrics,
        "data": m.data,
        "files": m.files.keys().collect::<Vec<_>>(),
        "drift": drift,
        "outcomes": outcomes,
    })))
}

/// The page of the newest back-test kept on a version (`riskfn outcomes report`).
pub async fn outcomes(
    State(state): State<Arc<AppState>>,
    Path((pipeline, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let store = state.cache.registry().store().clone();
    let page = riskfn_core::review::outcomes::latest_page(store.as_ref(), &pipeline, &version)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no back-test on version {version} of pipeline {pipeline}"
            ))
        })?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                axum::http::header::HeaderName::from_static("x-frame-options"),
                "SAMEORIGIN",
            ),
        ],
        page,
    )
        .into_response())
}

/// A version's stored report: HTML with its plots, or the JSON it was drawn from.
pub async fn report(
    State(state): State<Arc<AppState>>,
    Path((pipeline, version)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let m = state.cache.manifest(&pipeline, &version).await?;
    let html = crate::app::wants_html(&headers);
    let file = if html { REPORT_HTML } else { REPORT_FILE };
    if !m.files.contains_key(file) {
        return Err(ApiError::NotFound(format!(
            "version {version} of pipeline {pipeline} has no {file}"
        )));
    }
    let bytes = state.cache.registry().read_verified(&m, file).await?;
    let content_type = if html {
        "text/html; charset=utf-8"
    } else {
        "application/json"
    };
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, content_type),
            // Shown inside the console's own pages only.
            (
                axum::http::header::HeaderName::from_static("x-frame-options"),
                "SAMEORIGIN",
            ),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub struct Pair {
    a: Option<String>,
    b: Option<String>,
}

/// A version's card and test scores, where it has them.
async fn facts(
    state: &AppState,
    pipeline: &str,
    version: &str,
) -> Result<(Arc<Manifest>, Option<ModelCard>, Option<TestScores>), ApiError> {
    let m = state.cache.manifest(pipeline, version).await?;
    let registry = state.cache.registry();
    let read = |file: &'static str| {
        let m = m.clone();
        async move {
            if !m.files.contains_key(file) {
                return Ok(None);
            }
            let bytes = registry.read_verified(&m, file).await?;
            Ok::<_, ApiError>(Some(bytes))
        }
    };
    fn parse<T: serde::de::DeserializeOwned>(
        file: &str,
        bytes: Option<bytes::Bytes>,
    ) -> Result<Option<T>, ApiError> {
        bytes
            .map(|b| serde_json::from_slice(&b))
            .transpose()
            .map_err(|e| {
                tracing::error!(file, error = %e, "unreadable version file");
                ApiError::Internal
            })
    }
    let card = parse(CARD_JSON, read(CARD_JSON).await?)?;
    let scores = parse(TestScores::FILE, read(TestScores::FILE).await?)?;
    Ok((m, card, scores))
}

/// Two versions side by side: `a` (default: the champion) against `b`.
pub async fn compare(
    State(state): State<Arc<AppState>>,
    Path(pipeline): Path<String>,
    Query(q): Query<Pair>,
) -> Result<Json<riskfn_core::review::compare::Comparison>, ApiError> {
    let registry = state.cache.registry();
    let b =
        q.b.ok_or_else(|| ApiError::BadBody("query parameter b (a version) is required".into()))?;
    let a = registry.resolve(&pipeline, q.a.as_deref()).await?;
    let (ma, ca, sa) = facts(&state, &pipeline, &a).await?;
    let (mb, cb, sb) = facts(&state, &pipeline, &b).await?;
    Ok(Json(compare_versions(
        &VersionFacts {
            manifest: &ma,
            card: ca.as_ref(),
            scores: sa.as_ref(),
        },
        &VersionFacts {
            manifest: &mb,
            card: cb.as_ref(),
            scores: sb.as_ref(),
        },
    )))
}

/// The body of an action: why (kept in the audit record), and for promote, `force`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    reason: String,
    #[serde(default)]
    force: bool,
}

const MAX_REASON: usize = 2000;

fn action(body: Result<Json<Action>, JsonRejection>) -> Result<Action, ApiError> {
    let Json(a) = body.map_err(|e| {
        ApiError::BadBody(format!(
            "body must be a JSON object {{\"reason\": \"...\"}}: {}",
            e.body_text()
        ))
    })?;
    let len = a.reason.trim().chars().count();
    if len == 0 || len > MAX_REASON {
        return Err(ApiError::Fields(vec![crate::error::FieldFault {
            record: None,
            field: "reason".into(),
            problem: format!("must say why, in 1 to {MAX_REASON} characters"),
        }]));
    }
    Ok(a)
}

/// The action's body, if the caller holds the role it needs (`has`).
fn allowed(
    has: bool,
    caller: &Caller,
    role: &str,
    what: &str,
    body: Result<Json<Action>, JsonRejection>,
) -> Result<Action, ApiError> {
    if !has {
        return Err(ApiError::Forbidden(format!(
            "{} may not {what}: it needs the {role} role",
            caller.name
        )));
    }
    action(body)
}

fn outcome(
    pipeline: &str,
    version: &str,
    promotion: &review::Promotion,
) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "pipeline": pipeline,
        "version": version,
        "outcome": promotion,
        "champion": promotion.is_champion(),
    }))
}

/// Promote a version (under four eyes: propose it). Model owners only.
pub async fn promote(
    State(state): State<Arc<AppState>>,
    Path((pipeline, version)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<Action>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let a = allowed(
        caller.roles.owner,
        &caller,
        "owner",
        "promote a version",
        body,
    )?;
    let p = review::promote(
        state.cache.registry(),
        &pipeline,
        &version,
        &caller.name,
        a.reason.trim(),
        a.force,
    )
    .await?;
    Ok(outcome(&pipeline, &version, &p))
}

/// Approve a proposed version. Approvers only, and never one of its makers.
pub async fn approve(
    State(state): State<Arc<AppState>>,
    Path((pipeline, version)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<Action>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let a = allowed(
        caller.roles.approver,
        &caller,
        "approver",
        "approve a version",
        body,
    )?;
    let p = review::approve(
        state.cache.registry(),
        &pipeline,
        &version,
        &caller.name,
        a.reason.trim(),
    )
    .await?;
    Ok(outcome(&pipeline, &version, &p))
}

/// Refuse a proposed version (approvers), or withdraw it (owners).
pub async fn refuse(
    State(state): State<Arc<AppState>>,
    Path((pipeline, version)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<Action>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let a = allowed(
        caller.roles.approver || caller.roles.owner,
        &caller,
        "approver or owner",
        "refuse a version",
        body,
    )?;
    let r = review::refuse(
        state.cache.registry(),
        &pipeline,
        &version,
        &caller.name,
        a.reason.trim(),
    )
    .await?;
    Ok(Json(serde_json::json!({
        "pipeline": pipeline,
        "version": version,
        "review": r,
    })))
}

/// Return the champion to the one before it. Model owners only.
pub async fn rollback(
    State(state): State<Arc<AppState>>,
    Path(pipeline): Path<String>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<Action>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let a = allowed(
        caller.roles.owner,
        &caller,
        "owner",
        "roll the champion back",
        body,
    )?;
    let c = review::rollback(
        state.cache.registry(),
        &pipeline,
        &caller.name,
        a.reason.trim(),
    )
    .await?;
    Ok(Json(serde_json::json!({
        "pipeline": pipeline,
        "champion": c.version,
    })))
}
