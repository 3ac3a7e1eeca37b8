"""A condition job's memory does not grow with its analyses' data all held at once.

Checked by what is alive, not by measuring memory: run_condition lets each analysis's
rows go once they are sized, and its effects table once it is written (but for the first
few, kept whole for the time courses); leave-one-out (ketameta.sensitivity) fits the
refits of a batch a few analyses at a time, with the results of the whole batch. A condition page draws an
analysis's figures only when the template reaches its section, and lets them go after it.
"""

from __future__ import annotations

import gc
import json
import weakref
from pathlib import Path

import numpy as np
import pytest
import yaml

import ketameta.analysis as analysis_mod
import ketameta.sensitivity as sensitivity_mod
from ketameta.analysis import check_inputs, run_condition
from ketameta.io import read_data, validate_config, write_table
from ketameta.models import rma
from ketameta.profiles import effective_configs
from ketameta.report import render, render_condition, render_index
from ketameta.summary import small_study_tests

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "tests" / "fixtures" / "workflow"
REPORT = ROOT / "tests" / "fixtures" / "report"


class Probe:
    """A marker whose life is followed by a weak reference (dicts and str have none)."""


def alive(refs: list[weakref.ref]) -> int:
    gc.collect()
    return sum(ref() is not None for ref in refs)


# ---------------------------------------------------------------------------- fitting


@pytest.fixture(scope="module")
def condition(tmp_path_factory):
    """The rows and analyses of the workflow fixture, its two conditions as one job's."""
    config = yaml.safe_load((WORKFLOW / "config" / "config.yaml").read_text())
    config = validate_config(config, ROOT / "workflow" / "schemas" / "config.schema.yaml")
    check_inputs(config, root=WORKFLOW)
    table = tmp_path_factory.mktemp("interim") / "rows.csv"
    write_table(read_data("data/raw", root=WORKFLOW), table)
    analyses = {a: cfg for c in config["conditions"]
                for a, cfg in effective_configs(c, config).items()}
    assert len(analyses) >= 3
    return table, analyses


def run(condition, out: Path) -> dict[str, bytes]:
    table, analyses = condition
    effects = [out / a / "effects.csv" for a in analyses]
    summaries = [out / a / "summary.json" for a in analyses]
    run_condition(table, analyses, effects, summaries)
    return {str(p.relative_to(out)): p.read_bytes() for p in effects + summaries}


def test_run_condition_lets_each_analysis_go(condition, tmp_path, monkeypatch):
    rows: list[weakref.ref] = []  # each analysis's prepared rows
    sized: list[weakref.ref] = []  # each analysis's effect sizes
    tables: list[weakref.ref] = []  # each analysis's effects table
    composed = []
    prepare, summary = analysis_mod.prepare, analysis_mod._summary

    def preparing(*args, **kwargs):
        prep = prepare(*args, **kwargs)
        rows.append(weakref.ref(prep.rows))
        return prep

    def composing(item, fit, inputs):
        # every analysis is sized before the batch fits, and its prepared rows are gone
        assert len(rows) == len(condition[1]) and alive(rows) == 0
        # the analyses composed before are gone, but for the table just written
        assert alive(sized) == 0 and alive(tables) <= 1
        sized.append(weakref.ref(item.frame))
        out = summary(item, fit, inputs)
        tables.append(weakref.ref(out[1]))
        composed.append(item.config["analysis"])
        return out

    monkeypatch.setattr(analysis_mod, "prepare", preparing)
    monkeypatch.setattr(analysis_mod, "_summary", composing)
    monkeypatch.setattr(analysis_mod, "WHOLE_TABLES", 0)  # no whole table kept for later
    run(condition, tmp_path)
    assert composed == list(condition[1])


