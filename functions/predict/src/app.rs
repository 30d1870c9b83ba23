//! The HTTP app: routes and handlers. Handlers only translate between HTTP and the scoring
//! library; the same `Router` runs under Lambda and as a local server.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Extension, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::config::Config;
use crate::error::{ApiError, FieldFault, RuleFault};
use crate::state::AppState;
use riskfn_core::features::population::Outside;
use riskfn_core::registry::audit;
use riskfn_core::scoring::{RecordError, Score};

/// The routes, in the order `openapi.json` documents them.
pub const ROUTES: [(&str, &str); 23] = [
    ("get", "/health"),
    ("get", "/openapi.json"),
    ("get", "/v1/me"),
    ("get", "/v1/pipelines"),
    ("get", "/v1/pipelines/{pipeline}"),
    ("post", "/v1/pipelines/{pipeline}/predict"),
    ("get", "/v1/pipelines/{pipeline}/versions"),
    ("get", "/v1/pipelines/{pipeline}/versions/{version}"),
    ("get", "/v1/pipelines/{pipeline}/versions/{version}/card"),
    ("get", "/v1/pipelines/{pipeline}/versions/{version}/report"),
    (
        "get",
        "/v1/pipelines/{pipeline}/versions/{version}/outcomes",
    ),
    (
        "post",
        "/v1/pipelines/{pipeline}/versions/{version}/promote",
    ),
    (
        "post",
        "/v1/pipelines/{pipeline}/versions/{version}/approve",
    ),
    ("post", "/v1/pipelines/{pipeline}/versions/{version}/refuse"),
    ("post", "/v1/pipelines/{pipeline}/rollback"),
    ("get", "/v1/pipelines/{pipeline}/compare"),
    ("get", "/v1/pipelines/{pipeline}/openapi.json"),
    ("get", "/console"),
    ("get", "/console/console.js"),
    ("get", "/console/console.css"),
    ("post", "/console/session"),
    ("post", "/console/sign-out"),
    ("get", "/console/"),
];

/// The OpenAPI document of these routes (kept true by the end-to-end tests).
pub const OPENAPI: &str = include_str!("../openapi.json");

pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.max_body_bytes;
    use crate::{console, versions};
    let protected = Router::new()
        .route("/v1/me", get(versions::me))
        .route("/v1/pipelines", get(pipelines))
        .route("/v1/pipelines/{pipeline}", get(pipeline))
        .route("/v1/pipelines/{pipeline}/predict", post(predict))
        .route("/v1/pipelines/{pipeline}/versions", get(versions::list))
        .route(
            "/v1/pipelines/{pipeline}/versions/{version}",
            get(versions::show),
        )
        .route(
            "/v1/pipelines/{pipeline}/versions/{version}/card",
            get(card),
        )
        .route(
            "/v1/pipelines/{pipeline}/versions/{version}/report",
            get(versions::report),
        )
        .route(
            "/v1/pipelines/{pipeline}/versions/{version}/outcomes",
            get(versions::outcomes),
        )
        .route(
            "/v1/pipelines/{pipeline}/versions/{version}/promote",
            post(versions::promote),
        )
        .route(
            "/v1/pipelines/{pipeline}/versions/{version}/approve",
            post(versions::approve),
        )
        .route(
            "/v1/pipelines/{pipeline}/versions/{version}/refuse",
            post(versions::refuse),
        )
        .route(
            "/v1/pipelines/{pipeline}/rollback",
            post(versions::rollback),
        )
        .route("/v1/pipelines/{pipeline}/compare", get(versions::compare))
        .route(
            "/v1/pipelines/{pipeline}/openapi.json",
            get(pipeline_openapi),
        )
        .route("/console", get(console::index))
        .route("/console/", get(console::index))
        .route("/console/console.js", get(console::script))
        .route("/console/console.css", get(console::style))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::require,
        ));
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .route("/console/session", post(console::session))
        .route("/console/sign-out", post(console::sign_out))
        .merge(protected)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

async fn health(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let [stored, retried, failed] = state.audit.counts();
    Json(serde_json::json!({
        "status": "ok",
        "audit": {"stored": stored, "retried": retried, "failed": failed},
    }))
}

async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct PredictQuery {
    version: Option<String>,
}

