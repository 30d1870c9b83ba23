//! Fitted models in a form the serving side evaluates without the training library.
//!
//! The batch job converts each linfa model into one of these; tests there check that the
//! converted model, saved and reloaded, gives linfa's own outputs.
//!
//! (Its last 130 lines are unit tests of each model's numbers.)

pub mod shap;

use serde::{Deserialize, Serialize};

/// A fitted binary classifier; every variant yields the probability of the adverse outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum Model {
    LogisticRegression(Linear),
    GaussianNb(GaussianNb),
    Svm(Svm),
    DecisionTree(Tree),
    RandomForest(Forest),
    GradientBoosting(Boosted),
    Scorecard(PointsCard),
}

/// Which encoding of the features a model reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inputs {
    /// Missing numbers imputed, categories one-hot.
    Imputed,
    /// Missing numbers left missing (NaN, the model routes or bins them), categories
    /// one-hot.
    Native,
    /// Missing numbers left missing, a category of many levels its level's position.
    Levels,
}

/// `p = sigmoid(intercept + weights . x)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Linear {
    pub weights: Vec<f64>,
    pub intercept: f64,
}

/// Gaussian naive Bayes: per class a prior and per-input mean and variance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GaussianNb {
    pub adverse: ClassGaussian,
    pub favourable: ClassGaussian,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassGaussian {
    pub prior: f64,
    pub mean: Vec<f64>,
    pub var: Vec<f64>,
}

/// A support vector machine: decision value `f(x) = sum_i coef_i K(sv_i, x) - rho` (or
/// `w . x - rho` for the linear kernel), positive for the adverse class; probability by
/// Platt scaling `1 / (1 + exp(a f + b))`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Svm {
    pub kernel: Kernel,
    pub rho: f64,
    pub platt_a: f64,
    pub platt_b: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Kernel {
    Linear {
        weights: Vec<f64>,
    },
    /// `K(a, b) = exp(-|a - b|^2 / eps)`.
    Rbf {
        eps: f64,
        support: Vec<Vec<f64>>,
        coef: Vec<f64>,
    },
}

/// A binary decision tree in a flat array; node 0 is the root. A split sends `x` left when
/// `x[feature] < threshold`, and a missing input (NaN) left only when `missing_left`; a
/// split on levels sends it left when its level is in the split's set. A leaf's value is
/// the share of adverse training rows reaching it (a tree or forest), or its addition to
/// the log-odds (a boosted ensemble).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
    /// The training weight that reached each node (rows, or a booster's hessian sum): the
    /// distribution TreeSHAP takes expectations over. Empty if not kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cover: Vec<f64>,
    /// The level sets of the tree's [`Node::Levels`] splits: each the increasing positions
    /// (in the feature's level list) of the levels sent left.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub level_sets: Vec<Vec<u32>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Node {
    Split {
        feature: u32,
        threshold: f64,
        left: u32,
        right: u32,
        #[serde(default, skip_serializing_if = "is_false")]
        missing_left: bool,
    },
    /// A split on a categorical input that holds a level's position in the feature's level
    /// list ([`crate::features::preprocess::Encoding::Level`]; NaN for a level unseen in
    /// training): `x` goes left when its level is in the tree's `level_sets[set]`, right
    /// otherwise (an unseen level included), as LightGBM routes categorical splits.
    Levels {
        feature: u32,
        set: u32,
        left: u32,
        right: u32,
    },
    Leaf {
        value: f64,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Node {
    /// A split's input and children, `None` for a leaf.
    #[inline]
    pub fn split(&self) -> Option<(u32, u32, u32)> {
        match *self {
            Node::Split {
                feature,
                left,
                right,
                ..
            }
            | Node::Levels {
                feature,
                left,
                right,
                ..
            } => Some((feature, left, right)),
            Node::Leaf { .. } => None,
        }
    }
}

/// Whether level input `v` (a position, NaN when unseen) is in the increasing `set`.
#[inline]
pub fn level_in(set: &[u32], v: f64) -> bool {
    // An unseen level (NaN) or a value that is no position is in no set.
    v >= 0.0
        && v <= f64::from(u32::MAX)
        && v.fract() == 0.0
        && set.binary_search(&(v as u32)).is_ok()
}

/// A points scorecard: each characteristic cut into bins, each bin worth a whole number of
/// points; the score is the sum of the points of the bins an applicant falls in (in
/// characteristic order), and the probability the one those points imply,
/// `sigmoid((offset - points) / factor)` (higher points, lower risk).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointsCard {
    pub offset: f64,
    pub factor: f64,
    pub characteristics: Vec<Characteristic>,
}

