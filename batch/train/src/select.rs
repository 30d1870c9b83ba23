//! Running every configured family and choosing among them on evidence.
//!
//! A single validation split of a few hundred rows cannot tell AUCs a few hundredths apart
//! (its DeLong standard error is about 0.03 on german_credit), so grid points and families
//! are compared by k-fold cross-validation over the training and validation splits
//! together (the test split is never used): each point is fitted on k - 1 folds and scored
//! on the one left out, and the point (then the family) with the best mean fold AUC wins.
//! Folds are stratified by class and drawn from the run's seed. Above
//! [`Selection::max_cv_rows`] rows the validation split alone is large enough to decide on,
//! and is used instead (its DeLong standard error as the spread).
//!
//! Each family's chosen point is then fitted on the training split, the validation split
//! serving as its held-out rows (early stopping, Platt scaling), so the validation split
//! still measures the model, sets its decision threshold and feeds the gate.

use std::time::Instant;

use ndarray::{Array2, Axis};
use rayon::prelude::*;
use serde::Serialize;

use crate::cart::SplitMix;
use crate::metrics::{auc_standard_error, roc_auc};
use crate::{
    BoostingSpec, Data, Family, FamilyResult, ForestSpec, GridPoint, LogisticSpec, NaiveBayesSpec,
    Rows, ScorecardSpec, SvmSpec, TrainError, TreeSpec, probabilities,
};

/// The families to train, each with its grid; `None` leaves a family out.
#[derive(Debug, Clone, PartialEq)]
pub struct Families {
    pub logistic_regression: Option<LogisticSpec>,
    pub scorecard: Option<ScorecardSpec>,
    pub gaussian_nb: Option<NaiveBayesSpec>,
    pub linear_svm: Option<SvmSpec>,
    pub rbf_svm: Option<SvmSpec>,
    pub decision_tree: Option<TreeSpec>,
    pub random_forest: Option<ForestSpec>,
    pub gradient_boosting: Option<BoostingSpec>,
}

/// The families trained when a pipeline names none. The SVMs are left out: their kernel
/// matrix grows with the square of the rows, and on credit data they have not beaten the
/// others; a pipeline may still list them.
pub const DEFAULT_FAMILIES: [&str; 6] = [
    "logistic_regression",
    "scorecard",
    "gaussian_nb",
    "decision_tree",
    "random_forest",
    "gradient_boosting",
];

impl Default for Families {
    fn default() -> Self {
        Families {
            logistic_regression: Some(LogisticSpec::default()),
            scorecard: Some(ScorecardSpec::default()),
            gaussian_nb: Some(NaiveBayesSpec::default()),
            linear_svm: None,
            rbf_svm: None,
            decision_tree: Some(TreeSpec::default()),
            random_forest: Some(ForestSpec::default()),
            gradient_boosting: Some(BoostingSpec::default()),
        }
    }
}

impl Families {
    /// The configured families, in [`ORDER`].
    pub fn members(&self) -> Vec<&dyn Family> {
        let mut out: Vec<&dyn Family> = Vec::new();
        if let Some(s) = &self.logistic_regression {
            out.push(s);
        }
        if let Some(s) = &self.scorecard {
            out.push(s);
        }
        if let Some(s) = &self.gaussian_nb {
            out.push(s);
        }
        if let Some(s) = &self.linear_svm {
            out.push(s);
        }
        if let Some(s) = &self.rbf_svm {
            out.push(s);
        }
        if let Some(s) = &self.decision_tree {
            out.push(s);
        }
        if let Some(s) = &self.random_forest {
            out.push(s);
        }
        if let Some(s) = &self.gradient_boosting {
            out.push(s);
        }
        out
    }

    /// Which one-hot encodings of `Rows` the configured families read: the imputed one
    /// (every family but boosting and the scorecard), and the one with missing numbers left
    /// missing (the scorecard). Those not read need not be built.
    pub fn reads_one_hot(&self) -> (bool, bool) {
        let imputed = self.logistic_regression.is_some()
            || self.gaussian_nb.is_some()
            || self.linear_svm.is_some()
            || self.rbf_svm.is_some()
            || self.decision_tree.is_some()
            || self.random_forest.is_some();
        (imputed, self.scorecard.is_some())
    }

