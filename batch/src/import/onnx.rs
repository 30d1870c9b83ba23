//! A scikit-learn model exported to ONNX by skl2onnx, read in pure Rust (the ONNX protobuf
//! decoded here; no ONNX Runtime), over the preprocessing a `ColumnTransformer` exports
//! where it is riskfn's own encoding. A number: `SimpleImputer` (`Imputer`), then for a
//! linear model `StandardScaler` (`Scaler`): riskfn's imputed and standardized number. A
//! category: `SimpleImputer(missing_values="", fill_value="missing")` (skl2onnx's
//! `LabelEncoder`/`Cast`/`Where` for strings) then `OneHotEncoder(handle_unknown="ignore")`:
//! riskfn's one-hot levels, NULL as the level `missing`, an unseen level as all zeros.
//!
//! The models: `LinearClassifier` with a logistic link (logistic regression) becomes
//! riskfn's logistic regression; `TreeEnsembleClassifier` with one score column becomes
//! gradient boosting (a logistic link and a base value), a random forest (leaf shares
//! averaged; no link) or a decision tree (one tree). Its float32 `x <= v` is riskfn's
//! `x < b` for the double `b` where rounding to float32 passes `v`; the file keeps no node
//! counts, so the trees' covers (TreeSHAP's weights) are the pipeline's training rows
//! reaching each node, filled in at publishing (scikit-learn's own counts when the rows
//! are the ones it was fitted on).
//!
//! The graph is read twice by one walk ([`Graph::run`]): over values, as ONNX Runtime
//! computes them (float32), for the parity gate's reference; and over symbols (which input,
//! imputed how, scaled how, which level), which become riskfn's encodings and inputs. One
//! input per feature, named as the pipeline's SQL output columns (skl2onnx's
//! `initial_types`: a float or string tensor of one column each), or a float input of several
//! columns whose features are its columns by position (`X_0`, `X_1`, ... for `--features`
//! to map: skl2onnx's default export of a model fitted on an array); a missing category
//! reaches the graph as "".
//!
//! Refused by name: any operator outside that set (SVMs, other transforms), string inputs
//! of several columns, inputs of other types, classifiers other than binary with labels 0 and 1,
//! links other than those, a linear model's number without an imputer (its NaN would reach
//! the model), a tree split on a scaled number, a category imputed to another level than
//! `missing`.

use std::collections::HashMap;

use prost::Message;
use riskfn_core::features::preprocess::{Encoding, MISSING_LEVEL};
use riskfn_core::model::{Boosted, Forest, Linear, Model, Node, Tree};

use super::{Converted, Format, ImportError, Imported, float32_boundary};

const FORMAT: Format = Format("ONNX");

