"""Reviewer-grade HTML reports: one page per condition and an overview page.

``render_condition`` and ``render_index`` are the package's report API
(docs/architecture.md): they read the ``summary.json`` and ``effects.csv`` files written by
:mod:`ketameta.analysis` and write one self-contained HTML file each (inline CSS and SVG,
no external resource, byte-identical output for identical inputs).

The rendering code (Jinja2, and matplotlib for the figures) is imported when a page is
rendered, not with this package: the workflow calls :func:`page_config` while it parses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["page_config", "render_condition", "render_index"]


def page_config(conditions: Sequence[str], config: Mapping) -> dict:
    """The configuration sections the pages of ``conditions`` depend on, and nothing else.

    The workflow passes this through ``params:``, so that editing a label, an outcome's
    direction or a method reruns exactly the pages that show it. Contains ``few_trials``,
    ``profile``, the ``conditions`` given, the ``outcomes`` their analyses use and those
    ``analyses``.
    """
    analyses = {a: dict(entry) for a, entry in config["analyses"].items()
                if entry["condition"] in conditions}
    outcomes = sorted({entry["outcome"] for entry in analyses.values()})
    return {
        "few_trials": dict(config.get("few_trials") or {}),
        "grade": dict(config.get("grade") or {}),
        "sof": {c: list(v) for c, v in (config.get("sof") or {}).items() if c in conditions},
        "profile": config.get("profile", "cochrane"),
        "conditions": {c: dict(config["conditions"][c]) for c in conditions},
        "outcomes": {o: dict(config["outcomes"][o]) for o in outcomes},
        "analyses": analyses,
    }


def render_condition(condition: str, config: Mapping, summaries: Sequence[str | Path],
                     effects: Sequence[str | Path], out_path: str | Path,
                     rows: str | Path | None = None,
                     multiverse: Sequence[str | Path] = (),
                     all_rows: Mapping[str, str | Path] | None = None,
                     links: Mapping[str, str] | None = None) -> None:
    """Write the report of every analysis of ``condition`` to ``out_path``.

    Parameters
    ----------
    condition : str
        Condition key of the configuration.
    config : mapping
        The validated configuration (``config/config.yaml``).
    summaries, effects : sequences of paths
        ``data/processed/{analysis}/summary.json`` and ``effects.csv`` of the condition's
        analyses, in config order (the section order of the page).
    out_path : path
        The HTML file to write, normally ``reports/{condition}.html``.
    rows : path, optional
        The condition's validated rows (``data/interim/{condition}.csv``): the page then
        lists every row no analysis pooled, with the reason.
    multiverse : sequence of paths
        ``data/processed/multiverse/{condition}.json`` and ``.csv`` for the robustness
        section, or empty for none.
    all_rows : mapping, optional
        Condition → its validated rows, for every condition: trials that share participants
        with a trial on another page are then linked to it.
    links : mapping, optional
        The same links already worked out (study → ``{condition}.html#{anchor}`` of another
        page, :func:`ketameta.report.studies.study_links`); the workflow computes them when
        it is read, so a page does not depend on the other conditions' data files.
    """
    from .render import condition_context, rendering, write_page

    with rendering():
        context = condition_context(condition, config, summaries, effects, rows, all_rows,
                                    multiverse, links)
        write_page("condition.html", context, out_path)


def render_index(config: Mapping, summaries: Sequence[str | Path],
                 effects: Sequence[str | Path], out_path: str | Path) -> None:
    """Write the overview page of all analyses to ``out_path`` (``reports/index.html``).

    ``summaries`` and ``effects`` list every analysis in config order; rows of the overview
    forest plot are grouped by condition in the order of ``config["conditions"]``.
    """
    from .render import index_context, rendering, write_page

    with rendering():
        context = index_context(config, summaries, effects)
        write_page("index.html", context, out_path)