/// One characteristic: the feature it bins, how its inputs find a bin, and each bin's
/// points and training statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Characteristic {
    /// The feature's position in the artifact's features.
    pub feature: usize,
    pub bins: CardBins,
    pub points: Vec<f64>,
    /// Per bin: label, training rows and adverse rows, weight of evidence, IV share.
    pub stats: Vec<BinStats>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CardBins {
    /// A number at encoded input `input`, cut at increasing `cuts`: bin `i` holds values
    /// below `cuts[i]` (and at or above the cut before), bin `cuts.len()` the values at or
    /// above the last cut; a missing value (NaN) takes bin `cuts.len() + 1`.
    Numeric { input: u32, cuts: Vec<f64> },
    /// A one-hot category at inputs `start..start + level_bins.len()`: the level whose input
    /// is set takes `level_bins[level]`; none set (a level unseen in training) takes
    /// `unseen`.
    Categorical {
        start: u32,
        level_bins: Vec<u32>,
        unseen: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinStats {
    pub label: String,
    pub rows: u64,
    pub adverse: u64,
    pub woe: f64,
    pub iv: f64,
}

impl Characteristic {
    /// The bin of encoded input `x`.
    pub fn bin(&self, x: &[f64]) -> usize {
        match &self.bins {
            CardBins::Numeric { input, cuts } => {
                let v = x.get(*input as usize).copied().unwrap_or(f64::NAN);
                if v.is_nan() {
                    cuts.len() + 1
                } else {
                    cuts.iter().position(|&c| v < c).unwrap_or(cuts.len())
                }
            }
            CardBins::Categorical {
                start,
                level_bins,
                unseen,
            } => {
                let s = *start as usize;
                (0..level_bins.len())
                    .find(|&l| x.get(s + l).is_some_and(|&v| v == 1.0))
                    .map_or(*unseen, |l| level_bins[l]) as usize
            }
        }
    }

    /// The most points this characteristic gives.
    pub fn max_points(&self) -> f64 {
        self.points
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// The largest input index it reads.
    fn max_input(&self) -> usize {
        match &self.bins {
            CardBins::Numeric { input, .. } => *input as usize,
            CardBins::Categorical {
                start, level_bins, ..
            } => *start as usize + level_bins.len().max(1) - 1,
        }
    }
}

impl PointsCard {
    /// The applicant's points: the sum of their bins' points.
    pub fn points(&self, x: &[f64]) -> f64 {
        let mut total = 0.0;
        for c in &self.characteristics {
            total += c.points[c.bin(x)];
        }
        total
    }

    /// The probability the points imply.
    pub fn probability_of_points(&self, points: f64) -> f64 {
        sigmoid((self.offset - points) / self.factor)
    }

    /// Check every bin has its points and every level a bin.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.factor > 0.0 && self.offset.is_finite()) {
            return Err("a scorecard needs a positive factor".into());
        }
        for (i, c) in self.characteristics.iter().enumerate() {
            let bins = match &c.bins {
                CardBins::Numeric { cuts, .. } => {
                    if cuts.iter().any(|c| !c.is_finite())
                        || cuts
                            .windows(2)
                            .any(|w| w[0].partial_cmp(&w[1]) != Some(std::cmp::Ordering::Less))
                    {
                        return Err(format!(
                            "characteristic {i}: cuts not finite and increasing"
                        ));
                    }
                    cuts.len() + 2
                }
                CardBins::Categorical {
                    level_bins, unseen, ..
                } => {
                    1 + level_bins
                        .iter()
                        .chain([unseen])
                        .copied()
                        .max()
                        .unwrap_or(0) as usize
                }
            };
            if c.points.len() < bins || c.points.iter().any(|p| !p.is_finite()) {
                return Err(format!(
                    "characteristic {i}: {} points for {bins} bins",
                    c.points.len()
                ));
            }
        }
        Ok(())
    }
}

/// Gradient-boosted trees: `p = sigmoid(base_score + sum of the trees' leaf values)`, the
/// sum taken in tree order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Boosted {
    pub base_score: f64,
    pub trees: Vec<Tree>,
}

