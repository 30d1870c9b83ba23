//! Evaluation measures of a probability model on labelled rows.

use riskfn_core::contract::artifact::{Confusion, Metrics};

/// Every measure of `p` (probability of the adverse outcome) against `y` (adverse = true),
/// with decisions at `threshold` (adverse when `p >= threshold`).
pub fn evaluate(y: &[bool], p: &[f64], threshold: f64) -> Metrics {
    assert_eq!(y.len(), p.len(), "one probability per label");
    let mut c = Confusion::default();
    for (&yi, &pi) in y.iter().zip(p) {
        match (yi, pi >= threshold) {
            (true, true) => c.tp += 1,
            (false, true) => c.fp += 1,
            (false, false) => c.tn += 1,
            (true, false) => c.fn_ += 1,
        }
    }
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = ratio(c.tp, c.tp + c.fp);
    let recall = ratio(c.tp, c.tp + c.fn_);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    let auc = roc_auc(y, p);
    let n = y.len() as f64;
    Metrics {
        rows: y.len() as u64,
        positives: c.tp + c.fn_,
        threshold,
        accuracy: ratio(c.tp + c.tn, y.len() as u64),
        precision,
        recall,
        f1,
        roc_auc: auc,
        ks: ks(y, p),
        gini: 2.0 * auc - 1.0,
        brier: y
            .iter()
            .zip(p)
            .map(|(&yi, &pi)| (pi - f64::from(u8::from(yi))).powi(2))
            .sum::<f64>()
            / n,
        log_loss: log_loss(y, p),
        confusion: c,
    }
}

/// Area under the ROC curve by the rank-sum (Mann-Whitney) formula, ties sharing the
/// average rank. NaN when one class is absent.
pub fn roc_auc(y: &[bool], p: &[f64]) -> f64 {
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && p[idx[j + 1]] == p[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += avg_rank * idx[i..=j].iter().filter(|&&k| y[k]).count() as f64;
        i = j + 1;
    }
    let pos = y.iter().filter(|&&b| b).count() as f64;
    let neg = y.len() as f64 - pos;
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// The DeLong standard error of [`roc_auc`] (DeLong, DeLong and Clarke-Pearson 1988): the
/// sample variances of [`delong_components`] over the number of rows of their class,
/// summed. NaN when a class has fewer than two rows.
pub fn auc_standard_error(y: &[bool], p: &[f64]) -> f64 {
    fn sample_var(v: &[f64]) -> f64 {
        let n = v.len() as f64;
        let m = v.iter().sum::<f64>() / n;
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
    }
    let (v10, v01) = delong_components(y, p);
    let (m, n) = (v10.len(), v01.len());
    if m < 2 || n < 2 {
        return f64::NAN;
    }
    (sample_var(&v10) / m as f64 + sample_var(&v01) / n as f64).sqrt()
}

/// DeLong's structural components of `p`, by the midrank form of Sun and Xu 2014 (not
/// pairs): each positive's share of negatives it outranks and each negative's share of
/// positives outranking it (ties count half), each class in row order. The AUC is the
/// positives' mean; the AUC's variance and DeLong's tests are built on them.
pub fn delong_components(y: &[bool], p: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let class = |want: bool| -> Vec<f64> {
        (y.iter().zip(p))
            .filter(|(b, _)| **b == want)
            .map(|(_, &v)| v)
            .collect()
    };
    let (pos, neg) = (class(true), class(false));
    let (m, n) = (pos.len(), neg.len());
    let all = midranks(p);
    let (rp, rn) = (midranks(&pos), midranks(&neg));
    let (mut v10, mut v01) = (Vec::with_capacity(m), Vec::with_capacity(n));
    let (mut i, mut j) = (0, 0);
    for (k, &b) in y.iter().enumerate() {
        if b {
            v10.push((all[k] - rp[i]) / n as f64);
            i += 1;
        } else {
            v01.push(1.0 - (all[k] - rn[j]) / m as f64);
            j += 1;
        }
    }
    (v10, v01)
}

/// Midranks (1-based, ties averaged) of `v` among themselves.
fn midranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        for &k in &idx[i..=j] {
            r[k] = (i + j) as f64 / 2.0 + 1.0;
        }
        i = j + 1;
    }
    r
}

