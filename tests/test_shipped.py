"""The shipped data end to end, without Snakemake: no row silently unused, and the
participant totals of each analysis agree between its forest plot, its headline and the
overview."""

from __future__ import annotations

import html as htmllib
import json
import re
from pathlib import Path

import pytest
import yaml

from ketameta.analysis import check_inputs, run_condition
from ketameta.io import validate_config, write_table
from ketameta.plan import plan_analyses
from ketameta.profiles import effective_configs
from ketameta.report import page_config, render_condition, render_index
from ketameta.report.render import (
    condition_context,
    index_context,
    load_analysis,
    participant_count,
)

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("shipped")
    config = validate_config(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()),
                             SCHEMA)
    trials = check_inputs(config, root=ROOT)
    config["analyses"] = plan_analyses(config, trials)
    conditions = [c for c in config["conditions"]
                  if any(a["condition"] == c for a in config["analyses"].values())]
    files = {}
    for condition in conditions:
        rows = out / "interim" / f"{condition}.csv"
        write_table(trials[trials["condition"] == condition], rows)
        analyses = effective_configs(condition, config)
        summaries = [out / a / "summary.json" for a in analyses]
        effects = [out / a / "effects.csv" for a in analyses]
        run_condition(rows, analyses, effects, summaries)
        files[condition] = (rows, summaries, effects)
        render_condition(condition, page_config([condition], config), summaries, effects,
                         out / "reports" / f"{condition}.html", rows=rows)
    every = [p for _, s, _ in files.values() for p in s], [p for *_, e in files.values()
                                                          for p in e]
    render_index(page_config(conditions, config), *every, out / "reports" / "index.html")
    return config, trials, files, out


def test_no_row_is_silently_unused(built):
    config, trials, files, _ = built
    listed = 0
    for condition, (rows, summaries, effects) in files.items():
        context = condition_context(condition, config, summaries, effects, rows)
        for item in context["unused"]:
            assert item["reason"]  # every unused row says why
        listed += len(context["unused"])
    # the configuration's deliberate exclusions are the only rows no analysis pools
    assert listed == 0
    assert sum(len(r) for r in trials.groupby("condition").groups.values()) == len(trials)


def _text(html: str) -> str:
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", html))


def test_participant_totals_agree(built):
    config, _, files, out = built
    all_summaries = [p for _, s, _ in files.values() for p in s]
    all_effects = [p for *_, e in files.values() for p in e]
    overview = {rec["analysis"][1].split("#")[1]: rec["n"] for rec in index_context(
        config, all_summaries, all_effects)["overview_table"]["records"]}
    for condition, (rows, summaries, effects) in files.items():
        page = (out / "reports" / f"{condition}.html").read_text(encoding="utf-8")
        context = condition_context(condition, config, summaries, effects, rows)
        for a in context["analyses"]:
            section = page[page.index(f'<section class="analysis" id="{a["id"]}"'):]
            section = re.sub(r"\s+", " ", _text(section[: section.index("</section>")]))
            count = a["participants"]
            if a["pooled"]:
                assert f"trials, {count['text']}." in section  # headline
                assert f"Participants: {count['text']} (crossover" in section  # forest
            assert overview[a["id"]] == count["short"]
        # the summary's own count agrees where every trial reports its N
        for path in summaries:
            s = json.loads(path.read_text())
            count = participant_count(load_analysis(path, path.parent / "effects.csv")["studies"])
            if s["n_participants"] is not None:
                assert count["total"] == s["n_participants"] and count["unknown"] == 0
            else:
                assert count["unknown"] > 0

