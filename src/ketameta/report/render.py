"""Page rendering: the Jinja2 environment, its filters, and the context of each page.

One :class:`jinja2.Environment` renders every page. It loads the package's templates
(``PackageLoader``), escapes every substituted value (``autoescape=True`` for all template
names; ``select_autoescape`` would silently stop escaping templates with other extensions)
and raises on any undefined variable (``StrictUndefined``), so a missing value fails the
build instead of printing an empty cell. Numbers are formatted only by the filters
registered here (:mod:`ketameta.report.formatting`), so templates do no arithmetic.

The only markup marked safe is the SVG that :mod:`ketameta.report.plots` generated (checked
for scripts there: matplotlib's figures are re-serialised by ElementTree, the forest plots'
writer escapes what it writes). Everything read from the data
or the configuration reaches the page through autoescaping, in HTML and, because matplotlib
and ElementTree escape text, in the SVG as well.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import functools
import gc
import hashlib
import json
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
import numpy as np
from markupsafe import Markup

from ketameta import absolute as absolute_mod
from ketameta import rob as rob2
from ketameta._results import WARNING_TEXT
from ketameta.absolute import family_of
from ketameta.analysis import participants

from . import findings as findings_mod
from . import formatting as fmt
from . import methods as methods_mod
from . import studies as studies_mod

# The figures (report/plots.py and report/robustness.py, with matplotlib) are imported by
# the functions that draw them.
if TYPE_CHECKING:
    from .plots import Axis

__all__ = ["environment", "condition_context", "index_context", "load_analysis", "rendering",
           "template_cache", "unused_rows", "write_page"]

#: A character beyond the Basic Multilingual Plane (see _config_text).
_BEYOND_BMP = re.compile("[\U00010000-\U0010FFFF]")

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

#: Headers of the forest plots' risk-of-bias traffic-light columns (RevMan, robvis).
ROB_COLUMNS = ("D1", "D2", "D3", "D4", "D5", "RoB")
ROB_LEGEND = ("Risk of bias (RoB 2): + low, \u2212 some concerns, \u00d7 high, ? not assessed; "
              "RoB overall; bar: share of weight at each judgement (grey: not assessed).",
              "D1 randomisation, D2 deviations from intended interventions, D3 missing outcome "
              "data, D4 measurement of the outcome, D5 selection of the reported result.")


def _year_text(value: object) -> str:
    return str(int(value)) if fmt.is_number(value) else str(value or "")


def _derived(study: Mapping) -> bool:
    """Whether a row holds values we derived (its notes say ``DERIVED``, data/README.md)."""
    return "DERIVED" in str(study.get("notes") or "")


def _rob_lights(study: Mapping) -> tuple[str | None, ...]:
    """A trial's five RoB 2 domains and its overall judgement (None: not assessed)."""
    domains = []
    for d in rob2.DOMAINS:
        value = str(study.get(d) or "").strip().lower()
        domains.append(value if value in rob2.LEVELS else None)
    return (*domains, rob2.judgement(study))


_TIME_UNITS = {"min": ("min", "min"), "h": ("h", "h"), "d": ("day", "days"),
               "w": ("week", "weeks")}


# ----------------------------------------------------------------------------- environment


def _cell(value: object, kind: str = "text") -> str:
    """Format one table cell by its column kind (the filter behind the table macro).

    Interval kinds (``effci``, ``effci_opt``, ``ci``) take ``(estimate, low, high)`` or
    ``(low, high)``, with an optional last ``True`` for a back-transformed ratio (RR, OR,
    HR), which :func:`ketameta.report.formatting.effect` prints to significant digits.
    """
    if kind in ("text", "range"):
        return fmt.MISSING if value is None or value == "" else str(value)
    if kind == "int":
        return fmt.integer(value)
    if kind == "data":
        return fmt.data_value(value)
    if kind == "eff":
        return fmt.effect(value)
    if kind == "effci":
        est, low, high, *ratio = value
        return fmt.estimate_ci(est, low, high, ratio=bool(ratio and ratio[0]))
    if kind == "effci_opt":
        if value is None:
            return "not pooled (1 trial)"
        est, low, high, *ratio = value
        return fmt.estimate_ci(est, low, high, ratio=bool(ratio and ratio[0]))
    if kind == "ci":
        low, high, *ratio = value
        return (fmt.interval(low, high, ratio=bool(ratio and ratio[0])) if fmt.is_number(low)
                else fmt.MISSING)
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


#: The environment's settings; they are part of the compiled-template cache's key.
_ENV_OPTIONS = {"autoescape": True, "trim_blocks": True, "lstrip_blocks": True,
                "keep_trailing_newline": True}
_ENVIRONMENTS: dict[str, jinja2.Environment] = {}


def environment() -> jinja2.Environment:
    """The Jinja2 environment of all report pages (see the module docstring).

    One per process: its templates are compiled once and then reused by every page the
    process renders. A new process finds them compiled in the project's working folder
    (:func:`template_cache`), so that no job compiles a template another job already
    compiled.
    """
    env = _ENVIRONMENTS.get("report")
    if env is None:
        env = _ENVIRONMENTS["report"] = _new_environment(template_cache())
    return env


def _new_environment(bytecode_cache: jinja2.BytecodeCache | None) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ketameta", "templates"),
        undefined=jinja2.StrictUndefined,
        finalize=fmt.plain,
        bytecode_cache=bytecode_cache,
        **_ENV_OPTIONS,
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


#: Where :func:`precompile_templates` puts the templates it compiles ahead of any run
#: (``make report`` and ``benchmarks/pipeline.sh`` call it), beside the package's code.
AHEAD = Path(__file__).resolve().parent / "_precompiled"


def _cache_name() -> str:
    """``templates-<key>``: ``<key>`` changes with the Jinja2 version and the environment's
    settings, which shape the compiled code too."""
    key = hashlib.sha256(repr((jinja2.__version__, sorted(_ENV_OPTIONS.items()),
                               "StrictUndefined", "finalize")).encode()).hexdigest()[:12]
    return f"templates-{key}"


def template_cache(start: str | Path | None = None) -> jinja2.BytecodeCache | None:
    """The compiled templates of the project: ``.ketameta/cache/templates-<key>/``.

    The project's working folder ``.ketameta`` is the current directory's (a run from the
    project folder) or the current directory's ancestor of that name (a workflow job, which
    works in ``.ketameta/stage``); elsewhere (tests, a notebook) there is no such folder and
    templates are compiled in memory only. Jinja2 keeps one file per template and reuses
    it only while the template's source has the same SHA-1 checksum, so an edited template
    is compiled anew, never served stale. Files are written atomically (Jinja2 writes a
    temporary file and renames it), so parallel jobs may share the folder. A project's
    folder starts as a copy of the templates compiled ahead of any run (:data:`AHEAD`,
    :func:`precompile_templates`), where there are some: compiling the pages' templates
    takes a tenth of a second, which a new project's first run would otherwise spend before
    its first job could start.
    """
    here = Path.cwd() if start is None else Path(start)
    root = next((p for p in (here, *here.parents) if p.name == ".ketameta"), None)
    if root is None and (here / ".ketameta").is_dir():
        root = here / ".ketameta"
    if root is None:
        return None
    folder = root / "cache" / _cache_name()
    try:
        new = not folder.is_dir()
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if new:
        _seed(folder, AHEAD / folder.name)
    return jinja2.FileSystemBytecodeCache(str(folder))


def _seed(folder: Path, ahead: Path) -> None:
    """Copy the compiled templates of ``ahead`` into ``folder`` (each file atomically)."""
    import shutil

    try:
        names = [p.name for p in ahead.iterdir() if p.suffix == ".cache"]
    except OSError:
        return
    for name in names:
        temp = folder / f".{name}.{os.getpid()}.tmp"
        try:
            shutil.copyfile(ahead / name, temp)
            os.replace(temp, folder / name)
        except OSError:
            with contextlib.suppress(OSError):
                temp.unlink()


def precompile_templates(folder: str | Path | None = None) -> list[str]:
    """Compile every page template into ``folder`` (by default ``AHEAD/templates-<key>``).

    As ``compileall`` does for the package's Python, ahead of any run: a new project's
    compiled-template folder starts as a copy of these (:func:`template_cache`). Returns
    the templates' names.
    """
    folder = Path(folder) if folder is not None else AHEAD / _cache_name()
    folder.mkdir(parents=True, exist_ok=True)
    env = _new_environment(jinja2.FileSystemBytecodeCache(str(folder)))
    names = env.list_templates()
    for name in names:
        env.get_template(name)
    return names


def warm() -> None:
    """Load now what a process's first page would load: templates, fonts, package versions.

    The workflow's warm worker (:mod:`ketameta.worker`) calls this once, so that the jobs
    it runs find them loaded. Nothing a page shows depends on whether this ran.
    """
    from matplotlib.font_manager import FontProperties

    from ketameta.report import _svg

    env = environment()
    for name in env.list_templates():
        env.get_template(name)
    # The fonts the figures use (any size: matplotlib's font lookup is asked once per font),
    # and their glyphs' metrics (_svg.GlyphLayout).
    for weight, style in (("normal", "normal"), ("bold", "normal"), ("normal", "italic")):
        _svg.warm(FontProperties(family=["DejaVu Sans"], size=8.5, weight=weight, style=style))
    # The versions every page and summary.json name, read from the installed packages'
    # metadata once (ketameta.__version__ keeps its value once read).
    import ketameta

    ketameta.__version__  # noqa: B018
    for package in ("ketameta", "jinja2", "matplotlib"):
        _installed_version(package)


