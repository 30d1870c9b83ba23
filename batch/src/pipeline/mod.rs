//! A pipeline is a folder: `pipeline.toml` plus ordered `.sql` files. This module reads it
//! and validates it into a typed [`Pipeline`] before any data is touched.

mod config;
pub mod families;

use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use riskfn_core::contract::artifact::{Decision, Scorecard, check_name};
use riskfn_core::contract::gate::GateSpec;
use riskfn_core::features::preprocess::Reason;
use riskfn_core::features::schema::UnknownFields;
use riskfn_train::Families;
use riskfn_train::metrics::ThresholdRule;

use config::RawConfig;
use serde::Deserialize;

use crate::error::{Error, Result};

pub const CONFIG_FILE: &str = "pipeline.toml";
/// The table name the first SQL file reads: the de-duplicated source.
pub const RAW_TABLE: &str = "raw";

/// A protected attribute: the column holding it, its groups, and the reference group.
#[derive(Debug, Clone, PartialEq)]
pub struct Protected {
    pub name: String,
    pub column: String,
    /// Increasing cut points; empty: each value is a group.
    pub bands: Vec<f64>,
    pub reference: String,
}

impl Protected {
    /// The group of a value: its band's label, or its category key; `missing` for NULL.
    pub fn group(&self, value: &riskfn_core::features::value::Value) -> String {
        use riskfn_core::features::value::Value;
        if matches!(value, Value::Null) {
            return riskfn_core::features::preprocess::MISSING_LEVEL.to_owned();
        }
        if self.bands.is_empty() {
            return riskfn_core::features::preprocess::category_key(value).into_owned();
        }
        match value.as_f64().filter(|v| !v.is_nan()) {
            Some(v) => band_label(&self.bands, self.bands.partition_point(|&b| b <= v)),
            None => riskfn_core::features::preprocess::MISSING_LEVEL.to_owned(),
        }
    }
}

/// The label of band `i` of `bands` cut points: `< 25`, `[25, 40)`, ..., `>= 62`.
pub fn band_label(bands: &[f64], i: usize) -> String {
    let f = |v: f64| format!("{v}");
    match i {
        0 => format!("< {}", f(bands[0])),
        i if i == bands.len() => format!(">= {}", f(bands[i - 1])),
        i => format!("[{}, {})", f(bands[i - 1]), f(bands[i])),
    }
}

/// The reason table file: `[feature] code = "...", text = "..."`.
pub const REASONS_FILE: &str = "reasons.toml";

/// What happens to rows with a missing (NULL or NaN) feature value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingPolicy {
    /// Numeric: the training median; categorical: the level "missing".
    #[default]
    Impute,
    /// Dropped before the split; online, such a record is refused (400).
    Drop,
}

/// How rows are assigned to train / validation / test.
#[derive(Debug, Clone, PartialEq)]
pub enum SplitRule {
    /// `splitmix64(row position) % 100`: below `train` -> train, below `train + validation`
    /// -> validation, else test.
    Hash { train: u32, validation: u32 },
    /// A column of the SQL output with values `train`, `valid`/`validation`, `test`.
    Column(String),
}

#[derive(Debug, Clone)]
pub struct SqlFile {
    /// File name, e.g. `01_clean.sql`.
    pub file: String,
    /// The view it defines for later files, e.g. `clean`.
    pub view: String,
    pub text: String,
}

/// The view a SQL file defines for later files: its name without the ordering digits, the
/// underscore after them and `.sql` (`01_clean.sql` -> `clean`).
pub fn view_of(file: &str) -> String {
    file.trim_end_matches(".sql")
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .trim_start_matches('_')
        .to_owned()
}