impl Boosted {
    /// The log-odds of the adverse outcome.
    pub fn margin(&self, x: &[f64]) -> f64 {
        let mut m = self.base_score;
        for t in &self.trees {
            m += t.value(x);
        }
        m
    }
}

/// Trees whose leaf probabilities are averaged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forest {
    pub trees: Vec<Tree>,
}

impl Model {
    pub fn family(&self) -> &'static str {
        match self {
            Model::LogisticRegression(_) => "logistic_regression",
            Model::GaussianNb(_) => "gaussian_nb",
            Model::Svm(s) => match s.kernel {
                Kernel::Linear { .. } => "linear_svm",
                Kernel::Rbf { .. } => "rbf_svm",
            },
            Model::DecisionTree(_) => "decision_tree",
            Model::RandomForest(_) => "random_forest",
            Model::GradientBoosting(_) => "gradient_boosting",
            Model::Scorecard(_) => "scorecard",
        }
    }

    /// Number of encoded inputs the model expects (trees: at least one more than the
    /// largest input index they split on).
    pub fn n_inputs(&self) -> usize {
        match self {
            Model::LogisticRegression(m) => m.weights.len(),
            Model::GaussianNb(m) => m.adverse.mean.len(),
            Model::Svm(s) => match &s.kernel {
                Kernel::Linear { weights } => weights.len(),
                Kernel::Rbf { support, .. } => support.first().map_or(0, Vec::len),
            },
            Model::DecisionTree(t) => t.max_feature().map_or(0, |f| f + 1),
            Model::RandomForest(Forest { trees })
            | Model::GradientBoosting(Boosted { trees, .. }) => trees
                .iter()
                .filter_map(Tree::max_feature)
                .max()
                .map_or(0, |f| f + 1),
            Model::Scorecard(c) => c
                .characteristics
                .iter()
                .map(Characteristic::max_input)
                .max()
                .map_or(0, |i| i + 1),
        }
    }

    /// The encoding of the features the model was trained on and reads.
    pub fn inputs(&self) -> Inputs {
        match self {
            Model::GradientBoosting(_) => Inputs::Levels,
            Model::Scorecard(_) => Inputs::Native,
            _ => Inputs::Imputed,
        }
    }

    /// Whether the model may read a categorical feature as one input, its level's position
    /// ([`crate::features::preprocess::Encoding::Level`]): the tree models.
    pub fn splits_levels(&self) -> bool {
        matches!(
            self,
            Model::DecisionTree(_) | Model::RandomForest(_) | Model::GradientBoosting(_)
        )
    }

    /// Whether the model reads exactly `n` inputs (tree models need only fit within them).
    pub fn accepts(&self, n: usize) -> bool {
        match self {
            Model::DecisionTree(_)
            | Model::RandomForest(_)
            | Model::GradientBoosting(_)
            | Model::Scorecard(_) => self.n_inputs() <= n,
            _ => self.n_inputs() == n,
        }
    }

    /// Probability of the adverse outcome for one encoded row.
    pub fn probability(&self, x: &[f64]) -> f64 {
        match self {
            Model::LogisticRegression(m) => sigmoid(m.logit(x)),
            Model::GaussianNb(m) => m.probability(x),
            Model::Svm(m) => m.probability(x),
            Model::DecisionTree(t) => t.value(x),
            Model::RandomForest(f) => f.probability(x),
            Model::GradientBoosting(b) => sigmoid(b.margin(x)),
            Model::Scorecard(c) => c.probability_of_points(c.points(x)),
        }
    }

    /// The trees of a tree model, or a scorecard's bins, checked well formed.
    pub fn validate_trees(&self) -> Result<(), String> {
        if let Model::Scorecard(c) = self {
            return c.validate();
        }
        let trees: &[Tree] = match self {
            Model::DecisionTree(t) => std::slice::from_ref(t),
            Model::RandomForest(Forest { trees })
            | Model::GradientBoosting(Boosted { trees, .. }) => trees,
            _ => &[],
        };
        for (i, t) in trees.iter().enumerate() {
            t.validate().map_err(|e| format!("tree {i}: {e}"))?;
        }
        Ok(())
    }
}

