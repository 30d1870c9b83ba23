//! Audit records: one per prediction, training run, promotion and rollback. Written to the
//! log (target `riskfn::audit`, one JSON object per line) and, when asked, as JSON objects
//! in the store: predictions under `audit/<day>/`, one object per request holding a line
//! per record, a version's lifecycle (training,
//! promotion, rollback) under `audit/versions/<pipeline>/<version>/` of each version it
//! names, so a version's history is one short listing. A record never holds an applicant's
//! values: only a salted hash of the record, so an auditor holding the salt can match a
//! disputed application.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::contract::card::HistoryEntry;
use crate::error::Result;
use crate::features::schema::RawSchema;
use crate::features::value::Value;
use crate::registry::now_rfc3339;
use crate::registry::store::{PutMode, Store, put_once};

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Prediction {
        request_id: String,
        caller: String,
        pipeline: String,
        version: String,
        model_sha256: String,
        /// sha256(salt || the fields the model reads as canonical JSON), see [`InputHasher`].
        input_sha256: String,
        decision: String,
        probability: f64,
        reasons: Vec<String>,
        /// The population rule the record breaks, when the version scores such records
        /// and flags them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outside_population: Option<String>,
        /// The record's place in a list request (none for a single record).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        index: Option<usize>,
        /// What the challenger in shadow answered for the same record, if one was set and
        /// scored it (it never changes the answer sent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        challenger: Option<Box<Shadow>>,
    },
    Training {
        pipeline: String,
        version: String,
        family: String,
        test_roc_auc: f64,
        gate_passed: bool,
        outcome: String,
        /// Who ran the training (the command's user, or the scheduled job).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// A version that passed the gate was put forward for approval (four eyes).
    Proposal {
        pipeline: String,
        version: String,
        by: String,
        reason: String,
        /// Approvals it needs, each by an identity other than its makers.
        required: u32,
        /// The gate refused it and it was put forward anyway (`--force`).
        #[serde(default)]
        forced: bool,
    },
    Approval {
        pipeline: String,
        version: String,
        by: String,
        reason: String,
        /// Approvals so far, this one included, and how many it needs.
        approvals: u32,
        required: u32,
    },
    /// A pending version was refused (or withdrawn by its maker): it stays a candidate.
    Refusal {
        pipeline: String,
        version: String,
        by: String,
        reason: String,
    },
    Promotion {
        pipeline: String,
        version: String,
        previous: Option<String>,
        forced: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// The identities whose approvals made it champion (four eyes).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        approved_by: Vec<String>,
    },
    Rollback {
        pipeline: String,
        version: String,
        from: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The challenger in shadow was set (`version`) or cleared (`None`).
    Shadow {
        pipeline: String,
        version: Option<String>,
        previous: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// The version was back-tested on its applicants' outcomes (`riskfn outcomes report`).
    Backtest {
        pipeline: String,
        version: String,
        /// Matured outcomes tested, and the worst light of the tests.
        outcomes: u64,
        light: String,
        /// Where the result is kept.
        report: String,
    },
}

/// A challenger's answer for a record the champion decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shadow {
    pub version: String,
    pub model_sha256: String,
    pub decision: String,
    pub probability: f64,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub at: String,
    #[serde(flatten)]
    pub event: Event,
}

impl Record {
    pub fn now(event: Event) -> Self {
        Record {
            at: now_rfc3339(),
            event,
        }
    }

    pub fn to_json(&self) -> String {
        // Plain structs and strings: serialization cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The record's day (`yyyy-mm-dd`), its folder under `audit/`.
    fn day(&self) -> &str {
        self.at.get(..10).unwrap_or("unknown-day")
    }

    /// Write the record to the log.
    pub fn log(&self) {
        tracing::info!(target: "riskfn::audit", audit = %self.to_json());
    }

    /// The versions a lifecycle record concerns (none for a prediction).
    fn versions(&self) -> Vec<(&str, &str)> {
        match &self.event {
            Event::Prediction { .. } => Vec::new(),
            Event::Training {
                pipeline, version, ..
            }
            | Event::Proposal {
                pipeline, version, ..
            }
            | Event::Approval {
                pipeline, version, ..
            }
            | Event::Refusal {
                pipeline, version, ..
            }
            | Event::Backtest {
                pipeline, version, ..
            } => vec![(pipeline, version)],
            Event::Promotion {
                pipeline,
                version,
                previous,
                ..
            } => std::iter::once((pipeline.as_str(), version.as_str()))
                .chain(previous.iter().map(|p| (pipeline.as_str(), p.as_str())))
                .collect(),
            Event::Rollback {
                pipeline,
                version,
                from,
                ..
            } => vec![(pipeline, version), (pipeline, from)],
            Event::Shadow {
                pipeline,
                version,
                previous,
                ..
            } => version
                .iter()
                .chain(previous)
                .map(|v| (pipeline.as_str(), v.as_str()))
                .collect(),
        }
    }

    /// Store the record (create-only): a prediction as `audit/<yyyy-mm-dd>/<name>.json`, a
    /// lifecycle record under each version it names.
    pub async fn store(&self, store: &dyn Store, name: &str) -> Result<()> {
        let body = Bytes::from(self.to_json());
        let versions = self.versions();
        if versions.is_empty() {
            let day = self.day();
            let key = format!("audit/{day}/{name}.json");
            put_once(store, &key, body.clone(), PutMode::Create).await?;
        }
        for (pipeline, version) in versions {
            let key = format!("{}{name}.json", version_prefix(pipeline, version));
            put_once(store, &key, body.clone(), PutMode::Create).await?;
        }
        Ok(())
    }
}

/// Store one request's prediction records as one object, a record per line:
/// `audit/<yyyy-mm-dd>/<name>.jsonl` (create-only). One write per request, not per record:
/// a 1,000-record list is one PUT.
pub async fn store_predictions(store: &dyn Store, records: &[Record], name: &str) -> Result<()> {
    let Some(first) = records.first() else {
        return Ok(());
    };
    let day = first.day();
    let mut body = Vec::with_capacity(records.len() * 512);
    for r in records {
        // Plain structs and strings: serialization cannot fail.
        let _ = serde_json::to_writer(&mut body, r);
        body.push(b'\n');
    }
    let key = format!("audit/{day}/{name}.jsonl");
    put_once(store, &key, Bytes::from(body), PutMode::Create).await?;
    Ok(())
}

fn version_prefix(pipeline: &str, version: &str) -> String {
    format!("audit/versions/{pipeline}/{version}/")
}

/// The lifecycle records that name a version, oldest first. A record that cannot be read
/// as one is logged and left out: history is for people, and one bad file must not hide
/// the rest.
pub async fn version_records(
    store: &dyn Store,
    pipeline: &str,
    version: &str,
) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for key in store.list(&version_prefix(pipeline, version)).await? {
        let Some(obj) = store.get(&key).await? else {
            continue;
        };
        match serde_json::from_slice::<Record>(&obj.bytes) {
            Ok(r) => out.push(r),
            Err(e) => tracing::warn!(%key, error = %e, "unreadable audit record"),
        }
    }
    out.sort_by(|a, b| a.at.cmp(&b.at));
    Ok(out)
}

/// The prediction records kept in the store for `pipeline`, from day `since` (`yyyy-mm-dd`,
/// inclusive) on, oldest first. Unreadable records are logged and left out, as above.
pub async fn prediction_records(
    store: &dyn Store,
    pipeline: &str,
    since: Option<&str>,
) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for key in store.list("audit/").await? {
        // audit/<day>/<name>.json; lifecycle records live under audit/versions/.
        let Some(day) = key.strip_prefix("audit/").and_then(|k| k.split('/').next()) else {
            continue;
        };
        if day == "versions" || since.is_some_and(|s| day < s.get(..10).unwrap_or(s)) {
            continue;
        }
        let Some(obj) = store.get(&key).await? else {
            continue;
        };
        // A request's records, one per line (.jsonl), or a single record (.json).
        let lines: Vec<&[u8]> = if key.ends_with(".jsonl") {
            obj.bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .collect()
        } else {
            vec![&obj.bytes[..]]
        };
        for line in lines {
            match serde_json::from_slice::<Record>(line) {
                Ok(r) if matches!(&r.event, Event::Prediction { pipeline: p, .. } if p == pipeline) => {
                    out.push(r)
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(%key, error = %e, "unreadable audit record"),
            }
        }
    }
    out.sort_by(|a, b| a.at.cmp(&b.at));
    Ok(out)
}

/// sha256(salt || the record's raw fields as canonical JSON): an object of the fields the
/// model reads, keys sorted, a field absent or null as `null`, numbers and strings as
/// serde_json writes them. The hash covers what the decision was made on, whatever else the
/// caller sent. Built once per request: the key order and the written keys are kept.
pub struct InputHasher<'a> {
    salt: &'a [u8],
    /// Field positions in name order, each with its key as written (`"name":`).
    keys: Vec<(usize, Vec<u8>)>,
}

