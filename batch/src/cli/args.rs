//! The command line's arguments (clap): every command and its options.

use clap::{Args, Parser, Subcommand};
use riskfn_batch::source::engine::{Engine, EngineOptions};
use riskfn_predict::config::DEFAULT_STORE;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "riskfn",
    version,
    about = "Credit-risk models: SQL features, training, scoring, serving"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Args)]
pub(crate) struct StoreArg {
    /// Model store: a folder, file:///path or s3://bucket/prefix.
    #[arg(long, env = "RISKFN_STORE", default_value = DEFAULT_STORE)]
    pub(crate) store: String,
}

#[derive(Debug, Args)]
pub(crate) struct EngineArg {
    /// Where the batch SQL runs: local (this process), standalone (a Ballista scheduler and
    /// executor started in this process) or df://host:port (a Ballista cluster's scheduler).
    #[arg(long, env = "RISKFN_ENGINE", default_value = "local")]
    pub(crate) engine: Engine,
    /// On a cluster: a folder or s3://bucket/prefix its executors can read, where the
    /// source is staged with its row numbers (default for standalone: a temporary folder).
    #[arg(long, env = "RISKFN_STAGE")]
    pub(crate) stage: Option<String>,
    /// On a cluster: seconds the first query may wait before the cluster is called
    /// unavailable (a scheduler with no executor queues jobs for ever).
    #[arg(long, env = "RISKFN_ENGINE_TIMEOUT", default_value_t = riskfn_batch::source::engine::PROBE_TIMEOUT.as_secs())]
    pub(crate) engine_timeout: u64,
}

