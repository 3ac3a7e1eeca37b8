"""Benchmark of the engine against metafor: 10,000 fits in one call, exact optima.

Run from the repository root::

    .venv/bin/python benchmarks/engine.py [--m 10000] [--k 20] [--r-sample 100]

Prints, in one run:

1. Intercept-only REML with the Hartung-Knapp-Sidik-Jonkman test, Q-profile CI of τ²
   and prediction interval, at the exact optimum (the default ``control``): one
   ``ketameta.rma`` call on an ``(m, k)`` batch, against metafor's ``rma()`` (+
   ``confint()`` + ``predict()``) in a loop, at metafor's tight settings
   (``control = list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)``) so that both
   compute the same numbers. Target: at least 300 times faster per fit.
2. Meta-regression with two continuous moderators (REML, knha, Q-profile CI of the
   residual τ², pseudo-R²): one call on ``(m, k)`` effects with an ``(m, k, 2)``
   moderator array, against metafor's ``rma(yi, vi, mods = cbind(x1, x2))`` (+
   ``confint()``) in a loop. Target: at least 100 times faster per fit.
3. One three-level ``rma_mv`` fit with cluster-robust (CR2) inference against metafor's
   ``rma.mv()`` and clubSandwich (:func:`multilevel_benchmark`).

metafor's time is measured inside R with ``proc.time()`` on a sample of the rows (so R's
start-up is excluded) and divided by the sample size; ketameta's is the best of three
calls on all rows. The largest relative differences of the estimates against metafor are
printed too. The data are seeded, so runs are comparable; on a shared machine the
absolute times vary, the ratios less so.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from ketameta.models import rma

R_SCRIPT = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
rd <- function(f) as.matrix(read.csv(f, header = FALSE))
Y <- rd(args[1]); V <- rd(args[2]); X1 <- rd(args[3]); X2 <- rd(args[4])
n <- nrow(Y)
ctl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
est <- tau2 <- ci_ub <- b1 <- b2 <- tau2_mr <- rep(NA_real_, n)
t0 <- proc.time()
for (i in seq_len(n)) {
  r <- rma(Y[i, ], V[i, ], method = "REML", test = "knha", control = ctl)
  ci <- confint(r, control = list(tol = 1e-12)); p <- predict(r)
  est[i] <- c(r$b); tau2[i] <- r$tau2; ci_ub[i] <- ci$random["tau^2", "ci.ub"]
}
t_int <- (proc.time() - t0)[["elapsed"]]
t0 <- proc.time()
for (i in seq_len(n)) {
  r <- rma(Y[i, ], V[i, ], mods = cbind(X1[i, ], X2[i, ]), method = "REML", test = "knha",
           control = ctl)
  ci <- confint(r, control = list(tol = 1e-12))
  b1[i] <- r$b[2]; b2[i] <- r$b[3]; tau2_mr[i] <- r$tau2
}
t_mr <- (proc.time() - t0)[["elapsed"]]
write.csv(data.frame(est, tau2, ci_ub, b1, b2, tau2_mr), args[5], row.names = FALSE)
cat(sprintf("%.17g %.17g\n", t_int, t_mr))
cat(R.version.string, "| metafor", as.character(packageVersion("metafor")), "\n")
"""


def simulate(m: int, k: int, seed: int = 20240517):
    """Seeded batch: vi ~ chi2(4)/40 + 0.005, two N(0, 1) moderators,
    yi ~ N(0.3 + 0.2 x1 - 0.1 x2, 0.05 + vi)."""
    rng = np.random.default_rng(seed)
    vi = rng.chisquare(4, size=(m, k)) / 40 + 0.005
    x = rng.normal(size=(m, k, 2))
    yi = rng.normal(0.3 + x @ np.array([0.2, -0.1]), np.sqrt(0.05 + vi))
    return yi, vi, x


def best_of(fn, repeats=3):
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def time_metafor(yi, vi, x):
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = []
        for name, arr in (("y", yi), ("v", vi), ("x1", x[:, :, 0]), ("x2", x[:, :, 1])):
            np.savetxt(tmp / f"{name}.csv", arr, delimiter=",", fmt="%.17g")
            files.append(str(tmp / f"{name}.csv"))
        (tmp / "bench.R").write_text(R_SCRIPT)
        out = subprocess.run(
            [rscript, str(tmp / "bench.R"), *files, str(tmp / "out.csv")],
            capture_output=True, text=True, check=True,
        )
        lines = out.stdout.strip().splitlines()
        t_int, t_mr = (float(v) for v in lines[0].split())
        data = np.genfromtxt(tmp / "out.csv", delimiter=",", skip_header=1)
    return t_int, t_mr, data, lines[1].strip()


