"""Number formatting shared by the figures and the templates.

Every number a reader sees on a report page passes through one of these functions, so a
figure and the table beside it always show the same digits. Conventions:

* negative numbers use the typographic minus sign U+2212 ("−"), as in typeset journals;
* effects and their confidence limits have two decimals (ratios too: RR 1.57);
* p-values have three decimals and are shown as "<0.001" below that (APA and Cochrane style);
* I² is in percent without decimals; τ² has four decimals as metafor prints it;
* an undefined value (``None`` or NaN) is shown as an en dash "–";
* text is shown without invisible direction and zero-width characters (:func:`plain`), so
  a label can neither display reversed nor pass for another.
"""

from __future__ import annotations

import math
from numbers import Real

from markupsafe import Markup

from ketameta.io import INVISIBLE

MINUS = "\u2212"
MISSING = "\u2013"


def plain(value):
    """``value`` without bidi controls and zero-width characters (:data:`ketameta.io.INVISIBLE`).

    Strings (including ``Markup``, which stays ``Markup``) are cleaned; anything else is
    returned unchanged. The report environment applies it to every value a page prints.
    """
    if isinstance(value, Markup):
        return Markup(INVISIBLE.sub("", value))
    if isinstance(value, str):
        return INVISIBLE.sub("", value)
    return value


def is_number(value: object) -> bool:
    """Whether ``value`` is a finite real number (bools are not numbers here)."""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def num(value: object, digits: int = 2) -> str:
    """Fixed-point number with ``digits`` decimals and a typographic minus.

    ``-0.00`` is printed as ``0.00``: a rounded zero has no sign.
    """
    if not is_number(value):
        return MISSING
    text = f"{float(value):.{digits}f}"
    if text.startswith("-"):
        text = text[1:] if float(text) == 0 else MINUS + text[1:]
    return text


def integer(value: object) -> str:
    """Whole number with a thin-space-free plain rendering (``1234``)."""
    if not is_number(value):
        return MISSING
    return num(round(float(value)), 0)


def pvalue(value: object) -> str:
    """p-value: three decimals, ``<0.001`` below 0.001."""
    if not is_number(value):
        return MISSING
    if value < 0.001:
        return "<0.001"
    return num(value, 3)


def percent(value: object, digits: int = 0) -> str:
    """A number already in percent, with a percent sign (``42%``)."""
    if not is_number(value):
        return MISSING
    return num(value, digits) + "%"


def effect(value: object, digits: int = 2) -> str:
    """An effect or a confidence limit: ``digits`` decimals, none from 100 on (``66162``)."""
    if is_number(value) and abs(float(value)) >= 100:
        return num(value, 0)
    return num(value, digits)


def interval(low: object, high: object, digits: int = 2) -> str:
    """A confidence or prediction interval as ``[low, high]``."""
    return f"[{effect(low, digits)}, {effect(high, digits)}]"


def estimate_ci(estimate: object, low: object, high: object, digits: int = 2) -> str:
    """An estimate with its interval, ``0.45 [0.08, 0.82]``."""
    if not is_number(estimate):
        return MISSING
    return f"{effect(estimate, digits)} {interval(low, high, digits)}"


def tau2(value: object) -> str:
    """τ² with four decimals (metafor's print precision)."""
    return num(value, 4)


def significant(value: object, digits: int = 3) -> str:
    """A number with ``digits`` significant digits (for SDs and raw data cells)."""
    if not is_number(value):
        return MISSING
    value = float(value)
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return num(value, decimals)


def data_value(value: object) -> str:
    """A raw data cell (mean, SD, n) close to how the analyst typed it.

    At most four significant digits without trailing zeros (``24``, ``14.2``, ``0.523``);
    values of 10,000 or more are rounded to whole numbers.
    """
    if not is_number(value):
        return MISSING
    text = format(float(value), ".4g")
    if "e" in text:
        return integer(value)
    return MINUS + text[1:] if text.startswith("-") else text


def tick(value: float) -> str:
    """An axis tick label: the shortest exact decimal (``0.5``, ``2``, ``−1``)."""
    text = f"{value:g}"
    return MINUS + text[1:] if text.startswith("-") else text
