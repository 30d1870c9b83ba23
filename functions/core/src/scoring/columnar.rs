//! Scoring many rows at once, column by column: what batch scoring and SQL's
//! `riskfn_predict` run. Every number equals [`Scorer::score_with`]'s for the same row, bit
//! for bit (tested below on every model family): the same formulas in the same order, only
//! evaluated a column (or a block of rows) at a time instead of a row at a time:
//! - a feature that is a raw field is encoded straight from its column, a category once per
//!   distinct string; a derived feature is evaluated on typed vectors (`typed`), or, where
//!   those do not cover it or a row fails, node by node by the same [`Expr`];
//! - a logistic regression sums its terms input by input over the whole batch, a one-hot
//!   feature by its row's level (the other levels add zeros); its reasons come from
//!   per-level tables built by the row path's own function;
//! - tree models walk a block of rows through one tree at a time, several rows in lockstep
//!   without branches (a leaf points to itself), so one tree stays in cache and the walks
//!   do not wait on mispredicted branches;
//! - other models, and every model's substitution reasons, take the row path's code on each
//!   row's encoded inputs.
//!
//! A row that fails validation (a NULL where the schema forbids it, a feature its values
//! leave undefined) is handed to [`Scorer::score_with`] for its error.
//!
//! (Some 400 of its lines, from `mod tests` on, check it against the row path on every
//! model family, bit for bit.)

use std::sync::Arc;

use crate::features::expr::Expr;
use crate::features::preprocess::{Encoding, category_key, numeric_value};
use crate::features::value::Value;
use crate::model::Model;
pub use crate::scoring::columns::{Column, Validity};
use crate::scoring::flat::BLOCK;
use crate::scoring::typed::{Data, Typed};
use crate::scoring::{RecordError, RowScore, Scorer, Scratch, linear_contribution, top_reasons};

/// The scores of a batch, row by row; a row that could not be scored has NaN numbers, no
/// reasons and its error in `errors`.
#[derive(Debug, Default)]
pub struct BatchScores {
    pub probability: Vec<f64>,
    pub adverse: Vec<bool>,
    pub points: Vec<f64>,
    /// Row `r`'s reasons (feature indices, strongest first) are
    /// `reasons[reason_offsets[r]..reason_offsets[r + 1]]`.
    pub reason_offsets: Vec<usize>,
    pub reasons: Vec<usize>,
    /// The rows that could not be scored and why, in row order.
    pub errors: Vec<(usize, RecordError)>,
    /// The rows scored although outside the version's population, and the rule each
    /// breaks (by index), in row order.
    pub outside: Vec<(usize, usize)>,
}

/// Why a batch cannot be scored at all (the caller built it wrong).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BatchError {
    #[error("the version reads {expected} fields, the batch has {got} columns")]
    Columns { expected: usize, got: usize },
    #[error("column {column} has {got} rows, the batch {expected}")]
    Rows {
        column: usize,
        expected: usize,
        got: usize,
    },
}

/// One feature's encoding over the batch: a numeric feature's input, a one-hot
/// feature's level (`NONE`: unseen in training, all inputs 0), or a level feature's
/// position (its one input; `NONE`: unseen, NaN).
enum Encoded {
    Number(Vec<f64>),
    Level(Vec<u32>),
    Position(Vec<u32>),
}

const NONE: u32 = u32::MAX;

/// A level feature's input: its level's position, NaN when unseen.
fn position(level: u32) -> f64 {
    if level == NONE {
        f64::NAN
    } else {
        f64::from(level)
    }
}

impl Encoded {
    /// Append row `r`'s inputs for this feature to `x`, as [`crate::features::preprocess::Feature::encode_into`] does.
    fn push_inputs(&self, width: usize, r: usize, x: &mut Vec<f64>) {
        match self {
            Encoded::Number(v) => x.push(v[r]),
            Encoded::Level(l) => {
                x.extend((0..width).map(|j| f64::from(u8::from(l[r] == j as u32))))
            }
            Encoded::Position(l) => x.push(position(l[r])),
        }
    }

    /// A level feature's levels as its positions (the one input it has).
    fn for_encoding(self, encoding: &Encoding) -> Encoded {
        match (self, encoding) {
            (Encoded::Level(l), Encoding::Level { .. }) => Encoded::Position(l),
            (e, _) => e,
        }
    }
}

