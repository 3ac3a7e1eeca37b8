"""Page rendering: the Jinja2 environment, its filters, and the context of each page.

One :class:`jinja2.Environment` renders every page. It loads the package's templates
(``PackageLoader``), escapes every substituted value (``autoescape=True`` for all template
names; ``select_autoescape`` would silently stop escaping templates with other extensions)
and raises on any undefined variable (``StrictUndefined``), so a missing value fails the
build instead of printing an empty cell. Numbers are formatted only by the filters
registered here (:mod:`ketameta.report.formatting`), so templates do no arithmetic.

The only markup marked safe is the SVG that :mod:`ketameta.report.plots` generated (it is
re-serialised by ElementTree and checked for scripts there). Everything read from the data
or the configuration reaches the page through autoescaping, in HTML and, because matplotlib
and ElementTree escape text, in the SVG as well.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import jinja2
import numpy as np
from markupsafe import Markup

from ketameta.absolute import family_of
from ketameta.analysis import participants

from . import formatting as fmt
from . import methods as methods_mod
from . import plots
from .plots import Axis, Column, Row

__all__ = ["environment", "condition_context", "index_context", "load_analysis", "write_page"]

#: Display names of the effect measures; ``log`` measures are pooled on the log scale.
MEASURES: dict[str, dict] = {
    "SMD": {"short": "SMD", "name": "Standardised mean difference (Hedges' g)", "log": False},
    "MD": {"short": "MD", "name": "Mean difference", "log": False},
    "RR": {"short": "RR", "name": "Risk ratio", "log": True},
    "OR": {"short": "OR", "name": "Odds ratio", "log": True},
    "HR": {"short": "HR", "name": "Hazard ratio", "log": True},
    "RD": {"short": "RD", "name": "Risk difference", "log": False},
    "PLO": {"short": "logit", "name": "Proportion, logit scale", "log": False, "single": True},
    "PFT": {"short": "PFT", "name": "Proportion, Freeman–Tukey double-arcsine scale",
            "log": False, "single": True},
    "PR": {"short": "PR", "name": "Proportion", "log": False, "single": True},
    "GEN": {"short": "Effect", "name": "Effect as reported", "log": False},
}

_TEST_NAMES = {
    "z": "z test (normal approximation)",
    "knha": "Hartung–Knapp–Sidik–Jonkman",
    "adhoc": "Hartung–Knapp–Sidik–Jonkman, ad hoc variance correction",
    "t": "t test",
}

_NUMERIC = ("year", "yi", "vi", "sei", "ci_low", "ci_high", "weight", "n_treat", "mean_treat",
            "sd_treat", "n_ctrl", "mean_ctrl", "sd_ctrl", "events_treat", "events_ctrl")

_TIME_UNITS = {"min": ("min", "min"), "h": ("h", "h"), "d": ("day", "days"),
               "w": ("week", "weeks")}


# ----------------------------------------------------------------------------- environment


def _cell(value: object, kind: str = "text") -> str:
    """Format one table cell by its column kind (the filter behind the table macro)."""
    if kind in ("text", "range"):
        return fmt.MISSING if value is None or value == "" else str(value)
    if kind == "int":
        return fmt.integer(value)
    if kind == "data":
        return fmt.data_value(value)
    if kind == "eff":
        return fmt.effect(value)
    if kind == "effci":
        est, low, high = value
        return fmt.estimate_ci(est, low, high)
    if kind == "effci_opt":
        if value is None:
            return "not pooled (k < 2)"
        est, low, high = value
        return fmt.estimate_ci(est, low, high)
    if kind == "ci":
        low, high = value
        return fmt.interval(low, high) if fmt.is_number(low) else fmt.MISSING
    if kind == "p":
        return fmt.pvalue(value)
    if kind == "pct0":
        return fmt.percent(value, 0)
    if kind == "pct1":
        return fmt.percent(value, 1)
    if kind == "tau2":
        return fmt.tau2(value)
    if kind == "num2":
        return fmt.num(value, 2)
    if kind == "num3":
        return fmt.num(value, 3)
    if kind == "flag":
        return "yes" if value else ""
    raise ValueError(f"unknown table column kind {kind!r}")


def _numeric_kind(kind: str) -> bool:
    return kind not in ("text", "flag", "link")


def environment() -> jinja2.Environment:
    """The Jinja2 environment of all report pages (see the module docstring)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ketameta", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=fmt.plain,
    )
    env.filters.update(
        num=fmt.num,
        effect=fmt.effect,
        integer=fmt.integer,
        pvalue=fmt.pvalue,
        percent=fmt.percent,
        interval=fmt.interval,
        estimate_ci=fmt.estimate_ci,
        tau2=fmt.tau2,
        cell=_cell,
    )
    env.tests["numeric_kind"] = _numeric_kind
    return env


