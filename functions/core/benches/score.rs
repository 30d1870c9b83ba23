//! Scoring one record without HTTP: the latency of the scoring path itself.
//!
//! `cargo bench -p riskfn-core --bench score -- MODEL_JSON RECORDS_JSON [N]`
//! MODEL_JSON: a version's `model.json`; RECORDS_JSON: a JSON list of raw records.
//! Prints JSON: per-call percentiles of `score_json` (parse + validate + features + model +
//! points + reasons) and of `score_row` on parsed rows without reasons.

use std::time::Instant;

use riskfn_core::contract::artifact::ScoringArtifact;
use riskfn_core::scoring::Scorer;

fn percentiles(mut ns: Vec<u64>) -> serde_json::Value {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    let mean = ns.iter().sum::<u64>() as f64 / ns.len() as f64 / 1000.0;
    serde_json::json!({"n": ns.len(), "p50_us": at(0.5), "p99_us": at(0.99), "mean_us": mean})
}

fn main() {
    // cargo bench passes `--bench`; keep only our positional arguments.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let (Some(model), Some(records)) = (args.first(), args.get(1)) else {
        eprintln!("usage: score MODEL_JSON RECORDS_JSON [N]");
        std::process::exit(2);
    };
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let artifact: ScoringArtifact =
        serde_json::from_slice(&std::fs::read(model).expect("read model")).expect("parse model");
    let family = artifact.model.family();
    let scorer = Scorer::new(artifact, String::new()).expect("valid model");
    let records: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(records).expect("read records"))
            .expect("parse records");
    let schema = &scorer.artifact().raw_schema;
    let rows: Vec<_> = records
        .iter()
        .map(|r| {
            schema
                .parse_record(r, Default::default())
                .expect("valid record")
        })
        .collect();
    let bodies: Vec<Vec<u8>> = records
        .iter()
        .map(|r| serde_json::to_vec(r).unwrap())
        .collect();

    let mut sink = 0.0;
    for i in 0..10_000 {
        sink += scorer
            .score_json(&records[i % records.len()])
            .unwrap()
            .probability;
    }
    let mut json_ns = Vec::with_capacity(n);
    for i in 0..n {
        let body = &bodies[i % bodies.len()];
        let t = Instant::now();
        // From the request bytes, as the handler receives them.
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        sink += scorer.score_json(&v).unwrap().probability;
        json_ns.push(t.elapsed().as_nanos() as u64);
    }
    let mut row_ns = Vec::with_capacity(n);
    for i in 0..n {
        let row = &rows[i % rows.len()];
        let t = Instant::now();
        sink += scorer.score_row(row, false).unwrap().probability;
        row_ns.push(t.elapsed().as_nanos() as u64);
    }
    let out = serde_json::json!({
        "family": family,
        "from_json_bytes_with_reasons": percentiles(json_ns),
        "parsed_row_without_reasons": percentiles(row_ns),
        "checksum": sink,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