class rendering:
    """Context of one page's rendering: garbage collection leaves older objects alone.

    Drawing a page allocates many short-lived objects, and each of Python's full garbage
    collections would also walk every object that existed before (imported modules,
    configuration, loaded tables), which are never garbage here. They are set aside
    (``gc.freeze()``) while the page is drawn and given back (``gc.unfreeze()``) after it,
    so that nothing changes for the caller; a caller that froze objects itself is left
    alone. A process that froze what it holds for good says so with :meth:`set_aside_for_good`
    (the warm worker, :mod:`ketameta.worker`, before it forks the jobs): asking
    ``gc.get_freeze_count()`` walks every frozen object, a hundredth of a second in such a
    job.
    """

    #: Whether this process froze its objects for good (see the class docstring).
    _caller_froze = False

    @classmethod
    def set_aside_for_good(cls) -> None:
        """Freeze every object now (``gc.freeze()``) and leave the collector so from then on."""
        gc.freeze()
        cls._caller_froze = True

    def __enter__(self) -> rendering:
        self._froze = not rendering._caller_froze and gc.get_freeze_count() == 0
        if self._froze:
            gc.freeze()
        return self

    def __exit__(self, *exc) -> None:
        if self._froze:
            gc.unfreeze()


def write_page(template: str, context: Mapping, out_path: str | Path) -> None:
    """Render ``template`` with ``context`` and write it as UTF-8 with ``\\n`` line ends.

    The page is written as Jinja renders it, piece by piece, to a file beside ``out_path``
    that replaces it once complete: a page of many analyses (tens of MB) is then never held
    whole in memory, as one string and again as its encoded bytes, and a page whose
    rendering fails leaves no partial file.
    """
    page = environment().get_template(template)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    try:
        with open(partial, "w", encoding="utf-8", newline="\n") as handle:
            # joined a megabyte at a time: nearly as fast as render(), which joins them all
            batch: list[str] = []
            size = 0
            for piece in page.generate(**context):
                batch.append(piece)
                size += len(piece)
                if size >= 1 << 20:
                    handle.write("".join(batch))
                    batch, size = [], 0
            handle.write("".join(batch))
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


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


def participant_count(studies: Sequence[Mapping]) -> dict:
    """Participants of the trials of one analysis, as every place on the pages shows them.

    Each row counts as :func:`ketameta.analysis.participants` says (a crossover trial's
    patients once, a single arm once). Returns ``total`` (the known participants, ``None``
    when no row gives its arm sizes), ``unknown`` (rows whose N is not reported), ``short``
    (``"234"``, ``"≥ 234"`` when some N are not reported, or ``"not reported"``) and
    ``text`` (the headline's words).
    """
    counts = [_row_participants(st) for st in studies]
    known = [n for n in counts if not math.isnan(n)]
    unknown = len(counts) - len(known)
    total = round(sum(known)) if known else None
    if total is None:
        short, text = "not reported", "participants not reported"
    elif unknown:
        trials = "trial" if unknown == 1 else "trials"
        short = f"≥ {fmt.integer(total)}"
        text = (f"at least {fmt.integer(total)} participants (N not reported for {unknown} "
                f"{trials})")
    else:
        short, text = fmt.integer(total), f"{fmt.integer(total)} participants"
    return {"total": total, "unknown": unknown, "short": short, "text": text}


def _row_participants(study: Mapping) -> float:
    """Participants of one effects row (:func:`ketameta.analysis.participants`; NaN when
    its arm sizes are not reported)."""
    return float(participants(
        study.get("n_treat") if fmt.is_number(study.get("n_treat")) else np.nan,
        study.get("n_ctrl") if fmt.is_number(study.get("n_ctrl")) else np.nan,
        study.get("design"),
        single=_data_kind(study) == "single",
    ))


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


def absolute_effects(summary: Mapping, studies: Sequence[Mapping], info: Mapping,
                     lower_is_better: bool, intervention: str) -> dict | None:
    """Absolute effects of a pooled result as the page words them.

    ``summary`` holds the result the page headlines (the random-effects fit, or the
    few-trial posterior in its place); :func:`ketameta.absolute.absolute_effects` computes
    the effects of exactly that result, and :func:`absolute_display` words them. For the
    random-effects fit this is the ``absolute`` block of ``summary.json``.
    """
    block = absolute_mod.absolute_effects(
        summary.get("estimate"), summary.get("ci_low"), summary.get("ci_high"),
        info["family"], studies, summary.get("pi_low"), summary.get("pi_high"),
    )
    return absolute_display({"absolute": block}, lower_is_better, intervention)


def absolute_display(summary: Mapping, lower_is_better: bool, intervention: str) -> dict | None:
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


def _tau2_ci_text(summary: Mapping) -> str:
    """The τ² CI as ``[low, high]``; a bound at the search limit is said in words."""
    warnings = [str(w) for w in summary.get("warnings") or []]
    low, high = summary.get("tau2_ci_low"), summary.get("tau2_ci_high")
    if WARNING_TEXT["ci_both_max"] in warnings:
        return f"[both bounds above the search limit {fmt.num(high, 0)}]"
    if WARNING_TEXT["ci_ub_max"] in warnings:
        return f"[{fmt.tau2(low)}, above the search limit {fmt.num(high, 0)}]"
    return f"[{fmt.tau2(low)}, {fmt.tau2(high)}]"


def _heterogeneity_text(summary: Mapping) -> str:
    s = summary
    tau2_ci = _tau2_ci_text(s)
    i2_ci = (f"[{fmt.percent(s.get('I2_ci_low'))}, {fmt.percent(s.get('I2_ci_high'))}]"
             if fmt.is_number(s.get("I2_ci_low")) else "")
    tau2_part = f"τ² = {fmt.tau2(s.get('tau2'))}"
    if fmt.is_number(s.get("tau2_ci_low")):
        tau2_part += f" {tau2_ci}"
    return (f"Heterogeneity: {tau2_part}; I² = {fmt.percent(s.get('I2'))} {i2_ci}".rstrip()
            + f"; Q = {fmt.num(s.get('Q'))}, df = {fmt.integer(s.get('Q_df'))}, "
            f"p = {fmt.pvalue(s.get('Q_p'))}")


def _without_crossover_text(summary: Mapping, log: bool, short: str,
                            level_text: str) -> str | None:
    """The sensitivity result without crossover trials, as one sentence (or ``None``)."""
    wc = summary.get("without_crossover")
    if not isinstance(wc, Mapping) or not fmt.is_number(wc.get("estimate")):
        return None
    k = int(wc["k"])
    effect = fmt.estimate_ci(display(wc["estimate"], log), display(wc.get("ci_low"), log),
                             display(wc.get("ci_high"), log), ratio=log)
    who = "the one parallel trial alone" if k == 1 else f"the {k} parallel trials alone"
    return (f"Without the crossover trials ({who}): {short} {effect} "
            f"({level_text}% CI), p = {fmt.pvalue(wc.get('p_value'))}.")


def _proportions_text(summary: Mapping, intervention: str, outcome: str,
                      timepoint: str) -> str | None:
    """The pooled arm proportions as a sentence (``summary["proportions"]``), or ``None``."""
    block = summary.get("proportions")
    if not isinstance(block, Mapping):
        return None
    treat, ctrl = block.get("treat") or {}, block.get("ctrl") or {}
    if not (fmt.is_number(treat.get("proportion")) and fmt.is_number(ctrl.get("proportion"))):
        return None

    def pct(arm: Mapping) -> str:
        return (f"{fmt.num(100 * arm['proportion'], 0)}% ({fmt.num(100 * arm['proportion_ci_low'], 0)}"
                f" to {fmt.num(100 * arm['proportion_ci_high'], 0)}%)")

    k = int(treat["k"])
    trials = "1 trial" if k == 1 else f"{k} trials"
    at = "at the end of treatment" if timepoint == "end of treatment" else f"at {timepoint}"
    return (f"About {pct(treat)} of patients had the outcome “{outcome}” {at} with "
            f"{intervention} and {pct(ctrl)} with control ({trials}, "
            f"{fmt.integer(treat['n'] + ctrl['n'])} patients in these arms; proportions pooled "
            "per arm on the logit scale, random effects, with their CIs).")


_SUBGROUP_NAMES = {"route": "Route", "drug": "Drug", "comparator": "Comparator",
                   "design": "Design", "drug_route": "Drug and route"}


