//! The batch job's error type, grouped by who is at fault: the pipeline's config or SQL,
//! the data, the store, or a bug.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // --- the pipeline's config or SQL ---
    #[error("pipeline config {path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("SQL in {file}: {message}")]
    Sql { file: String, message: String },
    #[error("feature {feature} cannot run online: {reason}")]
    NotRowLocal { feature: String, reason: String },
    #[error(
        "population filter {rule} cannot run online: {reason} (the service could not tell whether a record is one the model was built for)"
    )]
    FilterNotOnline { rule: String, reason: String },
    #[error("column {column:?} not found in {relation} (columns: {available})")]
    MissingColumn {
        column: String,
        relation: String,
        available: String,
    },
    #[error("column {column}: {message}")]
    ColumnType { column: String, message: String },

    // --- the data ---
    #[error("cannot read {source_uri}: {message}")]
    Source { source_uri: String, message: String },
    #[error("data: {0}")]
    Data(String),
    #[error("import: {0}")]
    Import(#[from] crate::import::ImportError),
    #[error(
        "online and DataFusion disagree on {what} for row {row_id}: online {online}, DataFusion {engine}"
    )]
    Parity {
        /// The feature or the population filter.
        what: String,
        row_id: u64,
        online: String,
        engine: String,
    },

    // --- the engine ---
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("engine {engine}: {message}")]
    Engine { engine: String, message: String },

    // --- training ---
    #[error(transparent)]
    Training(#[from] riskfn_train::TrainError),

    // --- the store and the registry ---
    #[error(transparent)]
    Core(#[from] riskfn_core::Error),

    #[error("DataFusion: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