def max_rel(a, b):
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.max(np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), 1e-300)))


def max_abs(a, b):
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.max(np.abs(a[ok] - b[ok])))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=10_000, help="number of meta-analyses")
    parser.add_argument("--k", type=int, default=20, help="studies per meta-analysis")
    parser.add_argument("--r-sample", type=int, default=100, help="rows fitted by metafor")
    args = parser.parse_args()

    yi, vi, x = simulate(args.m, args.k)
    print(f"data: m = {args.m}, k = {args.k}, seed 20240517; REML + knha; exact optima")
    t_int, res = best_of(lambda: rma(yi, vi, method="REML", test="knha"))
    t_mr, mr = best_of(lambda: rma(yi, vi, mods=x, method="REML", test="knha"))
    per_int, per_mr = t_int / args.m, t_mr / args.m
    print(f"ketameta  intercept-only, one call (CI, PI, Q-profile CI of tau2): {t_int:.3f} s, "
          f"{per_int * 1e6:.1f} us per fit")
    print(f"ketameta  meta-regression, 2 moderators, one call (QM, QE, R2, Q-profile CI): "
          f"{t_mr:.3f} s, {per_mr * 1e6:.1f} us per fit")

    rows = np.linspace(0, args.m - 1, min(args.r_sample, args.m)).astype(int)
    r = time_metafor(yi[rows], vi[rows], x[rows])
    if r is None:
        print("metafor   Rscript not found; skipped")
        multilevel_benchmark()
        return
    tr_int, tr_mr, data, version = r
    pr_int, pr_mr = tr_int / rows.size, tr_mr / rows.size
    print(f"metafor   {version}; loops of {rows.size} fits timed inside R, tight control")
    print(f"intercept-only: metafor rma() + confint() + predict() {pr_int * 1e6:.0f} us per "
          f"fit -> ketameta {pr_int / per_int:.0f}x faster (target 300x)")
    print(f"meta-regression: metafor rma(mods) + confint() {pr_mr * 1e6:.0f} us per fit -> "
          f"ketameta {pr_mr / per_mr:.0f}x faster (target 100x)")
    print(f"max rel. diff. vs metafor: estimate {max_rel(res.estimate[rows], data[:, 0]):.1e}, "
          f"tau2 CI upper {max_rel(res.tau2_ci_high[rows], data[:, 2]):.1e}; meta-regression "
          f"slopes {max_rel(mr.beta[rows, 1], data[:, 3]):.1e} and "
          f"{max_rel(mr.beta[rows, 2], data[:, 4]):.1e}")
    print(f"max abs. diff. of tau2 vs metafor (its threshold 1e-12 leaves residues where the "
          f"optimum is 0): intercept-only {max_abs(res.tau2[rows], data[:, 1]):.1e}, "
          f"meta-regression {max_abs(mr.tau2[rows], data[:, 5]):.1e}")
    multilevel_benchmark()


# ---- multilevel model and cluster-robust inference ----------------------------------------

R_MV_SCRIPT = r"""
suppressPackageStartupMessages({library(metafor); library(clubSandwich)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
V <- as.matrix(read.csv(args[2], header = FALSE))
reps <- as.integer(args[4])
t0 <- proc.time()
for (i in seq_len(reps)) fit <- rma.mv(yi, V, random = ~ 1 | trial/effect, mods = ~ logdays, data = d)
t_fit <- (proc.time() - t0)[["elapsed"]] / reps
t0 <- proc.time()
ci <- confint(fit)
t_ci <- (proc.time() - t0)[["elapsed"]]
t0 <- proc.time()
for (i in seq_len(reps)) {
  vc <- vcovCR(fit, cluster = d$trial, type = "CR2")
  ct <- coef_test(fit, vcov = vc, test = "Satterthwaite")
  cf <- conf_int(fit, vcov = vc, test = "Satterthwaite")
}
t_cr2 <- (proc.time() - t0)[["elapsed"]] / reps
writeLines(sprintf("%.17g", c(t_fit, t_ci, t_cr2, fit$sigma2, fit$beta, ct$SE, ct$df_Satt)), args[3])
cat(R.version.string, "| metafor", as.character(packageVersion("metafor")), "| clubSandwich",
  as.character(packageVersion("clubSandwich")), "\n")
"""


