//! The promotion gate: when a new version may replace the champion.

use serde::{Deserialize, Serialize};

use crate::contract::measures::Metrics;

/// A new version passes when its validation ROC AUC is at least the champion's minus
/// `auc_tolerance`, its validation KS is at least `min_ks`, and (when set) every protected
/// group's adverse impact ratio on validation is at least `min_adverse_impact_ratio`.
/// With `approvals` above 0, a version that passes waits for that many approvals by
/// identities other than the one that trained or proposed it (four eyes).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GateSpec {
    pub auc_tolerance: f64,
    pub min_ks: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_adverse_impact_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub approvals: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Default for GateSpec {
    fn default() -> Self {
        GateSpec {
            auc_tolerance: 0.01,
            min_ks: 0.1,
            min_adverse_impact_ratio: None,
            approvals: 0,
        }
    }
}

/// A protected group's adverse impact ratio on the validation split (its approval rate over
/// the reference group's); groups too small for a ratio are not listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdverseImpact {
    pub attribute: String,
    pub group: String,
    pub ratio: f64,
}

/// The gate's verdict, kept in the version's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateRecord {
    pub spec: GateSpec,
    /// The champion the version was compared with, and its validation ROC AUC.
    pub champion: Option<String>,
    pub champion_validation_auc: Option<f64>,
    pub passed: bool,
    pub reason: String,
}

impl GateSpec {
    pub fn evaluate(
        &self,
        candidate: &Metrics,
        champion: Option<(&str, &Metrics)>,
        fairness: &[AdverseImpact],
    ) -> GateRecord {
        let mut failures = Vec::new();
        if let Some(min) = self.min_adverse_impact_ratio {
            for f in fairness.iter().filter(|f| f.ratio < min) {
                failures.push(format!(
                    "fairness: {} = {} has an adverse impact ratio of {:.3} on validation, below {min}",
                    f.attribute, f.group, f.ratio
                ));
            }
        }
        if candidate.ks < self.min_ks {
            failures.push(format!(
                "validation KS {:.4} is below the minimum {:.4}",
                candidate.ks, self.min_ks
            ));
        }
        if let Some((version, m)) = champion
            && candidate.roc_auc < m.roc_auc - self.auc_tolerance
        {
            failures.push(format!(
                "validation ROC AUC {:.4} is below champion {version}'s {:.4} minus {:.4}",
                candidate.roc_auc, m.roc_auc, self.auc_tolerance
            ));
        }
        let passed = failures.is_empty();
        let fair = match (self.min_adverse_impact_ratio, fairness.is_empty()) {
            (Some(min), false) => format!("; adverse impact ratios >= {min}"),
            _ => String::new(),
        };
        let reason = if passed {
            let base = match champion {
                Some((v, m)) => format!(
                    "validation ROC AUC {:.4} vs champion {v}'s {:.4} (tolerance {:.4}); KS {:.4} >= {:.4}",
                    candidate.roc_auc, m.roc_auc, self.auc_tolerance, candidate.ks, self.min_ks
                ),
                None => format!(
                    "no champion yet; KS {:.4} >= {:.4}",
                    candidate.ks, self.min_ks
                ),
            };
            base + &fair
        } else {
            failures.join("; ")
        };
        GateRecord {
            spec: *self,
            champion: champion.map(|(v, _)| v.to_owned()),
            champion_validation_auc: champion.map(|(_, m)| m.roc_auc),
            passed,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(auc: f64, ks: f64) -> Metrics {
        Metrics {
            roc_auc: auc,
            ks,
            ..Metrics::default()
        }
    }

    #[test]
    fn passes_within_tolerance_and_fails_below() {
        let gate = GateSpec::default();
        let champ = metrics(0.80, 0.4);
        assert!(
            gate.evaluate(&metrics(0.795, 0.3), Some(("v1", &champ)), &[])
                .passed
        );
        let refused = gate.evaluate(&metrics(0.78, 0.3), Some(("v1", &champ)), &[]);
        assert!(!refused.passed);
        assert!(refused.reason.contains("v1"), "{}", refused.reason);
        assert!(!gate.evaluate(&metrics(0.9, 0.05), None, &[]).passed);
        assert!(gate.evaluate(&metrics(0.6, 0.2), None, &[]).passed);
    }

    #[test]
    fn the_fairness_gate_names_the_attribute_group_and_ratio() {
        let air = |g: &str, r: f64| AdverseImpact {
            attribute: "sex".into(),
            group: g.into(),
            ratio: r,
        };
        let fairness = [air("male", 1.0), air("female", 0.72)];
        // Off unless set.
        assert!(
            GateSpec::default()
                .evaluate(&metrics(0.8, 0.4), None, &fairness)
                .passed
        );
        let gate = GateSpec {
            min_adverse_impact_ratio: Some(0.8),
            ..GateSpec::default()
        };
        let r = gate.evaluate(&metrics(0.8, 0.4), None, &fairness);
        assert!(!r.passed);
        assert!(
            r.reason.contains("sex = female") && r.reason.contains("0.720"),
            "{}",
            r.reason
        );
        assert!(
            gate.evaluate(&metrics(0.8, 0.4), None, &[air("female", 0.85)])
                .passed
        );
    }
}