pub use riskfn_core::contract::measures::GainsRow;

/// The gains table: rows by descending probability in `bands` bands of equal counts (rows
/// of one probability never split), each band's counts and the cumulative shares.
pub fn gains(y: &[bool], p: &[f64], bands: usize) -> Vec<GainsRow> {
    let n = p.len();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
    let pos = y.iter().filter(|&&b| b).count();
    let neg = n - pos;
    let mut out = Vec::new();
    let (mut start, mut cum_a, mut cum_f) = (0usize, 0usize, 0usize);
    for band in 1..=bands.max(1) {
        if start >= n {
            break;
        }
        let mut end = (band * n / bands.max(1)).max(start + 1).min(n);
        while end < n && p[idx[end]] == p[idx[end - 1]] {
            end += 1;
        }
        let rows = &idx[start..end];
        let adverse = rows.iter().filter(|&&i| y[i]).count();
        cum_a += adverse;
        cum_f += rows.len() - adverse;
        let share = |k: usize, of: usize| if of == 0 { 0.0 } else { k as f64 / of as f64 };
        out.push(GainsRow {
            band,
            rows: rows.len(),
            adverse,
            min_probability: p[idx[end - 1]],
            max_probability: p[idx[start]],
            bad_rate: adverse as f64 / rows.len() as f64,
            cumulative_adverse: share(cum_a, pos),
            cumulative_favourable: share(cum_f, neg),
            ks: share(cum_a, pos) - share(cum_f, neg),
        });
        start = end;
    }
    out
}

/// Kolmogorov-Smirnov statistic: the largest TPR - FPR over all thresholds.
pub fn ks(y: &[bool], p: &[f64]) -> f64 {
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let pos = y.iter().filter(|&&b| b).count() as f64;
    let neg = y.len() as f64 - pos;
    let (mut tp, mut fp, mut best) = (0.0, 0.0, 0.0f64);
    let mut i = 0;
    while i < idx.len() {
        // All rows at one score cross the threshold together.
        let score = p[idx[i]];
        while i < idx.len() && p[idx[i]] == score {
            if y[idx[i]] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            i += 1;
        }
        best = best.max(tp / pos - fp / neg);
    }
    best
}

/// Mean negative log-likelihood, probabilities clipped to [eps, 1 - eps] (f64 machine eps).
pub fn log_loss(y: &[bool], p: &[f64]) -> f64 {
    let eps = f64::EPSILON;
    y.iter()
        .zip(p)
        .map(|(&yi, &pi)| {
            let q = pi.clamp(eps, 1.0 - eps);
            if yi { -q.ln() } else { -(1.0 - q).ln() }
        })
        .sum::<f64>()
        / y.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midranks_average_ties() {
        assert_eq!(midranks(&[0.3, 0.1, 0.3, 0.2]), vec![3.5, 1.0, 3.5, 2.0]);
    }

    /// What `riskfn train` and the report print: words, not the enum's debug form.
    #[test]
    fn threshold_rules_read_as_words() {
        let shown = |r: ThresholdRule| r.to_string();
        assert_eq!(
            shown(ThresholdRule::Fixed { threshold: 0.5 }),
            "fixed at 0.5"
        );
        assert_eq!(shown(ThresholdRule::MaxKs), "highest KS on validation");
        assert_eq!(
            shown(ThresholdRule::Cost {
                false_approve: 5.0,
                false_decline: 1.0
            }),
            "least cost on validation (a bad applicant approved costs 5, a good one declined 1)"
        );
    }
    use approx::assert_abs_diff_eq;

    /// Expected values computed with scikit-learn 1.9.1 (numpy 2.4.6) on these inputs:
    /// accuracy_score, precision_score, recall_score, f1_score on `p >= 0.5`;
    /// roc_auc_score; max(tpr - fpr) from roc_curve; brier_score_loss; log_loss;
    /// confusion_matrix [[tn fp] [fn tp]] = [[5 2] [2 3]].
    #[test]
    fn matches_scikit_learn() {
        let y = [1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 0].map(|v| v == 1);
        let p = [
            0.9, 0.1, 0.8, 0.35, 0.35, 0.6, 0.2, 0.05, 0.35, 0.7, 0.5, 0.4,
        ];
        let m = evaluate(&y, &p, 0.5);
        assert_abs_diff_eq!(m.accuracy, 0.666_666_666_666_666_6, epsilon = 1e-12);
        assert_abs_diff_eq!(m.precision, 0.6, epsilon = 1e-12);
        assert_abs_diff_eq!(m.recall, 0.6, epsilon = 1e-12);
        assert_abs_diff_eq!(m.f1, 0.6, epsilon = 1e-12);
        assert_abs_diff_eq!(m.roc_auc, 0.742_857_142_857_142_9, epsilon = 1e-12);
        assert_abs_diff_eq!(m.ks, 0.6, epsilon = 1e-12);
        assert_abs_diff_eq!(m.brier, 0.185_833_333_333_333_38, epsilon = 1e-12);
        assert_abs_diff_eq!(m.log_loss, 0.540_243_518_856_160_2, epsilon = 1e-12);
        assert_abs_diff_eq!(m.gini, 2.0 * 0.742_857_142_857_142_9 - 1.0, epsilon = 1e-12);
        assert_eq!(
            (
                m.confusion.tn,
                m.confusion.fp,
                m.confusion.fn_,
                m.confusion.tp
            ),
            (5, 2, 2, 3)
        );
    }
}

