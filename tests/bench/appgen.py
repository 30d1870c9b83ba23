#!/usr/bin/env python3
"""Synthetic loan applications for the lender benchmark (tests/bench/lender.py): a seeded
Parquet file shaped like a lender's application export.

    python3 tests/bench/appgen.py --rows N [--cols 80] [--seed 7] [--rate 0.08] --out FILE.parquet

Columns (`--cols` in all, 32 to 300): `id` (int64, 1..N), about three quarters numeric
features and one quarter categorical, and the target `default` (int64 0/1, last).

- Numbers: 22 named application and bureau fields (log-normal amounts such as
  annual_income, loan_amount, revolving_balance; ratios such as debt_to_income and
  revolving_utilisation; counts such as delinquencies_2y, enquiries_6m, months_employed
  drawn Poisson or negative binomial and stored as int64), then `bureau_*` fields that carry
  no signal of their own (amounts, shares, counts, scores, and noisy copies of named
  fields). Every numeric column has 5-20 % missing values (nulls).
- Categories, as strings: 8 named fields from 3 to 300 levels (home_ownership,
  loan_purpose, employment_type, verification_status, application_channel, state,
  occupation) plus `employer`, 6,000 levels ("E01234") with Zipf-like frequencies, then
  `attr_*` noise fields of 3 to 300 levels; some with a few nulls.
- The target: a logistic model of the named fields with thresholds (delinquencies,
  utilisation over 85 %, short employment), a square (age), logs (income, loan to income),
  interactions between two numbers (utilisation x debt-to-income) and between a number and
  a category (loan to income x renting, income x self-employment), per-level effects of
  several categoricals (a noisy one per employer), informative missingness (no income
  stated), and an unobserved part; its intercept is solved on a calibration sample so the
  default rate is `--rate` (3-10 %).

Deterministic given seed, rows and cols: rows are made in fixed chunks of 250,000, each
from generators seeded by (seed, chunk) and (seed, chunk, column); level effects and
column parameters are drawn once from the seed. The named fields and the target do not
depend on --cols (the noise columns are added beside them). Row groups of 250,000 rows;
2M rows x 80 columns (286 MB) take about 16 s and 0.6 GB.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

CHUNK = 250_000  # fixed: values must not depend on how the file is cut
CALIBRATION_ROWS = 400_000
MIN_COLS, MAX_COLS = 32, 300
# Scales every term of the logit but the intercept. LightGBM's test AUC on 200k x 80 rows
# (seed 7): 0.79 at 1.0, 0.81 at 1.1, 0.82 at 1.2.
SIGNAL = 1.1

STATES = ("CA TX FL NY PA IL OH GA NC MI NJ VA WA AZ MA TN IN MO MD WI CO MN SC AL LA KY OR OK "
          "CT UT IA NV AR MS KS NM NE ID WV HI NH ME MT RI DE SD ND AK VT WY").split()
PURPOSES = ["debt_consolidation", "credit_card", "home_improvement", "car", "major_purchase",
            "medical", "small_business", "moving", "vacation", "house", "wedding", "education",
            "renewable_energy", "other"]
EMPLOYMENT = ["employed_full_time", "employed_part_time", "self_employed", "retired", "student",
              "unemployed"]
HOME = ["RENT", "MORTGAGE", "OWN", "OTHER"]

# Named numeric fields, in file order, with their Arrow type.
NUMERIC = [("age", pa.int64()), ("annual_income", pa.float64()), ("months_employed", pa.int64()),
           ("loan_amount", pa.float64()), ("loan_term_months", pa.int64()),
           ("interest_rate", pa.float64()), ("instalment", pa.float64()),
           ("bureau_score", pa.int64()), ("debt_to_income", pa.float64()),
           ("revolving_balance", pa.float64()), ("revolving_utilisation", pa.float64()),
           ("total_balance", pa.float64()), ("delinquencies_2y", pa.int64()),
           ("enquiries_6m", pa.int64()), ("open_accounts", pa.int64()),
           ("credit_history_months", pa.int64()), ("public_records", pa.int64()),
           ("collections_12m", pa.int64()), ("savings_balance", pa.float64()),
           ("months_at_address", pa.int64()), ("dependants", pa.int64()),
           ("num_credit_cards", pa.int64())]
CATEGORICAL = ["home_ownership", "loan_purpose", "employment_type", "verification_status",
               "application_channel", "state", "occupation", "employer"]
PROXIED = ["annual_income", "loan_amount", "bureau_score", "revolving_utilisation",
           "debt_to_income", "total_balance", "enquiries_6m", "credit_history_months"]


def zipf(levels, a, b=1.0):
    p = 1.0 / (np.arange(1, levels + 1) + b) ** a
    return np.cumsum(p / p.sum())


def draw(rng, cdf, n):
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(cdf) - 1)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class Spec:
    """Everything drawn once from the seed: level names, frequencies and effects, missing
    shares, and the noise columns' kinds and parameters."""

    def __init__(self, seed, cols, rate):
        self.seed, self.cols, self.rate = seed, cols, rate
        fx = np.random.default_rng(np.random.SeedSequence([seed, 1_000_001]))
        features = cols - 2
        n_cat = round(features / 4)
        n_num = features - n_cat
        self.missing = {name: fx.uniform(0.05, 0.20) for name, _ in NUMERIC}
        cats = {}
        cats["home_ownership"] = (HOME, None, np.array([0.20, -0.15, -0.05, 0.45]), 0.0)
        cats["loan_purpose"] = (PURPOSES, zipf(len(PURPOSES), 1.1, 0.5),
                                fx.normal(0, 0.3, len(PURPOSES)), 0.0)
        cats["employment_type"] = (EMPLOYMENT, np.cumsum([0.62, 0.12, 0.12, 0.08, 0.03, 0.03]),
                                   np.array([0.0, 0.2, 0.25, -0.1, 0.3, 0.7]), 0.01)
        cats["verification_status"] = (["verified", "source_verified", "not_verified"],
                                       np.cumsum([0.35, 0.30, 0.35]), np.array([0.0, 0.05, 0.2]), 0.0)
        cats["application_channel"] = (["online", "branch", "broker", "phone", "partner"],
                                       zipf(5, 1.0), fx.normal(0, 0.2, 5), 0.0)
        cats["state"] = (STATES, zipf(len(STATES), 0.9, 2.0), fx.normal(0, 0.12, len(STATES)), 0.0)
        cats["occupation"] = ([f"OCC{i:03d}" for i in range(300)], zipf(300, 1.2, 3.0),
                              fx.normal(0, 0.25, 300), 0.02)
        employers = 6000
        codes = fx.permutation(np.arange(1, 100_000))[:employers]
        cats["employer"] = ([f"E{c:05d}" for c in codes], zipf(employers, 1.05, 5.0),
                            fx.normal(0, 0.45, employers), 0.04)
        self.cats = {k: (pa.array(levels, pa.string()), cdf, eff, nulls)
                     for k, (levels, cdf, eff, nulls) in cats.items()}
        # Noise columns: parameters depend only on (seed, k), so a wider file is a superset.
        self.noise_num = []
        kinds = ["amt", "pct", "cnt", "scr", "amt", "cnt", "pct", "prx"]
        for k in range(n_num - len(NUMERIC)):
            r = np.random.default_rng(np.random.SeedSequence([seed, 1_000_002, k]))
            kind = kinds[k % len(kinds)]
            p = {"missing": r.uniform(0.05, 0.20)}
            if kind == "amt":
                p.update(mu=r.uniform(5, 11), sigma=r.uniform(0.5, 1.5), zeros=r.uniform(0, 0.3))
            elif kind == "pct":
                p.update(a=r.uniform(0.5, 3), b=r.uniform(1, 6))
            elif kind == "cnt":
                p.update(mean=math.exp(r.uniform(math.log(0.2), math.log(20))), shape=r.uniform(0.5, 5))
            elif kind == "scr":
                p.update(loc=r.uniform(300, 700), scale=r.uniform(20, 120))
            else:
                p.update(of=PROXIED[r.integers(len(PROXIED))], noise=r.uniform(0.7, 2.0))
            self.noise_num.append((f"bureau_{kind}_{k + 1:03d}", kind, p))
        self.noise_cat = []
        for k in range(n_cat - len(CATEGORICAL)):
            r = np.random.default_rng(np.random.SeedSequence([seed, 1_000_003, k]))
            levels = int(round(math.exp(r.uniform(math.log(3), math.log(300)))))
            width = len(str(levels - 1))
            names = pa.array([f"L{i:0{width}d}" for i in range(levels)], pa.string())
            nulls = r.choice([0.0, 0.0, 0.005, 0.02])
            self.noise_cat.append((f"attr_{k + 1:02d}", names, zipf(levels, r.uniform(0.6, 1.5), r.uniform(0, 5)),
                                   nulls))
        _, cal, values = core(np.random.default_rng(np.random.SeedSequence([seed, 1_000_004])),
                              CALIBRATION_ROWS, self, 0.0)
        # Proxies: a named field (logged if an amount), standardised by the calibration
        # sample's mean and deviation, plus noise.
        self.proxy = {}
        for of in PROXIED:
            x = values[of].astype(np.float64)
            log = bool(x.min() >= 0 and x.max() > 1000)
            x = np.log1p(x) if log else x
            self.proxy[of] = (log, x.mean(), x.std())
        lo, hi = -20.0, 10.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if sigmoid(cal + mid).mean() < rate:
                lo = mid
            else:
                hi = mid
        self.intercept = (lo + hi) / 2

    def schema(self):
        fields = [pa.field("id", pa.int64())] + [pa.field(n, t) for n, t in NUMERIC]
        fields += [pa.field(c, pa.string()) for c in CATEGORICAL]
        for name, kind, _ in self.noise_num:
            fields.append(pa.field(name, pa.int64() if kind == "cnt" else pa.float64()))
        fields += [pa.field(name, pa.string()) for name, *_ in self.noise_cat]
        fields.append(pa.field("default", pa.int64()))
        return pa.schema(fields)