def test_leave_one_out_in_chunks_is_the_whole_batch(monkeypatch):
    rng = np.random.default_rng(7)
    k = rng.integers(2, 12, size=9)
    yi = np.where(np.arange(12) < k[:, None], rng.normal(0.3, 0.4, (9, 12)), np.nan)
    vi = np.where(np.arange(12) < k[:, None], rng.uniform(0.01, 0.2, (9, 12)), np.nan)
    res = rma(yi, vi, method="REML", test="knha")
    whole = small_study_tests(res)
    widths = []
    refit = sensitivity_mod._leave_one_out_fit

    def refitting(b, *args):
        widths.append(b.y.shape)
        return refit(b, *args)

    monkeypatch.setattr(sensitivity_mod, "_leave_one_out_fit", refitting)
    monkeypatch.setattr(sensitivity_mod, "CHUNK", 4)
    chunked = small_study_tests(res)
    assert widths == [(4, 12), (4, 12), (1, 12)]  # runs of rows, as wide as the batch
    assert chunked.leave1out.to_dict() == whole.leave1out.to_dict()
    for name, value in vars(whole.leave1out).items():
        np.testing.assert_array_equal(getattr(chunked.leave1out, name), value, strict=True)


def test_outputs_do_not_depend_on_chunks_or_kept_tables(condition, tmp_path, monkeypatch):
    default = run(condition, tmp_path / "default")
    monkeypatch.setattr(sensitivity_mod, "CHUNK", 1)
    monkeypatch.setattr(analysis_mod, "WHOLE_TABLES", 0)
    assert run(condition, tmp_path / "least") == default


# ---------------------------------------------------------------------------- the page


def page_files(config: dict, condition: str) -> tuple[list[Path], list[Path]]:
    ids = [a for a, e in config["analyses"].items() if e["condition"] == condition]
    return ([REPORT / "processed" / a / "summary.json" for a in ids],
            [REPORT / "processed" / a / "effects.csv" for a in ids])


@pytest.mark.parametrize("keep", [render.KEEP_BYTES, 0])
def test_page_draws_one_analysis_section_at_a_time(keep, tmp_path, monkeypatch):
    config = yaml.safe_load((REPORT / "config.yaml").read_text(encoding="utf-8"))
    summaries, effects = page_files(config, "TRD")
    assert len(summaries) >= 3
    drawn: list[weakref.ref] = []
    read: list[Path] = []
    section, load = render.analysis_section, render.load_analysis

    def drawing(loaded, config, outline):
        # the sections drawn before are gone, but for the one the template just wrote
        assert alive(drawn) <= 1
        out = section(loaded, config, outline)
        out["probe"] = probe = Probe()  # lives as long as the section's figures
        drawn.append(weakref.ref(probe))
        return out

    def reading(summary_path, effects_path):
        read.append(Path(summary_path))
        return load(summary_path, effects_path)

    monkeypatch.setattr(render, "analysis_section", drawing)
    monkeypatch.setattr(render, "load_analysis", reading)
    monkeypatch.setattr(render, "KEEP_BYTES", keep)
    context = render.condition_context("TRD", config, summaries, effects)
    assert not drawn  # the context holds no figure
    render.write_page("condition.html", context, tmp_path / "streamed.html")
    assert len(drawn) == len(summaries)  # each section drawn once
    # the small fixture's files are kept for the sections; without room, read again
    assert read == summaries * (1 if keep else 2)

    # the same page as from a list of every analysis's full context
    monkeypatch.setattr(render, "analysis_section", section)
    context["analyses"] = [render.analysis_context(load(s, e), config)
                           for s, e in zip(summaries, effects, strict=True)]
    render.write_page("condition.html", context, tmp_path / "listed.html")
    assert (tmp_path / "streamed.html").read_bytes() == (tmp_path / "listed.html").read_bytes()
    render_condition("TRD", config, summaries, effects, tmp_path / "rendered.html")
    assert (tmp_path / "rendered.html").read_bytes() == (tmp_path / "listed.html").read_bytes()


def test_sections_are_a_sequence_of_analysis_contexts():
    config = yaml.safe_load((REPORT / "config.yaml").read_text(encoding="utf-8"))
    summaries, effects = page_files(config, "TRD")
    sections = render.condition_context("TRD", config, summaries, effects)["analyses"]
    assert len(sections) == len(summaries)
    first = sections[0]
    assert sections[0] is first and sections[-len(summaries)] is first  # built once, kept
    assert next(iter(sections)) is first  # a changed analysis shows on the page
    expected = render.analysis_context(render.load_analysis(summaries[1], effects[1]), config)
    assert [a["id"] for a in sections] == [s.parent.name for s in summaries]
    assert list(sections)[1].keys() == expected.keys()
    with pytest.raises(IndexError):
        sections[len(summaries)]


