//! The points scorecard family: each characteristic (feature) binned optimally on the rows
//! fitted on ([`crate::binning`]), characteristics selected by information value and
//! correlation, a logistic regression on their WoE values, scaled to whole points per bin.
//!
//! Points follow the pipeline's `[scorecard]` scaling: `logit(p) = b0 + sum_c b_c WoE_c`,
//! and a bin's points are `round(-factor b_c WoE_cb + (offset - factor b0) / n)` over the `n`
//! kept characteristics, so the applicant's score (the sum of their bins' points) is
//! `offset - factor logit(p)` up to the rounding; the probability served is the one the
//! summed points imply.

use std::ops::Range;

use ndarray::Array2;
use riskfn_core::model::{BinStats, CardBins, Characteristic, Model, PointsCard};
use serde::Serialize;

use crate::binning::{self, Binning, Counts, Trend};
use crate::logistic::fit_one;
use crate::{Family, Fitted, Params, Result, Rows, TrainError, params};

pub const FAMILY: &str = "scorecard";

/// One candidate characteristic: a feature and where its encoded inputs are.
#[derive(Debug, Clone, PartialEq)]
pub struct CharacteristicSpec {
    pub name: String,
    /// Its position among the artifact's features.
    pub feature: usize,
    /// Its encoded inputs: one for a number, one per level for a category.
    pub inputs: Range<usize>,
    /// A category's levels (empty for a number).
    pub levels: Vec<String>,
    pub trend: Trend,
    /// A number's standardisation (mean, scale), to label its bins in the feature's units.
    pub scaling: (f64, f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScorecardSpec {
    pub c_grid: Vec<f64>,
    pub max_bins: Vec<usize>,
    pub fine_classes: usize,
    pub min_share: f64,
    /// Characteristics below this information value are dropped.
    pub iv_floor: f64,
    /// Above this IV a characteristic is flagged (too good to be true: a leak?).
    pub iv_suspicious: f64,
    /// Of two characteristics whose WoE columns correlate above this, the lower IV goes.
    pub max_correlation: f64,
    /// Points of even odds and points per unit of log-odds (`[scorecard]`).
    pub offset: f64,
    pub factor: f64,
    /// Set by the batch job from the features.
    pub characteristics: Vec<CharacteristicSpec>,
}

impl Default for ScorecardSpec {
    fn default() -> Self {
        let s = riskfn_core::contract::artifact::Scorecard::default();
        ScorecardSpec {
            c_grid: vec![0.1, 1.0, 100.0],
            max_bins: vec![4, 6],
            fine_classes: 20,
            min_share: 0.05,
            iv_floor: 0.02,
            iv_suspicious: 0.5,
            max_correlation: 0.7,
            offset: s.offset(),
            factor: s.factor(),
            characteristics: Vec::new(),
        }
    }
}

/// Why a characteristic is not on the card.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dropped {
    pub feature: String,
    pub iv: f64,
    pub reason: String,
}

/// One characteristic's bins, before points.
struct Binned {
    spec_index: usize,
    bins: CardBins,
    counts: Vec<Counts>,
    labels: Vec<String>,
    iv: f64,
}

fn fmt_edge(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{:.6}", v)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}

impl ScorecardSpec {
    fn points(&self) -> Vec<(f64, usize)> {
        self.c_grid
            .iter()
            .flat_map(|&c| self.max_bins.iter().map(move |&b| (c, b)))
            .collect()
    }

    /// Bin characteristic `k` on `fit`'s rows.
    fn bin(&self, k: usize, fit: Rows<'_>, max_bins: usize) -> Binned {
        let c = &self.characteristics[k];
        let b = Binning {
            fine_classes: self.fine_classes,
            min_share: self.min_share,
            max_bins,
        };
        let total = |counts: &[Counts]| {
            counts.iter().fold(Counts::default(), |mut t, c| {
                t.rows += c.rows;
                t.adverse += c.adverse;
                t
            })
        };
        if c.levels.is_empty() {
            let values: Vec<(f64, bool)> = (0..fit.len())
                .map(|i| (fit.native[[i, c.inputs.start]], fit.y[i]))
                .collect();
            let nb = binning::bin_numeric(&values, &b, c.trend);
            let (mean, scale) = c.scaling;
            let raw = |v: f64| if v.is_finite() { v * scale + mean } else { v };
            let mut labels = Vec::new();
            let mut lo = f64::NEG_INFINITY;
            for &cut in nb.cuts.iter().chain([&f64::INFINITY]) {
                labels.push(format!("[{}, {})", fmt_edge(raw(lo)), fmt_edge(raw(cut))));
                lo = cut;
            }
            labels.push("missing".into());
            let mut counts = nb.counts.clone();
            counts.push(nb.missing);
            let t = total(&counts);
            let iv = counts.iter().map(|&x| binning::iv(x, t)).sum();
            Binned {
                spec_index: k,
                bins: CardBins::Numeric {
                    input: c.inputs.start as u32,
                    cuts: nb.cuts,
                },
                counts,
                labels,
                iv,
            }
        } else {
            let mut levels = vec![Counts::default(); c.levels.len()];
            for i in 0..fit.len() {
                if let Some(l) =
                    (0..c.levels.len()).find(|&l| fit.native[[i, c.inputs.start + l]] == 1.0)
                {
                    levels[l].rows += 1;
                    levels[l].adverse += usize::from(fit.y[i]);
                }
            }
            let cb = binning::bin_categorical(&levels, &b);
            let labels: Vec<String> = (0..cb.counts.len())
                .map(|bin| {
                    let names: Vec<&str> = (0..c.levels.len())
                        .filter(|&l| cb.level_bins[l] == bin)
                        .map(|l| c.levels[l].as_str())
                        .collect();
                    names.join(", ")
                })
                .collect();
            let t = total(&cb.counts);
            let iv = cb.counts.iter().map(|&x| binning::iv(x, t)).sum();
            // An unseen level takes the riskiest bin, as a level without training rows does.
            let riskiest = (0..cb.counts.len())
                .max_by(|&a, &b| {
                    let r = |c: Counts| c.adverse as f64 / c.rows.max(1) as f64;
                    r(cb.counts[a]).total_cmp(&r(cb.counts[b]))
                })
                .unwrap_or(0);
            Binned {
                spec_index: k,
                bins: CardBins::Categorical {
                    start: c.inputs.start as u32,
                    level_bins: cb.level_bins.iter().map(|&b| b as u32).collect(),
                    unseen: riskiest as u32,
                },
                counts: cb.counts,
                labels,
                iv,
            }
        }
    }

    /// Bin, select and fit; also returns what was dropped and why.
    pub fn fit_card(
        &self,
        fit: Rows<'_>,
        c: f64,
        max_bins: usize,
    ) -> Result<(PointsCard, Vec<Dropped>, Vec<String>)> {
        let mut dropped = Vec::new();
        let mut binned: Vec<Binned> = Vec::new();
        for k in 0..self.characteristics.len() {
            let b = self.bin(k, fit, max_bins);
            let name = &self.characteristics[k].name;
            if b.iv < self.iv_floor {
                dropped.push(Dropped {
                    feature: name.clone(),
                    iv: b.iv,
                    reason: format!(
                        "information value {:.4} below the floor {}",
                        b.iv, self.iv_floor
                    ),
                });
            } else {
                binned.push(b);
            }
        }
        // WoE of every row, per kept characteristic.
        let woe_of = |b: &Binned| -> Vec<f64> {
            let total = b.counts.iter().fold(Counts::default(), |mut t, c| {
                t.rows += c.rows;
                t.adverse += c.adverse;
                t
            });
            let woes: Vec<f64> = b.counts.iter().map(|&x| binning::woe(x, total)).collect();
            let ch = Characteristic {
                feature: 0,
                bins: b.bins.clone(),
                points: vec![0.0; woes.len()],
                stats: Vec::new(),
            };
            fit.native
                .rows()
                .into_iter()
                .map(|r| woes[ch.bin(r.as_slice().expect("rows are contiguous"))])
                .collect()
        };
        binned.sort_by(|a, b| b.iv.total_cmp(&a.iv).then(a.spec_index.cmp(&b.spec_index)));
        let mut kept: Vec<(Binned, Vec<f64>)> = Vec::new();
        for b in binned {
            let w = woe_of(&b);
            let name = self.characteristics[b.spec_index].name.clone();
            match kept
                .iter()
                .map(|(k, kw)| (k, correlation(&w, kw)))
                .find(|(_, r)| r.abs() > self.max_correlation)
            {
                Some((k, r)) => dropped.push(Dropped {
                    feature: name,
                    iv: b.iv,
                    reason: format!(
                        "WoE correlates {r:.3} with {}'s (IV {:.4}), above {}",
                        self.characteristics[k.spec_index].name, k.iv, self.max_correlation
                    ),
                }),
                None => kept.push((b, w)),
            }
        }
        if kept.is_empty() {
            return Err(TrainError::new(
                FAMILY,
                format!(
                    "no characteristic reaches the information value floor {}",
                    self.iv_floor
                ),
            ));
        }
        // Card order: the features' own order.
        kept.sort_by_key(|(b, _)| b.spec_index);
        let suspicious: Vec<String> = kept
            .iter()
            .filter(|(b, _)| b.iv > self.iv_suspicious)
            .map(|(b, _)| {
                format!(
                    "{}: information value {:.3} above {} (a leak of the outcome?)",
                    self.characteristics[b.spec_index].name, b.iv, self.iv_suspicious
                )
            })
            .collect();
        let n = fit.len();
        let x = Array2::from_shape_fn((n, kept.len()), |(i, j)| kept[j].1[i]);
        let (linear, newton) = fit_one(&x, fit.y, c, 100)?;
        // Collinear characteristics: what the fit had to do goes into the report.
        let mut suspicious = suspicious;
        suspicious.extend(newton.warning(c));
        let shared = (self.offset - self.factor * linear.intercept) / kept.len() as f64;
        let characteristics = kept
            .iter()
            .zip(&linear.weights)
            .map(|((b, _), beta)| {
                let total = b.counts.iter().fold(Counts::default(), |mut t, c| {
                    t.rows += c.rows;
                    t.adverse += c.adverse;
                    t
                });
                let stats: Vec<BinStats> = b
                    .counts
                    .iter()
                    .zip(&b.labels)
                    .map(|(&cnt, label)| BinStats {
                        label: label.clone(),
                        rows: cnt.rows as u64,
                        adverse: cnt.adverse as u64,
                        woe: binning::woe(cnt, total),
                        iv: binning::iv(cnt, total),
                    })
                    .collect();
                let points = stats
                    .iter()
                    .map(|s| (-self.factor * beta * s.woe + shared).round())
                    .collect();
                Characteristic {
                    feature: self.characteristics[b.spec_index].feature,
                    bins: b.bins.clone(),
                    points,
                    stats,
                }
            })
            .collect();
        Ok((
            PointsCard {
                offset: self.offset,
                factor: self.factor,
                characteristics,
            },
            dropped,
            suspicious,
        ))
    }
}

/// Pearson correlation (0 when either side is constant).
fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    if saa == 0.0 || sbb == 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

impl Family for ScorecardSpec {
    fn name(&self) -> &'static str {
        FAMILY
    }

    fn grid(&self) -> Vec<Params> {
        self.points()
            .into_iter()
            .map(|(c, b)| params(&[("c", c.into()), ("max_bins", b.into())]))
            .collect()
    }

    fn min_class_rows(&self) -> usize {
        5
    }

    fn fit(&self, point: usize, fit: Rows<'_>, _: Rows<'_>, _: u64) -> Result<Fitted> {
        let (c, max_bins) = self.points()[point];
        let (card, dropped, suspicious) = self.fit_card(fit, c, max_bins)?;
        let kept = card.characteristics.len();
        let mut fitted = Fitted::new(Model::Scorecard(card)).with_notes(&[
            ("characteristics", kept.into()),
            (
                "dropped",
                serde_json::to_value(&dropped).unwrap_or(serde_json::Value::Null),
            ),
        ]);
        fitted.warnings.extend(suspicious);
        Ok(fitted)
    }
}
