#!/usr/bin/env python3
"""SQL preprocessing benchmark: `riskfn prepare` against the tools a data team would
otherwise use on one machine (DuckDB, Polars, pandas), the same steps in each, one run:
read the Parquet file, drop exact duplicate rows (all columns, the first kept), run the
pipeline's SQL (filters and derived columns), split by a hash of the row position (60 %
train), and fit preprocessing on the training rows (median, mean and deviation of each
number; level shares of each category).

    python3 tests/bench/preprocess.py [--datasets distinct,wide,tiled] [--engines riskfn,duckdb,polars,pandas]
        [--rows 10000000] [--wide-rows 5000000] [--python PY] [--riskfn BIN] [--riskfn-base BIN] [--repeat 3]

Datasets, generated once under target/bench/data/:
- distinct: german_credit grown to --rows rows that are all distinct (credit_amount
  shifted by the tile number), the realistic case: few duplicates;
- wide: a lending-club-like export, --wide-rows rows, 52 columns (40 numbers with about
  5 % missing, 12 strings, a few with missing values), all distinct;
- tiled: german_credit tiled to --rows rows in which 9 rows of 10 are exact copies of
  another (the file earlier figures were measured on).

PY needs pyarrow, duckdb, polars and pandas (`pip install duckdb polars pandas pyarrow`).
Each engine runs in a process of its own; wall time and peak memory (`/usr/bin/time`) are
recorded; runs alternate between engines and medians are compared. Results:
target/bench/preprocess.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scoring  # noqa: E402

# The pipelines' SQL, in each engine's words. german_credit's is sql/german_credit's
# (its protected columns left out); wide's is the pipeline this script writes.
GERMAN = {
    "filter": "credit_amount > 0 AND duration_in_month > 0",
    "derived": {
        "monthly_amount": "CAST(credit_amount AS DOUBLE) / duration_in_month",
        "log_credit_amount": "ln(CAST(credit_amount AS DOUBLE))",
        "age_band": "CASE WHEN age_in_years < 25 THEN 'under_25' WHEN age_in_years < 40 THEN '25_to_39' "
                    "WHEN age_in_years < 60 THEN '40_to_59' ELSE '60_plus' END",
    },
    "drop": ["personal_status_and_sex", "foreign_worker"],
    "target": "creditability",
}
WIDE = {
    "filter": "loan_amnt > 0",
    "derived": {
        "loan_to_income": "loan_amnt / NULLIF(annual_inc, 0)",
        "emp_length_filled": "COALESCE(emp_length, 0)",
        "tier": "CASE WHEN grade = 'A' OR grade = 'B' THEN 'prime' ELSE 'other' END",
    },
    "drop": [],
    "target": "loan_status",
}

DUCKDB = r'''
import sys, json, time, duckdb
path, spec = sys.argv[1], json.loads(sys.argv[2])
con = duckdb.connect()
t0 = time.perf_counter()
con.execute(f"CREATE VIEW raw AS SELECT *, row_number() OVER () AS rn FROM read_parquet('{path}')")
cols = [d[0] for d in con.execute("SELECT * FROM raw LIMIT 0").description if d[0] != "rn"]
quoted = ", ".join(f'"{c}"' for c in cols)
derived = ", ".join(f"{e} AS {n}" for n, e in spec["derived"].items())
drop = "".join(f', "{c}"' for c in spec["drop"])
con.execute(f"""CREATE TABLE prepared AS
  SELECT * EXCLUDE (rn{drop}), {derived}, hash(rn) % 100 < 60 AS is_train
  FROM (SELECT {quoted}, min(rn) AS rn FROM raw GROUP BY ALL) WHERE {spec['filter']}""")
t_sql = time.perf_counter() - t0
t0 = time.perf_counter()
types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE prepared)").fetchall())
stats = {}
for c, t in types.items():
    if c in ("is_train", spec["target"]):
        continue
    if t in ("VARCHAR", "BOOLEAN"):
        stats[c] = con.execute(f'SELECT "{c}", count(*) FROM prepared WHERE is_train GROUP BY 1').fetchall()
    else:
        stats[c] = con.execute(f'SELECT median("{c}"), avg("{c}"), stddev_pop("{c}") FROM prepared WHERE is_train').fetchall()
rows = con.execute("SELECT count(*) FROM prepared").fetchone()[0]
print(json.dumps({"rows_out": rows, "seconds": {"read_dedup_sql_split": t_sql, "fit": time.perf_counter() - t0}}))
'''

POLARS = r'''
import sys, json, time, polars as pl
path, spec = sys.argv[1], json.loads(sys.argv[2])
t0 = time.perf_counter()
ctx = pl.SQLContext()
lf = pl.scan_parquet(path).with_row_index("rn", offset=1)
cols = [c for c in lf.collect_schema().names() if c != "rn"]
deduped = lf.unique(subset=cols, keep="first", maintain_order=False)
ctx.register("raw", deduped)
derived = ", ".join(f"{e} AS {n}" for n, e in spec["derived"].items())
df = ctx.execute(f"SELECT *, {derived} FROM raw WHERE {spec['filter']}").drop(spec["drop"]).with_columns(
    (pl.col("rn").hash() % 100 < 60).alias("is_train")).collect()
t_sql = time.perf_counter() - t0
t0 = time.perf_counter()
train = df.filter(pl.col("is_train"))
stats = {}
for c, t in train.schema.items():
    if c in ("is_train", "rn", spec["target"]):
        continue
    if t in (pl.String, pl.Boolean):
        stats[c] = train.group_by(c).len().rows()
    else:
        x = train[c].cast(pl.Float64)
        stats[c] = (x.median(), x.mean(), x.std(ddof=0))
print(json.dumps({"rows_out": df.height, "seconds": {"read_dedup_sql_split": t_sql, "fit": time.perf_counter() - t0}}))
'''

PANDAS = r'''
import sys, json, time
import numpy as np, pandas as pd
path, spec = sys.argv[1], json.loads(sys.argv[2])
t0 = time.perf_counter()
df = pd.read_parquet(path)
rn = np.arange(1, len(df) + 1, dtype=np.uint64)
keep = ~df.duplicated(keep="first").to_numpy()
df, rn = df[keep], rn[keep]
m = df.eval(spec["filter"].replace(" AND ", " and ")).to_numpy()
df, rn = df[m].drop(columns=spec["drop"]), rn[m]
if spec["target"] == "creditability":
    df["monthly_amount"] = df.credit_amount.astype(float) / df.duration_in_month
    df["log_credit_amount"] = np.log(df.credit_amount.astype(float))
    df["age_band"] = np.select([df.age_in_years < 25, df.age_in_years < 40, df.age_in_years < 60],
                               ["under_25", "25_to_39", "40_to_59"], "60_plus")
else:
    df["loan_to_income"] = df.loan_amnt / df.annual_inc.replace(0, np.nan)
    df["emp_length_filled"] = df.emp_length.fillna(0)
    df["tier"] = np.where(df.grade.isin(["A", "B"]), "prime", "other")
train = df[pd.util.hash_array(rn) % 100 < 60]
t_sql = time.perf_counter() - t0
t0 = time.perf_counter()
stats = {}
for c in train.columns:
    if c == spec["target"]:
        continue
    if not pd.api.types.is_numeric_dtype(train[c]):
        stats[c] = train[c].fillna("missing").value_counts(normalize=True).to_dict()
    else:
        x = train[c].astype(float)
        stats[c] = (x.median(), x.mean(), x.std(ddof=0))
print(json.dumps({"rows_out": int(len(df)), "seconds": {"read_dedup_sql_split": t_sql, "fit": time.perf_counter() - t0}}))
'''

GEN_DISTINCT = r'''
import sys, os, pyarrow as pa, pyarrow.parquet as pq, pyarrow.compute as pc
t = pq.read_table(sys.argv[1]); n = int(sys.argv[3]); reps = -(-n // t.num_rows)
w = pq.ParquetWriter(sys.argv[2] + ".partial", t.schema)
done, parts = 0, []
for k in range(reps):
    take = min(t.num_rows, n - done)
    part = t.slice(0, take)
    # Shifted by the tile number itself: every tile differs, so rows are distinct.
    amount = pc.add(part.column("credit_amount"), pa.scalar(k, pa.int64()))
    parts.append(part.set_column(part.schema.get_field_index("credit_amount"), "credit_amount", amount))
    done += take
    if sum(p.num_rows for p in parts) >= 1_000_000 or done == n:
        w.write_table(pa.concat_tables(parts), row_group_size=1_000_000); parts = []
w.close(); os.rename(sys.argv[2] + ".partial", sys.argv[2])
'''

GEN_WIDE = r'''
import sys, os, numpy as np, pyarrow as pa, pyarrow.parquet as pq
out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(20261206)
CHUNK = 500_000
LEVELS = {"grade": list("ABCDEFG"), "home_ownership": ["RENT", "OWN", "MORTGAGE", "OTHER"],
          "purpose": [f"purpose_{i}" for i in range(14)], "addr_state": [f"S{i:02d}" for i in range(50)],
          "verification_status": ["Verified", "Source Verified", "Not Verified"], "term": ["36 months", "60 months"],
          "application_type": ["Individual", "Joint App"], "initial_list_status": ["w", "f"],
          "emp_title_group": [f"title_{i}" for i in range(30)], "sub_grade": [f"{g}{k}" for g in "ABCDEFG" for k in range(1, 6)],
          "disbursement_method": ["Cash", "DirectPay"], "hardship_flag": ["N", "Y"]}
NUMS = ["loan_amnt", "annual_inc", "emp_length", "int_rate", "installment", "dti"] + [f"x{i:02d}" for i in range(34)]
w = None
for start in range(0, n, CHUNK):
    m = min(CHUNK, n - start)
    cols = {}
    for i, c in enumerate(NUMS):
        v = rng.lognormal(8 + (i % 5), 1.0, m) if c in ("loan_amnt", "annual_inc") else rng.normal(i, 1 + i % 7, m)
        mask = rng.random(m) < 0.05 if c != "loan_amnt" else np.zeros(m, bool)
        cols[c] = pa.array(np.round(v, 2), mask=mask)
    for c, levels in LEVELS.items():
        idx = rng.integers(0, len(levels), m)
        mask = rng.random(m) < (0.03 if c in ("emp_title_group", "hardship_flag") else 0.0)
        cols[c] = pa.array(np.array(levels, dtype=object)[idx], mask=mask)
    p = 1 / (1 + np.exp(-(rng.normal(-1.6, 1, m))))
    cols["loan_status"] = pa.array(np.where(rng.random(m) < p, "Charged Off", "Fully Paid"))
    t = pa.table(cols)
    if w is None:
        w = pq.ParquetWriter(out + ".partial", t.schema)
    w.write_table(t, row_group_size=CHUNK)
w.close(); os.rename(out + ".partial", out)
'''

WIDE_TOML = '''# A lending-club-like export for the preprocessing benchmark (tests/bench/preprocess.py).
[source]
path = "{data}"
[target]
column = "loan_status"
positive = "Charged Off"
[cleaning]
missing = "impute"
[split]
method = "hash"
train = 60
validation = 20
[models]
families = ["logistic_regression"]
'''
WIDE_SQL = "SELECT *, " + ", ".join(f"{e} AS {n}" for n, e in WIDE["derived"].items()) + \
    f" FROM raw WHERE {WIDE['filter']}\n"


def dataset(name, target, python, rows, wide_rows):
    data_dir = os.path.join(target, "bench", "data")
    os.makedirs(data_dir, exist_ok=True)
    small = os.path.join(scoring.REPO, "sql/german_credit/data/german_credit.parquet")
    if name == "tiled":
        return scoring.ensure_tiled(target, python, rows), "german_credit", GERMAN, rows
    if name == "distinct":
        path = os.path.join(data_dir, f"german_distinct_{rows}.parquet")
        if not os.path.exists(path):
            subprocess.run([python, "-c", GEN_DISTINCT, small, path, str(rows)], check=True)
        return path, "german_credit", GERMAN, rows
    path = os.path.join(data_dir, f"wide_{wide_rows}.parquet")
    if not os.path.exists(path):
        subprocess.run([python, "-c", GEN_WIDE, path, str(wide_rows)], check=True)
    pipe = os.path.join(data_dir, "pipelines", "wide")
    os.makedirs(pipe, exist_ok=True)
    with open(os.path.join(pipe, "pipeline.toml"), "w") as f:
        f.write(WIDE_TOML.format(data=path))
    with open(os.path.join(pipe, "01_features.sql"), "w") as f:
        f.write(WIDE_SQL)
    return path, pipe, WIDE, wide_rows


def timed(cmd):
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed:\n{p.stderr[-3000:]}")
    return wall, int(p.stderr.strip().splitlines()[-1]) / 1024, p.stdout


def run(engine, path, pipeline, spec, riskfn, python):
    if engine in riskfn:
        wall, peak, out = timed([riskfn[engine], "prepare", "--pipeline", pipeline, "--data", path, "--json"])
        r = json.loads(out)
        return {"wall_seconds": wall, "peak_mb": peak, "rows_out": sum(s["rows"] for s in r["data"]["split"].values()),
                "duplicates_dropped": r["data"]["duplicates_dropped"], "steps": r.get("seconds")}
    script = {"duckdb": DUCKDB, "polars": POLARS, "pandas": PANDAS}[engine]
    wall, peak, out = timed([python, "-c", script, path, json.dumps(spec)])
    r = json.loads(out.strip().splitlines()[-1])
    return {"wall_seconds": wall, "peak_mb": peak, "rows_out": r["rows_out"], "steps": r["seconds"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="distinct,wide,tiled")
    ap.add_argument("--engines", default="riskfn,duckdb,polars,pandas")
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--wide-rows", type=int, default=5_000_000)
    ap.add_argument("--python", default=sys.executable, help="a Python with pyarrow, duckdb, polars and pandas")
    ap.add_argument("--riskfn", help="the riskfn binary (default: the bench-fast build, built if missing)")
    ap.add_argument("--riskfn-base", help="another riskfn binary (the build before a change), run as engine "
                                          "riskfn-base in the same rounds")
    ap.add_argument("--repeat", type=int, default=3, help="alternating runs of each engine; medians compared")
    a = ap.parse_args()
    os.chdir(scoring.REPO)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(scoring.REPO, "target"))
    engines = a.engines.split(",")
    riskfn = {"riskfn": a.riskfn or scoring.batch_binary(target)} if "riskfn" in engines else {}
    if a.riskfn_base:
        riskfn["riskfn-base"] = a.riskfn_base
        engines.insert(1, "riskfn-base")
    results = {"loadavg_start": os.getloadavg(), "datasets": {}}
    for name in a.datasets.split(","):
        path, pipeline, spec, rows = dataset(name, target, a.python, a.rows, a.wide_rows)
        runs = {e: [] for e in engines}
        for _ in range(max(1, a.repeat)):
            for e in engines:
                r = run(e, path, pipeline, spec, riskfn, a.python)
                runs[e].append(r)
                print(f"{name:9} {e:11} {r['wall_seconds']:7.2f} s  peak {r['peak_mb']:7.0f} MB  rows out {r['rows_out']:,}",
                      flush=True)
        summary = {e: {"median_seconds": statistics.median(r["wall_seconds"] for r in rs),
                       "peak_mb": max(r["peak_mb"] for r in rs), "runs": rs} for e, rs in runs.items()}
        results["datasets"][name] = {"rows": rows, "file": path, "engines": summary}
        if "riskfn" in summary:
            base = summary["riskfn"]["median_seconds"]
            for e, s in summary.items():
                print(f"{name:9} {e:11} median {s['median_seconds']:7.2f} s, peak {s['peak_mb']:7.0f} MB, "
                      f"{s['median_seconds'] / base:5.2f}x riskfn's time")
    results["loadavg_end"] = os.getloadavg()
    with open(os.path.join(target, "bench", "preprocess.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
