"""The multiverse of a condition's primary analysis: every defensible specification at once.

A multiverse meta-analysis (Voracek, Kossmeier, Tran 2019, *Z Psychol* 227:64) fits the
meta-analysis under every combination of the choices an analyst could defensibly make and
shows how far the answer moves; the specification curve (Simonsohn, Simmons & Nelson 2020,
*Nat Hum Behav* 4:1208) sorts the results and shows which choice each one made.

Specifications
--------------
The choices of one condition's *primary* analysis (``multiverse.primary`` names it, else the
condition's first analysis in the configuration) are crossed in this order:

1. **Which trials** (``multiverse.trials``): one factor per descriptive column (by default
   ``design``, ``comparator``, ``rob``, ``route``, ``drug``). Each level is ``any`` (no
   restriction), a value of the column (keep the trials with that value), a named group of
   values (``multiverse.groups``; by default ``comparator: placebo`` means saline, placebo
   or placebo_spray), or ``each``, which stands for every value the column takes in the
   analysis's rows, in sorted order.
2. **Omit one trial** (``multiverse.omit_one``): level ``none``, then each trial left out
   in turn (its study label), as in leave-one-out.
3. **Effect measure** (``multiverse.measures``): measure names, ``primary`` (the analysis's
   measure) or ``family`` (every measure its data kind gives: SMD and MD from continuous
   arms; RR, OR and RD from 2×2 tables; PLO, PFT and PR from single arms). A row that cannot
   give a measure (e.g. a reported Cohen's d under MD) is left out of that specification.
4. **τ² estimator** (``multiverse.methods``) and **test** (``multiverse.tests``), metafor's
   names.
5. **Few-trial method** (``multiverse.few_trial``): ``none`` keeps the specification's own
   estimator and test; ``reml_knha`` replaces them by REML with the Hartung–Knapp–Sidik–
   Jonkman test where the specification has fewer than ``multiverse.few_trial_k`` trials.
   :data:`FEW_TRIAL_METHODS` maps each level to what it does; a further few-trial method
   (e.g. a Bayesian one) is one more entry there.

A specification whose trials number fewer than two is counted (``fitted`` false) and not
fitted. Every fitted specification that uses one (estimator, test) pair is one 2-D batch of
:func:`ketameta.models.fit_batch`; data sets shared by several specifications are fitted once.
The fits of one row do not depend on the other rows of its batch, so fitting the
specifications in chunks (:func:`run_specifications` with ``start`` and ``stop``) gives
byte-identical results.

Summary
-------
Estimates of different measures are on different scales, so the summary is given per
measure (the primary measure's first): number of specifications, median, minimum and
maximum estimate, the share of specifications whose CI lies wholly above 0 and wholly below
0 (no effect is 0 on the analysis scale: a difference, or the log of a ratio), and for each
factor its **spread**: the range (maximum minus minimum) of the median estimates of the
specifications that took each level of that factor. The factor with the largest spread is
the one that moves the estimate most (levels with no fitted specification are ignored; a
factor with one level has spread 0).
"""

from __future__ import annotations

import copy
import io
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ketameta._batch import as_batch
from ketameta._results import finite
from ketameta.analysis import MEASURE_KIND, prepare
from ketameta.effects import REPORTED_FOR, escalc
from ketameta.io import _TABLES, DataError, csv_text, read_table, write_text
from ketameta.profiles import effective_config

__all__ = [
    "DEFAULTS",
    "FEW_TRIAL_METHODS",
    "Multiverse",
    "build",
    "check_settings",
    "n_specifications",
    "settings_for",
    "write_chunk",
    "write_condition",
    "for_condition",
    "read_specifications",
    "specification_chunks",
    "to_csv",
    "multiverse_config",
    "primary_analyses",
    "run_specifications",
    "summarise",
    "gosh_block",
]

#: Default ``multiverse`` configuration (the schema states the same values).
DEFAULTS: dict = {
    "enabled": True,
    "primary": {},
    "trials": {
        "design": ["any", "parallel"],
        "comparator": ["any", "placebo"],
        "rob": ["any", "low"],
        "route": ["any", "each"],
        "drug": ["any", "each"],
    },
    "groups": {"comparator": {"placebo": ["saline", "placebo", "placebo_spray"]}},
    "omit_one": True,
    "measures": ["family"],
    "methods": ["REML", "DL", "PM", "SJ", "HE", "ML", "EB", "HS"],
    "tests": ["knha", "z"],
    "few_trial": ["none", "reml_knha"],
    "few_trial_k": 5,
    "chunk_size": 20000,
    "gosh": {"min_k": 5, "max_k_all": 20, "subsets": 100000, "seed": 1, "bins": 40},
}