impl EngineArg {
    pub(crate) fn options(self) -> EngineOptions {
        EngineOptions {
            engine: self.engine,
            stage: self.stage,
            probe_timeout: std::time::Duration::from_secs(self.engine_timeout),
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Train a pipeline, evaluate it, publish a new version and promote it if it passes the gate.
    Train {
        /// Pipeline name (a folder under --sql-dir) or path to a pipeline folder.
        #[arg(long)]
        pipeline: String,
        #[arg(long, env = "RISKFN_SQL_DIR", default_value = "sql")]
        sql_dir: PathBuf,
        /// Source data (Parquet/CSV file or folder, s3://...); default: the pipeline's own.
        #[arg(long)]
        data: Option<String>,
        #[command(flatten)]
        engine: EngineArg,
        #[command(flatten)]
        store: StoreArg,
        /// Promote even if the gate refuses.
        #[arg(long)]
        force: bool,
        /// Train only these families (comma-separated), e.g. logistic_regression,gaussian_nb.
        #[arg(long, value_delimiter = ',')]
        families: Option<Vec<String>>,
        /// Print the run's report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Train, gate, publish and report in one step, unless a version was already trained
    /// from the very same inputs (safe on a schedule). Exit 0: trained and promoted, or
    /// unchanged and champion; 10: not champion; 1: failed.
    Retrain {
        /// Pipeline name, folder, or s3://bucket/prefix/<pipeline>/.
        #[arg(long)]
        pipeline: String,
        #[arg(long, env = "RISKFN_SQL_DIR", default_value = "sql")]
        sql_dir: PathBuf,
        #[arg(long)]
        data: Option<String>,
        #[command(flatten)]
        engine: EngineArg,
        #[command(flatten)]
        store: StoreArg,
        /// Train only these families (comma-separated).
        #[arg(long, value_delimiter = ',')]
        families: Option<Vec<String>>,
        #[arg(long)]
        json: bool,
    },
    /// Run a pipeline's cleaning, SQL, split and preprocessing fit without training: check
    /// the SQL and see the feature table (and time it).
    Prepare {
        #[arg(long)]
        pipeline: String,
        #[arg(long, env = "RISKFN_SQL_DIR", default_value = "sql")]
        sql_dir: PathBuf,
        #[arg(long)]
        data: Option<String>,
        #[command(flatten)]
        engine: EngineArg,
        #[arg(long)]
        json: bool,
        /// Also write each split's encoded design matrix as CSV into this folder.
        #[arg(long)]
        design_out: Option<PathBuf>,
    },
    /// Score a data file with a published version; writes Parquet.
    Score {
        #[arg(long)]
        pipeline: String,
        /// A pinned version; default: the champion.
        #[arg(long)]
        version: Option<String>,
        #[arg(long)]
        data: String,
        #[command(flatten)]
        engine: EngineArg,
        #[arg(long)]
        out: PathBuf,
        /// Leave the reasons column empty: probability, decision and points only (reasons
        /// of non-linear models cost one extra model evaluation per feature).
        #[arg(long)]
        no_reasons: bool,
        #[command(flatten)]
        store: StoreArg,
        #[arg(long)]
        json: bool,
    },
    /// Compare a batch with a version's training baseline: PSI of the score, CSI of each
    /// feature (below 0.1 stable, 0.1-0.25 watch, above 0.25 act), and approvals by
    /// protected group. Exit 20 above the pipeline's threshold, or with a group's adverse
    /// impact ratio below the gate's `min_adverse_impact_ratio`.
    Drift {
        #[arg(long)]
        pipeline: String,
        #[arg(long)]
        version: Option<String>,
        #[arg(long)]
        data: String,
        #[command(flatten)]
        engine: EngineArg,
        #[command(flatten)]
        store: StoreArg,
        #[arg(long)]
        json: bool,
    },
    /// Run SQL over data files with `riskfn_predict('<pipeline>', field, ...)` available;
    /// prints the first rows, or writes Parquet.
    Sql {
        /// A pipeline whose champion riskfn_predict may call (repeatable).
        #[arg(long = "pipeline")]
        pipelines: Vec<String>,
        /// name=uri: a Parquet/CSV file, folder or s3:// source to query as a table (repeatable).
        #[arg(long = "table", value_parser = parse_table)]
        tables: Vec<(String, String)>,
        #[arg(long)]
        query: String,
        /// Write the result as Parquet instead of printing it.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Outcomes: load what became of the applicants, and back-test the versions that
    /// scored them.
    Outcomes {
        #[command(subcommand)]
        command: OutcomesCommand,
    },
    /// The model registry: list, show, promote, roll back, shadow, compare, export.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Serve the prediction API locally (the same handlers as the Lambda).
    Serve {
        #[command(flatten)]
        store: StoreArg,
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Serve without API keys (development only).
        #[arg(long)]
        no_auth: bool,
    },
}

/// A decision on a proposed version, and why (kept in the audit record).
#[derive(Debug, clap::Args)]
pub(crate) struct Decide {
    #[arg(long)]
    pub(crate) pipeline: String,
    #[arg(long)]
    pub(crate) version: String,
    #[arg(long)]
    pub(crate) reason: String,
    #[command(flatten)]
    pub(crate) store: StoreArg,
}

#[derive(Debug, Subcommand)]
pub(crate) enum OutcomesCommand {
    /// Join an outcome file (columns id, outcome, observed_at, and index for list
    /// requests) to the stored decisions, and keep it in the store.
    Load {
        #[arg(long)]
        pipeline: String,
        #[arg(long, env = "RISKFN_SQL_DIR", default_value = "sql")]
        sql_dir: PathBuf,
        /// Parquet/CSV file or folder, s3://...
        #[arg(long)]
        data: String,
        #[command(flatten)]
        store: StoreArg,
        #[arg(long)]
        json: bool,
    },
    /// Back-test each version on the loaded outcomes, per cohort of decisions.
    Report(BacktestArgs),
    /// As report, for a schedule: exit 30 when a test is red.
    Check(BacktestArgs),
}

#[derive(Debug, Args)]
pub(crate) struct BacktestArgs {
    #[arg(long)]
    pub(crate) pipeline: String,
    #[arg(long, env = "RISKFN_SQL_DIR", default_value = "sql")]
    pub(crate) sql_dir: PathBuf,
    /// Cohorts of decisions by month, quarter or year.
    #[arg(long, default_value = "month")]
    pub(crate) period: riskfn_batch::outcomes::report::Period,
    /// Also write the page (tables and plots) here; the store keeps it either way.
    #[arg(long)]
    pub(crate) html: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) store: StoreArg,
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ModelsCommand {
    /// Complete versions, oldest first, with their scores; `*` marks the champion, `~` the
    /// challenger in shadow.
    List {
        #[arg(long)]
        pipeline: String,
        #[command(flatten)]
        store: StoreArg,
        #[arg(long)]
        json: bool,
    },
    /// A version's manifest (default: the champion's).
    Show {
        #[arg(long)]
        pipeline: String,
        #[arg(long)]
        version: Option<String>,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Publish a model trained elsewhere (LightGBM's text model or JSON dump, XGBoost's JSON or UBJSON
    /// model, a scikit-learn model exported to ONNX, a PMML scorecard) as a version of the
    /// pipeline, whose SQL computes the features it reads (by name): converted into riskfn's
    /// own model types, checked against the library's own probabilities (`--reference`:
    /// rows as the model saw them with a `probability` column; nothing is published if one
    /// differs by more than 1e-6), evaluated on the pipeline's splits, then gated and
    /// promoted like a trained one. Exit 10 when not made champion.
    Import {
        #[arg(long)]
        pipeline: String,
        #[arg(long, env = "RISKFN_SQL_DIR", default_value = "sql")]
        sql_dir: PathBuf,
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        /// Its format: lightgbm (text or JSON dump), xgboost (JSON or UBJSON), onnx or pmml.
        #[arg(long, default_value = "lightgbm")]
        format: String,
        /// The library's own answers on rows as the model saw them (Parquet or CSV).
        #[arg(long)]
        reference: String,
        /// Model feature names that differ from the pipeline's SQL output columns, as
        /// `model_name=sql_column,...` (e.g. `Column_0=duration_months`).
        #[arg(long, value_parser = feature_map)]
        features: Option<FeatureMap>,
        /// Data whose splits evaluate the model (default: the pipeline's own).
        #[arg(long)]
        data: Option<String>,
        /// Publish and promote even if the gate refuses.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        store: StoreArg,
        #[arg(long)]
        json: bool,
    },
    /// Make a version the champion, if it passes the gate against the current one (with
    /// `[gate] approvals`, propose it: it waits for approval by another identity).
    Promote {
        #[arg(long)]
        pipeline: String,
        #[arg(long)]
        version: String,
        /// Why (kept in the audit record).
        #[arg(long)]
        reason: String,
        /// Promote (or propose) even if the gate refuses.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Approve a proposed version, as an identity other than the one that trained or
    /// proposed it (`RISKFN_USER`, else the login); the last approval it needs makes it
    /// champion.
    Approve(Decide),
    /// Refuse a proposed version (or withdraw one's own proposal): it stays a candidate.
    Refuse(Decide),
    /// Return the champion to the previous one.
    Rollback {
        #[arg(long)]
        pipeline: String,
        /// Why (kept in the audit record).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Score every champion request with a challenger too, in shadow: the answer stays the
    /// champion's, the audit record holds both (`--clear` ends the shadow).
    Shadow {
        #[arg(long)]
        pipeline: String,
        #[arg(long, required_unless_present = "clear", conflicts_with = "clear")]
        version: Option<String>,
        #[arg(long)]
        clear: bool,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Compare champion and challenger on the live traffic in the stored audit records:
    /// agreement, the swap sets, PSI and, with outcomes, each one's AUC and bad rate.
    Compare {
        #[arg(long)]
        pipeline: String,
        /// Only records made at or after this time (RFC 3339, or a day: 2026-12-01).
        #[arg(long)]
        since: Option<String>,
        /// Observed outcomes: a Parquet or CSV file with `request_id`, `outcome` (1: went
        /// bad) and, for list requests, `index`.
        #[arg(long)]
        outcomes: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Check that every scored record in a service's log has its audit record in the
    /// store. Exit 0: none missing; 20: some are (listed).
    AuditCheck {
        #[arg(long)]
        pipeline: String,
        /// The service's log: JSON lines (as Lambda writes them) or text lines.
        #[arg(long)]
        log: PathBuf,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Write a version's scorecard (default: the champion's) as one SQL query over the
    /// table `raw`, to run in another warehouse.
    Export {
        #[arg(long)]
        pipeline: String,
        #[arg(long)]
        version: Option<String>,
        /// `sql` (the only format).
        #[arg(long, default_value = "sql")]
        format: String,
        #[command(flatten)]
        store: StoreArg,
    },
}

pub(crate) fn parse_table(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, uri)) if !name.is_empty() && !uri.is_empty() => {
            Ok((name.to_owned(), uri.to_owned()))
        }
        _ => Err(format!("{s:?}: expected name=uri")),
    }
}

/// `--features`: model feature name -> SQL output column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FeatureMap(pub(crate) Vec<(String, String)>);

fn feature_map(s: &str) -> Result<FeatureMap, String> {
    let pairs = (s.split(',').map(str::trim).filter(|p| !p.is_empty()))
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
                Ok((k.trim().to_owned(), v.trim().to_owned()))
            }
            _ => Err(format!("{p:?} is not model_name=sql_column")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    match pairs.is_empty() {
        true => Err("no model_name=sql_column pairs".into()),
        false => Ok(FeatureMap(pairs)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feature_map_is_model_name_equals_sql_column_pairs() {
        let m = feature_map("Column_0=duration_months, f1 = age").unwrap();
        assert_eq!(
            m.0,
            [
                ("Column_0".to_owned(), "duration_months".to_owned()),
                ("f1".to_owned(), "age".to_owned())
            ]
        );
        assert!(
            feature_map("Column_0")
                .unwrap_err()
                .contains("\"Column_0\"")
        );
        assert!(feature_map("=age").is_err() && feature_map(" , ").is_err());
    }
}
