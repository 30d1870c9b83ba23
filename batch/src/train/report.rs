//! The human report of a version (`report.html`): the chosen model's measures, every
//! family's scores, and the test split's ROC curve, calibration curve and score
//! distributions by class, drawn with plotters as inline SVG.

use std::fmt::Write;

use plotters::prelude::*;

use crate::train::TrainReport;

pub const REPORT_HTML: &str = "report.html";

const SIZE: (u32, u32) = (460, 340);

/// (mean predicted, observed adverse rate, rows) in ten equal-width probability bins.
fn calibration_bins(y: &[bool], p: &[f64]) -> Vec<(f64, f64, usize)> {
    let mut bins = vec![(0.0, 0usize, 0usize); 10];
    for (&yi, &pi) in y.iter().zip(p) {
        let b = ((pi * 10.0) as usize).min(9);
        bins[b].0 += pi;
        bins[b].1 += usize::from(yi);
        bins[b].2 += 1;
    }
    bins.into_iter()
        .filter(|b| b.2 > 0)
        .map(|(sum, pos, n)| (sum / n as f64, pos as f64 / n as f64, n))
        .collect()
}

/// Share of each class's rows in twenty probability bins: (bin centre, adverse, favourable).
fn distributions(y: &[bool], p: &[f64]) -> Vec<(f64, f64, f64)> {
    let mut a = [0usize; 20];
    let mut f = [0usize; 20];
    for (&yi, &pi) in y.iter().zip(p) {
        let b = ((pi * 20.0) as usize).min(19);
        if yi {
            a[b] += 1;
        } else {
            f[b] += 1;
        }
    }
    let (na, nf) = (
        a.iter().sum::<usize>().max(1) as f64,
        f.iter().sum::<usize>().max(1) as f64,
    );
    (0..20)
        .map(|i| ((i as f64 + 0.5) / 20.0, a[i] as f64 / na, f[i] as f64 / nf))
        .collect()
}

pub(crate) type Plot<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

pub(crate) fn chart<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    title: &str,
    x: &str,
    y: &str,
    y_max: f64,
) -> Result<Plot<'a, 'b>, String> {
    let mut c = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(46)
        .build_cartesian_2d(0.0..1.0, 0.0..y_max)
        .map_err(|e| e.to_string())?;
    c.configure_mesh()
        .x_desc(x)
        .y_desc(y)
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(c)
}

pub(crate) fn svg(
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Result<(), String>,
) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        let drawn = root
            .fill(&WHITE)
            .map_err(|e| e.to_string())
            .and_then(|_| draw(&root));
        if let Err(e) = drawn.and_then(|_| root.present().map_err(|e| e.to_string())) {
            tracing::warn!(error = %e, "a report chart could not be drawn");
            return String::new();
        }
    }
    out
}

fn roc_svg(y: &[bool], p: &[f64], auc: f64) -> String {
    svg(|root| {
        let mut c = chart(
            root,
            &format!("ROC curve (test), AUC {auc:.3}"),
            "false positive rate",
            "true positive rate",
            1.0,
        )?;
        c.draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.3)))
            .map_err(|e| e.to_string())?;
        c.draw_series(LineSeries::new(
            riskfn_core::review::compare::roc_curve(y, p),
            BLUE.stroke_width(2),
        ))
        .map_err(|e| e.to_string())?;
        Ok(())
    })
}

fn calibration_svg(y: &[bool], p: &[f64]) -> String {
    let bins = calibration_bins(y, p);
    svg(|root| {
        let mut c = chart(
            root,
            "Calibration (test, 10 bins)",
            "mean predicted probability",
            "observed adverse rate",
            1.0,
        )?;
        c.draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.3)))
            .map_err(|e| e.to_string())?;
        c.draw_series(LineSeries::new(
            bins.iter().map(|b| (b.0, b.1)),
            RED.stroke_width(2),
        ))
        .map_err(|e| e.to_string())?;
        c.draw_series(
            bins.iter()
                .map(|b| Circle::new((b.0, b.1), 4, RED.filled())),
        )
        .map_err(|e| e.to_string())?;
        Ok(())
    })
}