impl<'a> InputHasher<'a> {
    pub fn new(salt: &'a [u8], schema: &RawSchema) -> Self {
        let mut keys: Vec<(usize, Vec<u8>)> = schema
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                // A string: serialization cannot fail.
                let mut key = serde_json::to_vec(&f.name).unwrap_or_default();
                key.push(b':');
                (i, key)
            })
            .collect();
        keys.sort_by(|a, b| schema.fields[a.0].name.cmp(&schema.fields[b.0].name));
        InputHasher { salt, keys }
    }

    /// The hash of one raw row (in schema order), as 64 hex digits.
    pub fn hash(&self, row: &[Value]) -> String {
        let mut text = Vec::with_capacity(48 * self.keys.len());
        text.push(b'{');
        for (n, (i, key)) in self.keys.iter().enumerate() {
            if n > 0 {
                text.push(b',');
            }
            text.extend_from_slice(key);
            // Strings and finite floats: serialization cannot fail.
            let _ = match row.get(*i).unwrap_or(&Value::Null) {
                Value::Null => serde_json::to_writer(&mut text, &()),
                Value::Bool(b) => serde_json::to_writer(&mut text, b),
                Value::Int(v) => serde_json::to_writer(&mut text, v),
                Value::Float(x) => serde_json::to_writer(&mut text, x),
                Value::Str(s) => serde_json::to_writer(&mut text, s.as_ref()),
            };
        }
        text.push(b'}');
        let mut h = sha2::Sha256::new();
        h.update(self.salt);
        h.update(&text);
        let mut hex = [0u8; 64];
        // 32 bytes always fit 64 digits.
        let _ = hex::encode_to_slice(h.finalize(), &mut hex);
        String::from_utf8_lossy(&hex).into_owned()
    }
}

