//! The back-test as a page a validator reads: per version, the cohorts' tests with their
//! lights, the grades of all its outcomes, and two plots drawn with plotters: observed
//! against predicted default rate per grade, and cohort by cohort the realised AUC (with
//! DeLong's interval, against the initial AUC) and the observed against the predicted
//! default rate, the version's life in one view; and the vintage curves when the outcomes
//! give months on book.

use std::fmt::Write;

use plotters::prelude::*;

use super::Light;
use super::report::{Backtest, Cohort, Test, VersionBacktest};
use crate::train::report::{chart, esc, svg};

fn light_cell(l: Light) -> String {
    let colour = match l {
        Light::Green => "#cfe8cf",
        Light::Amber => "#f6e3b4",
        Light::Red => "#f3c1c1",
    };
    format!("<td style=\"background:{colour}\">{l}</td>")
}

fn p(t: Option<&Test>) -> String {
    match t {
        Some(t) if t.p < 1e-4 => format!("{:.1e} ({})", t.p, t.light),
        Some(t) => format!("{:.4} ({})", t.p, t.light),
        None => "-".to_owned(),
    }
}

/// The page of a back-test.
pub fn html(b: &Backtest) -> String {
    let mut h = String::new();
    let s = &b.settings;
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{p} back-test</title><style>\
         body{{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}\
         th:first-child,td:first-child{{text-align:left}}svg{{margin:4px}}</style></head><body>\
         <h1>{p}: back-test <small>{at}</small></h1>\
         <p>Performance window {w} months; a test is red below p {red}, amber below {amber}. Overall: <b>{light}</b>.</p>\
         <p>Outcomes loaded: {loads}.</p>",
        p = esc(&b.pipeline),
        at = esc(&b.at),
        w = s.window_months,
        red = s.red,
        amber = s.amber,
        light = b.light,
        loads = b
            .loads
            .iter()
            .map(|(key, fingerprint)| format!("{} (sha256 {})", esc(key), esc(fingerprint)))
            .collect::<Vec<_>>()
            .join(", "),
    );
    for v in &b.versions {
        version(&mut h, v);
    }
    h.push_str("</body></html>\n");
    h
}

fn version(h: &mut String, v: &VersionBacktest) {
    let _ = write!(
        h,
        "<h2>{}</h2><p>Validation AUC at training: {}. Grades: {}.</p>\
         <table><tr><th>cohort</th><th>rows</th><th>bad</th><th>pending</th><th>AUC [95% CI]</th>\
         <th>ECB AUC test</th><th>mean PD</th><th>observed</th><th>Jeffreys</th><th>binomial</th>\
         <th>Hosmer-Lemeshow</th><th>Spiegelhalter</th><th>slope</th><th>concentration</th><th>score PSI</th><th>light</th></tr>",
        esc(&v.version),
        v.initial_auc.map_or("-".to_owned(), |a| format!("{a:.4}")),
        esc(&v.grades_from)
    );
    for c in &v.cohorts {
        let d = c.discrimination.as_ref();
        let k = c.calibration.as_ref();
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}</tr>",
            esc(&c.cohort),
            c.rows,
            c.defaults,
            c.pending,
            d.map_or("-".to_owned(), |d| format!(
                "{:.3} [{:.3}, {:.3}]",
                d.auc, d.auc_interval[0], d.auc_interval[1]
            )),
            p(d.and_then(|d| d.ecb.as_ref())),
            k.map_or("-".to_owned(), |k| format!("{:.4}", k.mean_pd)),
            k.map_or("-".to_owned(), |k| format!("{:.4}", k.observed_rate)),
            p(k.map(|k| &k.jeffreys)),
            p(k.map(|k| &k.binomial)),
            p(k.and_then(|k| k.hosmer_lemeshow.as_ref())),
            p(k.map(|k| &k.spiegelhalter)),
            k.and_then(|k| k.slope)
                .map_or("-".to_owned(), |s| format!("{s:.3}")),
            p(k.and_then(|k| k.concentration.as_ref().map(|c| &c.test))),
            (k.and_then(|k| k.concentration.as_ref()))
                .map_or("-".to_owned(), |c| format!("{:.3} ({})", c.psi, c.psi_band)),
            light_cell(c.light),
        );
    }
    h.push_str("</table>");
    if let Some(all) = v.cohorts.first().and_then(|c| c.calibration.as_ref()) {
        h.push_str(
            "<table><tr><th>grade</th><th>rows</th><th>defaults</th><th>mean PD</th><th>observed</th>\
             <th>Jeffreys</th><th>binomial</th></tr>",
        );
        for g in &all.grades {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{}</td><td>{}</td></tr>",
                g.grade,
                g.rows,
                g.defaults,
                g.mean_pd,
                g.observed_rate,
                p(Some(&g.jeffreys)),
                p(Some(&g.binomial))
            );
        }
        h.push_str("</table>");
        h.push_str(&grades_svg(all));
    }
    h.push_str(&life_svg(v));
    h.push_str(&vintage_svg(v));
}