fn distribution_svg(y: &[bool], p: &[f64]) -> String {
    let d = distributions(y, p);
    let top = d.iter().map(|x| x.1.max(x.2)).fold(0.0, f64::max).max(0.01) * 1.1;
    svg(|root| {
        let mut c = chart(
            root,
            "Scores by class (test)",
            "probability of the adverse outcome",
            "share of the class",
            top,
        )?;
        c.draw_series(LineSeries::new(
            d.iter().map(|x| (x.0, x.1)),
            RED.stroke_width(2),
        ))
        .map_err(|e| e.to_string())?
        .label("adverse")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED));
        c.draw_series(LineSeries::new(
            d.iter().map(|x| (x.0, x.2)),
            BLUE.stroke_width(2),
        ))
        .map_err(|e| e.to_string())?
        .label("favourable")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLUE));
        c.configure_series_labels()
            .border_style(BLACK.mix(0.3))
            .background_style(WHITE)
            .draw()
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The HTML report of a training run; `y_test` / `p_test` are the chosen model's test rows.
pub fn html(r: &TrainReport, y_test: &[bool], p_test: &[f64]) -> String {
    let mut h = String::new();
    let (v, t) = (&r.metrics.validation, &r.metrics.test);
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{p} {ver}</title><style>\
         body{{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}\
         th:first-child,td:first-child{{text-align:left}}.chosen{{font-weight:bold}}svg{{margin:4px}}</style></head><body>\
         <h1>{p} <small>{ver}</small></h1>",
        p = esc(&r.pipeline),
        ver = esc(&r.version)
    );
    let params: Vec<String> = r
        .model
        .params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = write!(
        h,
        "<p>Chosen model: <b>{}</b> ({}), {} inputs; decision threshold {:.4} ({}).<br>Gate: {} &mdash; {}</p>",
        esc(&r.model.family),
        esc(&params.join(", ")),
        r.model.n_inputs,
        r.model.threshold,
        r.model.threshold_rule,
        if r.gate.passed { "passed" } else { "refused" },
        esc(&r.gate.reason)
    );
    let _ = write!(
        h,
        "<p>Data: {} rows read, {} duplicates dropped, {} filtered, {} dropped for missing values; \
         train {} / validation {} / test {} rows.</p>",
        r.data.rows_read,
        r.data.duplicates_dropped,
        r.data.rows_filtered,
        r.data.rows_dropped_missing,
        r.data.split.get("train").map_or(0, |c| c.rows),
        r.data.split.get("validation").map_or(0, |c| c.rows),
        r.data.split.get("test").map_or(0, |c| c.rows),
    );
    h.push_str("<h2>Measures</h2><table><tr><th>measure</th><th>validation</th><th>test</th></tr>");
    for (name, a, b) in [
        ("ROC AUC", v.roc_auc, t.roc_auc),
        ("KS", v.ks, t.ks),
        ("Gini", v.gini, t.gini),
        ("accuracy", v.accuracy, t.accuracy),
        ("precision", v.precision, t.precision),
        ("recall", v.recall, t.recall),
        ("F1", v.f1, t.f1),
        ("Brier", v.brier, t.brier),
        ("log loss", v.log_loss, t.log_loss),
    ] {
        let _ = write!(h, "<tr><td>{name}</td><td>{a:.4}</td><td>{b:.4}</td></tr>");
    }
    let c = &t.confusion;
    let _ = write!(
        h,
        "</table><p>Test confusion at the threshold: {} adverse declined, {} adverse approved, \
         {} favourable declined, {} favourable approved.</p>",
        c.tp, c.fn_, c.fp, c.tn
    );
    let _ = write!(
        h,
        "<h2>Families</h2><p>Chosen by {}. Each family's best grid point; its model is then fitted on the training split, and the test columns are for reading only.</p>\
         <table><tr><th>family</th><th>score</th><th>spread</th><th>validation AUC</th><th>test AUC</th><th>test KS</th><th>test Brier</th><th>fit s</th><th>best grid point</th></tr>",
        esc(&r.selection)
    );
    for f in &r.families {
        match (&f.validation_auc, &f.test) {
            (Some(va), Some(tm)) => {
                let params: Vec<String> =
                    f.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let _ = write!(
                    h,
                    "<tr{}><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{va:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.2}</td><td>{}</td></tr>",
                    if f.family == r.model.family {
                        " class=\"chosen\""
                    } else {
                        ""
                    },
                    esc(&f.family),
                    f.score.unwrap_or(f64::NAN),
                    f.spread.unwrap_or(f64::NAN),
                    tm.roc_auc,
                    tm.ks,
                    tm.brier,
                    f.fit_seconds,
                    esc(&params.join(", "))
                );
            }
            _ => {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td colspan=\"8\">skipped: {}</td></tr>",
                    esc(&f.family),
                    esc(f.reason.as_deref().unwrap_or(""))
                );
            }
        }
    }
    h.push_str("</table>");
    importance_table(&mut h, r);
    gains_tables(&mut h, r);
    scorecard_tables(&mut h, r);
    for f in &r.families {
        for pd in &f.partial_dependence {
            let _ = write!(
                h,
                "<h3>Partial dependence of {} on {} (constrained {})</h3><p>Mean probability of the adverse outcome over the training rows with the feature set to each value: {}.</p><table><tr><th>encoded value</th><th>mean probability</th></tr>",
                esc(&f.family),
                esc(&pd.feature),
                if pd.direction > 0 {
                    "never to fall"
                } else {
                    "never to rise"
                },
                if pd.monotone {
                    "monotone as constrained"
                } else {
                    "NOT monotone"
                }
            );
            for (v, p) in pd.values.iter().zip(&pd.mean_probability) {
                let _ = write!(h, "<tr><td>{v:.4}</td><td>{p:.4}</td></tr>");
            }
            h.push_str("</table>");
        }
    }
    h.push_str("</table>");
    for w in r
        .families
        .iter()
        .flat_map(|f| f.warnings.iter().map(move |w| (f, w)))
    {
        let _ = write!(h, "<p>Warning ({}): {}</p>", esc(&w.0.family), esc(w.1));
    }
    h.push_str("<h2>Test split</h2><div>");
    h.push_str(&roc_svg(y_test, p_test, t.roc_auc));
    h.push_str(&calibration_svg(y_test, p_test));
    h.push_str(&distribution_svg(y_test, p_test));
    h.push_str("</div></body></html>\n");
    h
}