/// The card's history from a version's lifecycle audit records, oldest first.
pub fn history(records: &[Record], version: &str) -> Vec<HistoryEntry> {
    let mut out: Vec<HistoryEntry> = records
        .iter()
        .filter_map(|r| {
            let none = || (None, None);
            let (event, detail, (by, reason)) = match &r.event {
                Event::Training {
                    version: v,
                    gate_passed,
                    outcome,
                    by,
                    ..
                } if v == version => (
                    "trained".to_owned(),
                    format!(
                        "gate {}; {}",
                        if *gate_passed { "passed" } else { "refused" },
                        outcome.replace('_', " ")
                    ),
                    (by.clone(), None),
                ),
                Event::Proposal {
                    version: v,
                    by,
                    reason,
                    required,
                    forced,
                    ..
                } if v == version => (
                    "proposed".to_owned(),
                    format!(
                        "needs {required} approval(s) by another identity{}",
                        if *forced { "; the gate refused it" } else { "" }
                    ),
                    (Some(by.clone()), Some(reason.clone())),
                ),
                Event::Approval {
                    version: v,
                    by,
                    reason,
                    approvals,
                    required,
                    ..
                } if v == version => (
                    "approved".to_owned(),
                    format!("approval {approvals} of {required}"),
                    (Some(by.clone()), Some(reason.clone())),
                ),
                Event::Refusal {
                    version: v,
                    by,
                    reason,
                    ..
                } if v == version => (
                    "refused".to_owned(),
                    "stays a candidate".to_owned(),
                    (Some(by.clone()), Some(reason.clone())),
                ),
                Event::Promotion {
                    version: v,
                    previous,
                    forced,
                    by,
                    reason,
                    approved_by,
                    ..
                } if v == version => (
                    if *forced {
                        "promoted (forced past the gate)".to_owned()
                    } else {
                        "promoted".to_owned()
                    },
                    match previous {
                        Some(p) => format!("champion, replacing {p}"),
                        None => "first champion".to_owned(),
                    } + &if approved_by.is_empty() {
                        String::new()
                    } else {
                        format!("; approved by {}", approved_by.join(", "))
                    },
                    (by.clone(), reason.clone()),
                ),
                Event::Promotion {
                    version: v,
                    previous: Some(p),
                    ..
                } if p == version => (
                    "replaced".to_owned(),
                    format!("{v} became champion"),
                    none(),
                ),
                Event::Rollback {
                    version: v,
                    from,
                    by,
                    reason,
                    ..
                } if v == version => (
                    "rolled back to".to_owned(),
                    format!("champion again, replacing {from}"),
                    (by.clone(), reason.clone()),
                ),
                Event::Rollback {
                    version: v,
                    from,
                    by,
                    reason,
                    ..
                } if from == version => (
                    "rolled back from".to_owned(),
                    format!("{v} became champion again"),
                    (by.clone(), reason.clone()),
                ),
                Event::Shadow {
                    version: Some(v),
                    by,
                    ..
                } if v == version => (
                    "in shadow".to_owned(),
                    "scored beside the champion on live traffic".to_owned(),
                    (by.clone(), None),
                ),
                Event::Shadow {
                    previous: Some(p),
                    by,
                    ..
                } if p == version => (
                    "out of shadow".to_owned(),
                    "no longer scored beside the champion".to_owned(),
                    (by.clone(), None),
                ),
                Event::Backtest {
                    version: v,
                    outcomes,
                    light,
                    report,
                    ..
                } if v == version => (
                    "back-tested".to_owned(),
                    format!("{outcomes} outcomes, {light} (kept as {report})"),
                    none(),
                ),
                _ => return None,
            };
            Some(HistoryEntry {
                at: r.at.clone(),
                event,
                detail,
                by,
                reason,
            })
        })
        .collect();
    // Times are to the second: within one, a version is trained before anything else.
    out.sort_by(|a, b| (&a.at, a.event != "trained").cmp(&(&b.at, b.event != "trained")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_salted_and_covers_the_fields_read_in_name_order() {
        use crate::features::schema::{RawField, UnknownFields};
        use crate::features::value::DataType;
        let field = |name: &str, data_type| RawField {
            name: name.into(),
            data_type,
            nullable: true,
        };
        let schema = RawSchema {
            fields: vec![
                field("b", DataType::Int),
                field("a", DataType::Str),
                field("c", DataType::Float),
            ],
        };
        let row = |text: &str| {
            schema
                .parse_record(&serde_json::from_str(text).unwrap(), UnknownFields::Ignore)
                .unwrap()
        };
        let one = row(r#"{"b": 1, "a": "x\"y", "c": 2.5, "other": "ignored"}"#);
        // The canonical text, hashed with Python's hashlib:
        // sha256(b"s" + b'{"a":"x\\"y","b":1,"c":2.5}').hexdigest()
        assert_eq!(
            InputHasher::new(b"s", &schema).hash(&one),
            "4b9476736e779d7260ec561d7869053018d1b1b6c87357f9e4e7acc1e1d9b5b3"
        );
        assert_eq!(
            InputHasher::new(b"s", &schema).hash(&one),
            InputHasher::new(b"s", &schema).hash(&row(r#"{"c": 2.5, "a": "x\"y", "b": 1.0}"#))
        );
        assert_ne!(
            InputHasher::new(b"s", &schema).hash(&one),
            InputHasher::new(b"t", &schema).hash(&one)
        );
        assert_eq!(
            InputHasher::new(b"s", &schema).hash(&row(r#"{"b": 1, "a": null}"#)),
            InputHasher::new(b"s", &schema).hash(&row(r#"{"b": 1}"#))
        );
    }
}