#: Few-trial methods: level -> (method, test) used where a specification has fewer than
#: ``few_trial_k`` trials, or None to keep the specification's own.
FEW_TRIAL_METHODS: dict[str, tuple[str, str] | None] = {
    "none": None,
    "reml_knha": ("REML", "knha"),
}

_FAMILY = {
    "continuous": ["SMD", "MD"],
    "dichotomous": ["RR", "OR", "RD"],
    "single": ["PLO", "PFT", "PR"],
}
#: A GOSH block lists every subset's point up to this many subsets (k = 10).
GOSH_POINTS = 1023
_RESULTS = ("estimate", "se", "ci_low", "ci_high", "p_value", "tau2", "I2")


def multiverse_config(config: Mapping) -> dict:
    """The ``multiverse`` section of a configuration with every default filled in.

    Lists replace the default list as a whole; mappings are merged key by key.
    """
    merged = copy.deepcopy(DEFAULTS)
    given = config.get("multiverse") or {}
    for key, value in given.items():
        if key in ("trials",):
            merged[key] = copy.deepcopy(dict(value))
        elif isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **copy.deepcopy(dict(value))}
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def primary_analyses(config: Mapping) -> dict[str, str]:
    """Primary analysis of each condition that has analyses, in config order.

    ``multiverse.primary`` maps a condition to an analysis id; otherwise the condition's
    first analysis in the configuration is its primary one.
    """
    chosen = (config.get("multiverse") or {}).get("primary") or {}
    out: dict[str, str] = {}
    for name, entry in config["analyses"].items():
        out.setdefault(entry["condition"], name)
    out.update({c: a for c, a in chosen.items() if c in out})
    return {c: out[c] for c in config["conditions"] if c in out}


class Multiverse:
    """The specifications of one primary analysis and the data sets they use.

    Build it with :func:`build`. Attributes: ``analysis`` (id), ``config`` (the effective
    analysis configuration), ``settings`` (the filled ``multiverse`` section), ``factors``
    (factor name -> list of levels, in crossing order), ``studies`` (labels of the
    analysis's trials), ``effects`` (measure -> (yi, vi) arrays over ``studies``, NaN where
    the row cannot give the measure) and ``level_masks`` (factor -> level -> bool mask over
    ``studies``) for the trial factors.
    """

    def __init__(self, analysis, config, settings, factors, studies, effects, level_masks):
        self.analysis = analysis
        self.config = config
        self.settings = settings
        self.factors = factors
        self.studies = studies
        self.effects = effects
        self.level_masks = level_masks

    @property
    def n_specifications(self) -> int:
        """Number of specifications (the product of the numbers of levels)."""
        return math.prod(len(levels) for levels in self.factors.values())

    def choices(self, start: int = 0, stop: int | None = None) -> pd.DataFrame:
        """The choices of specifications ``start`` to ``stop - 1``, one column per factor."""
        idx, codes = self._codes(start, stop)
        columns = {"spec": idx}
        for name in self.factors:
            columns[name] = np.asarray(self.factors[name], dtype=object)[codes[name]]
        return pd.DataFrame(columns)

    def _codes(self, start: int = 0, stop: int | None = None):
        """Indices of specifications ``start`` to ``stop - 1`` and, per factor, the position
        of each one's level in ``factors[name]`` (the last factor varies fastest)."""
        stop = self.n_specifications if stop is None else min(stop, self.n_specifications)
        names = list(self.factors)
        sizes = [len(self.factors[n]) for n in names]
        idx = np.arange(start, stop, dtype=np.int64)
        rest = idx.copy()
        codes = {}
        for name, size in zip(reversed(names), reversed(sizes), strict=True):
            codes[name] = rest % size
            rest //= size
        return idx, codes