    /// Leave out the families that read a one-hot encoding (all but boosting); their
    /// names, in [`ORDER`].
    pub fn drop_one_hot(&mut self) -> Vec<&'static str> {
        let dropped = [
            self.logistic_regression.take().is_some(),
            self.scorecard.take().is_some(),
            self.gaussian_nb.take().is_some(),
            self.linear_svm.take().is_some(),
            self.rbf_svm.take().is_some(),
            self.decision_tree.take().is_some(),
            self.random_forest.take().is_some(),
        ];
        dropped
            .into_iter()
            .zip(ORDER)
            .filter_map(|(d, name)| d.then_some(name))
            .collect()
    }

    /// Keep only the named families (their configured grids); an unknown or unconfigured
    /// name is an error.
    pub fn retain(&mut self, names: &[String]) -> Result<(), String> {
        for n in names {
            if !ORDER.contains(&n.as_str()) {
                return Err(format!(
                    "unknown family {n:?} (known: {})",
                    ORDER.join(", ")
                ));
            }
        }
        let keep = |n: &str| names.iter().any(|x| x == n);
        fn drop_unless<T>(slot: &mut Option<T>, keep: bool) {
            if !keep {
                *slot = None;
            }
        }
        drop_unless(&mut self.logistic_regression, keep("logistic_regression"));
        drop_unless(&mut self.scorecard, keep("scorecard"));
        drop_unless(&mut self.gaussian_nb, keep("gaussian_nb"));
        drop_unless(&mut self.linear_svm, keep("linear_svm"));
        drop_unless(&mut self.rbf_svm, keep("rbf_svm"));
        drop_unless(&mut self.decision_tree, keep("decision_tree"));
        drop_unless(&mut self.random_forest, keep("random_forest"));
        drop_unless(&mut self.gradient_boosting, keep("gradient_boosting"));
        if self.members().is_empty() {
            Err(format!("none of {names:?} is configured for this pipeline"))
        } else {
            Ok(())
        }
    }
}

/// The families in the order they are trained and in which ties are broken.
pub const ORDER: [&str; 8] = [
    "logistic_regression",
    "scorecard",
    "gaussian_nb",
    "linear_svm",
    "rbf_svm",
    "decision_tree",
    "random_forest",
    "gradient_boosting",
];

/// How grid points and families are compared.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Selection {
    /// Cross-validation folds over train + validation; below 2, the validation split alone.
    pub folds: usize,
    /// Above this many train + validation rows, the validation split alone.
    pub max_cv_rows: usize,
    /// Families whose scores are within this of the best are tied; the earlier in
    /// [`ORDER`] wins.
    pub tie_tolerance: f64,
}

pub const DEFAULT_FOLDS: usize = 5;
pub const DEFAULT_MAX_CV_ROWS: usize = 100_000;

impl Default for Selection {
    fn default() -> Self {
        Selection {
            folds: DEFAULT_FOLDS,
            max_cv_rows: DEFAULT_MAX_CV_ROWS,
            tie_tolerance: 0.0,
        }
    }
}

impl Selection {
    /// How this run decides, in words for the report.
    pub fn describe(&self, data: &Data<'_>) -> String {
        let n = data.train.len() + data.validation.len();
        if self.uses_folds(data) {
            format!(
                "{}-fold cross-validation over the {n} training and validation rows (stratified, seeded): mean fold ROC AUC, spread = standard deviation over folds",
                self.folds
            )
        } else {
            let train = data.train.len();
            format!(
                "validation ROC AUC ({} rows; spread = DeLong standard error){}{}",
                data.validation.len(),
                if self.folds >= 2 {
                    format!(
                        ": {n} rows are more than max_cv_rows = {}",
                        self.max_cv_rows
                    )
                } else {
                    String::new()
                },
                if halving_rounds(train, usize::MAX).len() > 1 {
                    format!(
                        "; each grid by successive halving: every point fitted on a stratified sample of the {train} training rows (at least {HALVING_MIN_ROWS}), the best third kept on a sample three times larger, up to all of them; a point's score is from the last round it reached (its `rows` note)"
                    )
                } else {
                    String::new()
                }
            )
        }
    }

