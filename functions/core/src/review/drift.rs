//! Population stability: the distribution of scores (PSI) and of each feature (CSI) in a
//! new batch against the training baseline stored with the version.
//!
//! `PSI = sum over bins of (actual - expected) * ln(actual / expected)`, shares floored at
//! 1e-4 so an empty bin does not divide by zero. Bands (common credit practice): below 0.1
//! stable, 0.1 to 0.25 watch, above 0.25 act.

use serde::{Deserialize, Serialize};

use crate::features::preprocess::{category_key, numeric_value};
use crate::features::value::Value;

pub const BASELINE_FILE: &str = "baseline.json";
const FLOOR: f64 = 1e-4;

/// Where `riskfn drift` keeps its reports on a version: `<pipeline>/drift/<version>/`, one
/// object per run, named so that they sort by time.
pub fn reports_prefix(pipeline: &str, version: &str) -> String {
    format!("{pipeline}/drift/{version}/")
}

/// Keep a drift report (aggregates only) on `version`, create-only.
pub async fn store_report(
    store: &dyn crate::registry::store::Store,
    pipeline: &str,
    version: &str,
    report: bytes::Bytes,
) -> crate::Result<String> {
    let key = format!(
        "{}{}.json",
        reports_prefix(pipeline, version),
        crate::registry::new_version_id()
    );
    let create = crate::registry::store::PutMode::Create;
    crate::registry::store::put_once(store, &key, report, create).await?;
    Ok(key)
}

/// The newest drift report kept on `version`, if any.
pub async fn latest_report(
    store: &dyn crate::registry::store::Store,
    pipeline: &str,
    version: &str,
) -> crate::Result<Option<bytes::Bytes>> {
    crate::contract::artifact::check_name(pipeline)?;
    crate::contract::artifact::check_name(version)?;
    let keys = store.list(&reports_prefix(pipeline, version)).await?;
    match keys.last() {
        None => Ok(None),
        Some(k) => Ok(store.get(k).await?.map(|o| o.bytes)),
    }
}

/// How a quantity is binned, and each bin's share in the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Bins {
    /// `edges` are the inner cut points (ascending): bin i holds `edges[i-1] <= x < edges[i]`;
    /// the last share is for missing values.
    Numeric { edges: Vec<f64>, shares: Vec<f64> },
    /// One share per level, then one for levels unseen in the baseline.
    Categorical {
        levels: Vec<String>,
        shares: Vec<f64>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureBaseline {
    pub name: String,
    pub bins: Bins,
}

/// `baseline.json`: the training split's score and feature distributions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub rows: u64,
    pub score: Bins,
    pub features: Vec<FeatureBaseline>,
    /// Above this PSI or CSI, `riskfn drift` exits non-zero.
    pub threshold: f64,
    /// Protected attributes (`[fairness]`), so `riskfn drift` measures approvals by group
    /// over a batch; their expressions read `protected_fields`, in that order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected: Vec<ProtectedBaseline>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected_fields: Vec<String>,
}

/// A protected attribute: how to compute its column from a raw record, its groups and the
/// reference group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtectedBaseline {
    pub name: String,
    pub column: String,
    /// Cut points of a banded number; empty: each value is a group.
    #[serde(default)]
    pub bands: Vec<f64>,
    pub reference: String,
    /// `None`: the column cannot be computed from a raw record.
    pub expr: Option<crate::features::expr::Expr>,
}

fn bin_numeric(edges: &[f64], x: Option<f64>) -> usize {
    match x {
        None => edges.len() + 1,
        Some(v) => edges.partition_point(|e| *e <= v),
    }
}

