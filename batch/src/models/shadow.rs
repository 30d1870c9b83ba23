//! The challenger in shadow: setting it beside the champion (`riskfn models shadow`) and
//! comparing the two on the live traffic the audit records hold (`riskfn models compare`).

use std::collections::{BTreeMap, HashMap};

use riskfn_core::features::value::Value;
use riskfn_core::registry::audit::{self, Event, Record};
use riskfn_core::registry::{Challenger, Registry};
use serde::Serialize;

use crate::error::Result;

/// Put `version` in shadow beside the champion, or clear the shadow (`None`), by a
/// conditional write of the challenger pointer; the move is an audit record.
pub async fn set(registry: &Registry, pipeline: &str, version: Option<&str>) -> Result<Challenger> {
    let current = registry.challenger(pipeline).await?;
    let previous = current.as_ref().and_then(|(c, _)| c.version.clone());
    let next = registry
        .set_challenger(pipeline, version, current.as_ref().map(|(_, e)| e.as_str()))
        .await?;
    riskfn_core::review::record(
        registry,
        Event::Shadow {
            pipeline: pipeline.to_owned(),
            version: version.map(str::to_owned),
            previous,
            by: Some(riskfn_core::review::command_user()),
        },
    )
    .await;
    Ok(next)
}

/// One champion and challenger pair over the traffic both scored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub champion: String,
    pub challenger: String,
    /// Records both versions scored.
    pub records: usize,
    /// Share of those with the same decision.
    pub agreement_rate: f64,
    /// The challenger approves what the champion declines.
    pub swap_in: Swap,
    /// The challenger declines what the champion approves.
    pub swap_out: Swap,
    /// PSI of the challenger's probabilities against the champion's, over the champion's
    /// deciles on this traffic.
    pub psi: f64,
    /// With `--outcomes`: each version on the records whose outcome is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcomes: Option<Outcomes>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Swap {
    pub count: usize,
    /// Of all compared records.
    pub share: f64,
    /// Mean probability of the adverse outcome, by each version (NaN when empty).
    pub champion_mean_probability: f64,
    pub challenger_mean_probability: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcomes: Option<SetOutcomes>,
}

/// Observed outcomes over a set of records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetOutcomes {
    /// Records of the set with a known outcome.
    pub known: usize,
    /// Share of those that went bad (the adverse outcome).
    pub bad_rate: f64,
    /// Each version's ROC AUC on those records (NaN when one outcome is absent).
    pub champion_auc: f64,
    pub challenger_auc: f64,
    /// DeLong's paired test of the two AUCs on the same records: z (positive when the
    /// champion ranks better) and the two-sided p-value; none without two of each outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delong: Option<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcomes {
    /// Every compared record with a known outcome.
    pub all: SetOutcomes,
    /// Bad rate among the records each version approves.
    pub champion_approved_bad_rate: f64,
    pub challenger_approved_bad_rate: f64,
}

/// Observed outcomes by record: `(request id, index in a list request)` -> bad.
pub type OutcomeMap = HashMap<(String, Option<usize>), bool>;

/// One record both versions scored.
struct Pair {
    key: (String, Option<usize>),
    champion: (f64, bool),
    challenger: (f64, bool),
}

/// Compare each champion and challenger pair in the prediction records of `pipeline`
/// made at or after `since` (RFC 3339, or a day), oldest pair first.
pub async fn compare(
    registry: &Registry,
    pipeline: &str,
    since: Option<&str>,
    outcomes: Option<&OutcomeMap>,
) -> Result<Vec<Comparison>> {
    let records = audit::prediction_records(registry.store().as_ref(), pipeline, since).await?;
    let mut adverse: HashMap<String, String> = HashMap::new();
    let mut label = async |v: &str| -> Result<String> {
        if let Some(l) = adverse.get(v) {
            return Ok(l.clone());
        }
        let l = registry
            .load(pipeline, v)
            .await?
            .scorer
            .artifact()
            .decision
            .adverse
            .clone();
        adverse.insert(v.to_owned(), l.clone());
        Ok(l)
    };
    let mut pairs: BTreeMap<(String, String, String), Vec<Pair>> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| since.is_none_or(|s| r.at.as_str() >= s))
    {
        let Record {
            at,
            event:
                Event::Prediction {
                    request_id,
                    version,
                    decision,
                    probability,
                    index,
                    challenger: Some(c),
                    ..
                },
        } = r
        else {
            continue;
        };
        let champion_bad = *decision == label(version).await?;
        let challenger_bad = c.decision == label(&c.version).await?;
        let pair = (version.clone(), c.version.clone());
        // The first record of a pair orders the pairs.
        let first = pairs
            .keys()
            .find(|(_, a, b)| (a, b) == (&pair.0, &pair.1))
            .map(|k| k.0.clone())
            .unwrap_or_else(|| at.clone());
        pairs
            .entry((first, pair.0, pair.1))
            .or_default()
            .push(Pair {
                key: (request_id.clone(), *index),
                champion: (*probability, champion_bad),
                challenger: (c.probability, challenger_bad),
            });
    }
    Ok(pairs
        .into_iter()
        .map(|((_, champion, challenger), rows)| summarize(champion, challenger, &rows, outcomes))
        .collect())
}