def simulate_multilevel(n_trials=50, per_trial=4, seed=20261201):
    """Seeded three-level time course: effects at log-spaced days nested in trials."""
    rng = np.random.default_rng(seed)
    days = np.array([1 / 36, 1.0, 3.0, 7.0, 14.0, 28.0])
    rows = []
    for trial in range(n_trials):
        u = rng.normal(0, 0.3)
        for day in np.sort(rng.choice(days, per_trial, replace=False)):
            vi = rng.uniform(0.03, 0.12)
            yi = -0.9 + 0.15 * np.log(day) + u + rng.normal(0, 0.15) + rng.normal(0, np.sqrt(vi))
            rows.append((trial, f"{day:g}", np.log(day), yi, vi))
    trial, effect, logdays, yi, vi = (np.array(c) for c in zip(*rows, strict=True))
    return trial, effect, logdays.astype(float), yi.astype(float), vi.astype(float)


def multilevel_benchmark(repeats=5):
    """One rma_mv fit (k = 200 in 50 trials, three-level, log-days moderator) and CR2."""
    from ketameta import rma_mv, robust, vcalc

    trial, effect, logdays, yi, vi = simulate_multilevel()
    V = vcalc(vi, trial, obs=effect, rho=0.6)
    kw = {"mods": {"logdays": logdays}}
    best = {"fit": np.inf, "ci": np.inf, "cr2": np.inf}
    for _ in range(repeats):
        t0 = time.perf_counter()
        fit = rma_mv(yi, V, trial, effect, profile=False, **kw)
        best["fit"] = min(best["fit"], time.perf_counter() - t0)
        t0 = time.perf_counter()
        full = rma_mv(yi, V, trial, effect, **kw)
        best["ci"] = min(best["ci"], time.perf_counter() - t0 - best["fit"])
        t0 = time.perf_counter()
        rob = robust(fit, trial, type="CR2")
        best["cr2"] = min(best["cr2"], time.perf_counter() - t0)
    print(f"\nrma_mv: k = {yi.size} effects in {np.unique(trial).size} trials, three-level, "
          f"moderator log(days), V = vcalc(rho = 0.6); seed 20261201")
    print(f"ketameta  rma_mv fit: {best['fit'] * 1e3:.1f} ms; profile CIs of both sigma2: "
          f"{best['ci'] * 1e3:.1f} ms; robust(type='CR2') with Satterthwaite df: "
          f"{best['cr2'] * 1e3:.1f} ms")
    rscript = shutil.which("Rscript")
    if rscript is None:
        print("metafor   Rscript not found; skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with open(tmp / "d.csv", "w") as fh:
            fh.write("trial,effect,logdays,yi\n")
            for row in zip(trial, effect, logdays, yi, strict=True):
                fh.write(f"{row[0]},{row[1]},{row[2]:.17g},{row[3]:.17g}\n")
        np.savetxt(tmp / "V.csv", V, delimiter=",", fmt="%.17g")
        (tmp / "bench.R").write_text(R_MV_SCRIPT)
        out = subprocess.run(
            [rscript, str(tmp / "bench.R"), str(tmp / "d.csv"), str(tmp / "V.csv"),
             str(tmp / "out.txt"), str(repeats)],
            capture_output=True, text=True, check=True,
        )
        vals = np.loadtxt(tmp / "out.txt")
    t_fit, t_ci, t_cr2 = vals[:3]
    sigma2, beta, se, df = vals[3:5], vals[5:7], vals[7:9], vals[9:11]
    print(f"metafor   {out.stdout.strip()}")
    print(f"          rma.mv() {t_fit * 1e3:.0f} ms -> ketameta {t_fit / best['fit']:.0f}x faster; "
          f"confint() {t_ci * 1e3:.0f} ms -> {t_ci / best['ci']:.0f}x; clubSandwich CR2 + "
          f"coef_test + conf_int {t_cr2 * 1e3:.0f} ms -> {t_cr2 / best['cr2']:.0f}x")
    print(f"          max rel. diff.: sigma2 {max_rel(full.sigma2, sigma2):.1e} (metafor's "
          f"optimiser tolerance), beta {max_rel(fit.beta, beta):.1e}, CR2 SE "
          f"{max_rel(rob.se, se):.1e}, Satterthwaite df {max_rel(rob.df, df):.1e}")


if __name__ == "__main__":
    main()