def test_overview_keeps_little_of_each_analysis(tmp_path, monkeypatch):
    # The overview keeps each summary without the blocks it does not show (and an
    # outcome's time course once): the same page as from the whole summaries. The
    # fixture's summaries are given the GRADE block the workflow's jobs write, the one
    # the page would compute from the whole summary.
    from ketameta.report import findings

    config = yaml.safe_load((REPORT / "config.yaml").read_text(encoding="utf-8"))
    summaries, effects = [], []
    for aid, entry in config["analyses"].items():
        loaded = render.load_analysis(REPORT / "processed" / aid / "summary.json",
                                      REPORT / "processed" / aid / "effects.csv")
        lower = config["outcomes"][entry["outcome"]].get("lower_is_better", True)
        summary = dict(loaded["summary"])
        summary["grade"] = findings.certainty_of(summary, loaded["studies"], lower, config)
        folder = tmp_path / "processed" / aid
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
        (folder / "effects.csv").write_bytes(loaded["csv_bytes"])
        summaries.append(folder / "summary.json")
        effects.append(folder / "effects.csv")
    kept = {}  # analysis -> the summary the overview kept of it (the last time it read it)
    slim = render._overview_item

    def keeping(loaded, courses):
        item = slim(loaded, courses)
        kept[item["summary"]["analysis"]] = item["summary"]
        return item

    monkeypatch.chdir(tmp_path)
    render_index(config, summaries, effects, tmp_path / "slim.html")
    monkeypatch.setattr(render, "_overview_item", lambda loaded, courses: {
        "summary": loaded["summary"], "studies": loaded["studies"], "files": loaded["files"]})
    render_index(config, summaries, effects, tmp_path / "whole.html")
    assert (tmp_path / "slim.html").read_bytes() == (tmp_path / "whole.html").read_bytes()
    monkeypatch.setattr(render, "_overview_item", keeping)
    render_index(config, summaries, effects, tmp_path / "again.html")
    assert (tmp_path / "again.html").read_bytes() == (tmp_path / "whole.html").read_bytes()
    assert len(kept) == len(summaries)
    assert not any(key in s for s in kept.values() for key in render._NOT_IN_OVERVIEW)
    courses = [s["time_course"]["outcome"] for s in kept.values() if s.get("time_course")]
    assert courses and len(courses) == len(set(courses))


def test_the_overview_lets_go_of_each_analysis_once_read(monkeypatch):
    # The overview reads the analyses one at a time and keeps only what it shows of each:
    # when it draws its figures, no analysis's rows are held (but the last one read, or
    # the one whose summary of findings it is drawing), however many analyses there are.
    from ketameta.report import plots

    config = yaml.safe_load((REPORT / "config.yaml").read_text(encoding="utf-8"))
    ids = list(config["analyses"])
    read = render.load_analysis
    alive: list[weakref.ref] = []

    class Rows(list):
        pass

    def reading(summary_path, effects_path):
        item = read(summary_path, effects_path)
        item["studies"] = Rows(item["studies"])
        alive.append(weakref.ref(item["studies"]))
        return item

    held = []
    forest = plots.forest_svg

    def drawing(*args, **kwargs):
        gc.collect()
        held.append(sum(ref() is not None for ref in alive))
        return forest(*args, **kwargs)

    monkeypatch.setattr(render, "load_analysis", reading)
    monkeypatch.setattr(plots, "forest_svg", drawing)
    monkeypatch.chdir(ROOT)
    context = render.index_context(
        config, [REPORT / "processed" / a / "summary.json" for a in ids],
        [REPORT / "processed" / a / "effects.csv" for a in ids])
    assert len(context["overview_table"]["records"]) == len(ids) > 2
    assert len(alive) > len(ids)  # the summary of findings' analyses were read again
    assert held and max(held) <= 1, held