/// The part of onnx.proto (ONNX 1.x, IR version 3 and later) riskfn reads; fields by the
/// tags onnx.proto gives them, everything else skipped.
mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct ModelProto {
        #[prost(int64, tag = "1")]
        pub(super) ir_version: i64,
        #[prost(string, tag = "2")]
        pub(super) producer_name: String,
        #[prost(string, tag = "3")]
        pub(super) producer_version: String,
        #[prost(message, optional, tag = "7")]
        pub(super) graph: Option<GraphProto>,
        #[prost(message, repeated, tag = "8")]
        pub(super) opset_import: Vec<OperatorSetIdProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct OperatorSetIdProto {
        #[prost(string, tag = "1")]
        pub(super) domain: String,
        #[prost(int64, tag = "2")]
        pub(super) version: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct GraphProto {
        #[prost(message, repeated, tag = "1")]
        pub(super) node: Vec<NodeProto>,
        #[prost(message, repeated, tag = "5")]
        pub(super) initializer: Vec<TensorProto>,
        #[prost(message, repeated, tag = "11")]
        pub(super) input: Vec<ValueInfoProto>,
        #[prost(message, repeated, tag = "12")]
        pub(super) output: Vec<ValueInfoProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct NodeProto {
        #[prost(string, repeated, tag = "1")]
        pub(super) input: Vec<String>,
        #[prost(string, repeated, tag = "2")]
        pub(super) output: Vec<String>,
        #[prost(string, tag = "3")]
        pub(super) name: String,
        #[prost(string, tag = "4")]
        pub(super) op_type: String,
        #[prost(message, repeated, tag = "5")]
        pub(super) attribute: Vec<AttributeProto>,
        #[prost(string, tag = "7")]
        pub(super) domain: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct AttributeProto {
        #[prost(string, tag = "1")]
        pub(super) name: String,
        #[prost(float, tag = "2")]
        pub(super) f: f32,
        #[prost(int64, tag = "3")]
        pub(super) i: i64,
        #[prost(bytes = "vec", tag = "4")]
        pub(super) s: Vec<u8>,
        #[prost(message, optional, tag = "5")]
        pub(super) t: Option<TensorProto>,
        #[prost(float, repeated, tag = "7")]
        pub(super) floats: Vec<f32>,
        #[prost(int64, repeated, tag = "8")]
        pub(super) ints: Vec<i64>,
        #[prost(bytes = "vec", repeated, tag = "9")]
        pub(super) strings: Vec<Vec<u8>>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct TensorProto {
        #[prost(int64, repeated, tag = "1")]
        pub(super) dims: Vec<i64>,
        #[prost(int32, tag = "2")]
        pub(super) data_type: i32,
        #[prost(float, repeated, tag = "4")]
        pub(super) float_data: Vec<f32>,
        #[prost(int32, repeated, tag = "5")]
        pub(super) int32_data: Vec<i32>,
        #[prost(bytes = "vec", repeated, tag = "6")]
        pub(super) string_data: Vec<Vec<u8>>,
        #[prost(int64, repeated, tag = "7")]
        pub(super) int64_data: Vec<i64>,
        #[prost(string, tag = "8")]
        pub(super) name: String,
        #[prost(bytes = "vec", tag = "9")]
        pub(super) raw_data: Vec<u8>,
        #[prost(double, repeated, tag = "10")]
        pub(super) double_data: Vec<f64>,
        #[prost(int32, tag = "14")]
        pub(super) data_location: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct ValueInfoProto {
        #[prost(string, tag = "1")]
        pub(super) name: String,
        #[prost(message, optional, tag = "2")]
        pub(super) r#type: Option<TypeProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct TypeProto {
        #[prost(message, optional, tag = "1")]
        pub(super) tensor_type: Option<TensorTypeProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct TensorTypeProto {
        #[prost(int32, tag = "1")]
        pub(super) elem_type: i32,
        #[prost(message, optional, tag = "2")]
        pub(super) shape: Option<TensorShapeProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct TensorShapeProto {
        #[prost(message, repeated, tag = "1")]
        pub(super) dim: Vec<Dimension>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Dimension {
        #[prost(int64, optional, tag = "1")]
        pub(super) dim_value: Option<i64>,
        #[prost(string, optional, tag = "2")]
        pub(super) dim_param: Option<String>,
    }
}

/// ONNX's element types riskfn reads (TensorProto.DataType).
const FLOAT: i32 = 1;
const INT64: i32 = 7;
const STRING: i32 = 8;
const BOOL: i32 = 9;

/// One element of a one-row tensor, as ONNX Runtime holds it.
#[derive(Debug, Clone, PartialEq)]
enum Scalar {
    F(f32),
    I(i64),
    B(bool),
    S(String),
}

/// A graph input: a feature of one column, a number (float) or a category (string).
#[derive(Debug, Clone, PartialEq)]
struct Input {
    name: String,
    category: bool,
    /// Its columns (a feature each).
    columns: usize,
}

/// The binary classifier at the end of the graph, for the adverse class (label 1).
#[derive(Debug, Clone, PartialEq)]
enum Classifier {
    /// `LinearClassifier` with a logistic link.
    Linear { weights: Vec<f32>, intercept: f32 },
    /// `TreeEnsembleClassifier`: the adverse class's score is `base` plus the trees'
    /// leaves, through the logistic link (boosting) or as it is (a forest's averaged
    /// leaf shares, a tree's).
    Trees {
        trees: Vec<Vec<TreeNode>>,
        base: f32,
        logistic: bool,
    },
}

/// A node of an ensemble's tree, its children by position in the tree.
#[derive(Debug, Clone, Copy, PartialEq)]
enum TreeNode {
    /// `x <= value` (or `x < value` when `strict`) goes to `yes`; a missing `x` goes to
    /// `yes` only when `missing_yes`.
    Branch {
        element: usize,
        value: f32,
        strict: bool,
        yes: usize,
        no: usize,
        missing_yes: bool,
    },
    Leaf(f32),
}

impl Classifier {
    /// The adverse class's probability for the classifier's input, as ONNX Runtime
    /// computes it (float32 sums).
    fn probability(&self, x: &[Scalar]) -> f64 {
        let x: Option<Vec<f32>> = (x.iter())
            .map(|v| match v {
                Scalar::F(v) => Some(*v),
                _ => None,
            })
            .collect();
        let Some(x) = x else { return f64::NAN };
        match self {
            Classifier::Linear { weights, intercept } => {
                let score = (weights.iter().zip(&x)).fold(*intercept, |s, (w, x)| s + w * x);
                riskfn_core::model::sigmoid(f64::from(score))
            }
            Classifier::Trees {
                trees,
                base,
                logistic,
            } => {
                let score = trees.iter().fold(*base, |s, t| s + leaf(t, &x));
                match logistic {
                    true => riskfn_core::model::sigmoid(f64::from(score)),
                    false => f64::from(score),
                }
            }
        }
    }
}

/// The leaf value `x` reaches in `tree`, by ONNX Runtime's rules (NaN is no number's
/// `<=`: it goes `no` unless `missing_yes`).
fn leaf(tree: &[TreeNode], x: &[f32]) -> f32 {
    let mut i = 0;
    for _ in 0..=tree.len() {
        match tree.get(i) {
            Some(TreeNode::Leaf(v)) => return *v,
            Some(&TreeNode::Branch {
                element,
                value,
                strict,
                yes,
                no,
                missing_yes,
            }) => {
                let v = x.get(element).copied().unwrap_or(f32::NAN);
                let go = if v.is_nan() {
                    missing_yes
                } else if strict {
                    v < value
                } else {
                    v <= value
                };
                i = if go { yes } else { no };
            }
            None => break,
        }
    }
    f32::NAN
}

/// A parsed graph: its nodes up to the classifier, constants, inputs.
#[derive(Debug, Clone, PartialEq)]
struct Graph {
    inputs: Vec<Input>,
    /// Each input column as a feature: an input of one column by its name, each column of
    /// a wider one by `<name>_<k>` (its position, for `--features` to map).
    fields: Vec<Input>,
    nodes: Vec<proto::NodeProto>,
    constants: HashMap<String, Vec<Scalar>>,
    /// The name of the classifier's input.
    features_at: String,
    classifier: Classifier,
}

/// A parsed ONNX model: its graph, and what riskfn makes of it.
#[derive(Debug, Clone)]
pub struct Onnx {
    library: &'static str,
    graph: Graph,
    /// The model's features: the graph inputs the classifier reads, in the order it reads
    /// them first.
    feature_names: Vec<String>,
    /// Per feature: its graph input.
    input_of: Vec<usize>,
    /// Per element of the classifier's input: its feature.
    element_feature: Vec<usize>,
    categories: Vec<Option<Vec<String>>>,
    converted: Converted,
}

impl Onnx {
    pub fn parse(bytes: &[u8]) -> Result<Self, ImportError> {
        let model = proto::ModelProto::decode(bytes)
            .map_err(|e| FORMAT.malformed(format!("not an ONNX protobuf ({e})")))?;
        let graph = model
            .graph
            .ok_or_else(|| FORMAT.malformed("the model has no graph"))?;
        let graph = Graph::read(graph)?;
        let library = match model.producer_name.as_str() {
            "skl2onnx" => "scikit-learn (skl2onnx)",
            _ => "ONNX",
        };
        let symbols = (graph.fields.iter().enumerate())
            .map(|(i, field)| Sym::of_field(i, field))
            .collect();
        let symbols = graph.run(symbols)?;
        let trees = matches!(graph.classifier, Classifier::Trees { .. });
        let (features, at) = features(&graph, &symbols, trees)?;
        let model = convert(&graph.classifier, &symbols, &at)?;
        let element_feature = (symbols.iter())
            .map(|s| {
                features
                    .iter()
                    .position(|f| f.input == s.input())
                    .unwrap_or(0)
            })
            .collect();
        Ok(Onnx {
            library,
            feature_names: features.iter().map(|f| f.name.clone()).collect(),
            input_of: features.iter().map(|f| f.input).collect(),
            element_feature,
            categories: (features.iter())
                .map(|f| match &f.encoding {
                    Encoding::OneHot { levels, .. } => Some(levels.clone()),
                    _ => None,
                })
                .collect(),
            converted: Converted {
                features: (features.into_iter().enumerate())
                    .map(|(f, feature)| Converted::feature(f, &feature.name, feature.encoding))
                    .collect(),
                model,
                own_reasons: false,
            },
            graph,
        })
    }
}

impl Imported for Onnx {
    fn library(&self) -> &'static str {
        self.library
    }

    fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    fn categories(&self) -> &[Option<Vec<String>>] {
        &self.categories
    }

    fn convert(&self) -> Result<Converted, ImportError> {
        Ok(self.converted.clone())
    }

    /// As ONNX Runtime computes it: the graph's operators over float32 values, the
    /// classifier's score in float32, its logistic link.
    fn probability(&self, codes: &[f64]) -> f64 {
        let mut values: Vec<Scalar> = (self.graph.fields.iter())
            .map(|i| match i.category {
                true => Scalar::S(String::new()),
                false => Scalar::F(f32::NAN),
            })
            .collect();
        let unseen = super::unseen_level(self);
        for (f, &v) in codes.iter().enumerate() {
            values[self.input_of[f]] = match &self.categories[f] {
                // A missing category reaches the graph as "".
                Some(_) if v.is_nan() => Scalar::S(String::new()),
                Some(c) => Scalar::S(match c.get(v as usize) {
                    Some(level) if v >= 0.0 => level.clone(),
                    _ => unseen.clone(),
                }),
                None => Scalar::F(v as f32),
            };
        }
        match self.graph.run(values) {
            Ok(x) => self.graph.classifier.probability(&x),
            Err(_) => f64::NAN,
        }
    }

    /// Each tree split on a number: its condition and the double where rounding to
    /// float32 crosses it (none for a linear model; the gate's rows probe every number's
    /// missing value and zero, each category's levels, a missing and an unseen one).
    fn splits(&self) -> Vec<(usize, f64)> {
        let Classifier::Trees { trees, .. } = &self.graph.classifier else {
            return Vec::new();
        };
        (trees.iter().flatten())
            .filter_map(|n| match *n {
                TreeNode::Branch { element, value, .. } => {
                    let f = self.element_feature[element];
                    (self.categories[f].is_none())
                        .then_some([(f, f64::from(value)), (f, float32_boundary(value))])
                }
                TreeNode::Leaf(_) => None,
            })
            .flatten()
            .collect()
    }

    /// An unseen level is not a missing one here: NULL is imputed to `missing`, an unseen
    /// level encodes as all zeros.
    fn unseen_code(&self) -> f64 {
        -1.0
    }
}

/// One feature the classifier reads: its graph input and riskfn's encoding of it.
struct FeatureOf {
    name: String,
    input: usize,
    encoding: Encoding,
}

/// riskfn's model over its inputs, `at` placing each of the classifier's elements among
/// them.
fn convert(classifier: &Classifier, symbols: &[Sym], at: &[usize]) -> Result<Model, ImportError> {
    match classifier {
        Classifier::Linear { weights, intercept } => {
            if weights.len() != at.len() {
                return Err(FORMAT.malformed(format!(
                    "the classifier has {} coefficients per class for {} inputs",
                    weights.len(),
                    at.len()
                )));
            }
            let mut w = vec![0.0; at.len()];
            for (k, &p) in at.iter().enumerate() {
                w[p] = f64::from(weights[k]);
            }
            Ok(Model::LogisticRegression(Linear {
                weights: w,
                intercept: f64::from(*intercept),
            }))
        }
        Classifier::Trees {
            trees,
            base,
            logistic,
        } => {
            // A forest averages its trees: each leaf's share of the sum, times their number.
            let scale = if *logistic { 1.0 } else { trees.len() as f64 };
            let converted = (trees.iter())
                .map(|t| tree(t, symbols, at, scale))
                .collect::<Result<Vec<_>, _>>()?;
            match (logistic, converted.len()) {
                (true, _) => Ok(Model::GradientBoosting(Boosted {
                    base_score: f64::from(*base),
                    trees: converted,
                })),
                (false, _) if *base != 0.0 => Err(FORMAT.unsupported(
                    "classifier",
                    format!("a tree ensemble without a link and a base value {base}"),
                )),
                (false, 1) => Ok(Model::DecisionTree(
                    converted.into_iter().next().expect("one tree"),
                )),
                (false, _) => Ok(Model::RandomForest(Forest { trees: converted })),
            }
        }
    }
}

/// One tree over riskfn's inputs: a split `x <= v` on float32 `x` is `x < b` for the
/// double `b` where rounding to float32 passes `v` (`x < v`: where it reaches `v`); the
/// yes branch goes left, a missing number where the tree sends it.
fn tree(
    nodes: &[TreeNode],
    symbols: &[Sym],
    at: &[usize],
    scale: f64,
) -> Result<Tree, ImportError> {
    let mut out = Tree {
        nodes: Vec::with_capacity(nodes.len()),
        cover: Vec::new(),
        level_sets: Vec::new(),
    };
    emit(nodes, 0, symbols, at, scale, &mut out, 0)?;
    Ok(out)
}

/// Node `i` and its subtree onto `out` in preorder (riskfn keeps children after their
/// parent); its position.
fn emit(
    nodes: &[TreeNode],
    i: usize,
    symbols: &[Sym],
    at: &[usize],
    scale: f64,
    out: &mut Tree,
    depth: usize,
) -> Result<u32, ImportError> {
    let node = *nodes
        .get(i)
        .filter(|_| depth <= nodes.len())
        .ok_or_else(|| {
            FORMAT.malformed(format!(
                "a tree names node {i} of {}, or loops",
                nodes.len()
            ))
        })?;
    let me = out.nodes.len();
    match node {
        TreeNode::Leaf(v) => out.nodes.push(Node::Leaf {
            value: f64::from(v) * scale,
        }),
        TreeNode::Branch {
            element,
            value,
            strict,
            yes,
            no,
            missing_yes,
        } => {
            if let Some(Sym::Num(a)) = symbols.get(element)
                && (a.mul != 1.0 || a.add != 0.0)
            {
                return Err(FORMAT.unsupported(
                    "tree split",
                    format!(
                        "on a scaled number (input {}): riskfn splits numbers as they are",
                        a.input
                    ),
                ));
            }
            let feature = *at.get(element).ok_or_else(|| {
                FORMAT.malformed(format!("a split reads input {element} of {}", at.len()))
            })?;
            let bound = if strict { value } else { value.next_up() };
            // An infinite threshold (histogram boosting sets missing values apart with
            // `x <= inf`) as the largest finite double: JSON holds no infinity, and riskfn
            // reads an infinite input as missing.
            let threshold = float32_boundary(bound).clamp(f64::MIN, f64::MAX);
            out.nodes.push(Node::Leaf { value: 0.0 });
            let left = emit(nodes, yes, symbols, at, scale, out, depth + 1)?;
            let right = emit(nodes, no, symbols, at, scale, out, depth + 1)?;
            out.nodes[me] = Node::Split {
                feature: feature as u32,
                threshold,
                left,
                right,
                missing_left: missing_yes,
            };
        }
    }
    Ok(me as u32)
}

/// The classifier's inputs as riskfn's features (in the order the classifier first reads
/// each), and where each of its elements lands among riskfn's inputs. A tree model may
/// read a number without an imputer (its splits route a missing one); a linear one may not.
fn features(
    graph: &Graph,
    symbols: &[Sym],
    trees: bool,
) -> Result<(Vec<FeatureOf>, Vec<usize>), ImportError> {
    let mut order: Vec<usize> = Vec::new();
    for s in symbols {
        if let Sym::Const(c) = s {
            return Err(
                FORMAT.unsupported("input", format!("a constant {c:?} reaches the classifier"))
            );
        }
        if !order.contains(&s.input()) {
            order.push(s.input());
        }
    }
    let mut features = Vec::new();
    let mut at = vec![0; symbols.len()];
    let mut next = 0;
    for input in order {
        let name = graph.fields[input].name.clone();
        let parts: Vec<(usize, &Sym)> = (symbols.iter().enumerate())
            .filter(|(_, s)| s.input() == input)
            .collect();
        let encoding = match parts.as_slice() {
            [(k, Sym::Num(n))] => {
                at[*k] = next;
                next += 1;
                n.encoding(&name, trees)?
            }
            _ if parts.iter().all(|(_, s)| matches!(s, Sym::Level { .. })) => {
                let mut levels = Vec::new();
                for (k, s) in &parts {
                    let Sym::Level { level, missing, .. } = s else {
                        unreachable!("filtered to levels")
                    };
                    if levels.contains(level) {
                        return Err(FORMAT.unsupported(
                            "encoding",
                            format!("{name}'s level {level:?} is encoded twice"),
                        ));
                    }
                    check_missing(&name, missing, level)?;
                    levels.push(level.clone());
                    at[*k] = next;
                    next += 1;
                }
                Encoding::OneHot {
                    frequencies: vec![0.0; levels.len()],
                    levels,
                }
            }
            _ => {
                return Err(FORMAT.unsupported(
                    "encoding",
                    format!(
                        "{name} reaches the classifier as {} inputs that are not one number or one-hot levels",
                        parts.len()
                    ),
                ));
            }
        };
        features.push(FeatureOf {
            name,
            input,
            encoding,
        });
    }
    Ok((features, at))
}

/// A category's missing value must be riskfn's: imputed to the level `missing`, or left as
/// "" where neither "" nor `missing` is a level (both then encode as all zeros).
fn check_missing(name: &str, missing: &str, level: &str) -> Result<(), ImportError> {
    let ok = match missing {
        MISSING_LEVEL => true,
        "" => !level.is_empty() && level != MISSING_LEVEL,
        _ => false,
    };
    match ok {
        true => Ok(()),
        false => Err(FORMAT.unsupported(
            "imputation",
            format!(
                "{name}'s missing value becomes {missing:?} before its one-hot levels; riskfn's missing level is {MISSING_LEVEL:?} (SimpleImputer(missing_values=\"\", strategy=\"constant\", fill_value=\"missing\"))"
            ),
        )),
    }
}

/// What an element of the graph is, symbolically.
#[derive(Debug, Clone, PartialEq)]
enum Sym {
    Const(Scalar),
    /// `mul * (x, or impute when missing) + add` of a number input.
    Num(Affine),
    /// A category input's string, its missing value reading `missing`.
    Str {
        input: usize,
        missing: String,
    },
    /// A lookup of a category input's string (`LabelEncoder`, then maybe `Cast`).
    Label {
        input: usize,
        missing: String,
        map: Vec<(String, i64)>,
        default: i64,
    },
    /// 1 when a category input is `level` (its missing value reading `missing`), else 0.
    Level {
        input: usize,
        level: String,
        missing: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
struct Affine {
    input: usize,
    impute: Option<f32>,
    mul: f64,
    add: f64,
}

impl Affine {
    /// riskfn's `(x - mean) / scale` after imputation, for `mul * x + add`; without an
    /// imputer, missing left missing (`native`: for trees, which route it).
    fn encoding(&self, name: &str, native: bool) -> Result<Encoding, ImportError> {
        let impute = match (self.impute, native) {
            (Some(v), _) => v,
            (None, true) => {
                return Ok(Encoding::Numeric {
                    impute: 0.0,
                    mean: -self.add / self.mul,
                    scale: 1.0 / self.mul,
                    native_missing: true,
                    zero_missing: false,
                });
            }
            (None, false) => {
                return Err(FORMAT.unsupported(
                    "input",
                    format!("{name} has no imputer: a missing value would reach the model as NaN"),
                ));
            }
        };
        if self.mul == 0.0 || !self.mul.is_finite() || !self.add.is_finite() {
            return Err(FORMAT.unsupported("scaling", format!("{name} is scaled by {}", self.mul)));
        }
        Ok(Encoding::Numeric {
            impute: f64::from(impute),
            mean: -self.add / self.mul,
            scale: 1.0 / self.mul,
            native_missing: false,
            zero_missing: false,
        })
    }
}

impl Sym {
    fn input(&self) -> usize {
        match self {
            Sym::Num(a) => a.input,
            Sym::Str { input, .. } | Sym::Label { input, .. } | Sym::Level { input, .. } => *input,
            Sym::Const(_) => usize::MAX,
        }
    }

    /// Field `i`'s value.
    fn of_field(i: usize, input: &Input) -> Sym {
        match input.category {
            true => Sym::Str {
                input: i,
                missing: String::new(),
            },
            false => Sym::Num(Affine {
                input: i,
                impute: None,
                mul: 1.0,
                add: 0.0,
            }),
        }
    }
}

/// What the operators do to one element: [`Scalar`] computes, [`Sym`] follows what is
/// done to which input (and refuses what riskfn's encodings cannot say).
trait Elem: Clone + std::fmt::Debug + Sized {
    fn constant(s: Scalar) -> Self;
    /// `Imputer`: `value` where the element is `replaced` (NaN: where it is missing).
    fn impute(self, value: f32, replaced: f32) -> Result<Self, ImportError>;
    /// `Scaler`: `(x - offset) * scale`.
    fn scale(self, offset: f32, scale: f32) -> Result<Self, ImportError>;
    /// `LabelEncoder`.
    fn label(self, lookup: &Lookup) -> Result<Self, ImportError>;
    fn cast(self, to: i32) -> Result<Self, ImportError>;
    /// `Where`: `a` where `cond`, else `b`.
    fn choose(cond: Self, a: Self, b: Self) -> Result<Self, ImportError>;
    /// `OneHotEncoder` with `zeros=1`: one element per category.
    fn one_hot(self, cats: &[String]) -> Result<Vec<Self>, ImportError>;
}

fn wrong(op: &str, e: &impl std::fmt::Debug) -> ImportError {
    FORMAT.unsupported("operator input", format!("{op} of {e:?}"))
}

impl Elem for Scalar {
    fn constant(s: Scalar) -> Self {
        s
    }

    fn impute(self, value: f32, replaced: f32) -> Result<Self, ImportError> {
        match self {
            Scalar::F(x) if x.is_nan() && replaced.is_nan() || x == replaced => {
                Ok(Scalar::F(value))
            }
            Scalar::F(x) => Ok(Scalar::F(x)),
            e => Err(wrong("Imputer", &e)),
        }
    }

    fn scale(self, offset: f32, scale: f32) -> Result<Self, ImportError> {
        match self {
            Scalar::F(x) => Ok(Scalar::F((x - offset) * scale)),
            e => Err(wrong("Scaler", &e)),
        }
    }

    fn label(self, lookup: &Lookup) -> Result<Self, ImportError> {
        Ok(lookup.get(&self))
    }

    fn cast(self, to: i32) -> Result<Self, ImportError> {
        let number = match &self {
            Scalar::F(x) => f64::from(*x),
            Scalar::I(i) => *i as f64,
            Scalar::B(b) => f64::from(u8::from(*b)),
            Scalar::S(_) => return Err(wrong("Cast", &self)),
        };
        match to {
            FLOAT => Ok(Scalar::F(number as f32)),
            INT64 => Ok(Scalar::I(number as i64)),
            BOOL => Ok(Scalar::B(number != 0.0)),
            _ => Err(FORMAT.unsupported("Cast", format!("to type {to}"))),
        }
    }

    fn choose(cond: Self, a: Self, b: Self) -> Result<Self, ImportError> {
        match cond {
            Scalar::B(c) => Ok(if c { a } else { b }),
            e => Err(wrong("Where", &e)),
        }
    }

    fn one_hot(self, cats: &[String]) -> Result<Vec<Self>, ImportError> {
        match self {
            Scalar::S(s) => Ok(cats
                .iter()
                .map(|c| Scalar::F(f32::from(u8::from(*c == s))))
                .collect()),
            e => Err(wrong("OneHotEncoder", &e)),
        }
    }
}

impl Elem for Sym {
    fn constant(s: Scalar) -> Self {
        Sym::Const(s)
    }

    fn impute(self, value: f32, replaced: f32) -> Result<Self, ImportError> {
        match self {
            Sym::Num(a)
                if a.impute.is_none() && a.mul == 1.0 && a.add == 0.0 && replaced.is_nan() =>
            {
                Ok(Sym::Num(Affine {
                    impute: Some(value),
                    ..a
                }))
            }
            e => Err(wrong("Imputer", &e)),
        }
    }

    fn scale(self, offset: f32, scale: f32) -> Result<Self, ImportError> {
        match self {
            Sym::Num(a) => {
                let (offset, scale) = (f64::from(offset), f64::from(scale));
                Ok(Sym::Num(Affine {
                    mul: a.mul * scale,
                    add: (a.add - offset) * scale,
                    ..a
                }))
            }
            e => Err(wrong("Scaler", &e)),
        }
    }

    /// Of a constant, a constant; of a category's string, to integers, a lookup.
    fn label(self, lookup: &Lookup) -> Result<Self, ImportError> {
        let ints = || -> Option<(Vec<(String, i64)>, i64)> {
            let map = (lookup.keys.iter().zip(&lookup.values))
                .map(|kv| match kv {
                    (Scalar::S(k), Scalar::I(v)) => Some((k.clone(), *v)),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?;
            match lookup.default {
                Scalar::I(d) => Some((map, d)),
                _ => None,
            }
        };
        match self {
            Sym::Const(c) => Ok(Sym::Const(lookup.get(&c))),
            Sym::Str { input, missing } => match ints() {
                Some((map, default)) => Ok(Sym::Label {
                    input,
                    missing,
                    map,
                    default,
                }),
                None => {
                    Err(FORMAT.unsupported("LabelEncoder", "of a category other than to integers"))
                }
            },
            e => Err(wrong("LabelEncoder", &e)),
        }
    }

    /// A lookup cast stays a lookup (a bool is its integer not 0); a number's cast to
    /// float is itself.
    fn cast(self, to: i32) -> Result<Self, ImportError> {
        match (self, to) {
            (e @ Sym::Label { .. }, BOOL | INT64) | (e @ Sym::Num(_), FLOAT) => Ok(e),
            (e, _) => Err(wrong("Cast", &e)),
        }
    }

    /// skl2onnx's string imputer: where the string is its missing value, the fill.
    fn choose(cond: Self, a: Self, b: Self) -> Result<Self, ImportError> {
        match (&cond, &a, &b) {
            (
                Sym::Label {
                    input,
                    missing,
                    map,
                    default: 0,
                },
                Sym::Const(Scalar::S(fill)),
                Sym::Str {
                    input: i,
                    missing: m,
                },
            ) if input == i
                && missing == m
                && map.iter().all(|(k, v)| (*v != 0) == (k == missing)) =>
            {
                Ok(Sym::Str {
                    input: *input,
                    missing: fill.clone(),
                })
            }
            _ => Err(FORMAT.unsupported(
                "operator Where",
                format!("other than a string imputer: {cond:?} ? {a:?} : {b:?}"),
            )),
        }
    }

    fn one_hot(self, cats: &[String]) -> Result<Vec<Self>, ImportError> {
        match self {
            Sym::Str { input, missing } => Ok(cats
                .iter()
                .map(|level| Sym::Level {
                    input,
                    level: level.clone(),
                    missing: missing.clone(),
                })
                .collect()),
            e => Err(wrong("OneHotEncoder", &e)),
        }
    }
}

/// `LabelEncoder`'s table: strings or integers to strings or integers.
struct Lookup {
    keys: Vec<Scalar>,
    values: Vec<Scalar>,
    default: Scalar,
}

impl Lookup {
    fn of(a: &Attributes) -> Result<Self, ImportError> {
        let ints = |name: &str| {
            a.get(name)
                .map(|v| v.ints.iter().map(|&i| Scalar::I(i)).collect())
        };
        let strings = |name: &str| {
            a.get(name).map(|_| {
                a.strings(name)
                    .into_iter()
                    .map(Scalar::S)
                    .collect::<Vec<_>>()
            })
        };
        let keys = strings("keys_strings").or_else(|| ints("keys_int64s"));
        let (values, default) = match strings("values_strings") {
            Some(v) => (
                Some(v),
                Scalar::S(
                    a.get("default_string")
                        .map_or("_Unused".into(), |_| a.string("default_string")),
                ),
            ),
            None => (ints("values_int64s"), Scalar::I(a.int("default_int64", -1))),
        };
        match (keys, values) {
            (Some(keys), Some(values)) if keys.len() == values.len() => Ok(Lookup {
                keys,
                values,
                default,
            }),
            _ => Err(FORMAT.unsupported(
                "LabelEncoder",
                "other than strings or integers to strings or integers",
            )),
        }
    }

    fn get(&self, key: &Scalar) -> Scalar {
        (self.keys.iter().position(|k| k == key))
            .map_or_else(|| self.default.clone(), |i| self.values[i].clone())
    }
}

/// A node's attributes by name.
struct Attributes<'a>(&'a proto::NodeProto);

impl<'a> Attributes<'a> {
    fn get(&self, name: &str) -> Option<&'a proto::AttributeProto> {
        self.0.attribute.iter().find(|a| a.name == name)
    }

    fn floats(&self, name: &str) -> Result<&'a [f32], ImportError> {
        self.get(name)
            .map(|a| a.floats.as_slice())
            .ok_or_else(|| FORMAT.malformed(format!("{} has no {name}", self.0.op_type)))
    }

    fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name).map_or(default, |a| a.i)
    }

    fn string(&self, name: &str) -> String {
        self.get(name)
            .map_or_else(String::new, |a| String::from_utf8_lossy(&a.s).into_owned())
    }

    fn strings(&self, name: &str) -> Vec<String> {
        self.get(name).map_or_else(Vec::new, |a| {
            (a.strings.iter())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
    }
}

/// The classifiers riskfn converts.
const CLASSIFIERS: [&str; 2] = ["LinearClassifier", "TreeEnsembleClassifier"];

/// The operators that may follow the classifier: they only reshape its outputs.
const AFTER: [&str; 3] = ["ZipMap", "Identity", "Cast"];

impl Graph {
    fn read(graph: proto::GraphProto) -> Result<Self, ImportError> {
        let constants = (graph.initializer.iter())
            .map(|t| Ok((t.name.clone(), tensor(t)?)))
            .collect::<Result<HashMap<_, _>, ImportError>>()?;
        let inputs = (graph.input.iter())
            .filter(|i| !constants.contains_key(&i.name))
            .map(input)
            .collect::<Result<Vec<_>, _>>()?;
        let at = (graph.node.iter())
            .position(|n| CLASSIFIERS.contains(&n.op_type.as_str()))
            .ok_or_else(|| {
                let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
                FORMAT.unsupported(
                    "model",
                    format!(
                        "no LinearClassifier or TreeEnsembleClassifier in the graph (operators: {}); riskfn imports scikit-learn's logistic regression and tree models from ONNX",
                        ops.join(", ")
                    ),
                )
            })?;
        let node = &graph.node[at];
        if let Some(n) = graph.node[at + 1..]
            .iter()
            .find(|n| !AFTER.contains(&n.op_type.as_str()))
        {
            return Err(
                FORMAT.unsupported("operator", format!("{} after the classifier", n.op_type))
            );
        }
        let classifier = classifier(node)?;
        let fields = (inputs.iter())
            .flat_map(|i| {
                (0..i.columns).map(move |k| Input {
                    name: match i.columns {
                        1 => i.name.clone(),
                        _ => format!("{}_{k}", i.name),
                    },
                    category: i.category,
                    columns: 1,
                })
            })
            .collect();
        Ok(Graph {
            inputs,
            fields,
            features_at: node.input.first().cloned().unwrap_or_default(),
            nodes: graph.node[..at].to_vec(),
            constants,
            classifier,
        })
    }

    /// The classifier's input from the fields' values (each input the values of its
    /// columns).
    fn run<E: Elem>(&self, fields: Vec<E>) -> Result<Vec<E>, ImportError> {
        let mut fields = fields.into_iter();
        let mut env: HashMap<&str, Vec<E>> = HashMap::new();
        for i in &self.inputs {
            env.insert(i.name.as_str(), fields.by_ref().take(i.columns).collect());
        }
        for (name, c) in &self.constants {
            env.insert(name, c.iter().cloned().map(E::constant).collect());
        }
        for node in &self.nodes {
            let arg = |k: usize| -> Result<&Vec<E>, ImportError> {
                let name = node.input.get(k).map_or("", String::as_str);
                env.get(name).ok_or_else(|| {
                    FORMAT.malformed(format!(
                        "{} reads {name:?}, which nothing computes",
                        node.op_type
                    ))
                })
            };
            let out = apply(node, &arg, &self.constants)?;
            let name = node.output.first().map_or("", String::as_str);
            env.insert(name, out);
        }
        env.remove(self.features_at.as_str())
            .ok_or_else(|| FORMAT.malformed("nothing computes the classifier's input"))
    }
}

/// One node on its arguments' values.
fn apply<'e, E: Elem>(
    node: &proto::NodeProto,
    arg: &dyn Fn(usize) -> Result<&'e Vec<E>, ImportError>,
    constants: &HashMap<String, Vec<Scalar>>,
) -> Result<Vec<E>, ImportError> {
    let a = Attributes(node);
    let each = |f: &dyn Fn(usize, E) -> Result<E, ImportError>| -> Result<Vec<E>, ImportError> {
        (arg(0)?.iter().cloned().enumerate())
            .map(|(k, e)| f(k, e))
            .collect()
    };
    // A per-column attribute: one value for every column, or one each.
    let at = |v: &[f32], k: usize| v.get(k).or(v.first()).copied().unwrap_or(f32::NAN);
    match node.op_type.as_str() {
        "Identity" | "Reshape" | "Flatten" => Ok(arg(0)?.clone()),
        "Concat" => Ok((0..node.input.len())
            .map(arg)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .cloned()
            .collect()),
        // Columns by constant indices.
        "ArrayFeatureExtractor" => columns(node, arg(0)?, constants),
        "Gather" if a.int("axis", 0) == 1 => columns(node, arg(0)?, constants),
        "Imputer" => {
            let values = a.floats("imputed_value_floats")?;
            let replaced = a.get("replaced_value_float").map_or(f32::NAN, |r| r.f);
            each(&|k, e| e.impute(at(values, k), replaced))
        }
        "Scaler" => {
            let (offset, scale) = (a.floats("offset")?, a.floats("scale")?);
            each(&|k, e| e.scale(at(offset, k), at(scale, k)))
        }
        "LabelEncoder" => {
            let lookup = Lookup::of(&a)?;
            each(&|_, e| e.label(&lookup))
        }
        "Cast" => {
            let to = a.int("to", 0) as i32;
            each(&|_, e| e.cast(to))
        }
        "Where" => {
            let (cond, x, y) = (arg(0)?, arg(1)?, arg(2)?);
            let n = cond.len().max(x.len()).max(y.len());
            let pick = |v: &Vec<E>, k: usize| v.get(k).or(v.first()).cloned();
            (0..n)
                .map(|k| match (pick(cond, k), pick(x, k), pick(y, k)) {
                    (Some(c), Some(x), Some(y)) => E::choose(c, x, y),
                    _ => Err(FORMAT.malformed("Where of an empty tensor")),
                })
                .collect()
        }
        "OneHotEncoder" => {
            let cats = a.strings("cats_strings");
            if cats.is_empty() || a.int("zeros", 1) != 1 {
                return Err(FORMAT.unsupported(
                    "OneHotEncoder",
                    "other than string categories with unseen ones as zeros (handle_unknown=\"ignore\")",
                ));
            }
            let mut out = Vec::new();
            for e in arg(0)?.iter().cloned() {
                out.extend(e.one_hot(&cats)?);
            }
            Ok(out)
        }
        other => Err(FORMAT.unsupported(
            "operator",
            format!("{other} ({}) before the classifier", node.name),
        )),
    }
}

/// The columns of `data` at the node's constant indices (its second input).
fn columns<E: Elem>(
    node: &proto::NodeProto,
    data: &[E],
    constants: &HashMap<String, Vec<Scalar>>,
) -> Result<Vec<E>, ImportError> {
    let name = node.input.get(1).map_or("", String::as_str);
    let indices = constants.get(name).ok_or_else(|| {
        FORMAT.unsupported(
            "operator input",
            format!("{} of computed indices {name:?}", node.op_type),
        )
    })?;
    (indices.iter())
        .map(|i| match i {
            Scalar::I(i) if *i >= 0 && (*i as usize) < data.len() => Ok(data[*i as usize].clone()),
            _ => Err(FORMAT.malformed(format!(
                "{} index {i:?} of {} columns",
                node.op_type,
                data.len()
            ))),
        })
        .collect()
}

/// A graph input: one column of float or string.
fn input(i: &proto::ValueInfoProto) -> Result<Input, ImportError> {
    let t = (i.r#type.as_ref())
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or_else(|| FORMAT.unsupported("input", format!("{} is not a tensor", i.name)))?;
    let columns = (t.shape.as_ref())
        .and_then(|s| s.dim.get(1))
        .and_then(|d| d.dim_value)
        .and_then(|c| usize::try_from(c).ok())
        .filter(|&c| c >= 1);
    let columns = columns.ok_or_else(|| {
        FORMAT.unsupported(
            "input",
            format!("{} has no fixed number of columns", i.name),
        )
    })?;
    if columns > 1 && t.elem_type != FLOAT {
        return Err(FORMAT.unsupported(
            "input",
            format!(
                "{} has {columns} string columns; riskfn reads a category as an input of its own (skl2onnx's initial_types, one column each)",
                i.name
            ),
        ));
    }
    match t.elem_type {
        FLOAT | STRING => Ok(Input {
            name: i.name.clone(),
            category: t.elem_type == STRING,
            columns,
        }),
        other => Err(FORMAT.unsupported(
            "input",
            format!(
                "{} is of element type {other} (riskfn reads float and string inputs)",
                i.name
            ),
        )),
    }
}

/// A constant tensor's elements.
fn tensor(t: &proto::TensorProto) -> Result<Vec<Scalar>, ImportError> {
    if t.data_location != 0 {
        return Err(FORMAT.unsupported("tensor", format!("{} is stored outside the file", t.name)));
    }
    let raw = &t.raw_data;
    Ok(match t.data_type {
        FLOAT if !raw.is_empty() => (raw.chunks_exact(4))
            .map(|b| Scalar::F(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect(),
        FLOAT => t.float_data.iter().map(|&x| Scalar::F(x)).collect(),
        INT64 if !raw.is_empty() => (raw.chunks_exact(8))
            .map(|b| Scalar::I(i64::from_le_bytes(b.try_into().expect("8 bytes"))))
            .collect(),
        INT64 => t.int64_data.iter().map(|&x| Scalar::I(x)).collect(),
        STRING => (t.string_data.iter())
            .map(|s| Scalar::S(String::from_utf8_lossy(s).into_owned()))
            .collect(),
        BOOL if !raw.is_empty() => raw.iter().map(|&b| Scalar::B(b != 0)).collect(),
        BOOL => t.int32_data.iter().map(|&b| Scalar::B(b != 0)).collect(),
        other => {
            return Err(
                FORMAT.unsupported("tensor", format!("{} is of element type {other}", t.name))
            );
        }
    })
}

/// The binary classifier: the adverse class is label 1.
fn classifier(node: &proto::NodeProto) -> Result<Classifier, ImportError> {
    let a = Attributes(node);
    let labels = (a.get("classlabels_ints"))
        .or_else(|| a.get("classlabels_int64s"))
        .map(|l| l.ints.as_slice());
    if labels != Some(&[0, 1][..]) {
        return Err(FORMAT.unsupported(
            "classifier",
            format!(
                "class labels {:?}{}: riskfn imports binary classifiers of labels 0 and 1 (1 the adverse outcome)",
                labels.unwrap_or_default(),
                if a.get("classlabels_strings").is_some() {
                    " (strings)"
                } else {
                    ""
                }
            ),
        ));
    }
    let post = a.string("post_transform");
    let trees = node.op_type == "TreeEnsembleClassifier";
    match (post.as_str(), trees) {
        ("LOGISTIC", _) => {}
        ("NONE" | "", true) => {}
        _ => {
            return Err(FORMAT.unsupported(
                "classifier",
                format!(
                    "post_transform {post:?} (riskfn imports a logistic link, or a tree ensemble's leaf shares)"
                ),
            ));
        }
    }
    match trees {
        true => ensemble(&a, post == "LOGISTIC"),
        false => linear(&a),
    }
}

/// `LinearClassifier`'s adverse-class row: two rows (one per class, skl2onnx's form) or one.
fn linear(a: &Attributes) -> Result<Classifier, ImportError> {
    let (coefficients, intercepts) = (a.floats("coefficients")?, a.floats("intercepts")?);
    let rows = intercepts.len();
    if rows == 0 || rows > 2 || coefficients.len() % rows != 0 {
        return Err(FORMAT.malformed(format!(
            "{} coefficients for {rows} intercepts",
            coefficients.len()
        )));
    }
    let n = coefficients.len() / rows;
    Ok(Classifier::Linear {
        weights: coefficients[(rows - 1) * n..].to_vec(),
        intercept: intercepts[rows - 1],
    })
}

/// `TreeEnsembleClassifier` with one score column (skl2onnx's binary form): its trees in
/// the order they are listed, each node's children by position in its tree.
fn ensemble(a: &Attributes, logistic: bool) -> Result<Classifier, ImportError> {
    let ints = |name: &str| a.get(name).map_or(&[][..], |v| v.ints.as_slice());
    if a.get("nodes_values_as_tensor").is_some() || a.get("class_weights_as_tensor").is_some() {
        return Err(FORMAT.unsupported(
            "tree ensemble",
            "thresholds or weights as tensors (double precision)",
        ));
    }
    let (tree_of, id, element) = (
        ints("nodes_treeids"),
        ints("nodes_nodeids"),
        ints("nodes_featureids"),
    );
    let (yes, no, missing) = (
        ints("nodes_truenodeids"),
        ints("nodes_falsenodeids"),
        ints("nodes_missing_value_tracks_true"),
    );
    let values = a.floats("nodes_values")?;
    let modes = a.strings("nodes_modes");
    let n = tree_of.len();
    if [
        id.len(),
        element.len(),
        yes.len(),
        no.len(),
        values.len(),
        modes.len(),
    ]
    .iter()
    .any(|&l| l != n)
        || !(missing.is_empty() || missing.len() == n)
    {
        return Err(FORMAT.malformed("the tree ensemble's node attributes differ in length"));
    }
    // Each tree's nodes in the order listed; (tree, node id) -> position in its tree.
    let mut trees: Vec<(i64, Vec<usize>)> = Vec::new();
    let mut place: HashMap<(i64, i64), usize> = HashMap::new();
    for k in 0..n {
        let t = match trees.iter().position(|(id, _)| *id == tree_of[k]) {
            Some(t) => t,
            None => {
                trees.push((tree_of[k], Vec::new()));
                trees.len() - 1
            }
        };
        place.insert((tree_of[k], id[k]), trees[t].1.len());
        trees[t].1.push(k);
    }
    let (class_tree, class_node, class_id) = (
        ints("class_treeids"),
        ints("class_nodeids"),
        ints("class_ids"),
    );
    let weights = a.floats("class_weights")?;
    if let Some(c) = class_id.iter().find(|&&c| c != 0) {
        return Err(FORMAT.unsupported(
            "tree ensemble",
            format!(
                "weights for class {c}: riskfn imports one score column (a binary model as skl2onnx writes it)"
            ),
        ));
    }
    let mut leaf: HashMap<(i64, i64), f32> = HashMap::new();
    for ((t, node), w) in class_tree.iter().zip(class_node).zip(weights) {
        *leaf.entry((*t, *node)).or_default() += w;
    }
    let local = |t: i64, node: i64| {
        place.get(&(t, node)).copied().ok_or_else(|| {
            FORMAT.malformed(format!(
                "tree {t} names node {node}, which it does not have"
            ))
        })
    };
    let trees = (trees.iter())
        .map(|(t, ks)| {
            (ks.iter())
                .map(|&k| match modes[k].as_str() {
                    "LEAF" => Ok(TreeNode::Leaf(
                        leaf.get(&(*t, id[k])).copied().unwrap_or(0.0),
                    )),
                    mode @ ("BRANCH_LEQ" | "BRANCH_LT") => Ok(TreeNode::Branch {
                        element: usize::try_from(element[k]).map_err(|_| {
                            FORMAT.malformed(format!("a split reads input {}", element[k]))
                        })?,
                        value: values[k],
                        strict: mode == "BRANCH_LT",
                        yes: local(*t, yes[k])?,
                        no: local(*t, no[k])?,
                        missing_yes: missing.get(k) == Some(&1),
                    }),
                    other => Err(FORMAT.unsupported("tree split", format!("mode {other}"))),
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let base = a
        .get("base_values")
        .map_or(&[][..], |b| b.floats.as_slice());
    if base.len() > 1 {
        return Err(FORMAT.unsupported("tree ensemble", format!("{} base values", base.len())));
    }
    Ok(Classifier::Trees {
        trees,
        base: base.first().copied().unwrap_or(0.0),
        logistic,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::testing::{base_rows, fixture, reference};
    use crate::import::{edge_rows, parity};

    fn read(name: &str) -> Onnx {
        Onnx::parse(&std::fs::read(fixture(name)).unwrap()).unwrap()
    }

    /// A fixture converted and held to its reference rows (missing numbers, missing and
    /// unseen categories among them): each, scored as the service scores it, within 1e-6
    /// of scikit-learn's `predict_proba` and of ONNX Runtime's; the graph read over values
    /// (the gate's reference) ONNX Runtime's to its float32 rounding; and the gate's own
    /// rows in agreement. The model, its conversion and those rows.
    async fn held_to_its_references(stem: &str) -> (Onnx, Converted, Vec<Vec<f64>>) {
        let m = read(&format!("{stem}.onnx"));
        assert_eq!(m.library(), "scikit-learn (skl2onnx)");
        let converted = m.convert().unwrap();
        let r = reference(&m, &format!("{stem}_reference.csv")).await;
        let (sklearn, ort) = (r.numbers("probability"), r.numbers("onnxruntime"));
        let mut worst = (0.0f64, 0.0f64, 0.0f64);
        for (k, codes) in r.codes.iter().enumerate() {
            let p = converted.probability(&m, codes);
            worst.0 = worst.0.max((p - sklearn[k]).abs());
            worst.1 = worst.1.max((p - ort[k]).abs());
            worst.2 = worst.2.max((m.probability(codes) - ort[k]).abs());
        }
        assert!(worst.0 < 1e-6 && worst.1 < 1e-6, "{stem}: {worst:?}");
        assert!(worst.2 < 1e-6, "{stem}: the graph over values: {worst:?}");
        // Missing and unseen categories were among the rows, and read apart.
        assert!(r.codes.iter().any(|c| c.contains(&-1.0)), "{stem}");
        assert!(r.codes.iter().flatten().any(|c| c.is_nan()), "{stem}");
        let rows = edge_rows(&m, &base_rows(&m));
        let found = parity(&m, &converted, &rows);
        assert!(found.max_difference < 1e-6, "{stem}: {found:?}");
        (m, converted, rows)
    }

    /// scikit-learn's logistic regression behind the reference pipeline's preprocessing,
    /// on every bundled pipeline.
    #[tokio::test]
    async fn logistic_regressions_score_as_scikit_learn_and_onnx_runtime() {
        for stem in ["sklearn_german", "sklearn_islr", "sklearn_credit"] {
            let (_, converted, _) = held_to_its_references(stem).await;
            assert!(matches!(converted.model, Model::LogisticRegression(_)));
        }
    }

    /// scikit-learn's gradient boosting (a logistic link over boosted trees), random forest
    /// (averaged leaf shares) and histogram gradient boosting (its trees route missing
    /// numbers), behind one-hot levels, on every bundled pipeline; the gate's rows on every split's float32 edges catch a conversion
    /// that read `x <= v` as `x < v`.
    #[tokio::test]
    async fn tree_models_score_as_scikit_learn_and_onnx_runtime() {
        for pipeline in ["german", "islr", "credit"] {
            for (kind, family) in [
                ("gbm", "gradient_boosting"),
                ("forest", "random_forest"),
                ("hgb", "gradient_boosting"),
            ] {
                let stem = format!("sklearn_{kind}_{pipeline}");
                let (m, converted, rows) = held_to_its_references(&stem).await;
                assert_eq!(converted.model.family(), family);
                assert!(rows.len() > 1000, "{stem}: {} rows", rows.len());
                // It reads back from the JSON it is published as (histogram boosting's
                // `x <= inf` splits included: JSON holds no infinity).
                let json = serde_json::to_string(&converted.model).unwrap();
                assert_eq!(
                    serde_json::from_str::<Model>(&json).unwrap(),
                    converted.model,
                    "{stem}"
                );
                let mut strict = converted.clone();
                let trees = match &mut strict.model {
                    Model::GradientBoosting(b) => &mut b.trees,
                    Model::RandomForest(f) => &mut f.trees,
                    other => panic!("{other:?}"),
                };
                for n in trees.iter_mut().flat_map(|t| &mut t.nodes) {
                    if let Node::Split { threshold, .. } = n
                        && *threshold > 1.0
                    {
                        *threshold = f64::from((*threshold as f32).next_down());
                    }
                }
                let off = parity(&m, &strict, &rows);
                assert!(off.max_difference > 1e-6, "{stem}: {off:?}");
            }
        }
    }

    /// TreeSHAP of the converted gradient boosting, its covers the pipeline's training rows
    /// reaching each node (as scikit-learn's node counts are), equals shap 0.51's
    /// `TreeExplainer` per feature (the sum over its one-hot levels) and its expected value,
    /// to 1e-6. islr_default and credit_data: their fixtures' features are the SQL's own
    /// (german_credit's blanks some ages the SQL keeps, so its counts differ).
    #[tokio::test]
    async fn boosted_trees_explain_as_shap_does() {
        use crate::import::publish::{encode_row, model_columns};
        for (stem, pipeline) in [
            ("sklearn_gbm_islr", "islr_default"),
            ("sklearn_gbm_credit", "credit_data"),
        ] {
            let m = read(&format!("{stem}.onnx"));
            let converted = m.convert().unwrap();
            let sql = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql");
            let pipeline = crate::pipeline::Pipeline::locate(pipeline, &sql).unwrap();
            let ctx = crate::source::session().unwrap();
            let source = crate::source::open_with(&ctx, &pipeline.source, &Default::default())
                .await
                .unwrap();
            let prepared = crate::prepare::prepare(&ctx, None, &pipeline, source)
                .await
                .unwrap();
            let columns = model_columns(&m, m.feature_names(), &prepared, &pipeline).unwrap();
            let train = prepared.rows_of(crate::prepare::split::Split::Train);
            let mut model = converted.model.clone();
            crate::import::describe_from_training(
                &mut model,
                (train.iter()).map(|&r| {
                    (
                        encode_row(&converted.features, &columns, r),
                        prepared.labels[r],
                    )
                }),
            );
            let Model::GradientBoosting(boosted) = model else {
                panic!("{stem}")
            };
            let r = reference(&m, &format!("{stem}_reference.csv")).await;
            let widths: Vec<usize> = converted
                .features
                .iter()
                .map(|f| f.encoding.width())
                .collect();
            let (mut worst, bias_want) = (0.0f64, r.numbers("contrib_bias")[0]);
            for (k, codes) in r.codes.iter().enumerate() {
                let x = converted.encode(&m, codes);
                let (phi, bias) = crate::import::testing::tree_shap(&boosted, &x);
                worst = worst.max((bias - bias_want).abs());
                let mut at = 0;
                for (f, w) in converted.features.iter().zip(&widths) {
                    let mine: f64 = phi[at..at + w].iter().sum();
                    at += w;
                    worst = worst.max((mine - r.numbers(&format!("contrib_{}", f.name))[k]).abs());
                }
            }
            assert!(
                worst < 1e-6,
                "{stem}: TreeSHAP differs from shap's by {worst}"
            );
        }
    }

    /// A model exported the default way, one input `X` of three columns: its features are
    /// its columns by position (X_0, X_1, X_2), which `--features` maps onto the SQL's
    /// columns; every reference row (read by the SQL's names) within 1e-6 of scikit-learn's
    /// and ONNX Runtime's probabilities.
    #[tokio::test]
    async fn an_array_input_is_read_by_position() {
        let m = read("sklearn_array_islr.onnx");
        assert_eq!(m.feature_names(), ["X_0", "X_1", "X_2"]);
        let map = [
            ("X_0", "balance"),
            ("X_1", "income"),
            ("X_2", "balance_to_income"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let names = crate::import::sql_names(&m, &map).unwrap();
        let converted = m.convert().unwrap();
        let r =
            crate::import::testing::reference_as(&m, &names, "sklearn_array_islr_reference.csv")
                .await;
        let (sklearn, ort) = (r.numbers("probability"), r.numbers("onnxruntime"));
        for (k, codes) in r.codes.iter().enumerate() {
            let p = converted.probability(&m, codes);
            assert!(
                (p - sklearn[k]).abs() < 1e-6 && (p - ort[k]).abs() < 1e-6,
                "row {k}: {p}"
            );
            assert!((m.probability(codes) - ort[k]).abs() < 1e-6, "row {k}");
        }
        let found = parity(&m, &converted, &edge_rows(&m, &base_rows(&m)));
        assert!(found.max_difference < 1e-6, "{found:?}");
    }

    /// The encodings are the preprocessing's own: the imputer's median, the scaler's mean
    /// and standard deviation, the one-hot levels with `missing` among them.
    #[test]
    fn the_preprocessing_becomes_riskfns_encodings() {
        let m = read("sklearn_german.onnx");
        let converted = m.convert().unwrap();
        let age = (converted.features.iter())
            .find(|f| f.name == "age")
            .unwrap();
        assert_eq!(converted.features.len(), m.feature_names().len());
        let Encoding::Numeric {
            impute,
            mean,
            scale,
            native_missing,
            ..
        } = age.encoding
        else {
            panic!("{:?}", age.encoding)
        };
        assert!(!native_missing);
        // Median and mean of the training rows' known ages (german_features.py).
        assert_eq!(impute, 32.0);
        assert!(
            (mean - 34.98).abs() < 0.01 && (scale - 10.81).abs() < 0.01,
            "{mean} {scale}"
        );
        // credit_data's Home was missing on some training rows: `missing` is a level.
        let m = read("sklearn_credit.onnx");
        let converted = m.convert().unwrap();
        let home = (converted.features.iter())
            .find(|f| f.name == "Home")
            .unwrap();
        let (levels, _) = home.encoding.levels().unwrap();
        assert_eq!(
            levels,
            [
                "ignore", "missing", "other", "owner", "parents", "priv", "rent"
            ]
        );
    }

    /// What riskfn does not take is refused by name; a truncated file is malformed.
    #[test]
    fn unsupported_and_truncated_models_are_refused_by_name() {
        let bytes = std::fs::read(fixture("sklearn_german.onnx")).unwrap();
        let err = |b: &[u8]| Onnx::parse(b).unwrap_err().to_string();
        assert!(err(&bytes[..bytes.len() / 2]).starts_with("not a ONNX model file"));
        assert!(err(b"tree\n").starts_with("not a ONNX model file"));
        // The same graph with other names in it (every occurrence, same lengths).
        let swap = |from: &[u8], to: &[u8]| -> Vec<u8> {
            assert_eq!(from.len(), to.len());
            let mut b = bytes.clone();
            let mut at = 0;
            while let Some(k) = b[at..].windows(from.len()).position(|w| w == from) {
                b[at + k..at + k + from.len()].copy_from_slice(to);
                at += k + from.len();
            }
            assert_ne!(b, bytes);
            b
        };
        let e = err(&swap(b"LinearClassifier", b"SVMClassifierXYZ"));
        assert!(
            e.contains("no LinearClassifier") && e.contains("SVMClassifierXYZ"),
            "{e}"
        );
        let e = err(&swap(b"Scaler", b"Binari"));
        assert!(e.contains("operator is not supported: Binari"), "{e}");
        let e = err(&swap(b"LOGISTIC", b"SOFTMAX_"));
        assert!(e.contains("post_transform \"SOFTMAX_\""), "{e}");
        // A category imputed to another level than riskfn's missing one.
        let e = err(&swap(b"missing", b"unknown"));
        assert!(e.contains("imputation") && e.contains("\"unknown\""), "{e}");
    }
}