/// A validated pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: String,
    pub dir: PathBuf,
    pub description: String,
    pub config_text: String,
    pub source: String,
    pub target: String,
    /// The adverse outcome's value, as text (`category_key` of the target value).
    pub positive: String,
    pub id: Option<String>,
    pub exclude: Vec<String>,
    pub categorical: Vec<String>,
    pub missing: MissingPolicy,
    pub split: SplitRule,
    /// At most about this many rows are trained on (a hash sample above it).
    pub max_rows: Option<u64>,
    pub families: Families,
    /// Seed of every random choice in training.
    pub seed: u64,
    /// How grid points and families are compared.
    pub selection: riskfn_train::Selection,
    /// Monotone constraints of the boosted trees: feature name and direction.
    pub monotone: Vec<(String, i8)>,
    /// The scorecard's WoE trend per feature.
    pub trends: Vec<(String, riskfn_train::binning::Trend)>,
    /// `[fairness]`: protected attributes measured for every version.
    pub protected: Vec<Protected>,
    /// `description` and `[card]`: the model card's purpose section.
    pub purpose: riskfn_core::contract::card::Purpose,
    pub threshold_rule: ThresholdRule,
    pub decision: Decision,
    pub unknown_fields: UnknownFields,
    /// `[serving] outside_population`: refuse or flag a record the SQL's filters drop.
    pub outside_population: riskfn_core::features::population::Outside,
    pub gate: GateSpec,
    pub scorecard: Scorecard,
    pub reasons_top: usize,
    pub drift_threshold: f64,
    /// `[outcomes]`: the performance window and the traffic lights' levels.
    pub outcomes: crate::outcomes::Settings,
    /// Reason code and text per feature (`reasons.toml`), and the file's text as run.
    pub reasons: BTreeMap<String, Reason>,
    pub reasons_text: Option<String>,
    pub sql: Vec<SqlFile>,
}

impl Pipeline {
    /// Find a pipeline by folder path, or by name under `sql_dir`.
    pub fn locate(name_or_path: &str, sql_dir: &Path) -> Result<Pipeline> {
        let direct = Path::new(name_or_path);
        let dir = if direct.join(CONFIG_FILE).is_file() {
            direct.to_path_buf()
        } else {
            sql_dir.join(name_or_path)
        };
        if !dir.join(CONFIG_FILE).is_file() {
            return Err(Error::Config {
                path: dir.join(CONFIG_FILE),
                message: format!(
                    "no pipeline {name_or_path:?} (looked for {} and {})",
                    direct.join(CONFIG_FILE).display(),
                    dir.join(CONFIG_FILE).display()
                ),
            });
        }
        Pipeline::load(&dir)
    }

