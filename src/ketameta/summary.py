"""The composition of ``summary.json``: one declaration of its keys, filled from a fit.

This module sits above the statistics: it takes a fit of :func:`ketameta.rma` and calls
the small-study tests (:mod:`ketameta.bias`) and the sensitivity analyses
(:mod:`ketameta.sensitivity`), each once for the whole batch, to assemble the keys that
docs/contract.md (section 3) lists. The fit itself knows only its own keys
(:meth:`ketameta.models.RMAResult.to_dict`), so models, bias and sensitivity do not import
each other.

Conventions: undefined values are ``None`` (JSON null); Egger's test is the classical one
(``regtest(model="lm")``), as the contract documents; trim-and-fill uses the L0 estimator
with the side chosen as metafor does; every refit uses the fit's method, test, level and
``control``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ketameta._results import plain
from ketameta.bias import RegtestResult, TrimFillResult, ranktest, regtest, trimfill
from ketameta.models import _ENGINE_KEYS, RMAResult
from ketameta.sensitivity import Leave1OutResult, influence, leave1out

__all__ = [
    "CONTRACT_KEYS",
    "EXTRA_KEYS",
    "SmallStudyTests",
    "empty_extras",
    "empty_stats",
    "extras",
    "fit_summary",
    "small_study_tests",
]

#: summary.json keys of docs/contract.md section 3, in contract order.
CONTRACT_KEYS = (
    "analysis", "k", "measure", "method", "test", "level", "estimate", "se", "ci_low",
    "ci_high", "statistic", "p_value", "tau2", "tau", "I2", "H2", "Q", "Q_df", "Q_p", "pi_low",
    "pi_high", "tau2_ci_low", "tau2_ci_high", "I2_ci_low", "I2_ci_high", "egger_statistic",
    "egger_p", "trimfill_k0", "trimfill_estimate", "leave1out", "converged", "warnings",
)  # fmt: skip
#: Keys :func:`fit_summary` adds to the fit's own, in output order.
BIAS_KEYS = ("egger_statistic", "egger_p", "trimfill_k0", "trimfill_estimate", "leave1out")
#: Fields of each leave-one-out record, besides ``study``.
LEAVE1OUT_FIELDS = ("estimate", "ci_low", "ci_high", "tau2", "I2")
#: Keys :func:`extras` fills (documented in docs/architecture.md), in output order.
EXTRA_KEYS = (
    "influence", "trimfill_side", "trimfill_ci_low", "trimfill_ci_high", "trimfill_filled",
    "begg_tau", "begg_p",
)  # fmt: skip
#: Fields of each influence record, besides ``study`` and ``influential``.
INFLUENCE_FIELDS = ("rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "QE_del", "hat", "weight")


@dataclass(frozen=True, eq=False)
class SmallStudyTests:
    """Egger's test (classical), trim-and-fill and leave-one-out of a fit, one batch call each."""

    egger: RegtestResult
    trimfill: TrimFillResult
    leave1out: Leave1OutResult


def small_study_tests(res: RMAResult) -> SmallStudyTests:
    """Run the tests that :func:`fit_summary` reports, with the fit's own settings."""
    opts = {"method": res.method, "test": res.test, "level": res.level, "control": res.control}
    return SmallStudyTests(
        egger=regtest(res.yi, res.vi, model="lm"),
        trimfill=trimfill(res.yi, res.vi, **opts),
        leave1out=leave1out(res.yi, res.vi, **opts),
    )


