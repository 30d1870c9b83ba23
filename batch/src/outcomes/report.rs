//! `riskfn outcomes report` and `check`: every loaded outcome whose window has passed,
//! back-tested per version and per cohort (decision month, and all of them): realised
//! discrimination with DeLong's interval and the ECB's test against the version's own
//! validation AUC, and calibration per grade (the cohort's PD deciles) and for the
//! portfolio. Each test gets its traffic light from the pipeline's `[outcomes]` levels;
//! the result is kept in the store with the loads' fingerprints.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use riskfn_core::registry::Registry;
use riskfn_core::registry::s3::S3Settings;
use riskfn_core::registry::store::{PutMode, put_once};
use serde::{Deserialize, Serialize};

use super::load::{Load, Outcome};
use super::stats::{self, GradeCount};
use super::{Light, Settings};
use crate::error::{Error, Result};
use crate::pipeline::Pipeline;

#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub pipeline: String,
    pub sql_dir: PathBuf,
    pub store: String,
    pub s3: S3Settings,
}

/// A test's statistic, p-value and light.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Test {
    pub statistic: f64,
    pub p: f64,
    pub light: Light,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discrimination {
    pub auc: f64,
    pub gini: f64,
    pub ks: f64,
    /// DeLong's 95 % interval.
    pub auc_interval: [f64; 2],
    /// The version's validation AUC at training.
    pub initial_auc: Option<f64>,
    /// The ECB's test of the realised AUC against the initial (statistic S).
    pub ecb: Option<Test>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grade {
    pub grade: usize,
    pub rows: u64,
    pub defaults: u64,
    pub mean_pd: f64,
    pub observed_rate: f64,
    /// Statistic: the grade's PD.
    pub jeffreys: Test,
    /// Statistic: the defaults.
    pub binomial: Test,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub mean_pd: f64,
    pub observed_rate: f64,
    pub brier: f64,
    pub jeffreys: Test,
    pub binomial: Test,
    /// Statistic with grades - 2 degrees of freedom.
    pub hosmer_lemeshow: Option<Test>,
    pub spiegelhalter: Test,
    /// `rms::val.prob`'s intercept and slope (0 and 1 when calibrated).
    pub intercept: Option<f64>,
    pub slope: Option<f64>,
    pub grades: Vec<Grade>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cohort {
    /// The decision month (`yyyy-mm`), or `all`.
    pub cohort: String,
    pub rows: u64,
    pub defaults: u64,
    /// Still inside the performance window: not counted either way.
    pub pending: u64,
    pub discrimination: Option<Discrimination>,
    pub calibration: Option<Calibration>,
    /// The worst light of its tests.
    pub light: Light,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionBacktest {
    pub version: String,
    pub cohorts: Vec<Cohort>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backtest {
    pub pipeline: String,
    pub at: String,
    pub settings: Settings,
    /// The loads it read: where each is kept and its file's fingerprint.
    pub loads: Vec<(String, String)>,
    pub versions: Vec<VersionBacktest>,
    /// The worst light of all.
    pub light: Light,
    #[serde(default)]
    pub key: String,
}

/// Back-test every version with loaded outcomes, and keep the result in the store.
pub async fn report(opts: &ReportOptions) -> Result<Backtest> {
    let pipeline = Pipeline::locate(&opts.pipeline, &opts.sql_dir)?;
    let store = riskfn_core::registry::store::open_with(&opts.store, &opts.s3).await?;
    let registry = Registry::new(store.clone());
    let mut loads = Vec::new();
    // The first load of an outcome counts; a later load of the same id is a duplicate.
    let mut outcomes: HashMap<(String, Option<u64>), Outcome> = HashMap::new();
    for key in store.list(&super::loads_prefix(&pipeline.name)).await? {
        let Some(obj) = store.get(&key).await? else {
            continue;
        };
        let load: Load =
            serde_json::from_slice(&obj.bytes).map_err(|e| Error::Data(format!("{key}: {e}")))?;
        loads.push((key, load.fingerprint));
        for o in load.outcomes {
            outcomes.entry((o.id.clone(), o.index)).or_insert(o);
        }
    }
    if loads.is_empty() {
        return Err(Error::Data(format!(
            "no outcomes loaded for {}: run riskfn outcomes load first",
            pipeline.name
        )));
    }
    let mut by_version: BTreeMap<String, Vec<Outcome>> = BTreeMap::new();
    for o in outcomes.into_values() {
        by_version.entry(o.version.clone()).or_default().push(o);
    }
    let settings = pipeline.outcomes;
    let mut versions = Vec::new();
    for (version, mut rows) in by_version {
        rows.sort_by(|a, b| (&a.decided, &a.id, a.index).cmp(&(&b.decided, &b.id, b.index)));
        let initial = registry
            .manifest(&pipeline.name, &version)
            .await
            .ok()
            .map(|m| m.metrics.validation.roc_auc);
        let mut cohorts: BTreeMap<String, Vec<&Outcome>> = BTreeMap::new();
        for o in &rows {
            let month = o.decided.get(..7).unwrap_or(&o.decided).to_owned();
            cohorts.entry(month).or_default().push(o);
        }
        let mut out = vec![cohort(
            "all",
            &rows.iter().collect::<Vec<_>>(),
            initial,
            &settings,
        )];
        out.extend(
            cohorts
                .iter()
                .map(|(m, o)| cohort(m, o, initial, &settings)),
        );
        versions.push(VersionBacktest {
            version,
            cohorts: out,
        });
    }
    let light = (versions.iter())
        .flat_map(|v| v.cohorts.iter().map(|c| c.light))
        .max()
        .unwrap_or(Light::Green);
    let mut backtest = Backtest {
        pipeline: pipeline.name.clone(),
        at: riskfn_core::registry::now_rfc3339(),
        settings,
        loads,
        versions,
        light,
        key: String::new(),
    };
    backtest.key = format!(
        "{}{}.json",
        super::reports_prefix(&pipeline.name),
        riskfn_core::registry::new_version_id()
    );
    let bytes = serde_json::to_vec_pretty(&backtest).map_err(|e| Error::Data(e.to_string()))?;
    put_once(store.as_ref(), &backtest.key, bytes.into(), PutMode::Create).await?;
    Ok(backtest)
}

/// One cohort's tests over its matured outcomes.
fn cohort(name: &str, rows: &[&Outcome], initial: Option<f64>, s: &Settings) -> Cohort {
    let matured: Vec<(f64, bool)> = (rows.iter())
        .filter_map(|o| o.outcome.map(|bad| (o.probability, bad)))
        .collect();
    let pd: Vec<f64> = matured.iter().map(|m| m.0).collect();
    let bad: Vec<bool> = matured.iter().map(|m| m.1).collect();
    let defaults = bad.iter().filter(|b| **b).count() as u64;
    let discrimination = stats::delong(&pd, &bad).map(|auc| {
        let half = 1.959_963_984_540_054 * auc.std_error();
        Discrimination {
            auc: auc.auc,
            gini: auc.gini(),
            ks: riskfn_train::metrics::ks(&bad, &pd),
            auc_interval: [auc.auc - half, auc.auc + half],
            initial_auc: initial,
            ecb: initial.map(|i| {
                let (statistic, p) = auc.ecb_test(i);
                test(statistic, p, s)
            }),
        }
    });
    let calibration = (!pd.is_empty()).then(|| calibration(&pd, &bad, s));
    let lights = (discrimination.iter().flat_map(|d| d.ecb.map(|t| t.light)))
        .chain(calibration.iter().map(Calibration::light));
    Cohort {
        cohort: name.to_owned(),
        rows: matured.len() as u64,
        defaults,
        pending: (rows.len() - matured.len()) as u64,
        light: lights.max().unwrap_or(Light::Green),
        discrimination,
        calibration,
    }
}

impl Calibration {
    /// The worst light of the calibration tests, the grades' included.
    pub fn light(&self) -> Light {
        let grades = (self.grades.iter()).flat_map(|g| [g.jeffreys.light, g.binomial.light]);
        [self.jeffreys, self.binomial, self.spiegelhalter]
            .iter()
            .chain(&self.hosmer_lemeshow)
            .map(|t| t.light)
            .chain(grades)
            .max()
            .unwrap_or(Light::Green)
    }
}

fn test(statistic: f64, p: f64, s: &Settings) -> Test {
    Test {
        statistic,
        p,
        light: s.light(p),
    }
}

fn calibration(pd: &[f64], bad: &[bool], s: &Settings) -> Calibration {
    let n = pd.len() as u64;
    let defaults = bad.iter().filter(|b| **b).count() as u64;
    let mean_pd = pd.iter().sum::<f64>() / n as f64;
    let (grade, grades) = deciles(pd);
    let counts = stats::grade_counts(pd, bad, &grade, grades);
    let (hl, df, hl_p) = stats::hosmer_lemeshow(&counts);
    let (z, z_p) = stats::spiegelhalter(pd, bad);
    let line = stats::calibration(pd, bad);
    Calibration {
        mean_pd,
        observed_rate: defaults as f64 / n as f64,
        brier: stats::brier(pd, bad),
        jeffreys: test(mean_pd, stats::jeffreys(mean_pd, n, defaults), s),
        binomial: test(defaults as f64, stats::binomial(mean_pd, n, defaults), s),
        hosmer_lemeshow: (df > 0).then(|| test(hl, hl_p, s)),
        spiegelhalter: test(z, z_p, s),
        intercept: line.map(|l| l.0),
        slope: line.map(|l| l.1),
        grades: (counts.iter().enumerate())
            .filter(|(_, c)| c.rows > 0)
            .map(|(g, c)| grade_row(g, c, s))
            .collect(),
    }
}

fn grade_row(grade: usize, c: &GradeCount, s: &Settings) -> Grade {
    let pd = c.mean_pd();
    Grade {
        grade,
        rows: c.rows,
        defaults: c.defaults,
        mean_pd: pd,
        observed_rate: c.defaults as f64 / c.rows as f64,
        jeffreys: test(pd, stats::jeffreys(pd, c.rows, c.defaults), s),
        binomial: test(
            c.defaults as f64,
            stats::binomial(pd, c.rows, c.defaults),
            s,
        ),
    }
}

/// Each PD's decile among `pd` (ties in the lower grade), and the number of grades.
fn deciles(pd: &[f64]) -> (Vec<usize>, usize) {
    let mut sorted = pd.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    // numpy's linear quantiles at 10 %, ..., 90 %.
    let cuts: Vec<f64> = (1..10)
        .map(|k| {
            let at = (n - 1) as f64 * k as f64 / 10.0;
            let (lo, frac) = (at.floor() as usize, at - at.floor());
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (sorted[hi] - sorted[lo]) * frac
        })
        .collect();
    let grade = pd.iter().map(|p| cuts.partition_point(|c| c < p)).collect();
    (grade, 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grades are numpy's `searchsorted(quantile(pd, 0.1..0.9), pd, side="left")`, as
    /// the reference portfolio's (tests/reference/outcomes_stats.json).
    #[test]
    fn deciles_are_numpys() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/reference/outcomes_stats.json"
        );
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let pd: Vec<f64> = r["pd"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let want: Vec<usize> = r["grade"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(deciles(&pd).0, want);
    }
}
