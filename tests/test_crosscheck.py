"""Cross-checks of ketameta.rma against two independent Python implementations.

metafor is the source of truth (``tests/test_rma.py``); these tests show that PyMARE and
statsmodels agree where they implement the same thing, on the public data sets stored in
``tests/reference/rma.json``.

What each package gives and where it is right:

* PyMARE (``pymare.estimators``): DerSimonian–Laird and Hedges closed forms (τ², pooled
  estimate, se, p, CI; its ``z`` is the normal deviate of the p-value, equal to the t
  statistic only for the z test); ML and REML by numerical minimisation of the profile
  likelihood; Knapp–Hartung via ``small_sample_correction="knapp-hartung"`` (metafor's
  ``knha``) and ``"knapp-hartung-conservative"`` (metafor's ``adhoc``); Cochran's Q, its
  p-value, I² and H from Q (equal to metafor's equal-effects I² and sqrt(H²)); the
  Q-profile CI of τ².
* statsmodels (``combine_effects``): Paule–Mandel by fixed-point iteration
  (``method_re="pm"``) and DerSimonian–Laird (``"dl"``), pooled estimate, se, the
  Hartung–Knapp ("wls") se, Q, and I² and H² from Q. Its DL τ² is not truncated at 0
  (it can return a negative τ² and negative weights), so DL is compared only where
  τ² > 0.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from ketameta._batch import as_batch
from ketameta.models import rma, tau2_root

pymare_estimators = pytest.importorskip("pymare.estimators")
pymare_core = pytest.importorskip("pymare.core")
sm_meta = pytest.importorskip("statsmodels.stats.meta_analysis")

REF = json.loads((Path(__file__).parent / "reference" / "rma.json").read_text())
CASES = ["bcg_logrr", "normand1999_smd", "hackshaw1998_logor", "li2007_logor_zero_cells"]

# Closed forms (DL, HE, Q, I², Knapp-Hartung scaling): both sides evaluate the same
# formula, so only floating-point rounding separates them.
RTOL_CLOSED = 1e-10
# Iterative estimates compared at the exact root (ours: tau2_root to machine precision;
# PyMARE's bounded minimiser with xtol=1e-12, statsmodels' PM iteration with atol=1e-8):
# the likelihood is flat at its maximum, so a root search on the score is accurate to
# ~sqrt(eps) in tau2 at worst.
RTOL_ROOT = 1e-7
# Q-profile CI bounds: metafor (and so ketameta) stops uniroot() at
# tol = .Machine$double.eps^0.25 = 1.2e-4 (absolute); PyMARE uses its own root search.
ATOL_QPROFILE = 2.5e-4


def _data(case):
    c = REF["cases"][case]
    return np.asarray(c["yi"], dtype=float), np.asarray(c["vi"], dtype=float)


def _pymare_fit(estimator, y, v):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(y=y[:, None], v=v[:, None], X=np.ones((y.size, 1)))
        summary = estimator.summary()
        fe = summary.get_fe_stats()
    return float(np.ravel(summary.tau2)[0]), {key: float(np.ravel(val)[0]) for key, val in fe.items()}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize(
    ("method", "test", "correction"),
    [
        ("DL", "z", "wald"),
        ("DL", "knha", "knapp-hartung"),
        ("DL", "adhoc", "knapp-hartung-conservative"),
        ("HE", "z", "wald"),
        ("HE", "knha", "knapp-hartung"),
    ],
)
def test_pymare_closed_form_estimators(case, method, test, correction):
    y, v = _data(case)
    cls = {"DL": pymare_estimators.DerSimonianLaird, "HE": pymare_estimators.Hedges}[method]
    tau2, fe = _pymare_fit(cls(small_sample_correction=correction), y, v)
    ours = rma(y, v, method=method, test=test)
    np.testing.assert_allclose(tau2, ours.tau2, rtol=RTOL_CLOSED, atol=1e-15)
    pairs = [("est", "estimate"), ("se", "se"), ("ci_l", "ci_low"), ("ci_u", "ci_high"),
             ("p", "p_value")]
    if test == "z":  # under a t reference PyMARE reports the normal deviate of the same p
        pairs.append(("z", "statistic"))
    for theirs, name in pairs:
        np.testing.assert_allclose(fe[theirs], getattr(ours, name), rtol=RTOL_CLOSED, err_msg=name)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", ["ML", "REML"])
def test_pymare_likelihood_estimators_reach_the_exact_root(case, method):
    y, v = _data(case)
    est = pymare_estimators.VarianceBasedLikelihoodEstimator(
        method, small_sample_correction="wald", xtol=1e-12
    )
    tau2, _ = _pymare_fit(est, y, v)
    exact = tau2_root(as_batch(y, v), method)[0]
    np.testing.assert_allclose(tau2, exact, rtol=RTOL_ROOT, atol=1e-12)
    # and metafor's Fisher scoring (reproduced by rma) stops within its 1e-5 threshold
    assert abs(rma(y, v, method=method).tau2 - exact) < 1e-5


@pytest.mark.parametrize("case", CASES)
def test_pymare_knapp_hartung_with_reml(case):
    """At the same τ² the Knapp–Hartung se and t test agree; PyMARE's τ² is its own root,
    so compare against the DL-style closed form evaluated at PyMARE's estimate."""
    y, v = _data(case)
    est = pymare_estimators.VarianceBasedLikelihoodEstimator(
        "REML", small_sample_correction="knapp-hartung", xtol=1e-12
    )
    tau2, fe = _pymare_fit(est, y, v)
    w = 1.0 / (v + tau2)
    mu = np.sum(w * y) / np.sum(w)
    s2 = np.sum(w * (y - mu) ** 2) / (y.size - 1)
    np.testing.assert_allclose(fe["est"], mu, rtol=RTOL_CLOSED)
    np.testing.assert_allclose(fe["se"], np.sqrt(s2 / np.sum(w)), rtol=RTOL_CLOSED)
    ours = rma(y, v, method="REML", test="knha")
    # ours uses metafor's tau2 (Fisher scoring stopped at |change| < 1e-5)
    np.testing.assert_allclose(fe["se"], ours.se, rtol=1e-4)
    np.testing.assert_allclose(fe["p"], ours.p_value, rtol=1e-3)


