"""ketameta: a vectorised meta-analysis engine that reproduces metafor.

The public API is the two façades of metafor, ``escalc`` and ``rma``, plus the
small-study-effect and sensitivity analyses built on the same batch engine.
"""

__version__ = "0.1.0"

from .effects import (  # noqa: E402
    EFFECT_TYPES,
    MEASURES,
    d_to_g,
    escalc,
    hedges_j,
    logor_to_smd,
    sd_from_se,
    se_from_ci,
    se_from_p,
)

__all__ = [
    "EFFECT_TYPES",
    "MEASURES",
    "__version__",
    "d_to_g",
    "escalc",
    "hedges_j",
    "logor_to_smd",
    "sd_from_se",
    "se_from_ci",
    "se_from_p",
]