def write_page(template: str, context: Mapping, out_path: str | Path) -> None:
    """Render ``template`` with ``context`` and write it as UTF-8 with ``\\n`` line ends."""
    html = environment().get_template(template).render(**context)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(html)


# ----------------------------------------------------------------------------- loading


def _to_number(text: str | None) -> float | None:
    if text is None or text.strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def load_analysis(summary_path: str | Path, effects_path: str | Path) -> dict:
    """Read one analysis' ``summary.json`` and ``effects.csv``.

    Returns a dict with ``summary`` (the parsed JSON), ``studies`` (one dict per effects.csv
    row, numeric columns as float or None, text columns as str), ``csv_bytes`` (the file as
    read, for the download link) and ``files`` (path → SHA-256 of both files).

    Raises
    ------
    ValueError
        If the two files belong to different analyses.
    """
    summary_path, effects_path = Path(summary_path), Path(effects_path)
    summary_bytes = summary_path.read_bytes()
    csv_bytes = effects_path.read_bytes()
    summary = json.loads(summary_bytes)
    if summary_path.parent != effects_path.parent:
        raise ValueError(
            f"{summary_path} and {effects_path} are not in the same analysis folder; "
            "pass the summary.json and effects.csv of each analysis in the same order"
        )
    text = csv_bytes.decode("utf-8-sig")
    studies = []
    for record in csv.DictReader(text.splitlines()):
        row = {key: (value if value is not None else "") for key, value in record.items()}
        for key in _NUMERIC:
            if key in row:
                row[key] = _to_number(row[key])
        studies.append(row)
    return {
        "summary": summary,
        "studies": studies,
        "csv_bytes": csv_bytes,
        "files": {
            str(summary_path): hashlib.sha256(summary_bytes).hexdigest(),
            str(effects_path): hashlib.sha256(csv_bytes).hexdigest(),
        },
    }


# ----------------------------------------------------------------------------- helpers


def measure_info(measure: str, studies: Sequence[Mapping]) -> dict:
    """Display name, short name and scale of an analysis' measure.

    ``GEN`` takes the name and scale of the reported effect types when they are all of one
    family (e.g. ``RR`` and ``logRR`` → risk ratio on the log scale, since the pipeline
    takes logs of ratios); otherwise "Effect as reported" on its own scale.
    """
    if measure == "GEN":
        family = family_of("GEN", [str(s.get("effect_type", "")) for s in studies])
        return {**MEASURES[family], "measure": "GEN", "family": family}
    info = MEASURES.get(measure, {"short": measure, "name": measure, "log": False})
    return {**info, "measure": measure, "family": measure}


def display(value: float | None, log: bool) -> float | None:
    """Back-transform an analysis-scale value for display (exp for ratio measures)."""
    if not fmt.is_number(value):
        return None
    return math.exp(value) if log else float(value)


def timepoint_label(timepoint: str) -> str:
    """``24h`` → ``24 h``, ``7d`` → ``7 days``, ``end`` → ``end of treatment``."""
    if timepoint == "end":
        return "end of treatment"
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(min|h|d|w)", timepoint)
    if not match:
        return timepoint
    number, unit = match.groups()
    singular, plural = _TIME_UNITS[unit]
    return f"{number} {singular if number == '1' else plural}"


def _ranked(values: Sequence[str]) -> list[tuple[str, int]]:
    """Distinct non-empty values with counts, most frequent first, ties alphabetically."""
    counts = Counter(v.strip() for v in values if v and v.strip())
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _listing(values: Sequence[str]) -> str:
    ranked = _ranked(values)
    if not ranked:
        return "not reported"
    return ", ".join(f"{name} ({count})" if len(ranked) > 1 else name for name, count in ranked)


def intervention_name(studies: Sequence[Mapping]) -> str:
    """Name of the intervention for "favours" labels and column headers.

    The drug of the trials; "(es)ketamine" when both ketamine and esketamine trials are
    pooled; the drugs joined by "or" (most trials first) for other mixtures; "treatment"
    when no trial names its drug.
    """
    drugs = [name for name, _ in _ranked([str(s.get("drug", "")) for s in studies])]
    if not drugs:
        return "treatment"
    if {d.lower() for d in drugs} == {"ketamine", "esketamine"}:
        return "(es)ketamine"
    return " or ".join(drugs)


def _study_label(study: Mapping) -> str:
    label = str(study.get("study", ""))
    arm = str(study.get("arm", "") or "").strip()
    return f"{label} ({arm})" if arm and arm not in label else label


def _data_kind(study: Mapping) -> str:
    if fmt.is_number(study.get("mean_treat")) and fmt.is_number(study.get("mean_ctrl")):
        return "continuous"
    if fmt.is_number(study.get("events_treat")) and fmt.is_number(study.get("events_ctrl")):
        return "dichotomous"
    if fmt.is_number(study.get("events_treat")):
        return "single"
    return "reported"


