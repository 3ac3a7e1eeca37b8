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


BAYES_R_SCRIPT = r"""
suppressPackageStartupMessages(library(bayesmeta))
args <- commandArgs(trailingOnly = TRUE)
Y <- as.matrix(read.csv(args[1], header = FALSE))
V <- as.matrix(read.csv(args[2], header = FALSE))
n <- nrow(Y)
out <- matrix(NA_real_, n, 2)
t0 <- proc.time()
for (i in seq_len(n)) {
  b <- bayesmeta(Y[i, ], sqrt(V[i, ]), tau.prior = function(t) dhalfnormal(t, scale = 0.5))
  out[i, ] <- c(b$summary["median", "mu"], b$summary["median", "tau"])
}
t_loop <- (proc.time() - t0)[["elapsed"]]
write.csv(data.frame(mu = out[, 1], tau = out[, 2]), args[3], row.names = FALSE)
cat(sprintf("%.17g\n", t_loop))
cat(R.version.string, "| bayesmeta", as.character(packageVersion("bayesmeta")), "\n")
"""

MH_R_SCRIPT = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
A <- as.matrix(read.csv(args[1], header = FALSE))
N1 <- as.matrix(read.csv(args[2], header = FALSE))
C <- as.matrix(read.csv(args[3], header = FALSE))
N2 <- as.matrix(read.csv(args[4], header = FALSE))
n <- nrow(A)
est <- rep(NA_real_, n)
t0 <- proc.time()
for (i in seq_len(n)) {
  r <- suppressWarnings(rma.mh(ai = A[i, ], n1i = N1[i, ], ci = C[i, ], n2i = N2[i, ], measure = "OR"))
  est[i] <- c(r$beta)
}
t_loop <- (proc.time() - t0)[["elapsed"]]
write.csv(data.frame(est = est), args[5], row.names = FALSE)
cat(sprintf("%.17g\n", t_loop))
"""


def _run_r(script, arrays, r_package):
    """Run an R benchmark script on CSV copies of ``arrays``; None if R or the package is absent."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None, "Rscript not found"
    probe = subprocess.run([rscript, "-e", f"library({r_package})"], capture_output=True)
    if probe.returncode != 0:
        return None, f"R package {r_package} not installed"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = []
        for i, a in enumerate(arrays):
            np.savetxt(tmp / f"x{i}.csv", a, delimiter=",", fmt="%.17g")
            files.append(str(tmp / f"x{i}.csv"))
        (tmp / "bench.R").write_text(script)
        out = subprocess.run(
            [rscript, str(tmp / "bench.R"), *files, str(tmp / "out.csv")],
            capture_output=True, text=True, check=True,
        )
        lines = out.stdout.strip().splitlines()
        data = np.genfromtxt(tmp / "out.csv", delimiter=",", skip_header=1)
    return (float(lines[0]), np.atleast_2d(data.T).T, lines[1:]), None


def bench_bayesmeta(m=10_000, k=5, r_sample=10):
    """10,000 Bayesian fits (half-normal(0.5) prior on tau) against a bayesmeta() loop."""
    from ketameta import bayesmeta

    yi, vi = simulate(m, k)
    prior = {"family": "halfnormal", "scale": 0.5}
    t0 = time.perf_counter()
    res = bayesmeta(yi, vi, prior)
    t_km = time.perf_counter() - t0
    per_km = t_km / m
    print(f"\nbayesmeta: m = {m} meta-analyses, k = {k}, half-normal(0.5) prior on tau")
    print(f"ketameta  one batch call: {t_km:.2f} s total, {per_km * 1e3:.3f} ms per fit "
          f"(posteriors of tau, mu, theta_new and {k} shrinkage estimates)")
    rs = np.linspace(0, m - 1, r_sample).astype(int)
    r, why = _run_r(BAYES_R_SCRIPT, [yi[rs], vi[rs]], "bayesmeta")
    if r is None:
        print(f"bayesmeta (R) skipped: {why}")
        return
    t_loop, data, version = r
    per_r = t_loop / rs.size
    print(f"R         {version[0].strip()}; loop of {rs.size} bayesmeta() fits timed inside R: "
          f"{per_r * 1e3:.0f} ms per fit -> ketameta {per_r / per_km:.0f}x faster per fit")
    print(f"          max |difference| of the mu median / posterior sd: "
          f"{np.max(np.abs(res.mu.median[rs] - data[:, 0]) / res.mu.sd[rs]):.1e} "
          f"(bayesmeta's default DIRECT grid, delta = 0.01)")


