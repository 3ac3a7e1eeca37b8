"""Benchmark of the batch engine: 10,000 meta-analyses (k = 20) with REML + Knapp-Hartung.

Run from the repository root::

    .venv/bin/python benchmarks/engine.py [--m 10000] [--k 20] [--r-sample 200]

Compares one ``ketameta.rma`` batch call with

* PyMARE (same process): its own batching over parallel datasets
  (``VarianceBasedLikelihoodEstimator("REML")`` with Knapp-Hartung) for all rows, and a
  plain loop over a sample;
* metafor's ``rma()`` in a loop over a sample of rows, via ``Rscript`` when it is on the
  PATH. R's time is measured inside R with ``proc.time()`` so R's start-up and package
  loading are excluded; it is reported for ``rma()`` alone and for ``rma()`` +
  ``confint()`` + ``predict()`` (which is what one ketameta fit computes).

Prints per-fit times, the speed ratios, and the largest relative differences of the pooled
estimates (and τ²) against both. The data are seeded, so runs are comparable.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from ketameta._batch import as_batch
from ketameta.models import fit_batch, rma, tau2_root

R_SCRIPT = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
Y <- as.matrix(read.csv(args[1], header = FALSE))
V <- as.matrix(read.csv(args[2], header = FALSE))
n <- nrow(Y)
est <- tau2 <- rep(NA_real_, n)
t0 <- proc.time()
for (i in seq_len(n)) {
  r <- tryCatch(rma(Y[i, ], V[i, ], method = "REML", test = "knha"), error = function(e) NULL)
  if (!is.null(r)) { est[i] <- c(r$b); tau2[i] <- r$tau2 }
}
t_rma <- (proc.time() - t0)[["elapsed"]]
t0 <- proc.time()
for (i in seq_len(n)) {
  r <- tryCatch(rma(Y[i, ], V[i, ], method = "REML", test = "knha"), error = function(e) NULL)
  if (!is.null(r)) { ci <- confint(r); p <- predict(r) }
}
t_full <- (proc.time() - t0)[["elapsed"]]
write.csv(data.frame(est = est, tau2 = tau2), args[3], row.names = FALSE)
cat(sprintf("%.17g %.17g\n", t_rma, t_full))
cat(R.version.string, "| metafor", as.character(packageVersion("metafor")), "\n")
"""


def simulate(m: int, k: int, seed: int = 20240517):
    """Seeded batch: vi ~ chi2(4)/40 + 0.005, yi ~ N(0.3, 0.05 + vi)."""
    rng = np.random.default_rng(seed)
    vi = rng.chisquare(4, size=(m, k)) / 40 + 0.005
    yi = rng.normal(0.3, np.sqrt(0.05 + vi))
    return yi, vi


def time_ketameta(yi, vi, repeats=3):
    best = np.inf
    res = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = rma(yi, vi, method="REML", test="knha")
        best = min(best, time.perf_counter() - t0)
    return best, res


