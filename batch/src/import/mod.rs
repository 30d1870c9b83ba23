//! Models trained elsewhere, converted into riskfn's own model types so that the service
//! scores them without their libraries (no C++ runtime in the Lambda).

pub mod lightgbm;
pub mod publish;

/// Why a model file cannot be imported: what it is that riskfn does not take, by name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    #[error("not a {format} model file: {reason}")]
    Malformed {
        format: &'static str,
        reason: String,
    },
    #[error("{format} {what} is not supported: {detail}")]
    Unsupported {
        format: &'static str,
        what: &'static str,
        detail: String,
    },
}
