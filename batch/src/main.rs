//! `riskfn`: train, score and serve credit-risk models.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use riskfn_batch::job::{self, ScoreOptions, TrainOptions, TrainReport};
use riskfn_core::s3::S3Settings;

#[derive(Debug, Parser)]
#[command(
    name = "riskfn",
    version,
    about = "Credit-risk models: SQL features, training, scoring, serving"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a pipeline, evaluate it and publish a new version to the store.
    Train {
        /// Pipeline name (a folder under --sql-dir) or path to a pipeline folder.
        #[arg(long)]
        pipeline: String,
        #[arg(long, env = "RISKFN_SQL_DIR", default_value = "sql")]
        sql_dir: PathBuf,
        /// Source data (Parquet/CSV file or folder); default: the pipeline's own.
        #[arg(long)]
        data: Option<String>,
        /// Model store: a folder, file:///path or s3://bucket/prefix.
        #[arg(long, env = "RISKFN_STORE", default_value = riskfn_predict::config::DEFAULT_STORE)]
        store: String,
        /// Print the run's report as JSON.
        #[arg(long)]
        json: bool,
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
        #[arg(long)]
        out: PathBuf,
        #[arg(long, env = "RISKFN_STORE", default_value = riskfn_predict::config::DEFAULT_STORE)]
        store: String,
        #[arg(long)]
        json: bool,
    },
    /// Serve the prediction API locally (the same handlers as the Lambda).
    Serve {
        #[arg(long, env = "RISKFN_STORE", default_value = riskfn_predict::config::DEFAULT_STORE)]
        store: String,
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RISKFN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Train {
            pipeline,
            sql_dir,
            data,
            store,
            json,
        } => {
            let report = job::train(&TrainOptions {
                pipeline,
                sql_dir,
                data,
                store,
                s3: S3Settings::from_env(),
            })
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_train(&report);
            }
        }
        Command::Score {
            pipeline,
            version,
            data,
            out,
            store,
            json,
        } => {
            let r = job::score(&ScoreOptions {
                pipeline,
                version,
                data,
                out,
                store,
                s3: S3Settings::from_env(),
            })
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "scored {} of {} rows of {} with {} {} -> {} ({} failed validation)",
                    r.scored, r.rows, r.pipeline, r.pipeline, r.version, r.out, r.failed
                );
            }
        }
        Command::Serve { store, addr } => {
            let config = riskfn_predict::Config {
                store,
                ..riskfn_predict::Config::from_env()?
            };
            let state = riskfn_predict::AppState::open(config).await?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("bind {addr}"))?;
            eprintln!("serving on http://{addr} (ctrl-c to stop)");
            riskfn_predict::serve(listener, state).await?;
        }
    }
    Ok(())
}

fn print_train(r: &TrainReport) {
    println!("pipeline  {}", r.pipeline);
    println!(
        "version   {}{}",
        r.version,
        if r.champion { "  (champion)" } else { "" }
    );
    println!("store     {}", r.store);
    let params: Vec<String> = r
        .model
        .params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    println!(
        "model     {} ({}), {} inputs{}",
        r.model.family,
        params.join(", "),
        r.model.n_inputs,
        if r.model.converged {
            ""
        } else {
            ", NOT converged"
        }
    );
    let split = |name: &str| {
        r.data
            .split
            .get(name)
            .map(|c| format!("{}/{}", c.rows, c.positives))
            .unwrap_or_default()
    };
    println!(
        "data      {} rows read, {} duplicates dropped, {} filtered; rows/adverse: train {}, validation {}, test {}",
        r.data.rows_read,
        r.data.duplicates_dropped,
        r.data.rows_filtered,
        split("train"),
        split("validation"),
        split("test")
    );
    println!();
    println!("{:<12} {:>10} {:>10}", "metric", "validation", "test");
    let (v, t) = (&r.metrics.validation, &r.metrics.test);
    let rows: [(&str, f64, f64); 10] = [
        ("roc_auc", v.roc_auc, t.roc_auc),
        ("ks", v.ks, t.ks),
        ("gini", v.gini, t.gini),
        ("accuracy", v.accuracy, t.accuracy),
        ("precision", v.precision, t.precision),
        ("recall", v.recall, t.recall),
        ("f1", v.f1, t.f1),
        ("brier", v.brier, t.brier),
        ("log_loss", v.log_loss, t.log_loss),
        ("threshold", v.threshold, t.threshold),
    ];
    for (name, a, b) in rows {
        println!("{name:<12} {a:>10.4} {b:>10.4}");
    }
}