def build(trials: pd.DataFrame, analysis_config: Mapping, settings: Mapping) -> Multiverse:
    """The multiverse of one analysis.

    Parameters
    ----------
    trials : pandas.DataFrame
        The condition's rows (``data/interim/{condition}.csv`` read by
        :func:`ketameta.io.read_table`).
    analysis_config : mapping
        Effective configuration of the primary analysis
        (:func:`ketameta.profiles.effective_config`).
    settings : mapping
        The filled ``multiverse`` section (:func:`multiverse_config`).

    Returns
    -------
    Multiverse
    """
    cfg = dict(analysis_config)
    rows = prepare(trials, cfg).rows.reset_index(drop=True)
    studies, factors, level_masks = _trial_factors(rows, settings)
    measures = _measures(cfg["measure"], settings["measures"])
    factors["measure"] = measures
    factors["method"] = list(settings["methods"])
    factors["test"] = list(settings["tests"])
    factors["few_trial"] = list(settings["few_trial"])
    effects = {m: _effect_sizes(rows, m, cfg) for m in measures}
    return Multiverse(cfg["analysis"], cfg, dict(settings), factors, studies, effects, level_masks)


def _trial_factors(rows: pd.DataFrame, settings: Mapping):
    """Study labels, the trial factors' levels and each level's mask over the rows."""
    studies = [str(s) for s in rows["study"]]
    factors: dict[str, list[str]] = {}
    level_masks: dict[str, dict[str, np.ndarray]] = {}
    everything = np.ones(len(rows), dtype=bool)
    for column, levels in settings["trials"].items():
        values = (
            rows[column].astype(object).where(rows[column].notna(), "").astype(str)
            if column in rows
            else pd.Series([""] * len(rows))
        ).to_numpy()
        groups = settings.get("groups", {}).get(column, {})
        expanded: dict[str, np.ndarray] = {}
        for level in levels:
            if level == "any":
                expanded["any"] = everything
            elif level == "each":
                for value in sorted({v for v in values if v}):
                    expanded.setdefault(value, values == value)
            elif level in groups:
                expanded[level] = np.isin(values, list(groups[level]))
            else:
                expanded[level] = values == level
        factors[column] = list(expanded)
        level_masks[column] = expanded
    if settings.get("omit_one", True):
        factors["omit"] = ["none", *studies]
        level_masks["omit"] = {"none": everything}
        for i, study in enumerate(studies):
            level_masks["omit"][study] = np.arange(len(rows)) != i
    return studies, factors, level_masks


def n_specifications(trials: pd.DataFrame, analysis_config: Mapping, settings: Mapping) -> int:
    """Number of specifications :func:`build` would give, without computing effect sizes.

    Cheap enough to run when the workflow is read (it decides the chunk jobs).
    """
    rows = prepare(trials, dict(analysis_config)).rows.reset_index(drop=True)
    _, factors, _ = _trial_factors(rows, settings)
    n = math.prod(len(levels) for levels in factors.values())
    n *= len(_measures(analysis_config["measure"], settings["measures"]))
    for key in ("methods", "tests", "few_trial"):
        n *= len(settings[key])
    return n


def _measures(primary: str, wanted: Sequence[str]) -> list[str]:
    out: list[str] = []
    for item in wanted:
        if item == "primary":
            out.append(primary)
        elif item == "family":
            out.extend(_FAMILY.get(MEASURE_KIND[primary], [primary]))
        else:
            out.append(item)
    return list(dict.fromkeys(out))


def _effect_sizes(rows: pd.DataFrame, measure: str, cfg: Mapping):
    """yi, vi of every row under ``measure``; NaN where the row cannot give it."""
    kind = rows["kind"].to_numpy(dtype=object)
    etype = rows["effect_type"].astype(object).to_numpy()
    usable = (kind == MEASURE_KIND[measure]) | (
        (kind == "reported") & np.isin(etype, REPORTED_FOR[measure])
    )
    yi = np.full(len(rows), np.nan)
    vi = np.full(len(rows), np.nan)
    if usable.any():
        options = dict(cfg["escalc"])
        if measure != "SMD":
            options["vtype"] = "LS"
        if measure == "PFT" and cfg["measure"] != "PFT":
            options["add"] = 0.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = escalc(measure, rows[usable].reset_index(drop=True), **options)
        y = frame["yi"].to_numpy(dtype=float, copy=True)
        v = frame["vi"].to_numpy(dtype=float, copy=True)
        bad = ~(np.isfinite(y) & np.isfinite(v) & (v > 0))
        y[bad], v[bad] = np.nan, np.nan
        yi[usable], vi[usable] = y, v
    return yi, vi


