"""Helpers shared by the result objects: plain-Python conversion and ``to_dict()``.

A leaf module (it imports nothing from :mod:`ketameta`), so that the statistical modules
(:mod:`ketameta.models`, :mod:`ketameta.bias`, :mod:`ketameta.sensitivity`, …) and the
composition of ``summary.json`` (:mod:`ketameta.summary`) share one definition without
importing each other.

Conventions: NaN and infinities become ``None`` (JSON null); NumPy scalars become Python
scalars; arrays become (nested) lists.
"""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np

__all__ = ["WARNING_TEXT", "ToDict", "finite", "out", "plain", "row_warnings"]

#: The engine's notes, keyed by the flag names of ``ketameta.models.BatchFit.flags``. Here,
#: in a leaf module, so that the reports can recognise them without importing the engine.
WARNING_TEXT = {
    "k0": "k = 0: no study has both yi and vi; nothing was estimated.",
    "k1": "k = 1: the pooled result is the study's own; test set to 'z' as metafor does; "
    "tau2, Q, I2, H2, their CIs and the prediction interval are undefined.",
    "vimaxmin": "Ratio of largest to smallest sampling variance is at least 1e7; results "
    "may be unstable (metafor warns likewise).",
    "ee_knha": "The Knapp-Hartung adjustment is not meant for the equal-effects model "
    "(metafor warns likewise).",
    "fs_fallback": "{method} did not converge within the Fisher scoring iteration limit; "
    "fell back to a bracketed root search of the {method} estimating equation (metafor "
    "stops with an error here).",
    "ll0": "Fisher scoring may have stopped at a local maximum (the likelihood is larger at "
    "tau2 = 0); tau2 set to 0 as metafor does.",
    "pm_fallback": "PM: Q(tau2) still exceeds k - 1 at metafor's search limit tau2.max; the "
    "search interval was extended until it brackets the root (metafor stops with an error "
    "here).",
    "uniroot": "Root search for tau2 reached its iteration limit; the last iterate is "
    "reported (R's uniroot() warns likewise).",
    "ci_null": "The Q-profile confidence interval for tau2 is the null set (Q at tau2 = 0 "
    "is below the lower critical value); its bounds are set to 0 as metafor's confint() "
    "does.",
    "ci_ub_max": "The upper bound of the Q-profile CI for tau2 lies above the search limit "
    "tau2.max = max(100, 10 tau2); tau2.max is reported, as metafor's confint() does.",
    "ci_both_max": "Both bounds of the Q-profile CI for tau2 lie above the search limit "
    "tau2.max = max(100, 10 tau2); tau2.max is reported for both, as metafor's confint() "
    "does.",
    "ci_search": "The root search for a Q-profile CI bound reached its iteration limit; "
    "the last iterate is reported.",
    "higgins_df": "The Higgins prediction interval needs k >= 3 (t on k - 2 df); it is "
    "undefined here.",
    "rank": "The model matrix is not of full rank for the studies present, or there are not "
    "more studies than coefficients; the model cannot be fitted (metafor stops or drops "
    "predictors).",
}


def finite(value) -> float | None:
    """``value`` as a float, or None where it is missing, NaN or infinite (JSON null)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def coefficient_records(names, **columns) -> list[dict]:
    """One record per coefficient: its ``name``, then each column's value at that
    coefficient, in the order given (None where not finite)."""
    return [
        {"name": name, **{key: finite(values[j]) for key, values in columns.items()}}
        for j, name in enumerate(names)
    ]


def plain(value):
    """Return ``value`` as plain Python for JSON: NaN/inf → None, arrays → lists."""
    if isinstance(value, np.ndarray):
        return [plain(x) for x in value.tolist()]
    if isinstance(value, list | tuple):
        return [plain(x) for x in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class ToDict:
    """Mixin for frozen dataclasses: ``to_dict()`` returns every field as plain Python.

    Fields named in the class attribute ``_skip`` are left out.
    """

    _skip: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """Return the fields as a dict of plain Python values (NaN becomes ``None``)."""
        return {
            f.name: plain(getattr(self, f.name))
            for f in fields(self)  # type: ignore[arg-type]
            if f.name not in self._skip
        }


def out(x, squeeze: bool):
    """Row results as a Python scalar (1-D input) or the array itself (2-D input)."""
    x = np.asarray(x)
    return x[0].item() if squeeze else x


def row_warnings(messages: list[list[str]], squeeze: bool):
    """Warnings as a tuple (1-D input) or a tuple of tuples, one per row (duplicates dropped)."""
    rows = tuple(tuple(dict.fromkeys(msg)) for msg in messages)
    return rows[0] if squeeze else rows
