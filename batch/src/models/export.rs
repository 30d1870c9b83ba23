//! `riskfn models export --format sql`: a published scorecard as one SQL query a lender can
//! run in their own warehouse over the table `raw`.
//!
//! The query is the pipeline's own SQL, as the version was trained with it, each file a
//! common table expression named as the file's view (`01_clean.sql` -> `clean`), then one
//! `CASE` per characteristic giving its points, and their sum, `points`. It relies only on
//! constructs engines share: `WITH`, `CASE WHEN ... THEN ... ELSE ... END`, `IS NULL`, `IN`
//! lists of string literals, `CAST(... AS DOUBLE)` and `CAST(... AS VARCHAR)`, arithmetic on
//! doubles, and double-quoted identifiers; no engine's own functions. A number is binned as
//! the service bins it, on its standardised value `(x - mean) / scale` compared with the
//! cuts, with the same IEEE double arithmetic, so each row's points are the service's exactly.

use riskfn_core::contract::artifact::ScoringArtifact;
use riskfn_core::features::preprocess::{Encoding, MISSING_LEVEL};
use riskfn_core::model::{CardBins, Model};

use crate::error::{Error, Result};

/// A double as a SQL literal that reads back as the same double.
fn number(v: f64) -> String {
    let s = format!("{v:?}");
    if s.contains(['.', 'e']) {
        s
    } else {
        format!("{s}.0")
    }
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Points as a SQL integer literal (a card's points are whole numbers).
fn points(p: f64) -> String {
    format!("{}", p as i64)
}

/// The scoring query of `artifact`'s scorecard over `raw`, from the pipeline's SQL files in
/// order (`(file name, text)`).
pub fn scorecard_sql(artifact: &ScoringArtifact, sql: &[(String, String)]) -> Result<String> {
    let Model::Scorecard(card) = &artifact.model else {
        return Err(Error::Data(format!(
            "{}/{} is a {} model: only a scorecard exports as SQL",
            artifact.pipeline,
            artifact.version,
            artifact.model.family()
        )));
    };
    let mut q = format!(
        "-- riskfn scorecard {} version {}: points per characteristic and their sum.\n",
        artifact.pipeline, artifact.version
    );
    let mut last = "raw".to_owned();
    for (i, (file, text)) in sql.iter().enumerate() {
        let body = text.trim().trim_end_matches(';').trim_end();
        q.push_str(if i == 0 { "WITH " } else { ",\n" });
        let view = crate::pipeline::view_of(file.rsplit('/').next().unwrap_or(file));
        q.push_str(&format!("{} AS (\n{body}\n)", ident(&view)));
        last = view;
    }
    q.push_str("\nSELECT\n  *");
    let mut terms = Vec::new();
    for c in &card.characteristics {
        let f = artifact.features.get(c.feature).ok_or_else(|| {
            Error::Data(format!(
                "the card reads feature {} of {}",
                c.feature,
                artifact.features.len()
            ))
        })?;
        let col = ident(&f.name);
        let mut case = format!("CASE WHEN {col} IS NULL THEN ");
        match (&c.bins, &f.encoding) {
            (CardBins::Numeric { cuts, .. }, Encoding::Numeric { mean, scale, .. }) => {
                case.push_str(&points(c.points[cuts.len() + 1]));
                let x = format!(
                    "((CAST({col} AS DOUBLE) - {}) / {})",
                    number(*mean),
                    number(*scale)
                );
                for (i, cut) in cuts.iter().enumerate() {
                    case.push_str(&format!(
                        " WHEN {x} < {} THEN {}",
                        number(*cut),
                        points(c.points[i])
                    ));
                }
                case.push_str(&format!(" ELSE {} END", points(c.points[cuts.len()])));
            }
            (
                CardBins::Categorical {
                    level_bins, unseen, ..
                },
                Encoding::OneHot { levels, .. },
            ) => {
                // NULL is the missing level where training saw one, else an unseen level.
                let null_bin = levels
                    .iter()
                    .position(|l| l == MISSING_LEVEL)
                    .map_or(*unseen, |l| level_bins[l]);
                case.push_str(&points(c.points[null_bin as usize]));
                let bins = level_bins.iter().copied().max().unwrap_or(0);
                for b in 0..=bins {
                    let members: Vec<String> = levels
                        .iter()
                        .zip(level_bins)
                        .filter(|(_, lb)| **lb == b)
                        .map(|(l, _)| string(l))
                        .collect();
                    if !members.is_empty() {
                        case.push_str(&format!(
                            " WHEN CAST({col} AS VARCHAR) IN ({}) THEN {}",
                            members.join(", "),
                            points(c.points[b as usize])
                        ));
                    }
                }
                case.push_str(&format!(" ELSE {} END", points(c.points[*unseen as usize])));
            }
            _ => {
                return Err(Error::Data(format!(
                    "characteristic {}: its bins do not match the feature's encoding",
                    f.name
                )));
            }
        }
        let name = ident(&format!("points_{}", f.name));
        q.push_str(&format!(",\n  {case} AS {name}"));
        terms.push(case);
    }
    q.push_str(&format!(",\n  {} AS \"points\"", terms.join("\n  + ")));
    q.push_str(&format!("\nFROM {}\n", ident(&last)));
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_read_back_as_the_same_values() {
        for v in [0.1, -3.0, 1e-7, 12345.678, 1.0 / 3.0] {
            assert_eq!(number(v).parse::<f64>().unwrap().to_bits(), v.to_bits());
        }
        assert_eq!(number(2.0), "2.0");
        assert_eq!(string("it's"), "'it''s'");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    }
}