def _nnt_value(value: int | None) -> str:
    """An NNT for display: ∞ where it is infinite (risk difference 0)."""
    return "∞" if value is None else fmt.integer(value)


def absolute_effects(summary: Mapping, lower_is_better: bool, intervention: str) -> dict | None:
    """The ``absolute`` block of ``summary.json`` (:mod:`ketameta.absolute`) for display.

    Adds the wording that depends on the outcome's direction: whether the NNT is one
    needed to treat for one more beneficial (NNTB) or harmful (NNTH) outcome, and the
    NNT's CI, which passes through infinity when the CI of the risk difference includes 0
    (Altman 1998, BMJ 317:1309).
    """
    block = summary.get("absolute")
    if block is None or not block.get("available"):
        return block
    out = {**block, "intervention": intervention}
    if block["kind"] != "dichotomous":
        return out
    benefit_positive = not lower_is_better
    rd = block["rd"]

    def kind(value: float) -> str:
        return "NNTB" if (value > 0) == benefit_positive else "NNTH"

    out["nnt"] = "∞" if rd == 0 else f"{kind(rd)} {_nnt_value(block['nnt'])}"
    low, high = block["nnt_rd_low"], block["nnt_rd_high"]
    if not block["rd_ci_includes_0"]:
        # the CI limit with the larger absolute risk difference gives the smaller NNT
        near, far = (low, high) if abs(block["rd_low"]) >= abs(block["rd_high"]) else (high, low)
        out["nnt_range"] = f"{kind(rd)} {_nnt_value(near)} to {_nnt_value(far)}"
    else:
        to_b, to_h = (high, low) if benefit_positive else (low, high)
        out["nnt_range"] = f"NNTB {_nnt_value(to_b)} to ∞ to NNTH {_nnt_value(to_h)}"
    return out


def _statistic_text(summary: Mapping) -> str:
    stat, p = summary.get("statistic"), summary.get("p_value")
    if not fmt.is_number(stat):
        return "Test for overall effect: not available"
    if summary.get("test") == "z":
        return f"Test for overall effect: z = {fmt.num(stat)}, p = {fmt.pvalue(p)}"
    df = summary.get("df")
    df_text = f" (df = {fmt.num(df, 0) if float(df).is_integer() else fmt.num(df, 2)})" \
        if fmt.is_number(df) else ""
    return f"Test for overall effect: t = {fmt.num(stat)}{df_text}, p = {fmt.pvalue(p)}"


def _heterogeneity_text(summary: Mapping) -> str:
    s = summary
    tau2_ci = f"[{fmt.tau2(s.get('tau2_ci_low'))}, {fmt.tau2(s.get('tau2_ci_high'))}]"
    i2_ci = (f"[{fmt.percent(s.get('I2_ci_low'))}, {fmt.percent(s.get('I2_ci_high'))}]"
             if fmt.is_number(s.get("I2_ci_low")) else "")
    tau2_part = f"τ² = {fmt.tau2(s.get('tau2'))}"
    if fmt.is_number(s.get("tau2_ci_low")):
        tau2_part += f" {tau2_ci}"
    return (f"Heterogeneity: {tau2_part}; I² = {fmt.percent(s.get('I2'))} {i2_ci}".rstrip()
            + f"; Q = {fmt.num(s.get('Q'))}, df = {fmt.integer(s.get('Q_df'))}, "
            f"p = {fmt.pvalue(s.get('Q_p'))}")


def model_label(summary: Mapping) -> str:
    """Short label of the pooled model, e.g. ``Random effects (REML, HKSJ)``."""
    method = str(summary.get("method", ""))
    if method in ("EE", "FE"):
        return "Equal-effects model"
    test = {"knha": "HKSJ", "adhoc": "HKSJ ad hoc", "z": "z", "t": "t"}.get(
        str(summary.get("test")), str(summary.get("test")))
    return f"Random-effects model ({method}, {test})"


def _column_groups(columns: Sequence[Mapping]) -> list[dict]:
    """Runs of adjacent columns sharing a ``group`` label, for a two-row table header."""
    groups: list[dict] = []
    for i, col in enumerate(columns):
        label = col.get("group", "")
        if label and groups and groups[-1]["label"] == label:
            groups[-1]["span"] += 1
        else:
            groups.append({"label": label, "span": 1, "first": i})
    return groups


def _data_uri(data: bytes) -> str:
    return "data:text/csv;charset=utf-8;base64," + base64.b64encode(data).decode("ascii")


# ----------------------------------------------------------------------------- one analysis


