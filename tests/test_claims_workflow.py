"""The claims rule through the real ``snakemake`` on the workflow fixture with a claims file:
it reads only the results of the conditions the claims name, editing the claims file reruns
only the claims page, a data change of such a condition reruns it, and a bad claims file stops
the run when the workflow is read, with one message and no traceback."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from test_workflow import FIXTURE, _replace, outputs_of, scheduled, snakemake

pytestmark = pytest.mark.workflow

CLAIMS = """\
articles:
  art:
    title: An article
claims:
  trd_response:
    article: art
    quote: most people respond
    checks:
      - kind: proportion
        range: [0.5, 0.9]
        condition: TRD
        outcome: response
  trd_effect:
    article: art
    quote: it works within a day
    checks:
      - kind: effect
        condition: TRD
        outcome: depression_severity
        timepoints: [24h]
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("claims-workflow") / "project"
    shutil.copytree(FIXTURE, work)
    (work / "config" / "claims.yaml").write_text(CLAIMS)
    full = snakemake(work)
    return {"work": work, "full": full}


def copy_of(run, tmp_path):
    target = tmp_path / "project"
    shutil.copytree(run["work"], target, symlinks=True)
    return target


def test_full_run_writes_the_claims_page(run):
    assert run["full"].returncode == 0, run["full"].stderr
    work = run["work"]
    data = json.loads((work / "data/processed/claims.json").read_text())
    assert [c["id"] for c in data["claims"]] == ["trd_response", "trd_effect"]
    assert all(c["verdict"] for c in data["claims"])
    html = (work / "reports/claims.html").read_text()
    assert "most people respond" in html and 'href="TRD.html#trd_severity_24h"' in html


def test_editing_the_claims_reruns_only_the_claims_page(run, tmp_path):
    work = copy_of(run, tmp_path)
    before = outputs_of(work)
    _replace(work / "config/claims.yaml", "range: [0.5, 0.9]", "range: [0.6, 0.7]")
    dry = snakemake(work, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    # the page, then the publication of what changed (ketameta.io.publish)
    assert set(scheduled(dry)) == {"render_claims", "publish", "all"}
    assert snakemake(work).returncode == 0
    after = outputs_of(work)
    changed = {name for name in before if before[name] != after[name]}
    page = {"data/processed/claims.json", "reports/claims.html"}
    assert changed == page | {f".ketameta/stage/{name}" for name in page}


def test_only_the_conditions_the_claims_use_rerun_the_page(run, tmp_path):
    work = copy_of(run, tmp_path)
    path = work / "data/raw/ptsd.csv"
    path.write_text(path.read_text().replace(
        "Eta 2021,2021,PTSD,ptsd_severity,end,ketamine,midazolam,CAPS-5,low,15,11.9",
        "Eta 2021,2021,PTSD,ptsd_severity,end,ketamine,midazolam,CAPS-5,low,15,12.9"))
    jobs = scheduled(snakemake(work, "--dry-run"))
    assert "analyse_PTSD" in jobs and "render_claims" not in jobs
    path = work / "data/raw/trd.csv"
    lines = path.read_text().splitlines(keepends=True)
    last = lines[-1].rstrip("\n").split(",")
    last[0] = last[0] + " (copy)"
    path.write_text("".join(lines) + ",".join(last) + "\n")
    jobs = scheduled(snakemake(work, "--dry-run"))
    assert "analyse_TRD" in jobs and "render_claims" in jobs


def test_the_claims_page_starts_once_its_conditions_are_done(run, tmp_path):
    # The order jobs start in (common.smk): the conditions with the most work first, among
    # equal work those the claims read, and the claims page before any condition job still
    # waiting, so that it runs beside the last ones (the claims here read TRD only).
    work = copy_of(run, tmp_path)
    shutil.rmtree(work / ".ketameta" / "stage")
    dry = snakemake(work, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    priority = dict(re.findall(r"^(?:local)?rule (\S+):\n(?:    .*\n)*?    priority: (\d+)$",
                               dry.stdout, flags=re.MULTILINE))
    plan = json.loads((work / ".ketameta" / "cache" / "plan.json").read_text())["plan"]
    conditions = {f"analyse_{c}": c for c in plan["conditions"]}
    assert set(conditions) <= set(priority) and len(conditions) > 1
    for job, condition in conditions.items():
        assert int(priority[job]) == 2 * plan["work"][condition] + (condition == "TRD")
    assert int(priority["render_claims"]) > max(int(priority[job]) for job in conditions)


BAD = {
    "unknown condition": (
        ("condition: TRD\n        outcome: response", "condition: TDR\n        outcome: response"),
        "config/claims.yaml, line 11, claims.trd_response.checks.0.condition: unknown "
        "condition 'TDR' (conditions: PTSD, TRD)",
    ),
    "unknown kind": (
        ("kind: effect", "kind: effects"),
        "config/claims.yaml, line 17, claims.trd_effect.checks.0.kind: must be one of "
        "proportion, effect, fades, route_difference, time_to_relapse, not_in_evidence "
        "(got 'effects')",
    ),
    "unknown key": (
        ("timepoints: [24h]", "timepoint: [24h]"),
        "config/claims.yaml, line 17, claims.trd_effect.checks.0: unknown key 'timepoint'",
    ),
    "unknown analysis": (
        ("condition: TRD\n        outcome: depression_severity",
         "analysis: trd_nothing"),
        "config/claims.yaml, line 18, claims.trd_effect.checks.0.analysis: unknown "
        "analysis 'trd_nothing'",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_claims_file_stops_at_parse_time(run, tmp_path, case):
    work = copy_of(run, tmp_path)
    before = outputs_of(work)
    (old, new), expected = BAD[case]
    _replace(work / "config/claims.yaml", old, new)
    result = snakemake(work)
    assert result.returncode != 0
    assert result.stderr.startswith(expected), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stdout == ""
    assert outputs_of(work) == before