impl Bins {
    pub fn len(&self) -> usize {
        match self {
            Bins::Numeric { edges, .. } => edges.len() + 2,
            Bins::Categorical { levels, .. } => levels.len() + 1,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn shares(&self) -> &[f64] {
        match self {
            Bins::Numeric { shares, .. } | Bins::Categorical { shares, .. } => shares,
        }
    }

    /// The bin of one value.
    pub fn bin(&self, v: &Value) -> usize {
        match self {
            Bins::Numeric { edges, .. } => bin_numeric(edges, numeric_value(v)),
            Bins::Categorical { levels, .. } => {
                let k = category_key(v);
                levels.iter().position(|l| *l == *k).unwrap_or(levels.len())
            }
        }
    }

    /// Deciles of `values` (distinct cut points only), with the baseline shares.
    pub fn numeric(values: &[Option<f64>], n_bins: usize) -> Bins {
        let mut present: Vec<f64> = values.iter().flatten().copied().collect();
        present.sort_by(f64::total_cmp);
        let mut edges: Vec<f64> = (1..n_bins)
            .filter_map(|i| present.get(i * present.len() / n_bins).copied())
            .collect();
        edges.dedup();
        if edges.first() == present.first() {
            // A cut at the minimum would leave the first bin empty.
            edges.remove(0);
        }
        let mut counts = vec![0usize; edges.len() + 2];
        for v in values {
            counts[bin_numeric(&edges, *v)] += 1;
        }
        Bins::Numeric {
            shares: shares(&counts),
            edges,
        }
    }

    /// The levels of `values` and their shares.
    pub fn categorical(values: &[Value]) -> Bins {
        let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
        for v in values {
            *counts.entry(category_key(v).into_owned()).or_default() += 1;
        }
        let mut c: Vec<usize> = counts.values().copied().collect();
        c.push(0);
        Bins::Categorical {
            shares: shares(&c),
            levels: counts.into_keys().collect(),
        }
    }

    /// PSI of the given bin counts against this baseline.
    pub fn psi(&self, counts: &[usize]) -> f64 {
        psi(self.shares(), &shares(counts))
    }
}

fn shares(counts: &[usize]) -> Vec<f64> {
    let n = counts.iter().sum::<usize>().max(1) as f64;
    counts.iter().map(|&c| c as f64 / n).collect()
}

/// `sum (a - e) ln(a / e)` with shares floored at 1e-4.
pub fn psi(expected: &[f64], actual: &[f64]) -> f64 {
    expected
        .iter()
        .zip(actual)
        .map(|(&e, &a)| {
            let (e, a) = (e.max(FLOOR), a.max(FLOOR));
            (a - e) * (a / e).ln()
        })
        .sum()
}

/// The band of a PSI or CSI value.
pub fn band(index: f64) -> &'static str {
    if index < 0.1 {
        "stable"
    } else if index <= 0.25 {
        "watch"
    } else {
        "act"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    /// Expected value computed with numpy 2.4.6: e = [0.25, 0.25, 0.5], a = [0.1, 0.3, 0.6],
    /// np.sum((a - e) * np.log(a / e)) = 0.16479184330021643.
    #[test]
    fn psi_by_the_formula() {
        let e = [0.25, 0.25, 0.5];
        let a = [0.1, 0.3, 0.6];
        assert_abs_diff_eq!(psi(&e, &a), 0.164_791_843_300_216_43, epsilon = 1e-15);
        assert_abs_diff_eq!(psi(&e, &e), 0.0);
        assert_eq!(band(0.05), "stable");
        assert_eq!(band(0.2), "watch");
        assert_eq!(band(0.3), "act");
    }

    #[test]
    fn deciles_put_a_tenth_in_each_bin() {
        let v: Vec<Option<f64>> = (0..1000)
            .map(|i| Some(f64::from(i)))
            .chain([None])
            .collect();
        let b = Bins::numeric(&v, 10);
        let Bins::Numeric { edges, shares } = &b else {
            panic!()
        };
        assert_eq!(edges.len(), 9);
        assert!(
            shares[..10].iter().all(|s| (s - 0.1).abs() < 0.002),
            "{shares:?}"
        );
        assert_eq!(b.bin(&Value::Float(-5.0)), 0);
        assert_eq!(b.bin(&Value::Null), 10);
    }
}
