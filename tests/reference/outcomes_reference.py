"""Expected back-testing statistics for batch/src/outcomes/stats.rs, from scipy, statsmodels
and scikit-learn, on a fixed portfolio written into the output with them.

The portfolio: 400 applicants with a PD rounded to 2 decimals (so scores tie), an outcome
drawn at 1.3 times the PD (a model that underestimates), a challenger's PD on the same
applicants, and each applicant's grade (the PD's decile among them). DeLong's variance is
computed from its definition (the structural components, an O(m n) double loop: DeLong,
DeLong and Clarke-Pearson 1988), independently of the midrank algorithm the Rust side uses,
and the paired test and the AUC's interval also by MLstatkit's Delong_test, a published
implementation.

Usage: python tests/reference/outcomes_reference.py > tests/reference/outcomes_stats.json
(scipy 1.17.1, statsmodels 0.15.0, scikit-learn 1.9.1, MLstatkit 0.1.91 produced the
committed file)
"""
import json
import math

import numpy as np
import statsmodels.api as sm
from MLstatkit import Delong_test
from scipy.stats import beta, binom, chi2, ks_2samp, norm
from sklearn.metrics import roc_auc_score

from splitmix import splitmix64


def uniform(i, salt):
    return splitmix64(i * 8 + salt) / 2.0**64


n = 400
pd = np.array([round(0.02 + 0.5 * uniform(i, 1) ** 2, 2) for i in range(n)])
y = np.array([uniform(i, 2) < 1.3 * pd[i] for i in range(n)], dtype=int)
challenger = np.array([round(min(0.99, pd[i] * (0.5 + uniform(i, 3))), 3) for i in range(n)])
# Grades: the PD's decile (ties share the lower grade), 0 lowest.
cuts = np.quantile(pd, np.linspace(0.1, 0.9, 9))
grade = np.searchsorted(cuts, pd, side="left")


def delong_components(score):
    pos, neg = score[y == 1], score[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return psi.mean(axis=1), psi.mean(axis=0)


v10, v01 = delong_components(pd)
w10, w01 = delong_components(challenger)
m, k = len(v10), len(v01)
auc = roc_auc_score(y, pd)
var = v10.var(ddof=1) / m + v01.var(ddof=1) / k
auc_c = roc_auc_score(y, challenger)
var_c = w10.var(ddof=1) / m + w01.var(ddof=1) / k
cov = np.cov(v10, w10)[0, 1] / m + np.cov(v01, w01)[0, 1] / k
z_paired = (auc - auc_c) / math.sqrt(var + var_c - 2 * cov)
# MLstatkit tests B against A: its z has the other sign.
mls_z, mls_p, mls_ci_a = Delong_test(y, pd, challenger)[:3]
auc_init = 0.80
s_ecb = (auc_init - auc) / math.sqrt(var)

grades = []
hl = 0.0
for g in range(int(grade.max()) + 1):
    sel = grade == g
    rows, defaults = int(sel.sum()), int(y[sel].sum())
    mean_pd = float(pd[sel].mean())
    expected = float(pd[sel].sum())
    hl += (defaults - expected) ** 2 / (expected * (1 - expected / rows))
    grades.append({
        "grade": g,
        "rows": rows,
        "defaults": defaults,
        "mean_pd": mean_pd,
        "jeffreys_p": float(beta.cdf(mean_pd, defaults + 0.5, rows - defaults + 0.5)),
        "binomial_p": float(binom.sf(defaults - 1, rows, mean_pd)),
    })
n_grades = len(grades)

logit = np.log(pd / (1 - pd))
fit = sm.Logit(y, sm.add_constant(logit)).fit(method="newton", tol=1e-14, maxiter=100, disp=0)
spiegel_z = float(((y - pd) * (1 - 2 * pd)).sum() / math.sqrt(((1 - 2 * pd) ** 2 * pd * (1 - pd)).sum()))

initial_counts = [60, 50, 45, 40, 40, 35, 35, 35, 30, 30]
current_counts = [sum(1 for g in grade if g == i) for i in range(n_grades)]


def cv(counts):
    r = np.array(counts, dtype=float) / sum(counts)
    kk = len(counts)
    return math.sqrt(kk * ((r - 1 / kk) ** 2).sum())


cv_init, cv_curr = cv(initial_counts), cv(current_counts)
herfindahl = 1 + math.log((cv_curr**2 + 1) / n_grades) / math.log(n_grades)
herf_stat = math.sqrt(n_grades - 1) * (cv_curr - cv_init) / math.sqrt(cv_curr**2 * (0.5 + cv_curr**2))

out = {
    "pd": pd.tolist(),
    "outcome": y.tolist(),
    "challenger": challenger.tolist(),
    "grade": grade.tolist(),
    "auc": auc,
    "auc_variance": var,
    "ks": float(ks_2samp(pd[y == 1], pd[y == 0]).statistic),
    "auc_init": auc_init,
    "ecb_s": s_ecb,
    "ecb_p": float(norm.sf(s_ecb)),
    "challenger_auc": auc_c,
    "paired_z": z_paired,
    "paired_p": float(2 * norm.sf(abs(z_paired))),
    "mlstatkit_paired_z": float(-mls_z),
    "mlstatkit_paired_p": float(mls_p),
    "mlstatkit_auc_ci": [float(mls_ci_a[0]), float(mls_ci_a[1])],
    "grades": grades,
    "portfolio_jeffreys_p": float(beta.cdf(pd.mean(), y.sum() + 0.5, n - y.sum() + 0.5)),
    "portfolio_binomial_p": float(binom.sf(y.sum() - 1, n, pd.mean())),
    "hosmer_lemeshow": hl,
    "hosmer_lemeshow_p": float(chi2.sf(hl, n_grades - 2)),
    "spiegelhalter_z": spiegel_z,
    "spiegelhalter_p": float(2 * norm.sf(abs(spiegel_z))),
    "calibration_intercept": float(fit.params[0]),
    "calibration_slope": float(fit.params[1]),
    "brier": float(((pd - y) ** 2).mean()),
    "initial_counts": initial_counts,
    "cv_initial": cv_init,
    "cv_current": cv_curr,
    "herfindahl": herfindahl,
    "herfindahl_p": float(norm.sf(herf_stat)),
}
print(json.dumps(out, indent=1))
