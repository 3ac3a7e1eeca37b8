"""Bayesian random-effects meta-analysis against R's bayesmeta 3.4.

Reference values: ``tests/reference/bayesmeta.json``, written by
``tests/reference/bayesmeta_cases.R`` (how bayesmeta was built and which number comes from
which bayesmeta function is described there; the R call stands beside each case), and two
files of R quadrature on the same posterior without bayesmeta's grid:
``bayesmeta_quantiles.json`` (medians and central intervals of μ and θ_new, from
``bayesmeta_quantiles_cases.R``) and ``bayesmeta_exact.json`` (modes and shortest intervals
of τ, μ and θ_new; medians, central intervals, modes and shortest intervals of the θ_i, from
``bayesmeta_exact_cases.R``).

Tolerances, and why:

- ``INTEGRATE_RTOL``: values that R computes by adaptive quadrature (``integrate``,
  relative tolerance ~1e-11 or 1e-12) and ``uniroot`` on it: the posterior mean, sd and
  quantiles of τ, the means and sds of μ, θ_new and the shrinkage estimates, P(μ < 0) and
  the marginal likelihood. ketameta's quadrature is good to about 1e-9.
- ``EXACT_ATOL`` (times the posterior sd): the modes and shortest intervals of τ, μ and
  θ_new, and the medians, central intervals, modes and shortest intervals of the θ_i,
  against ``bayesmeta_exact.json``: R's quadrature of the same posterior without
  bayesmeta's grid (``bayesmeta_exact_cases.R``; nested ``integrate()`` at rel.tol 1e-12
  and ``uniroot()`` at 1e-13 of the sd). These are the primary checks of those values; the
  project's bar is 1e-6 of the sd, ketameta agrees to about 1e-11 (worst: τ's mode), so
  the bound is 1e-9.
  The medians and central intervals of μ and θ_new are checked against R's quadrature
  (``bayesmeta_quantiles.json``) with ``INTEGRATE_RTOL``, relative to the sd.
- ``DIRECT_ATOL`` (times the posterior sd): a secondary check that ketameta agrees with
  bayesmeta's own output, for the quantiles, modes and shortest intervals of μ, θ_new and
  the θ_i that R reads off bayesmeta's DIRECT mixture on a grid with ``delta = 1e-4``; the
  grid moves tail quantiles and modes by up to about 1e-4 of the sd, so this bound only
  shows agreement with bayesmeta, not accuracy.
- ``MODE_ATOL`` (times the posterior sd): τ's mode and shortest interval as solved on
  bayesmeta's ``dposterior()`` in ``bayesmeta_cases.R`` (``optimize()``, limited to about
  1e-8 by the flatness of a density at its maximum); a secondary check, the exact values
  are in ``bayesmeta_exact.json``.
- ``DEFAULT_ATOL`` (times the sd): bayesmeta with its default settings, whose grid and
  ``optimize()`` tolerance leave errors of up to about 1e-2 of the sd.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import ketameta
from ketameta import bayesmeta, priors

REF = json.loads((Path(__file__).parent / "reference" / "bayesmeta.json").read_text())
CASES = REF["cases"]
QUANTILE_REF = json.loads(
    (Path(__file__).parent / "reference" / "bayesmeta_quantiles.json").read_text()
)["cases"]

EXACT = json.loads((Path(__file__).parent / "reference" / "bayesmeta_exact.json").read_text())
EXACT_REF = EXACT["cases"]

INTEGRATE_RTOL = 1e-7
EXACT_ATOL = 1e-9
DIRECT_ATOL = 2e-4
MODE_ATOL = 1e-6
DEFAULT_ATOL = 2e-2

EXPECTED_CASES = {
    "bcg_halfnormal",
    "bcg_turner_normal_mu",
    "li2007_halfcauchy_normal_mu",
    "konstantopoulos2011_by_district_halft",
    "normand1999_uniform",
    "two_trials_halfnormal",
    "k3_halfnormal_normal_mu",
    "k4_lognormal",
    "k1_halfnormal",
    "k1_uniform_normal_mu",
    "homogeneous_halfcauchy",
    "identical_effects_halfnormal",
}
SUMMARY = ("mode", "median", "mean", "sd", "ci_low", "ci_high", "shortest_low", "shortest_high")
QUADRATURE = ("mean", "sd")
QUANTILES = ("median", "ci_low", "ci_high")
# the quantities pinned by bayesmeta_exact.json
EXACT_FIELDS = {
    "tau": {"mode", "shortest_low", "shortest_high"},
    "mu": {"mode", "median", "ci_low", "ci_high", "shortest_low", "shortest_high"},
    "theta_new": {"mode", "median", "ci_low", "ci_high", "shortest_low", "shortest_high"},
    "shrinkage": {"mode", "median", "ci_low", "ci_high", "shortest_low", "shortest_high"},
}


def _arr(x):
    return np.atleast_1d(np.asarray(x, dtype=float))


def _fit(case):
    return bayesmeta(
        _arr(case["yi"]), _arr(case["vi"]), tau_prior=case["tau_prior"], mu_prior=case["mu_prior"]
    )


@pytest.fixture(scope="module")
def fits():
    return {name: _fit(case) for name, case in CASES.items()}


def test_reference_grid_is_complete():
    assert set(CASES) == EXPECTED_CASES
    assert set(QUANTILE_REF) == EXPECTED_CASES
    assert REF["bayesmeta_version"] == "3.4"
    assert REF["metafor_version"].startswith("3.8")
    families = {c["tau_prior"]["family"] for c in CASES.values()}
    assert families == {"halfnormal", "halfcauchy", "halft", "uniform", "lognormal", "turner"}
    assert {len(_arr(c["yi"])) for c in CASES.values()} >= {1, 2, 3, 4}
    assert any(c["mu_prior"] is None for c in CASES.values())
    assert any(c["mu_prior"] is not None for c in CASES.values())
    for case in CASES.values():
        for part in ("tau", "mu", "theta_new", "shrinkage"):
            assert set(case[part]) == set(SUMMARY)


def test_exact_reference_grid_is_complete():
    """Every case, every part and every quantity of bayesmeta_exact.json is present, one
    value per trial for the shrinkage estimates, and R's posterior matched bayesmeta's."""
    assert set(EXACT_REF) == EXPECTED_CASES
    assert EXACT["bayesmeta_version"] == "3.4"
    assert EXACT["level"] == REF["level"]
    for name, exact in EXACT_REF.items():
        assert exact["check_vs_bayesmeta"] < 1e-9, name
        assert set(exact) == set(EXACT_FIELDS) | {"check_vs_bayesmeta"}, name
        k = len(_arr(CASES[name]["yi"]))
        for part, wanted in EXACT_FIELDS.items():
            assert set(exact[part]) == wanted, (name, part)
            for f in wanted:
                values = _arr(exact[part][f])
                assert values.shape == ((k,) if part == "shrinkage" else (1,)), (name, part, f)
                assert np.isfinite(values).all(), (name, part, f)


def _close(actual, expected, atol, rtol, what):
    """|actual - expected| <= atol + rtol * |expected| elementwise (atol may be an array)."""
    a, e = _arr(actual), _arr(expected)
    assert a.shape == e.shape, what
    bound = np.asarray(atol) + rtol * np.abs(e)
    bad = ~(np.abs(a - e) <= bound)
    assert not bad.any(), f"{what}: ketameta {a[bad]} vs R {e[bad]} (bound {np.broadcast_to(bound, a.shape)[bad]})"


@pytest.mark.parametrize("name", sorted(EXPECTED_CASES))
def test_tau_posterior_equals_bayesmeta(name, fits):
    # the mode and shortest interval: a secondary check against optimize() on bayesmeta's
    # dposterior() (the exact values are tested against bayesmeta_exact.json)
    ref, res = CASES[name]["tau"], fits[name].tau
    sd = ref["sd"]
    for f in ("mean", "sd", "median", "ci_low", "ci_high"):
        _close(getattr(res, f), ref[f], 0, INTEGRATE_RTOL, f"tau {f}")
    for f in ("mode", "shortest_low", "shortest_high"):
        _close(getattr(res, f), ref[f], MODE_ATOL * sd, 0, f"tau {f}")


@pytest.mark.parametrize("part", sorted(EXACT_FIELDS))
@pytest.mark.parametrize("name", sorted(EXPECTED_CASES))
def test_posterior_summaries_equal_exact_quadrature_in_r(name, part, fits):
    """Modes, quantiles and shortest intervals against R's quadrature without a grid, within
    ``EXACT_ATOL`` of the posterior sd (bayesmeta's exact sd from integrate())."""
    ref, res = EXACT_REF[name][part], getattr(fits[name], part)
    sd = _arr(CASES[name][part]["sd"])
    assert np.isfinite(sd).all()
    for f in sorted(EXACT_FIELDS[part]):
        _close(getattr(res, f), ref[f], EXACT_ATOL * sd, 0, f"{part} {f}")


@pytest.mark.parametrize("part", ["mu", "theta_new", "shrinkage"])
@pytest.mark.parametrize("name", sorted(EXPECTED_CASES))
def test_effect_posteriors_equal_bayesmeta(name, part, fits):
    # means and sds: exact (integrate() in R); the rest: a secondary check of agreement with
    # bayesmeta's DIRECT grid (the exact values are tested above)
    ref, res = CASES[name][part], getattr(fits[name], part)
    sd = _arr(ref["sd"])
    for f in QUADRATURE:
        _close(getattr(res, f), ref[f], 0, INTEGRATE_RTOL, f"{part} {f}")
    for f in QUANTILES + ("mode", "shortest_low", "shortest_high"):
        _close(getattr(res, f), ref[f], DIRECT_ATOL * sd, 0, f"{part} {f}")


@pytest.mark.parametrize("name", sorted(EXPECTED_CASES))
def test_mu_and_theta_quantiles_equal_quadrature_in_r(name, fits):
    for part in ("mu", "theta_new"):
        ref, res = QUANTILE_REF[name][part], getattr(fits[name], part)
        sd = CASES[name][part]["sd"]
        for f in QUANTILES:
            _close(getattr(res, f), ref[f], INTEGRATE_RTOL * sd, 0, f"{part} {f}")


@pytest.mark.parametrize("name", sorted(EXPECTED_CASES))
def test_probability_and_marginal_likelihood_equal_bayesmeta(name, fits):
    case, res = CASES[name], fits[name]
    _close(res.prob_mu_negative, case["prob_mu_negative"], 0, INTEGRATE_RTOL, "P(mu < 0)")
    _close(res.prob_mu_positive, 1 - case["prob_mu_negative"], 1e-12, INTEGRATE_RTOL, "P(mu > 0)")
    if case["mu_prior"] is None:
        assert case["marginal_likelihood"] is None
        assert math.isnan(res.marginal_likelihood)
    else:
        _close(res.marginal_likelihood, case["marginal_likelihood"], 0, INTEGRATE_RTOL, "ML")
        assert res.log_marginal_likelihood == pytest.approx(math.log(res.marginal_likelihood))


@pytest.mark.parametrize("name", sorted(EXPECTED_CASES))
def test_bayesmeta_defaults_agree_within_their_grid_error(name, fits):
    d = CASES[name]["default"]
    rows = d["rows"]
    res = fits[name]
    for part, key in (("tau", "tau"), ("mu", "mu"), ("theta_new", "theta")):
        summ = getattr(res, part)
        ref = dict(zip(rows, _arr(d[key]), strict=True))
        ours = {
            "mode": summ.mode, "median": summ.median, "mean": summ.mean, "sd": summ.sd,
            "95% lower": summ.shortest_low, "95% upper": summ.shortest_high,
        }
        for row, value in ours.items():
            assert abs(value - ref[row]) <= DEFAULT_ATOL * summ.sd, (part, row)


def test_shrinkage_mode_is_the_maximum_of_the_trials_posterior(fits):
    """bayesmeta searches each trial's mode between the 10% and 90% quantiles of μ; where
    the trial's mode lies outside, it returns the end of that bracket. Ours is the
    maximum: the density falls on both sides. Where they differ, R pinned bayesmeta's value
    as ``bayesmeta_shrinkage_mode``; ours equals the exact mode of bayesmeta_exact.json
    (a root of the density's derivative within the trial's own central interval)."""
    differs = 0
    for name, res in fits.items():
        theirs = _arr(CASES[name]["bayesmeta_shrinkage_mode"])
        exact = _arr(EXACT_REF[name]["shrinkage"]["mode"])
        ours = _arr(res.shrinkage.mode)
        sd = _arr(CASES[name]["shrinkage"]["sd"])
        wrong = np.abs(theirs - exact) > 1e-3 * sd
        differs += int(np.sum(wrong))
        _close(ours[wrong], exact[wrong], EXACT_ATOL * sd[wrong], 0, f"{name} shrinkage mode")
    assert differs > 0  # the grid holds a case where bayesmeta's bracket is wrong


def test_batch_equals_one_fit_per_row(fits):
    names = ["bcg_halfnormal", "two_trials_halfnormal", "k1_halfnormal", "identical_effects_halfnormal"]
    kmax = max(len(_arr(CASES[n]["yi"])) for n in names)
    y = np.full((len(names), kmax), np.nan)
    v = np.full((len(names), kmax), np.nan)
    for i, n in enumerate(names):
        k = len(_arr(CASES[n]["yi"]))
        y[i, :k], v[i, :k] = _arr(CASES[n]["yi"]), _arr(CASES[n]["vi"])
    batch = bayesmeta(y, v, {"family": "halfnormal", "scale": 0.5})
    assert batch.is_batch
    for i, n in enumerate(names):
        one = fits[n]
        for part in ("tau", "mu", "theta_new"):
            for f in SUMMARY:
                assert getattr(getattr(batch, part), f)[i] == pytest.approx(
                    getattr(getattr(one, part), f), rel=1e-12, abs=1e-14
                ), (n, part, f)
        k = len(_arr(CASES[n]["yi"]))
        np.testing.assert_allclose(batch.shrinkage.mean[i, :k], _arr(one.shrinkage.mean), rtol=1e-12)
        assert np.isnan(batch.shrinkage.mean[i, k:]).all()


def test_quadrature_converges_beyond_the_reference_grid():
    """Random problems: the default resolution agrees with six times as many nodes."""
    rng = np.random.default_rng(7)
    v = rng.uniform(0.005, 0.4, (40, 4))
    y = rng.normal(-0.4, np.sqrt(v + 0.2))
    y[::5, 2:] = np.nan
    for prior in (
        {"family": "halfnormal", "scale": 0.5},
        {"family": "halfcauchy", "scale": 0.3},
        {"family": "lognormal", "meanlog": -1.2, "sdlog": 0.8},
    ):
        a = bayesmeta(y, v, prior)
        b = bayesmeta(y, v, prior, panels=120)
        for part in ("tau", "mu", "theta_new", "shrinkage"):
            pa, pb = getattr(a, part), getattr(b, part)
            for f in SUMMARY:
                np.testing.assert_allclose(
                    getattr(pa, f), getattr(pb, f), rtol=0, atol=1e-6 * np.nanmax(pb.sd),
                    err_msg=f"{prior['family']} {part} {f}",
                )


def test_heavy_tails_give_nan_moments_not_numbers():
    # half-Cauchy prior, one trial, uniform prior on mu: p(tau | y) ~ tau^-2, no mean
    res = bayesmeta([0.3], [0.05], {"family": "halfcauchy", "scale": 0.5})
    assert math.isnan(res.tau.mean) and math.isnan(res.tau.sd)
    assert math.isnan(res.mu.sd) and math.isnan(res.theta_new.sd)
    assert res.tau.median == pytest.approx(0.5, rel=1e-8)  # the prior's median
    assert np.isfinite(res.shrinkage.sd).all()


def test_to_dict_is_json_ready(fits):
    d = fits["bcg_turner_normal_mu"].to_dict()
    json.dumps(d)
    assert d["tau_prior"] == {"family": "lognormal", "meanlog": -1.245, "sdlog": 0.76}
    assert d["mu_prior"] == {"family": "normal", "mean": 0.0, "sd": 4.0}
    assert len(d["shrinkage"]) == 13 and d["shrinkage"][0]["study"] == "1"
    assert set(d["mu"]) == set(SUMMARY)
    batch = bayesmeta([[0.1, 0.3], [0.2, np.nan]], [[0.02, 0.03], [0.05, np.nan]],
                      {"family": "halfnormal", "scale": 0.5}).to_dict()
    json.dumps(batch)
    assert [len(s) for s in batch["shrinkage"]] == [2, 1]
    assert batch["marginal_likelihood"] == [None, None]


@pytest.mark.parametrize(
    "spec",
    [
        {"family": "halfnormal", "scale": 0.5},
        {"family": "halfcauchy", "scale": 1.0},
        {"family": "halft", "scale": 0.5, "df": 3.0},
        {"family": "uniform", "upper": 2.0},
        {"family": "lognormal", "meanlog": -1.28, "sdlog": 0.87},
    ],
)
def test_prior_configuration_round_trips(spec):
    prior = priors.tau_prior(spec)
    assert prior.to_dict() == spec
    assert priors.tau_prior(prior) is prior
    # proper densities on tau >= 0
    t = np.linspace(0, 60, 600001)
    dens = prior.pdf(t)
    assert np.sum((dens[1:] + dens[:-1]) / 2 * np.diff(t)) == pytest.approx(1, abs=2e-2)


def test_turner_prior_is_the_published_log_normal():
    # Turner et al. (2015), Table IV: mental health indicators, pharmacological vs placebo:
    # log tau^2 ~ N(-2.12, 1.53^2)
    p = priors.turner_prior("mental health indicators", "placebo / control", "pharmacological")
    assert (p.meanlog, p.sdlog) == (-1.06, 0.765)
    assert priors.turner_prior() == priors.LogNormal(-1.28, 0.87)
    assert priors.tau_prior({"family": "turner", "outcome": "pain"}) == priors.turner_prior("pain")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: priors.tau_prior({"family": "gamma", "shape": 1}), "unknown tau prior family"),
        (lambda: priors.tau_prior({"family": "halfnormal"}), "needs scale"),
        (lambda: priors.tau_prior({"family": "halfnormal", "scale": 1, "df": 2}), "unexpected: df"),
        (lambda: priors.tau_prior({"family": "halfnormal", "scale": -1}), "must be a positive number"),
        (lambda: priors.tau_prior(0.5), "mapping with a 'family' key"),
        (lambda: priors.turner_prior("happiness"), "unknown Turner et al. outcome type"),
        (lambda: priors.turner_prior("pain", "placebo / control", "placebo / control"), "not a comparison"),
        (lambda: priors.mu_prior({"mean": 0}), "a mu prior is"),
        (lambda: bayesmeta([0.1], [0.0], {"family": "halfnormal", "scale": 0.5}), "must be positive"),
        (lambda: bayesmeta([0.1], [0.1], {"family": "halfnormal", "scale": 0.5}, level=100), "level"),
        (lambda: bayesmeta([np.nan], [np.nan], {"family": "halfnormal", "scale": 0.5}), "k = 0"),
    ],
)
def test_bad_input_stops_with_one_message(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_exported_from_package():
    assert ketameta.bayesmeta is bayesmeta
    assert ketameta.priors is priors
