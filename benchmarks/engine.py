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
    benchmark_gosh()