/// Each family's test split in score bands (the chosen family's open).
fn gains_tables(h: &mut String, r: &TrainReport) {
    h.push_str("<h2>Gains by score band (test split)</h2>");
    for f in r.families.iter().filter(|f| !f.gains.is_empty()) {
        let _ = write!(
            h,
            "<details{}><summary>{}</summary><table><tr><th>band</th><th>rows</th><th>adverse</th><th>probability</th><th>bad rate</th><th>cumulative adverse</th><th>cumulative favourable</th><th>KS</th></tr>",
            if f.family == r.model.family {
                " open"
            } else {
                ""
            },
            esc(&f.family)
        );
        for g in &f.gains {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.4} - {:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td></tr>",
                g.band,
                g.rows,
                g.adverse,
                g.min_probability,
                g.max_probability,
                g.bad_rate,
                g.cumulative_adverse,
                g.cumulative_favourable,
                g.ks
            );
        }
        h.push_str("</table></details>");
    }
}

/// A scorecard's characteristics (IV ranking), each with its bins and points.
fn scorecard_tables(h: &mut String, r: &TrainReport) {
    let Some((family, card)) = r
        .families
        .iter()
        .find_map(|f| f.scorecard.as_ref().map(|c| (f, c)))
    else {
        return;
    };
    let _ = write!(
        h,
        "<h2>Scorecard</h2><p>{} characteristics, highest information value first{}.</p><table><tr><th>characteristic</th><th>IV</th></tr>",
        card.characteristics.len(),
        if family.family == r.model.family {
            " (the chosen model)"
        } else {
            ""
        }
    );
    for c in &card.characteristics {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{:.4}{}</td></tr>",
            esc(&c.feature),
            c.iv,
            if c.suspicious {
                " (suspicious: above 0.5)"
            } else {
                ""
            }
        );
    }
    h.push_str("</table>");
    if let Some(dropped) = card.dropped.as_array().filter(|d| !d.is_empty()) {
        h.push_str("<p>Dropped:</p><ul>");
        for d in dropped {
            let _ = write!(
                h,
                "<li>{}: {}</li>",
                esc(d["feature"].as_str().unwrap_or("")),
                esc(d["reason"].as_str().unwrap_or(""))
            );
        }
        h.push_str("</ul>");
    }
    for c in &card.characteristics {
        let _ = write!(
            h,
            "<h3>{} (IV {:.4})</h3><table><tr><th>bin</th><th>rows</th><th>share</th><th>bad rate</th><th>WoE</th><th>points</th></tr>",
            esc(&c.feature),
            c.iv
        );
        for b in &c.bins {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{}</td></tr>",
                esc(&b.bin),
                b.rows,
                b.share,
                b.bad_rate,
                b.woe,
                b.points
            );
        }
        h.push_str("</table>");
    }
}

/// Each feature's mean |contribution| per family, features in the chosen family's order.
fn importance_table(h: &mut String, r: &TrainReport) {
    let trained: Vec<_> = r
        .families
        .iter()
        .filter(|f| !f.importance.is_empty())
        .collect();
    let Some(chosen) = trained.iter().find(|f| f.family == r.model.family) else {
        return;
    };
    h.push_str(
        "<h2>Feature importance</h2><p>Mean absolute contribution to the log-odds over the validation rows, as the reasons measure it (exact for logistic regression and gradient boosting, by TreeSHAP for the latter; by substitution for the others).</p><table><tr><th>feature</th>",
    );
    for f in &trained {
        let _ = write!(h, "<th>{}</th>", esc(&f.family));
    }
    h.push_str("</tr>");
    for imp in &chosen.importance {
        let _ = write!(h, "<tr><td>{}</td>", esc(&imp.feature));
        for f in &trained {
            let v = f
                .importance
                .iter()
                .find(|i| i.feature == imp.feature)
                .map_or(f64::NAN, |i| i.mean_abs_contribution);
            let _ = write!(h, "<td>{v:.4}</td>");
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_are_well_formed() {
        let y = [true, false, true, false, false];
        let p = [0.9, 0.8, 0.7, 0.2, 0.2];
        let roc = riskfn_core::review::compare::roc_curve(&y, &p);
        assert_eq!(roc.first(), Some(&(0.0, 0.0)));
        assert_eq!(roc.last(), Some(&(1.0, 1.0)));
        let cal = calibration_bins(&y, &p);
        assert_eq!(cal.iter().map(|b| b.2).sum::<usize>(), 5);
        let d = distributions(&y, &p);
        assert!((d.iter().map(|x| x.1).sum::<f64>() - 1.0).abs() < 1e-12);
        let s = roc_svg(&y, &p, 0.83);
        assert!(
            s.starts_with("<svg") && s.contains("ROC curve"),
            "{}",
            &s[..s.len().min(200)]
        );
    }
}