@pytest.mark.parametrize("case", CASES)
def test_pymare_heterogeneity_and_qprofile(case):
    y, v = _data(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = pymare_core.meta_regression(y=y, v=v, method="DL")
        het = res.get_heterogeneity_stats()
        re = res.get_re_stats()
    ours = rma(y, v, method="DL")
    ee = rma(y, v, method="EE")
    np.testing.assert_allclose(float(het["Q"][0]), ours.Q, rtol=RTOL_CLOSED)
    np.testing.assert_allclose(float(het["p(Q)"][0]), ours.Q_p, rtol=1e-8)
    np.testing.assert_allclose(float(het["I^2"][0]), ee.I2, rtol=RTOL_CLOSED)
    np.testing.assert_allclose(float(het["H"][0]) ** 2, ee.H2, rtol=RTOL_CLOSED)
    np.testing.assert_allclose(float(re["ci_l"][0]), ours.tau2_ci_low, atol=ATOL_QPROFILE)
    np.testing.assert_allclose(float(re["ci_u"][0]), ours.tau2_ci_high, atol=ATOL_QPROFILE)


@pytest.mark.parametrize("case", CASES)
def test_statsmodels_paule_mandel(case):
    y, v = _data(case)
    # atol is on Q - (k - 1); much tighter and statsmodels' iteration can meet a rounding-
    # level negative value of the equation, which it answers with tau2 = 0
    sm = sm_meta.combine_effects(y, v, method_re="pm", atol=1e-8, maxiter=1000)
    exact = tau2_root(as_batch(y, v), "PM")[0]
    np.testing.assert_allclose(sm.tau2, exact, rtol=RTOL_ROOT, atol=1e-12)
    ours = rma(y, v, method="PM", test="knha")
    # metafor's uniroot() tolerance (1.2e-4, absolute) bounds the distance to the root
    assert abs(ours.tau2 - exact) < 1.3e-4
    w = 1.0 / (v + sm.tau2)
    np.testing.assert_allclose(sm.mean_effect_re, np.sum(w * y) / np.sum(w), rtol=RTOL_CLOSED)
    np.testing.assert_allclose(sm.q, ours.Q, rtol=RTOL_CLOSED)
    ee = rma(y, v, method="EE")
    np.testing.assert_allclose(100.0 * sm.i2, ee.I2, rtol=RTOL_CLOSED)
    np.testing.assert_allclose(sm.h2, ee.H2, rtol=RTOL_CLOSED)


@pytest.mark.parametrize("case", CASES)
def test_statsmodels_dersimonian_laird(case):
    y, v = _data(case)
    ours = rma(y, v, method="DL", test="knha")
    if not ours.tau2 > 0:
        pytest.skip("statsmodels' DL does not truncate tau2 at 0; compare only where tau2 > 0")
    sm = sm_meta.combine_effects(y, v, method_re="dl")
    np.testing.assert_allclose(sm.tau2, ours.tau2, rtol=RTOL_CLOSED)
    np.testing.assert_allclose(sm.mean_effect_re, ours.estimate, rtol=RTOL_CLOSED)
    z = rma(y, v, method="DL", test="z")
    np.testing.assert_allclose(sm.sd_eff_w_re, z.se, rtol=RTOL_CLOSED)
    np.testing.assert_allclose(sm.sd_eff_w_re_hksj, ours.se, rtol=RTOL_CLOSED)
    np.testing.assert_allclose(sm.conf_int(use_t=False)[1], (z.ci_low, z.ci_high),
                               rtol=RTOL_CLOSED)


def test_statsmodels_dl_is_untruncated_where_we_truncate():
    """The documented trap: statsmodels' DL τ² goes negative on homogeneous data."""
    homog = REF["cases"]["homogeneous"]
    y, v = np.asarray(homog["yi"]), np.asarray(homog["vi"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # its sqrt of a negative variance
        sm = sm_meta.combine_effects(y, v, method_re="dl")
    assert sm.tau2 < 0
    assert rma(y, v, method="DL").tau2 == 0.0
