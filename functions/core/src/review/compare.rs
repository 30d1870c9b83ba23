//! Two versions side by side, as a validator compares a candidate with the champion:
//! measures, ROC curves, gains and fairness tables, features added or dropped, and the swap
//! set (whose decision changes) on the test rows both were scored on. Aggregates only.

use serde::Serialize;

use crate::contract::artifact::{Manifest, SplitMetrics};
use crate::contract::card::{FairnessTable, ModelCard};
use crate::contract::gate::GateRecord;
use crate::contract::measures::{GainsRow, TestScores};

/// Points kept on a drawn ROC curve.
const ROC_POINTS: usize = 200;

/// One version's side of a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub version: String,
    pub created_at: String,
    pub family: String,
    pub threshold: Option<f64>,
    pub metrics: SplitMetrics,
    pub gate: Option<GateRecord>,
    /// The test split's ROC curve, (false positive rate, true positive rate), when the
    /// version kept its test scores.
    pub roc: Option<Vec<(f64, f64)>>,
    pub gains: Vec<GainsRow>,
    pub fairness: Vec<FairnessTable>,
    pub features: Vec<String>,
}

/// Rows in one cell of the swap matrix and how many of them went bad.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Cell {
    pub rows: u64,
    pub bad: u64,
}

/// Decisions of `a` against `b` on the test rows both scored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SwapSet {
    pub rows: u64,
    pub both_approve: Cell,
    pub both_decline: Cell,
    /// Declined by `a`, approved by `b`.
    pub swap_in: Cell,
    /// Approved by `a`, declined by `b`.
    pub swap_out: Cell,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub a: Side,
    pub b: Side,
    /// Features of `b` that `a` lacks, of `a` that `b` lacks, and those both have.
    pub added: Vec<String>,
    pub dropped: Vec<String>,
    pub kept: Vec<String>,
    pub swap: Option<SwapSet>,
    /// Why there is no swap set, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swap_note: Option<String>,
}

/// What is known of one version: its manifest, card (if published with one) and test
/// scores (if kept).
pub struct VersionFacts<'a> {
    pub manifest: &'a Manifest,
    pub card: Option<&'a ModelCard>,
    pub scores: Option<&'a TestScores>,
}

fn side(f: &VersionFacts<'_>) -> Side {
    let m = f.manifest;
    Side {
        version: m.version.clone(),
        created_at: m.created_at.clone(),
        family: m.model.family.clone(),
        threshold: f
            .scores
            .map(|s| s.threshold)
            .or(f.card.map(|c| c.model.threshold)),
        metrics: m.metrics.clone(),
        gate: m.gate.clone(),
        roc: f.scores.map(|s| roc_curve(&s.outcome, &s.probability)),
        gains: f.card.map(|c| c.gains.clone()).unwrap_or_default(),
        fairness: f.card.map(|c| c.fairness.clone()).unwrap_or_default(),
        features: f
            .card
            .map(|c| c.features.iter().map(|x| x.name.clone()).collect())
            .unwrap_or_default(),
    }
}

/// (false positive rate, true positive rate) from (0, 0) to (1, 1), at most
/// [`ROC_POINTS`] of them (evenly spaced along the curve's thresholds).
pub fn roc_curve(y: &[bool], p: &[f64]) -> Vec<(f64, f64)> {
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let pos = y.iter().filter(|&&b| b).count().max(1) as f64;
    let neg = (y.len() as f64 - pos).max(1.0);
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut pts = vec![(0.0, 0.0)];
    let mut i = 0;
    while i < idx.len() {
        let s = p[idx[i]];
        while i < idx.len() && p[idx[i]] == s {
            if y[idx[i]] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            i += 1;
        }
        pts.push((fp / neg, tp / pos));
    }
    if pts.len() <= ROC_POINTS {
        return pts;
    }
    let last = pts.len() - 1;
    (0..ROC_POINTS)
        .map(|k| pts[k * last / (ROC_POINTS - 1)])
        .collect()
}

