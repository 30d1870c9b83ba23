//! `riskfn models audit-check`: the scored requests a service logged whose audit records are
//! not in the store (a write lost, a store unreachable past every retry).

use std::collections::BTreeSet;

use riskfn_core::registry::Registry;
use riskfn_core::registry::audit::{self, Event, Record};
use serde::Serialize;

use crate::error::Result;

/// What the log and the store hold of a pipeline's scored records.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuditCheck {
    pub pipeline: String,
    /// Scored records in the log (a record per applicant: request id, and index in a list).
    pub logged: usize,
    /// Those of them whose record is in the store.
    pub stored: usize,
    /// Logged but not stored, in log order.
    pub missing: Vec<Scored>,
    /// Lines of the log that looked like audit records but could not be read as one.
    pub unreadable_lines: usize,
}

/// One scored record: its request id, and its place in a list request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Scored {
    pub request_id: String,
    pub index: Option<usize>,
}

/// Check every prediction record of `pipeline` in `log` (the service's log: JSON lines,
/// as Lambda writes them, or text lines with `audit={...}`) against the store.
pub async fn check(registry: &Registry, pipeline: &str, log: &str) -> Result<AuditCheck> {
    let (logged, unreadable_lines) = logged_predictions(log, pipeline);
    let stored: BTreeSet<Scored> =
        audit::prediction_records(registry.store().as_ref(), pipeline, None)
            .await?
            .iter()
            .filter_map(scored)
            .collect();
    let missing: Vec<Scored> = logged
        .iter()
        .filter(|s| !stored.contains(*s))
        .cloned()
        .collect();
    Ok(AuditCheck {
        pipeline: pipeline.to_owned(),
        logged: logged.len(),
        stored: logged.len() - missing.len(),
        missing,
        unreadable_lines,
    })
}

fn scored(r: &Record) -> Option<Scored> {
    match &r.event {
        Event::Prediction {
            request_id, index, ..
        } => Some(Scored {
            request_id: request_id.clone(),
            index: *index,
        }),
        _ => None,
    }
}

/// The prediction records of `pipeline` in a log, each once, in log order; and how many
/// lines named an audit record that could not be read.
fn logged_predictions(log: &str, pipeline: &str) -> (Vec<Scored>, usize) {
    let (mut seen, mut out, mut unreadable) = (BTreeSet::new(), Vec::new(), 0);
    for line in log.lines() {
        let Some(found) = audit_in_line(line) else {
            continue;
        };
        let Ok(record) = found else {
            unreadable += 1;
            continue;
        };
        if let Event::Prediction { pipeline: p, .. } = &record.event
            && p == pipeline
            && let Some(s) = scored(&record)
            && seen.insert(s.clone())
        {
            out.push(s);
        }
    }
    (out, unreadable)
}

/// The audit record a log line carries, if it carries one: a JSON line whose `audit` field
/// (top level, or under `fields` as the JSON formatter nests it) holds the record as a
/// string, or a text line with `audit=` followed by the record.
fn audit_in_line(line: &str) -> Option<std::result::Result<Record, serde_json::Error>> {
    let line = strip_ansi(line);
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
        let text = v["fields"]["audit"].as_str().or(v["audit"].as_str())?;
        return Some(serde_json::from_str(text));
    }
    let at = line.find("audit=")?;
    let mut records = serde_json::Deserializer::from_str(&line[at + "audit=".len()..]).into_iter();
    records.next()
}

/// A line without terminal colour codes (`ESC [ ... m`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{"at":"2026-12-07T08:00:00Z","event":"prediction","request_id":"r-1","caller":"anonymous","pipeline":"german_credit","version":"v1","model_sha256":"00","input_sha256":"11","decision":"approve","probability":0.1,"reasons":[],"index":null}"#;

    /// The record is found in the JSON log line Lambda writes, in a coloured text line,
    /// once however often it is logged; other lines and other pipelines are passed over.
    #[test]
    fn records_are_read_from_json_and_text_logs() {
        let json = serde_json::json!({
            "timestamp": "2026-12-07T08:00:00.1Z",
            "level": "INFO",
            "fields": {"audit": RECORD},
            "target": "riskfn::audit",
        })
        .to_string();
        let text = format!(
            "2026-12-07T08:00:00Z \u{1b}[32m INFO\u{1b}[0m riskfn::audit: \u{1b}[3maudit\u{1b}[0m\u{1b}[2m=\u{1b}[0m{}",
            RECORD.replace("r-1", "r-2")
        );
        let other = RECORD
            .replace("german_credit", "credit_data")
            .replace("r-1", "r-3");
        let log = [
            json.clone(),
            text,
            format!("audit={other}"),
            "INFO model loaded".to_owned(),
            "audit={not json".to_owned(),
            json,
        ]
        .join("\n");
        let (found, unreadable) = logged_predictions(&log, "german_credit");
        let ids: Vec<&str> = found.iter().map(|s| s.request_id.as_str()).collect();
        assert_eq!(ids, ["r-1", "r-2"]);
        assert_eq!(unreadable, 1);
    }
}
