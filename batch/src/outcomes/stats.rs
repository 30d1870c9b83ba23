//! The back-testing statistics, each a closed formula over (PD, outcome) pairs: DeLong's
//! AUC variance and the tests built on it, the calibration tests per grade and for the
//! portfolio, and the concentration of grades. The formulas follow the ECB's instructions
//! for reporting the validation of internal models (2019) where it sets one; every value
//! is checked against scipy, statsmodels and scikit-learn (`tests/reference/outcomes_reference.py`).

use riskfn_train::metrics::delong_components;
use statrs::distribution::{Beta, Binomial, ChiSquared, ContinuousCDF, DiscreteCDF, Normal};

/// DeLong's structural components of one score ([`delong_components`]): for each adverse
/// outcome the share of the others it outscores (ties a half), and for each other the
/// share of the adverse outcomes that outscore it.
struct Components {
    adverse: Vec<f64>,
    other: Vec<f64>,
}

impl Components {
    fn new(score: &[f64], adverse: &[bool]) -> Components {
        let (adverse, other) = delong_components(adverse, score);
        Components { adverse, other }
    }

    fn auc(&self) -> f64 {
        mean(&self.adverse)
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Sample covariance (n - 1 in the denominator).
fn covariance(a: &[f64], b: &[f64]) -> f64 {
    let (ma, mb) = (mean(a), mean(b));
    let s: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    s / (a.len() as f64 - 1.0)
}

fn normal_sf(x: f64) -> f64 {
    // The standard normal: parameters that cannot fail.
    Normal::standard().sf(x)
}

/// ROC AUC of `score` for `adverse` with DeLong's variance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Auc {
    pub auc: f64,
    pub variance: f64,
}

impl Auc {
    pub fn gini(&self) -> f64 {
        2.0 * self.auc - 1.0
    }

    pub fn std_error(&self) -> f64 {
        self.variance.sqrt()
    }

    /// The ECB's test of this (current) AUC against the one at development: `S =
    /// (initial - current) / s` with `s` this AUC's standard error, one-sided p-value
    /// `1 - Phi(S)` (small when the AUC has fallen).
    pub fn ecb_test(&self, initial: f64) -> (f64, f64) {
        let s = (initial - self.auc) / self.std_error();
        (s, normal_sf(s))
    }
}

/// `None` unless both outcomes occur at least twice (a variance needs two of each).
pub fn delong(score: &[f64], adverse: &[bool]) -> Option<Auc> {
    let c = Components::new(score, adverse);
    if c.adverse.len() < 2 || c.other.len() < 2 {
        return None;
    }
    let variance = covariance(&c.adverse, &c.adverse) / c.adverse.len() as f64
        + covariance(&c.other, &c.other) / c.other.len() as f64;
    Some(Auc {
        auc: c.auc(),
        variance,
    })
}

/// DeLong's paired test of two scores' AUCs on the same applicants: `z` and the two-sided
/// p-value.
pub fn delong_paired(a: &[f64], b: &[f64], adverse: &[bool]) -> Option<(f64, f64)> {
    let (ca, cb) = (Components::new(a, adverse), Components::new(b, adverse));
    let (m, n) = (ca.adverse.len() as f64, ca.other.len() as f64);
    if m < 2.0 || n < 2.0 {
        return None;
    }
    let cov = |x: &Components, y: &Components| {
        covariance(&x.adverse, &y.adverse) / m + covariance(&x.other, &y.other) / n
    };
    let var = cov(&ca, &ca) + cov(&cb, &cb) - 2.0 * cov(&ca, &cb);
    let z = (ca.auc() - cb.auc()) / var.sqrt();
    Some((z, 2.0 * normal_sf(z.abs())))
}

/// The Jeffreys test of a grade (ECB): `p = BetaCDF(PD; D + 1/2, N - D + 1/2)`, small when
/// more of its `rows` defaulted than its PD says.
pub fn jeffreys(pd: f64, rows: u64, defaults: u64) -> f64 {
    let (d, n) = (defaults as f64, rows as f64);
    match Beta::new(d + 0.5, n - d + 0.5) {
        Ok(b) => b.cdf(pd),
        Err(_) => f64::NAN,
    }
}

/// The one-sided binomial test: the probability of `defaults` or more among `rows` at
/// `pd`.
pub fn binomial(pd: f64, rows: u64, defaults: u64) -> f64 {
    if defaults == 0 {
        return 1.0;
    }
    match Binomial::new(pd, rows) {
        Ok(b) => b.sf(defaults - 1),
        Err(_) => f64::NAN,
    }
}

/// One grade's rows, defaults and expected defaults (its PDs' sum).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GradeCount {
    pub rows: u64,
    pub defaults: u64,
    pub expected: f64,
}

impl GradeCount {
    pub fn mean_pd(&self) -> f64 {
        self.expected / self.rows as f64
    }
}

