//! Who may make a version champion, and how: the gate, four-eyes approval (maker-checker)
//! and rollback. Every move of the champion pointer is a conditional write, and every step
//! an audit record naming who took it and why.
//!
//! With `[gate] approvals = N` (N > 0), a version that passes the gate is *proposed*, not
//! promoted: its review, `<pipeline>/reviews/<version>.json`, lists its makers (who trained
//! or proposed it) and waits for N approvals by other identities. The last approval moves
//! the champion pointer. The review file changes only by compare-and-swap, so two approvers
//! acting at once cannot lose one another's approval.
//!
//! (Its last 180 lines are its unit tests: promotion with and without approvals, refusal.)

pub mod compare;
pub mod drift;
pub mod outcomes;

use serde::{Deserialize, Serialize};

use crate::contract::gate::GateSpec;
use crate::error::{Error, Result};
use crate::registry::audit::{Event, Record};
use crate::registry::store::{PutMode, put_once};
use crate::registry::{Champion, Registry, new_version_id, now_rfc3339, to_json};

/// What became of a request to make a version champion.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Promotion {
    /// The champion pointer now names this version.
    Promoted { previous: Option<String> },
    /// Promoted although the gate refused (`--force`).
    Forced {
        previous: Option<String>,
        gate: String,
    },
    /// Waiting for approvals by identities other than its makers.
    Pending { approvals: u32, required: u32 },
    /// Published, not champion: the gate refused.
    RefusedByGate { reason: String },
    /// Not champion: another writer moved the pointer between this one's read and its
    /// conditional write.
    LostRace { champion: Option<String> },
}