fn summarize(
    champion: String,
    challenger: String,
    rows: &[Pair],
    outcomes: Option<&OutcomeMap>,
) -> Comparison {
    let n = rows.len();
    let agree = rows
        .iter()
        .filter(|r| r.champion.1 == r.challenger.1)
        .count();
    let swap = |filter: fn(&Pair) -> bool| {
        let set: Vec<&Pair> = rows.iter().filter(|r| filter(r)).collect();
        let mean = |f: fn(&Pair) -> f64| set.iter().map(|r| f(r)).sum::<f64>() / set.len() as f64;
        Swap {
            count: set.len(),
            share: set.len() as f64 / n as f64,
            champion_mean_probability: mean(|r| r.champion.0),
            challenger_mean_probability: mean(|r| r.challenger.0),
            outcomes: outcomes.map(|o| set_outcomes(&set, o)),
        }
    };
    let champion_p: Vec<f64> = rows.iter().map(|r| r.champion.0).collect();
    let challenger_p: Vec<f64> = rows.iter().map(|r| r.challenger.0).collect();
    let outcomes = outcomes.map(|o| {
        let all: Vec<&Pair> = rows.iter().collect();
        let approved_bad_rate = |declined: fn(&Pair) -> bool| {
            let known: Vec<bool> = rows
                .iter()
                .filter(|r| !declined(r))
                .filter_map(|r| o.get(&r.key).copied())
                .collect();
            known.iter().filter(|&&b| b).count() as f64 / known.len() as f64
        };
        Outcomes {
            all: set_outcomes(&all, o),
            champion_approved_bad_rate: approved_bad_rate(|r| r.champion.1),
            challenger_approved_bad_rate: approved_bad_rate(|r| r.challenger.1),
        }
    });
    Comparison {
        champion,
        challenger,
        records: n,
        agreement_rate: agree as f64 / n as f64,
        swap_in: swap(|r| r.champion.1 && !r.challenger.1),
        swap_out: swap(|r| !r.champion.1 && r.challenger.1),
        psi: score_psi(&champion_p, &challenger_p),
        outcomes,
    }
}

/// Outcomes over `set`, the AUCs by the training report's own [`riskfn_train::metrics::roc_auc`].
fn set_outcomes(set: &[&Pair], outcomes: &OutcomeMap) -> SetOutcomes {
    let (mut y, mut champion, mut challenger) = (Vec::new(), Vec::new(), Vec::new());
    for r in set {
        if let Some(&bad) = outcomes.get(&r.key) {
            y.push(bad);
            champion.push(r.champion.0);
            challenger.push(r.challenger.0);
        }
    }
    SetOutcomes {
        known: y.len(),
        bad_rate: y.iter().filter(|&&b| b).count() as f64 / y.len() as f64,
        champion_auc: riskfn_train::metrics::roc_auc(&y, &champion),
        challenger_auc: riskfn_train::metrics::roc_auc(&y, &challenger),
        delong: crate::outcomes::stats::delong_paired(&champion, &challenger, &y),
    }
}

/// PSI of `actual` against `expected` over the deciles of `expected`, as the drift report
/// bins a number.
fn score_psi(expected: &[f64], actual: &[f64]) -> f64 {
    use riskfn_core::review::drift::Bins;
    let values = |v: &[f64]| -> Vec<Option<f64>> { v.iter().copied().map(Some).collect() };
    let bins = Bins::numeric(&values(expected), 10);
    let mut counts = vec![0usize; bins.len()];
    for &p in actual {
        counts[bins.bin(&Value::Float(p))] += 1;
    }
    bins.psi(&counts)
}

/// Read observed outcomes from a Parquet or CSV file (local or S3), as `riskfn outcomes
/// load` reads them ([`crate::outcomes::load::outcome_rows`]): `id` (the request id),
/// `outcome` (1 or true: went bad) and, for list requests, `index`.
pub async fn read_outcomes(uri: &str) -> Result<OutcomeMap> {
    let ctx = crate::source::session()?;
    let data = crate::source::read(&ctx, uri).await?;
    Ok(crate::outcomes::load::outcome_rows(&data)?
        .into_iter()
        .map(|r| ((r.id, r.index.map(|i| i as usize)), r.bad))
        .collect())
}

/// `models compare` as text.
pub fn print(pipeline: &str, comparisons: &[Comparison]) {
    if comparisons.is_empty() {
        println!(
            "no record of {pipeline} was scored in shadow (is a challenger set, and are audit records stored?)"
        );
    }
    for c in comparisons {
        println!("champion {}  challenger {}", c.champion, c.challenger);
        println!("  records scored by both  {}", c.records);
        println!(
            "  same decision           {:.2} %",
            100.0 * c.agreement_rate
        );
        for (name, s) in [
            (
                "swap in  (challenger approves, champion declines)",
                &c.swap_in,
            ),
            (
                "swap out (challenger declines, champion approves)",
                &c.swap_out,
            ),
        ] {
            println!(
                "  {name}: {} ({:.2} %), mean probability champion {:.4}, challenger {:.4}",
                s.count,
                100.0 * s.share,
                s.champion_mean_probability,
                s.challenger_mean_probability
            );
            if let Some(o) = &s.outcomes {
                print_outcomes("    ", o);
            }
        }
        println!(
            "  PSI challenger vs champion  {:.4} ({})",
            c.psi,
            riskfn_core::review::drift::band(c.psi)
        );
        if let Some(o) = &c.outcomes {
            print_outcomes("  all: ", &o.all);
            println!(
                "  bad rate among approvals: champion {:.4}, challenger {:.4}",
                o.champion_approved_bad_rate, o.challenger_approved_bad_rate
            );
        }
    }
}

fn print_outcomes(lead: &str, o: &SetOutcomes) {
    let delong = o.delong.map_or(String::new(), |(z, p)| {
        format!(" (DeLong paired z {z:.3}, p {p:.4})")
    });
    println!(
        "{lead}{} with outcomes, bad rate {:.4}, AUC champion {:.4}, challenger {:.4}{delong}",
        o.known, o.bad_rate, o.champion_auc, o.challenger_auc
    );
}
