"""ketameta: a vectorised meta-analysis engine that reproduces metafor.

The public API is the two façades of metafor, ``escalc`` and ``rma``, plus the
small-study-effect and sensitivity analyses built on the same batch engine.

Every public name (``__all__``) is loaded on first use (PEP 562, module ``__getattr__``):
``import ketameta.io`` loads the reading and validation code and nothing of the statistics,
and ``ketameta.rma`` imports :mod:`ketameta.models` the first time it is looked up.
Submodules are reachable as attributes the same way (``ketameta.grade``).
"""

from __future__ import annotations

import importlib
import sys
import types

# Public name -> the submodule that defines it.
_EXPORTS = {
    # Small-study effects.
    "RanktestResult": "bias",
    "RegtestResult": "bias",
    "TrimFillResult": "bias",
    "ranktest": "bias",
    "regtest": "bias",
    "trimfill": "bias",
    # Effect sizes and conversions.
    "EFFECT_TYPES": "effects",
    "MEASURES": "effects",
    "d_to_g": "effects",
    "escalc": "effects",
    "hedges_j": "effects",
    "logor_to_smd": "effects",
    "sd_from_se": "effects",
    "se_from_ci": "effects",
    "se_from_p": "effects",
    # The random-effects model and meta-regression.
    "METHODS": "models",
    "TESTS": "models",
    "MetaRegResult": "models",
    "PredictResult": "models",
    "RMAResult": "models",
    "rma": "models",
    # Sensitivity analyses.
    "CumulResult": "sensitivity",
    "InfluenceResult": "sensitivity",
    "Leave1OutResult": "sensitivity",
    "cumul": "sensitivity",
    "influence": "sensitivity",
    "leave1out": "sensitivity",
    # Subgroups.
    "SubgroupResult": "subgroups",
    "subgroup": "subgroups",
    # Multilevel models and cluster-robust inference.
    "RMAMVResult": "multilevel",
    "rma_mv": "multilevel",
    "vcalc": "multilevel",
    "RobustResult": "robust",
    "robust": "robust",
    # Bayesian random effects, Mantel-Haenszel and Peto pooling.
    "BayesResult": "bayes",
    "PosteriorSummary": "bayes",
    "bayesmeta": "bayes",
    "MHResult": "mh",
    "rma_mh": "mh",
    "rma_peto": "mh",
    # Robustness: GOSH.
    "GoshResult": "gosh",
    "gosh": "gosh",
}

__all__ = ["__version__", "priors", *_EXPORTS]


def _version() -> str:
    # One version source: pyproject.toml, as installed package metadata.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ketameta")
    except PackageNotFoundError:  # imported from a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str):
    """Load a public name, ``__version__`` or a submodule on first access, then keep it."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    elif name == "__version__":
        value = _version()
    elif name.isidentifier() and not name.startswith("__"):
        try:
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":
                raise  # the submodule exists but something it imports does not
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """The package module, keeping a function where a submodule has the same name.

    ``ketameta.robust`` and ``ketameta.gosh`` are functions defined in the submodules
    ``ketameta/robust.py`` and ``ketameta/gosh.py``. Loading a submodule sets the package
    attribute of its name to the module; here the function it exports takes that place, so
    the public name means the same whichever import came first.
    """

    def __setattr__(self, name, value):
        if (isinstance(value, types.ModuleType) and _EXPORTS.get(name) == name
                and value.__name__ == f"{__name__}.{name}"):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
