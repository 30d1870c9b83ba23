//! `riskfn`: train, score and serve credit-risk models.
//!
//! Exit codes: 0 success; 1 failure; 2 usage error; 10 trained (or asked to promote) but not
//! made champion (the gate refused, or another run moved the champion first); 20 drift
//! above the pipeline's threshold.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use riskfn_batch::models::{self, shadow};
use riskfn_batch::score::ScoreOptions;
use riskfn_batch::source::engine::{Engine, EngineOptions};
use riskfn_batch::train::{self, Promotion, TrainOptions, TrainReport};
use riskfn_core::registry::Registry;
use riskfn_core::registry::s3::S3Settings;
use riskfn_core::review;
use riskfn_predict::config::DEFAULT_STORE;

// The batch steps allocate and free many large, short-lived buffers (Arrow arrays, hash
// tables); mimalloc reuses them and backs its arenas with huge pages where the kernel
// allows. `prepare` on 10M rows: a median 1.26 s against glibc malloc's 1.54 s, in six
// rounds of tests/bench/README.md ("late").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXIT_NOT_PROMOTED: u8 = 10;
const EXIT_DRIFT: u8 = 20;

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

#[derive(Debug, Args)]
struct StoreArg {
    /// Model store: a folder, file:///path or s3://bucket/prefix.
    #[arg(long, env = "RISKFN_STORE", default_value = DEFAULT_STORE)]
    store: String,
}

#[derive(Debug, Args)]
struct EngineArg {
    /// Where the batch SQL runs: local (this process), standalone (a Ballista scheduler and
    /// executor started in this process) or df://host:port (a Ballista cluster's scheduler).
    #[arg(long, env = "RISKFN_ENGINE", default_value = "local")]
    engine: Engine,
    /// On a cluster: a folder or s3://bucket/prefix its executors can read, where the
    /// source is staged with its row numbers (default for standalone: a temporary folder).
    #[arg(long, env = "RISKFN_STAGE")]
    stage: Option<String>,
    /// On a cluster: seconds the first query may wait before the cluster is called
    /// unavailable (a scheduler with no executor queues jobs for ever).
    #[arg(long, env = "RISKFN_ENGINE_TIMEOUT", default_value_t = riskfn_batch::source::engine::PROBE_TIMEOUT.as_secs())]
    engine_timeout: u64,
}