/// Each grade's counts, `grade[i]` being row `i`'s grade among `grades`.
pub fn grade_counts(
    pd: &[f64],
    adverse: &[bool],
    grade: &[usize],
    grades: usize,
) -> Vec<GradeCount> {
    let mut out = vec![GradeCount::default(); grades];
    for ((&p, &a), &g) in pd.iter().zip(adverse).zip(grade) {
        let c = &mut out[g];
        c.rows += 1;
        c.defaults += u64::from(a);
        c.expected += p;
    }
    out
}

/// Hosmer-Lemeshow over the grades with rows: the statistic, its degrees of freedom
/// (grades - 2) and p-value.
pub fn hosmer_lemeshow(counts: &[GradeCount]) -> (f64, u64, f64) {
    let used: Vec<&GradeCount> = counts.iter().filter(|c| c.rows > 0).collect();
    let stat: f64 = used
        .iter()
        .map(|c| {
            let (o, e) = (c.defaults as f64, c.expected);
            (o - e).powi(2) / (e * (1.0 - e / c.rows as f64))
        })
        .sum();
    let df = used.len().saturating_sub(2) as u64;
    let p = match ChiSquared::new(df as f64) {
        Ok(chi) => chi.sf(stat),
        Err(_) => f64::NAN,
    };
    (stat, df, p)
}

/// Spiegelhalter's z and its two-sided p-value (as `rms::val.prob` reports them).
pub fn spiegelhalter(pd: &[f64], adverse: &[bool]) -> (f64, f64) {
    let (mut num, mut var) = (0.0, 0.0);
    for (&p, &a) in pd.iter().zip(adverse) {
        let y = f64::from(u8::from(a));
        num += (y - p) * (1.0 - 2.0 * p);
        var += (1.0 - 2.0 * p).powi(2) * p * (1.0 - p);
    }
    let z = num / var.sqrt();
    (z, 2.0 * normal_sf(z.abs()))
}

/// Calibration intercept and slope: the logistic regression of the outcome on the PD's
/// log-odds, unpenalised (`rms::val.prob`'s Intercept and Slope; 0 and 1 when
/// calibrated), by Newton's method.
pub fn calibration(pd: &[f64], adverse: &[bool]) -> Option<(f64, f64)> {
    let x: Vec<f64> = pd.iter().map(|&p| (p / (1.0 - p)).ln()).collect();
    let (mut a, mut b) = (0.0, 1.0);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&xi, &yi) in x.iter().zip(adverse) {
            let q = 1.0 / (1.0 + (-(a + b * xi)).exp());
            let r = f64::from(u8::from(yi)) - q;
            let w = q * (1.0 - q);
            ga += r;
            gb += r * xi;
            haa += w;
            hab += w * xi;
            hbb += w * xi * xi;
        }
        let det = haa * hbb - hab * hab;
        if !(det.is_finite() && det > 0.0) {
            return None;
        }
        let (da, db) = ((hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det);
        a += da;
        b += db;
        if da.abs().max(db.abs()) < 1e-13 {
            return Some((a, b));
        }
    }
    None
}

/// The Brier score.
pub fn brier(pd: &[f64], adverse: &[bool]) -> f64 {
    let s: f64 = (pd.iter().zip(adverse))
        .map(|(&p, &a)| (p - f64::from(u8::from(a))).powi(2))
        .sum();
    s / pd.len() as f64
}

/// The coefficient of variation of the grades' shares (ECB): `CV = sqrt(K sum (R_i -
/// 1/K)^2)`, and the Herfindahl index `1 + ln((CV^2 + 1) / K) / ln K`.
pub fn concentration(counts: &[u64]) -> (f64, f64) {
    let k = counts.len() as f64;
    let total: u64 = counts.iter().sum();
    let cv = (k * counts
        .iter()
        .map(|&c| (c as f64 / total as f64 - 1.0 / k).powi(2))
        .sum::<f64>())
    .sqrt();
    (cv, 1.0 + ((cv * cv + 1.0) / k).ln() / k.ln())
}