def analysis_context(loaded: Mapping, config: Mapping) -> dict:
    """Everything the condition template shows about one analysis (see condition.html)."""
    summary = loaded["summary"]
    studies = loaded["studies"]
    aid = summary["analysis"]
    entry = config["analyses"][aid]
    outcome_cfg = config["outcomes"][entry["outcome"]]
    condition_cfg = config["conditions"][entry["condition"]]
    lower_is_better = bool(outcome_cfg.get("lower_is_better", True))
    info = measure_info(summary["measure"], studies)
    log = bool(info["log"])
    single = bool(info.get("single", False))
    level = summary.get("level", 95)
    level_text = fmt.num(level, 0) if float(level).is_integer() else fmt.num(level, 1)
    k = int(summary["k"])
    pooled = k >= 2 and fmt.is_number(summary.get("estimate"))
    intervention = intervention_name(studies)
    title = entry.get("label") or (
        f"{outcome_cfg['label']} at {timepoint_label(entry['timepoint'])}")
    short = info["short"]

    favours_int = f"Favours {intervention}"
    if single:
        favours = (None, None)
    elif lower_is_better:
        favours = (favours_int, "Favours control")
    else:
        favours = ("Favours control", favours_int)
    axis = Axis(label=info["name"] + (" (log scale)" if log else ""), log=log,
                null=None if single else 0.0, favours_left=favours[0], favours_right=favours[1])

    kinds = {_data_kind(s) for s in studies}
    left: list[Column] = []
    int_title = intervention[:1].upper() + intervention[1:] if intervention[:1] != "(" else (
        "(Es)" + intervention[4:])
    if "continuous" in kinds:
        left += [Column("N", int_title), Column("Mean", int_title), Column("SD", int_title),
                 Column("N", "Control"), Column("Mean", "Control"), Column("SD", "Control")]
    if "dichotomous" in kinds or "single" in kinds:
        left += [Column("Events", int_title), Column("N", int_title)]
        if "dichotomous" in kinds:
            left += [Column("Events", "Control"), Column("N", "Control")]
    if "reported" in kinds:
        left += [Column("Reported as", "")]
    right = [Column("Weight"), Column(f"{short} [{level_text}% CI]")]

    def cells(s: Mapping) -> tuple[str, ...]:
        out: list[str] = []
        kind = _data_kind(s)
        dv = fmt.data_value
        # a reported-effect row may carry arm sizes (docs/architecture.md): show them
        def size(col: str) -> str:
            return dv(s.get(col)) if fmt.is_number(s.get(col)) else ""

        if "continuous" in kinds:
            out += ([dv(s.get(c)) for c in ("n_treat", "mean_treat", "sd_treat", "n_ctrl",
                                            "mean_ctrl", "sd_ctrl")]
                    if kind == "continuous" else [size("n_treat"), "", "", size("n_ctrl"), "", ""])
        if "dichotomous" in kinds or "single" in kinds:
            out += ([dv(s.get("events_treat")), dv(s.get("n_treat"))]
                    if kind in ("dichotomous", "single") else ["", size("n_treat")])
            if "dichotomous" in kinds:
                out += ([dv(s.get("events_ctrl")), dv(s.get("n_ctrl"))]
                        if kind == "dichotomous" else ["", size("n_ctrl")])
        if "reported" in kinds:
            out.append(str(s.get("effect_type", "") or "") if kind == "reported" else "")
        return tuple(out)

    def effect_text(est, low, high):
        return fmt.estimate_ci(display(est, log), display(low, log), display(high, log))

    influential = {str(i.get("study")): bool(i.get("influential"))
                   for i in summary.get("influence") or []}
    rows = []
    for s in studies:
        rows.append(Row(
            kind="study", label=_study_label(s), cells=cells(s),
            right=(fmt.percent(s.get("weight"), 1) if pooled else "", effect_text(
                s.get("yi"), s.get("ci_low"), s.get("ci_high"))),
            estimate=s.get("yi"), low=s.get("ci_low"), high=s.get("ci_high"),
            weight=s.get("weight") if pooled else None))
    footer: list[str] = []
    if pooled:
        totals: list[str] = []
        if "continuous" in kinds:
            totals += [fmt.integer(sum(s["n_treat"] for s in studies
                                       if fmt.is_number(s.get("n_treat")))), "", "",
                       fmt.integer(sum(s["n_ctrl"] for s in studies
                                       if fmt.is_number(s.get("n_ctrl")))), "", ""]
        if "dichotomous" in kinds or "single" in kinds:
            for col in ("events_treat", "n_treat") + (
                    ("events_ctrl", "n_ctrl") if "dichotomous" in kinds else ()):
                totals.append(fmt.integer(sum(s[col] for s in studies
                                              if _data_kind(s) != "reported"
                                              and fmt.is_number(s.get(col)))))
        if "reported" in kinds:
            totals.append("")
        rows.append(Row(kind="pooled", label=model_label(summary), cells=tuple(totals),
                        right=("100.0%", effect_text(summary["estimate"], summary["ci_low"],
                                                     summary["ci_high"])),
                        estimate=summary["estimate"], low=summary["ci_low"],
                        high=summary["ci_high"]))
        if fmt.is_number(summary.get("pi_low")):
            rows.append(Row(kind="pi", label=f"{level_text}% prediction interval",
                            right=("", fmt.interval(display(summary["pi_low"], log),
                                                    display(summary["pi_high"], log))),
                            low=summary["pi_low"], high=summary["pi_high"]))
        footer = [_heterogeneity_text(summary), _statistic_text(summary)]
    else:
        footer = ["Too few trials to pool (k = 1): the study's own effect is shown."]

    forest = Markup(plots.forest_svg(
        f"forest-{aid}", f"Forest plot: {title}", rows, axes=[axis], left=left, right=right,
        footer=footer)) if rows else None

    # the text alternative of the forest plot: the same numbers, one row per study
    table_columns = [{"key": "label", "header": "Study", "kind": "text"},
                     {"key": "year", "header": "Year", "kind": "int"}]
    data_cols = [("events_treat", "Events", int_title), ("n_treat", "N", int_title),
                 ("mean_treat", "Mean", int_title), ("sd_treat", "SD", int_title),
                 ("events_ctrl", "Events", "Control"), ("n_ctrl", "N", "Control"),
                 ("mean_ctrl", "Mean", "Control"), ("sd_ctrl", "SD", "Control")]
    for key, header, group in data_cols:
        if any(fmt.is_number(s.get(key)) for s in studies):
            table_columns.append({"key": key, "header": header, "kind": "data",
                                  "group": group})
    if "reported" in kinds:
        table_columns.append({"key": "effect_type", "header": "Reported as", "kind": "text"})
    table_columns += [
        {"key": "effect", "header": f"{short} [{level_text}% CI]", "kind": "effci"},
        {"key": "weight", "header": "Weight", "kind": "pct1"},
    ]
    for key, header in (("design", "Design"), ("route", "Route"), ("dose", "Dose"),
                        ("comparator", "Comparator"), ("scale", "Scale"),
                        ("rob", "Risk of bias")):
        if any(str(s.get(key, "") or "").strip() for s in studies):
            table_columns.append({"key": key, "header": header, "kind": "text"})
    records = []
    for s in studies:
        rec = {c["key"]: s.get(c["key"]) for c in table_columns}
        rec["label"] = _study_label(s)
        rec["effect"] = (display(s.get("yi"), log), display(s.get("ci_low"), log),
                         display(s.get("ci_high"), log))
        rec["weight"] = s.get("weight") if pooled else None
        records.append(rec)
    study_table = {"id": f"studies-{aid}", "columns": table_columns, "records": records,
                   "caption": f"Trials, their data, effects and weights: {title}"}
    groups = _column_groups(table_columns)
    if any(g["label"] for g in groups):
        study_table["groups"] = groups

    context: dict = {
        "id": aid, "title": title, "k": k, "pooled": pooled,
        "n_participants": summary.get("n_participants") or None,
        "question": {
            "population": condition_cfg["label"],
            "intervention": _listing([str(s.get("drug", "")) for s in studies]),
            "routes": _listing([str(s.get("route", "")) for s in studies]),
            "comparator": _listing([str(s.get("comparator", "")) for s in studies]),
            "outcome": outcome_cfg["label"],
            "direction": "lower is better" if lower_is_better else "higher is better",
            "timepoint": timepoint_label(str(entry["timepoint"])),
            "measure": info["name"],
        },
        "measure_short": short, "log": log, "level": level_text,
        "forest": forest, "study_table": study_table,
        "csv_uri": _data_uri(loaded["csv_bytes"]), "csv_name": f"{aid}_effects.csv",
        "warnings": list(summary.get("warnings") or []),
        "excluded": [
            {"study": str(e.get("study", "")), "reason": str(e.get("reason", "")),
             "where": f"{e.get('source', '')}, line {e.get('line', '')}"}
            for e in summary.get("excluded") or []],
        "multiarm": [
            {"study": str(m.get("study", "")), "arms": ", ".join(map(str, m.get("arms") or [])),
             "action": str(m.get("action", "")),
             "where": f"{m.get('source', '')}, lines "
                      + ", ".join(str(x) for x in m.get("lines") or [])}
            for m in summary.get("multiarm") or []],
        "converged": bool(summary.get("converged", True)),
        "model_label": model_label(summary),
        "method": summary.get("method"), "test_name": _TEST_NAMES.get(
            str(summary.get("test")), str(summary.get("test"))),
    }
    if not pooled:
        return context

    d = lambda v: display(v, log)  # noqa: E731
    context.update({
        "estimate": d(summary["estimate"]), "ci_low": d(summary["ci_low"]),
        "ci_high": d(summary["ci_high"]), "p_value": summary.get("p_value"),
        "pi_low": d(summary.get("pi_low")), "pi_high": d(summary.get("pi_high")),
        "heterogeneity": _heterogeneity_text(summary),
        "overall_test": _statistic_text(summary),
        "I2": summary.get("I2"),
        "absolute": absolute_effects(summary, lower_is_better, intervention),
    })

    # small-study effects
    sei = [s.get("sei") for s in studies]
    yi = [s.get("yi") for s in studies]
    filled = summary.get("trimfill_filled") or []
    funnel = None
    if all(fmt.is_number(v) for v in yi + sei):
        funnel = Markup(plots.funnel_svg(
            f"funnel-{aid}", f"Contour-enhanced funnel plot: {title}", yi, sei,
            estimate=summary["estimate"], axis=axis,
            filled_yi=[f["yi"] for f in filled], filled_sei=[math.sqrt(f["vi"]) for f in filled],
            adjusted=summary.get("trimfill_estimate")))
    if k < 3:
        funnel = None
    k0 = summary.get("trimfill_k0")
    context["small_study"] = {
        "funnel": funnel,
        "egger_statistic": summary.get("egger_statistic"), "egger_p": summary.get("egger_p"),
        "begg_tau": summary.get("begg_tau"), "begg_p": summary.get("begg_p"),
        "k0": k0, "side": summary.get("trimfill_side"),
        "adjusted": (d(summary.get("trimfill_estimate")), d(summary.get("trimfill_ci_low")),
                     d(summary.get("trimfill_ci_high"))),
        "few": k < 10, "too_few": k < 3,
    }

    # sensitivity: leave-one-out and influence, equal- beside random-effects
    loo = summary.get("leave1out") or []
    loo_rows = []
    loo_records = []
    for item in loo:
        name = str(item.get("study"))
        flag = influential.get(name, False)
        loo_rows.append(Row(kind="study", label=f"Omitting {name}", right=(
            effect_text(item.get("estimate"), item.get("ci_low"), item.get("ci_high")),
            fmt.tau2(item.get("tau2")), fmt.percent(item.get("I2"))),
            estimate=item.get("estimate"), low=item.get("ci_low"), high=item.get("ci_high"),
            flagged=flag))
        loo_records.append({"label": name, "effect": (d(item.get("estimate")),
                                                      d(item.get("ci_low")), d(item.get("ci_high"))),
                            "tau2": item.get("tau2"), "I2": item.get("I2"), "influential": flag})
    loo_svg = None
    if loo_rows:
        loo_rows.append(Row(kind="pooled", label="All trials", right=(
            effect_text(summary["estimate"], summary["ci_low"], summary["ci_high"]),
            fmt.tau2(summary.get("tau2")), fmt.percent(summary.get("I2"))),
            estimate=summary["estimate"], low=summary["ci_low"], high=summary["ci_high"]))
        loo_axis = Axis(label=axis.label, log=log, null=axis.null,
                        favours_left=axis.favours_left, favours_right=axis.favours_right)
        loo_svg = Markup(plots.forest_svg(
            f"loo-{aid}", f"Leave-one-out analysis: {title}", loo_rows, axes=[loo_axis],
            right=[Column(f"{short} [{level_text}% CI]"), Column("τ²"), Column("I²")],
            refline=summary["estimate"], band=(summary["ci_low"], summary["ci_high"]),
            label_header="Analysis"))
    models = [{"label": model_label(summary),
               "effect": (d(summary["estimate"]), d(summary["ci_low"]), d(summary["ci_high"])),
               "p": summary.get("p_value")}]
    ee = summary.get("equal_effects")
    if isinstance(ee, Mapping) and fmt.is_number(ee.get("estimate")):
        models.append({"label": "Equal-effects model (inverse variance)",
                       "effect": (d(ee["estimate"]), d(ee.get("ci_low")), d(ee.get("ci_high"))),
                       "p": ee.get("p_value")})
    if fmt.is_number(summary.get("trimfill_estimate")):
        models.append({"label": f"Trim-and-fill adjusted ({fmt.integer(k0)} imputed)",
                       "effect": context["small_study"]["adjusted"], "p": None})
    context["sensitivity"] = {
        "loo_svg": loo_svg,
        "loo_table": {"id": f"loo-table-{aid}", "caption": f"Leave-one-out results: {title}",
                      "columns": [{"key": "label", "header": "Omitted trial", "kind": "text"},
                                  {"key": "effect", "header": f"{short} [{level_text}% CI]",
                                   "kind": "effci"},
                                  {"key": "tau2", "header": "τ²", "kind": "tau2"},
                                  {"key": "I2", "header": "I²", "kind": "pct0"},
                                  {"key": "influential", "header": "Influential",
                                   "kind": "flag"}],
                      "records": loo_records},
        "influential": [name for name, flag in influential.items() if flag],
        "models_table": {"id": f"models-{aid}", "caption": f"Pooled estimate by model: {title}",
                         "columns": [{"key": "label", "header": "Model", "kind": "text"},
                                     {"key": "effect", "header": f"{short} [{level_text}% CI]",
                                      "kind": "effci"},
                                     {"key": "p", "header": "p", "kind": "p"}],
                         "records": models},
    }
    return context