    pub fn load(dir: &Path) -> Result<Pipeline> {
        let path = dir.join(CONFIG_FILE);
        let config_text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let bad = |message: String| Error::Config {
            path: path.clone(),
            message,
        };
        let raw: RawConfig = toml::from_str(&config_text).map_err(|e| bad(e.to_string()))?;
        let name = dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .ok_or_else(|| bad("cannot tell the pipeline's name from its folder".into()))?;
        check_name(&name).map_err(|e| bad(e.to_string()))?;

        let positive = match &raw.target.positive {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(bad(format!(
                    "target.positive must be a string, integer or boolean, not {}",
                    other.type_str()
                )));
            }
        };
        if raw.split.max_rows == Some(0) {
            return Err(bad("split.max_rows must be positive".into()));
        }
        let split = match raw.split.method.as_str() {
            "hash" => {
                let (t, v) = (raw.split.train, raw.split.validation);
                if t == 0 || v == 0 || t + v >= 100 {
                    return Err(bad(format!(
                        "split percentages train={t} validation={v} must be positive and leave a test share"
                    )));
                }
                SplitRule::Hash {
                    train: t,
                    validation: v,
                }
            }
            "column" => SplitRule::Column(raw.split.column.clone()),
            other => {
                return Err(bad(format!(
                    "split.method {other:?}: expected \"hash\" or \"column\""
                )));
            }
        };
        let crate::pipeline::families::Models {
            families,
            seed,
            selection,
            monotone,
            trends,
        } = raw.models.resolve().map_err(bad)?;
        let d = Scorecard::default();
        let scorecard = Scorecard {
            base_points: raw.scorecard.base_points.unwrap_or(d.base_points),
            base_odds: raw.scorecard.base_odds.unwrap_or(d.base_odds),
            pdo: raw.scorecard.pdo.unwrap_or(d.pdo),
        };
        if !(scorecard.base_odds > 0.0 && scorecard.pdo > 0.0 && scorecard.base_points.is_finite())
        {
            return Err(bad(
                "scorecard.base_odds and scorecard.pdo must be positive".into(),
            ));
        }
        let (reasons, reasons_text) = load_reasons(dir)?;
        let unit = 0.0..=1.0;
        if !unit.contains(&raw.gate.auc_tolerance) || !unit.contains(&raw.gate.min_ks) {
            return Err(bad(
                "gate.auc_tolerance and gate.min_ks must be between 0 and 1".into(),
            ));
        }
        if raw.gate.approvals > 5 {
            return Err(bad(format!(
                "gate.approvals is {}: at most 5 approvers per version",
                raw.gate.approvals
            )));
        }
        if let Some(m) = raw.gate.min_adverse_impact_ratio {
            if !(m > 0.0 && m <= 1.0) {
                return Err(bad(format!(
                    "gate.min_adverse_impact_ratio must be in (0, 1] (0.8: the four-fifths screen), not {m}"
                )));
            }
            if raw.fairness.is_empty() {
                return Err(bad(
                    "gate.min_adverse_impact_ratio needs protected attributes in [fairness]".into(),
                ));
            }
        }
        let mut protected = Vec::new();
        for (name, f) in raw.fairness {
            let bands = f.bands.unwrap_or_default();
            if bands.iter().any(|b| !b.is_finite()) || bands.windows(2).any(|w| w[0] >= w[1]) {
                return Err(bad(format!(
                    "fairness.{name}.bands must be increasing numbers"
                )));
            }
            if !bands.is_empty() && !(0..=bands.len()).any(|i| band_label(&bands, i) == f.reference)
            {
                let labels: Vec<String> =
                    (0..=bands.len()).map(|i| band_label(&bands, i)).collect();
                return Err(bad(format!(
                    "fairness.{name}.reference {:?} is not one of its bands: {}",
                    f.reference,
                    labels.join(", ")
                )));
            }
            protected.push(Protected {
                column: f.column.unwrap_or_else(|| name.clone()),
                name,
                bands,
                reference: f.reference,
            });
        }
        let d = raw.decision;
        if !(d.threshold > 0.0 && d.threshold < 1.0) {
            return Err(bad(
                "decision.threshold must be strictly between 0 and 1".into()
            ));
        }
        if d.adverse == d.favourable {
            return Err(bad(
                "decision.adverse and decision.favourable must differ".into()
            ));
        }
        let threshold_rule = match d.rule.as_str() {
            "fixed" => ThresholdRule::Fixed {
                threshold: d.threshold,
            },
            "max_f1" => ThresholdRule::MaxF1,
            "max_ks" => ThresholdRule::MaxKs,
            "cost" => match (d.cost_false_approve, d.cost_false_decline) {
                (Some(a), Some(b)) if a > 0.0 && b > 0.0 => ThresholdRule::Cost {
                    false_approve: a,
                    false_decline: b,
                },
                _ => {
                    return Err(bad(
                        "decision.rule = \"cost\" needs positive cost_false_approve and cost_false_decline".into(),
                    ));
                }
            },
            other => {
                return Err(bad(format!(
                    "decision.rule {other:?}: expected fixed, max_f1, max_ks or cost"
                )));
            }
        };
        let source = if raw.source.path.contains("://") || Path::new(&raw.source.path).is_absolute()
        {
            raw.source.path.clone()
        } else {
            dir.join(&raw.source.path).to_string_lossy().into_owned()
        };
        Ok(Pipeline {
            name,
            dir: dir.to_path_buf(),
            purpose: riskfn_core::contract::card::Purpose {
                description: raw.description.clone(),
                owner: raw.card.owner,
                intended_use: raw.card.intended_use,
                out_of_scope: raw.card.out_of_scope,
            },
            description: raw.description,
            config_text,
            source,
            target: raw.target.column,
            positive,
            id: raw.columns.id.filter(|s| !s.is_empty()),
            exclude: raw.columns.exclude,
            categorical: raw.columns.categorical,
            missing: raw.cleaning.missing,
            split,
            max_rows: raw.split.max_rows,
            families,
            seed,
            selection,
            monotone,
            trends,
            protected,
            threshold_rule,
            decision: Decision {
                threshold: d.threshold,
                adverse: d.adverse,
                favourable: d.favourable,
            },
            unknown_fields: raw.serving.unknown_fields,
            outside_population: raw.serving.outside_population,
            scorecard,
            reasons_top: raw.serving.reasons.unwrap_or(3),
            drift_threshold: raw.drift.threshold.unwrap_or(0.25),
            outcomes: crate::outcomes::Settings::new(
                raw.outcomes.window_months,
                raw.outcomes.red,
                raw.outcomes.amber,
                raw.outcomes.grades,
            )
            .map_err(|m| bad(format!("outcomes: {m}")))?,
            reasons,
            reasons_text,
            gate: GateSpec {
                auc_tolerance: raw.gate.auc_tolerance,
                min_ks: raw.gate.min_ks,
                min_adverse_impact_ratio: raw.gate.min_adverse_impact_ratio,
                approvals: raw.gate.approvals,
            },
            sql: load_sql(dir)?,
        })
    }
}

