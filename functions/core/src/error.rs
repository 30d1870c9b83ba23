//! The core crate's error type, grouped by who is at fault: the caller's input, the store,
//! the artifact, or a bug.

use crate::features::schema::FieldError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // --- the caller's request ---
    /// One or more fields of an applicant record are at fault. Never carries their values.
    #[error("invalid applicant record: {}", FieldError::summary(.0))]
    Input(Vec<FieldError>),
    #[error("{what} not found")]
    NotFound { what: String },
    /// The registry refuses the operation as asked (e.g. no earlier champion to roll back to).
    #[error("{0}")]
    Refused(String),
    /// The caller may not do this (e.g. approve a version it trained or proposed).
    #[error("{0}")]
    Forbidden(String),
    #[error("invalid name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },

    // --- the store ---
    /// A setting read from the environment that cannot be used.
    #[error("environment variable {name}: {message}")]
    Setting { name: &'static str, message: String },
    #[error("store {location}: {message}")]
    Store { location: String, message: String },
    /// A conditional write lost: the object exists (create) or changed (update).
    #[error("conditional write to {key} refused: the object {reason}")]
    PreconditionFailed { key: String, reason: &'static str },

    // --- an artifact ---
    #[error("integrity check failed for {file}: sha256 {actual}, manifest says {expected}")]
    Integrity {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("cannot read {what}: {source}")]
    Format {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("artifact {what} is inconsistent: {reason}")]
    Artifact { what: String, reason: String },
}

impl Error {
    pub fn store(location: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Error::Store {
            location: location.into(),
            message: message.to_string(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound { what: what.into() }
    }
}