impl Forest {
    pub fn probability(&self, x: &[f64]) -> f64 {
        self.trees.iter().map(|t| t.value(x)).sum::<f64>() / self.trees.len().max(1) as f64
    }

    /// For each span of inputs, the forest's probability with that span of `x` replaced by
    /// `baseline`'s: exactly [`Model::probability`] of the substituted input (same trees,
    /// same order, same sum), but a tree is walked again only when its path through `x`
    /// reads an input of the span, and then only from the first node on that path that
    /// does (the nodes above it decide the same for both inputs); otherwise its leaf cannot
    /// change. `input_span` maps each input to its span. The sums run tree by tree over
    /// every span at once (one independent sum per span, in tree order).
    pub fn substituted_into(
        &self,
        x: &[f64],
        baseline: &[f64],
        spans: &[std::ops::Range<usize>],
        input_span: &[usize],
        work: &mut Substitution,
        out: &mut Vec<f64>,
    ) {
        const UNREAD: u32 = u32::MAX;
        // Per tree and span: the first node of the tree's path reading the span, and the
        // tree's leaf with the span substituted (its leaf for `x` unless walked again).
        let n_spans = spans.len();
        let cells = self.trees.len() * n_spans;
        let Substitution {
            probe, first, leaf, ..
        } = work;
        first.clear();
        first.resize(cells, UNREAD);
        leaf.clear();
        leaf.resize(cells, 0.0);
        for (t, tree) in self.trees.iter().enumerate() {
            let starts = &mut first[t * n_spans..(t + 1) * n_spans];
            let p = tree.walk_from(0, x, |node, input| {
                if let Some(start) = input_span.get(input).and_then(|&s| starts.get_mut(s))
                    && *start == UNREAD
                {
                    *start = node as u32;
                }
            });
            leaf[t * n_spans..(t + 1) * n_spans].fill(p);
        }
        probe.clear();
        probe.extend_from_slice(x);
        for (s, span) in spans.iter().enumerate() {
            probe[span.clone()].copy_from_slice(&baseline[span.clone()]);
            for (t, tree) in self.trees.iter().enumerate() {
                let node = first[t * n_spans + s];
                if node != UNREAD {
                    leaf[t * n_spans + s] = tree.walk_from(node as usize, probe, |_, _| {});
                }
            }
            probe[span.clone()].copy_from_slice(&x[span.clone()]);
        }
        // `Iterator::sum`'s start and order, per span.
        out.clear();
        out.resize(n_spans, -0.0);
        for row in leaf.chunks_exact(n_spans.max(1)) {
            for (o, l) in out.iter_mut().zip(row) {
                *o += l;
            }
        }
        let n = self.trees.len().max(1) as f64;
        for o in out.iter_mut() {
            *o /= n;
        }
    }
}

/// Buffers reused by reasons across rows.
#[derive(Debug, Default)]
pub struct Substitution {
    /// The input with one span substituted.
    pub probe: Vec<f64>,
    first: Vec<u32>,
    leaf: Vec<f64>,
    /// TreeSHAP's per-input values and path.
    pub phi: Vec<f64>,
    pub path: Vec<crate::model::shap::PathElem>,
    /// The child each node sends the input to (TreeSHAP's leaf tables).
    pub dirs: Vec<u32>,
}

impl Linear {
    pub fn logit(&self, x: &[f64]) -> f64 {
        self.intercept + self.weights.iter().zip(x).map(|(w, v)| w * v).sum::<f64>()
    }
}

impl ClassGaussian {
    /// log(prior) + sum of the per-input Gaussian log densities.
    fn joint_log_likelihood(&self, x: &[f64]) -> f64 {
        let mut ll = self.prior.ln();
        for ((m, v), xi) in self.mean.iter().zip(&self.var).zip(x) {
            ll -= 0.5 * ((2.0 * std::f64::consts::PI * v).ln() + (xi - m).powi(2) / v);
        }
        ll
    }
}

impl GaussianNb {
    pub fn probability(&self, x: &[f64]) -> f64 {
        let a = self.adverse.joint_log_likelihood(x);
        let f = self.favourable.joint_log_likelihood(x);
        // P(adverse) = e^a / (e^a + e^f) = sigmoid(a - f), stable for large gaps.
        sigmoid(a - f)
    }
}