    fn uses_folds(&self, data: &Data<'_>) -> bool {
        self.folds >= 2 && data.train.len() + data.validation.len() <= self.max_cv_rows
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Trained(Box<FamilyResult>),
    /// Not trained: the data cannot support it, or it failed; the run goes on.
    Skipped {
        family: String,
        reason: String,
    },
}

impl Outcome {
    pub fn family(&self) -> &str {
        match self {
            Outcome::Trained(r) => &r.family,
            Outcome::Skipped { family, .. } => family,
        }
    }
}

/// Rows picked by index, owned, in every encoding (fold sides, halving samples).
struct Picked {
    x: Array2<f64>,
    native: Array2<f64>,
    levels: Array2<f64>,
    y: Vec<bool>,
}

impl Picked {
    fn new(from: Rows<'_>, rows: &[usize]) -> Picked {
        Picked {
            x: from.x.select(Axis(0), rows),
            native: from.native.select(Axis(0), rows),
            levels: from.levels.select(Axis(0), rows),
            y: rows.iter().map(|&r| from.y[r]).collect(),
        }
    }

    fn rows<'a>(&'a self, categorical: &'a [bool]) -> Rows<'a> {
        Rows {
            x: &self.x,
            native: &self.native,
            levels: &self.levels,
            categorical,
            y: &self.y,
        }
    }
}

/// One fold's rows to fit on and to score.
struct Fold<'a> {
    fit: Picked,
    held: Picked,
    categorical: &'a [bool],
}

impl Fold<'_> {
    fn fit(&self) -> Rows<'_> {
        self.fit.rows(self.categorical)
    }

    fn held(&self) -> Rows<'_> {
        self.held.rows(self.categorical)
    }
}

/// Each class's rows (adverse first) in a random order drawn from `rng`.
fn shuffled_by_class(y: &[bool], rng: &mut SplitMix) -> [Vec<usize>; 2] {
    [true, false].map(|class| {
        let mut rows: Vec<usize> = (0..y.len()).filter(|&i| y[i] == class).collect();
        for i in (1..rows.len()).rev() {
            rows.swap(i, rng.below(i + 1));
        }
        rows
    })
}

/// Stratified folds over train + validation: each class's rows in a seeded random order,
/// dealt to the folds in turn.
fn folds<'a>(data: &Data<'a>, k: usize) -> Vec<Fold<'a>> {
    let cat = |a: &Array2<f64>, b: &Array2<f64>| {
        ndarray::concatenate(Axis(0), &[a.view(), b.view()]).expect("splits share their width")
    };
    let all = Picked {
        x: cat(data.train.x, data.validation.x),
        native: cat(data.train.native, data.validation.native),
        levels: cat(data.train.levels, data.validation.levels),
        y: data
            .train
            .y
            .iter()
            .chain(data.validation.y)
            .copied()
            .collect(),
    };
    let n = all.y.len();
    let mut rng = SplitMix::new(data.seed ^ 0x5EED_F01D);
    let mut fold_of = vec![0usize; n];
    for rows in shuffled_by_class(&all.y, &mut rng) {
        for (rank, &r) in rows.iter().enumerate() {
            fold_of[r] = rank % k;
        }
    }
    let all = all.rows(data.train.categorical);
    (0..k)
        .map(|f| {
            let (held, fit): (Vec<usize>, Vec<usize>) = (0..n).partition(|&r| fold_of[r] == f);
            Fold {
                fit: Picked::new(all, &fit),
                held: Picked::new(all, &held),
                categorical: data.train.categorical,
            }
        })
        .collect()
}

/// Hears what training is doing, for a progress display (fits run on every core).
pub trait Watch: Sync {
    /// Family `name` starts, and will make `fits` fits (grid points, folds, rounds).
    fn family(&self, name: &str, fits: usize);
    /// One of its fits is done.
    fn fitted(&self);
}