# ----------------------------------------------------------------------------- pages


def _versions(loaded: Sequence[Mapping]) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in loaded:
        for name, value in ((item["summary"].get("provenance") or {}).get("versions") or {}).items():
            found[f"{name} (analysis)"] = str(value)
    for package in ("ketameta", "jinja2", "matplotlib"):
        try:
            found[f"{package} (report)"] = version(package)
        except PackageNotFoundError:
            found[f"{package} (report)"] = "not installed"
    return dict(sorted(found.items()))


def _provenance(loaded: Sequence[Mapping], config_text: str) -> dict:
    inputs: dict[str, str] = {}
    rendered_from: dict[str, str] = {}
    for item in loaded:
        prov = item["summary"].get("provenance") or {}
        inputs.update({str(k): str(v) for k, v in (prov.get("inputs") or {}).items()})
        rendered_from.update(item["files"])
    return {"inputs": dict(sorted(inputs.items())),
            "rendered_from": dict(sorted(rendered_from.items())),
            "versions": _versions(loaded), "config": config_text}


def _config_text(config: Mapping, analyses: Sequence[str]) -> str:
    """The configuration this page depends on, as YAML (effective settings per analysis)."""
    import yaml

    from ..profiles import effective_config

    effective = {aid: effective_config(aid, config) for aid in analyses}
    return yaml.safe_dump({"profile": config.get("profile", "cochrane"), "analyses": effective},
                          sort_keys=True, allow_unicode=True, default_flow_style=False)