/// The ECB's test of the current grades' concentration against the initial: one-sided
/// p-value `1 - Phi(sqrt(K - 1) (CV_curr - CV_init) / sqrt(CV_curr^2 (0.5 + CV_curr^2)))`,
/// small when the grades have concentrated.
pub fn concentration_test(cv_initial: f64, cv_current: f64, grades: usize) -> f64 {
    let k = grades as f64;
    let s = (k - 1.0).sqrt() * (cv_current - cv_initial)
        / (cv_current * cv_current * (0.5 + cv_current * cv_current)).sqrt();
    normal_sf(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every statistic equals the reference's on the same 400 applicants, to 1e-9 (1e-8
    /// for the fitted calibration line). Expected values: `tests/reference/outcomes_stats.json`,
    /// written by `tests/reference/outcomes_reference.py` (scipy 1.17.1, statsmodels 0.15.0,
    /// scikit-learn 1.9.1; DeLong's variance from its definition, pair by pair, and the
    /// paired test and AUC interval from MLstatkit 0.1.91's Delong_test).
    #[test]
    fn statistics_equal_scipy_statsmodels_and_delongs_definition() {
        let r = crate::outcomes::testing::reference();
        let f = |k: &str| r[k].as_f64().unwrap();
        let floats = |k: &str| crate::outcomes::testing::numbers(&r, k);
        let (pd, challenger) = (floats("pd"), floats("challenger"));
        let adverse: Vec<bool> = floats("outcome").iter().map(|&v| v == 1.0).collect();
        let grade: Vec<usize> = floats("grade").iter().map(|&g| g as usize).collect();
        let close = |got: f64, want: f64, tol: f64, what: &str| {
            assert!(
                (got - want).abs() <= tol * want.abs().max(1.0),
                "{what}: {got} against {want}"
            );
        };

        let auc = delong(&pd, &adverse).unwrap();
        close(auc.auc, f("auc"), 1e-12, "AUC");
        close(
            auc.auc,
            riskfn_train::metrics::roc_auc(&adverse, &pd),
            1e-12,
            "AUC (riskfn's)",
        );
        close(auc.variance, f("auc_variance"), 1e-9, "DeLong variance");
        let (s, p) = auc.ecb_test(f("auc_init"));
        close(s, f("ecb_s"), 1e-9, "ECB S");
        close(p, f("ecb_p"), 1e-9, "ECB p");
        close(
            riskfn_train::metrics::ks(&adverse, &pd),
            f("ks"),
            1e-12,
            "KS",
        );
        let (z, p) = delong_paired(&pd, &challenger, &adverse).unwrap();
        close(z, f("paired_z"), 1e-9, "paired z");
        close(p, f("paired_p"), 1e-9, "paired p");
        // And MLstatkit's Delong_test, a published implementation: the paired test and the
        // AUC's 95 % interval.
        close(z, f("mlstatkit_paired_z"), 1e-9, "paired z (MLstatkit)");
        close(p, f("mlstatkit_paired_p"), 1e-9, "paired p (MLstatkit)");
        let half = 1.959_963_984_540_054 * auc.std_error();
        let ci = r["mlstatkit_auc_ci"].as_array().unwrap();
        close(
            auc.auc - half,
            ci[0].as_f64().unwrap(),
            1e-9,
            "AUC interval (MLstatkit)",
        );
        close(
            auc.auc + half,
            ci[1].as_f64().unwrap(),
            1e-9,
            "AUC interval (MLstatkit)",
        );

        let counts = grade_counts(&pd, &adverse, &grade, 10);
        for (c, want) in counts.iter().zip(r["grades"].as_array().unwrap()) {
            let g = want["grade"].as_u64().unwrap();
            assert_eq!(
                (c.rows, c.defaults),
                (
                    want["rows"].as_u64().unwrap(),
                    want["defaults"].as_u64().unwrap()
                ),
                "grade {g}"
            );
            close(
                c.mean_pd(),
                want["mean_pd"].as_f64().unwrap(),
                1e-12,
                "mean PD",
            );
            close(
                jeffreys(c.mean_pd(), c.rows, c.defaults),
                want["jeffreys_p"].as_f64().unwrap(),
                1e-9,
                &format!("Jeffreys, grade {g}"),
            );
            close(
                binomial(c.mean_pd(), c.rows, c.defaults),
                want["binomial_p"].as_f64().unwrap(),
                1e-9,
                &format!("binomial, grade {g}"),
            );
        }
        let (n, d) = (
            pd.len() as u64,
            adverse.iter().filter(|a| **a).count() as u64,
        );
        let portfolio_pd = pd.iter().sum::<f64>() / n as f64;
        close(
            jeffreys(portfolio_pd, n, d),
            f("portfolio_jeffreys_p"),
            1e-9,
            "portfolio Jeffreys",
        );
        close(
            binomial(portfolio_pd, n, d),
            f("portfolio_binomial_p"),
            1e-9,
            "portfolio binomial",
        );
        let (hl, df, p) = hosmer_lemeshow(&counts);
        assert_eq!(df, 8);
        close(hl, f("hosmer_lemeshow"), 1e-9, "Hosmer-Lemeshow");
        close(p, f("hosmer_lemeshow_p"), 1e-9, "Hosmer-Lemeshow p");
        let (z, p) = spiegelhalter(&pd, &adverse);
        close(z, f("spiegelhalter_z"), 1e-9, "Spiegelhalter z");
        close(p, f("spiegelhalter_p"), 1e-9, "Spiegelhalter p");
        let (a, b) = calibration(&pd, &adverse).unwrap();
        close(a, f("calibration_intercept"), 1e-8, "calibration intercept");
        close(b, f("calibration_slope"), 1e-8, "calibration slope");
        close(brier(&pd, &adverse), f("brier"), 1e-12, "Brier");

        let initial: Vec<u64> = r["initial_counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        let current: Vec<u64> = counts.iter().map(|c| c.rows).collect();
        let (cv_init, _) = concentration(&initial);
        let (cv, hi) = concentration(&current);
        close(cv_init, f("cv_initial"), 1e-12, "CV initial");
        close(cv, f("cv_current"), 1e-12, "CV current");
        close(hi, f("herfindahl"), 1e-9, "Herfindahl");
        close(
            concentration_test(cv_init, cv, 10),
            f("herfindahl_p"),
            1e-9,
            "concentration test",
        );
    }
}