/// The vintage curves: each cohort's share of loans gone bad by month on book.
fn vintage_svg(v: &VersionBacktest) -> String {
    if v.vintages.is_empty() {
        return String::new();
    }
    let months = v
        .vintages
        .iter()
        .map(|c| c.bad_rate.len())
        .max()
        .unwrap_or(1);
    let top = (v.vintages.iter().flat_map(|c| c.bad_rate.last()))
        .fold(0.05, |a: f64, b| a.max(*b * 1.1))
        .min(1.0);
    svg(|root| {
        let mut c = ChartBuilder::on(root)
            .caption("Vintage curves", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(46)
            .build_cartesian_2d(0.0..months as f64, 0.0..top)
            .map_err(|e| e.to_string())?;
        c.configure_mesh()
            .x_desc("months on book")
            .y_desc("cumulative bad rate")
            .light_line_style(WHITE)
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, vintage) in v.vintages.iter().enumerate() {
            let colour = Palette99::pick(i).stroke_width(2);
            let points = (vintage.bad_rate.iter().enumerate()).map(|(m, r)| ((m + 1) as f64, *r));
            c.draw_series(LineSeries::new(points, colour))
                .map_err(|e| e.to_string())?
                .label(format!("{} ({} loans)", vintage.cohort, vintage.loans))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], Palette99::pick(i))
                });
        }
        c.configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// Observed against predicted default rate per grade, all the version's outcomes.
fn grades_svg(k: &super::report::Calibration) -> String {
    let top = (k.grades.iter())
        .map(|g| g.mean_pd.max(g.observed_rate))
        .fold(0.05, f64::max)
        .min(1.0);
    svg(|root| {
        let mut c = chart(
            root,
            "Calibration per grade (all outcomes)",
            "mean PD",
            "observed default rate",
            top,
        )?;
        c.draw_series(LineSeries::new([(0.0, 0.0), (top, top)], BLACK.mix(0.3)))
            .map_err(|e| e.to_string())?;
        let points = k.grades.iter().map(|g| (g.mean_pd, g.observed_rate));
        c.draw_series(points.map(|p| Circle::new(p, 4, RED.filled())))
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// Cohort by cohort, on one axis: the realised AUC (blue, with its interval) against the
/// initial AUC (the pale line), the observed (red) against the predicted (black) default
/// rate, and the score's PSI against the approved test rows (green triangles).
fn life_svg(v: &VersionBacktest) -> String {
    let cohorts: Vec<&Cohort> = v.cohorts.iter().skip(1).collect();
    if cohorts.is_empty() {
        return String::new();
    }
    let x = |i: usize| (i as f64 + 0.5) / cohorts.len() as f64;
    svg(|root| {
        let names: Vec<&str> = cohorts.iter().map(|c| c.cohort.as_str()).collect();
        let title = format!("By cohort: {} to {}", names[0], names[names.len() - 1]);
        let mut c = chart(root, &title, "cohort (in order)", "AUC; default rate", 1.0)?;
        if let Some(initial) = v.initial_auc {
            c.draw_series(LineSeries::new(
                [(0.0, initial), (1.0, initial)],
                BLUE.mix(0.4),
            ))
            .map_err(|e| e.to_string())?;
        }
        let auc: Vec<(f64, f64, [f64; 2])> = (cohorts.iter().enumerate())
            .filter_map(|(i, c)| {
                c.discrimination
                    .as_ref()
                    .map(|d| (x(i), d.auc, d.auc_interval))
            })
            .collect();
        c.draw_series(LineSeries::new(
            auc.iter().map(|a| (a.0, a.1)),
            BLUE.stroke_width(2),
        ))
        .map_err(|e| e.to_string())?;
        c.draw_series(
            auc.iter().map(|a| {
                PathElement::new(vec![(a.0, a.2[0].max(0.0)), (a.0, a.2[1].min(1.0))], BLUE)
            }),
        )
        .map_err(|e| e.to_string())?;
        let rates: Vec<(f64, f64, f64)> = (cohorts.iter().enumerate())
            .filter_map(|(i, c)| {
                c.calibration
                    .as_ref()
                    .map(|k| (x(i), k.mean_pd, k.observed_rate))
            })
            .collect();
        c.draw_series(LineSeries::new(
            rates.iter().map(|r| (r.0, r.1)),
            BLACK.stroke_width(1),
        ))
        .map_err(|e| e.to_string())?;
        c.draw_series(LineSeries::new(
            rates.iter().map(|r| (r.0, r.2)),
            RED.stroke_width(2),
        ))
        .map_err(|e| e.to_string())?;
        let psi: Vec<(f64, f64)> = (cohorts.iter().enumerate())
            .filter_map(|(i, c)| {
                let k = c.calibration.as_ref()?;
                k.concentration.as_ref().map(|k| (x(i), k.psi.min(1.0)))
            })
            .collect();
        c.draw_series(LineSeries::new(psi.iter().copied(), GREEN.stroke_width(1)))
            .map_err(|e| e.to_string())?;
        c.draw_series(
            psi.iter()
                .map(|p| TriangleMarker::new(*p, 4, GREEN.filled())),
        )
        .map_err(|e| e.to_string())?;
        // Markers, so that a single cohort shows too: AUC blue, predicted black, observed red.
        let marks = (auc
            .iter()
            .map(|a| Circle::new((a.0, a.1), 4, BLUE.filled())))
        .chain(
            rates
                .iter()
                .map(|r| Circle::new((r.0, r.1), 3, BLACK.filled())),
        )
        .chain(
            rates
                .iter()
                .map(|r| Circle::new((r.0, r.2), 4, RED.filled())),
        );
        c.draw_series(marks).map_err(|e| e.to_string())?;
        Ok(())
    })
}