def run_specifications(mv: Multiverse, start: int = 0, stop: int | None = None) -> pd.DataFrame:
    """Fit specifications ``start`` to ``stop - 1`` and return one row per specification.

    Columns: ``spec`` (0-based index), one column per factor, ``k`` (trials used),
    ``fitted`` (False where k < 2), ``method_used`` and ``test_used`` (after the few-trial
    rule), then ``estimate, se, ci_low, ci_high, p_value, tau2, I2`` (empty where not fitted).
    """
    from ketameta.models import fit_batch

    frame = mv.choices(start, stop)
    _, positions = mv._codes(start, stop)
    n = len(frame)
    trial_factors = [f for f in mv.factors if f in mv.level_masks]
    mask = np.ones((n, len(mv.studies)), dtype=bool)
    for factor in trial_factors:
        levels = mv.factors[factor]
        table = np.stack([mv.level_masks[factor][lv] for lv in levels])
        mask &= table[_level_codes(frame[factor], levels, positions[factor])]
    measure_codes = _level_codes(frame["measure"], mv.factors["measure"], positions["measure"])
    present = np.stack([np.isfinite(mv.effects[m][0]) for m in mv.factors["measure"]])
    mask &= present[measure_codes]
    k = mask.sum(axis=1)
    fitted = k >= 2
    threshold = mv.settings["few_trial_k"]
    method_used = frame["method"].to_numpy(dtype=object).copy()
    test_used = frame["test"].to_numpy(dtype=object).copy()
    for level, replacement in FEW_TRIAL_METHODS.items():
        if replacement is None:
            continue
        few = (frame["few_trial"].to_numpy(dtype=object) == level) & (k < threshold)
        method_used[few], test_used[few] = replacement
    method_used[~fitted] = ""
    test_used[~fitted] = ""

    results = {name: np.full(n, np.nan) for name in _RESULTS}
    # each distinct data set (measure, trials) is fitted once per (method, test)
    keys = np.concatenate([measure_codes[:, None].astype(np.uint8), mask.astype(np.uint8)], 1)
    for method, test in sorted(set(zip(method_used[fitted], test_used[fitted], strict=True))):
        rows = np.flatnonzero(fitted & (method_used == method) & (test_used == test))
        unique, inverse = np.unique(keys[rows], axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        ys = np.empty((len(unique), len(mv.studies)))
        vs = np.empty_like(ys)
        for j, key in enumerate(unique):
            yi, vi = mv.effects[mv.factors["measure"][key[0]]]
            keep = key[1:].astype(bool)
            ys[j] = np.where(keep, yi, np.nan)
            vs[j] = np.where(keep, vi, np.nan)
        fit = fit_batch(
            as_batch(ys, vs), method=method, test=test, level=mv.config["level"], tau2_ci=False
        )
        for name in _RESULTS:
            results[name][rows] = getattr(fit, name)[inverse]
    frame["k"] = k
    frame["fitted"] = fitted
    frame["method_used"] = method_used
    frame["test_used"] = test_used
    for name in _RESULTS:
        frame[name] = results[name]
    return frame


def _level_codes(values: pd.Series, levels: Sequence, positions: np.ndarray) -> np.ndarray:
    """Each value's position among ``levels``: ``positions`` (known from the crossing)
    when the levels are distinct, else pandas' categorical codes (which refuse them)."""
    if len(set(levels)) == len(levels):
        return positions
    return pd.Categorical(values, categories=levels).codes


def to_csv(frame: pd.DataFrame, header: bool = True) -> str:
    """The CSV text of a specification table (floats written so that they round-trip)."""
    return csv_text(frame, header=header)


def read_specifications(text_or_path) -> pd.DataFrame:
    """Read a specification table written by :func:`to_csv` (floats exactly as written).

    The text is parsed once per process: the page reads the table its job has just written
    and summarised (:class:`ketameta.io.ParsedTables`).
    """
    if hasattr(text_or_path, "read"):  # an open file
        data = text_or_path.read()
        data = data.encode("utf-8") if isinstance(data, str) else data
    elif "\n" in str(text_or_path):
        data = str(text_or_path).encode("utf-8")
    else:
        data = Path(text_or_path).read_bytes()
    return _TABLES.parse(data, _parse_specifications)


def _parse_specifications(data: bytes) -> pd.DataFrame:
    return pd.read_csv(
        io.BytesIO(data),
        keep_default_na=False,
        na_values=[""],
        dtype={"method_used": str, "test_used": str},
    )  # pandas 3 parses floats exactly (the shortest text that reads back as the same double)


def summarise(frame: pd.DataFrame, factors: Sequence[str], primary_measure: str) -> dict:
    """The multiverse summary of a specification table (see the module docstring).

    Returns
    -------
    dict
        ``n_specifications, n_fitted, n_too_few`` (fewer than two trials), ``share_positive``
        and ``share_negative`` over all fitted specifications, ``primary_measure`` and
        ``by_measure``: measure -> ``{n_specifications, n_fitted, median, min, max,
        share_positive, share_negative, share_excluding_null, spread: {factor: value},
        most_influential}`` (the primary measure first). Plain Python, JSON-ready.
    """
    is_fitted = frame["fitted"].astype(bool).to_numpy()
    fitted = frame[is_fitted]
    out = {
        "n_specifications": int(len(frame)),
        "n_fitted": int(len(fitted)),
        "n_too_few": int(len(frame) - len(fitted)),
        **_shares(fitted),
        "primary_measure": primary_measure,
        "by_measure": {},
    }
    measure_of = frame["measure"].astype(str)
    measures = list(dict.fromkeys([primary_measure, *measure_of.unique()]))
    measure_of = measure_of.to_numpy(dtype=object)
    estimate = frame["estimate"].to_numpy(dtype=float)
    # each factor's level of every specification, as text (missing stays missing)
    levels = {f: frame[f].astype(str) for f in factors if f != "measure"}
    for measure in measures:
        in_measure = measure_of == measure
        if not in_measure.any():
            continue
        chosen = in_measure & is_fitted
        sub = frame[chosen]
        est = estimate[chosen]
        spread = {}
        for factor, values in levels.items():
            medians = _group_medians(values[chosen], est)
            spread[factor] = finite(medians.max() - medians.min()) if len(medians) else None
        ranked = [f for f in spread if spread[f] is not None]
        out["by_measure"][measure] = {
            "n_specifications": int(in_measure.sum()),
            "n_fitted": int(len(sub)),
            "median": finite(np.median(est)) if est.size else None,
            "min": finite(est.min()) if est.size else None,
            "max": finite(est.max()) if est.size else None,
            **_shares(sub),
            "spread": spread,
            "most_influential": max(ranked, key=lambda f: spread[f]) if ranked else None,
        }
    return out


def _group_medians(keys: pd.Series, values: np.ndarray) -> pd.Series:
    """Median of ``values`` within each group of equal ``keys``, as
    ``values.groupby(keys).median()`` gives it: missing keys form no group, NaN values are
    skipped, a group of NaN only has median NaN. A median of an even number of values is
    the mean of the middle two, ``(a + b) / 2``, in pandas as in NumPy."""
    codes, uniques = pd.factorize(keys)  # missing keys get -1
    medians = np.full(len(uniques), np.nan)
    for group in range(len(uniques)):
        members = values[codes == group]
        members = members[~np.isnan(members)]
        if members.size:
            medians[group] = np.median(members)
    return pd.Series(medians)


def _shares(fitted: pd.DataFrame) -> dict:
    n = len(fitted)
    pos = int((fitted["ci_low"] > 0).sum())
    neg = int((fitted["ci_high"] < 0).sum())
    return {
        "share_positive": pos / n if n else None,
        "share_negative": neg / n if n else None,
        "share_excluding_null": (pos + neg) / n if n else None,
    }


def gosh_block(mv: Multiverse) -> dict | None:
    """GOSH of the primary analysis (all its trials, primary measure), or None if k is small.

    Uses the analysis's own estimator and test and ``multiverse.gosh`` (``min_k``,
    ``max_k_all``, ``subsets``, ``seed``, ``bins``). Returns :meth:`GoshResult.summary`
    plus ``density`` (counts of subsets on a ``bins`` × ``bins`` grid of estimate against
    I², rows along the estimate), ``estimate_edges``, ``I2_edges`` and ``points``
    (``[estimate, I2]`` of every subset while there are at most :data:`GOSH_POINTS`, else
    None).
    """
    from ketameta.gosh import gosh

    opts = mv.settings["gosh"]
    yi, vi = mv.effects[mv.config["measure"]]
    ok = np.isfinite(yi)
    if ok.sum() < max(opts["min_k"], 2):
        return None
    res = gosh(
        yi[ok],
        vi[ok],
        method=mv.config["method"],
        test=mv.config["test"],
        level=mv.config["level"],
        subsets=opts["subsets"] if ok.sum() > opts["max_k_all"] else None,
        seed=opts["seed"],
        max_k_all=opts["max_k_all"],
    )
    counts, x_edges, y_edges = res.density(bins=opts["bins"])
    few = res.n_subsets <= GOSH_POINTS
    return {
        **res.summary(),
        "k": int(ok.sum()),
        "density": counts.tolist(),
        "estimate_edges": [float(x) for x in x_edges],
        "I2_edges": [float(y) for y in y_edges],
        "points": [
            [float(e), float(i)]
            for e, i in zip(res.estimate, res.I2, strict=True)
            if math.isfinite(e) and math.isfinite(i)
        ]
        if few
        else None,
    }


def for_condition(trials: pd.DataFrame, config: Mapping, condition: str) -> Multiverse:
    """The multiverse of a condition's primary analysis (:func:`primary_analyses`)."""
    analysis = primary_analyses(config)[condition]
    return build(trials, effective_config(analysis, config), multiverse_config(config))


def specification_chunks(n: int, size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` ranges of at most ``size`` specifications covering ``0 … n - 1``."""
    size = max(1, int(size))
    return [(s, min(n, s + size)) for s in range(0, max(n, 1), size)] if n else [(0, 0)]


# ----------------------------------------------------------------------------- workflow


def check_settings(config: Mapping, config_path: str = "config/config.yaml") -> None:
    """Check the ``multiverse`` section against the analyses (after schema validation).

    Raises
    ------
    DataError
        If ``primary`` names an undeclared condition, an unknown analysis or an analysis of
        another condition (the message names the key ``multiverse.primary.<condition>``).
    """
    section = config.get("multiverse") or {}
    for condition, analysis in (section.get("primary") or {}).items():
        key = f"multiverse.primary.{condition}"
        if condition not in config["conditions"]:
            raise DataError(
                config_path,
                f"condition {condition!r} is not declared under conditions (declared: "
                f"{', '.join(config['conditions'])})",
                key=key,
            )
        entry = config["analyses"].get(analysis)
        if entry is None:
            raise DataError(config_path, f"analysis {analysis!r} is not configured", key=key)
        if entry["condition"] != condition:
            raise DataError(
                config_path,
                f"analysis {analysis!r} belongs to condition {entry['condition']}, not {condition}",
                key=key,
            )


def settings_for(config: Mapping) -> dict:
    """The filled ``multiverse`` section without ``primary`` (a per-condition choice).

    This is what a condition's multiverse depends on besides its primary analysis's
    effective configuration and data, so the workflow passes exactly these as parameters.
    """
    settings = multiverse_config(config)
    settings.pop("primary", None)
    return settings


def write_chunk(
    rows_path, analysis_config: Mapping, settings: Mapping, start: int, stop: int, out_path
) -> None:
    """Fit specifications ``start`` to ``stop - 1`` and write them (CSV without header)."""
    mv = build(read_table(rows_path), analysis_config, settings)
    write_text(to_csv(run_specifications(mv, start, stop), header=False), out_path)


def write_condition(
    rows_path,
    analysis_config: Mapping,
    settings: Mapping,
    table_path,
    summary_path,
    chunks: Sequence = (),
) -> None:
    """Write a condition's specification table and summary JSON.

    With ``chunks`` (paths written by :func:`write_chunk`, in order) the table is their
    concatenation; without, every specification is fitted here. Both give the same bytes:
    the summary is computed from the table's text in either case.
    """
    mv = build(read_table(rows_path), analysis_config, settings)
    if chunks:
        header = to_csv(run_specifications(mv, 0, 0))
        text = header + "".join(Path(p).read_text(encoding="utf-8") for p in chunks)
    else:
        text = to_csv(run_specifications(mv))
    frame = read_specifications(text)
    summary = {
        "analysis": mv.analysis,
        "condition": mv.config["condition"],
        "label": mv.config["label"],
        "measure": mv.config["measure"],
        "method": mv.config["method"],
        "test": mv.config["test"],
        "level": mv.config["level"],
        "studies": mv.studies,
        "factors": mv.factors,
        "multiverse": summarise(frame, list(mv.factors), mv.config["measure"]),
        "gosh": gosh_block(mv),
    }
    write_text(text, table_path)
    write_text(json.dumps(summary, indent=1, allow_nan=False) + "\n", summary_path)