#[derive(Debug, Serialize)]
struct PipelineEntry {
    pipeline: String,
    champion: Option<String>,
}

/// Pipelines with a published version, and their champions.
async fn pipelines(
    State(state): State<Arc<AppState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let registry = state.cache.registry();
    let mut out = Vec::new();
    for p in registry.pipelines().await? {
        let champion = registry.champion(&p).await?.map(|(c, _)| c.version);
        out.push(PipelineEntry {
            pipeline: p,
            champion,
        });
    }
    Ok(Json(serde_json::json!({ "pipelines": out })))
}

#[derive(Debug, Serialize)]
struct InputField<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    data_type: riskfn_core::features::value::DataType,
    required: bool,
}

/// The version a caller gets (champion unless pinned): model, measures, decision rule and
/// the raw input schema a request must follow.
async fn pipeline(
    State(state): State<Arc<AppState>>,
    Path(pipeline): Path<String>,
    Query(q): Query<PredictQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let loaded = state.cache.get(&pipeline, q.version.as_deref()).await?;
    let a = loaded.scorer.artifact();
    let fields: Vec<InputField<'_>> = a
        .raw_schema
        .fields
        .iter()
        .map(|f| InputField {
            name: &f.name,
            data_type: f.data_type,
            required: !f.nullable,
        })
        .collect();
    Ok(Json(serde_json::json!({
        "pipeline": pipeline,
        "version": a.version,
        "model_sha256": loaded.scorer.content_sha256(),
        "created_at": loaded.manifest.created_at,
        "model": { "family": a.model.family(), "params": loaded.manifest.model.params },
        "metrics": loaded.manifest.metrics,
        "decision": a.decision,
        "scorecard": a.scorecard,
        "input": { "fields": fields, "unknown_fields": a.unknown_fields },
    })))
}

/// The OpenAPI document of one pipeline's serving version (champion unless pinned).
async fn pipeline_openapi(
    State(state): State<Arc<AppState>>,
    Path(pipeline): Path<String>,
    Query(q): Query<PredictQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let loaded = state.cache.get(&pipeline, q.version.as_deref()).await?;
    pipeline_document(
        &pipeline,
        loaded.scorer.artifact(),
        state.config.max_records,
    )
    .map(Json)
    .ok_or(ApiError::Internal)
}