fn swap_set(a: &TestScores, b: &TestScores) -> Result<SwapSet, String> {
    if a.fingerprint != b.fingerprint {
        return Err(
            "the two versions were tested on different data (fingerprints differ), so no test row is known to both"
                .into(),
        );
    }
    let by_row: std::collections::HashMap<u64, usize> =
        b.row.iter().enumerate().map(|(i, &r)| (r, i)).collect();
    let mut s = SwapSet {
        rows: 0,
        both_approve: Cell::default(),
        both_decline: Cell::default(),
        swap_in: Cell::default(),
        swap_out: Cell::default(),
    };
    for (i, r) in a.row.iter().enumerate() {
        let Some(&j) = by_row.get(r) else { continue };
        let declined_a = a.probability[i] >= a.threshold;
        let declined_b = b.probability[j] >= b.threshold;
        let cell = match (declined_a, declined_b) {
            (false, false) => &mut s.both_approve,
            (true, true) => &mut s.both_decline,
            (true, false) => &mut s.swap_in,
            (false, true) => &mut s.swap_out,
        };
        cell.rows += 1;
        cell.bad += u64::from(a.outcome[i]);
        s.rows += 1;
    }
    if s.rows == 0 {
        return Err("the two versions share no test row (their splits differ)".into());
    }
    Ok(s)
}

/// Compare version `a` (usually the champion) with `b` (the candidate).
pub fn compare(a: &VersionFacts<'_>, b: &VersionFacts<'_>) -> Comparison {
    let (sa, sb) = (side(a), side(b));
    let has = |s: &Side, f: &String| s.features.contains(f);
    let added = sb
        .features
        .iter()
        .filter(|f| !has(&sa, f))
        .cloned()
        .collect();
    let dropped = sa
        .features
        .iter()
        .filter(|f| !has(&sb, f))
        .cloned()
        .collect();
    let kept = sa
        .features
        .iter()
        .filter(|f| has(&sb, f))
        .cloned()
        .collect();
    let (swap, swap_note) = match (a.scores, b.scores) {
        (Some(x), Some(y)) => match swap_set(x, y) {
            Ok(s) => (Some(s), None),
            Err(note) => (None, Some(note)),
        },
        _ => (
            None,
            Some("a version published before test scores were kept has no swap set".into()),
        ),
    };
    Comparison {
        a: sa,
        b: sb,
        added,
        dropped,
        kept,
        swap,
        swap_note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(fp: &str, rows: &[u64], y: &[bool], p: &[f64]) -> TestScores {
        TestScores::new(fp, 0.5, rows, y, p)
    }

    #[test]
    fn the_swap_set_counts_each_cell_on_the_rows_both_scored() {
        let y = [true, false, true, false, true];
        let a = scores("f", &[1, 2, 3, 4, 5], &y, &[0.9, 0.1, 0.7, 0.6, 0.2]);
        // Row 6 is b's only: not compared. Row 5 is a's only.
        let b = scores(
            "f",
            &[1, 2, 3, 4, 6],
            &[true, false, true, false, true],
            &[0.8, 0.6, 0.3, 0.2, 0.9],
        );
        let s = swap_set(&a, &b).unwrap();
        assert_eq!(s.rows, 4);
        // Row 1 declined by both (bad), row 2 approved by a only (good): swap out, row 3
        // declined by a only (bad): swap in, row 4 declined by a only (good): swap in.
        assert_eq!(s.both_decline, Cell { rows: 1, bad: 1 });
        assert_eq!(s.swap_out, Cell { rows: 1, bad: 0 });
        assert_eq!(s.swap_in, Cell { rows: 2, bad: 1 });
        assert_eq!(s.both_approve, Cell::default());
        assert!(swap_set(&a, &scores("g", &[1], &[true], &[0.1])).is_err());
    }

    #[test]
    fn roc_curve_runs_from_origin_to_one_and_is_thinned() {
        let y: Vec<bool> = (0..1000).map(|i| i % 3 == 0).collect();
        let p: Vec<f64> = (0..1000)
            .map(|i| ((i * 37) % 1000) as f64 / 1000.0)
            .collect();
        let c = roc_curve(&y, &p);
        assert_eq!(c.len(), ROC_POINTS);
        assert_eq!(c[0], (0.0, 0.0));
        assert_eq!(*c.last().unwrap(), (1.0, 1.0));
        assert!(c.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
    }
}