def fit_summary(res: RMAResult, studies=None, tests: SmallStudyTests | None = None) -> dict:
    """The summary.json keys that depend only on ``yi`` and ``vi``, for a fit or a batch.

    Parameters
    ----------
    res : RMAResult
        From :func:`ketameta.rma` (1-D or 2-D input).
    studies : sequence of str, or sequence of sequences (batch), optional
        Study labels used in ``leave1out``, indexed like the columns of ``yi`` (a single
        sequence is used for every row of a batch). Default: the 1-based column position
        as a string.
    tests : SmallStudyTests, optional
        Precomputed :func:`small_study_tests` (computed here when not given).

    Returns
    -------
    dict
        The fit's keys (:meth:`RMAResult.to_dict`) plus ``egger_statistic``, ``egger_p``
        (k ≥ 3), ``trimfill_k0``, ``trimfill_estimate`` (k ≥ 3) and ``leave1out``
        (k ≥ 2), in contract order; for a batch every key maps to a list per row.
    """
    out = res.to_dict()
    tests = tests or small_study_tests(res)
    y2, v2 = np.atleast_2d(res.yi), np.atleast_2d(res.vi)
    present = ~(np.isnan(y2) | np.isnan(v2))
    k = present.sum(axis=1)
    stat = np.atleast_1d(tests.egger.statistic)
    pval = np.atleast_1d(tests.egger.p_value)
    k0 = np.atleast_1d(np.asarray(tests.trimfill.k0, dtype=float))
    tf_est = np.atleast_1d(tests.trimfill.estimate)
    l1o = {f: np.atleast_2d(getattr(tests.leave1out, f)) for f in LEAVE1OUT_FIELDS}
    if studies is not None:
        studies = list(studies)  # positional, also for a pandas Series with an index
    nested = (
        studies is not None
        and len(studies) > 0
        and not isinstance(studies[0], str)
        and np.ndim(studies[0]) == 1
    )
    extra: dict[str, list] = {key: [] for key in BIAS_KEYS}
    for row in range(len(k)):
        small = k[row] < 3
        extra["egger_statistic"].append(None if small else plain(stat[row]))
        extra["egger_p"].append(None if small else plain(pval[row]))
        # k0 is undefined (NaN) where metafor's trimfill() stops with an error,
        # e.g. when every study has the same variance and no side is given.
        undefined = small or math.isnan(k0[row])
        extra["trimfill_k0"].append(None if undefined else int(k0[row]))
        extra["trimfill_estimate"].append(None if undefined else plain(tf_est[row]))
        if k[row] < 2:
            extra["leave1out"].append(None)
            continue
        labels = list(studies[row]) if nested else studies
        extra["leave1out"].append(
            [
                {
                    "study": str(labels[col]) if labels is not None else str(col + 1),
                    **{f: plain(l1o[f][row, col]) for f in LEAVE1OUT_FIELDS},
                }
                for col in np.flatnonzero(present[row])
            ]
        )
    for key, vals in extra.items():
        out[key] = vals if res.is_batch else vals[0]
    order = (*_ENGINE_KEYS, *BIAS_KEYS, "converged", "warnings")
    return {key: out[key] for key in order}


def empty_stats(cfg: Mapping) -> dict:
    """The contract keys of an analysis without any study (k = 0)."""
    stats = dict.fromkeys(CONTRACT_KEYS)
    stats.update(
        {
            "method": cfg["method"],
            "test": cfg["test"],
            "level": cfg["level"],
            "converged": True,
            "warnings": ["k = 0: no study has a defined effect size."],
        }
    )
    return stats


def empty_extras() -> dict:
    """The extra keys with their values for k < 3."""
    return {
        "influence": [],
        "trimfill_side": None,
        "trimfill_ci_low": None,
        "trimfill_ci_high": None,
        "trimfill_filled": [],
        "begg_tau": None,
        "begg_p": None,
    }


def trimfill_details(tf: TrimFillResult, row: int) -> dict:
    """Side, CI and imputed studies of row ``row`` of a batch trim-and-fill."""
    filled = np.atleast_2d(tf.filled_yi)[row], np.atleast_2d(tf.filled_vi)[row]
    return {
        "trimfill_side": np.atleast_1d(tf.side)[row],
        "trimfill_ci_low": plain(float(np.atleast_1d(tf.ci_low)[row])),
        "trimfill_ci_high": plain(float(np.atleast_1d(tf.ci_high)[row])),
        "trimfill_filled": [
            {"yi": plain(float(a)), "vi": plain(float(b))}
            for a, b in zip(*filled, strict=True)
            if not math.isnan(a)
        ],
    }


def extras(yi, vi, studies, method, test, level, control, details: Mapping) -> dict:
    """Begg's test, influence diagnostics and the trim-and-fill details (k >= 3).

    ``details`` is :func:`trimfill_details` of the fit's trim-and-fill.
    """
    out = empty_extras()
    if len(yi) < 3:
        return out
    diag = influence(yi, vi, method=method, test=test, level=level, control=control)
    out["influence"] = [
        {
            "study": study,
            **{f: plain(float(np.asarray(getattr(diag, f))[j])) for f in INFLUENCE_FIELDS},
            "influential": bool(np.asarray(diag.influential)[j]),
        }
        for j, study in enumerate(studies)
    ]
    out.update(details)
    rank = ranktest(yi, vi)
    out["begg_tau"] = plain(rank.tau)
    out["begg_p"] = plain(rank.p_value)
    return out
