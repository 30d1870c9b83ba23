//! The model card rendered: one list of blocks (headings, text, lists, tables), spelled
//! as Markdown (`card.md`) and as HTML (`card.html`).

use std::fmt::Write;

use super::*;

/// One piece of the rendered card; Markdown and HTML are two spellings of the same blocks.
enum Block {
    Heading(u8, String),
    Text(String),
    List(Vec<String>),
    Table(Vec<&'static str>, Vec<Vec<String>>),
}

fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.4}")
    } else {
        "-".to_owned()
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), num)
}

fn pct(v: f64) -> String {
    format!("{:.1} %", 100.0 * v)
}

fn metrics_rows(m: &SplitMetrics) -> Vec<Vec<String>> {
    let row =
        |name: &str, f: fn(&Metrics) -> String| vec![name.to_owned(), f(&m.validation), f(&m.test)];
    vec![
        row("rows", |m| m.rows.to_string()),
        row("adverse outcomes", |m| m.positives.to_string()),
        row("ROC AUC", |m| num(m.roc_auc)),
        row("Gini", |m| num(m.gini)),
        row("KS", |m| num(m.ks)),
        row("Brier score", |m| num(m.brier)),
        row("log loss", |m| num(m.log_loss)),
        row("accuracy", |m| num(m.accuracy)),
        row("precision", |m| num(m.precision)),
        row("recall", |m| num(m.recall)),
    ]
}

fn group_rows(groups: &[GroupMeasure]) -> Vec<Vec<String>> {
    groups
        .iter()
        .map(|g| {
            let note = match (g.reference, g.small) {
                (true, _) => "reference".to_owned(),
                (false, true) => format!("under {MIN_ROWS} rows: no ratio"),
                (false, false) => String::new(),
            };
            vec![
                g.group.clone(),
                g.rows.to_string(),
                pct(g.approval_rate),
                opt(g.adverse_impact_ratio),
                opt(g.standardized_mean_difference),
                opt(g.roc_auc),
                num(g.mean_predicted),
                num(g.observed_adverse_rate),
                note,
            ]
        })
        .collect()
}