impl Promotion {
    pub fn is_champion(&self) -> bool {
        matches!(self, Promotion::Promoted { .. } | Promotion::Forced { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    Pending,
    /// Approved as many times as required (champion unless the pointer move lost a race).
    Approved,
    Refused,
}

/// One identity's decision on a proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub by: String,
    pub at: String,
    pub reason: String,
}

/// `<pipeline>/reviews/<version>.json`: a version's proposal and the decisions on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub pipeline: String,
    pub version: String,
    pub status: ReviewStatus,
    pub required: u32,
    /// Who trained or proposed it: none of them may approve it.
    pub makers: Vec<String>,
    pub proposed_at: String,
    pub reason: String,
    /// The gate's verdict when it was proposed.
    pub gate: String,
    /// The gate refused it and it was proposed anyway.
    #[serde(default)]
    pub forced: bool,
    #[serde(default)]
    pub approvals: Vec<Decision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Decision>,
}

pub fn review_key(pipeline: &str, version: &str) -> String {
    format!("{pipeline}/reviews/{version}.json")
}

impl Decision {
    fn now(by: &str, reason: &str) -> Self {
        Decision {
            by: by.to_owned(),
            at: now_rfc3339(),
            reason: reason.to_owned(),
        }
    }
}

/// Replace a review if it is still what was read (`etag`): a concurrent decision in
/// between fails this write, and nothing is lost.
async fn update(registry: &Registry, r: &Review, etag: String) -> Result<()> {
    let key = review_key(&r.pipeline, &r.version);
    put_once(
        registry.store().as_ref(),
        &key,
        to_json(r),
        PutMode::Update { etag },
    )
    .await?;
    Ok(())
}

/// Log an audit record and keep it in the store under each version it names. A failure to
/// store it is logged, not fatal: the event itself has happened.
pub async fn record(registry: &Registry, event: Event) {
    let kind = match &event {
        Event::Prediction { .. } => "prediction",
        Event::Training { .. } => "training",
        Event::Proposal { .. } => "proposal",
        Event::Approval { .. } => "approval",
        Event::Refusal { .. } => "refusal",
        Event::Promotion { .. } => "promotion",
        Event::Rollback { .. } => "rollback",
        Event::Shadow { .. } => "shadow",
        Event::Backtest { .. } => "backtest",
    };
    let r = Record::now(event);
    r.log();
    // Time-ordered and unique, so a version's records list in the order they happened.
    let name = format!("{}-{kind}", new_version_id());
    if let Err(e) = r.store(registry.store().as_ref(), &name).await {
        tracing::error!(error = %e, "audit record not stored");
    }
}

/// Move the champion pointer from `current` (as read) to `version` by a conditional write:
/// `Promoted`, or `Forced` past the gate's refusal `forced_past` when there is one, or
/// `LostRace` when another writer moved the pointer first.
pub async fn move_champion(
    registry: &Registry,
    pipeline: &str,
    version: &str,
    current: Option<&(Champion, String)>,
    forced_past: Option<&str>,
) -> Result<Promotion> {
    let previous = current.map(|(c, _)| c.version.clone());
    match registry
        .set_champion(
            pipeline,
            version,
            current.map(|(c, etag)| (c, etag.as_str())),
        )
        .await
    {
        Ok(_) => Ok(match forced_past {
            None => Promotion::Promoted { previous },
            Some(gate) => Promotion::Forced {
                previous,
                gate: gate.to_owned(),
            },
        }),
        Err(Error::PreconditionFailed { .. }) => {
            let now = registry.champion(pipeline).await?.map(|(c, _)| c.version);
            tracing::warn!(pipeline, version, champion = ?now, "lost the race for the champion pointer");
            Ok(Promotion::LostRace { champion: now })
        }
        Err(e) => Err(e),
    }
}

/// A version's review and its ETag, if it was ever proposed.
pub async fn review(
    registry: &Registry,
    pipeline: &str,
    version: &str,
) -> Result<Option<(Review, String)>> {
    crate::contract::artifact::check_name(pipeline)?;
    crate::contract::artifact::check_name(version)?;
    registry.pointer(&review_key(pipeline, version)).await
}

/// Make `version` champion as `by` asks, for `reason`: if it passes its gate against the
/// current champion (or `force`), the pointer moves, or, when the gate asks for approvals,
/// the version is proposed and waits for them.
pub async fn promote(
    registry: &Registry,
    pipeline: &str,
    version: &str,
    by: &str,
    reason: &str,
    force: bool,
) -> Result<Promotion> {
    let candidate = registry.manifest(pipeline, version).await?;
    let current = registry.champion(pipeline).await?;
    let previous = current.as_ref().map(|(c, _)| c.version.clone());
    if previous.as_deref() == Some(version) {
        return Err(Error::Refused(format!(
            "{version} is already the champion of {pipeline}"
        )));
    }
    let champion_manifest = match &previous {
        Some(v) => Some(registry.manifest(pipeline, v).await?),
        None => None,
    };
    let spec = candidate
        .gate
        .as_ref()
        .map(|g| g.spec)
        .unwrap_or_else(GateSpec::default);
    let gate = spec.evaluate(
        &candidate.metrics.validation,
        champion_manifest
            .as_ref()
            .map(|m| (m.version.as_str(), &m.metrics.validation)),
        &candidate.fairness,
    );
    if !gate.passed && !force {
        return Ok(Promotion::RefusedByGate {
            reason: gate.reason,
        });
    }
    if spec.approvals > 0 {
        return propose(
            registry,
            pipeline,
            version,
            by,
            reason,
            &gate.reason,
            !gate.passed,
            spec.approvals,
        )
        .await;
    }
    let forced_past = (!gate.passed).then_some(gate.reason.as_str());
    let outcome = move_champion(registry, pipeline, version, current.as_ref(), forced_past).await?;
    if outcome.is_champion() {
        record(
            registry,
            Event::Promotion {
                pipeline: pipeline.to_owned(),
                version: version.to_owned(),
                previous,
                forced: matches!(outcome, Promotion::Forced { .. }),
                by: Some(by.to_owned()),
                reason: Some(reason.to_owned()),
                approved_by: Vec::new(),
            },
        )
        .await;
    }
    Ok(outcome)
}

/// Put `version` forward for `required` approvals, `by` its maker. A pending proposal gains
/// `by` as a maker; a refused or earlier approved one is proposed afresh (earlier approvals
/// no longer count).
#[allow(clippy::too_many_arguments)]
pub async fn propose(
    registry: &Registry,
    pipeline: &str,
    version: &str,
    by: &str,
    reason: &str,
    gate: &str,
    forced: bool,
    required: u32,
) -> Result<Promotion> {
    let existing = review(registry, pipeline, version).await?;
    // A pending proposal gains a maker; a refused one, or an approved one no longer
    // champion (rolled back from), is proposed afresh: four eyes again.
    let (next, mode) = match existing {
        Some((mut r, etag)) if r.status == ReviewStatus::Pending => {
            if !r.makers.iter().any(|m| m == by) {
                r.makers.push(by.to_owned());
            }
            (r, PutMode::Update { etag })
        }
        existing => {
            let mut makers = existing
                .as_ref()
                .map(|(r, _)| r.makers.clone())
                .unwrap_or_default();
            if !makers.iter().any(|m| m == by) {
                makers.push(by.to_owned());
            }
            let next = Review {
                pipeline: pipeline.to_owned(),
                version: version.to_owned(),
                status: ReviewStatus::Pending,
                required,
                makers,
                proposed_at: now_rfc3339(),
                reason: reason.to_owned(),
                gate: gate.to_owned(),
                forced,
                approvals: Vec::new(),
                refusal: None,
            };
            let mode = match existing {
                Some((_, etag)) => PutMode::Update { etag },
                None => PutMode::Create,
            };
            (next, mode)
        }
    };
    let key = review_key(pipeline, version);
    put_once(registry.store().as_ref(), &key, to_json(&next), mode).await?;
    record(
        registry,
        Event::Proposal {
            pipeline: pipeline.to_owned(),
            version: version.to_owned(),
            by: by.to_owned(),
            reason: reason.to_owned(),
            required: next.required,
            forced: next.forced,
        },
    )
    .await;
    Ok(Promotion::Pending {
        approvals: next.approvals.len() as u32,
        required: next.required,
    })
}

/// `by` approves the pending `version`, for `reason`. Refused for one of its makers (four
/// eyes) and for an identity that approved it already. The last approval needed moves the
/// champion pointer; calling again on an approved version that lost that race retries it.
pub async fn approve(
    registry: &Registry,
    pipeline: &str,
    version: &str,
    by: &str,
    reason: &str,
) -> Result<Promotion> {
    let (mut r, etag) = review(registry, pipeline, version).await?.ok_or_else(|| {
        Error::Refused(format!(
            "{version} of {pipeline} has not been proposed: nothing to approve"
        ))
    })?;
    match r.status {
        ReviewStatus::Refused => {
            return Err(Error::Refused(format!(
                "{version} of {pipeline} was refused; it must be proposed again"
            )));
        }
        ReviewStatus::Approved => {}
        ReviewStatus::Pending => {
            if r.makers.iter().any(|m| m == by) {
                return Err(Error::Forbidden(format!(
                    "four eyes: {by} trained or proposed {version}; another identity must approve it"
                )));
            }
            if r.approvals.iter().any(|a| a.by == by) {
                return Err(Error::Refused(format!("{by} already approved {version}")));
            }
            r.approvals.push(Decision::now(by, reason));
            if r.approvals.len() as u32 >= r.required {
                r.status = ReviewStatus::Approved;
            }
            update(registry, &r, etag).await?;
            record(
                registry,
                Event::Approval {
                    pipeline: pipeline.to_owned(),
                    version: version.to_owned(),
                    by: by.to_owned(),
                    reason: reason.to_owned(),
                    approvals: r.approvals.len() as u32,
                    required: r.required,
                },
            )
            .await;
        }
    }
    let approvals = r.approvals.len() as u32;
    if r.status != ReviewStatus::Approved {
        return Ok(Promotion::Pending {
            approvals,
            required: r.required,
        });
    }
    let current = registry.champion(pipeline).await?;
    let previous = current.as_ref().map(|(c, _)| c.version.clone());
    if previous.as_deref() == Some(version) {
        return Ok(Promotion::Promoted { previous: None });
    }
    let forced_past = r.forced.then_some(r.gate.as_str());
    let outcome = move_champion(registry, pipeline, version, current.as_ref(), forced_past).await?;
    if outcome.is_champion() {
        record(
            registry,
            Event::Promotion {
                pipeline: pipeline.to_owned(),
                version: version.to_owned(),
                previous,
                forced: r.forced,
                by: Some(by.to_owned()),
                reason: Some(reason.to_owned()),
                approved_by: r.approvals.iter().map(|a| a.by.clone()).collect(),
            },
        )
        .await;
    }
    Ok(outcome)
}

/// `by` refuses the pending `version` (or its maker withdraws it), for `reason`.
pub async fn refuse(
    registry: &Registry,
    pipeline: &str,
    version: &str,
    by: &str,
    reason: &str,
) -> Result<Review> {
    let (mut r, etag) = review(registry, pipeline, version)
        .await?
        .filter(|(r, _)| r.status == ReviewStatus::Pending)
        .ok_or_else(|| {
            Error::Refused(format!(
                "{version} of {pipeline} has no pending proposal to refuse"
            ))
        })?;
    r.status = ReviewStatus::Refused;
    r.refusal = Some(Decision::now(by, reason));
    update(registry, &r, etag).await?;
    record(
        registry,
        Event::Refusal {
            pipeline: pipeline.to_owned(),
            version: version.to_owned(),
            by: by.to_owned(),
            reason: reason.to_owned(),
        },
    )
    .await;
    Ok(r)
}

/// Return the champion to the one before it, as `by` asks, for `reason`. No approval: it
/// goes back to a version that was approved when it served.
pub async fn rollback(
    registry: &Registry,
    pipeline: &str,
    by: &str,
    reason: &str,
) -> Result<Champion> {
    let from = registry
        .champion(pipeline)
        .await?
        .map(|(c, _)| c.version)
        .unwrap_or_default();
    let back = registry.rollback(pipeline).await?;
    record(
        registry,
        Event::Rollback {
            pipeline: pipeline.to_owned(),
            version: back.version.clone(),
            from,
            by: Some(by.to_owned()),
            reason: Some(reason.to_owned()),
        },
    )
    .await;
    Ok(back)
}

/// The reviews of a pipeline's versions, by version.
pub async fn reviews(
    registry: &Registry,
    pipeline: &str,
) -> Result<std::collections::BTreeMap<String, Review>> {
    crate::contract::artifact::check_name(pipeline)?;
    let prefix = format!("{pipeline}/reviews/");
    let mut out = std::collections::BTreeMap::new();
    for key in registry.store().list(&prefix).await? {
        let Some(obj) = registry.store().get(&key).await? else {
            continue;
        };
        match serde_json::from_slice::<Review>(&obj.bytes) {
            Ok(r) => {
                out.insert(r.version.clone(), r);
            }
            Err(e) => tracing::warn!(%key, error = %e, "unreadable review"),
        }
    }
    Ok(out)
}

/// Who runs a command: `RISKFN_USER`, else the login (`USER`, `LOGNAME`), else
/// `unknown` (which, being the same for every such caller, can approve nothing it made).
pub fn command_user() -> String {
    ["RISKFN_USER", "USER", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|s| s.trim().to_owned())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::artifact::test_manifest;
    use crate::contract::gate::GateRecord;
    use std::sync::Arc;

    /// A store with complete versions `v1`, `v2` (manifests only: no scoring here) whose
    /// gate asks for `approvals`.
    async fn registry(dir: &std::path::Path, approvals: u32) -> Registry {
        let reg = Registry::new(Arc::new(crate::registry::store::LocalStore::new(dir)));
        for v in ["v1", "v2"] {
            let mut m = test_manifest("p", v);
            m.metrics.validation.roc_auc = 0.8;
            m.metrics.validation.ks = 0.4;
            m.gate = Some(GateRecord {
                spec: GateSpec {
                    approvals,
                    ..GateSpec::default()
                },
                champion: None,
                champion_validation_auc: None,
                passed: true,
                reason: "ok".into(),
            });
            reg.publish(
                m,
                vec![("model.json".into(), bytes::Bytes::from_static(b"{}"))],
            )
            .await
            .unwrap();
        }
        reg
    }

    async fn champion(reg: &Registry) -> Option<String> {
        reg.champion("p").await.unwrap().map(|(c, _)| c.version)
    }

    #[tokio::test]
    async fn without_approvals_promotion_moves_the_pointer_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let reg = registry(dir.path(), 0).await;
        let p = promote(&reg, "p", "v1", "alice", "first", false)
            .await
            .unwrap();
        assert_eq!(p, Promotion::Promoted { previous: None });
        assert_eq!(champion(&reg).await.as_deref(), Some("v1"));
        assert!(review(&reg, "p", "v1").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn four_eyes_a_maker_cannot_approve_and_another_identity_makes_it_champion() {
        let dir = tempfile::tempdir().unwrap();
        let reg = registry(dir.path(), 1).await;
        let p = promote(&reg, "p", "v1", "alice", "better AUC", false)
            .await
            .unwrap();
        assert_eq!(
            p,
            Promotion::Pending {
                approvals: 0,
                required: 1
            }
        );
        assert_eq!(champion(&reg).await, None);
        // The maker's own approval is refused, and changes nothing.
        let own = approve(&reg, "p", "v1", "alice", "looks fine").await;
        assert!(
            matches!(&own, Err(Error::Forbidden(m)) if m.contains("alice")),
            "{own:?}"
        );
        assert_eq!(champion(&reg).await, None);
        let ok = approve(&reg, "p", "v1", "bob", "validated").await.unwrap();
        assert_eq!(ok, Promotion::Promoted { previous: None });
        assert_eq!(champion(&reg).await.as_deref(), Some("v1"));
        let (r, _) = review(&reg, "p", "v1").await.unwrap().unwrap();
        assert_eq!(r.status, ReviewStatus::Approved);
        assert_eq!(r.approvals[0].by, "bob");
        assert_eq!(r.approvals[0].reason, "validated");
        // The trail: proposal, approval, promotion, each with who and why.
        let records = crate::registry::audit::version_records(reg.store().as_ref(), "p", "v1")
            .await
            .unwrap();
        let kinds: Vec<(&str, String)> = records
            .iter()
            .filter_map(|r| match &r.event {
                Event::Proposal { by, reason, .. } => Some(("proposal", format!("{by}: {reason}"))),
                Event::Approval { by, reason, .. } => Some(("approval", format!("{by}: {reason}"))),
                Event::Promotion {
                    by, approved_by, ..
                } => Some((
                    "promotion",
                    format!(
                        "{}: {}",
                        by.clone().unwrap_or_default(),
                        approved_by.join(",")
                    ),
                )),
                _ => None,
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("proposal", "alice: better AUC".to_owned()),
                ("approval", "bob: validated".to_owned()),
                ("promotion", "bob: bob".to_owned()),
            ]
        );
        // Approved once, rolled back from, put forward again: four eyes again.
        promote(&reg, "p", "v2", "alice", "next", false)
            .await
            .unwrap();
        approve(&reg, "p", "v2", "bob", "ok").await.unwrap();
        rollback(&reg, "p", "carol", "complaints").await.unwrap();
        assert_eq!(champion(&reg).await.as_deref(), Some("v1"));
        assert_eq!(
            promote(&reg, "p", "v2", "alice", "fixed", false)
                .await
                .unwrap(),
            Promotion::Pending {
                approvals: 0,
                required: 1
            }
        );
    }

    #[tokio::test]
    async fn two_approvals_need_two_other_identities_and_a_refusal_ends_the_proposal() {
        let dir = tempfile::tempdir().unwrap();
        let reg = registry(dir.path(), 2).await;
        promote(&reg, "p", "v1", "alice", "r", false).await.unwrap();
        // A second maker may not approve either.
        promote(&reg, "p", "v1", "carol", "me too", false)
            .await
            .unwrap();
        assert!(matches!(
            approve(&reg, "p", "v1", "carol", "x").await,
            Err(Error::Forbidden(_))
        ));
        assert_eq!(
            approve(&reg, "p", "v1", "bob", "one").await.unwrap(),
            Promotion::Pending {
                approvals: 1,
                required: 2
            }
        );
        assert!(matches!(
            approve(&reg, "p", "v1", "bob", "again").await,
            Err(Error::Refused(_))
        ));
        assert_eq!(champion(&reg).await, None);
        assert!(
            approve(&reg, "p", "v1", "dave", "two")
                .await
                .unwrap()
                .is_champion()
        );
        // v2: proposed, then refused; an approval after it is refused.
        promote(&reg, "p", "v2", "alice", "newer", false)
            .await
            .unwrap();
        let r = refuse(&reg, "p", "v2", "bob", "unstable fairness")
            .await
            .unwrap();
        assert_eq!(r.status, ReviewStatus::Refused);
        assert!(matches!(
            approve(&reg, "p", "v2", "dave", "x").await,
            Err(Error::Refused(_))
        ));
        assert_eq!(champion(&reg).await.as_deref(), Some("v1"));
        // Proposed again: a fresh review, earlier approvals gone, makers kept.
        promote(&reg, "p", "v2", "erin", "fixed", false)
            .await
            .unwrap();
        let (r, _) = review(&reg, "p", "v2").await.unwrap().unwrap();
        assert_eq!(r.status, ReviewStatus::Pending);
        assert_eq!(r.makers, vec!["alice".to_owned(), "erin".to_owned()]);
        assert_eq!(reviews(&reg, "p").await.unwrap().len(), 2);
    }
}