impl Scorer {
    /// Score the `rows` rows of `columns` (the version's raw fields, in raw-schema order),
    /// with reasons when `explain`: for every row the numbers [`Scorer::score_with`] gives.
    pub fn score_batch(
        &self,
        columns: &[Column<'_>],
        rows: usize,
        explain: bool,
    ) -> Result<BatchScores, BatchError> {
        let fields = &self.artifact().raw_schema.fields;
        if columns.len() != fields.len() {
            return Err(BatchError::Columns {
                expected: fields.len(),
                got: columns.len(),
            });
        }
        if let Some((column, c)) = columns.iter().enumerate().find(|(_, c)| c.len() != rows) {
            return Err(BatchError::Rows {
                column,
                expected: rows,
                got: c.len(),
            });
        }
        // Rows the row path would refuse: a NULL in a field that may not hold one, a
        // derived feature that fails.
        let mut failed = vec![false; rows];
        for (f, c) in fields.iter().zip(columns) {
            if !f.nullable && c.may_hold_null() {
                for (r, bad) in failed.iter_mut().enumerate() {
                    *bad |= c.is_null(r);
                }
            }
        }
        self.mark_outside_population(columns, rows, &mut failed);
        let encoded = self.encode_batch(columns, rows, &mut failed);

        let mut out = BatchScores {
            probability: vec![f64::NAN; rows],
            adverse: vec![false; rows],
            points: vec![f64::NAN; rows],
            reason_offsets: Vec::with_capacity(rows + 1),
            reasons: Vec::new(),
            errors: Vec::new(),
            outside: Vec::new(),
        };
        let widths: Vec<usize> = self
            .artifact()
            .features
            .iter()
            .map(|f| f.encoding.width())
            .collect();
        let width: usize = widths.iter().sum();
        let model = &self.artifact().model;
        let mut scratch = Scratch::default();
        // Row `r`'s encoded inputs, appended to `x`.
        let push_row = |r: usize, x: &mut Vec<f64>| {
            for (e, w) in encoded.iter().zip(&widths) {
                e.push_inputs(*w, r, x);
            }
        };
        let dense = |r: usize, x: &mut Vec<f64>| {
            x.clear();
            push_row(r, x);
        };
        match model {
            Model::LogisticRegression(m) => {
                // Input by input over every row: the row path's sum, term for term.
                let mut acc = vec![-0.0f64; rows];
                let mut k = 0;
                for (e, w) in encoded.iter().zip(&widths) {
                    match e {
                        Encoded::Number(v) => {
                            let wk = m.weights[k];
                            for (a, x) in acc.iter_mut().zip(v) {
                                *a += wk * x;
                            }
                        }
                        Encoded::Level(l) => {
                            // The row path adds `w * 0.0` for every other level and
                            // `w * 1.0` for the row's: zeros change no sum but the sign
                            // of a zero one, which the intercept's addition and the
                            // sigmoid then erase. So the row's weight alone (0 for an
                            // unseen level) gives the same probability, bit for bit.
                            let mut by_level = m.weights[k..k + w].to_vec();
                            by_level.push(0.0);
                            for (a, &level) in acc.iter_mut().zip(l) {
                                *a += by_level[(level as usize).min(*w)];
                            }
                        }
                        Encoded::Position(l) => {
                            let wk = m.weights[k];
                            for (a, &level) in acc.iter_mut().zip(l) {
                                *a += wk * position(level);
                            }
                        }
                    }
                    k += w;
                }
                for (p, a) in out.probability.iter_mut().zip(&acc) {
                    *p = crate::model::sigmoid(m.intercept + a);
                }
            }
            _ => {
                let flat = self.flat_trees();
                let mut x = Vec::with_capacity(BLOCK * width);
                let mut leaf = Vec::new();
                let mut start = 0;
                while start < rows {
                    let end = (start + BLOCK).min(rows);
                    match flat {
                        Some(flat) => {
                            x.clear();
                            for r in start..end {
                                push_row(r, &mut x);
                            }
                            flat.probabilities(
                                &x,
                                width,
                                &mut out.probability[start..end],
                                &mut leaf,
                            );
                        }
                        None => {
                            for r in start..end {
                                dense(r, &mut scratch.x);
                                out.probability[r] = model.probability(&scratch.x);
                                if let Model::Scorecard(card) = model {
                                    out.points[r] = card.points(&scratch.x);
                                }
                            }
                        }
                    }
                    start = end;
                }
            }
        }
        let decision = &self.artifact().decision;
        let scorecard = &self.artifact().scorecard;
        // A points scorecard's points are its bins' (above); other models' follow from p.
        let card = matches!(model, Model::Scorecard(_));
        for r in 0..rows {
            let p = out.probability[r];
            out.adverse[r] = p >= decision.threshold;
            if !card {
                out.points[r] = scorecard.points(p);
            }
        }

        // Reasons, and the failed rows' errors (or, should the row path score one after all,
        // its score).
        let linear_tables = match (explain, model) {
            (true, Model::LogisticRegression(m)) => {
                Some(self.linear_reason_tables(&m.weights, &encoded, &widths))
            }
            _ => None,
        };
        // A logistic regression's contributions, row by row (row-major), filled feature by
        // feature.
        let n_features = widths.len();
        let mut contributions = Vec::new();
        if let Some(tables) = &linear_tables {
            contributions.resize(rows * n_features, 0.0);
            for (f, t) in tables.iter().enumerate() {
                t.fill(&encoded, &mut contributions[f..], n_features);
            }
        }
        out.reason_offsets.push(0);
        for (r, &bad) in failed.iter().enumerate() {
            if bad {
                let row: Vec<Value> = columns.iter().map(|c| c.value(r)).collect();
                match self.score_with(&row, explain, &mut scratch) {
                    Ok(s) => {
                        self.set(&mut out, r, s);
                        out.outside.extend(s.outside.map(|i| (r, i)));
                        out.reasons.extend_from_slice(scratch.reasons());
                    }
                    Err(e) => {
                        out.probability[r] = f64::NAN;
                        out.points[r] = f64::NAN;
                        out.adverse[r] = false;
                        out.errors.push((r, e));
                    }
                }
            } else if explain {
                match &linear_tables {
                    Some(_) => top_reasons(
                        &contributions[r * n_features..(r + 1) * n_features],
                        self.artifact().reasons,
                        &mut scratch.reasons,
                    ),
                    None => {
                        dense(r, &mut scratch.x);
                        self.reasons_into(out.probability[r], &mut scratch);
                    }
                }
                out.reasons.extend_from_slice(scratch.reasons());
            }
            out.reason_offsets.push(out.reasons.len());
        }
        Ok(out)
    }

    /// Rows a population rule does not hold on (false or NULL), left to the row path,
    /// which refuses or flags them.
    fn mark_outside_population(&self, columns: &[Column<'_>], rows: usize, failed: &mut [bool]) {
        for rule in &self.artifact().population.rules {
            match crate::scoring::typed::eval(&rule.expr, columns, rows) {
                Some(Typed {
                    data: Data::Bool(holds),
                    nulls,
                }) => {
                    for (r, bad) in failed.iter_mut().enumerate() {
                        *bad |= !holds[r] || nulls.as_ref().is_some_and(|n| n[r]);
                    }
                }
                // Not evaluated on typed vectors: every row takes the row path.
                _ => failed.fill(true),
            }
        }
    }

    fn set(&self, out: &mut BatchScores, r: usize, s: RowScore) {
        out.probability[r] = s.probability;
        out.adverse[r] = s.adverse;
        out.points[r] = s.points;
    }

    /// Each feature over the batch; rows whose derived feature fails are marked in `failed`.
    fn encode_batch(
        &self,
        columns: &[Column<'_>],
        rows: usize,
        failed: &mut [bool],
    ) -> Vec<Encoded> {
        let features = &self.artifact().features;
        let mut encoded: Vec<Option<Encoded>> = features
            .iter()
            .map(|f| match (&f.expr, &f.encoding) {
                (Expr::Column(i), Encoding::Numeric { .. }) => match columns.get(*i)? {
                    Column::Int { values, validity } => Some(Encoded::Number(
                        (0..rows)
                            .map(|r| {
                                let x = validity
                                    .is_none_or(|v| v.is_valid(r))
                                    .then(|| values[r] as f64);
                                number(f, x)
                            })
                            .collect(),
                    )),
                    Column::Float { values, validity } => Some(Encoded::Number(
                        (0..rows)
                            .map(|r| {
                                let x = validity
                                    .is_none_or(|v| v.is_valid(r))
                                    .then_some(values[r])
                                    .filter(|x| x.is_finite());
                                number(f, x)
                            })
                            .collect(),
                    )),
                    _ => None,
                },
                (Expr::Column(i), Encoding::OneHot { .. } | Encoding::Level { .. }) => {
                    match columns.get(*i)? {
                        Column::Str {
                            keys,
                            dict,
                            validity,
                        } => Some(Encoded::Level(dict_levels(f, keys, dict, |r| {
                            validity.is_some_and(|v| !v.is_valid(r))
                        }))),
                        _ => None,
                    }
                }
                _ => None,
            })
            .collect();
        // Everything else through the row path's evaluator.
        let generic: Vec<usize> = (0..features.len())
            .filter(|&i| encoded[i].is_none())
            .collect();
        let by_encoding = |encoded: Vec<Option<Encoded>>| {
            encoded
                .into_iter()
                .zip(features)
                .filter_map(|(e, f)| e.map(|e| e.for_encoding(&f.encoding)))
                .collect()
        };
        if generic.is_empty() {
            return by_encoding(encoded);
        }
        let mut outputs: Vec<Encoded> = generic
            .iter()
            .map(|&i| match features[i].encoding {
                Encoding::Numeric { .. } => Encoded::Number(vec![0.0; rows]),
                Encoding::OneHot { .. } | Encoding::Level { .. } => {
                    Encoded::Level(vec![NONE; rows])
                }
            })
            .collect();
        // The row path's record, holding only the fields an expression reads.
        let mut row = vec![Value::Null; columns.len()];
        for (&i, out) in generic.iter().zip(outputs.iter_mut()) {
            let f = &features[i];
            // On typed vectors when the expression allows it and no row fails; otherwise
            // row by row through the row path's own evaluator.
            if let Some(t) = crate::scoring::typed::eval(&f.expr, columns, rows) {
                encode_typed(f, &t, out);
                continue;
            }
            let mut reads = Vec::new();
            f.expr.collect_columns(&mut reads);
            let mut seen = Levels::default();
            for r in 0..rows {
                for &c in &reads {
                    if let (Some(slot), Some(col)) = (row.get_mut(c), columns.get(c)) {
                        *slot = col.value(r);
                    }
                }
                let Ok(v) = f.expr.eval(&row) else {
                    failed[r] = true;
                    continue;
                };
                match out {
                    Encoded::Number(o) => o[r] = number(f, numeric_value(&v)),
                    Encoded::Level(o) | Encoded::Position(o) => o[r] = seen.level(f, &v),
                }
            }
        }
        for (i, o) in generic.into_iter().zip(outputs) {
            encoded[i] = Some(o);
        }
        by_encoding(encoded)
    }

    /// Per feature of a logistic regression, its contribution to a reason (see
    /// [`Scorer::contributions`]) for each row, from the row path's function.
    fn linear_reason_tables(
        &self,
        weights: &[f64],
        encoded: &[Encoded],
        widths: &[usize],
    ) -> Vec<LinearReason> {
        let mean = self.mean_inputs();
        let mut k = 0;
        let mut tables = Vec::with_capacity(widths.len());
        for (f, w) in widths.iter().enumerate() {
            let span = k..k + w;
            tables.push(match &encoded[f] {
                Encoded::Number(_) | Encoded::Position(_) => LinearReason::Number {
                    feature: f,
                    weight: weights[k],
                    mean: mean[k],
                },
                Encoded::Level(_) => {
                    // One value per level, and the unseen level last.
                    let mut one_hot = vec![0.0; *w];
                    let mut by_level: Vec<f64> = (0..*w)
                        .map(|j| {
                            one_hot.fill(0.0);
                            one_hot[j] = 1.0;
                            linear_contribution(
                                &weights[span.clone()],
                                &one_hot,
                                &mean[span.clone()],
                            )
                        })
                        .collect();
                    one_hot.fill(0.0);
                    by_level.push(linear_contribution(
                        &weights[span.clone()],
                        &one_hot,
                        &mean[span.clone()],
                    ));
                    LinearReason::Level {
                        feature: f,
                        by_level,
                    }
                }
            });
            k += w;
        }
        tables
    }
}

/// A one-hot feature's level of a value, remembered for the strings last seen by
/// identity: a derived category (a CASE of literals) hands every row one of a few shared
/// strings, so most rows need no string comparison.
#[derive(Default)]
struct Levels(Vec<(Arc<str>, u32)>);

impl Levels {
    fn level(&mut self, f: &crate::features::preprocess::Feature, v: &Value) -> u32 {
        let find = |v: &Value| f.level_of(&category_key(v)).map_or(NONE, |l| l as u32);
        let Value::Str(s) = v else {
            return find(v);
        };
        if let Some((_, l)) = self.0.iter().find(|(k, _)| Arc::ptr_eq(k, s)) {
            return *l;
        }
        let l = find(v);
        if self.0.len() < 16 {
            self.0.push((s.clone(), l));
        }
        l
    }
}

/// A derived feature's encoding from its typed values, as the row path encodes each
/// row's value ([`numeric_value`], [`category_key`]).
fn encode_typed(f: &crate::features::preprocess::Feature, t: &Typed, out: &mut Encoded) {
    match out {
        Encoded::Number(o) => {
            for (r, o) in o.iter_mut().enumerate() {
                let x = match &t.data {
                    _ if t.is_null(r) => None,
                    Data::Float(v) => Some(v[r]).filter(|x| x.is_finite()),
                    Data::Int(v) => Some(v[r] as f64),
                    Data::Bool(v) => Some(f64::from(u8::from(v[r]))),
                    Data::Str { .. } | Data::Null => None,
                };
                *o = number(f, x);
            }
        }
        Encoded::Level(o) | Encoded::Position(o) => match &t.data {
            Data::Str { keys, dict } => *o = dict_levels(f, keys, dict, |r| t.is_null(r)),
            _ => {
                for (r, o) in o.iter_mut().enumerate() {
                    *o = f
                        .level_of(&category_key(&t.value(r)))
                        .map_or(NONE, |l| l as u32);
                }
            }
        },
    }
}

/// A one-hot feature's level of each row of a string column by dictionary: each distinct
/// string looked up once; a NULL row (`is_null`) takes the missing level.
fn dict_levels(
    f: &crate::features::preprocess::Feature,
    keys: &[u32],
    dict: &[Arc<str>],
    is_null: impl Fn(usize) -> bool,
) -> Vec<u32> {
    let level = |key: &str| f.level_of(key).map_or(NONE, |l| l as u32);
    let by_key: Vec<u32> = dict.iter().map(|s| level(s)).collect();
    let missing = level(&category_key(&Value::Null));
    (0..keys.len())
        .map(|r| match is_null(r) {
            true => missing,
            false => by_key.get(keys[r] as usize).copied().unwrap_or(NONE),
        })
        .collect()
}

/// A numeric feature's input, as [`crate::features::preprocess::Feature::encode_number_into`] computes it.
fn number(f: &crate::features::preprocess::Feature, x: Option<f64>) -> f64 {
    f.encode_number(x).unwrap_or(f64::NAN)
}

enum LinearReason {
    Number {
        feature: usize,
        weight: f64,
        mean: f64,
    },
    Level {
        feature: usize,
        by_level: Vec<f64>,
    },
}

impl LinearReason {
    /// Each row's contribution of this feature into `out[r * stride]`.
    fn fill(&self, encoded: &[Encoded], out: &mut [f64], stride: usize) {
        match (self, &encoded[self.feature()]) {
            // `linear_contribution` of one input: -0.0 + w (x - m), which is w (x - m).
            (LinearReason::Number { weight, mean, .. }, Encoded::Number(v)) => {
                for (o, x) in out.iter_mut().step_by(stride).zip(v) {
                    *o = weight * (x - mean);
                }
            }
            (LinearReason::Number { weight, mean, .. }, Encoded::Position(v)) => {
                for (o, &l) in out.iter_mut().step_by(stride).zip(v) {
                    *o = weight * (position(l) - mean);
                }
            }
            (LinearReason::Level { by_level, .. }, Encoded::Level(l)) => {
                let unseen = by_level.len() - 1;
                for (o, &level) in out.iter_mut().step_by(stride).zip(l) {
                    *o = by_level[if level == NONE {
                        unseen
                    } else {
                        level as usize
                    }];
                }
            }
            // Built from the same encodings: never mismatched.
            _ => {}
        }
    }

    fn feature(&self) -> usize {
        match self {
            LinearReason::Number { feature, .. } | LinearReason::Level { feature, .. } => *feature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::artifact::{Decision, FORMAT_VERSION, Scorecard, ScoringArtifact};
    use crate::features::expr::{BinaryOp, Literal};
    use crate::features::population::{Outside, Population, Rule};
    use crate::features::preprocess::{Feature, Reason};
    use crate::features::schema::{RawField, RawSchema};
    use crate::features::value::DataType;
    use crate::model::{Boosted, ClassGaussian, GaussianNb, Kernel, Linear, Svm};
    use crate::model::{Forest, Node, Tree};

    /// xorshift in [0, 1): the test's data and models, reproducible.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() * n as f64) as usize % n
        }
    }

    fn feature(name: &str, expr: Expr, encoding: Encoding) -> Feature {
        Feature {
            name: name.into(),
            expr,
            encoding,
            reason: Reason {
                code: name.to_uppercase(),
                text: name.into(),
            },
        }
    }

    fn one_hot(levels: &[&str]) -> Encoding {
        Encoding::OneHot {
            levels: levels.iter().map(|l| l.to_string()).collect(),
            frequencies: (1..=levels.len()).map(|i| i as f64 / 10.0).collect(),
        }
    }

    /// Raw fields: amount (int, nullable), rate (float, nullable), home (string, nullable),
    /// term (int, not nullable), code (string: a number as text, or not). Features: both
    /// numbers as they come, home one-hot, and four derived: amount / term, a band of rate,
    /// rate in percent, and `CAST(code AS INT)`, which fails on text that is not a number.
    fn scorer(model: impl FnOnce(usize, &mut Rng) -> Model, rng: &mut Rng) -> Scorer {
        let field = |name: &str, data_type, nullable| RawField {
            name: name.into(),
            data_type,
            nullable,
        };
        let numeric = |mean: f64, scale: f64| Encoding::Numeric {
            impute: 1.5,
            mean,
            scale,
            native_missing: false,
            zero_missing: false,
        };
        let features = vec![
            feature("amount", Expr::column(0), numeric(900.0, 300.0)),
            feature("rate", Expr::column(1), numeric(0.1, 0.05)),
            feature(
                "home",
                Expr::column(2),
                one_hot(&["missing", "own", "rent"]),
            ),
            feature(
                "monthly",
                Expr::binary(BinaryOp::Div, Expr::column(0), Expr::column(3)),
                numeric(40.0, 20.0),
            ),
            feature(
                "rate_band",
                Expr::Case {
                    operand: None,
                    branches: vec![(
                        Expr::binary(
                            BinaryOp::Lt,
                            Expr::column(1),
                            Expr::Literal(Literal::new(&Value::Float(0.1))),
                        ),
                        Expr::Literal(Literal::new(&Value::str("low"))),
                    )],
                    otherwise: Some(Box::new(Expr::Literal(Literal::new(&Value::str("high"))))),
                },
                one_hot(&["high", "low"]),
            ),
            // Never fails: evaluated on typed vectors (as is the band above).
            feature(
                "rate_pct",
                Expr::binary(
                    BinaryOp::Mul,
                    Expr::column(1),
                    Expr::Literal(Literal::new(&Value::Float(100.0))),
                ),
                numeric(10.0, 5.0),
            ),
            feature(
                "code",
                Expr::Cast {
                    expr: Box::new(Expr::column(4)),
                    to: DataType::Int,
                    safe: false,
                },
                numeric(3.0, 2.0),
            ),
        ];
        let width = 1 + 1 + 3 + 1 + 2 + 1 + 1;
        let artifact = ScoringArtifact {
            format: FORMAT_VERSION,
            pipeline: "p".into(),
            version: "v".into(),
            raw_schema: RawSchema {
                fields: vec![
                    field("amount", DataType::Int, true),
                    field("rate", DataType::Float, true),
                    field("home", DataType::Str, true),
                    field("term", DataType::Int, false),
                    field("code", DataType::Str, true),
                ],
            },
            unknown_fields: Default::default(),
            id_column: None,
            features,
            model: model(width, rng),
            decision: Decision {
                threshold: 0.5,
                adverse: "decline".into(),
                favourable: "approve".into(),
            },
            scorecard: Scorecard::default(),
            reasons: 3,
            population: Default::default(),
        };
        Scorer::new(artifact, String::new()).unwrap()
    }

    fn random_tree(depth: u32, width: usize, rng: &mut Rng) -> Tree {
        // Uneven: a split's children are leaves with some chance, so depths differ.
        let mut nodes = vec![];
        let mut todo = vec![(0usize, 0u32)];
        nodes.push(Node::Leaf { value: 0.0 });
        while let Some((i, d)) = todo.pop() {
            if d == depth || (d > 1 && rng.next() < 0.25) {
                nodes[i] = Node::Leaf { value: rng.next() };
                continue;
            }
            let (left, right) = (nodes.len(), nodes.len() + 1);
            nodes.push(Node::Leaf { value: 0.0 });
            nodes.push(Node::Leaf { value: 0.0 });
            nodes[i] = Node::Split {
                feature: rng.below(width) as u32,
                threshold: rng.next() * 4.0 - 2.0,
                left: left as u32,
                right: right as u32,
                missing_left: rng.next() < 0.5,
            };
            todo.push((left, d + 1));
            todo.push((right, d + 1));
        }
        Tree {
            nodes,
            cover: Vec::new(),
            level_sets: Vec::new(),
        }
    }

    type MakeModel = Box<dyn Fn(usize, &mut Rng) -> Model>;

    fn models() -> Vec<(&'static str, MakeModel)> {
        let vec = |w: usize, rng: &mut Rng, lo: f64, hi: f64| -> Vec<f64> {
            (0..w).map(|_| lo + (hi - lo) * rng.next()).collect()
        };
        vec![
            (
                "logistic_regression",
                Box::new(move |w, rng: &mut Rng| {
                    Model::LogisticRegression(Linear {
                        weights: vec(w, rng, -2.0, 2.0),
                        intercept: -0.3,
                    })
                }),
            ),
            (
                "gaussian_nb",
                Box::new(move |w, rng: &mut Rng| {
                    let class = |rng: &mut Rng, prior| ClassGaussian {
                        prior,
                        mean: vec(w, rng, -1.0, 1.0),
                        var: vec(w, rng, 0.5, 2.0),
                    };
                    Model::GaussianNb(GaussianNb {
                        adverse: class(rng, 0.3),
                        favourable: class(rng, 0.7),
                    })
                }),
            ),
            (
                "rbf_svm",
                Box::new(move |w, rng: &mut Rng| {
                    Model::Svm(Svm {
                        kernel: Kernel::Rbf {
                            eps: 3.0,
                            support: (0..5).map(|_| vec(w, rng, -1.0, 1.0)).collect(),
                            coef: vec(5, rng, -1.0, 1.0),
                        },
                        rho: 0.1,
                        platt_a: -1.5,
                        platt_b: 0.2,
                    })
                }),
            ),
            (
                "decision_tree",
                Box::new(move |w, rng: &mut Rng| Model::DecisionTree(random_tree(6, w, rng))),
            ),
            (
                "random_forest",
                Box::new(move |w, rng: &mut Rng| {
                    Model::RandomForest(Forest {
                        trees: (0..30).map(|_| random_tree(5, w, rng)).collect(),
                    })
                }),
            ),
            (
                "gradient_boosting",
                Box::new(move |w, rng: &mut Rng| {
                    Model::GradientBoosting(Boosted {
                        base_score: -0.8,
                        trees: (0..30)
                            .map(|_| {
                                let mut t = random_tree(4, w, rng);
                                for n in &mut t.nodes {
                                    if let Node::Leaf { value } = n {
                                        *value -= 0.5;
                                    }
                                }
                                t
                            })
                            .collect(),
                    })
                }),
            ),
            (
                "linear_svm",
                Box::new(move |w, rng: &mut Rng| {
                    Model::Svm(Svm {
                        kernel: Kernel::Linear {
                            weights: vec(w, rng, -1.0, 1.0),
                        },
                        rho: -0.2,
                        platt_a: -2.0,
                        platt_b: 0.1,
                    })
                }),
            ),
        ]
    }

    #[test]
    fn a_batch_scores_every_row_as_the_row_path_does() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C17);
        // 1,003 rows: whole lockstep groups and blocks, and a remainder.
        let rows = 4 * BLOCK - 21;
        let amount: Vec<i64> = (0..rows).map(|_| rng.below(2000) as i64).collect();
        let rate: Vec<f64> = (0..rows)
            .map(|r| match r % 97 {
                5 => f64::NAN,
                6 => f64::INFINITY,
                _ => rng.next() * 0.2,
            })
            .collect();
        let dict: Vec<Arc<str>> = ["own", "rent", "castle", "own"].map(Arc::from).to_vec();
        let home: Vec<u32> = (0..rows).map(|_| rng.below(dict.len()) as u32).collect();
        // term 0 makes amount / term NULL (SQL division by zero is NULL here? either way,
        // the row path decides); term is not nullable, so its NULLs are errors.
        let term: Vec<i64> = (0..rows).map(|_| rng.below(5) as i64).collect();
        let codes: Vec<Arc<str>> = ["1", "2", "7", "x"].map(Arc::from).to_vec();
        let code: Vec<u32> = (0..rows).map(|_| rng.below(codes.len()) as u32).collect();
        // Validity: every 13th amount, 17th rate, 11th home, 89th term, 19th code NULL.
        let bits = |every: usize| -> Vec<u8> {
            (0..rows.div_ceil(8))
                .map(|b| {
                    (0..8)
                        .map(|i| u8::from((b * 8 + i) % every != 3) << i)
                        .sum()
                })
                .collect()
        };
        let (b_amount, b_rate, b_home, b_term, b_code) =
            (bits(13), bits(17), bits(11), bits(89), bits(19));
        fn v(bits: &[u8]) -> Option<Validity<'_>> {
            Some(Validity { bits, offset: 0 })
        }
        let columns = [
            Column::Int {
                values: &amount,
                validity: v(&b_amount),
            },
            Column::Float {
                values: &rate,
                validity: v(&b_rate),
            },
            Column::Str {
                keys: &home,
                dict: &dict,
                validity: v(&b_home),
            },
            Column::Int {
                values: &term,
                validity: v(&b_term),
            },
            Column::Str {
                keys: &code,
                dict: &codes,
                validity: v(&b_code),
            },
        ];
        // Population rules, each evaluated on typed vectors: an amount over 20 (NULL breaks
        // it), a home that is not a castle.
        let rule = |rule: &str, expr: Expr| Rule {
            rule: rule.into(),
            expr,
        };
        let rules = vec![
            rule(
                "amount > 20",
                Expr::binary(BinaryOp::Gt, Expr::column(0), Expr::lit(20i64)),
            ),
            rule(
                "home <> 'castle'",
                Expr::binary(BinaryOp::NotEq, Expr::column(2), Expr::lit("castle")),
            ),
        ];
        let populations = [
            Population::default(),
            Population {
                rules: rules.clone(),
                outside: Outside::Refuse,
            },
            Population {
                rules,
                outside: Outside::Flag,
            },
        ];
        // Each model with each population: the same scorer but for its rules.
        let scorers = models().into_iter().flat_map(|(name, model)| {
            let s = scorer(model, &mut rng);
            populations.clone().map(|population| {
                let artifact = ScoringArtifact {
                    population,
                    ..s.artifact().clone()
                };
                (name, Scorer::new(artifact, String::new()).unwrap())
            })
        });
        for (name, s) in scorers.collect::<Vec<_>>() {
            for explain in [true, false] {
                let got = s.score_batch(&columns, rows, explain).unwrap();
                let mut scratch = Scratch::default();
                let mut errors = got.errors.iter().peekable();
                let mut outside = got.outside.iter().peekable();
                let mut failures = 0;
                for r in 0..rows {
                    let row: Vec<Value> = columns.iter().map(|c| c.value(r)).collect();
                    let reasons = &got.reasons[got.reason_offsets[r]..got.reason_offsets[r + 1]];
                    match s.score_with(&row, explain, &mut scratch) {
                        Ok(want) => {
                            assert_eq!(
                                (
                                    got.probability[r].to_bits(),
                                    got.points[r].to_bits(),
                                    got.adverse[r]
                                ),
                                (
                                    want.probability.to_bits(),
                                    want.points.to_bits(),
                                    want.adverse
                                ),
                                "{name} row {r}: {} against {}",
                                got.probability[r],
                                want.probability
                            );
                            assert_eq!(reasons, scratch.reasons(), "{name} row {r}");
                            assert!(errors.peek().is_none_or(|(e, _)| *e != r));
                            let flagged = outside.next_if(|(at, _)| *at == r).map(|o| o.1);
                            assert_eq!(flagged, want.outside, "{name} row {r}");
                        }
                        Err(want) => {
                            failures += 1;
                            assert_eq!(errors.next(), Some(&(r, want)), "{name} row {r}");
                            assert!(got.probability[r].is_nan() && reasons.is_empty());
                        }
                    }
                }
                assert!(errors.next().is_none() && outside.next().is_none());
                // Both kinds of failure occur, and most rows score; the rules refuse or
                // flag a third of them.
                assert!(
                    failures > 20 && failures < rows * 2 / 3,
                    "{name}: {failures} failures"
                );
                let broken = match s.artifact().population.rules.is_empty() {
                    true => 0,
                    false => rows / 5,
                };
                let (refused, flagged) = (failures, got.outside.len());
                match s.artifact().population.outside {
                    Outside::Refuse => assert!(refused > broken, "{name}: {refused} refused"),
                    Outside::Flag => assert!(flagged > broken, "{name}: {flagged} flagged"),
                }
                let mut distinct: Vec<u64> = got.probability.iter().map(|p| p.to_bits()).collect();
                distinct.sort_unstable();
                distinct.dedup();
                if explain {
                    assert!(
                        got.reasons.len() > rows / 10,
                        "{name}: {} reasons, {} distinct probabilities",
                        got.reasons.len(),
                        distinct.len()
                    );
                }
            }
        }
    }

    #[test]
    fn the_short_list_of_reasons_is_the_sorted_list_cut_short() {
        let mut rng = Rng(7);
        let mut got = Vec::new();
        for _ in 0..2000 {
            let n = rng.below(30);
            // Few distinct values, so ties are common; some zero, negative or NaN.
            let c: Vec<f64> = (0..n)
                .map(|_| match rng.below(8) {
                    0 => f64::NAN,
                    1 => 0.0,
                    2 => -1.0,
                    k => k as f64 * 0.5,
                })
                .collect();
            let k = rng.below(6);
            let mut want: Vec<usize> = (0..n).filter(|&i| c[i] > 0.0).collect();
            want.sort_by(|&a, &b| c[b].total_cmp(&c[a]).then(a.cmp(&b)));
            want.truncate(k);
            top_reasons(&c, k, &mut got);
            assert_eq!(got, want, "{c:?} k={k}");
        }
    }
}