/// Copy a pipeline folder from `s3://bucket/prefix/<name>/` (its `pipeline.toml`, `.sql`
/// files and `reasons.toml`) into a temporary folder and load it. The source in its config
/// must then be an absolute path or URI (or be given with `--data`).
pub async fn fetch(
    uri: &str,
    s3: &riskfn_core::registry::s3::S3Settings,
) -> Result<(Pipeline, tempfile::TempDir)> {
    let trimmed = uri.trim_end_matches('/');
    let name = trimmed.rsplit('/').next().unwrap_or_default();
    let bad = |message: String| Error::Config {
        path: PathBuf::from(uri),
        message,
    };
    check_name(name).map_err(|e| bad(e.to_string()))?;
    let store = riskfn_core::registry::store::open_with(trimmed, s3).await?;
    let tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let dir = tmp.path().join(name);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut copied = 0;
    for key in store.list("").await? {
        let wanted = !key.contains('/')
            && (key == CONFIG_FILE || key == REASONS_FILE || key.ends_with(".sql"));
        if !wanted {
            continue;
        }
        let obj = store
            .get(&key)
            .await?
            .ok_or_else(|| bad(format!("{key} vanished while copying")))?;
        std::fs::write(dir.join(&key), &obj.bytes).map_err(|e| Error::io(dir.join(&key), e))?;
        copied += 1;
    }
    if copied == 0 {
        return Err(bad(
            "no pipeline.toml or .sql files under this prefix".into()
        ));
    }
    Ok((Pipeline::load(&dir)?, tmp))
}