impl EngineArg {
    fn options(self) -> EngineOptions {
        EngineOptions {
            engine: self.engine,
            stage: self.stage,
            probe_timeout: std::time::Duration::from_secs(self.engine_timeout),
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
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
struct Decide {
    #[arg(long)]
    pipeline: String,
    #[arg(long)]
    version: String,
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    store: StoreArg,
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
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

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RISKFN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn parse_table(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, uri)) if !name.is_empty() && !uri.is_empty() => {
            Ok((name.to_owned(), uri.to_owned()))
        }
        _ => Err(format!("{s:?}: expected name=uri")),
    }
}

async fn registry(store: &StoreArg) -> anyhow::Result<Registry> {
    Ok(Registry::new(
        riskfn_core::registry::store::open(&store.store).await?,
    ))
}

/// Report what `models promote` or `models approve` did.
fn moved(pipeline: &str, version: &str, p: &Promotion) -> ExitCode {
    if p.is_champion() {
        println!("{version} is now the champion of {pipeline}");
    }
    promotion_exit(pipeline, version, p)
}

/// Report a promotion outcome; the exit code says whether the version is now champion.
fn promotion_exit(pipeline: &str, version: &str, p: &Promotion) -> ExitCode {
    match p {
        Promotion::Promoted { .. } => ExitCode::SUCCESS,
        Promotion::Forced { gate, .. } => {
            eprintln!("warning: {version} promoted by --force although the gate refused: {gate}");
            ExitCode::SUCCESS
        }
        Promotion::Pending {
            approvals,
            required,
        } => {
            eprintln!(
                "not promoted yet: {version} of {pipeline} waits for approval ({approvals} of {required}) by an identity other than its makers (riskfn models approve)"
            );
            ExitCode::from(EXIT_NOT_PROMOTED)
        }
        Promotion::RefusedByGate { reason } => {
            eprintln!("not promoted: {version} stays a candidate of {pipeline}: {reason}");
            ExitCode::from(EXIT_NOT_PROMOTED)
        }
        Promotion::LostRace { champion } => {
            eprintln!(
                "not promoted: another run moved the champion of {pipeline} first (now {}); {version} is published but not champion",
                champion.as_deref().unwrap_or("none")
            );
            ExitCode::from(EXIT_NOT_PROMOTED)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Train {
            pipeline,
            sql_dir,
            data,
            engine,
            store,
            force,
            families,
            json,
        } => {
            let report = train::train(&TrainOptions {
                pipeline,
                sql_dir,
                data,
                store: store.store,
                s3: S3Settings::from_env(),
                force,
                progress: !json,
                families,
                engine: engine.options(),
                by: riskfn_core::review::command_user(),
            })
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_train(&report);
            }
            let promotion = report
                .promotion
                .as_ref()
                .context("training reports its promotion")?;
            Ok(promotion_exit(&report.pipeline, &report.version, promotion))
        }
        Command::Score {
            pipeline,
            version,
            data,
            engine,
            out,
            no_reasons,
            store,
            json,
        } => {
            let r = riskfn_batch::score::score_file(&ScoreOptions {
                pipeline,
                version,
                data,
                out,
                reasons: !no_reasons,
                store: store.store,
                s3: S3Settings::from_env(),
                engine: engine.options(),
            })
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "scored {} of {} rows with {} {} -> {} ({} failed validation)",
                    r.scored, r.rows, r.pipeline, r.version, r.out, r.failed
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Retrain {
            pipeline,
            sql_dir,
            data,
            engine,
            store,
            families,
            json,
        } => {
            let outcome = train::retrain(&TrainOptions {
                pipeline,
                sql_dir,
                data,
                store: store.store,
                s3: S3Settings::from_env(),
                force: false,
                progress: !json,
                families,
                engine: engine.options(),
                by: riskfn_core::review::command_user(),
            })
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&outcome)?);
            }
            match &outcome {
                train::Retrained::Trained(report) => {
                    if !json {
                        print_train(report);
                    }
                    let promotion = report
                        .promotion
                        .as_ref()
                        .context("training reports its promotion")?;
                    Ok(promotion_exit(&report.pipeline, &report.version, promotion))
                }
                train::Retrained::Unchanged {
                    pipeline,
                    version,
                    champion,
                } => {
                    if !json {
                        println!(
                            "{pipeline}: version {version} was trained from these very inputs; nothing to do"
                        );
                    }
                    if *champion {
                        Ok(ExitCode::SUCCESS)
                    } else {
                        eprintln!("not promoted: {version} is not the champion of {pipeline}");
                        Ok(ExitCode::from(EXIT_NOT_PROMOTED))
                    }
                }
            }
        }
        Command::Drift {
            pipeline,
            version,
            data,
            engine,
            store,
            json,
        } => {
            let r = riskfn_batch::drift::drift(&riskfn_batch::drift::DriftOptions {
                pipeline,
                version,
                data,
                store: store.store,
                s3: S3Settings::from_env(),
                engine: engine.options(),
            })
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "{} {}: {} rows ({} failed validation, not counted); threshold {}",
                    r.pipeline, r.version, r.rows, r.rows_failed, r.threshold
                );
                println!("{:<32} {:>8}  band", "", "index");
                println!(
                    "{:<32} {:>8.4}  {}",
                    "score (PSI)", r.score.index, r.score.band
                );
                for f in &r.features {
                    println!(
                        "{:<32} {:>8.4}  {}",
                        format!("{} (CSI)", f.name),
                        f.index,
                        f.band
                    );
                }
            }
            if !json {
                let small_note =
                    format!("  under {} rows", riskfn_core::contract::measures::MIN_ROWS);
                for f in &r.fairness {
                    if let Some(why) = &f.not_measured {
                        println!("\n{}: not measured ({why})", f.attribute);
                        continue;
                    }
                    println!(
                        "\n{} (reference {}){:>12} {:>9} {:>9} {:>9}",
                        f.attribute, f.reference, "rows", "approved", "ratio", "training"
                    );
                    for g in &f.groups {
                        let ratio =
                            |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.3}"));
                        println!(
                            "  {:<30} {:>9} {:>8.1}% {:>9} {:>9}{}",
                            g.group,
                            g.rows,
                            100.0 * g.approval_rate,
                            ratio(g.adverse_impact_ratio),
                            ratio(g.training_ratio),
                            if g.below_gate {
                                "  below the gate"
                            } else if g.small {
                                &small_note
                            } else {
                                ""
                            }
                        );
                    }
                }
            }
            if r.exceeded {
                eprintln!("drift above {}: act", r.threshold);
                Ok(ExitCode::from(EXIT_DRIFT))
            } else {
                Ok(ExitCode::SUCCESS)
            }
        }
        Command::Sql {
            pipelines,
            tables,
            query,
            out,
            store,
        } => {
            let batches = riskfn_batch::score::sql(&riskfn_batch::score::SqlOptions {
                pipelines,
                tables,
                query,
                store: store.store,
                s3: S3Settings::from_env(),
            })
            .await?;
            match out {
                Some(path) => {
                    riskfn_batch::score::write_parquet(&path, &batches)?;
                    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                    println!("{rows} rows -> {}", path.display());
                }
                None => {
                    let mut shown = Vec::new();
                    let mut left = 50usize;
                    for b in &batches {
                        if left == 0 {
                            break;
                        }
                        let take = left.min(b.num_rows());
                        shown.push(b.slice(0, take));
                        left -= take;
                    }
                    println!("{}", arrow::util::pretty::pretty_format_batches(&shown)?);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Prepare {
            pipeline,
            sql_dir,
            data,
            engine,
            json,
            design_out,
        } => {
            let r = train::prepare_only(
                &TrainOptions {
                    pipeline,
                    sql_dir,
                    data,
                    store: String::new(),
                    s3: S3Settings::from_env(),
                    force: false,
                    progress: false,
                    families: None,
                    engine: engine.options(),
                    by: riskfn_core::review::command_user(),
                },
                design_out.as_deref(),
            )
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "{}: {} rows read, {} duplicates, {} filtered, {} dropped for missing values -> {} features, {} model inputs",
                    r.pipeline,
                    r.data.rows_read,
                    r.data.duplicates_dropped,
                    r.data.rows_filtered,
                    r.data.rows_dropped_missing,
                    r.features.len(),
                    r.inputs
                );
                for (step, s) in &r.seconds {
                    println!("  {step:<16} {s:.2} s");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Models { command } => models_command(command).await,
        Command::Serve {
            store,
            addr,
            no_auth,
        } => {
            let mut config = riskfn_predict::Config {
                store: store.store,
                ..riskfn_predict::Config::from_env()?
            };
            if no_auth {
                config.auth = riskfn_predict::auth::Auth::Disabled;
            }
            let config = config.for_local_server()?;
            let state = riskfn_predict::AppState::open(config).await?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("bind {addr}"))?;
            eprintln!("serving on http://{addr} (ctrl-c to stop)");
            riskfn_predict::serve(listener, state).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn models_command(command: ModelsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ModelsCommand::List {
            pipeline,
            store,
            json,
        } => {
            let rows = models::list(&registry(&store).await?, &pipeline).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "  {:<28} {:<20} {:<20} {:>8} {:>8}  {:<8} review",
                    "version", "created", "family", "val_auc", "test_auc", "gate"
                );
                for r in &rows {
                    let gate = match r.gate_passed {
                        Some(true) => "passed",
                        Some(false) => "refused",
                        None => "-",
                    };
                    let review = match r.review {
                        Some(review::ReviewStatus::Pending) => "pending",
                        Some(review::ReviewStatus::Approved) => "approved",
                        Some(review::ReviewStatus::Refused) => "refused",
                        None => "-",
                    };
                    println!(
                        "{} {:<28} {:<20} {:<20} {:>8.4} {:>8.4}  {gate:<8} {review}",
                        match (r.champion, r.challenger) {
                            (true, _) => "*",
                            (_, true) => "~",
                            _ => " ",
                        },
                        r.version,
                        r.created_at,
                        r.family,
                        r.validation_auc,
                        r.test_auc
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Show {
            pipeline,
            version,
            store,
        } => {
            let m = models::show(&registry(&store).await?, &pipeline, version.as_deref()).await?;
            println!("{}", serde_json::to_string_pretty(&m)?);
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Promote {
            pipeline,
            version,
            reason,
            force,
            store,
        } => {
            let p = review::promote(
                &registry(&store).await?,
                &pipeline,
                &version,
                &review::command_user(),
                &reason,
                force,
            )
            .await?;
            Ok(moved(&pipeline, &version, &p))
        }
        ModelsCommand::Approve(Decide {
            pipeline,
            version,
            reason,
            store,
        }) => {
            let p = review::approve(
                &registry(&store).await?,
                &pipeline,
                &version,
                &review::command_user(),
                &reason,
            )
            .await?;
            Ok(moved(&pipeline, &version, &p))
        }
        ModelsCommand::Refuse(Decide {
            pipeline,
            version,
            reason,
            store,
        }) => {
            review::refuse(
                &registry(&store).await?,
                &pipeline,
                &version,
                &review::command_user(),
                &reason,
            )
            .await?;
            println!("{version} of {pipeline} was refused; it stays a candidate");
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Rollback {
            pipeline,
            reason,
            store,
        } => {
            let c = review::rollback(
                &registry(&store).await?,
                &pipeline,
                &review::command_user(),
                &reason,
            )
            .await?;
            println!("{} is again the champion of {pipeline}", c.version);
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Shadow {
            pipeline,
            version,
            clear: _,
            store,
        } => {
            let c = shadow::set(&registry(&store).await?, &pipeline, version.as_deref()).await?;
            match c.version {
                Some(v) => {
                    println!("{v} is now scored in shadow beside the champion of {pipeline}")
                }
                None => println!("{pipeline} has no challenger in shadow"),
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Compare {
            pipeline,
            since,
            outcomes,
            json,
            store,
        } => {
            let outcomes = match outcomes {
                Some(uri) => Some(shadow::read_outcomes(&uri).await?),
                None => None,
            };
            let c = shadow::compare(
                &registry(&store).await?,
                &pipeline,
                since.as_deref(),
                outcomes.as_ref(),
            )
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                shadow::print(&pipeline, &c);
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Export {
            pipeline,
            version,
            format,
            store,
        } => {
            if format != "sql" {
                eprintln!("error: --format {format:?}: only \"sql\" is supported");
                return Ok(ExitCode::from(2));
            }
            let q =
                models::export_sql(&registry(&store).await?, &pipeline, version.as_deref()).await?;
            print!("{q}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_train(r: &TrainReport) {
    println!("pipeline  {}", r.pipeline);
    println!(
        "version   {}{}",
        r.version,
        if r.champion {
            "  (champion)"
        } else {
            "  (not champion)"
        }
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
        "data      {} rows read, {} duplicates dropped, {} filtered, {} dropped for missing values; rows/adverse: train {}, validation {}, test {}",
        r.data.rows_read,
        r.data.duplicates_dropped,
        r.data.rows_filtered,
        r.data.rows_dropped_missing,
        split("train"),
        split("validation"),
        split("test")
    );
    println!(
        "gate      {}: {}",
        if r.gate.passed { "passed" } else { "refused" },
        r.gate.reason
    );
    println!();
    println!("selected  by {}", r.selection);
    println!(
        "{:<20} {:>8} {:>7} {:>10} {:>9} {:>8} {:>7}  best grid point",
        "family", "score", "spread", "valid_auc", "test_auc", "test_ks", "fit_s"
    );
    for f in &r.families {
        match (&f.validation_auc, &f.test) {
            (Some(v), Some(t)) => {
                let params: Vec<String> =
                    f.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!(
                    "{}{:<19} {:>8.4} {:>7.4} {v:>10.4} {:>9.4} {:>8.4} {:>7.2}  {}",
                    if f.family == r.model.family { "*" } else { " " },
                    f.family,
                    f.score.unwrap_or(f64::NAN),
                    f.spread.unwrap_or(f64::NAN),
                    t.roc_auc,
                    t.ks,
                    f.fit_seconds,
                    params.join(", ")
                );
            }
            _ => println!(
                " {:<19} skipped: {}",
                f.family,
                f.reason.as_deref().unwrap_or("")
            ),
        }
    }
    for w in &r.model.warnings {
        println!("warning   {w}");
    }
    println!(
        "threshold {:.4} ({:?})",
        r.model.threshold, r.model.threshold_rule
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
