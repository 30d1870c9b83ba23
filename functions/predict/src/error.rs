//! Errors at the HTTP boundary: 4xx that name the field at fault, never its value; a generic
//! 5xx whose cause is only logged.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use riskfn_core::Error;
use riskfn_core::features::schema::FieldError;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct FieldFault {
    /// Index of the record in a list request (absent for a single record).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<usize>,
    pub field: String,
    pub problem: String,
}

/// A record outside the population the version was built for: the rule it breaks.
#[derive(Debug, Serialize)]
pub struct RuleFault {
    /// Index of the record in a list request (absent for a single record).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<usize>,
    pub rule: String,
}

#[derive(Debug)]
pub enum ApiError {
    /// 400: the body is not JSON, or not an object / list of objects.
    BadBody(String),
    /// 400: records failed validation; every fault listed.
    Fields(Vec<FieldFault>),
    /// 422: a feature is undefined for a record's values (e.g. a ratio over zero).
    Unprocessable(Vec<FieldFault>),
    /// 422: records outside the population the version was built for (a filter of its
    /// SQL), and the version refuses such records.
    OutsidePopulation(Vec<RuleFault>),
    /// 413: too many records or too large a body.
    TooLarge(String),
    /// 404: unknown pipeline or version.
    NotFound(String),
    /// 403: the caller may not do this (no such role, or four eyes).
    Forbidden(String),
    /// 409: not possible in the registry's present state (nothing to approve, already
    /// champion, a concurrent change).
    Conflict(String),
    /// 503: the store could not be reached and nothing cached can answer.
    Unavailable,
    /// 503: auditing is required and the decision's record could not be stored: no
    /// decision is given.
    AuditUnavailable,
    /// 500: logged in full, answered generically.
    Internal,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a [FieldFault]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rules: Option<&'a [RuleFault]>,
}

impl ApiError {
    pub fn fields(record: Option<usize>, errors: Vec<FieldError>) -> Vec<FieldFault> {
        errors
            .into_iter()
            .map(|e| FieldFault {
                record,
                problem: e.problem.to_string(),
                field: e.field,
            })
            .collect()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound { what } => ApiError::NotFound(format!("{what} not found")),
            Error::InvalidName { reason, .. } => {
                ApiError::NotFound(format!("no such name ({reason})"))
            }
            Error::Input(f) => ApiError::Fields(ApiError::fields(None, f)),
            Error::Forbidden(m) => ApiError::Forbidden(m),
            Error::Refused(m) => ApiError::Conflict(m),
            Error::PreconditionFailed { .. } => ApiError::Conflict(
                "the registry changed while this was being done; read it again and retry".into(),
            ),
            Error::Store { .. } => {
                tracing::error!(error = %e, "store unavailable");
                ApiError::Unavailable
            }
            other => {
                tracing::error!(error = %other, "internal error");
                ApiError::Internal
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, fields) = match &self {
            ApiError::BadBody(m) => (StatusCode::BAD_REQUEST, "bad_request", m.clone(), None),
            ApiError::Fields(f) => (
                StatusCode::BAD_REQUEST,
                "invalid_fields",
                format!("{} field error(s)", f.len()),
                Some(f.as_slice()),
            ),
            ApiError::Unprocessable(f) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "undefined_feature",
                "a feature is undefined for these values".to_owned(),
                Some(f.as_slice()),
            ),
            ApiError::OutsidePopulation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "outside_population",
                "outside the population the model was built for".to_owned(),
                None,
            ),
            ApiError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large", m.clone(), None),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m.clone(), None),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m.clone(), None),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m.clone(), None),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "model store unavailable, try again".to_owned(),
                None,
            ),
            ApiError::AuditUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the decision could not be recorded, so none is given; try again".to_owned(),
                None,
            ),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error".to_owned(),
                None,
            ),
        };
        let rules = match &self {
            ApiError::OutsidePopulation(r) => Some(r.as_slice()),
            _ => None,
        };
        let body = Body {
            error: code,
            message,
            fields,
            rules,
        };
        (status, Json(body)).into_response()
    }
}