/// How the decision threshold is chosen (on the validation split).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum ThresholdRule {
    Fixed {
        threshold: f64,
    },
    /// The threshold with the highest F1.
    MaxF1,
    /// The threshold where TPR - FPR is largest.
    MaxKs,
    /// The threshold of least total cost: each approved applicant who turns out bad costs
    /// `false_approve`, each declined good one `false_decline`.
    Cost {
        false_approve: f64,
        false_decline: f64,
    },
}

/// How a person reads the rule: `fixed at 0.5`, `highest KS on validation`.
impl std::fmt::Display for ThresholdRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ThresholdRule::Fixed { threshold } => write!(f, "fixed at {threshold}"),
            ThresholdRule::MaxF1 => f.write_str("highest F1 on validation"),
            ThresholdRule::MaxKs => f.write_str("highest KS on validation"),
            ThresholdRule::Cost {
                false_approve,
                false_decline,
            } => write!(
                f,
                "least cost on validation (a bad applicant approved costs {false_approve}, a good one declined {false_decline})"
            ),
        }
    }
}

/// The threshold `rule` picks on (`y`, `p`): for the data-driven rules one of the observed
/// probabilities (decide adverse when `p >= threshold`).
pub fn choose_threshold(rule: ThresholdRule, y: &[bool], p: &[f64]) -> f64 {
    let score = |t: f64| -> f64 {
        let (mut tp, mut fp, mut fn_) = (0.0, 0.0, 0.0);
        for (&yi, &pi) in y.iter().zip(p) {
            match (yi, pi >= t) {
                (true, true) => tp += 1.0,
                (false, true) => fp += 1.0,
                (true, false) => fn_ += 1.0,
                (false, false) => {}
            }
        }
        match rule {
            ThresholdRule::MaxF1 => {
                if tp == 0.0 {
                    0.0
                } else {
                    2.0 * tp / (2.0 * tp + fp + fn_)
                }
            }
            ThresholdRule::MaxKs => {
                let pos = y.iter().filter(|&&b| b).count() as f64;
                let neg = y.len() as f64 - pos;
                tp / pos - fp / neg
            }
            ThresholdRule::Cost {
                false_approve,
                false_decline,
            } => -(fn_ * false_approve + fp * false_decline),
            ThresholdRule::Fixed { .. } => 0.0,
        }
    };
    if let ThresholdRule::Fixed { threshold } = rule {
        return threshold;
    }
    let mut candidates: Vec<f64> = p.iter().copied().filter(|x| x.is_finite()).collect();
    candidates.sort_by(f64::total_cmp);
    candidates.dedup();
    let mut best = (f64::NEG_INFINITY, 0.5);
    for t in candidates {
        let s = score(t);
        if s > best.0 {
            best = (s, t);
        }
    }
    best.1
}

