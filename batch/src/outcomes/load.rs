//! `riskfn outcomes load`: a lender's outcome file joined to the decisions that scored
//! each applicant (the stored prediction audit records, and the decisions `riskfn score`
//! kept: [`crate::score::decisions`]), so each outcome is attributed to
//! the version and the decision date that scored it. Duplicates, unknown ids and outcomes
//! of declined applicants are counted, never dropped silently; the joined outcomes are kept
//! in the store with the file's fingerprint.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use riskfn_core::registry::audit::{Event, prediction_records};
use riskfn_core::registry::s3::S3Settings;
use riskfn_core::registry::store::{PutMode, put_once};
use serde::{Deserialize, Serialize};
use time::{Date, Month};

use crate::error::{Error, Result};
use crate::pipeline::Pipeline;

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub pipeline: String,
    pub sql_dir: PathBuf,
    /// The outcome file: columns `id`, `outcome` (1 went bad, 0 did not), `observed_at` (a
    /// date) and, for list requests, `index`.
    pub data: String,
    pub store: String,
    pub s3: S3Settings,
}

/// One applicant's decision and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The request id, and the record's place in a list request.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    pub version: String,
    /// The decision's date, `yyyy-mm-dd`.
    pub decided: String,
    pub probability: f64,
    /// Went bad (`true`), good once the window has passed (`false`), or still inside the
    /// window (`None`: pending, never counted as good).
    pub outcome: Option<bool>,
    pub observed: String,
    /// Months on book when observed (when it went bad, for a bad one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub months_on_book: Option<u32>,
}

/// What a load found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadCounts {
    pub rows: u64,
    pub bad: u64,
    pub good: u64,
    pub pending: u64,
    /// Rows whose id (and index) came earlier in the file: the first is kept.
    pub duplicates: u64,
    /// Ids no stored decision has.
    pub unknown: u64,
    /// Outcomes of applicants the model declined: reported, not back-tested.
    pub declined: u64,
}

/// One load, as kept in the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Load {
    pub pipeline: String,
    pub loaded_at: String,
    pub data: String,
    /// The outcome file's source fingerprint (sha256 over its files' names and contents'
    /// sha256, or ETags on S3), as a pipeline's data is identified.
    pub fingerprint: String,
    pub window_months: u32,
    pub counts: LoadCounts,
    pub outcomes: Vec<Outcome>,
    /// Where it is kept.
    #[serde(default)]
    pub key: String,
}

/// A decision as its audit record tells it.
struct Decided {
    version: String,
    date: Date,
    probability: f64,
    declined: bool,
}

/// One row of an outcome file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeRow {
    /// The request id (or the pipeline's id value).
    pub id: String,
    /// The record's place in a list request.
    pub index: Option<u64>,
    /// Went bad.
    pub bad: bool,
    /// When the outcome was observed (`observed_at`, when the file has the column).
    pub observed: Option<Date>,
    /// Months on book when observed (or when it went bad), for vintage curves.
    pub months_on_book: Option<u32>,
}

/// What error messages call the file read.
const OUTCOME_FILE: &str = "the outcome file";

pub async fn load(opts: &LoadOptions) -> Result<Load> {
    let pipeline = Pipeline::locate(&opts.pipeline, &opts.sql_dir)?;
    let ctx = crate::source::session()?;
    let raw = crate::source::read_with(&ctx, &opts.data, &opts.s3).await?;
    if raw.schema.index_of("observed_at").is_err() {
        return Err(raw.missing("observed_at", OUTCOME_FILE));
    }
    let rows = outcome_rows(&raw)?;
    let store = riskfn_core::registry::store::open_with(&opts.store, &opts.s3).await?;
    let mut decisions: HashMap<(String, Option<u64>), Decided> = HashMap::new();
    for r in prediction_records(store.as_ref(), &pipeline.name, None).await? {
        if let Event::Prediction {
            request_id,
            index,
            version,
            decision,
            probability,
            ..
        } = r.event
        {
            let Some(date) = r.at.get(..10).and_then(parse_date) else {
                continue;
            };
            decisions.insert(
                (request_id, index.map(|i| i as u64)),
                Decided {
                    version,
                    date,
                    probability,
                    declined: decision == pipeline.decision.adverse,
                },
            );
        }
    }
    // Batch decisions: by the pipeline's id value, or the row's position.
    for d in crate::score::decisions::read_all(store.as_ref(), &pipeline.name).await? {
        let Some(date) = parse_date(&d.decided) else {
            continue;
        };
        decisions.insert(
            (d.id, None),
            Decided {
                version: d.version,
                date,
                probability: d.probability,
                declined: d.decision == pipeline.decision.adverse,
            },
        );
    }
    let window = pipeline.outcomes.window_months;
    let mut counts = LoadCounts::default();
    let mut seen = HashSet::new();
    let mut outcomes = Vec::new();
    for row in rows {
        counts.rows += 1;
        let key = (row.id, row.index);
        if !seen.insert(key.clone()) {
            counts.duplicates += 1;
            continue;
        }
        let Some(d) = decisions.get(&key) else {
            counts.unknown += 1;
            continue;
        };
        if d.declined {
            counts.declined += 1;
            continue;
        }
        let observed = row.observed.unwrap_or(d.date);
        let matured = row.bad || observed >= add_months(d.date, window);
        let outcome = matured.then_some(row.bad);
        match outcome {
            Some(true) => counts.bad += 1,
            Some(false) => counts.good += 1,
            None => counts.pending += 1,
        }
        outcomes.push(Outcome {
            id: key.0,
            index: key.1,
            version: d.version.clone(),
            decided: d.date.to_string(),
            probability: d.probability,
            outcome,
            observed: observed.to_string(),
            months_on_book: row.months_on_book,
        });
    }
    let mut load = Load {
        pipeline: pipeline.name.clone(),
        loaded_at: riskfn_core::registry::now_rfc3339(),
        data: raw.uri.clone(),
        fingerprint: raw.fingerprint.clone(),
        window_months: window,
        counts,
        outcomes,
        key: String::new(),
    };
    load.key = format!(
        "{}{}.json",
        super::loads_prefix(&pipeline.name),
        riskfn_core::registry::new_version_id()
    );
    let bytes = serde_json::to_vec(&load).map_err(|e| Error::Data(e.to_string()))?;
    put_once(store.as_ref(), &load.key, bytes.into(), PutMode::Create).await?;
    Ok(load)
}