def time_pymare(yi, vi, loop_rows):
    from pymare.estimators import VarianceBasedLikelihoodEstimator

    k = yi.shape[1]
    X = np.ones((k, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        est = VarianceBasedLikelihoodEstimator("REML", small_sample_correction="knapp-hartung")
        est.fit(y=yi.T, v=vi.T, X=X)
        fe = est.summary().get_fe_stats()
        batch_time = time.perf_counter() - t0
        batch_est = np.ravel(fe["est"])
        batch_tau2 = np.ravel(est.summary().tau2)
        t0 = time.perf_counter()
        for i in loop_rows:
            one = VarianceBasedLikelihoodEstimator("REML", small_sample_correction="knapp-hartung")
            one.fit(y=yi[i][:, None], v=vi[i][:, None], X=X)
            one.summary().get_fe_stats()
        loop_time = time.perf_counter() - t0
    return batch_time, batch_est, batch_tau2, loop_time


def time_metafor(yi, vi):
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.savetxt(tmp / "y.csv", yi, delimiter=",", fmt="%.17g")
        np.savetxt(tmp / "v.csv", vi, delimiter=",", fmt="%.17g")
        (tmp / "bench.R").write_text(R_SCRIPT)
        out = subprocess.run(
            [rscript, str(tmp / "bench.R"), str(tmp / "y.csv"), str(tmp / "v.csv"),
             str(tmp / "out.csv")],
            capture_output=True, text=True, check=True,
        )
        lines = out.stdout.strip().splitlines()
        t_rma, t_full = (float(x) for x in lines[0].split())
        data = np.genfromtxt(tmp / "out.csv", delimiter=",", skip_header=1)
    return t_rma, t_full, data[:, 0], data[:, 1], lines[1]


def max_rel(a, b):
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.max(np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), 1e-300)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=10_000, help="number of meta-analyses")
    parser.add_argument("--k", type=int, default=20, help="studies per meta-analysis")
    parser.add_argument("--r-sample", type=int, default=200, help="rows fitted by metafor")
    parser.add_argument("--loop-sample", type=int, default=200, help="rows in the PyMARE loop")
    args = parser.parse_args()

    yi, vi = simulate(args.m, args.k)
    t_km, res = time_ketameta(yi, vi)
    per_km = t_km / args.m
    print(f"data: m = {args.m} meta-analyses, k = {args.k}, seed 20240517; REML + knha")
    print(f"ketameta  one batch call: {t_km:.3f} s total, {per_km * 1e6:.1f} us per fit "
          f"(incl. Q-profile CI, prediction interval); "
          f"{int((~res.converged).sum())} rows used the documented fallback")

    t0 = time.perf_counter()
    fit_batch(as_batch(yi, vi), method="REML", test="knha", tau2_ci=False)
    per_noci = (time.perf_counter() - t0) / args.m
    print(f"          without the Q-profile CI (fit_batch(..., tau2_ci=False), the work PyMARE "
          f"does): {per_noci * 1e6:.1f} us per fit")

    sample = np.linspace(0, args.m - 1, min(args.loop_sample, args.m)).astype(int)
    try:
        t_pb, pm_est, pm_tau2, t_pl = time_pymare(yi, vi, sample)
    except ImportError:
        print("PyMARE    not installed; skipped")
    else:
        per_pb = t_pb / args.m
        per_pl = t_pl / sample.size
        print(f"PyMARE    batch of {args.m}: {per_pb * 1e6:.1f} us per fit "
              f"(ketameta without CI {per_pb / per_noci:.1f}x faster); loop of {sample.size}: "
              f"{per_pl * 1e6:.1f} us per fit (ketameta {per_pl / per_km:.1f}x faster)")
        exact = tau2_root(as_batch(yi, vi), "REML")
        print(f"          max rel. diff. vs PyMARE: estimate {max_rel(res.estimate, pm_est):.2e}; "
              f"max abs. diff. tau2 {np.nanmax(np.abs(res.tau2 - pm_tau2)):.2e}")
        print(f"          (ketameta stops where metafor's Fisher scoring stops: max |tau2 - exact "
              f"root| = {np.nanmax(np.abs(res.tau2 - exact)):.2e}; PyMARE vs the exact root "
              f"(ketameta.models.tau2_root): {np.nanmax(np.abs(pm_tau2 - exact)):.2e})")

    rs = np.linspace(0, args.m - 1, min(args.r_sample, args.m)).astype(int)
    r = time_metafor(yi[rs], vi[rs])
    if r is None:
        print("metafor   Rscript not found; skipped")
        return
    t_rma, t_full, mf_est, mf_tau2, version = r
    per_rma = t_rma / rs.size
    per_full = t_full / rs.size
    failed = int(np.isnan(mf_est).sum())
    print(f"metafor   {version.strip()}; loop of {rs.size} fits timed inside R "
          f"({failed} stopped with an error)")
    print(f"          rma() only: {per_rma * 1e6:.0f} us per fit -> ketameta "
          f"{per_rma / per_km:.0f}x faster")
    print(f"          rma() + confint() + predict(): {per_full * 1e6:.0f} us per fit -> "
          f"ketameta {per_full / per_km:.0f}x faster")
    print(f"          max rel. diff. vs metafor: estimate "
          f"{max_rel(res.estimate[rs], mf_est):.2e}; max abs. diff. tau2 "
          f"{np.nanmax(np.abs(res.tau2[rs] - mf_tau2)):.2e}")


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


if __name__ == "__main__":
    main()
    bench_bayesmeta()
    bench_rma_mh()