def condition_context(condition: str, config: Mapping, summaries: Sequence[str | Path],
                      effects: Sequence[str | Path]) -> dict:
    """Context of ``condition.html`` for one condition."""
    if len(summaries) != len(effects):
        raise ValueError(f"{len(summaries)} summary files but {len(effects)} effects files")
    loaded = [load_analysis(s, e) for s, e in zip(summaries, effects, strict=True)]
    for item in loaded:
        aid = item["summary"]["analysis"]
        if config["analyses"][aid]["condition"] != condition:
            raise ValueError(f"analysis {aid!r} belongs to condition "
                             f"{config['analyses'][aid]['condition']!r}, not {condition!r}")
    analyses = [analysis_context(item, config) for item in loaded]
    ids = [item["summary"]["analysis"] for item in loaded]
    return {
        "page_title": f"{config['conditions'][condition]['label']}: ketamine meta-analyses",
        "condition": condition,
        "condition_label": config["conditions"][condition]["label"],
        "analyses": analyses,
        "methods": methods_mod.methods_section(config, [item["summary"] for item in loaded]),
        "provenance": _provenance(loaded, _config_text(config, ids)),
    }


def index_context(config: Mapping, summaries: Sequence[str | Path],
                  effects: Sequence[str | Path]) -> dict:
    """Context of ``index.html``: the overview forest plot and the evidence base."""
    if len(summaries) != len(effects):
        raise ValueError(f"{len(summaries)} summary files but {len(effects)} effects files")
    loaded = [load_analysis(s, e) for s, e in zip(summaries, effects, strict=True)]
    by_condition: dict[str, list] = {c: [] for c in config["conditions"]}
    for item in loaded:
        aid = item["summary"]["analysis"]
        by_condition[config["analyses"][aid]["condition"]].append(item)

    panels: list[str] = []
    for item in loaded:
        family = measure_info(item["summary"]["measure"], item["studies"])["family"]
        if family not in panels:
            panels.append(family)
    axes = []
    for family in panels:
        info = MEASURES.get(family, MEASURES["GEN"])
        axes.append(Axis(label=info["short"] + (" (log scale)" if info["log"] else ""),
                         log=info["log"], null=None if info.get("single") else 0.0))

    rows: list[Row] = []
    overview_records = []
    evidence = []
    for condition, items in by_condition.items():
        if not items:
            continue
        label = config["conditions"][condition]["label"]
        rows.append(Row(kind="heading", label=label, url=f"{condition}.html"))
        all_studies = [s for item in items for s in item["studies"]]
        for item in items:
            s = item["summary"]
            aid = s["analysis"]
            entry = config["analyses"][aid]
            info = measure_info(s["measure"], item["studies"])
            log = bool(info["log"])
            outcome_cfg = config["outcomes"][entry["outcome"]]
            title = entry.get("label") or (
                f"{outcome_cfg['label']}, {timepoint_label(str(entry['timepoint']))}")
            better = "↓" if outcome_cfg.get("lower_is_better", True) else "↑"
            k = int(s["k"])
            pooled = k >= 2 and fmt.is_number(s.get("estimate"))
            url = f"{condition}.html#{aid}"
            eff = (fmt.estimate_ci(display(s["estimate"], log), display(s.get("ci_low"), log),
                                   display(s.get("ci_high"), log)) if pooled
                   else "too few trials to pool")
            pi = (fmt.interval(display(s.get("pi_low"), log), display(s.get("pi_high"), log))
                  if pooled and fmt.is_number(s.get("pi_low")) else "")
            rows.append(Row(
                kind="summary" if pooled else "note", label=f"{title} {better}",
                cells=(str(k), fmt.integer(s.get("n_participants") or None),
                       fmt.percent(s.get("I2")) if pooled else ""),
                right=(f"{info['short']} {eff}" if pooled else eff, pi),
                estimate=s.get("estimate") if pooled else None,
                low=s.get("ci_low"), high=s.get("ci_high"),
                pi_low=s.get("pi_low"), pi_high=s.get("pi_high"),
                panel=panels.index(info["family"]), url=url))
            overview_records.append({
                "condition": label, "analysis": (title, url), "measure": info["short"],
                "better": "lower" if outcome_cfg.get("lower_is_better", True) else "higher",
                "k": k, "n": s.get("n_participants") or None,
                "effect": (display(s.get("estimate"), log), display(s.get("ci_low"), log),
                           display(s.get("ci_high"), log)) if pooled else None,
                "pi": (display(s.get("pi_low"), log), display(s.get("pi_high"), log))
                if pooled else (None, None),
                "I2": s.get("I2") if pooled else None, "pooled": pooled,
            })
        trials: dict[str, float] = {}
        for st in all_studies:
            n = participants(
                st.get("n_treat") if fmt.is_number(st.get("n_treat")) else np.nan,
                st.get("n_ctrl") if fmt.is_number(st.get("n_ctrl")) else np.nan,
                st.get("design"),
                single=_data_kind(st) == "single",
            )
            n = 0.0 if np.isnan(n) else float(n)
            name = str(st.get("study"))
            trials[name] = max(trials.get(name, 0.0), n)
        years = [st["year"] for st in all_studies if fmt.is_number(st.get("year"))]
        per_trial: dict[str, Mapping] = {}
        for st in all_studies:
            per_trial.setdefault(str(st.get("study")), st)
        unique = list(per_trial.values())
        evidence.append({
            "condition": (label, f"{condition}.html"), "analyses": len(items),
            "trials": len(trials), "participants": sum(trials.values()) or None,
            "years": ("" if not years else fmt.integer(min(years)) if min(years) == max(years)
                      else f"{fmt.integer(min(years))}–{fmt.integer(max(years))}"),
            "designs": _listing([str(st.get("design", "")) for st in unique]),
            "routes": _listing([str(st.get("route", "")) for st in unique]),
            "comparators": _listing([str(st.get("comparator", "")) for st in unique]),
        })

    overview = Markup(plots.forest_svg(
        "forest-overview", "Overview forest plot of all analyses", rows, axes=axes,
        left=[Column("k"), Column("N"), Column("I²")],
        right=[Column("Pooled effect [CI]"), Column("Prediction interval")],
        label_header="Analysis (↓/↑: lower/higher is better)"))
    ids = [item["summary"]["analysis"] for item in loaded]
    return {
        "page_title": "Ketamine meta-analyses: overview",
        "overview": overview,
        "overview_table": {
            "id": "overview-table", "caption": "Pooled results of every analysis",
            "columns": [{"key": "condition", "header": "Condition", "kind": "text"},
                        {"key": "analysis", "header": "Analysis", "kind": "link"},
                        {"key": "measure", "header": "Measure", "kind": "text"},
                        {"key": "better", "header": "Better", "kind": "text"},
                        {"key": "k", "header": "k", "kind": "int"},
                        {"key": "n", "header": "Participants", "kind": "int"},
                        {"key": "effect", "header": "Pooled effect [CI]", "kind": "effci_opt"},
                        {"key": "pi", "header": "Prediction interval", "kind": "ci"},
                        {"key": "I2", "header": "I²", "kind": "pct0"}],
            "records": overview_records},
        "evidence_table": {
            "id": "evidence-table", "caption": "The evidence base by condition",
            "columns": [{"key": "condition", "header": "Condition", "kind": "link"},
                        {"key": "analyses", "header": "Analyses", "kind": "int"},
                        {"key": "trials", "header": "Trials", "kind": "int"},
                        {"key": "participants", "header": "Participants", "kind": "int"},
                        {"key": "years", "header": "Years", "kind": "range"},
                        {"key": "designs", "header": "Designs", "kind": "text"},
                        {"key": "routes", "header": "Routes", "kind": "text"},
                        {"key": "comparators", "header": "Comparators", "kind": "text"}],
            "records": evidence},
        "methods": methods_mod.methods_section(config, [item["summary"] for item in loaded]),
        "provenance": _provenance(loaded, _config_text(config, ids)),
    }