def _subgroup_forest(block: Mapping, studies: Sequence[Mapping], fig_id: str, title: str,
                     axis: Axis, log: bool, short: str, level_text: str) -> Markup:
    """A RevMan-style forest: subgroup headings, their trials, subtotals, the test."""
    from . import plots
    from .plots import Column, Row

    by_name = {str(st.get("study")): st for st in studies}
    variable = _SUBGROUP_NAMES.get(block["variable"], block["variable"])

    def text(est, low, high):
        return fmt.estimate_ci(display(est, log), display(low, log), display(high, log),
                               ratio=log)

    rows: list[Row] = []
    for g in block["groups"]:
        rows.append(Row(kind="heading", label=f"{variable}: {g['label']}"))
        for name in g["studies"]:
            st = by_name.get(name, {})
            rows.append(Row(kind="study", label=_study_label(st) if st else name,
                            right=(text(st.get("yi"), st.get("ci_low"), st.get("ci_high")),),
                            estimate=st.get("yi"), low=st.get("ci_low"),
                            high=st.get("ci_high"), weight=1.0))
        if g["single"]:
            rows.append(Row(kind="note", label="Single trial: its own result, not pooled"))
        else:
            het = (f"; τ² = {fmt.tau2(g.get('tau2'))}, I² = {fmt.percent(g.get('I2'))}"
                   if fmt.is_number(g.get("tau2")) else "")
            rows.append(Row(kind="pooled", label=f"Subtotal (k = {g['k']}){het}",
                            right=(text(g["estimate"], g["ci_low"], g["ci_high"]),),
                            estimate=g["estimate"], low=g["ci_low"], high=g["ci_high"]))
    footer = [f"Test for subgroup differences: χ² = {fmt.num(block.get('Q_between'))}, "
              f"df = {fmt.integer(block.get('Q_between_df'))}, "
              f"p = {fmt.pvalue(block.get('Q_between_p'))} (each subgroup with its own τ²)"]
    return Markup(plots.forest_svg(fig_id, title, rows, axes=[axis],
                                   right=[Column(f"{short} [{level_text}% CI]")],
                                   footer=footer, label_header="Subgroup and trial"))


def _kve_text(block: Mapping | None, log: bool, short: str, level_text: str) -> str | None:
    """The IV ketamine against IN esketamine comparison as a sentence, with its caution."""
    if not isinstance(block, Mapping):
        return None
    parts = []
    for g in block["groups"]:
        effect = fmt.estimate_ci(display(g["estimate"], log), display(g["ci_low"], log),
                                 display(g["ci_high"], log), ratio=log)
        name = {"IV ketamine": "intravenous racemic ketamine",
                "IN esketamine": "intranasal esketamine"}.get(g["label"], g["label"])
        trials = "1 trial, not pooled" if g["single"] else f"{g['k']} trials"
        parts.append(f"{name} {short} {effect} ({trials})")
    return ("Intravenous ketamine against intranasal esketamine: " + "; ".join(parts)
            + f"; test for the difference p = {fmt.pvalue(block.get('Q_between_p'))}. "
            "Caution: this compares different trials, not patients randomised between the "
            "two; their populations, comparators and designs differ too.")


def _probability(p: float) -> str:
    """A posterior probability in percent; never a rounded 0% or 100%."""
    if p >= 0.995:
        return "> 99%"
    if p < 0.005:
        return "< 1%"
    return fmt.percent(100 * p, 0)


def _bayes_context(summary: Mapping, log: bool, short: str, level_text: str,
                   lower_is_better: bool, intervention: str) -> dict | None:
    """The few-trial headline (``summary["few_trials"]``) and the models beside it."""
    block = summary.get("few_trials")
    if not isinstance(block, Mapping) or not isinstance(block.get("mu"), Mapping):
        return None
    mu, new = block["mu"], block.get("theta_new") or {}
    k = int(block["k"])

    def eff(part: Mapping) -> str:
        return (f"{fmt.effect(display(part.get('median'), log), ratio=log)} "
                f"({level_text}% credible interval "
                f"{fmt.effect(display(part.get('ci_low'), log), ratio=log)} to "
                f"{fmt.effect(display(part.get('ci_high'), log), ratio=log)})")

    benefit = block.get("prob_mu_negative" if lower_is_better else "prob_mu_positive")
    ee = summary.get("equal_effects") or {}
    beside = [f"{model_label(summary)}: {short} " + fmt.estimate_ci(
        display(summary.get("estimate"), log), display(summary.get("ci_low"), log),
        display(summary.get("ci_high"), log), ratio=log)
        + f", p = {fmt.pvalue(summary.get('p_value'))}"]
    if fmt.is_number(ee.get("estimate")):
        beside.append("equal-effects model: " + short + " " + fmt.estimate_ci(
            display(ee.get("estimate"), log), display(ee.get("ci_low"), log),
            display(ee.get("ci_high"), log), ratio=log)
            + f", p = {fmt.pvalue(ee.get('p_value'))}")
    prior = block.get("tau_prior") or {}
    return {
        "label": (f"Bayesian random-effects model (half-normal prior on τ, scale "
                  f"{float(prior.get('scale', 0.5)):g})"),
        "text": f"{short} {eff(mu)}",
        "benefit": (f"probability that {intervention} is better than control "
                    f"{_probability(benefit)}" if fmt.is_number(benefit) else ""),
        "predictive": f"effect in a new trial {eff(new)}" if new else "",
        "beside": "; ".join(beside),
        "why": (f"Why this headline: with {k} trials the between-trial variance cannot be "
                "estimated. The Hartung–Knapp interval then uses a t distribution with "
                f"{k - 1} degree{'s' if k != 2 else ''} of freedom and becomes very wide, "
                "while the equal-effects model assumes the trials share one effect. A "
                "Bayesian model with a weakly informative prior on the between-trial "
                "standard deviation τ lies between the two (Friede et al. 2017; Röver et "
                "al. 2021)."),
        "estimate": mu.get("median"), "ci_low": mu.get("ci_low"), "ci_high": mu.get("ci_high"),
    }


def _headline(summary: Mapping) -> dict:
    """The summary with the headline result in ``estimate``, ``ci_*`` and ``pi_*``.

    For analyses with a few-trial block that is the Bayesian posterior median, credible
    interval and predictive interval (the overview then agrees with the condition page);
    otherwise the summary unchanged.
    """
    block = summary.get("few_trials")
    if not isinstance(block, Mapping) or not isinstance(block.get("mu"), Mapping):
        return dict(summary)
    new = block.get("theta_new") or {}
    return {**summary, "estimate": block["mu"].get("median"),
            "ci_low": block["mu"].get("ci_low"), "ci_high": block["mu"].get("ci_high"),
            "pi_low": new.get("ci_low"), "pi_high": new.get("ci_high")}


def _headline_context(summary: Mapping, studies: Sequence[Mapping], info: Mapping,
                      lower_is_better: bool, intervention: str) -> dict:
    """Headline effect (display scale), its kind and absolute effects, for the findings."""
    hl = _headline(summary)
    log = bool(info["log"])
    bayes = hl is not summary and isinstance(summary.get("few_trials"), Mapping)
    return {
        "estimate": display(hl.get("estimate"), log), "ci_low": display(hl.get("ci_low"), log),
        "ci_high": display(hl.get("ci_high"), log),
        "kind": "Bayesian random effects, 95% credible interval" if bayes else None,
        "absolute": absolute_effects(hl, studies, info, lower_is_better, intervention),
    }


def _shown(summary: Mapping) -> dict:
    """The summary as pages show it: no prediction interval below k = 3.

    With two trials the interval uses t on one degree of freedom (12.7 at 95%), which says
    nothing a reader can use (Higgins, Thompson & Spiegelhalter 2009).
    """
    shown = dict(summary)
    if int(shown.get("k") or 0) < 3:
        shown["pi_low"] = shown["pi_high"] = None
    return shown


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
    """Everything the condition template shows about one analysis (see condition.html).

    Its outline (:func:`analysis_outline`) completed by its section's figures and tables
    (:func:`analysis_section`). A page builds the two apart (:func:`condition_context`).
    """
    outline = analysis_outline(loaded, config)
    return {**outline, **analysis_section(loaded, config, outline)}