/// An outcome file's rows: columns `id`, `outcome` (1 or true: went bad; 0 or false) and,
/// when present, `index`, `observed_at` and `months_on_book`. A column missing or a value that is not what
/// it should be is an error naming the column and the row (never the value). `riskfn
/// outcomes load` and `models compare --outcomes` both read outcomes with this.
pub fn outcome_rows(raw: &crate::source::RawData) -> Result<Vec<OutcomeRow>> {
    let column = |name: &str| -> Result<Option<arrow::array::StringArray>> {
        Ok((raw.column_as(name, &DataType::Utf8)?).map(|c| c.as_string::<i32>().clone()))
    };
    let required = |name: &str| -> Result<arrow::array::StringArray> {
        let c = raw.required_as(name, &DataType::Utf8, OUTCOME_FILE)?;
        Ok(c.as_string::<i32>().clone())
    };
    let (ids, outcome) = (required("id")?, required("outcome")?);
    let (index, observed) = (column("index")?, column("observed_at")?);
    let months_on_book = column("months_on_book")?;
    let bad_value =
        |r: usize, what: &str| Error::Data(format!("{}: row {}: {what}", raw.uri, r + 1));
    (0..ids.len())
        .map(|r| {
            if ids.is_null(r) {
                return Err(bad_value(r, "id is empty"));
            }
            let bad = match (outcome.is_valid(r)).then(|| outcome.value(r)) {
                Some("1" | "true" | "1.0") => true,
                Some("0" | "false" | "0.0") => false,
                _ => {
                    return Err(bad_value(
                        r,
                        "outcome must be 1 or true (went bad), 0 or false",
                    ));
                }
            };
            let observed = match &observed {
                None => None,
                Some(a) => Some(
                    (a.is_valid(r))
                        .then(|| a.value(r).get(..10).and_then(parse_date))
                        .flatten()
                        .ok_or_else(|| bad_value(r, "observed_at must be a date (yyyy-mm-dd)"))?,
                ),
            };
            let index = match &index {
                Some(a) if a.is_valid(r) => Some(
                    a.value(r)
                        .parse::<u64>()
                        .map_err(|_| bad_value(r, "index must be a whole number"))?,
                ),
                _ => None,
            };
            let months_on_book = match &months_on_book {
                Some(a) if a.is_valid(r) => Some(
                    a.value(r)
                        .parse::<u32>()
                        .map_err(|_| bad_value(r, "months_on_book must be a whole number"))?,
                ),
                _ => None,
            };
            Ok(OutcomeRow {
                id: ids.value(r).to_owned(),
                index,
                bad,
                observed,
                months_on_book,
            })
        })
        .collect()
}

/// `yyyy-mm-dd`.
pub(crate) fn parse_date(s: &str) -> Option<Date> {
    let mut parts = s.splitn(3, '-');
    let y: i32 = parts.next()?.parse().ok()?;
    let m: u8 = parts.next()?.parse().ok()?;
    let d: u8 = parts.next()?.parse().ok()?;
    Date::from_calendar_date(y, Month::try_from(m).ok()?, d).ok()
}

/// `date` plus `months`, the day clamped to the month's last (31 January + 1 = 28 or 29
/// February).
pub(crate) fn add_months(date: Date, months: u32) -> Date {
    let total = date.year() as i64 * 12 + (u8::from(date.month()) as i64 - 1) + months as i64;
    let (year, month) = ((total / 12) as i32, (total % 12) as u8 + 1);
    let month = Month::try_from(month).unwrap_or(Month::December);
    let last = time::util::days_in_month(month, year);
    Date::from_calendar_date(year, month, date.day().min(last)).unwrap_or(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_added_with_the_day_clamped() {
        let d = |s: &str| parse_date(s).unwrap();
        assert_eq!(add_months(d("2026-01-31"), 1), d("2026-02-28"));
        assert_eq!(add_months(d("2024-01-31"), 1), d("2024-02-29"));
        assert_eq!(add_months(d("2026-11-15"), 12), d("2027-11-15"));
        assert_eq!(add_months(d("2026-12-01"), 1), d("2027-01-01"));
        assert!(parse_date("2026-13-01").is_none() && parse_date("soon").is_none());
    }
}
