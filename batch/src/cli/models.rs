//! `riskfn models`: the registry commands (list, show, promote, approve, refuse, rollback,
//! shadow, compare, audit-check, export).

use riskfn_batch::models::{self, audit_check, shadow};
use riskfn_core::review;
use std::process::ExitCode;

use super::args::*;
use crate::{moved, registry};

pub(crate) async fn models_command(command: ModelsCommand) -> anyhow::Result<ExitCode> {
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
        ModelsCommand::Import {
            pipeline,
            sql_dir,
            model,
            format,
            reference,
            features,
            data,
            force,
            store,
            json,
        } => {
            let r = riskfn_batch::import::publish::import(
                &riskfn_batch::import::publish::ImportOptions {
                    pipeline,
                    sql_dir,
                    data,
                    model,
                    format,
                    reference,
                    features: features.map(|f| f.0).unwrap_or_default(),
                    store: store.store,
                    s3: riskfn_core::registry::s3::S3Settings::from_env()?,
                    by: review::command_user(),
                    force,
                },
            )
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                let v = &r.version;
                println!(
                    "{} {}: imported from {} (sha256 {}); parity with {}: {} reference rows within {:.1e}, {} edge rows within {:.1e}",
                    v.pipeline,
                    v.version,
                    r.provenance.file,
                    r.provenance.sha256,
                    r.provenance.library,
                    r.parity.reference_rows.rows,
                    r.parity.reference_rows.max_difference,
                    r.parity.edge_rows.rows,
                    r.parity.edge_rows.max_difference
                );
                println!(
                    "validation ROC AUC {:.4}, test ROC AUC {:.4}; gate: {}",
                    v.metrics.validation.roc_auc, v.metrics.test.roc_auc, v.gate.reason
                );
            }
            let promotion = r
                .version
                .promotion
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("no promotion"))?;
            Ok(crate::promotion_exit(
                &r.version.pipeline,
                &r.version.version,
                promotion,
            ))
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
        ModelsCommand::AuditCheck {
            pipeline,
            log,
            json,
            store,
        } => {
            let text = std::fs::read_to_string(&log)
                .map_err(|e| anyhow::anyhow!("cannot read the log {}: {e}", log.display()))?;
            let c = audit_check::check(&registry(&store).await?, &pipeline, &text).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                println!(
                    "{}: {} scored records in the log, {} stored, {} missing{}",
                    c.pipeline,
                    c.logged,
                    c.stored,
                    c.missing.len(),
                    match c.unreadable_lines {
                        0 => String::new(),
                        n => format!(" ({n} audit lines could not be read)"),
                    }
                );
                for m in &c.missing {
                    match m.index {
                        Some(i) => println!("  missing: request {} record {i}", m.request_id),
                        None => println!("  missing: request {}", m.request_id),
                    }
                }
            }
            Ok(if c.missing.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(20)
            })
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