def core(rng, n, spec, intercept):
    """`n` rows of the named fields: their Arrow arrays (NUMERIC then CATEGORICAL order,
    missing values masked), the target's logit with `intercept` added, and the fields'
    values before masking (for the proxies)."""
    N = rng.standard_normal
    z_credit, z_wealth = N(n), N(n)
    age = np.clip(np.round(41 + 12 * N(n) + 2 * z_wealth), 18, 85)
    income = np.round(np.exp(10.85 + 0.42 * z_wealth + 0.25 * N(n) + 0.004 * (age - 41)), -2)
    log_inc = np.log(income)
    mu_emp = np.exp(3.3 + 0.025 * (age - 41) + 0.15 * z_wealth)
    months_employed = rng.negative_binomial(1.5, 1.5 / (1.5 + mu_emp))
    home_u = 0.8 * z_wealth + 0.02 * (age - 41) + 0.55 * N(n)
    home = np.where(home_u < -0.32, 0, np.where(home_u < 1.0, 1, 2))
    home[rng.random(n) < 0.02] = 3
    loan = np.clip(np.round(np.exp(9.25 + 0.5 * (log_inc - 10.85) + 0.55 * N(n)), -1), 500, 150_000)
    term = np.array([12, 24, 36, 48, 60])[draw(rng, np.cumsum([0.05, 0.15, 0.45, 0.10, 0.25]), n)]
    score = np.clip(np.round(685 + 52 * z_credit + 22 * N(n)), 300, 850)
    s = (score - 685) / 57
    rate_ = np.clip(0.115 - 0.035 * s + 0.012 * (term == 60) + 0.015 * N(n), 0.04, 0.36)
    monthly = rate_ / 12
    instalment = np.round(loan * monthly / (1 - (1 + monthly) ** -term), 2)
    dti = np.clip(np.exp(np.log(0.22) - 0.12 * z_credit + 0.5 * N(n)), 0, 2.5)
    util = sigmoid(-0.55 * z_credit - 0.3 + 0.9 * N(n))
    util = np.where(rng.random(n) < 0.03, util * rng.uniform(1.0, 1.3, n), util)
    revolving = np.round(np.exp(8.4 + 0.35 * z_wealth + 1.0 * N(n)), 2)
    mortgage = np.where(home == 1, np.exp(11.9 + 0.4 * z_wealth + 0.5 * N(n)), 0.0)
    total_balance = np.round(revolving + mortgage + np.exp(8.8 + 0.9 * N(n)), 2)
    delinq = rng.poisson(np.exp(-1.9 - 0.8 * z_credit))
    enquiries = rng.poisson(np.exp(-0.1 - 0.35 * z_credit + 0.4 * N(n)))
    open_accounts = rng.poisson(np.clip(8 + 2.5 * z_wealth, 1, None))
    history = np.minimum(rng.negative_binomial(4, 4 / (4 + np.clip(age - 18, 1, None) * 12 * 0.6)),
                         (age - 17) * 12)
    public_records = rng.poisson(0.07 * np.exp(-0.6 * z_credit))
    collections = rng.poisson(0.05 * np.exp(-0.8 * z_credit))
    savings = np.where(rng.random(n) < 0.15, 0.0, np.round(np.exp(7.5 + 0.9 * z_wealth + 1.2 * N(n)), 2))
    months_at_address = rng.negative_binomial(1.2, 1.2 / (1.2 + 12 + 1.5 * (age - 18)))
    dependants = rng.poisson(np.where((age > 25) & (age < 60), 1.1, 0.3))
    cards = rng.poisson(np.clip(3 + 0.8 * z_wealth, 0.2, None))

    cat_idx = {"home_ownership": home}
    for c in CATEGORICAL[1:]:
        cat_idx[c] = draw(rng, spec.cats[c][1], n)
    emp = cat_idx["employment_type"]
    self_employed = emp == EMPLOYMENT.index("self_employed")
    # Retired, student, unemployed: no current employment; else at most since 16.
    months_employed = np.where(emp >= 3, 0, np.minimum(months_employed, (age - 16) * 12))

    values = {"age": age, "annual_income": income, "months_employed": months_employed,
              "loan_amount": loan, "loan_term_months": term, "interest_rate": np.round(rate_, 4),
              "instalment": instalment, "bureau_score": score, "debt_to_income": np.round(dti, 4),
              "revolving_balance": revolving, "revolving_utilisation": np.round(util, 4),
              "total_balance": total_balance, "delinquencies_2y": delinq, "enquiries_6m": enquiries,
              "open_accounts": open_accounts, "credit_history_months": history,
              "public_records": public_records, "collections_12m": collections, "savings_balance": savings,
              "months_at_address": months_at_address, "dependants": dependants, "num_credit_cards": cards}
    masks = {name: rng.random(n) < spec.missing[name] for name, _ in NUMERIC}

    lti = np.log(loan / income / 0.2)
    renting = home == 0
    logit = SIGNAL * (
             - 0.62 * s
             + 0.50 * (delinq >= 1) + 0.40 * (delinq >= 3)
             + 0.70 * util + 1.6 * np.maximum(util - 0.85, 0) + 1.4 * util * dti
             - np.where(self_employed, 0.12, 0.42) * (log_inc - 10.85)
             + 0.45 * lti + 0.40 * lti * renting
             + 0.30 * ((age - 45) / 14) ** 2 - 0.12 * (age - 45) / 14
             + 0.09 * np.minimum(enquiries, 10)
             + 0.35 * (months_employed < 12)
             + 0.22 * (term == 60)
             + 0.40 * (public_records >= 1) + 0.30 * (collections >= 1)
             - 0.04 * np.log1p(savings)
             + 0.30 * masks["annual_income"] + 0.15 * masks["months_employed"]
             + 0.25 * N(n)
             + sum(spec.cats[c][2][cat_idx[c]] for c in CATEGORICAL)) + intercept

    arrays = [pa.array(values[name].astype(np.int64 if t == pa.int64() else np.float64), t, mask=masks[name])
              for name, t in NUMERIC]
    for c in CATEGORICAL:
        names, _, _, nulls = spec.cats[c]
        idx = pa.array(cat_idx[c].astype(np.int32), mask=(rng.random(n) < nulls) if nulls else None)
        arrays.append(pc.take(names, idx))
    return arrays, logit, values