def analysis_outline(loaded: Mapping, config: Mapping) -> dict:
    """What the condition page says about one analysis, without its figures and tables.

    The question, the headline result and its certainty, the absolute effect, the notes,
    and what the navigation, the summary of findings, the key findings and the included
    studies read of the analysis. A page keeps the outline of each of its analyses while
    it is written; :func:`analysis_section` adds the figures and tables when the page
    reaches the analysis's section.
    """
    summary = _shown(loaded["summary"])
    studies = loaded["studies"]
    aid = summary["analysis"]
    entry = config["analyses"][aid]
    outcome_cfg = config["outcomes"][entry["outcome"]]
    condition_cfg = config["conditions"][entry["condition"]]
    lower_is_better = bool(outcome_cfg.get("lower_is_better", True))
    info = measure_info(summary["measure"], studies)
    log = bool(info["log"])
    level = summary.get("level", 95)
    level_text = fmt.num(level, 0) if float(level).is_integer() else fmt.num(level, 1)
    k = int(summary["k"])
    pooled = k >= 2 and fmt.is_number(summary.get("estimate"))
    intervention = intervention_name(studies)
    title = entry.get("label") or (
        f"{outcome_cfg['label']} at {timepoint_label(entry['timepoint'])}")
    short = info["short"]
    outline: dict = {
        "id": aid, "title": title, "k": k, "pooled": pooled,
        "ketamine_vs_esketamine": _kve_text(summary.get("ketamine_vs_esketamine"), log, short,
                                            level_text) if pooled else None,
        "participants": participant_count(studies),
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
        "warnings": [w for w in summary.get("warnings") or []
                     if not methods_mod.is_engine_note(w)],
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
        "mixed": [str(m.get("text", "")) for m in summary.get("mixed") or []],
        "proportions": _proportions_text(summary, intervention, outcome_cfg["label"],
                                         timepoint_label(str(entry["timepoint"]))),
        "without_crossover": _without_crossover_text(summary, log, short, level_text),
        "model_label": model_label(summary),
        "method": summary.get("method"), "test_name": _TEST_NAMES.get(
            str(summary.get("test")), str(summary.get("test"))),
        # for the summary of findings and the key findings (ketameta.report.findings)
        "family": info["family"], "lower_is_better": lower_is_better,
        "outcome": entry["outcome"], "timepoint_key": str(entry["timepoint"]),
        # a point of its outcome's time course (main measure, placed on the day axis)
        "course_point": any(p.get("analysis") == aid for p in
                            ((summary.get("time_course") or {}).get("points") or [])),
        "direction": findings_mod.direction(_headline(summary), lower_is_better) if pooled else (
            findings_mod.direction({"ci_low": studies[0].get("ci_low"),
                                    "ci_high": studies[0].get("ci_high")}, lower_is_better)
            if studies else "unclear"),
        "scale": (_ranked([str(s.get("scale", "")) for s in studies]) or [("", 0)])[0][0],
        "single_effect": (display(studies[0].get("yi"), log), display(studies[0].get("ci_low"), log),
                          display(studies[0].get("ci_high"), log)) if len(studies) == 1 else None,
        "certainty": findings_mod.certainty_of(loaded["summary"], studies, lower_is_better,
                                               config) if studies else None,
        "rob_summary": rob2.summarise([rob2.judgement(s) for s in studies],
                                      [s.get("weight") or 0.0 for s in studies]).to_dict()
        if pooled else None,
    }
    if not pooled:
        return outline

    d = lambda v: display(v, log)  # noqa: E731
    outline.update({
        "estimate": d(summary["estimate"]), "ci_low": d(summary["ci_low"]),
        "ci_high": d(summary["ci_high"]), "p_value": summary.get("p_value"),
        "pi_low": d(summary.get("pi_low")), "pi_high": d(summary.get("pi_high")),
        "heterogeneity": _heterogeneity_text(summary),
        "overall_test": _statistic_text(summary),
        "I2": summary.get("I2"),
        "absolute": absolute_effects(summary, studies, info, lower_is_better, intervention),
        # the headline the summary of findings and key findings report: the Bayesian
        # result where the few-trial rule applies, else the random-effects one
        "headline": _headline_context(summary, studies, info, lower_is_better, intervention),
        "bayes": _bayes_context(summary, log, short, level_text, lower_is_better,
                                intervention),
    })
    return outline


