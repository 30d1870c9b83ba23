//! `riskfn outcomes report` and `check`: every loaded outcome whose window has passed,
//! back-tested per version and per cohort (decision month, and all of them): realised
//! discrimination with DeLong's interval and the ECB's test against the version's own
//! validation AUC, calibration per grade and for the portfolio, and the grades'
//! concentration against the test split's. The grades are the pipeline's `[outcomes]
//! grades` PD boundaries, or the version's test-split deciles (kept at training). Each test gets its traffic light from the pipeline's `[outcomes]` levels;
//! the result is kept in the store with the loads' fingerprints.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use riskfn_core::contract::measures::TestScores;
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
    /// The cohorts' span: decisions of the same month, quarter or year.
    pub period: Period,
}

/// How decisions are grouped into cohorts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    #[default]
    Month,
    Quarter,
    Year,
}

impl std::str::FromStr for Period {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "month" => Ok(Period::Month),
            "quarter" => Ok(Period::Quarter),
            "year" => Ok(Period::Year),
            other => Err(format!("{other}: month, quarter or year")),
        }
    }
}

impl Period {
    /// The cohort of a decision date `yyyy-mm-dd`: `2026-12`, `2026-Q4` or `2026`.
    pub fn cohort(self, decided: &str) -> String {
        let (year, month) = (decided.get(..4).unwrap_or(decided), decided.get(5..7));
        match (self, month.and_then(|m| m.parse::<u8>().ok())) {
            (Period::Month, Some(m)) => format!("{year}-{m:02}"),
            (Period::Quarter, Some(m)) => format!("{year}-Q{}", m.div_ceil(3)),
            _ => year.to_owned(),
        }
    }
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
    /// The grades' concentration against the test split's at training.
    pub concentration: Option<Concentration>,
    pub grades: Vec<Grade>,
}

/// How concentrated the grades are (ECB): the coefficient of variation of their shares,
/// the Herfindahl index, and the test against the initial distribution (statistic: CV).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Concentration {
    pub cv_initial: f64,
    pub cv: f64,
    pub herfindahl: f64,
    pub test: Test,
    /// The score's PSI over the grades against the same rows, and its band (stable below
    /// 0.1, watch to 0.25, act above), as `riskfn drift` reports one.
    pub psi: f64,
    pub psi_band: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cohort {
    /// The decisions' month (`2026-12`), quarter (`2026-Q4`) or year, or `all`.
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
    /// The version's validation AUC at training.
    pub initial_auc: Option<f64>,
    /// The rating grades' PD boundaries (grade `g` holds PDs above `grades[g - 1]` up to
    /// `grades[g]`), and where they come from.
    pub grades: Vec<f64>,
    pub grades_from: String,
    pub cohorts: Vec<Cohort>,
    /// Per cohort, when the outcomes give months on book.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vintages: Vec<Vintage>,
}

/// A cohort's vintage curve: of its loans, the share gone bad by each month on book.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vintage {
    pub cohort: String,
    pub loans: u64,
    /// `bad_rate[m - 1]`: the share of the loans bad within `m` months on book, up to the
    /// most months any of them has been observed.
    pub bad_rate: Vec<f64>,
}

/// The vintage curves of `cohorts` (each the outcomes of one cohort), from their months
/// on book; none when no outcome gives them.
pub fn vintages(cohorts: &BTreeMap<String, Vec<&Outcome>>) -> Vec<Vintage> {
    cohorts
        .iter()
        .filter_map(|(name, rows)| {
            let months = rows.iter().filter_map(|o| o.months_on_book).max()?;
            let loans = rows.len() as u64;
            let bad_at: Vec<u32> = (rows.iter())
                .filter(|o| o.outcome == Some(true))
                .filter_map(|o| o.months_on_book)
                .collect();
            let bad_rate = (1..=months)
                .map(|m| bad_at.iter().filter(|&&b| b <= m).count() as f64 / loans as f64)
                .collect();
            Some(Vintage {
                cohort: name.clone(),
                loans,
                bad_rate,
            })
        })
        .collect()
}

/// What a version is back-tested against: its validation AUC, its grades and the test
/// split's distribution over them.
struct Baseline {
    initial_auc: Option<f64>,
    cuts: Vec<f64>,
    from: &'static str,
    /// Approved test rows per grade (the initial distribution), when the version kept its
    /// test scores.
    initial_counts: Option<Vec<u64>>,
}