impl ModelCard {
    fn blocks(&self) -> Vec<Block> {
        use Block::*;
        let mut b = vec![Heading(
            1,
            format!("Model card: {}, version {}", self.pipeline, self.version),
        )];
        b.push(Text(format!(
            "Published {} by riskfn {}.",
            self.created_at, self.code_version
        )));

        b.push(Heading(2, "Purpose and intended use".into()));
        let p = &self.purpose;
        let unset = || "not stated ([card] in pipeline.toml)".to_owned();
        b.push(List(vec![
            format!(
                "Description: {}",
                if p.description.is_empty() {
                    "not stated (description in pipeline.toml)".to_owned()
                } else {
                    p.description.clone()
                }
            ),
            format!("Owner: {}", p.owner.clone().unwrap_or_else(unset)),
            format!(
                "Intended use: {}",
                p.intended_use.clone().unwrap_or_else(unset)
            ),
        ]));
        if !p.out_of_scope.is_empty() {
            b.push(Text("Out of scope:".into()));
            b.push(List(p.out_of_scope.clone()));
        }

        b.push(Heading(2, "Gate verdict and promotion".into()));
        b.push(Text(format!(
            "{}: {}",
            if self.gate.passed {
                "Passed"
            } else {
                "Refused"
            },
            self.gate.reason
        )));
        let spec = &self.gate.spec;
        let mut rules = vec![
            format!(
                "validation ROC AUC at least the champion's minus {}",
                spec.auc_tolerance
            ),
            format!("validation KS at least {}", spec.min_ks),
        ];
        if let Some(m) = spec.min_adverse_impact_ratio {
            rules.push(format!(
                "every protected group's adverse impact ratio on validation at least {m}"
            ));
        }
        b.push(List(rules));
        if self.history.is_empty() {
            b.push(Text("History: published; no promotion recorded.".into()));
        } else {
            b.push(Table(
                vec!["at", "event", "detail", "by", "reason"],
                self.history
                    .iter()
                    .map(|h| {
                        vec![
                            h.at.clone(),
                            h.event.clone(),
                            h.detail.clone(),
                            h.by.clone().unwrap_or_default(),
                            h.reason.clone().unwrap_or_default(),
                        ]
                    })
                    .collect(),
            ));
        }

        if let Some(m) = &self.imported {
            let p = &m.provenance;
            b.push(Heading(2, "Provenance".into()));
            b.push(Text(format!(
                "Trained outside riskfn, in {}: its training was not reproduced by riskfn. The data below are the pipeline's, on whose validation and test splits it was evaluated; the rows it was trained on are not known to riskfn.",
                p.library
            )));
            b.push(List(vec![
                format!("Model file: {}", p.file),
                format!("sha256: {}", p.sha256),
                format!("Imported by: {}", p.imported_by),
                format!(
                    "Parity gate: nothing is published if any probability differs from the library's by more than {:e}",
                    m.tolerance
                ),
            ]));
            b.push(Table(
                vec!["parity rows", "rows", "largest difference from the library"],
                (m.parity.iter())
                    .map(|c| {
                        vec![
                            c.rows_of.clone(),
                            c.rows.to_string(),
                            format!("{:.2e}", c.max_difference),
                        ]
                    })
                    .collect(),
            ));
        }

        b.push(Heading(2, "Training data".into()));
        let d = &self.data;
        let mut facts = vec![
            format!("Source: {}", d.source),
            format!("Fingerprint (sha256): {}", d.fingerprint),
            format!("Rows read: {}", d.rows_read),
            format!("Exact duplicates dropped: {}", d.duplicates_dropped),
            format!("Rows filtered out by the SQL: {}", d.rows_filtered),
            format!(
                "Rows dropped for a missing value: {}",
                d.rows_dropped_missing
            ),
        ];
        if let Some(s) = &d.sample {
            facts.push(format!(
                "Sample: at most about {} rows (rate {:.4}; {} rows left out)",
                s.max_rows, s.rate, s.rows_left_out
            ));
        }
        b.push(List(facts));
        b.push(Table(
            vec!["split", "rows", "adverse", "adverse rate"],
            d.split
                .iter()
                .map(|(name, c)| {
                    vec![
                        name.clone(),
                        c.rows.to_string(),
                        c.positives.to_string(),
                        pct(c.positives as f64 / (c.rows.max(1)) as f64),
                    ]
                })
                .collect(),
        ));

        b.push(Heading(2, "Features and reason codes".into()));
        b.push(Table(
            vec!["feature", "kind", "reason code", "reason text"],
            self.features
                .iter()
                .map(|f| {
                    let kind = match f.levels {
                        Some(n) => format!("{} ({n} levels)", f.kind),
                        None => f.kind.clone(),
                    };
                    vec![
                        f.name.clone(),
                        kind,
                        f.reason_code.clone(),
                        f.reason_text.clone(),
                    ]
                })
                .collect(),
        ));
        b.push(Text(if self.excluded.is_empty() {
            "Excluded columns: none.".into()
        } else {
            format!("Excluded columns: {}.", self.excluded.join(", "))
        }));
        if self.protected.is_empty() {
            b.push(Text(
                "Protected attributes: none declared ([fairness] in pipeline.toml); fairness is not measured."
                    .into(),
            ));
        } else {
            b.push(Text(
                "Protected attributes (never features; measured below):".into(),
            ));
            b.push(Table(
                vec!["attribute", "column", "groups", "reference group"],
                self.protected
                    .iter()
                    .map(|a| {
                        let groups = if a.bands.is_empty() {
                            "each value".to_owned()
                        } else {
                            let cuts: Vec<String> = a.bands.iter().map(|v| v.to_string()).collect();
                            format!("bands cut at {}", cuts.join(", "))
                        };
                        vec![
                            a.name.clone(),
                            a.column.clone(),
                            groups,
                            a.reference.clone(),
                        ]
                    })
                    .collect(),
            ));
        }

        b.push(Heading(2, "Model".into()));
        let m = &self.model;
        let params: Vec<String> = m.params.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        b.push(List(vec![
            format!("Family: {}", m.family),
            format!(
                "Parameters: {}",
                if params.is_empty() {
                    "-".to_owned()
                } else {
                    params.join(", ")
                }
            ),
            format!("Model inputs: {}", m.inputs),
            format!(
                "Decision: {} when the probability of the adverse outcome is at least {:.4} (rule: {}), else {}",
                m.adverse, m.threshold, m.threshold_rule, m.favourable
            ),
            format!("Selection: {}", m.selection),
        ]));
        b.push(Text("Every family tried:".into()));
        b.push(Table(
            vec![
                "family",
                "status",
                "selection score",
                "spread",
                "validation AUC",
                "test AUC",
                "note",
            ],
            self.families
                .iter()
                .map(|f| {
                    vec![
                        f.family.clone(),
                        f.status.clone(),
                        opt(f.score),
                        opt(f.spread),
                        opt(f.validation_auc),
                        opt(f.test_auc),
                        f.reason.clone().unwrap_or_default(),
                    ]
                })
                .collect(),
        ));

        b.push(Heading(2, "Performance".into()));
        b.push(Table(
            vec!["measure", "validation", "test"],
            metrics_rows(&self.metrics),
        ));
        b.push(Text("Gains on the test split, riskiest band first:".into()));
        b.push(Table(
            vec![
                "band",
                "rows",
                "adverse",
                "probability",
                "bad rate",
                "cum. adverse",
                "cum. favourable",
                "KS",
            ],
            self.gains
                .iter()
                .map(|g| {
                    vec![
                        g.band.to_string(),
                        g.rows.to_string(),
                        g.adverse.to_string(),
                        format!("{} to {}", num(g.min_probability), num(g.max_probability)),
                        pct(g.bad_rate),
                        pct(g.cumulative_adverse),
                        pct(g.cumulative_favourable),
                        num(g.ks),
                    ]
                })
                .collect(),
        ));

        b.push(Heading(2, "Performance and fairness by group".into()));
        if self.fairness.is_empty() {
            b.push(Text("No protected attributes declared.".into()));
        }
        for f in &self.fairness {
            for (split, groups) in [("validation", &f.validation), ("test", &f.test)] {
                b.push(Heading(
                    3,
                    format!(
                        "{} ({}), {split} split, reference {}",
                        f.attribute, f.column, f.reference
                    ),
                ));
                b.push(Table(
                    vec![
                        "group",
                        "rows",
                        "approval rate",
                        "adverse impact ratio",
                        "standardized mean difference",
                        "ROC AUC",
                        "mean predicted",
                        "observed adverse rate",
                        "note",
                    ],
                    group_rows(groups),
                ));
            }
        }

        b.push(Heading(2, "Stability baseline".into()));
        let s = &self.stability;
        b.push(Text(format!(
            "Measured on {} training rows; `riskfn drift` acts above a PSI or CSI of {}.",
            s.rows, s.threshold
        )));
        b.push(Table(
            vec!["score bin (probability)", "share"],
            s.score
                .iter()
                .map(|bin| {
                    let range = match (bin.from, bin.to) {
                        (None, None) => "missing".to_owned(),
                        (None, Some(t)) => format!("below {}", num(t)),
                        (Some(f), None) => format!("{} and above", num(f)),
                        (Some(f), Some(t)) => format!("{} to {}", num(f), num(t)),
                    };
                    vec![range, pct(bin.share)]
                })
                .collect(),
        ));
        b.push(Table(
            vec!["feature", "bins", "largest bin share"],
            s.features
                .iter()
                .map(|f| vec![f.name.clone(), f.bins.to_string(), pct(f.largest_share)])
                .collect(),
        ));

        b.push(Heading(2, "Limitations".into()));
        b.push(if self.limitations.is_empty() {
            Text("None recorded.".into())
        } else {
            List(self.limitations.clone())
        });
        b
    }