def analysis_section(loaded: Mapping, config: Mapping, outline: Mapping) -> dict:
    """The figures and tables of one analysis's section on the condition page.

    ``forest`` (the forest plot), ``study_table`` (its numbers), ``subgroups`` (subgroup
    forest plots), ``small_study`` (funnel plot and tests), ``sensitivity``
    (leave-one-out, influence, the pooled estimate by model), ``csv_uri`` and ``csv_name``
    (the download of effects.csv), drawn from the analysis's files (:func:`load_analysis`)
    and its outline (:func:`analysis_outline`), whose title, numbers and texts they reuse.
    """
    from . import plots
    from .plots import Axis, Column, Row

    summary = _shown(loaded["summary"])
    studies = loaded["studies"]
    min_k = methods_mod.few_trial_settings(config)["small_study_min_k"]
    aid, title, k, pooled = outline["id"], outline["title"], outline["k"], outline["pooled"]
    log, short, level_text = outline["log"], outline["measure_short"], outline["level"]
    info = measure_info(summary["measure"], studies)
    single = bool(info.get("single", False))
    intervention = intervention_name(studies)

    favours_int = f"Favours {intervention}"
    if single:
        favours = (None, None)
    elif outline["lower_is_better"]:
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
            if kind != "reported":
                out.append("")
            else:
                unknown = not (fmt.is_number(s.get("n_treat")) and fmt.is_number(s.get("n_ctrl")))
                out.append(str(s.get("effect_type", "") or "")
                           + ("; N not reported" if unknown else ""))
        return tuple(out)

    def effect_text(est, low, high):
        return fmt.estimate_ci(display(est, log), display(low, log), display(high, log),
                               ratio=log)

    influential = {str(i.get("study")): bool(i.get("influential"))
                   for i in summary.get("influence") or []} if k >= min_k else {}
    rows = []
    for s in studies:
        rows.append(Row(
            kind="study", label=_study_label(s) + (" \u2020" if _derived(s) else ""),
            cells=cells(s),
            right=(fmt.percent(s.get("weight"), 1) if pooled else "", effect_text(
                s.get("yi"), s.get("ci_low"), s.get("ci_high"))),
            estimate=s.get("yi"), low=s.get("ci_low"), high=s.get("ci_high"),
            weight=s.get("weight") if pooled else None,
            url=f"#{studies_mod.anchor(str(s.get('study', '')), _year_text(s.get('year')))}",
            rob=_rob_lights(s)))
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
        bar = rob2.summarise([rob2.judgement(s) for s in studies],
                             [s.get("weight") or 0.0 for s in studies])
        rows.append(Row(kind="pooled", label=model_label(summary), cells=tuple(totals),
                        rob_bar=(bar.low, bar.some, bar.high, bar.missing),
                        right=("100.0%", effect_text(summary["estimate"], summary["ci_low"],
                                                     summary["ci_high"])),
                        estimate=summary["estimate"], low=summary["ci_low"],
                        high=summary["ci_high"]))
        if fmt.is_number(summary.get("pi_low")):
            rows.append(Row(kind="pi", label=f"{level_text}% prediction interval",
                            right=("", fmt.interval(display(summary["pi_low"], log),
                                                    display(summary["pi_high"], log),
                                                    ratio=log)),
                            low=summary["pi_low"], high=summary["pi_high"]))
        few = summary.get("few_trials")
        if isinstance(few, Mapping) and isinstance(few.get("mu"), Mapping):
            mu = few["mu"]
            rows.append(Row(kind="pooled", label="Bayesian random effects (headline)",
                            right=("", effect_text(mu.get("median"), mu.get("ci_low"),
                                                   mu.get("ci_high"))),
                            estimate=mu.get("median"), low=mu.get("ci_low"),
                            high=mu.get("ci_high")))
        footer = [outline["heterogeneity"], outline["overall_test"],
                  f"Participants: {outline['participants']['text']} (crossover trials "
                  "counted once)"]
    else:
        footer = ["Not pooled: a single trial (k = 1); its own effect is shown."]

    if any(_derived(s) for s in studies):
        footer.append("\u2020 values derived by us (e.g. counts from printed percentages); "
                      "how is in the trial's sources under Included studies.")
    footer.extend(ROB_LEGEND)
    forest = Markup(plots.forest_svg(
        f"forest-{aid}", f"Forest plot: {title}", rows, axes=[axis], left=left, right=right,
        footer=footer, rob_columns=ROB_COLUMNS)) if rows else None

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
                         display(s.get("ci_high"), log), log)
        rec["weight"] = s.get("weight") if pooled else None
        records.append(rec)
    study_table = {"id": f"studies-{aid}", "columns": table_columns, "records": records,
                   "caption": f"Trials, their data, effects and weights: {title}"}
    groups = _column_groups(table_columns)
    if any(g["label"] for g in groups):
        study_table["groups"] = groups

    subgroup_figures = [
        {"id": f"subgroup-{aid}-{b['variable']}",
         "title": _SUBGROUP_NAMES.get(b["variable"], b["variable"]),
         "svg": _subgroup_forest(b, studies, f"subgroup-{aid}-{b['variable']}",
                                 f"Subgroups by {b['variable']}: {title}", axis, log, short,
                                 level_text)}
        for b in (summary.get("subgroups") or []) if pooled]
    section: dict = {
        "forest": forest, "study_table": study_table, "subgroups": subgroup_figures,
        "csv_uri": _data_uri(loaded["csv_bytes"]), "csv_name": f"{aid}_effects.csv",
    }
    if not pooled:
        return section

    d = lambda v: display(v, log)  # noqa: E731
    # small-study effects
    sei = [s.get("sei") for s in studies]
    yi = [s.get("yi") for s in studies]
    filled = summary.get("trimfill_filled") or []
    funnel = None
    # drawn only where the page shows it (small-study tests need min_k trials)
    if k >= min_k and all(fmt.is_number(v) for v in yi + sei):
        funnel = Markup(plots.funnel_svg(
            f"funnel-{aid}", f"Contour-enhanced funnel plot: {title}", yi, sei,
            estimate=summary["estimate"], axis=axis,
            filled_yi=[f["yi"] for f in filled], filled_sei=[math.sqrt(f["vi"]) for f in filled],
            adjusted=summary.get("trimfill_estimate")))
    k0 = summary.get("trimfill_k0")
    section["small_study"] = {
        "funnel": funnel,
        "egger_statistic": summary.get("egger_statistic"), "egger_p": summary.get("egger_p"),
        "begg_tau": summary.get("begg_tau"), "begg_p": summary.get("begg_p"),
        "k0": k0, "side": summary.get("trimfill_side"),
        "adjusted": (d(summary.get("trimfill_estimate")), d(summary.get("trimfill_ci_low")),
                     d(summary.get("trimfill_ci_high")), log),
        "assessed": k >= min_k, "min_k": min_k,
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
                                                      d(item.get("ci_low")), d(item.get("ci_high")),
                                                      log),
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
               "effect": (d(summary["estimate"]), d(summary["ci_low"]), d(summary["ci_high"]),
                          log),
               "p": summary.get("p_value")}]
    ee = summary.get("equal_effects")
    if isinstance(ee, Mapping) and fmt.is_number(ee.get("estimate")):
        models.append({"label": "Equal-effects model (inverse variance)",
                       "effect": (d(ee["estimate"]), d(ee.get("ci_low")), d(ee.get("ci_high")),
                                  log),
                       "p": ee.get("p_value")})
    wc = summary.get("without_crossover")
    if isinstance(wc, Mapping) and fmt.is_number(wc.get("estimate")):
        models.append({"label": f"Without crossover trials (k = {wc['k']})",
                       "effect": (d(wc["estimate"]), d(wc.get("ci_low")), d(wc.get("ci_high")),
                                  log),
                       "p": wc.get("p_value")})
    # trim-and-fill is a small-study method: shown only where those are assessed
    if fmt.is_number(summary.get("trimfill_estimate")) and k >= min_k:
        models.append({"label": f"Trim-and-fill adjusted ({fmt.integer(k0)} imputed)",
                       "effect": section["small_study"]["adjusted"], "p": None})
    section["sensitivity"] = {
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
    return section


# ----------------------------------------------------------------------------- pages


@functools.cache
def _installed_version(package: str) -> str:
    """The installed version of ``package`` (looked up once per process)."""
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


class _Provenance:
    """A page's provenance block, gathered one analysis at a time: the inputs each analysis
    names, the files the page was drawn from (with their hashes) and the versions, each
    analysis's own and this process's."""

    def __init__(self) -> None:
        self.inputs: dict[str, str] = {}
        self.rendered_from: dict[str, str] = {}
        self.versions: dict[str, str] = {}

    def add(self, item: Mapping) -> None:
        """Add one analysis (:func:`load_analysis`); a later one's entries win."""
        prov = item["summary"].get("provenance") or {}
        self.inputs.update({str(k): str(v) for k, v in (prov.get("inputs") or {}).items()})
        self.rendered_from.update(item["files"])
        for name, value in (prov.get("versions") or {}).items():
            self.versions[f"{name} (analysis)"] = str(value)

    def block(self, config_text: str) -> dict:
        versions = dict(self.versions)
        for package in ("ketameta", "jinja2", "matplotlib"):
            versions[f"{package} (report)"] = _installed_version(package)
        return {"inputs": dict(sorted(self.inputs.items())),
                "rendered_from": dict(sorted(self.rendered_from.items())),
                "versions": dict(sorted(versions.items())), "config": config_text}


def _provenance(loaded: Sequence[Mapping], config_text: str) -> dict:
    record = _Provenance()
    for item in loaded:
        record.add(item)
    return record.block(config_text)


def _config_text(config: Mapping, analyses: Sequence[str]) -> str:
    """The configuration this page depends on, as YAML (effective settings per analysis)."""
    import yaml

    from ..profiles import effective_config

    effective = {aid: effective_config(aid, config) for aid in analyses}
    data = {"profile": config.get("profile", "cochrane"), "analyses": effective}
    # libyaml's emitter writes the same text as PyYAML's, four times as fast, except that it
    # escapes characters beyond the Basic Multilingual Plane (emoji), which PyYAML's writes
    # as they are: a configuration with one is written by PyYAML's.
    dumper = yaml.SafeDumper
    if getattr(yaml, "__with_libyaml__", False) and not _BEYOND_BMP.search(
            json.dumps(data, ensure_ascii=False, default=str)):
        dumper = yaml.CSafeDumper
    return yaml.dump(data, Dumper=dumper, sort_keys=True, allow_unicode=True,
                     default_flow_style=False)


def time_course_context(condition: str, loaded: Sequence[Mapping], config: Mapping) -> list:
    """One figure, a sentence and a table per outcome of the page (``time_course`` blocks).

    Each block of ``summary.json`` (see :mod:`ketameta.timecourse`) is shown once, in the
    order its outcome first appears on the page.
    """
    from . import plots
    from .plots import Axis

    blocks: dict[tuple, Mapping] = {}
    for item in loaded:
        block = item["summary"].get("time_course")
        if isinstance(block, Mapping):
            blocks.setdefault((block["outcome"], block["measure"]), block)
    out = []
    for (outcome, measure), block in blocks.items():
        points = block.get("points") or []
        if not points:
            continue
        outcome_cfg = config["outcomes"][outcome]
        lower_is_better = bool(outcome_cfg.get("lower_is_better", True))
        info = MEASURES.get(measure, MEASURES["GEN"])
        log = bool(block.get("log_scale"))
        studies = [s for item in loaded if item["summary"].get("time_course") is block
                   for s in item["studies"]]
        intervention = intervention_name(studies)
        favours = (f"favours {intervention}", "favours control")
        if not lower_is_better:
            favours = favours[::-1]
        fig_id = f"timecourse-{outcome}-{measure}".lower().replace("_", "-")
        axis = Axis(label=info["short"] + (" (log scale)" if log else ""), log=log)
        tps = [plots.TimePoint(day=p["day"], label=p["timepoint"], k=int(p["k"]),
                               estimate=p["estimate"], low=p.get("ci_low"),
                               high=p.get("ci_high")) for p in points]
        title = f"{outcome_cfg['label']} over time ({info['short']})"
        model = block.get("model") or {}
        curve = [(c["day"], c["estimate"], c["ci_low"], c["ci_high"])
                 for c in model.get("curve") or []
                 if all(fmt.is_number(c.get(f)) for f in ("day", "estimate", "ci_low", "ci_high"))]
        svg = Markup(plots.timecourse_svg(fig_id, f"Time course: {title}", tps, axis=axis,
                                          favours_low=favours[0], favours_high=favours[1],
                                          model=curve))
        if model.get("fitted"):
            c0, c1 = model["coefficients"]["day1"], model["coefficients"]["per_log10_day"]
            slope = (f"{fmt.num(math.exp(c1['estimate']), 2)}-fold" if log
                     else fmt.num(c1["estimate"], 2))
            model_text = (
                f"Multilevel model over all time points ({model['k']} results from "
                f"{model['n_trials']} trials, trials as clusters, effect linear in log days, "
                f"cluster-robust CR2 CIs): {info['short']} at day 1 "
                f"{fmt.estimate_ci(display(c0['estimate'], log), display(c0['ci_low'], log), display(c0['ci_high'], log), ratio=log)}"
                f"; change per tenfold longer time {slope} "
                f"({fmt.interval(display(c1['ci_low'], log), display(c1['ci_high'], log), ratio=log)}"
                f", p = {fmt.pvalue(c1['p_value'])}).")
        else:
            model_text = ("Multilevel model over all time points: not fitted, "
                          f"{model.get('reason', 'no placed time points')}.")

        def when(ref: Mapping | None) -> str:
            if not ref:
                return ""
            text = timepoint_label(str(ref["timepoint"]))
            return text + (f" (day {fmt.num(ref['day'], 0)})" if ref["timepoint"] == "end"
                           else "")

        first, last = block.get("earliest_clear"), block.get("last_clear")
        if first:
            sentence = (f"The earliest time point with a clear effect (its CI excludes no "
                        f"effect) is {when(first)}; the last one is {when(last)}.")
        else:
            sentence = "No time point shows a clear effect (every CI includes no effect)."
        latest = block.get("last_point")
        if latest and latest != last:
            sentence += f" The latest time point with data is {when(latest)}."
        records = [{
            "timepoint": (timepoint_label(p["timepoint"]), f"#{p['analysis']}"),
            "day": fmt.significant(p["day"], 2), "k": p["k"],
            "effect": (display(p["estimate"], log), display(p.get("ci_low"), log),
                       display(p.get("ci_high"), log), log),
            "clear": p.get("clear"), "placement": p.get("placement") or ""}
            for p in points]
        out.append({
            "id": fig_id, "title": title, "svg": svg, "sentence": sentence,
            "model": model_text,
            "not_placed": [{"timepoint": timepoint_label(n["timepoint"]),
                            "analysis": n["analysis"], "reason": n["reason"]}
                           for n in block.get("not_placed") or []],
            "table": {"id": f"{fig_id}-table", "caption": f"Time course: {title}",
                      "columns": [{"key": "timepoint", "header": "Time point", "kind": "link"},
                                  {"key": "day", "header": "Day", "kind": "text"},
                                  {"key": "k", "header": "k", "kind": "int"},
                                  {"key": "effect", "header": f"{info['short']} [95% CI]",
                                   "kind": "effci"},
                                  {"key": "clear", "header": "Clear effect", "kind": "flag"},
                                  {"key": "placement", "header": "Placement", "kind": "text"}],
                      "records": records},
        })
    return out


def unused_rows(rows: str | Path, loaded: Sequence[Mapping], config: Mapping) -> list[dict]:
    """Rows of a condition's data that no analysis on the page pooled, with the reason.

    Parameters
    ----------
    rows : path-like
        The condition's validated rows (``data/interim/{condition}.csv``).
    loaded : sequence of mappings
        The condition's analyses as :func:`load_analysis` reads them (their ``studies``
        and their summaries' ``analysis`` and ``excluded`` are read).
    config : mapping
        The configuration the pages are rendered with.

    Returns
    -------
    list of dict
        ``study, timepoint, outcome, where`` (file and line) and ``reason``: the reasons the
        analyses gave for leaving the row out (configured exclusion, undefined effect), or
        that its outcome is not declared, or that no analysis selects its condition,
        outcome and time point. Rows pooled by any analysis are not listed.
    """
    from ketameta.io import read_table

    table = read_table(rows)
    used: set[tuple[str, int]] = set()
    for item in loaded:
        for study in item["studies"]:
            lines = str(study.get("source_lines") or "").split(";")
            used.update((str(study.get("source_file")), int(x)) for x in lines if x.strip())
    reasons: dict[tuple[str, int], list[str]] = {}
    for item in loaded:
        aid = item["summary"]["analysis"]
        for e in item["summary"].get("excluded") or []:
            key = (str(e.get("source")), int(e.get("line")))
            reasons.setdefault(key, []).append(f"{aid}: {e.get('reason')}")
    out = []
    columns = ("source_file", "source_line", "study", "outcome", "timepoint")
    for values in zip(*(table[c] for c in columns), strict=True):
        row = dict(zip(columns, values, strict=True))
        key = (str(row["source_file"]), int(row["source_line"]))
        if key in used:
            continue
        if key in reasons:
            reason = "; ".join(reasons[key])
        elif row["outcome"] not in config["outcomes"]:
            reason = (f"its outcome {row['outcome']!r} is not declared under outcomes in the "
                      "configuration")
        else:
            reason = (f"no analysis selects {row['outcome']} at {row['timepoint']} "
                      "(analyse_every_row is off and no analyses: entry names it)")
        out.append({"study": str(row["study"]), "outcome": str(row["outcome"]),
                    "timepoint": timepoint_label(str(row["timepoint"])),
                    "where": f"{key[0]}, line {key[1]}", "reason": reason})
    return out


def condition_context(condition: str, config: Mapping, summaries: Sequence[str | Path],
                      effects: Sequence[str | Path], rows: str | Path | None = None,
                      all_rows: Mapping[str, str | Path] | None = None,
                      multiverse: Sequence = (),
                      links: Mapping[str, str] | None = None) -> dict:
    """Context of ``condition.html`` for one condition.

    ``rows`` (the condition's validated rows, ``data/interim/{condition}.csv``) adds the
    list of rows no analysis pooled (:func:`unused_rows`); without it the list is empty.
    ``multiverse``: the condition's multiverse summary and table (``.json``, ``.csv``), or
    empty for no robustness section.
    ``all_rows`` (condition → its validated rows, for every condition) lets the included
    studies name trials on other pages that share participants with a trial of this page;
    ``links`` gives the same directly (study → page of another condition listing it, as
    :func:`ketameta.report.studies.study_links` of the other conditions' rows) and takes
    precedence.

    The context does not hold the analyses' figures and tables, so that the memory of
    writing a page does not grow with its analyses. Each analysis is read here and kept
    as its outline (``outlines``, :func:`analysis_outline`) and as what the page's other
    parts read of it (:func:`_page_item`); the files read are kept whole, for the
    sections, up to :data:`KEEP_BYTES`. ``analyses`` is an :class:`AnalysisSections`: as
    the template's loop over the sections reaches an analysis, it draws the analysis's
    figures and tables (:func:`analysis_section`) from its kept files, or reads them
    again, and the loop lets them go when it moves on.
    """
    from . import robustness as robustness_mod

    if len(summaries) != len(effects):
        raise ValueError(f"{len(summaries)} summary files but {len(effects)} effects files")
    outlines, loaded = [], []
    courses: set[tuple[str, str]] = set()
    kept: dict[int, dict] = {}
    budget = KEEP_BYTES
    for i, (summary_path, effects_path) in enumerate(zip(summaries, effects, strict=True)):
        item = load_analysis(summary_path, effects_path)
        aid = item["summary"]["analysis"]
        if config["analyses"][aid]["condition"] != condition:
            raise ValueError(f"analysis {aid!r} belongs to condition "
                             f"{config['analyses'][aid]['condition']!r}, not {condition!r}")
        outlines.append(analysis_outline(item, config))
        loaded.append(_page_item(item, courses))
        size = os.path.getsize(summary_path) + len(item["csv_bytes"])
        if size <= budget:
            kept[i] = item
            budget -= size
    ids = [item["summary"]["analysis"] for item in loaded]
    label = config["conditions"][condition]["label"]
    included = included_studies_of(condition, loaded, outlines, all_rows, links)
    by_id = {a["id"]: a for a in outlines}
    chosen = findings_mod.sof_analyses(condition, config,
                                       {item["summary"]["analysis"]: item["summary"]
                                        for item in loaded})
    sof_rows = [by_id[a] for a in chosen if by_id[a]["certainty"] is not None]
    all_studies = [st for item in loaded for st in item["studies"]]
    routes = _plain_list([r["route"] for r in included], "by a route not reported",
                         findings_mod.PLAIN_ROUTES)
    comparators = _plain_list([r["comparator"] for r in included], "a control not reported",
                              findings_mod.PLAIN_COMPARATORS)
    sof = findings_mod.sof_table(label, intervention_name(all_studies), comparators, sof_rows)
    trial_n = _trial_participants(included, all_studies)
    key = findings_mod.key_findings(label, sof["rows"], outlines, len(included), trial_n,
                                    routes, comparators)
    return {
        "page_title": f"{label}: ketamine meta-analyses",
        "condition": condition,
        "condition_label": label,
        "outlines": outlines,
        "analyses": AnalysisSections(outlines, summaries, effects, config, kept),
        "sof": sof,
        "key_findings": key,
        "studies": included,
        "time_courses": time_course_context(condition, loaded, config),
        "unused": unused_rows(rows, loaded, config) if rows is not None else [],
        "methods": methods_mod.methods_section(config, [item["summary"] for item in loaded]),
        "provenance": _provenance(loaded, _config_text(config, ids)),
        "robustness": robustness_mod.robustness_context(*multiverse, MEASURES)
        if multiverse else None,
    }


#: How much of its analyses' files (summary.json and effects.csv, in bytes) a condition page
#: keeps from reading them for its outlines until it draws their sections; an analysis
#: beyond it is read again for its section. Kept, the files take about three times their
#: size in memory; reading them again costs a few percent of drawing the section.
KEEP_BYTES = 1 << 20

#: The keys of ``summary.json`` that a condition page reads outside the analyses' sections:
#: the summary of findings (:func:`ketameta.report.findings.sof_analyses`), the methods
#: (:func:`ketameta.report.methods.methods_section`), the time courses
#: (:func:`time_course_context`), the rows not pooled (:func:`unused_rows`) and the
#: provenance.
_PAGE_KEYS = ("analysis", "k", "warnings", "excluded", "proportions", "subgroups",
              "ketamine_vs_esketamine", "generated", "provenance", "time_course")


def _page_item(loaded: Mapping, courses: set[tuple[str, str]]) -> dict:
    """What a condition page keeps of one analysis (:func:`load_analysis`) for its parts
    outside the analysis's section: its ``studies``, its ``files`` and the ``summary``'s
    :data:`_PAGE_KEYS`.

    An outcome's time course block is repeated in the summary of each analysis on it; the
    page shows it once, with the studies of the analysis it is first found in
    (:func:`time_course_context`), so the repeats are left out. ``courses`` holds the
    outcome and measure of the blocks kept so far.
    """
    summary = {key: loaded["summary"][key] for key in _PAGE_KEYS if key in loaded["summary"]}
    _drop_repeated_course(summary, courses)
    return {"summary": summary, "studies": loaded["studies"], "files": loaded["files"]}


def _drop_repeated_course(summary: dict, courses: set[tuple[str, str]]) -> None:
    """Take ``summary``'s time course block out if one of its outcome and measure is in
    ``courses`` already (a page shows each once, :func:`time_course_context`); else note it."""
    block = summary.get("time_course")
    if isinstance(block, Mapping):
        course = (block["outcome"], block["measure"])
        if course in courses:
            del summary["time_course"]
        courses.add(course)


class AnalysisSections:
    """The full context of each analysis of a condition page, built when it is asked for.

    A sequence (``len``, iteration, indexing) of :func:`analysis_context` dicts, in page
    order: each analysis's outline (:func:`analysis_outline`) with the figures and tables
    of its section (:func:`analysis_section`), drawn from its files as ``kept`` (index to
    :func:`load_analysis` result) holds them, or as they are read again. Iterating keeps
    none of them, nor the kept files it used: the template's loop over the sections holds
    the figures of the analysis it writes, and of the one before until it moves on. An
    analysis taken by index is built once and kept, so that a change made to it shows on
    the page, as with a list.
    """

    def __init__(self, outlines: Sequence[Mapping], summaries: Sequence[str | Path],
                 effects: Sequence[str | Path], config: Mapping,
                 kept: dict[int, Mapping] | None = None):
        self._outlines = outlines
        self._files = list(zip(summaries, effects, strict=True))
        self._config = config
        self._kept = dict(kept or {})
        self._taken: dict[int, dict] = {}

    def __len__(self) -> int:
        return len(self._outlines)

    def __getitem__(self, index: int) -> dict:
        i = range(len(self))[index]  # negative indexes count from the end
        if i not in self._taken:
            self._taken[i] = self._context(i)
        return self._taken[i]

    def __iter__(self):
        for i in range(len(self)):
            yield self._taken[i] if i in self._taken else self._context(i)

    def _context(self, i: int) -> dict:
        outline = self._outlines[i]
        loaded = self._kept.pop(i, None) or load_analysis(*self._files[i])
        return {**outline, **analysis_section(loaded, self._config, outline)}


def _plain_list(values: Sequence[str], missing: str,
                words: Mapping[str, str] | None = None) -> str:
    """Distinct values (split at ``;``) as words: ``a``, ``a or b``, ``a, b or c``.

    ``words`` replaces a value by its plain-language name.
    """
    words = words or {}
    seen: list[str] = []
    for v in values:
        for part in str(v or "").split(";"):
            part = words.get(part.strip(), part.strip())
            if part and part not in seen:
                seen.append(part)
    if not seen:
        return missing
    return seen[0] if len(seen) == 1 else ", ".join(seen[:-1]) + " or " + seen[-1]


def _trial_participants(included: Sequence[Mapping], studies: Sequence[Mapping]) -> str:
    """Participants of the condition's trials, each trial counted once at its largest row."""
    best: dict[str, float] = {}
    for st in studies:
        n = _row_participants(st)
        key = studies_mod.anchor(str(st.get("study", "")), _year_text(st.get("year")))
        if not np.isnan(n):
            best[key] = max(best.get(key, 0.0), float(n))
    total = round(sum(best.values()))
    if len(best) < len(included):
        return f"at least {total:,}"
    return f"{total:,}"


def included_studies_of(condition: str, loaded: Sequence[Mapping], analyses: Sequence[Mapping],
                        all_rows: Mapping[str, str | Path] | None,
                        links: Mapping[str, str] | None = None) -> list[dict]:
    """The included-studies records of one page (:func:`studies.included_studies`).

    Which trials share participants comes from this page's own rows (the data declare an
    overlap on both trials' rows); ``all_rows`` only tells on which other page a partner
    trial stands, for the link (or ``links`` gives it, already worked out).
    """
    titles = {a["id"]: a["title"] for a in analyses}
    rows = []
    for item in loaded:
        aid = item["summary"]["analysis"]
        for st in item["studies"]:
            rows.append({**st, "analysis": aid, "analysis_label": titles[aid]})
    overlaps: list[tuple[str, str]] = studies_mod.overlaps_of(rows)
    if links is not None:
        links = dict(links)
    elif all_rows:
        import pandas as pd

        # Only the label and the year of the other pages' trials are needed, parsed as
        # ketameta.io.read_table parses them (text, nullable integer, empty cells missing).
        by_condition = {}
        for cond, path in all_rows.items():
            table = pd.read_csv(path, usecols=lambda c: c in ("study", "year"),
                                dtype={"study": "str", "year": "Int64"},
                                keep_default_na=False, na_values=[""])
            by_condition[cond] = table.to_dict("records")
        links = studies_mod.study_links(
            {c: recs for c, recs in by_condition.items() if c != condition})
    else:
        links = {}
    return studies_mod.included_studies(rows, overlaps=overlaps, links=links)


#: Text size (points) of the overview's figures: 9 pt favours labels and 9.5 pt text stay
#: above 11 px at the page's column width (the figures are drawn no wider than it).
OVERVIEW_FONT_SIZE = 9.5


def _overview_analysis(item: Mapping, config: Mapping) -> dict:
    """What the overview needs of one analysis (no figures drawn)."""
    summary = _shown(item["summary"])
    studies = item["studies"]
    aid = summary["analysis"]
    entry = config["analyses"][aid]
    outcome_cfg = config["outcomes"][entry["outcome"]]
    lower = bool(outcome_cfg.get("lower_is_better", True))
    info = measure_info(summary["measure"], studies)
    log = bool(info["log"])
    k = int(summary["k"])
    pooled = k >= 2 and fmt.is_number(summary.get("estimate"))
    source = _headline(summary) if pooled else (studies[0] if studies else {})
    est_key = "estimate" if pooled else "yi"
    ci = {"ci_low": source.get("ci_low"), "ci_high": source.get("ci_high")}
    return {
        "id": aid, "k": k, "pooled": pooled, "family": info["family"], "log": log,
        "short": info["short"], "lower_is_better": lower,
        "outcome": outcome_cfg["label"], "timepoint": timepoint_label(str(entry["timepoint"])),
        "raw": (source.get(est_key), source.get("ci_low"), source.get("ci_high")),
        "pi": (source.get("pi_low"), source.get("pi_high")) if pooled else (None, None),
        "estimate": display(source.get(est_key), log), "ci_low": display(ci["ci_low"], log),
        "ci_high": display(ci["ci_high"], log),
        "participants": participant_count(studies),
        "direction": findings_mod.direction(ci, lower),
        "certainty": findings_mod.certainty_of(item["summary"], studies, lower, config)
        if studies else None,
        "absolute": absolute_effects(source, studies, info, lower, intervention_name(studies))
        if pooled else None,
        "scale": (_ranked([str(st.get("scale", "")) for st in studies]) or [("", 0)])[0][0],
        "question": {"outcome": outcome_cfg["label"],
                     "timepoint": timepoint_label(str(entry["timepoint"]))},
    }


def overview_picture(config: Mapping, by_condition: Mapping[str, Mapping[str, Mapping]],
                     item_of: Callable[[str], Mapping]) -> dict:
    """The overview's one-line findings per condition and its summary figures.

    Each condition contributes its summary-of-findings analyses. Figures are split by
    measure and by the outcome's benefit direction; outcomes whose lower values are better
    are drawn on a reversed axis, so that benefit is on the right in every figure. Pooled
    results are diamonds (thin line: prediction interval), single trials squares.

    ``by_condition`` maps each condition to its analyses' summaries (analysis id → summary;
    the summary of findings chooses by their ``k``), and ``item_of`` gives the whole
    analysis (:func:`load_analysis`, as the overview keeps it) of each analysis chosen.
    """
    from . import plots
    from .plots import Axis, Column, Row

    lines = []
    groups: dict[tuple[str, bool], list] = {}
    for condition, summaries in by_condition.items():
        if not summaries:
            continue
        label = config["conditions"][condition]["label"]
        chosen = findings_mod.sof_analyses(condition, config, summaries)
        picked = [_overview_analysis(item_of(a), config) for a in chosen]
        picked = [p for p in picked if p["certainty"] is not None]
        lead = next((p for p in picked if p["pooled"]), picked[0] if picked else None)
        if lead is not None:
            lines.append({"condition": label, "href": f"{condition}.html",
                          "text": findings_mod.overview_sentence(lead),
                          "detail": f"{condition}.html#{lead['id']}",
                          "certainty": lead["certainty"],
                          "analyses": len(summaries)})
        for p in picked:
            groups.setdefault((p["family"], p["lower_is_better"]), []).append((condition, p))
    figures = []
    for (family, lower), members in groups.items():
        info = MEASURES.get(family, MEASURES["GEN"])
        log = bool(info["log"])
        axis = Axis(label=info["name"] + (" (log scale)" if log else ""), log=log,
                    null=None if info.get("single") else 0.0, reverse=lower,
                    favours_left="Favours control", favours_right="Favours ketamine")
        rows: list[Row] = []
        current = None
        for condition, p in members:
            if condition != current:
                rows.append(Row(kind="heading", label=config["conditions"][condition]["label"],
                                url=f"{condition}.html"))
                current = condition
            effect = fmt.estimate_ci(p["estimate"], p["ci_low"], p["ci_high"], ratio=log)
            cert = p["certainty"]
            rows.append(Row(
                kind="summary" if p["pooled"] else "study",
                label=f"{p['outcome']}, {p['timepoint']}",
                cells=(str(p["k"]), p["participants"]["short"]),
                right=(effect + ("" if p["pooled"] else " (1 trial)"),
                       f"{cert['symbols']} {cert['level']}"),
                estimate=p["raw"][0], low=p["raw"][1], high=p["raw"][2],
                pi_low=p["pi"][0], pi_high=p["pi"][1],
                url=f"{condition}.html#{p['id']}"))
        direction = "lower is better" if lower else "higher is better"
        title = f"{info['name']}: outcomes where {direction}"
        fig_id = f"overview-{family.lower()}-{'lower' if lower else 'higher'}"
        figures.append({"id": fig_id, "title": title, "svg": Markup(plots.forest_svg(
            fig_id, title, rows, axes=[axis], left=[Column("Trials"), Column("People")],
            right=[Column(f"{info['short']} [95% CI]"), Column("Certainty")],
            label_header="Condition, outcome and time point",
            font_size=OVERVIEW_FONT_SIZE,
            footer=["Diamond: pooled effect and CI; thin line: prediction interval; "
                    "square: a single trial. Benefit is on the right"
                    + (" (axis reversed: lower values are better)." if lower else ".")]))})
    return {"lines": lines, "figures": figures}


#: Blocks of ``summary.json`` that the overview does not show, a large part of its size.
_NOT_IN_OVERVIEW = ("influence", "leave1out", "subgroups", "trimfill_filled")


def _overview_item(loaded: Mapping, courses: set[tuple[str, str]]) -> dict:
    """What the overview keeps of one analysis (:func:`load_analysis`): its studies, its
    files' hashes and its summary without :data:`_NOT_IN_OVERVIEW` and without a time
    course block repeated from an earlier analysis (:func:`_drop_repeated_course`), so that
    the overview's memory grows little with its analyses. A summary without a GRADE block
    is kept whole: its certainty is then assessed from all of it
    (:func:`findings.certainty_of`).
    """
    summary = loaded["summary"]
    if isinstance(summary.get("grade"), Mapping):
        summary = {k: v for k, v in summary.items() if k not in _NOT_IN_OVERVIEW}
        _drop_repeated_course(summary, courses)
    return {"summary": summary, "studies": loaded["studies"], "files": loaded["files"]}


class _ConditionOverview:
    """What the overview keeps of one condition's analyses as it reads them, one at a time:
    their rows of the forest plot and of the table, their ``k`` (for the summary of
    findings), and its evidence base (each trial's largest N, the years, each trial's
    design, route and comparator as its first row gives them)."""

    def __init__(self) -> None:
        self.rows: list = []
        self.records: list[dict] = []
        self.summaries: dict[str, dict] = {}
        self.trials: dict[str, float] = {}
        self.first: dict[str, tuple[str, str, str]] = {}
        self.first_year: float | None = None
        self.last_year: float | None = None

    def add_studies(self, studies: Sequence[Mapping]) -> None:
        for st in studies:
            n = _row_participants(st)
            n = 0.0 if np.isnan(n) else n
            name = str(st.get("study"))
            self.trials[name] = max(self.trials.get(name, 0.0), n)
            if fmt.is_number(st.get("year")):
                year = st["year"]
                if self.first_year is None:
                    self.first_year = self.last_year = year
                else:
                    self.first_year = min(self.first_year, year)
                    self.last_year = max(self.last_year, year)
            self.first.setdefault(name, (str(st.get("design", "")), str(st.get("route", "")),
                                         str(st.get("comparator", ""))))

    def evidence(self, label: str, condition: str) -> dict:
        low, high = self.first_year, self.last_year
        return {
            "condition": (label, f"{condition}.html"), "analyses": len(self.summaries),
            "trials": len(self.trials), "participants": sum(self.trials.values()) or None,
            "years": ("" if low is None else fmt.integer(low) if low == high
                      else f"{fmt.integer(low)}–{fmt.integer(high)}"),
            "designs": _listing([first[0] for first in self.first.values()]),
            "routes": _listing([first[1] for first in self.first.values()]),
            "comparators": _listing([first[2] for first in self.first.values()]),
        }


def _methods_view(summary: Mapping) -> dict:
    """What :func:`ketameta.report.methods.methods_section` reads of a summary: its id,
    warnings and generated flags, and whether it has each block the methods describe (the
    blocks themselves as True or False: their presence is all the section asks)."""
    config = (summary.get("provenance") or {}).get("config")
    return {
        "analysis": summary["analysis"],
        "warnings": list(summary.get("warnings") or []),
        "generated": summary.get("generated"),
        "provenance": {"config": {"generated": (config or {}).get("generated")}},
        **{key: bool(summary.get(key))
           for key in ("proportions", "subgroups", "ketamine_vs_esketamine", "time_course")},
    }


def index_context(config: Mapping, summaries: Sequence[str | Path],
                  effects: Sequence[str | Path]) -> dict:
    """Context of ``index.html``: the overview forest plot and the evidence base.

    The analyses are read one at a time, and each leaves behind only what the page shows of
    it (its rows, its settings, its files' hashes), so that the page's memory grows by a few
    kilobytes an analysis; the few analyses the summary of findings picks are read again.
    """
    from . import plots
    from .plots import Axis, Column, Row

    if len(summaries) != len(effects):
        raise ValueError(f"{len(summaries)} summary files but {len(effects)} effects files")
    courses: set[tuple[str, str]] = set()
    by_condition = {c: _ConditionOverview() for c in config["conditions"]}
    panels: list[str] = []
    ids: list[str] = []
    files: dict[str, tuple] = {}
    course_dropped: set[str] = set()
    methods_views = []
    provenance = _Provenance()
    for summary_path, effects_path in zip(summaries, effects, strict=True):
        loaded = load_analysis(summary_path, effects_path)
        item = _overview_item(loaded, courses)
        del loaded["csv_bytes"]
        summary, studies = item["summary"], item["studies"]
        aid = summary["analysis"]
        ids.append(aid)
        files[aid] = (summary_path, effects_path)
        if "time_course" in loaded["summary"] and "time_course" not in summary:
            course_dropped.add(aid)
        entry = config["analyses"][aid]
        group = by_condition[entry["condition"]]
        info = measure_info(summary["measure"], studies)
        if info["family"] not in panels:
            panels.append(info["family"])

        s = _headline(_shown(summary))
        log = bool(info["log"])
        outcome_cfg = config["outcomes"][entry["outcome"]]
        title = entry.get("label") or (
            f"{outcome_cfg['label']}, {timepoint_label(str(entry['timepoint']))}")
        better = "↓" if outcome_cfg.get("lower_is_better", True) else "↑"
        k = int(s["k"])
        pooled = k >= 2 and fmt.is_number(s.get("estimate"))
        url = f"{entry['condition']}.html#{aid}"
        eff = (fmt.estimate_ci(display(s["estimate"], log), display(s.get("ci_low"), log),
                               display(s.get("ci_high"), log), ratio=log) if pooled
               else "not pooled (1 trial)")
        pi = (fmt.interval(display(s.get("pi_low"), log), display(s.get("pi_high"), log),
                           ratio=log)
              if pooled and fmt.is_number(s.get("pi_low")) else "")
        count = participant_count(studies)["short"]
        group.rows.append(Row(
            kind="summary" if pooled else "note", label=f"{title} {better}",
            cells=(str(k), count, fmt.percent(s.get("I2")) if pooled else ""),
            right=(f"{info['short']} {eff}" if pooled else eff, pi),
            estimate=s.get("estimate") if pooled else None,
            low=s.get("ci_low"), high=s.get("ci_high"),
            pi_low=s.get("pi_low"), pi_high=s.get("pi_high"),
            panel=panels.index(info["family"]), url=url))
        group.records.append({
            "condition": config["conditions"][entry["condition"]]["label"],
            "analysis": (title, url), "measure": info["short"],
            "better": "lower" if outcome_cfg.get("lower_is_better", True) else "higher",
            "k": k, "n": count,
            "effect": (display(s.get("estimate"), log), display(s.get("ci_low"), log),
                       display(s.get("ci_high"), log), log) if pooled else None,
            "pi": (display(s.get("pi_low"), log), display(s.get("pi_high"), log), log)
            if pooled else (None, None, log),
            "I2": s.get("I2") if pooled else None, "pooled": pooled,
        })
        group.summaries[aid] = {"analysis": aid, "k": summary.get("k")}
        group.add_studies(studies)
        methods_views.append(_methods_view(loaded["summary"]))  # before any block was dropped
        provenance.add(item)

    def item_of(aid: str) -> dict:
        """An analysis as the overview kept it while reading, read again whole."""
        item = _overview_item(load_analysis(*files[aid]), set())
        if aid in course_dropped:
            item["summary"].pop("time_course", None)
        return item

    axes = []
    for family in panels:
        info = MEASURES.get(family, MEASURES["GEN"])
        axes.append(Axis(label=info["short"] + (" (log scale)" if info["log"] else ""),
                         log=info["log"], null=None if info.get("single") else 0.0))
    rows: list[Row] = []
    overview_records = []
    evidence = []
    for condition, group in by_condition.items():
        if not group.summaries:
            continue
        label = config["conditions"][condition]["label"]
        rows.append(Row(kind="heading", label=label, url=f"{condition}.html"))
        rows.extend(group.rows)
        overview_records.extend(group.records)
        evidence.append(group.evidence(label, condition))
    overview = Markup(plots.forest_svg(
        "forest-overview", "Overview forest plot of all analyses", rows, axes=axes,
        left=[Column("k"), Column("N"), Column("I²")],
        right=[Column("Pooled effect [CI]"), Column("Prediction interval")],
        label_header="Analysis (↓/↑: lower/higher is better)"))
    picture = overview_picture(
        config, {c: group.summaries for c, group in by_condition.items()}, item_of)
    return {
        "page_title": "Ketamine meta-analyses: overview",
        "lines": picture["lines"],
        "figures": picture["figures"],
        "overview": overview,
        "overview_table": {
            "id": "overview-table", "caption": "Pooled results of every analysis",
            "columns": [{"key": "condition", "header": "Condition", "kind": "text"},
                        {"key": "analysis", "header": "Analysis", "kind": "link"},
                        {"key": "measure", "header": "Measure", "kind": "text"},
                        {"key": "better", "header": "Better", "kind": "text"},
                        {"key": "k", "header": "k", "kind": "int"},
                        {"key": "n", "header": "Participants", "kind": "text"},
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
        "methods": methods_mod.methods_section(config, methods_views),
        "provenance": provenance.block(_config_text(config, ids)),
    }
