//! `riskfn outcomes load | report | check`.

use std::process::ExitCode;

use anyhow::Context;

use riskfn_batch::outcomes::Light;
use riskfn_batch::outcomes::load::{LoadOptions, load};
use riskfn_batch::outcomes::report::{Backtest, ReportOptions, Test, report};
use riskfn_core::registry::s3::S3Settings;

use crate::cli::args::{BacktestArgs, OutcomesCommand};

/// `outcomes check` found a red test.
const EXIT_RED: u8 = 30;

pub(crate) async fn outcomes_command(command: OutcomesCommand) -> anyhow::Result<ExitCode> {
    match command {
        OutcomesCommand::Load {
            pipeline,
            sql_dir,
            data,
            store,
            json,
        } => {
            let l = load(&LoadOptions {
                pipeline,
                sql_dir,
                data,
                store: store.store,
                s3: S3Settings::from_env()?,
            })
            .await?;
            let c = &l.counts;
            if json {
                let mut summary = serde_json::to_value(&l)?;
                // The outcomes themselves stay in the store.
                summary["outcomes"] = serde_json::Value::from(l.outcomes.len());
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                println!(
                    "{}: {} rows: {} bad, {} good, {} pending (inside the {}-month window); {} duplicates, {} unknown ids, {} declined (not back-tested)\nkept as {}",
                    l.pipeline,
                    c.rows,
                    c.bad,
                    c.good,
                    c.pending,
                    l.window_months,
                    c.duplicates,
                    c.unknown,
                    c.declined,
                    l.key
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        OutcomesCommand::Report(args) => backtest(args, false).await,
        OutcomesCommand::Check(args) => backtest(args, true).await,
    }
}

/// Back-test and print; with `check`, exit [`EXIT_RED`] on a red test.
async fn backtest(args: BacktestArgs, check: bool) -> anyhow::Result<ExitCode> {
    let b = report(&ReportOptions {
        pipeline: args.pipeline,
        sql_dir: args.sql_dir,
        store: args.store.store,
        s3: S3Settings::from_env()?,
        period: args.period,
    })
    .await?;
    if let Some(path) = args.html {
        std::fs::write(&path, riskfn_batch::outcomes::html::html(&b))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&b)?);
    } else {
        print_backtest(&b);
    }
    Ok(match (check, b.light) {
        (true, Light::Red) => ExitCode::from(EXIT_RED),
        _ => ExitCode::SUCCESS,
    })
}

fn p(t: Option<&Test>) -> String {
    t.map_or("-".to_owned(), |t| format!("{:.4} {}", t.p, t.light))
}

fn print_backtest(b: &Backtest) {
    let s = &b.settings;
    println!(
        "{}: back-tested on {} load(s); window {} months; red below p {}, amber below {}; overall {}",
        b.pipeline,
        b.loads.len(),
        s.window_months,
        s.red,
        s.amber,
        b.light
    );
    for v in &b.versions {
        println!("\nversion {} (grades: {})", v.version, v.grades_from);
        println!(
            "  {:<8} {:>6} {:>6} {:>7}  {:>17}  {:<14} {:>7} {:>7}  {:<14} {:<14} {:<14} {:<14} {:<14} light",
            "cohort",
            "rows",
            "bad",
            "pending",
            "AUC [95% CI]",
            "ECB AUC test",
            "PD",
            "rate",
            "Jeffreys",
            "binomial",
            "H-L",
            "Spiegelhalter",
            "concentration"
        );
        for c in &v.cohorts {
            let auc = c.discrimination.as_ref().map_or("-".to_owned(), |d| {
                format!(
                    "{:.3} [{:.3}, {:.3}]",
                    d.auc, d.auc_interval[0], d.auc_interval[1]
                )
            });
            let ecb = p(c.discrimination.as_ref().and_then(|d| d.ecb.as_ref()));
            let (pd, rate, jeffreys, binomial, hl, spiegel, conc) = match &c.calibration {
                Some(k) => (
                    format!("{:.4}", k.mean_pd),
                    format!("{:.4}", k.observed_rate),
                    p(Some(&k.jeffreys)),
                    p(Some(&k.binomial)),
                    p(k.hosmer_lemeshow.as_ref()),
                    p(Some(&k.spiegelhalter)),
                    p(k.concentration.as_ref().map(|c| &c.test)),
                ),
                None => Default::default(),
            };
            println!(
                "  {:<8} {:>6} {:>6} {:>7}  {:>17}  {:<14} {:>7} {:>7}  {:<14} {:<14} {:<14} {:<14} {:<14} {}",
                c.cohort,
                c.rows,
                c.defaults,
                c.pending,
                auc,
                ecb,
                pd,
                rate,
                jeffreys,
                binomial,
                hl,
                spiegel,
                conc,
                c.light
            );
        }
    }
    println!("\nkept as {}", b.kept.join(", "));
}