impl Svm {
    pub fn decision(&self, x: &[f64]) -> f64 {
        let s = match &self.kernel {
            Kernel::Linear { weights } => weights.iter().zip(x).map(|(w, v)| w * v).sum::<f64>(),
            Kernel::Rbf { eps, support, coef } => support
                .iter()
                .zip(coef)
                .map(|(sv, c)| {
                    let d2: f64 = sv.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum();
                    c * (-d2 / eps).exp()
                })
                .sum(),
        };
        s - self.rho
    }

    pub fn probability(&self, x: &[f64]) -> f64 {
        platt(self.platt_a, self.platt_b, self.decision(x))
    }
}

/// Platt's sigmoid `1 / (1 + exp(a f + b))`.
pub fn platt(a: f64, b: f64, f: f64) -> f64 {
    sigmoid(-(a * f + b))
}

impl Tree {
    /// The value of the leaf `x` reaches.
    pub fn value(&self, x: &[f64]) -> f64 {
        self.walk_from(0, x, |_, _| {})
    }

    /// The child `x` goes to from node `i`; `None` for a leaf (or no such node).
    #[inline]
    pub fn child(&self, i: usize, x: &[f64]) -> Option<usize> {
        match *self.nodes.get(i)? {
            Node::Split {
                feature,
                threshold,
                left,
                right,
                missing_left,
            } => {
                let v = x.get(feature as usize).copied().unwrap_or(0.0);
                let go_left = v < threshold || (missing_left && v.is_nan());
                Some(if go_left { left } else { right } as usize)
            }
            Node::Levels {
                feature,
                set,
                left,
                right,
            } => {
                let v = x.get(feature as usize).copied().unwrap_or(f64::NAN);
                let go_left = self
                    .level_sets
                    .get(set as usize)
                    .is_some_and(|s| level_in(s, v));
                Some(if go_left { left } else { right } as usize)
            }
            Node::Leaf { .. } => None,
        }
    }

    /// The leaf `x` reaches from node `start`, telling `read` each split on the way (its
    /// node and the input it reads).
    fn walk_from(&self, start: usize, x: &[f64], mut read: impl FnMut(usize, usize)) -> f64 {
        let mut i = start;
        // Bounded walk: a malformed tree cannot loop forever.
        for _ in 0..=self.nodes.len() {
            match self.nodes.get(i) {
                Some(Node::Leaf { value }) => return *value,
                Some(n) => {
                    if let Some((feature, _, _)) = n.split() {
                        read(i, feature as usize);
                    }
                    i = self.child(i, x).unwrap_or(usize::MAX);
                }
                None => break,
            }
        }
        f64::NAN
    }

    /// The largest input index any split reads.
    pub fn max_feature(&self) -> Option<usize> {
        self.nodes
            .iter()
            .filter_map(|n| n.split().map(|(feature, _, _)| feature as usize))
            .max()
    }

