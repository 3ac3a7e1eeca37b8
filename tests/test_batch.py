"""ketameta._batch's scalar root search and graph components equal SciPy's to the last bit.

The jobs use :func:`ketameta._batch.brentq` and :func:`ketameta._batch.components` instead
of ``scipy.optimize.brentq`` and ``scipy.sparse.csgraph.connected_components`` so that
they need neither SciPy subpackage (a third of a second of imports for the warm worker).
Fed the same functions, they must return the same roots, iterates and errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, sparse
from scipy.sparse import csgraph

from ketameta._batch import EPS, brentq, components

FUNCTIONS = [
    ("cubic", lambda x: x**3 - 2 * x - 5, 2.0, 3.0),
    ("cosine", lambda x: math.cos(x) - x, 0.0, 1.0),
    ("exp", lambda x: math.exp(x) - 10.0, -5.0, 5.0),
    ("reversed", lambda x: 1.0 - x * x, 3.0, 0.0),
    ("flat then steep", lambda x: (x - 0.3) ** 9, -1.0, 2.0),
    ("tiny root", lambda x: x - 1e-12, 0.0, 1.0),
    ("step", lambda x: -1.0 if x < 0.7 else 2.0, 0.0, 1.0),
    ("profile", lambda x: 2.0 * (5.0 - (5.0 - (x - 0.4) ** 2 / (0.05 + x))) - 3.841, 0.4, 20.0),
    ("infinite end", lambda x: math.inf if x > 9.0 else x - 2.0, 0.0, 10.0),
    ("root at an end", lambda x: x - 1.0, 1.0, 4.0),
]


@pytest.mark.parametrize(("name", "f", "a", "b"), FUNCTIONS, ids=[f[0] for f in FUNCTIONS])
@pytest.mark.parametrize(("xtol", "rtol"), [(2e-12, 4 * EPS), (1e-6, 4 * EPS), (1e-3, 1e-8)])
def test_the_same_root_and_the_same_iterates_as_scipy(name, f, a, b, xtol, rtol):
    ours, theirs = [], []
    root = brentq(lambda x: ours.append(x) or f(x), a, b, xtol=xtol, rtol=rtol, maxiter=500)
    expected = optimize.brentq(lambda x: theirs.append(x) or f(x), a, b, xtol=xtol,
                               rtol=rtol, maxiter=500)
    assert root == expected  # bit for bit
    assert ours == theirs  # the same points, in the same order


@pytest.mark.parametrize(("f", "a", "b", "error", "message"), [
    (lambda x: x * x + 1.0, -1.0, 1.0, ValueError, "different signs"),
    (lambda x: math.nan if x > 0.5 else -1.0, 0.0, 1.0, ValueError, "NaN"),
    (lambda x: math.tan(x), 1.0, 2.0, RuntimeError, "converge"),
])
def test_the_same_errors_as_scipy(f, a, b, error, message):
    with pytest.raises(error, match=message):
        brentq(f, a, b, maxiter=3)
    with pytest.raises(error, match=message):
        optimize.brentq(f, a, b, maxiter=3)


def test_settings_scipy_refuses_are_refused():
    for settings in ({"xtol": 0.0}, {"rtol": EPS}):
        with pytest.raises(ValueError):
            brentq(lambda x: x - 0.5, -1.0, 1.0, **settings)
        with pytest.raises(ValueError):
            optimize.brentq(lambda x: x - 0.5, -1.0, 1.0, **settings)
    with pytest.raises(RuntimeError, match="after 0 iterations"):
        brentq(lambda x: x - 0.5, -1.0, 1.0, maxiter=0)
    with pytest.raises(RuntimeError, match="after 0 iterations"):
        optimize.brentq(lambda x: x - 0.5, -1.0, 1.0, maxiter=0)


def test_a_flat_stretch_divides_by_zero_as_c_does():
    # Equal values at two iterates make the secant's denominator zero: an infinite step
    # in C, which the step rule refuses (bisection), not a Python exception.
    def f(x):
        return -1.0 if x < 0.25 else (0.0 if x < 0.5 else 1.0) if x > 0.3 else -1.0

    assert brentq(f, 0.0, 1.0) == optimize.brentq(f, 0.0, 1.0)
    flat = lambda x: max(-1.0, min(1.0, 1e6 * (x - 0.123)))  # noqa: E731
    assert brentq(flat, -3.0, 2.0) == optimize.brentq(flat, -3.0, 2.0)


def scipy_components(linked) -> list[list[int]]:
    n, labels = csgraph.connected_components(sparse.csr_matrix(linked), directed=False)
    return [np.flatnonzero(labels == b).tolist() for b in range(n)]


@pytest.mark.parametrize("seed", range(40))
def test_components_are_scipys_in_scipys_order(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 30))
    linked = rng.random((k, k)) < rng.uniform(0.0, 0.2)
    if seed % 2:  # one triangle only: an undirected graph all the same
        linked = np.triu(linked)
    assert [c.tolist() for c in components(linked)] == scipy_components(linked)


def test_components_of_block_matrices():
    blocks = np.zeros((7, 7))
    for rows in ([0, 3], [1, 2, 6], [4], [5]):
        blocks[np.ix_(rows, rows)] = 1.0
    assert [c.tolist() for c in components(blocks != 0.0)] == [[0, 3], [1, 2, 6], [4], [5]]
    assert components(np.zeros((0, 0), dtype=bool)) == []
