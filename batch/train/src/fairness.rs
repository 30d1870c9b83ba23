//! Outcomes by protected group: what fair-lending reviews ask of a model version.
//!
//! Per group of one protected attribute: its rows, its approval rate at the version's
//! decision rule (approved: probability below the threshold), the adverse impact ratio
//! (its approval rate over the reference group's; the "four-fifths" screen asks it be at
//! least 0.8), the standardized mean difference of the score against the reference group
//! (difference of mean probabilities over their pooled standard deviation; positive: scored
//! riskier), its ROC AUC, and calibration (mean predicted against observed adverse rate).
//! A group under [`MIN_ROWS`] rows is reported as small, with no ratio or difference: a
//! ratio of a handful of rows is noise.

use crate::metrics::roc_auc;

pub use riskfn_core::contract::measures::MIN_ROWS;

pub use riskfn_core::contract::measures::GroupMeasure;

fn mean_var(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, var)
}

/// Measure each group (`groups[i]`: row `i`'s group, `None` outside every group) against
/// `reference`; groups in order of first appearance, the reference first.
pub fn by_group(
    groups: &[Option<String>],
    y: &[bool],
    p: &[f64],
    threshold: f64,
    reference: &str,
) -> Vec<GroupMeasure> {
    let mut names: Vec<&str> = Vec::new();
    for g in groups.iter().flatten() {
        if !names.contains(&g.as_str()) {
            names.push(g);
        }
    }
    names.sort_by_key(|n| *n != reference);
    let rows_of = |name: &str| -> Vec<usize> {
        (0..groups.len())
            .filter(|&i| groups[i].as_deref() == Some(name))
            .collect()
    };
    let stats = |rows: &[usize]| {
        let n = rows.len().max(1) as f64;
        let approved = rows.iter().filter(|&&i| p[i] < threshold).count() as f64 / n;
        let scores: Vec<f64> = rows.iter().map(|&i| p[i]).collect();
        (approved, mean_var(&scores))
    };
    let ref_rows = rows_of(reference);
    let (ref_approval, (ref_mean, ref_var)) = stats(&ref_rows);
    names
        .into_iter()
        .map(|name| {
            let rows = rows_of(name);
            let (approval, (mean, var)) = stats(&rows);
            let (small, ratio) = riskfn_core::contract::measures::impact_ratio(
                rows.len(),
                approval,
                ref_rows.len(),
                ref_approval,
            );
            let ys: Vec<bool> = rows.iter().map(|&i| y[i]).collect();
            let ps: Vec<f64> = rows.iter().map(|&i| p[i]).collect();
            let auc = roc_auc(&ys, &ps);
            let pooled = ((var + ref_var) / 2.0).sqrt();
            GroupMeasure {
                group: name.to_owned(),
                reference: name == reference,
                rows: rows.len(),
                small,
                approval_rate: approval,
                adverse_impact_ratio: ratio,
                standardized_mean_difference: (!small && pooled > 0.0)
                    .then(|| (mean - ref_mean) / pooled),
                roc_auc: auc.is_finite().then_some(auc),
                mean_predicted: mean,
                observed_adverse_rate: ys.iter().filter(|&&b| b).count() as f64
                    / rows.len().max(1) as f64,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-made table with known answers: 40 reference rows approved 30 (0.75), 40 of
    /// group b approved 18 (0.45): ratio 0.6; 10 rows of c: small, no ratio.
    #[test]
    fn ratios_on_a_table_with_known_answers() {
        let mut groups = Vec::new();
        let mut p = Vec::new();
        let mut y = Vec::new();
        for i in 0..40 {
            groups.push(Some("a".to_owned()));
            p.push(if i < 30 { 0.2 } else { 0.8 });
            y.push(i >= 28);
        }
        for i in 0..40 {
            groups.push(Some("b".to_owned()));
            p.push(if i < 18 { 0.3 } else { 0.7 });
            y.push(i % 2 == 0);
        }
        for i in 0..10 {
            groups.push(Some("c".to_owned()));
            p.push(if i < 5 { 0.1 } else { 0.9 });
            y.push(i >= 5);
        }
        groups.push(None);
        p.push(0.5);
        y.push(true);
        let m = by_group(&groups, &y, &p, 0.5, "a");
        assert_eq!(
            m.iter().map(|g| g.group.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!(m[0].approval_rate, 0.75);
        assert_eq!(m[0].adverse_impact_ratio, Some(1.0));
        assert_eq!(m[1].approval_rate, 0.45);
        assert!((m[1].adverse_impact_ratio.unwrap() - 0.6).abs() < 1e-12);
        assert!(m[2].small && m[2].adverse_impact_ratio.is_none());
        assert_eq!(m[2].rows, 10);
        // Means 0.35 (a) and 0.52 (b); sample variances 2.7 / 39 and 1.584 / 39 (Python's
        // statistics.variance): d = 0.17 / sqrt((2.7 + 1.584) / 78) = 0.72527...
        let d = m[1].standardized_mean_difference.unwrap();
        assert!(
            (d - 0.17 / ((2.7 + 1.584) / 78.0f64).sqrt()).abs() < 1e-9,
            "{d}"
        );
        assert!((m[1].mean_predicted - 0.52).abs() < 1e-12);
        assert_eq!(m[1].observed_adverse_rate, 0.5);
    }
}
