//! Who a version was built for: the pipeline SQL's filters (its `WHERE` clauses), compiled
//! like the features, and what a scorer does with a record they would have dropped.
//!
//! A filter is true, false or NULL on a row; SQL keeps the row only when it is true, so a
//! record is inside the population when every rule is true on it. A rule that cannot be
//! evaluated on a record (a failing cast) does not hold either: the record cannot be shown
//! to be inside.

use serde::{Deserialize, Serialize};

use crate::features::expr::Expr;
use crate::features::value::Value;

/// One filter of the pipeline's SQL, over the raw fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// The filter as SQL over the raw fields, e.g. `credit_amount > 0`: what an answer
    /// names.
    pub rule: String,
    pub expr: Expr,
}

impl Rule {
    pub fn holds(&self, row: &[Value]) -> bool {
        matches!(self.expr.eval(row), Ok(Value::Bool(true)))
    }
}

/// What the service does with a record outside the population (`[serving]
/// outside_population` in `pipeline.toml`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outside {
    /// Refuse it: HTTP 422 naming the rule; batch scoring leaves the row unscored with the
    /// rule in its error.
    #[default]
    Refuse,
    /// Score it, and name the rule in the answer, the audit record and the batch row.
    Flag,
}

/// The rules a record must meet, and what happens when it does not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Population {
    pub rules: Vec<Rule>,
    #[serde(default)]
    pub outside: Outside,
}

impl Population {
    /// The first rule `row` breaks, if any.
    pub fn first_broken(&self, row: &[Value]) -> Option<usize> {
        self.rules.iter().position(|r| !r.holds(row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::expr::BinaryOp;

    /// SQL's WHERE keeps a row only where the filter is true: false and NULL both drop it,
    /// and so does a rule that cannot be evaluated.
    #[test]
    fn a_record_is_inside_only_where_every_rule_is_true() {
        let positive = |c: usize| Rule {
            rule: format!("f{c} > 0"),
            expr: Expr::binary(BinaryOp::Gt, Expr::column(c), Expr::lit(0i64)),
        };
        let population = Population {
            rules: vec![positive(0), positive(1)],
            outside: Outside::Refuse,
        };
        let row = |a: Value, b: Value| vec![a, b];
        assert_eq!(
            population.first_broken(&row(Value::Int(1), Value::Int(2))),
            None
        );
        assert_eq!(
            population.first_broken(&row(Value::Int(0), Value::Int(2))),
            Some(0)
        );
        assert_eq!(
            population.first_broken(&row(Value::Int(1), Value::Null)),
            Some(1)
        );
        let divides = Rule {
            rule: "1 / f0 > 0".into(),
            expr: Expr::binary(
                BinaryOp::Gt,
                Expr::binary(BinaryOp::Div, Expr::lit(1i64), Expr::column(0)),
                Expr::lit(0i64),
            ),
        };
        assert!(!divides.holds(&[Value::Int(0)]));
        assert!(divides.holds(&[Value::Int(1)]));
    }
}