/// A [`Watch`] that shows nothing.
pub struct Unwatched;

impl Watch for Unwatched {
    fn family(&self, _: &str, _: usize) {}
    fn fitted(&self) {}
}

/// Train every configured family in [`ORDER`]; `watch` hears each family and fit. A family the data cannot support, or that fails, is skipped with a warning.
pub fn train_all(
    f: &Families,
    data: &Data<'_>,
    selection: &Selection,
    watch: &dyn Watch,
) -> Vec<Outcome> {
    let rarer = data
        .train
        .positives()
        .min(data.train.len() - data.train.positives());
    let folds = if selection.uses_folds(data) {
        folds(data, selection.folds)
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    for family in f.members() {
        let name = family.name();
        let need = family.min_class_rows();
        if rarer < need {
            let reason = format!(
                "the training split has {rarer} rows of its rarer class; {name} needs at least {need}"
            );
            tracing::warn!(family = name, "skipped: {reason}");
            out.push(Outcome::Skipped {
                family: name.to_owned(),
                reason,
            });
            continue;
        }
        let points = family.grid().len();
        watch.family(
            name,
            if folds.is_empty() {
                halving_fits(data.train.len(), points)
            } else {
                points * folds.len() + 1
            },
        );
        let _span = tracing::info_span!("family", family = name).entered();
        // A panic inside a training library skips the family instead of ending the run.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            train_family(family, data, &folds, watch)
        }))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(TrainError::new(
                name,
                format!("the training library panicked: {what}"),
            ))
        });
        match result {
            Ok(r) => {
                tracing::info!(
                    family = name,
                    score = r.chosen.score,
                    validation_auc = r.validation_auc,
                    "trained"
                );
                out.push(Outcome::Trained(Box::new(r)));
            }
            Err(e) => {
                tracing::warn!(family = name, error = %e, "skipped: failed");
                out.push(Outcome::Skipped {
                    family: name.to_owned(),
                    reason: format!("failed: {}", e.message),
                });
            }
        }
    }
    out
}

