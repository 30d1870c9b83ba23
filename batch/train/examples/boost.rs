//! The booster alone on a level design written by `tests/bench/boosting.py`: a fixed number
//! of trees of one shape, timed, for the per-tree comparison with LightGBM.
//!
//! cargo run --release -p riskfn-train --example boost -- DIR TREES LEAVES LEARNING_RATE MIN_ROWS
//!     [MAX_DEPTH MIN_LEAF_WEIGHT EARLY_STOPPING_ROUNDS]
//!
//! The optional three (default 64, 0.001 and TREES: no early stop) try a grid point's shape
//! at full size.
//!
//! DIR holds `x.f64` (rows x columns, row-major, little-endian; NaN missing or unseen),
//! `y.u8` (1 adverse), `split.u8` (0 train, 1 validation, 2 test) and `categorical.u8`
//! (1 for a column of level positions). Prints one JSON line.

use std::time::Instant;

use ndarray::{Array2, Axis};
use riskfn_train::boosting::{BoostingSpec, Point, fit_booster};
use riskfn_train::metrics::roc_auc;
use riskfn_train::{Rows, probabilities};

fn read(dir: &str, name: &str) -> Vec<u8> {
    std::fs::read(format!("{dir}/{name}")).unwrap_or_else(|e| panic!("{dir}/{name}: {e}"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (dir, trees, leaves, rate, min_rows) = match &args[..] {
        [_, dir, trees, leaves, rate, min_rows, ..] if args.len() <= 9 => {
            (dir, trees, leaves, rate, min_rows)
        }
        _ => {
            eprintln!(
                "usage: boost DIR TREES LEAVES LEARNING_RATE MIN_ROWS [MAX_DEPTH MIN_LEAF_WEIGHT EARLY_STOPPING_ROUNDS]"
            );
            std::process::exit(2);
        }
    };
    let optional = |i: usize| args.get(i).map(|a| a.parse::<f64>().unwrap());
    let (trees, leaves): (usize, usize) = (trees.parse().unwrap(), leaves.parse().unwrap());
    let (rate, min_rows): (f64, usize) = (rate.parse().unwrap(), min_rows.parse().unwrap());
    let categorical: Vec<bool> = read(dir, "categorical.u8")
        .iter()
        .map(|&c| c == 1)
        .collect();
    let y: Vec<bool> = read(dir, "y.u8").iter().map(|&c| c == 1).collect();
    let split = read(dir, "split.u8");
    let values: Vec<f64> = read(dir, "x.f64")
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let x = Array2::from_shape_vec((y.len(), categorical.len()), values).unwrap();
    let part = |s: u8| {
        let rows: Vec<usize> = (0..y.len()).filter(|&i| split[i] == s).collect();
        (
            x.select(Axis(0), &rows),
            rows.iter().map(|&i| y[i]).collect::<Vec<bool>>(),
        )
    };
    let ((xt, yt), (xv, yv), (xs, ys)) = (part(0), part(1), part(2));
    let rows = |x, y| Rows {
        x,
        native: x,
        levels: x,
        categorical: &categorical,
        y,
    };
    let spec = BoostingSpec {
        max_trees: trees,
        early_stopping_rounds: optional(8).map_or(trees, |e| e as usize),
        ..BoostingSpec::default()
    };
    let point = Point {
        max_depth: optional(6).map_or(64, |d| d as usize),
        num_leaves: Some(leaves),
        learning_rate: rate,
        min_leaf_weight: optional(7).unwrap_or(1e-3),
        min_leaf_rows: min_rows,
    };
    let started = Instant::now();
    let m = fit_booster(&spec, point, rows(&xt, &yt), rows(&xv, &yv), 42).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let fitted = m.trees.len();
    let model = riskfn_core::model::Model::GradientBoosting(m);
    let auc = |x: &Array2<f64>, y: &[bool]| roc_auc(y, &probabilities(&model, x));
    println!(
        "{{\"seconds\": {seconds}, \"trees\": {trees}, \"trees_kept\": {fitted}, \"seconds_per_tree\": {}, \"validation_auc\": {}, \"test_auc\": {}, \"train_rows\": {}}}",
        seconds / trees as f64,
        auc(&xv, &yv),
        auc(&xs, &ys),
        yt.len()
    );
}