#[cfg(test)]
mod threshold_tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    /// Bands hold equal counts without splitting a score, riskiest first; the cumulative
    /// shares end at 1 and the largest band KS is at most the KS statistic.
    #[test]
    fn the_gains_table_adds_up() {
        let y: Vec<bool> = (0..100).map(|i| i % 3 == 0 || i > 85).collect();
        let p: Vec<f64> = (0..100).map(|i| ((i / 2) as f64) / 50.0).collect();
        let g = gains(&y, &p, 10);
        assert_eq!(g.len(), 10);
        assert!(g.iter().all(|r| r.rows == 10));
        assert_eq!(
            g.iter().map(|r| r.adverse).sum::<usize>(),
            y.iter().filter(|b| **b).count()
        );
        let last = g.last().unwrap();
        assert!((last.cumulative_adverse - 1.0).abs() < 1e-12);
        assert!((last.cumulative_favourable - 1.0).abs() < 1e-12);
        assert!(
            g.windows(2)
                .all(|w| w[0].min_probability >= w[1].max_probability)
        );
        let best = g.iter().map(|r| r.ks).fold(0.0, f64::max);
        assert!(best <= ks(&y, &p) + 1e-12);
    }

    /// The midrank form equals DeLong's structural components computed pair by pair.
    #[test]
    fn delong_standard_error_equals_the_pairwise_definition() {
        let y = [1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0].map(|v| v == 1);
        let p = [
            0.9, 0.3, 0.7, 0.7, 0.7, 0.1, 0.4, 0.35, 0.2, 0.8, 0.6, 0.4, 0.5, 0.05,
        ];
        let psi = |a: f64, b: f64| match a.total_cmp(&b) {
            std::cmp::Ordering::Greater => 1.0,
            std::cmp::Ordering::Equal => 0.5,
            std::cmp::Ordering::Less => 0.0,
        };
        let pos: Vec<f64> = (0..y.len()).filter(|&i| y[i]).map(|i| p[i]).collect();
        let neg: Vec<f64> = (0..y.len()).filter(|&i| !y[i]).map(|i| p[i]).collect();
        let v10: Vec<f64> = pos
            .iter()
            .map(|&a| neg.iter().map(|&b| psi(a, b)).sum::<f64>() / neg.len() as f64)
            .collect();
        let v01: Vec<f64> = neg
            .iter()
            .map(|&b| pos.iter().map(|&a| psi(a, b)).sum::<f64>() / pos.len() as f64)
            .collect();
        let var = |v: &[f64]| {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64
        };
        let want = (var(&v10) / pos.len() as f64 + var(&v01) / neg.len() as f64).sqrt();
        assert_abs_diff_eq!(auc_standard_error(&y, &p), want, epsilon = 1e-15);
        assert!(auc_standard_error(&[true, false], &[0.1, 0.2]).is_nan());
    }

    #[test]
    fn rules_pick_the_expected_thresholds() {
        let y = [false, false, true, false, true, true];
        let p = [0.1, 0.2, 0.3, 0.4, 0.8, 0.9];
        assert_eq!(
            choose_threshold(ThresholdRule::Fixed { threshold: 0.5 }, &y, &p),
            0.5
        );
        // p >= 0.8: tp 2, fp 0, fn 1 -> F1 0.8 (p >= 0.3: tp 3, fp 1 -> F1 0.857, the best).
        assert_eq!(choose_threshold(ThresholdRule::MaxF1, &y, &p), 0.3);
        // KS: at 0.8 -> 2/3 - 0 = 0.667; at 0.3 -> 1 - 1/3 = 0.667; first best (lowest) wins.
        assert_eq!(choose_threshold(ThresholdRule::MaxKs, &y, &p), 0.3);
        // A false approval costs 10: decline everyone down to 0.3 (one false decline, cost 1).
        let cost = ThresholdRule::Cost {
            false_approve: 10.0,
            false_decline: 1.0,
        };
        assert_eq!(choose_threshold(cost, &y, &p), 0.3);
        // A false decline costs 10: approve unless very sure (0.8: one false approval).
        let cost = ThresholdRule::Cost {
            false_approve: 1.0,
            false_decline: 10.0,
        };
        assert_eq!(choose_threshold(cost, &y, &p), 0.8);
    }
}
