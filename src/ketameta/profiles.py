"""Method profiles: named presets of the statistical methods of an analysis.

A profile fixes the choices a review team usually makes once for a whole review; an
analysis in ``config/config.yaml`` may override any of them (docs/contract.md, section 2). The effective
configuration of an analysis is, from lowest to highest precedence: the schema defaults,
the profile, the analysis' own keys.

Profiles
--------
``cochrane``
    REML τ² (Viechtbauer 2005), Hartung–Knapp–Sidik–Jonkman test and CI (Hartung & Knapp
    2001; Sidik & Jonkman 2002), prediction interval as metafor ``predict()`` (t with k − 1
    df under HKSJ), I² from τ², as the Cochrane Handbook v6 (chapter 10) recommends.
``metafor``
    metafor's own defaults: ``rma(method="REML", test="z")``.
``revman5``
    DerSimonian & Laird (1986) τ², z test and RevMan 5's variance of Hedges' g
    (Deeks & Higgins, *Statistical algorithms in Review Manager 5*, 2010). The prediction
    interval stays metafor's ``predict()`` one, which section 3 of docs/contract.md defines for ``pi_low`` and
    ``pi_high`` (normal quantile under the z test); an analysis may ask for the Higgins,
    Thompson & Spiegelhalter (2009) t(k − 2) interval of Handbook v5.1 section 9.5.4 with
    ``pi: higgins``, and ``pi_method`` in ``summary.json`` then says so.
``iqwig``
    Paule & Mandel (1982) τ² with the ad hoc variance correction of the Knapp–Hartung
    method (Knapp & Hartung 2003), as IQWiG's General Methods describe.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

__all__ = ["PROFILES", "effective_config", "effective_configs"]

#: Keys each profile sets; ``escalc`` holds escalc() options.
PROFILES: dict[str, dict] = {
    "cochrane": {"method": "REML", "test": "knha", "pi": "default", "escalc": {"vtype": "LS"}},
    "metafor": {"method": "REML", "test": "z", "pi": "default", "escalc": {"vtype": "LS"}},
    "revman5": {"method": "DL", "test": "z", "pi": "default", "escalc": {"vtype": "RevMan"}},
    "iqwig": {"method": "PM", "test": "adhoc", "pi": "default", "escalc": {"vtype": "LS"}},
}

# Defaults that do not depend on the profile; the schema states the same values for
# configurations that went through validation, these cover direct library use.
_DEFAULTS = {
    "control": "exact",
    "level": 95,
    "sort_by": "year",
    "multiarm": "combine",
    "exclude": {},
    "escalc": {"to": "only0", "drop00": False},
}


def effective_config(analysis: str, config: Mapping) -> dict:
    """The full set of method choices of one analysis.

    Parameters
    ----------
    analysis : str
        Analysis id, a key of ``config["analyses"]``.
    config : mapping
        The validated configuration.

    Returns
    -------
    dict
        ``analysis, label, condition, outcome, timepoint, measure, profile, method, test,
        control, level, pi, sort_by, multiarm, exclude, escalc{vtype, add, to, drop00}``,
        every value filled in. ``control`` is the analysis's, else the configuration's
        top-level ``control``, else ``"exact"``.
        ``vtype`` is the profile's for SMD and ``"LS"`` for other measures; ``add`` defaults
        to 1/2, or 0 for PFT, as metafor's ``escalc()``.
        Plain data, safe to pass through Snakemake ``params:`` and to write to JSON.
    """
    entry = config["analyses"][analysis]
    profile = config.get("profile", "cochrane")
    base = _merge(copy.deepcopy(_DEFAULTS), PROFILES[profile])
    if "control" in config:  # the configuration's own default, below the analysis
        base["control"] = config["control"]
    merged = _merge(base, entry)
    merged["analysis"] = analysis
    merged["profile"] = profile
    if not merged.get("label"):
        outcome = config.get("outcomes", {}).get(merged["outcome"], {})
        merged["label"] = f"{outcome.get('label', merged['outcome'])}, {merged['timepoint']}"
    escalc = merged["escalc"]
    if merged["measure"] != "SMD":  # the profile's vtype is about Hedges' g only
        escalc["vtype"] = "LS"
    escalc.setdefault("add", 0.0 if merged["measure"] == "PFT" else 0.5)  # metafor's defaults
    merged["escalc"] = dict(sorted(escalc.items()))
    return dict(sorted(merged.items()))


def effective_configs(condition: str, config: Mapping) -> dict[str, dict]:
    """Effective configurations of a condition's analyses, in config order, keyed by id."""
    return {
        name: effective_config(name, config)
        for name, entry in config["analyses"].items()
        if entry["condition"] == condition
    }


def _merge(base: dict, override: Mapping) -> dict:
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            base[key] = _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base
