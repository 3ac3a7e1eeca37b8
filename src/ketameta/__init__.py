"""ketameta: a vectorised meta-analysis engine that reproduces metafor.

The public API is the two façades of metafor, ``escalc`` and ``rma``, plus the
small-study-effect and sensitivity analyses built on the same batch engine.
"""

__version__ = "0.1.0"

from .bias import (  # noqa: E402
    RanktestResult,
    RegtestResult,
    TrimFillResult,
    ranktest,
    regtest,
    trimfill,
)
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
from .models import METHODS, TESTS, MetaRegResult, PredictResult, RMAResult, rma  # noqa: E402  # noqa: E402
from .sensitivity import (  # noqa: E402
    CumulResult,
    InfluenceResult,
    Leave1OutResult,
    cumul,
    influence,
    leave1out,
)

__all__ = [
    "METHODS",
    "TESTS",
    "RMAResult",
    "rma",
    "RanktestResult",
    "RegtestResult",
    "TrimFillResult",
    "ranktest",
    "regtest",
    "trimfill",
    "CumulResult",
    "InfluenceResult",
    "Leave1OutResult",
    "cumul",
    "influence",
    "leave1out",
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
    "MetaRegResult",
    "PredictResult",
]

# Multilevel models and cluster-robust inference.
from .multilevel import RMAMVResult, rma_mv, vcalc  # noqa: E402
from .robust import RobustResult, robust  # noqa: E402

__all__ += ["RMAMVResult", "rma_mv", "vcalc", "RobustResult", "robust"]

# Bayesian random effects, Mantel-Haenszel and Peto pooling.
from . import priors  # noqa: E402
from .bayes import BayesResult, PosteriorSummary, bayesmeta  # noqa: E402
from .mh import MHResult, rma_mh, rma_peto  # noqa: E402

__all__ += [
    "BayesResult",
    "PosteriorSummary",
    "bayesmeta",
    "priors",
    "MHResult",
    "rma_mh",
    "rma_peto",
]