/// The general document narrowed to one pipeline: its predict route at its own path, and
/// `Record` with the version's fields, JSON types and required fields.
pub fn pipeline_document(
    pipeline: &str,
    a: &riskfn_core::contract::artifact::ScoringArtifact,
    max_records: usize,
) -> Option<serde_json::Value> {
    use riskfn_core::features::value::DataType;
    use serde_json::json;
    // The general document, parsed once.
    static GENERAL: std::sync::LazyLock<Option<serde_json::Value>> =
        std::sync::LazyLock::new(|| serde_json::from_str(OPENAPI).ok());
    let mut doc = GENERAL.clone()?;
    let mut predict = doc["paths"]["/v1/pipelines/{pipeline}/predict"].take();
    let post = predict.get_mut("post")?;
    post["parameters"] = json!([{ "$ref": "#/components/parameters/Version" }]);
    post["requestBody"]["content"]["application/json"]["schema"]["oneOf"][1]["maxItems"] =
        json!(max_records);
    let mut properties = serde_json::Map::new();
    let mut required = Vec::new();
    // A refusing version's rules that bound one number are part of the record's type.
    let population = &a.population;
    let bounds: Vec<(usize, &str, serde_json::Value)> = match population.outside {
        Outside::Refuse => population.rules.iter().filter_map(bound).collect(),
        Outside::Flag => Vec::new(),
    };
    for (i, f) in a.raw_schema.fields.iter().enumerate() {
        let t = match f.data_type {
            DataType::Bool => "boolean",
            DataType::Int => "integer",
            DataType::Float => "number",
            DataType::Str => "string",
        };
        let bounded = bounds.iter().filter(|b| b.0 == i);
        // NULL breaks a bound as SQL's WHERE drops it: a bounded field is required.
        let mut schema = if f.nullable && bounded.clone().next().is_none() {
            json!({ "type": [t, "null"] })
        } else {
            required.push(f.name.clone());
            json!({ "type": t })
        };
        if f.data_type == DataType::Int {
            schema["minimum"] = json!(-riskfn_core::features::schema::MAX_EXACT_INT);
            schema["maximum"] = json!(riskfn_core::features::schema::MAX_EXACT_INT);
        }
        for (_, keyword, value) in bounded {
            schema[*keyword] = value.clone();
        }
        let levels = known_levels(a, i);
        if !levels.is_empty() {
            schema["examples"] = json!(levels);
            schema["description"] = json!(format!(
                "Levels seen in training: {}. Any other value is accepted and encodes as a level unseen in training.",
                levels
                    .iter()
                    .map(|l| l.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        properties.insert(f.name.clone(), schema);
    }
    let accepts_unknown = a.unknown_fields == riskfn_core::features::schema::UnknownFields::Ignore;
    let rules: Vec<&str> = population.rules.iter().map(|r| r.rule.as_str()).collect();
    let outside = match (rules.is_empty(), population.outside) {
        (true, _) => String::new(),
        (false, Outside::Refuse) => format!(
            "; a record must meet {} (the population the model was built for), else 422",
            rules.join(" and ")
        ),
        (false, Outside::Flag) => format!(
            "; a record that does not meet {} is scored and flagged in outside_population",
            rules.join(" and ")
        ),
    };
    doc["components"]["schemas"]["Record"] = json!({
        "type": "object",
        "description": format!(
            "A raw applicant record of {pipeline} version {}: a category level unseen in training is accepted (it encodes as no known level); {}{outside}",
            a.version,
            if accepts_unknown { "other fields are ignored" } else { "other fields are refused (400)" }
        ),
        "properties": properties,
        "required": required,
        "additionalProperties": accepts_unknown,
    });
    doc["info"]["title"] = json!(format!("riskfn prediction API: {pipeline}"));
    doc["info"]["version"] = json!(a.version);
    doc["paths"] = json!({ format!("/v1/pipelines/{pipeline}/predict"): predict });
    Some(doc)
}

/// A population rule that bounds one number field (`field > 0`, `10 >= field`): the
/// field, its JSON Schema keyword and the bound.
fn bound(
    rule: &riskfn_core::features::population::Rule,
) -> Option<(usize, &'static str, serde_json::Value)> {
    use riskfn_core::features::expr::{BinaryOp, Expr};
    use riskfn_core::features::value::Value;
    let Expr::Binary { op, left, right } = &rule.expr else {
        return None;
    };
    let number = |e: &Expr| match e {
        Expr::Literal(l) => match l.value() {
            Value::Int(i) => Some(serde_json::json!(i)),
            Value::Float(x) if x.is_finite() => Some(serde_json::json!(x)),
            _ => None,
        },
        _ => None,
    };
    if !matches!(
        op,
        BinaryOp::Gt | BinaryOp::GtEq | BinaryOp::Lt | BinaryOp::LtEq
    ) {
        return None;
    }
    // `field op bound`, or `bound op field` read the other way round.
    let (field, value, flipped) = match (left.as_ref(), right.as_ref()) {
        (Expr::Column(i), r) => (*i, number(r)?, false),
        (l, Expr::Column(i)) => (*i, number(l)?, true),
        _ => return None,
    };
    let above = matches!(op, BinaryOp::Gt | BinaryOp::GtEq) != flipped;
    let inclusive = matches!(op, BinaryOp::GtEq | BinaryOp::LtEq);
    let keyword = match (above, inclusive) {
        (true, true) => "minimum",
        (true, false) => "exclusiveMinimum",
        (false, true) => "maximum",
        (false, false) => "exclusiveMaximum",
    };
    Some((field, keyword, value))
}

/// The training levels of raw field `i` where a one-hot feature reads it as it is, as JSON
/// values of the field's type (the `missing` level stands for null, not a value).
fn known_levels(
    a: &riskfn_core::contract::artifact::ScoringArtifact,
    i: usize,
) -> Vec<serde_json::Value> {
    use riskfn_core::features::expr::Expr;
    use riskfn_core::features::preprocess::MISSING_LEVEL;
    use riskfn_core::features::value::DataType;
    let data_type = a.raw_schema.fields[i].data_type;
    let mut out: Vec<serde_json::Value> = a
        .features
        .iter()
        .filter(|f| f.expr == Expr::Column(i))
        .filter_map(|f| f.encoding.levels().map(|(levels, _)| levels))
        .flatten()
        .filter(|l| *l != MISSING_LEVEL)
        .filter_map(|l| match data_type {
            DataType::Str => Some(serde_json::Value::from(l.as_str())),
            DataType::Int => l.parse::<i64>().ok().map(serde_json::Value::from),
            DataType::Bool => l.parse::<bool>().ok().map(serde_json::Value::from),
            DataType::Float => None,
        })
        .collect();
    out.dedup();
    out
}

/// HTML when the caller's `Accept` names `text/html` before any JSON type (a browser), else
/// JSON.
pub(crate) fn wants_html(headers: &axum::http::HeaderMap) -> bool {
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let html = accept.find("text/html");
    let json = accept.find("application/json");
    match (html, json) {
        (Some(h), Some(j)) => h < j,
        (h, _) => h.is_some(),
    }
}

/// A version's model card, as published, with its promotion history from the audit
/// records.
async fn card(
    State(state): State<Arc<AppState>>,
    Path((pipeline, version)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    use riskfn_core::contract::card::{CARD_JSON, ModelCard};
    use riskfn_core::registry::audit::history;
    let registry = state.cache.registry();
    let manifest = registry.manifest(&pipeline, &version).await?;
    if !manifest.files.contains_key(CARD_JSON) {
        return Err(ApiError::NotFound(format!(
            "version {version} of pipeline {pipeline} has no model card (published before cards)"
        )));
    }
    let bytes = registry.read_verified(&manifest, CARD_JSON).await?;
    let mut card: ModelCard = serde_json::from_slice(&bytes).map_err(|e| {
        tracing::error!(%pipeline, %version, error = %e, "unreadable model card");
        ApiError::Internal
    })?;
    let records = audit::version_records(registry.store().as_ref(), &pipeline, &version).await?;
    card.history = history(&records, &version);
    Ok(if wants_html(&headers) {
        (
            [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
            card.to_html(),
        )
            .into_response()
    } else {
        Json(card).into_response()
    })
}

#[derive(Debug, Serialize)]
struct Single<'a> {
    pipeline: &'a str,
    version: &'a str,
    model_sha256: &'a str,
    #[serde(flatten)]
    score: &'a Score,
}

#[derive(Debug, Serialize)]
struct Many<'a> {
    pipeline: &'a str,
    version: &'a str,
    model_sha256: &'a str,
    predictions: &'a [Score],
}

/// The records of a request body, as byte ranges of it: one object, or a bounded non-empty
/// list of objects. The body is checked as JSON once here; each record is then read straight
/// into its typed row (no `serde_json::Value` in between).
fn records(body: &[u8], config: &Config) -> Result<(Vec<std::ops::Range<usize>>, bool), ApiError> {
    use serde_json::value::RawValue;
    let not_json = |e: serde_json::Error| {
        // Position only: serde's messages can quote the offending text.
        ApiError::BadBody(format!(
            "body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    };
    let span = |raw: &RawValue| {
        let start = raw.get().as_ptr() as usize - body.as_ptr() as usize;
        start..start + raw.get().len()
    };
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {
            let raw: &RawValue = serde_json::from_slice(body).map_err(not_json)?;
            Ok((vec![span(raw)], false))
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_slice(body).map_err(not_json)?;
            if items.is_empty() {
                return Err(ApiError::BadBody("empty list of records".into()));
            }
            if items.len() > config.max_records {
                return Err(ApiError::TooLarge(format!(
                    "{} records; at most {} per request",
                    items.len(),
                    config.max_records
                )));
            }
            Ok((items.into_iter().map(span).collect(), true))
        }
        _ => {
            serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(not_json)?;
            Err(ApiError::BadBody(
                "body must be an applicant object or a list of them".into(),
            ))
        }
    }
}

/// Record `r` of a body [`records`] has checked (valid UTF-8 JSON).
fn text(body: &[u8], r: std::ops::Range<usize>) -> &str {
    std::str::from_utf8(&body[r]).unwrap_or("")
}

/// The request's id: the caller's `x-request-id` (if short and plain), Lambda's request
/// id, or a fresh one.
fn request_id(headers: &axum::http::HeaderMap, lambda: Option<&lambda_http::Context>) -> String {
    let given = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|s| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    match (given, lambda) {
        (Some(id), _) => id.to_owned(),
        (None, Some(c)) => c.request_id.clone(),
        (None, None) => unique_id(),
    }
}

async fn predict(
    State(state): State<Arc<AppState>>,
    Path(pipeline): Path<String>,
    Query(q): Query<PredictQuery>,
    Extension(caller): Extension<Caller>,
    lambda: Option<Extension<lambda_http::Context>>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(format!("body over {} bytes", state.config.max_body_bytes))
        } else {
            ApiError::BadBody("the body could not be read".into())
        }
    })?;
    let (records, is_list) = records(&body, &state.config)?;
    let loaded = state.cache.get(&pipeline, q.version.as_deref()).await?;
    let scorer = &loaded.scorer;
    let mut scores = Vec::with_capacity(records.len());
    let mut rows = Vec::with_capacity(records.len());
    let (mut bad_fields, mut undefined, mut outside) = (Vec::new(), Vec::new(), Vec::new());
    for (i, r) in records.iter().enumerate() {
        let index = is_list.then_some(i);
        match scorer
            .parse_json(text(&body, r.clone()))
            .and_then(|row| Ok((scorer.score_row(&row, true)?, row)))
        {
            Ok((s, row)) => {
                scores.push(s);
                rows.push(row);
            }
            Err(RecordError::Fields(f)) => bad_fields.extend(ApiError::fields(index, f)),
            Err(RecordError::Feature { feature, error }) => undefined.push(FieldFault {
                record: index,
                field: feature,
                problem: error.to_string(),
            }),
            Err(RecordError::OutsidePopulation { rule }) => outside.push(RuleFault {
                record: index,
                rule,
            }),
        }
    }
    if !bad_fields.is_empty() {
        return Err(ApiError::Fields(bad_fields));
    }
    if !undefined.is_empty() {
        return Err(ApiError::Unprocessable(undefined));
    }
    if !outside.is_empty() {
        return Err(ApiError::OutsidePopulation(outside));
    }
    let (version, sha) = (scorer.version(), scorer.content_sha256());
    // Serialized now: the scores then move into the audit work.
    let response = if is_list {
        Json(Many {
            pipeline: &pipeline,
            version,
            model_sha256: sha,
            predictions: &scores,
        })
        .into_response()
    } else {
        Json(Single {
            pipeline: &pipeline,
            version,
            model_sha256: sha,
            score: scores.first().ok_or(ApiError::Internal)?,
        })
        .into_response()
    };
    let work = Audit {
        request: request_id(&headers, lambda.as_ref().map(|e| &e.0)),
        caller: caller.name,
        pipeline,
        // A pinned request asked for one version; only champion traffic is shadowed.
        shadowed: q.version.is_none(),
        champion: loaded.clone(),
        body,
        records,
        rows,
        scores,
        is_list,
    };
    if state.config.audit_required {
        // No stored record, no decision.
        work.run(state.clone())
            .await
            .map_err(|_| ApiError::AuditUnavailable)?;
    } else if state.config.audit_after_response {
        // Tracked: a stopping server finishes it before it exits.
        let s = state.clone();
        state.audit.tasks.spawn(async move {
            let _ = work.run(s).await;
        });
    } else {
        // Under Lambda: stored before the answer, while the sandbox still runs.
        let _ = work.run(state.clone()).await;
    }
    Ok(response)
}

/// What a prediction leaves behind: one audit record per scored record, holding the
/// challenger's answer when one is in shadow.
struct Audit {
    request: String,
    caller: String,
    pipeline: String,
    shadowed: bool,
    champion: Arc<riskfn_core::scoring::loaded::LoadedVersion>,
    /// The request body, and where each record sits in it (for the challenger).
    body: Bytes,
    records: Vec<std::ops::Range<usize>>,
    /// Each record's raw row as the champion read it (for the input hash).
    rows: Vec<Vec<riskfn_core::features::value::Value>>,
    scores: Vec<Score>,
    is_list: bool,
}

impl Audit {
    /// Log the records (and the challenger's answers), and store them if configured: an
    /// error only if they were to be stored and could not be (counted and logged).
    async fn run(self, state: Arc<AppState>) -> riskfn_core::Result<()> {
        let champion = &self.champion.scorer;
        let challenger = if self.shadowed {
            match state
                .cache
                .challenger(&self.pipeline, champion.version())
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(pipeline = %self.pipeline, error = %e, "challenger not loaded; not shadowed");
                    None
                }
            }
        } else {
            None
        };
        let codes = |s: &Score| s.reasons.iter().map(|r| r.code.to_string()).collect();
        let hasher =
            audit::InputHasher::new(&state.config.audit_salt, &champion.artifact().raw_schema);
        // One time for the request's records: they were scored together.
        let at = riskfn_core::registry::now_rfc3339();
        let same_fields = challenger.as_ref().is_some_and(|c| {
            let (a, b) = (c.scorer.artifact(), champion.artifact());
            a.raw_schema == b.raw_schema && a.unknown_fields == b.unknown_fields
        });
        let mut scratch = riskfn_core::scoring::Scratch::default();
        let audit: Vec<audit::Record> = self
            .records
            .iter()
            .zip(&self.rows)
            .zip(&self.scores)
            .enumerate()
            .map(|(i, ((r, row), s))| {
                let shadow = challenger.as_ref().and_then(|c| {
                    let c = &c.scorer;
                    // The same raw fields (the usual case): the champion's row serves both.
                    let scored = if same_fields {
                        c.score_with(row, true, &mut scratch)
                    } else {
                        c.parse_json(text(&self.body, r.clone()))
                            .and_then(|own| c.score_with(&own, true, &mut scratch))
                    };
                    match scored {
                        Ok(cs) => Some(Box::new(audit::Shadow {
                            version: c.version().to_owned(),
                            model_sha256: c.content_sha256().to_owned(),
                            decision: c.decision_label(cs.adverse).to_string(),
                            probability: cs.probability,
                            reasons: scratch
                                .reasons()
                                .iter()
                                .map(|&f| c.reason_code(f).to_owned())
                                .collect(),
                        })),
                        Err(e) => {
                            tracing::warn!(pipeline = %self.pipeline, version = c.version(), error = %e, "challenger did not score a record");
                            None
                        }
                    }
                });
                audit::Record {
                    at: at.clone(),
                    event: audit::Event::Prediction {
                    request_id: self.request.clone(),
                    caller: self.caller.clone(),
                    pipeline: self.pipeline.clone(),
                    version: champion.version().to_owned(),
                    model_sha256: champion.content_sha256().to_owned(),
                    input_sha256: hasher.hash(row),
                    decision: s.decision.to_string(),
                    probability: s.probability,
                    reasons: codes(s),
                    outside_population: s.outside_population.as_deref().map(str::to_owned),
                    index: self.is_list.then_some(i),
                    challenger: shadow,
                    },
                }
            })
            .collect();
        audit.iter().for_each(audit::Record::log);
        if state.config.audit_to_store {
            store_audit(&state, &audit, &self.request).await?;
        }
        Ok(())
    }
}

/// Waits before each retry of an audit write: about 2 s in all.
const AUDIT_RETRIES: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(400),
    Duration::from_millis(1600),
];