def noise(spec, seed, chunk, n, values):
    out = []
    for k, (name, kind, p) in enumerate(spec.noise_num):
        r = np.random.default_rng(np.random.SeedSequence([seed, 2, chunk, k]))
        if kind == "amt":
            v = np.round(np.exp(p["mu"] + p["sigma"] * r.standard_normal(n)), 2)
            v[r.random(n) < p["zeros"]] = 0.0
        elif kind == "pct":
            v = np.round(r.beta(p["a"], p["b"], n), 4)
        elif kind == "cnt":
            v = r.negative_binomial(p["shape"], p["shape"] / (p["shape"] + p["mean"]), n)
        elif kind == "scr":
            v = np.round(p["loc"] + p["scale"] * r.standard_normal(n), 1)
        else:
            log, mean, sd = spec.proxy[p["of"]]
            x = values[p["of"]].astype(np.float64)
            x = np.log1p(x) if log else x
            v = np.round((x - mean) / sd + p["noise"] * r.standard_normal(n), 4)
        out.append(pa.array(v, mask=r.random(n) < p["missing"]))
    for k, (name, names, cdf, nulls) in enumerate(spec.noise_cat):
        r = np.random.default_rng(np.random.SeedSequence([seed, 3, chunk, k]))
        idx = draw(r, cdf, n).astype(np.int32)
        out.append(pc.take(names, pa.array(idx, mask=(r.random(n) < nulls) if nulls else None)))
    return out


