"""ketameta._dist returns exactly what scipy.stats returns, edges included.

The engine computes its p-values and quantiles from ``scipy.special`` so that fitting does
not import ``scipy.stats``; these tests hold every helper to bit-for-bit equality with the
``scipy.stats`` method it replaces, over a grid that includes the ends of the support,
probabilities 0 and 1, degrees of freedom that are 0, negative, tiny, huge, infinite or
NaN, and NaN arguments.
"""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from scipy import stats

from ketameta import _dist

DF = np.array([-1.0, 0.0, 1e-3, 0.5, 1.0, 2.0, 2.5, 7.0, 30.0, 1e6, 1e20, np.inf, np.nan])
X = np.array([-np.inf, -1e300, -40.0, -5.0, -1.0, -0.0, 0.0, 1e-300, 1e-8, 0.3, 1.0,
              1.959963984540054, 5.0, 40.0, 1e3, 1e300, np.inf, np.nan])
Q = np.array([-0.1, 0.0, 5e-324, 1e-300, 1e-20, 1e-8, 0.025, 0.05, 0.2, 0.5, 0.8, 0.95,
              0.975, 1 - 1e-12, 1 - 2**-53, 1.0, 1.1, np.nan])

TAILS = [
    ("norm_cdf", stats.norm.cdf, 0),
    ("norm_sf", stats.norm.sf, 0),
    ("t_sf", stats.t.sf, 1),
    ("chi2_cdf", stats.chi2.cdf, 1),
    ("chi2_sf", stats.chi2.sf, 1),
    ("f_sf", stats.f.sf, 2),
]
QUANTILES = [
    ("norm_ppf", stats.norm.ppf, 0),
    ("norm_isf", stats.norm.isf, 0),
    ("t_ppf", stats.t.ppf, 1),
    ("t_isf", stats.t.isf, 1),
    ("chi2_ppf", stats.chi2.ppf, 1),
    ("chi2_isf", stats.chi2.isf, 1),
]


def _grid(points, n_shapes):
    axes = np.meshgrid(points, *([DF] * n_shapes), indexing="ij")
    return axes[0], axes[1:]


@pytest.mark.parametrize(("name", "reference", "n_shapes"), TAILS + QUANTILES,
                         ids=[t[0] for t in TAILS + QUANTILES])
def test_equal_to_scipy_stats_on_the_grid(name, reference, n_shapes):
    points = X if (name, reference, n_shapes) in TAILS else Q
    arg, shapes = _grid(points, n_shapes)
    with np.errstate(all="ignore"):
        expected = reference(arg, *shapes)
    got = getattr(_dist, name)(arg, *shapes)
    assert got.shape == expected.shape
    assert_array_equal(got, expected)  # NaN equals NaN here; everything else bit for bit


@pytest.mark.parametrize(("name", "reference", "n_shapes"), TAILS + QUANTILES,
                         ids=[t[0] for t in TAILS + QUANTILES])
def test_scalar_in_scalar_out(name, reference, n_shapes):
    shapes = [3.0] * n_shapes
    got = getattr(_dist, name)(0.3, *shapes)
    expected = reference(0.3, *shapes)
    assert type(got) is type(expected) is np.float64
    assert got == expected


def test_broadcasting_a_batch_against_its_degrees_of_freedom():
    rng = np.random.default_rng(11)
    stat = rng.normal(size=(4, 6)) * 3
    df = np.array([1.0, 2.0, 9.0, np.inf])[:, None]
    assert_array_equal(_dist.t_sf(np.abs(stat), df), stats.t.sf(np.abs(stat), df))
    alpha = np.array([0.05, 0.1, 0.2, 0.01])
    assert_array_equal(_dist.t_isf(alpha / 2, df[:, 0]), stats.t.isf(alpha / 2, df[:, 0]))
    q = rng.chisquare(3, size=(4, 6))
    assert_array_equal(_dist.chi2_sf(q, df), stats.chi2.sf(q, df))
    assert_array_equal(_dist.f_sf(q, 2, df), stats.f.sf(q, 2, df))