    pub fn to_markdown(&self) -> String {
        let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        let mut out = String::new();
        for block in self.blocks() {
            // Writing into a String cannot fail.
            let _ = match block {
                Block::Heading(level, text) => {
                    writeln!(out, "{} {}\n", "#".repeat(usize::from(level)), text)
                }
                Block::Text(text) => writeln!(out, "{text}\n"),
                Block::List(items) => {
                    for item in items {
                        let _ = writeln!(out, "- {item}");
                    }
                    writeln!(out)
                }
                Block::Table(head, rows) => {
                    let _ = writeln!(out, "| {} |", head.join(" | "));
                    let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
                    for row in rows {
                        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
                        let _ = writeln!(out, "| {} |", cells.join(" | "));
                    }
                    writeln!(out)
                }
            };
        }
        out
    }

    pub fn to_html(&self) -> String {
        let mut out = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Model card: {} {}</title>\n\
             <style>body{{font-family:sans-serif;max-width:72em;margin:2em auto;padding:0 1em}}\
             table{{border-collapse:collapse;margin:0.5em 0 1em}}td,th{{border:1px solid #ccc;padding:0.2em 0.5em;text-align:left}}\
             th{{background:#f3f3f3}}</style></head><body>\n",
            escape(&self.pipeline),
            escape(&self.version)
        );
        for block in self.blocks() {
            let _ = match block {
                Block::Heading(level, text) => {
                    writeln!(out, "<h{level}>{}</h{level}>", escape(&text))
                }
                Block::Text(text) => writeln!(out, "<p>{}</p>", escape(&text)),
                Block::List(items) => {
                    out.push_str("<ul>");
                    for item in items {
                        let _ = write!(out, "<li>{}</li>", escape(&item));
                    }
                    writeln!(out, "</ul>")
                }
                Block::Table(head, rows) => {
                    out.push_str("<table><thead><tr>");
                    for h in head {
                        let _ = write!(out, "<th>{}</th>", escape(h));
                    }
                    out.push_str("</tr></thead><tbody>");
                    for row in rows {
                        out.push_str("<tr>");
                        for c in row {
                            let _ = write!(out, "<td>{}</td>", escape(&c));
                        }
                        out.push_str("</tr>");
                    }
                    writeln!(out, "</tbody></table>")
                }
            };
        }
        out.push_str("</body></html>\n");
        out
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
