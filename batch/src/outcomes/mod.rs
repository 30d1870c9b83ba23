//! Outcomes: whether the applicants a version scored went bad as often as it said, and
//! whether it still ranks them (back-testing as supervisors test PD models). `load` joins
//! a lender's outcome file to the stored decisions; `report` tests each version, per
//! decision month, on the outcomes whose performance window has passed.

pub mod html;
pub mod load;
pub mod report;
pub mod stats;

use serde::{Deserialize, Serialize};

/// `[outcomes]` of a pipeline: the performance window and the traffic lights' levels,
/// kept with every result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Months after a decision before an outcome of 0 counts as good.
    pub window_months: u32,
    /// A test's p-value below this is red...
    pub red: f64,
    /// ...and below this amber.
    pub amber: f64,
    /// The rating grades' PD boundaries, increasing; none: each version's test-split
    /// deciles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grades: Option<Vec<f64>>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            window_months: 12,
            red: 0.01,
            amber: 0.05,
            grades: None,
        }
    }
}

impl Settings {
    pub fn new(
        window: Option<u32>,
        red: Option<f64>,
        amber: Option<f64>,
        grades: Option<Vec<f64>>,
    ) -> Result<Self, String> {
        let d = Settings::default();
        let s = Settings {
            window_months: window.unwrap_or(d.window_months),
            red: red.unwrap_or(d.red),
            amber: amber.unwrap_or(d.amber),
            grades,
        };
        if let Some(g) = &s.grades
            && (g.is_empty()
                || g.iter().any(|b| !(0.0 < *b && *b < 1.0))
                || g.windows(2).any(|w| w[0] >= w[1]))
        {
            return Err("grades must be increasing PDs between 0 and 1".into());
        }
        if s.window_months == 0 {
            return Err("window_months must be at least 1".into());
        }
        if !(0.0 < s.red && s.red <= s.amber && s.amber < 1.0) {
            return Err(format!(
                "levels must satisfy 0 < red ({}) <= amber ({}) < 1",
                s.red, s.amber
            ));
        }
        Ok(s)
    }

    /// A p-value's light (one-sided tests: small means the model is worse than it says).
    pub fn light(&self, p: f64) -> Light {
        if p < self.red {
            Light::Red
        } else if p < self.amber {
            Light::Amber
        } else {
            Light::Green
        }
    }
}

/// A test's traffic light; worse compares greater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Light {
    Green,
    Amber,
    Red,
}

impl std::fmt::Display for Light {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Light::Green => "green",
            Light::Amber => "amber",
            Light::Red => "red",
        })
    }
}

/// Where a pipeline's loaded outcomes are kept, one object per load.
pub fn loads_prefix(pipeline: &str) -> String {
    format!("{pipeline}/outcomes/loads/")
}

/// What the statistics' tests share: the reference portfolio.
#[cfg(test)]
pub(crate) mod testing {
    /// 400 applicants' PDs, outcomes and grades with every statistic's expected value
    /// (`tests/reference/outcomes_stats.json`, written by
    /// `tests/reference/outcomes_reference.py`).
    pub(crate) fn reference() -> serde_json::Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/reference/outcomes_stats.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// The reference's array `key`, as numbers.
    pub(crate) fn numbers(r: &serde_json::Value, key: &str) -> Vec<f64> {
        (r[key].as_array().unwrap().iter())
            .map(|v| v.as_f64().unwrap())
            .collect()
    }
}