    /// Check the tree is well formed: children in range and after their parent, a cover
    /// (if any) for every node.
    pub fn validate(&self) -> Result<(), String> {
        if self.nodes.is_empty() {
            return Err("empty tree".into());
        }
        if !self.cover.is_empty() && self.cover.len() != self.nodes.len() {
            return Err(format!(
                "{} covers for {} nodes",
                self.cover.len(),
                self.nodes.len()
            ));
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some((_, left, right)) = n.split() {
                for c in [left, right] {
                    if c as usize <= i || c as usize >= self.nodes.len() {
                        return Err(format!("node {i} points to node {c}"));
                    }
                }
            }
            if let Node::Levels { set, .. } = n {
                match self.level_sets.get(*set as usize) {
                    None => return Err(format!("node {i} names level set {set}, not kept")),
                    Some(s) if s.windows(2).any(|w| w[0] >= w[1]) => {
                        return Err(format!("level set {set} is not increasing"));
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }
}

/// The logistic function, stable for large |z|.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    /// A full tree of `depth` levels over `inputs` inputs, splits and leaves drawn from `next`.
    fn random_tree(depth: u32, inputs: usize, next: &mut impl FnMut() -> f64) -> Tree {
        let splits = (1usize << depth) - 1;
        let mut nodes = Vec::new();
        for i in 0..splits {
            nodes.push(Node::Split {
                feature: (next() * inputs as f64) as u32 % inputs as u32,
                threshold: next() * 2.0 - 1.0,
                left: (2 * i + 1) as u32,
                right: (2 * i + 2) as u32,
                missing_left: false,
            });
        }
        nodes.extend((0..=splits).map(|_| Node::Leaf { value: next() }));
        Tree {
            nodes,
            cover: Vec::new(),
            level_sets: Vec::new(),
        }
    }

    /// The shortcut (re-walk only trees whose path reads the span) gives, bit for bit, the
    /// forest's probability of each substituted input computed the plain way.
    #[test]
    fn forest_substitution_equals_the_plain_computation() {
        let mut state = 0x2545F4914F6CDD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let spans = vec![0..1, 1..4, 4..5, 5..9, 9..10];
        let input_span: Vec<usize> = spans
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.clone().map(move |_| i))
            .collect();
        let forest = Forest {
            trees: (0..40).map(|_| random_tree(5, 10, &mut next)).collect(),
        };
        let model = Model::RandomForest(forest.clone());
        let baseline: Vec<f64> = (0..10).map(|_| next() * 2.0 - 1.0).collect();
        let (mut out, mut work) = (Vec::new(), Substitution::default());
        for _ in 0..200 {
            let x: Vec<f64> = (0..10).map(|_| next() * 2.0 - 1.0).collect();
            forest.substituted_into(&x, &baseline, &spans, &input_span, &mut work, &mut out);
            for (s, span) in spans.iter().enumerate() {
                let mut probe = x.clone();
                probe[span.clone()].copy_from_slice(&baseline[span.clone()]);
                assert_eq!(out[s].to_bits(), model.probability(&probe).to_bits());
            }
        }
    }

    #[test]
    fn logistic_probability() {
        let m = Model::LogisticRegression(Linear {
            weights: vec![1.0, -2.0],
            intercept: 0.5,
        });
        // sigmoid(0.5 + 1 - 4) = sigmoid(-2.5) = 0.0758581800212435 (1 / (1 + e^2.5)).
        assert_abs_diff_eq!(
            m.probability(&[1.0, 2.0]),
            0.075_858_180_021_243_5,
            epsilon = 1e-15
        );
        assert_abs_diff_eq!(sigmoid(800.0), 1.0);
        assert_abs_diff_eq!(sigmoid(-800.0), 0.0);
    }

    #[test]
    fn tree_walk_and_validation() {
        let t = Tree {
            nodes: vec![
                Node::Split {
                    feature: 1,
                    threshold: 0.5,
                    left: 1,
                    right: 2,
                    missing_left: false,
                },
                Node::Leaf { value: 0.2 },
                Node::Leaf { value: 0.9 },
            ],
            cover: Vec::new(),
            level_sets: Vec::new(),
        };
        assert_eq!(t.value(&[0.0, 0.4]), 0.2);
        assert_eq!(t.value(&[0.0, 0.5]), 0.9);
        assert!(t.validate().is_ok());
        let looped = Tree {
            nodes: vec![Node::Split {
                feature: 0,
                threshold: 0.0,
                left: 0,
                right: 0,
                missing_left: false,
            }],
            cover: Vec::new(),
            level_sets: Vec::new(),
        };
        assert!(looped.validate().is_err());
        assert!(looped.value(&[1.0]).is_nan());
    }

    #[test]
    fn naive_bayes_matches_hand_computation() {
        // One input; adverse ~ N(1, 1) prior 0.3, favourable ~ N(0, 4) prior 0.7. At x = 1,
        // computed with Python 3.11's math module:
        //   a = log(0.3) - 0.5 log(2 pi)          = -2.122911337530609
        //   f = log(0.7) - 0.5 log(8 pi) - 1 / 8  = -2.0937606577033505
        //   P = 1 / (1 + exp(-(a - f)))           = 0.49271284606483395
        let nb = GaussianNb {
            adverse: ClassGaussian {
                prior: 0.3,
                mean: vec![1.0],
                var: vec![1.0],
            },
            favourable: ClassGaussian {
                prior: 0.7,
                mean: vec![0.0],
                var: vec![4.0],
            },
        };
        assert_abs_diff_eq!(
            nb.probability(&[1.0]),
            0.492_712_846_064_833_95,
            epsilon = 1e-12
        );
    }
}
