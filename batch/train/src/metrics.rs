//! Evaluation measures of a probability model on labelled rows.

use riskfn_core::artifact::{Confusion, Metrics};

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