def generate(rows, cols, seed, rate, out):
    spec = Spec(seed, cols, rate)
    schema = spec.schema()
    positives = 0
    tmp = out + ".partial"
    with pq.ParquetWriter(tmp, schema) as w:
        for chunk in range(-(-rows // CHUNK)):
            start = chunk * CHUNK
            n = min(CHUNK, rows - start)
            rng = np.random.default_rng(np.random.SeedSequence([seed, 1, chunk]))
            # Every chunk draws CHUNK rows so a short last chunk holds the same values.
            arrays, logit, values = core(rng, CHUNK, spec, spec.intercept)
            y = (rng.random(CHUNK) < sigmoid(logit)).astype(np.int64)
            arrays += noise(spec, seed, chunk, CHUNK, values)
            ids = pa.array(np.arange(start + 1, start + CHUNK + 1, dtype=np.int64))
            table = pa.Table.from_arrays([ids, *arrays, pa.array(y)], schema=schema).slice(0, n)
            positives += int(y[:n].sum())
            w.write_table(table, row_group_size=CHUNK)
    os.replace(tmp, out)
    return spec, positives


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--cols", type=int, default=80, help=f"all columns, id and target included ({MIN_COLS}-{MAX_COLS})")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rate", type=float, default=0.08, help="default rate, 0.03-0.10")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if not MIN_COLS <= a.cols <= MAX_COLS:
        sys.exit(f"--cols must be between {MIN_COLS} and {MAX_COLS}")
    if not 0.03 <= a.rate <= 0.10:
        sys.exit("--rate must be between 0.03 and 0.10")
    if a.rows < 1:
        sys.exit("--rows must be positive")
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    t0 = time.perf_counter()
    _, positives = generate(a.rows, a.cols, a.seed, a.rate, a.out)
    print(f"{a.out}: {a.rows:,} rows, {a.cols} columns, default rate {positives / a.rows:.2%}, "
          f"{os.path.getsize(a.out) / 2**20:.1f} MB, {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
