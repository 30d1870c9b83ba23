//! `riskfn`: train, score and serve credit-risk models.
//!
//! Exit codes: 0 success; 1 failure; 2 usage error; 10 trained (or asked to promote) but not
//! made champion (the gate refused, or another run moved the champion first); 20 drift
//! above the pipeline's threshold.

use std::process::ExitCode;

mod cli;

use anyhow::Context;
use clap::Parser;
use riskfn_batch::score::ScoreOptions;
use riskfn_batch::train::{self, Promotion, TrainOptions, TrainReport};
use riskfn_core::registry::Registry;
use riskfn_core::registry::s3::S3Settings;

use cli::args::*;
use cli::models::models_command;

// The batch steps allocate and free many large, short-lived buffers (Arrow arrays, hash
// tables); mimalloc reuses them and backs its arenas with huge pages where the kernel
// allows. `prepare` on 10M rows: a median 1.26 s against glibc malloc's 1.54 s, in six
// rounds of tests/bench/README.md ("late").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXIT_NOT_PROMOTED: u8 = 10;
const EXIT_DRIFT: u8 = 20;

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
pub(crate) fn promotion_exit(pipeline: &str, version: &str, p: &Promotion) -> ExitCode {
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
                s3: S3Settings::from_env()?,
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
                s3: S3Settings::from_env()?,
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
                s3: S3Settings::from_env()?,
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
                s3: S3Settings::from_env()?,
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
                s3: S3Settings::from_env()?,
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
                    s3: S3Settings::from_env()?,
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
        Command::Outcomes { command } => cli::outcomes::outcomes_command(command).await,
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
        "threshold {:.4} ({})",
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