/// The reason table, if the pipeline has one; codes must be distinct.
fn load_reasons(dir: &Path) -> Result<(BTreeMap<String, Reason>, Option<String>)> {
    let path = dir.join(REASONS_FILE);
    if !path.is_file() {
        return Ok((BTreeMap::new(), None));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let table: BTreeMap<String, Reason> = toml::from_str(&text).map_err(|e| Error::Config {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let mut seen = std::collections::BTreeSet::new();
    for (feature, r) in &table {
        if r.code.is_empty() || !seen.insert(r.code.clone()) {
            return Err(Error::Config {
                path: path.clone(),
                message: format!(
                    "feature {feature}: reason code {:?} is empty or used twice",
                    r.code
                ),
            });
        }
    }
    Ok((table, Some(text)))
}

/// The pipeline's `.sql` files in name order; each defines a view named after the file
/// (leading digits and `_` dropped: `01_clean.sql` -> `clean`).
fn load_sql(dir: &Path) -> Result<Vec<SqlFile>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::Config {
            path: dir.to_path_buf(),
            message: "no .sql files in the pipeline folder".into(),
        });
    }
    let mut out: Vec<SqlFile> = Vec::new();
    for path in files {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let view = view_of(&file);
        if view.is_empty() || view == RAW_TABLE || out.iter().any(|f| f.view == view) {
            return Err(Error::Config {
                path: path.clone(),
                message: format!(
                    "file name must give a distinct view name other than {RAW_TABLE:?} (got {view:?})"
                ),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        out.push(SqlFile { file, view, text });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bundled german_credit folder copied under a temporary folder, its
    /// `pipeline.toml` passed through `edit`.
    fn german(edit: impl Fn(String) -> String) -> (tempfile::TempDir, PathBuf) {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql/german_credit");
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("german_credit");
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["01_clean.sql", "02_features.sql", "reasons.toml"] {
            std::fs::copy(src.join(f), dir.join(f)).unwrap();
        }
        let toml = std::fs::read_to_string(src.join(CONFIG_FILE)).unwrap();
        std::fs::write(dir.join(CONFIG_FILE), edit(toml)).unwrap();
        (tmp, dir)
    }

    fn refused(edit: impl Fn(String) -> String) -> String {
        let (_tmp, dir) = german(edit);
        match Pipeline::load(&dir) {
            Err(e @ Error::Config { .. }) => e.to_string(),
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn the_bundled_config_reads_as_written() {
        let (_tmp, dir) = german(|t| t);
        let p = Pipeline::load(&dir).unwrap();
        assert_eq!(p.name, "german_credit");
        assert_eq!(
            (p.target.as_str(), p.positive.as_str()),
            ("creditability", "bad")
        );
        assert_eq!(
            p.split,
            SplitRule::Hash {
                train: 60,
                validation: 20
            }
        );
        assert_eq!(
            p.gate,
            GateSpec::default(),
            "no [gate]: the defaults, no approvals"
        );
        let protected: Vec<&str> = p.protected.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            protected,
            ["age", "foreign_worker", "marital_status", "sex"]
        );
        let files: Vec<&str> = p.sql.iter().map(|f| f.file.as_str()).collect();
        assert_eq!(files, ["01_clean.sql", "02_features.sql"], "in name order");
        assert_eq!(p.reasons["duration_months"].code, "GC02");
    }

    #[test]
    fn four_eyes_is_read_from_the_gate_and_bounded() {
        let (_tmp, dir) = german(|t| format!("{t}\n[gate]\napprovals = 2\nmin_ks = 0.2\n"));
        let p = Pipeline::load(&dir).unwrap();
        assert_eq!((p.gate.approvals, p.gate.min_ks), (2, 0.2));
        let e = refused(|t| format!("{t}\n[gate]\napprovals = 9\n"));
        assert!(e.contains("gate.approvals"), "{e}");
    }

    #[test]
    fn bad_keys_and_values_are_refused_with_the_key_named() {
        let e = refused(|t| format!("{t}\n[gate]\napproval = 1\n"));
        assert!(e.contains("approval") && e.contains("pipeline.toml"), "{e}");
        let e = refused(|t| t.replace("train = 60", "train = 90"));
        assert!(e.contains("train=90"), "{e}");
        let e = refused(|t| t.replace("method = \"hash\"", "method = \"random\""));
        assert!(e.contains("random"), "{e}");
        let e = refused(|t| format!("{t}\n[gate]\nmin_adverse_impact_ratio = 1.5\n"));
        assert!(e.contains("min_adverse_impact_ratio"), "{e}");
    }
}