def bench_rma_mh(m=10_000, k=10, r_sample=200):
    """Mantel-Haenszel odds ratios: one rma_mh batch call against an rma.mh() loop."""
    from ketameta import rma_mh

    rng = np.random.default_rng(20240517)
    n1 = rng.integers(20, 200, (m, k)).astype(float)
    n2 = rng.integers(20, 200, (m, k)).astype(float)
    p2 = rng.uniform(0.01, 0.2, (m, k))
    a = rng.binomial(n1.astype(int), np.clip(p2 * 1.3, 0, 1)).astype(float)
    c = rng.binomial(n2.astype(int), p2).astype(float)
    t0 = time.perf_counter()
    res = rma_mh("OR", ai=a, n1i=n1, ci=c, n2i=n2)
    t_km = time.perf_counter() - t0
    per_km = t_km / m
    print(f"\nrma_mh: m = {m} meta-analyses of k = {k} tables, odds ratio")
    print(f"ketameta  one batch call: {t_km:.2f} s total, {per_km * 1e6:.0f} us per fit")
    rs = np.linspace(0, m - 1, r_sample).astype(int)
    r, why = _run_r(MH_R_SCRIPT, [a[rs], n1[rs], c[rs], n2[rs]], "metafor")
    if r is None:
        print(f"rma.mh (R) skipped: {why}")
        return
    t_loop, data, _ = r
    per_r = t_loop / rs.size
    print(f"metafor   loop of {rs.size} rma.mh() fits timed inside R: {per_r * 1e6:.0f} us per "
          f"fit -> ketameta {per_r / per_km:.0f}x faster; max rel. diff. of the estimate "
          f"{max_rel(res.estimate[rs], data[:, 0]):.1e}")


# ----------------------------------------------------------------------------- GOSH

R_GOSH = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], header = FALSE)
fit <- rma(d[[1]], d[[2]], method = "REML")
n <- as.numeric(args[2])
t0 <- proc.time()
g <- if (is.na(n)) gosh(fit, progbar = FALSE) else gosh(fit, subsets = n, progbar = FALSE)
t1 <- proc.time() - t0
write.csv(g$res, args[3], row.names = FALSE)
cat(sprintf("%.17g %d\n", t1[["user.self"]] + t1[["sys.self"]], nrow(g$res)))
"""


def time_gosh_metafor(yi, vi, subsets=None):
    """metafor's gosh() timed inside R: (CPU seconds, number of fits, its result table)."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.savetxt(tmp / "d.csv", np.column_stack([yi, vi]), delimiter=",", fmt="%.17g")
        (tmp / "g.R").write_text(R_GOSH)
        out = subprocess.run(
            [rscript, str(tmp / "g.R"), str(tmp / "d.csv"), str(subsets or "NA"),
             str(tmp / "res.csv")],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        seconds, fits = out.stdout.split()
        return float(seconds), int(fits), pd.read_csv(tmp / "res.csv")


def benchmark_gosh(k_all=15, k_big=20, r_sample=2000):
    """``gosh()`` on k = 15 (every subset, against metafor) and k = 20 (1,048,575 subsets).

    metafor fits every subset at k = 15; at k = 20 it is timed on ``r_sample`` random
    subsets and its per-fit time extrapolated. Times are CPU seconds of the process (R:
    user + system of ``proc.time()``; Python: ``time.process_time()``), which a busy
    machine distorts far less than wall-clock time; both sides run single-threaded. Peak
    memory of ketameta at k = 20 is measured in a second run under ``tracemalloc`` (Python
    and NumPy allocations).
    """
    import tracemalloc

    from ketameta.gosh import gosh

    rng = np.random.default_rng(20240517)
    vi = rng.chisquare(4, k_big) / 40 + 0.005
    yi = rng.normal(0.3, np.sqrt(0.05 + vi))
    print(f"\nGOSH (REML, every subset; seeded data, k = {k_all} and k = {k_big})")
    start = time.process_time()
    small = gosh(yi[:k_all], vi[:k_all], method="REML")
    t_small = time.process_time() - start
    print(f"ketameta  k = {k_all}: {small.n_subsets:,} subsets in {t_small:.2f} s CPU "
          f"({t_small / small.n_subsets * 1e6:.1f} us per subset)")
    start = time.process_time()
    big = gosh(yi, vi, method="REML")
    t_big = time.process_time() - start
    print(f"ketameta  k = {k_big}: {big.n_subsets:,} subsets in {t_big:.2f} s CPU "
          f"({t_big / big.n_subsets * 1e6:.1f} us per subset)")
    del big
    tracemalloc.start()
    big = gosh(yi, vi, method="REML")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    result_mb = (big.members.nbytes + 12 * big.estimate.nbytes) / 2**20
    print(f"          peak memory at k = {k_big}: {peak / 2**20:.0f} MiB (of which the result "
          f"itself {result_mb:.0f} MiB: membership matrix and 12 columns)")
    del big
    r = time_gosh_metafor(yi[:k_all], vi[:k_all])
    if r is None:
        print("metafor   Rscript not found; skipped")
        return
    t_r, fits, table = r
    print(f"metafor   gosh() k = {k_all}: {fits:,} fits in {t_r:.1f} s CPU -> ketameta "
          f"{t_r / t_small:.0f}x faster")
    print(f"          max rel. diff. vs metafor: estimate "
          f"{max_rel(small.estimate, table['estimate'].to_numpy()):.2e}; I2 "
          f"{np.nanmax(np.abs(small.I2 - table['I2'].to_numpy())):.2e} (abs., percent)")
    r = time_gosh_metafor(yi, vi, r_sample)
    t_r, fits, _ = r
    per = t_r / fits
    print(f"metafor   gosh() k = {k_big}: {fits:,} random subsets in {t_r:.1f} s CPU, "
          f"{per * 1e3:.2f} ms per fit -> {per * (2**k_big - 1) / 60:.0f} min for all "
          f"{2**k_big - 1:,}; ketameta {per * (2**k_big - 1) / t_big:.0f}x faster")


if __name__ == "__main__":
    main()
    bench_bayesmeta()
    bench_rma_mh()
    benchmark_gosh()
