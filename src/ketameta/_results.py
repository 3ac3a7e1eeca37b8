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

__all__ = ["ToDict", "finite", "out", "plain", "row_warnings"]


def finite(value) -> float | None:
    """``value`` as a float, or None where it is missing, NaN or infinite (JSON null)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


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