impl Baseline {
    /// A version no longer in the store, or one published without test scores, has what
    /// it has; a store that fails or a file that does not verify is an error.
    async fn of(
        registry: &Registry,
        pipeline: &str,
        version: &str,
        s: &Settings,
    ) -> Result<Baseline> {
        let manifest = match registry.manifest(pipeline, version).await {
            Ok(m) => Some(m),
            Err(riskfn_core::Error::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let test = match &manifest {
            Some(m) if m.files.contains_key(TestScores::FILE) => {
                let bytes = registry.read_verified(m, TestScores::FILE).await?;
                let scores = serde_json::from_slice::<TestScores>(&bytes).map_err(|e| {
                    Error::Data(format!("{pipeline} version {version}'s test scores: {e}"))
                })?;
                Some(scores)
            }
            _ => None,
        };
        let (cuts, from) = match (&s.grades, &test) {
            (Some(g), _) => (g.clone(), "the pipeline's [outcomes] grades"),
            (None, Some(t)) => (
                decile_cuts(&t.probability),
                "the version's test-split deciles",
            ),
            (None, None) => (Vec::new(), "each cohort's own deciles"),
        };
        // Outcomes exist only for approved applicants: the initial distribution is the test
        // split's approved rows, like with like.
        let initial_counts = match (&test, cuts.is_empty()) {
            (Some(t), false) => {
                let approved: Vec<f64> = (t.probability.iter().copied())
                    .filter(|&p| p < t.threshold)
                    .collect();
                Some(count_grades(&approved, &cuts))
            }
            _ => None,
        };
        Ok(Baseline {
            initial_auc: manifest.map(|m| m.metrics.validation.roc_auc),
            cuts,
            from,
            initial_counts,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backtest {
    pub pipeline: String,
    pub at: String,
    pub settings: Settings,
    pub period: Period,
    /// The loads it read: where each is kept and its file's fingerprint.
    pub loads: Vec<(String, String)>,
    pub versions: Vec<VersionBacktest>,
    /// The worst light of all.
    pub light: Light,
    /// Where each version's result is kept (its page beside it, `.html`).
    #[serde(default)]
    pub kept: Vec<String>,
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
    let settings = pipeline.outcomes.clone();
    let mut versions = Vec::new();
    for (version, mut rows) in by_version {
        rows.sort_by(|a, b| (&a.decided, &a.id, a.index).cmp(&(&b.decided, &b.id, b.index)));
        let baseline = Baseline::of(&registry, &pipeline.name, &version, &settings).await?;
        let mut cohorts: BTreeMap<String, Vec<&Outcome>> = BTreeMap::new();
        for o in &rows {
            cohorts
                .entry(opts.period.cohort(&o.decided))
                .or_default()
                .push(o);
        }
        let all: Vec<&Outcome> = rows.iter().collect();
        let mut out = vec![cohort("all", &all, &baseline, &settings)];
        out.extend((cohorts.iter()).map(|(m, o)| cohort(m, o, &baseline, &settings)));
        versions.push(VersionBacktest {
            version,
            initial_auc: baseline.initial_auc,
            grades: baseline.cuts.clone(),
            grades_from: baseline.from.to_owned(),
            cohorts: out,
            vintages: vintages(&cohorts),
        });
    }
    let worst = |v: &VersionBacktest| v.cohorts.iter().map(|c| c.light).max();
    let light = versions
        .iter()
        .filter_map(worst)
        .max()
        .unwrap_or(Light::Green);
    let mut backtest = Backtest {
        pipeline: pipeline.name.clone(),
        at: riskfn_core::registry::now_rfc3339(),
        settings,
        period: opts.period,
        loads,
        versions,
        light,
        kept: Vec::new(),
    };
    // Each version's result beside it (as drift reports are), with its page; its history
    // (its model card's) lists it.
    let id = riskfn_core::registry::new_version_id();
    for v in &backtest.versions {
        let one = Backtest {
            versions: vec![v.clone()],
            light: worst(v).unwrap_or(Light::Green),
            ..backtest.clone()
        };
        let prefix = riskfn_core::review::outcomes::reports_prefix(&pipeline.name, &v.version);
        let key = format!("{prefix}{id}.json");
        let bytes = serde_json::to_vec_pretty(&one).map_err(|e| Error::Data(e.to_string()))?;
        put_once(store.as_ref(), &key, bytes.into(), PutMode::Create).await?;
        let page = format!("{prefix}{id}.html");
        put_once(
            store.as_ref(),
            &page,
            super::html::html(&one).into(),
            PutMode::Create,
        )
        .await?;
        let event = riskfn_core::registry::audit::Event::Backtest {
            pipeline: pipeline.name.clone(),
            version: v.version.clone(),
            outcomes: v.cohorts.first().map_or(0, |c| c.rows),
            light: one.light.to_string(),
            report: key.clone(),
        };
        riskfn_core::review::record(&registry, event).await;
        backtest.kept.push(key);
    }
    Ok(backtest)
}

/// One cohort's tests over its matured outcomes.
fn cohort(name: &str, rows: &[&Outcome], base: &Baseline, s: &Settings) -> Cohort {
    let initial = base.initial_auc;
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
    let calibration = (!pd.is_empty()).then(|| calibration(&pd, &bad, base, s));
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
    /// The worst light of the calibration tests, the grades' and the concentration's
    /// included.
    pub fn light(&self) -> Light {
        let grades = (self.grades.iter()).flat_map(|g| [g.jeffreys.light, g.binomial.light]);
        [self.jeffreys, self.binomial, self.spiegelhalter]
            .iter()
            .chain(&self.hosmer_lemeshow)
            .chain(self.concentration.as_ref().map(|c| &c.test))
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

fn calibration(pd: &[f64], bad: &[bool], base: &Baseline, s: &Settings) -> Calibration {
    let n = pd.len() as u64;
    let defaults = bad.iter().filter(|b| **b).count() as u64;
    let mean_pd = pd.iter().sum::<f64>() / n as f64;
    let cuts = match base.cuts.is_empty() {
        true => decile_cuts(pd),
        false => base.cuts.clone(),
    };
    let grade: Vec<usize> = pd.iter().map(|&p| grade_of(&cuts, p)).collect();
    let counts = stats::grade_counts(pd, bad, &grade, cuts.len() + 1);
    let (hl, df, hl_p) = stats::hosmer_lemeshow(&counts);
    let (z, z_p) = stats::spiegelhalter(pd, bad);
    let line = stats::calibration(pd, bad);
    let concentration = base.initial_counts.as_ref().map(|initial| {
        let (cv_initial, _) = stats::concentration(initial);
        let current: Vec<u64> = counts.iter().map(|c| c.rows).collect();
        let (cv, herfindahl) = stats::concentration(&current);
        let shares = |c: &[u64]| -> Vec<f64> {
            let n = c.iter().sum::<u64>().max(1) as f64;
            c.iter().map(|&x| x as f64 / n).collect()
        };
        let psi = riskfn_core::review::drift::psi(&shares(initial), &shares(&current));
        Concentration {
            cv_initial,
            cv,
            herfindahl,
            test: test(
                cv,
                stats::concentration_test(cv_initial, cv, current.len()),
                s,
            ),
            psi,
            psi_band: riskfn_core::review::drift::band(psi).to_owned(),
        }
    });
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
        concentration,
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

/// The nine PDs that cut `pd` into deciles: numpy's linear quantiles at 10 %, ..., 90 %.
fn decile_cuts(pd: &[f64]) -> Vec<f64> {
    let mut sorted = pd.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        return Vec::new();
    }
    (1..10)
        .map(|k| {
            let at = (n - 1) as f64 * k as f64 / 10.0;
            let (lo, frac) = (at.floor() as usize, at - at.floor());
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (sorted[hi] - sorted[lo]) * frac
        })
        .collect()
}

/// A PD's grade: how many cut points lie below it (a PD on a cut point is in the lower
/// grade, as numpy's `searchsorted(side="left")`).
fn grade_of(cuts: &[f64], p: f64) -> usize {
    cuts.partition_point(|c| *c < p)
}

fn count_grades(pd: &[f64], cuts: &[f64]) -> Vec<u64> {
    let mut counts = vec![0; cuts.len() + 1];
    for &p in pd {
        counts[grade_of(cuts, p)] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two cohorts: four loans of which two went bad at months 2 and 3 (one good observed
    /// to month 4), and one loan with no months on book (no curve).
    #[test]
    fn vintage_curves_count_bads_by_month_on_book_over_the_cohorts_loans() {
        let loan = |id: &str, bad: Option<bool>, months: Option<u32>| Outcome {
            id: id.into(),
            index: None,
            version: "v".into(),
            decided: "2026-01-15".into(),
            probability: 0.1,
            outcome: bad,
            observed: "2027-01-15".into(),
            months_on_book: months,
        };
        let (a, b, c, d, e) = (
            loan("a", Some(true), Some(2)),
            loan("b", Some(true), Some(3)),
            loan("c", Some(false), Some(4)),
            loan("d", None, Some(1)),
            loan("e", Some(true), None),
        );
        let cohorts = BTreeMap::from([
            ("2026-01".to_owned(), vec![&a, &b, &c, &d]),
            ("2026-02".to_owned(), vec![&e]),
        ]);
        let v = vintages(&cohorts);
        assert_eq!(v.len(), 1);
        assert_eq!((v[0].cohort.as_str(), v[0].loans), ("2026-01", 4));
        assert_eq!(v[0].bad_rate, vec![0.0, 0.25, 0.5, 0.5]);
    }

    #[test]
    fn cohorts_are_months_quarters_or_years() {
        let cohorts =
            [Period::Month, Period::Quarter, Period::Year].map(|p| p.cohort("2026-11-30"));
        assert_eq!(cohorts, ["2026-11", "2026-Q4", "2026"]);
        assert_eq!(Period::Quarter.cohort("2027-01-02"), "2027-Q1");
        assert!("week".parse::<Period>().is_err());
    }

    /// The grades are numpy's `searchsorted(quantile(pd, 0.1..0.9), pd, side="left")`, as
    /// the reference portfolio's (tests/reference/outcomes_stats.json).
    #[test]
    fn deciles_are_numpys() {
        let r = crate::outcomes::testing::reference();
        let pd = crate::outcomes::testing::numbers(&r, "pd");
        let want: Vec<usize> = (crate::outcomes::testing::numbers(&r, "grade").iter())
            .map(|&g| g as usize)
            .collect();
        let cuts = decile_cuts(&pd);
        let got: Vec<usize> = pd.iter().map(|&p| grade_of(&cuts, p)).collect();
        assert_eq!(got, want);
    }
}