/// Store a request's audit records, retrying a failed write; each retry and a final
/// failure counted in [`AppState::audit`] and logged.
async fn store_audit(
    state: &AppState,
    records: &[audit::Record],
    request: &str,
) -> riskfn_core::Result<()> {
    let store = state.cache.registry().store();
    let trail = &state.audit;
    let mut name = request.to_owned();
    let mut waits = AUDIT_RETRIES.iter();
    loop {
        let e = match audit::store_predictions(store.as_ref(), records, &name).await {
            Ok(()) => {
                trail.stored.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Err(e) => e,
        };
        // The request id was used before (a caller's x-request-id): a name of its own. (An
        // earlier try whose answer was lost finds its own bytes there: stored, above.)
        if matches!(e, riskfn_core::Error::PreconditionFailed { .. }) && name == request {
            name = format!("{request}-{}", unique_id());
            continue;
        }
        let Some(&wait) = waits.next() else {
            trail.failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(request, error = %e, "audit records not stored after every retry");
            return Err(e);
        };
        trail.retried.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(request, error = %e, "audit write failed; retrying");
        tokio::time::sleep(wait).await;
    }
}

/// An id no other request of this process is given: time, process, a counter.
fn unique_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    format!("{t:x}-{}-{n}", std::process::id())
}