/// Score every grid point (on the folds, or on validation without them), then fit the best
/// on the training split.
fn train_family(
    family: &dyn Family,
    data: &Data<'_>,
    folds: &[Fold<'_>],
    watch: &dyn Watch,
) -> crate::Result<FamilyResult> {
    let grid = family.grid();
    if grid.is_empty() {
        return Err(TrainError::new(family.name(), "the grid is empty"));
    }
    let mut points = Vec::with_capacity(grid.len());
    // Without folds, the last round's best point's model is the family's model.
    let mut holdout_model = None;
    if folds.is_empty() {
        let (halved, best) = halve(family, &grid, data, watch)?;
        points = halved;
        holdout_model = Some(best);
    } else {
        let jobs: Vec<(usize, usize)> = (0..grid.len())
            .flat_map(|i| (0..folds.len()).map(move |k| (i, k)))
            .collect();
        let scored: Vec<crate::Result<(f64, f64)>> = jobs
            .par_iter()
            .map(|&(i, k)| {
                let started = Instant::now();
                let fold = &folds[k];
                let f = family.fit(i, fold.fit(), fold.held(), data.seed)?;
                watch.fitted();
                let held = fold.held();
                let p = probabilities(&f.model, held.x_for(&f.model));
                Ok((roc_auc(held.y, &p), started.elapsed().as_secs_f64()))
            })
            .collect();
        let mut scored = scored.into_iter();
        for params in &grid {
            let mut aucs = Vec::with_capacity(folds.len());
            let mut seconds = 0.0;
            for _ in 0..folds.len() {
                let (auc, s) = scored.next().expect("one result per job")?;
                aucs.push(auc);
                seconds += s;
            }
            let (score, spread) = mean_sd(&aucs);
            points.push(GridPoint {
                params: params.clone(),
                score,
                spread,
                fold_aucs: aucs,
                fit_seconds: seconds,
                notes: Default::default(),
            });
        }
    }
    // Halving's winner is its last round's best; across folds, the best mean (earlier,
    // simpler points win exact ties and NaN never wins).
    let best = match &holdout_model {
        Some((at, _)) => *at,
        None => (0..points.len())
            .filter(|&i| points[i].score.is_finite())
            .fold(None, |b: Option<usize>, i| match b {
                Some(j) if points[j].score >= points[i].score => Some(j),
                _ => Some(i),
            })
            .ok_or_else(|| TrainError::new(family.name(), "no grid point could be scored"))?,
    };
    let fitted = if let Some((_, f)) = holdout_model {
        f
    } else {
        let started = Instant::now();
        let f = family.fit(best, data.train, data.validation, data.seed)?;
        watch.fitted();
        points[best].notes = f.notes.clone();
        points[best].fit_seconds += started.elapsed().as_secs_f64();
        f
    };
    for w in &fitted.warnings {
        tracing::warn!(family = family.name(), "{w}");
    }
    let validation_auc = roc_auc(
        data.validation.y,
        &probabilities(&fitted.model, data.validation.x_for(&fitted.model)),
    );
    Ok(FamilyResult {
        family: family.name().to_owned(),
        chosen: points[best].clone(),
        validation_auc,
        grid: points,
        warnings: fitted.warnings,
        model: fitted.model,
    })
}

/// The smallest sample of training rows successive halving fits a grid point on.
pub const HALVING_MIN_ROWS: usize = 10_000;

/// The training rows each round of successive halving fits on, for `n` rows and `points`
/// grid points: each round a third of the next, the last all `n`, none below
/// [`HALVING_MIN_ROWS`] (one round of all rows when `n` is small).
pub fn halving_rounds(n: usize, points: usize) -> Vec<usize> {
    let mut sizes = vec![n];
    let mut alive = points;
    while alive > 1 && sizes[0] / 3 >= HALVING_MIN_ROWS {
        sizes.insert(0, sizes[0] / 3);
        alive = alive.div_ceil(3);
    }
    sizes
}

/// The fits successive halving makes over `n` rows and `points` grid points.
fn halving_fits(n: usize, points: usize) -> usize {
    let mut alive = points;
    let mut fits = 0;
    for _ in halving_rounds(n, points) {
        fits += alive;
        alive = alive.div_ceil(3);
    }
    fits
}

/// Training rows kept for a round: each class's rows in a seeded random order, the same
/// share of each taken, in row order.
fn sample_rows(y: &[bool], size: usize, seed: u64) -> Vec<usize> {
    let mut rng = SplitMix::new(seed ^ 0x4A1F_1A9E);
    let mut out = Vec::with_capacity(size);
    for rows in shuffled_by_class(y, &mut rng) {
        let take = (rows.len() as f64 * size as f64 / y.len().max(1) as f64).round() as usize;
        out.extend_from_slice(&rows[..take.min(rows.len())]);
    }
    out.sort_unstable();
    out
}

/// Successive halving on the validation split: every grid point fitted on a sample of
/// the training rows and scored on validation, the best third (ties to the simpler) kept
/// for a sample three times larger, and so on up to every training row
/// ([`halving_rounds`]). Each point's score is from the last round it took part in
/// (`rows` in its notes); returns them and the best last-round point with its model.
fn halve(
    family: &dyn Family,
    grid: &[crate::Params],
    data: &Data<'_>,
    watch: &dyn Watch,
) -> crate::Result<(Vec<GridPoint>, (usize, crate::Fitted))> {
    let n = data.train.len();
    let rounds = halving_rounds(n, grid.len());
    let mut points: Vec<Option<GridPoint>> = vec![None; grid.len()];
    let mut alive: Vec<usize> = (0..grid.len()).collect();
    let mut last = Vec::new();
    for (round, &size) in rounds.iter().enumerate() {
        let sample = (size < n).then(|| {
            let rows = sample_rows(data.train.y, size, data.seed ^ round as u64);
            Picked::new(data.train, &rows)
        });
        let fit = match &sample {
            Some(picked) => picked.rows(data.train.categorical),
            None => data.train,
        };
        let fitted: Vec<crate::Result<(crate::Fitted, f64)>> = alive
            .par_iter()
            .map(|&i| {
                let started = Instant::now();
                let f = family.fit(i, fit, data.validation, data.seed)?;
                watch.fitted();
                Ok((f, started.elapsed().as_secs_f64()))
            })
            .collect();
        last = Vec::with_capacity(alive.len());
        for (&i, r) in alive.iter().zip(fitted) {
            let (f, seconds) = r?;
            let p = probabilities(&f.model, data.validation.x_for(&f.model));
            let mut notes = f.notes.clone();
            if rounds.len() > 1 {
                notes.insert("rows".into(), fit.len().into());
            }
            let spent = points[i].as_ref().map_or(0.0, |g| g.fit_seconds);
            points[i] = Some(GridPoint {
                params: grid[i].clone(),
                score: roc_auc(data.validation.y, &p),
                spread: auc_standard_error(data.validation.y, &p),
                fold_aucs: Vec::new(),
                fit_seconds: spent + seconds,
                notes,
            });
            last.push((i, f));
        }
        if round + 1 < rounds.len() {
            let score = |i: usize| points[i].as_ref().map_or(f64::NAN, |g| g.score);
            let mut ranked = alive.clone();
            // Best first; NaN last; the earlier (simpler) point wins ties.
            ranked.sort_by(|&a, &b| {
                let (sa, sb) = (score(a), score(b));
                sa.is_nan()
                    .cmp(&sb.is_nan())
                    .then(sb.total_cmp(&sa))
                    .then(a.cmp(&b))
            });
            ranked.truncate(alive.len().div_ceil(3));
            ranked.sort_unstable();
            alive = ranked;
        }
    }
    let points: Vec<GridPoint> = points.into_iter().flatten().collect();
    // The best of the last round (the earlier wins ties; NaN never wins).
    let winner = last
        .iter()
        .enumerate()
        .filter(|(_, (i, _))| points[*i].score.is_finite())
        .fold(None, |b: Option<usize>, (k, (i, _))| match b {
            Some(j) if points[last[j].0].score >= points[*i].score => Some(j),
            _ => Some(k),
        })
        .ok_or_else(|| TrainError::new(family.name(), "no grid point could be scored"))?;
    Ok((points, last.swap_remove(winner)))
}

/// Mean and sample standard deviation.
fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

/// The family with the best score, ties (within `tolerance`) going to the earlier in
/// [`ORDER`].
pub fn select(outcomes: &[Outcome], tolerance: f64) -> Option<&FamilyResult> {
    let trained: Vec<&FamilyResult> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Trained(r) => Some(&**r),
            Outcome::Skipped { .. } => None,
        })
        .collect();
    let top = trained
        .iter()
        .map(|r| r.chosen.score)
        .filter(|s| s.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    trained
        .into_iter()
        .find(|r| r.chosen.score >= top - tolerance)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Fitted, Params, params};
    use riskfn_core::model::{Linear, Model};

    /// Rows of one numeric input, the same in every encoding.
    fn one_input<'a>(x: &'a Array2<f64>, y: &'a [bool]) -> Rows<'a> {
        Rows {
            x,
            native: x,
            levels: x,
            categorical: &[false],
            y,
        }
    }

    /// A family whose model reads one input with a weight its grid point sets.
    struct Fixed(Vec<f64>);

    impl Family for Fixed {
        fn name(&self) -> &'static str {
            "logistic_regression"
        }
        fn grid(&self) -> Vec<Params> {
            self.0
                .iter()
                .map(|w| params(&[("w", (*w).into())]))
                .collect()
        }
        fn fit(&self, i: usize, _: Rows<'_>, _: Rows<'_>, _: u64) -> crate::Result<Fitted> {
            Ok(Fitted::new(Model::LogisticRegression(Linear {
                weights: vec![self.0[i]],
                intercept: 0.0,
            })))
        }
    }

    /// Folds cover train + validation once each, keep the class balance, and the point
    /// that ranks the rows best wins on them.
    #[test]
    fn folds_partition_the_rows_and_the_best_point_wins() {
        let n = 103;
        let x = Array2::from_shape_fn((n, 1), |(i, _)| i as f64);
        let y: Vec<bool> = (0..n).map(|i| i % 3 == 0 || i > 80).collect();
        let rows = |r: std::ops::Range<usize>| x.select(Axis(0), &r.collect::<Vec<_>>());
        let (tx, vx) = (rows(0..70), rows(70..n));
        let data = Data {
            train: one_input(&tx, &y[..70]),
            validation: one_input(&vx, &y[70..]),
            seed: 3,
        };
        let f = folds(&data, 5);
        let held: usize = f.iter().map(|f| f.held.y.len()).sum();
        assert_eq!(held, n);
        let mut seen: Vec<f64> = f.iter().flat_map(|f| f.held.x.column(0).to_vec()).collect();
        seen.sort_by(f64::total_cmp);
        assert_eq!(seen, (0..n).map(|i| i as f64).collect::<Vec<_>>());
        let positives = y.iter().filter(|b| **b).count();
        for fold in &f {
            let p = fold.held.y.iter().filter(|b| **b).count();
            assert!(p.abs_diff(positives / 5) <= 1, "{p} positives in a fold");
            assert_eq!(fold.fit.y.len() + fold.held.y.len(), n);
        }
        // Weight -1 ranks the rows backwards, +1 forwards (positives lean late).
        let r = train_family(&Fixed(vec![-1.0, 1.0]), &data, &f, &Unwatched).unwrap();
        assert_eq!(r.chosen.params["w"], 1.0);
        assert_eq!(r.grid[0].fold_aucs.len(), 5);
        assert!(r.grid[1].score > 0.5 && r.grid[0].score < 0.5);
        assert!(r.chosen.spread > 0.0);
        // Without folds: the validation AUC and its standard error.
        let h = train_family(&Fixed(vec![-1.0, 1.0]), &data, &[], &Unwatched).unwrap();
        assert!(h.grid[0].fold_aucs.is_empty());
        assert_eq!(h.chosen.score, h.validation_auc);
    }

    /// Rounds of a third of the next, none below the floor; the winner comes from the last
    /// round, fitted on every training row, and each point says how many rows it last saw.
    #[test]
    fn successive_halving_keeps_the_best_third() {
        assert_eq!(halving_rounds(10_000, 12), [10_000]);
        assert_eq!(halving_rounds(120_000, 12), [13_333, 40_000, 120_000]);
        assert_eq!(
            halving_rounds(1_200_000, 12),
            [44_444, 133_333, 400_000, 1_200_000]
        );
        assert_eq!(halving_rounds(1_200_000, 1), [1_200_000]);
        let n = 90_000;
        let x = Array2::from_shape_fn((n, 1), |(i, _)| (i % 1000) as f64 / 1000.0);
        let y: Vec<bool> = (0..n).map(|i| i % 1000 > 600 || i % 7 == 0).collect();
        let rows = |r: std::ops::Range<usize>| {
            (
                x.select(Axis(0), &r.clone().collect::<Vec<_>>()),
                y[r].to_vec(),
            )
        };
        let ((tx, ty), (vx, vy)) = (rows(0..60_000), rows(60_000..n));
        let data = Data {
            train: one_input(&tx, &ty),
            validation: one_input(&vx, &vy),
            seed: 1,
        };
        let family = Fixed(vec![-1.0, -0.5, 1.0, 0.5]);
        let r = train_family(&family, &data, &[], &Unwatched).unwrap();
        assert_eq!(r.chosen.params["w"], 1.0);
        assert_eq!(r.chosen.notes["rows"], 60_000);
        // Two of four kept after the first round (on 20,000 rows).
        let rows_seen: Vec<u64> = r
            .grid
            .iter()
            .map(|g| g.notes["rows"].as_u64().unwrap())
            .collect();
        assert_eq!(rows_seen, [20_000, 20_000, 60_000, 60_000]);
        assert_eq!(sample_rows(&ty, 20_000, 3).len(), 20_000);
    }
}
