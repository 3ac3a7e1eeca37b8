"""The workflow's plan (ketameta.workflow): built once, reused while no input changes.

A rerun that changes nothing reads the cached plan instead of re-checking every row; any
change to an input the plan depends on must rebuild it, and a failed check must never be
cached. These tests call :func:`ketameta.workflow.load` the way ``common.smk`` does, on a
copy of the workflow fixture, and count the builds.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ketameta.workflow as plan_module
from ketameta.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "workflow"
SCHEMAS = ROOT / "workflow" / "schemas"


@pytest.fixture
def project(tmp_path, monkeypatch):
    work = tmp_path / "project"
    shutil.copytree(FIXTURE, work)
    monkeypatch.chdir(work)
    builds = []
    real = plan_module.build

    def counting(*args, **kwargs):
        builds.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(plan_module, "build", counting)
    return work, builds


def load(overrides=None):
    return plan_module.load("config/config.yaml", overrides or {}, SCHEMAS, "config/claims.yaml")


def test_an_unchanged_project_reuses_the_plan(project):
    work, builds = project
    first = load()
    assert len(builds) == 1 and (work / plan_module.CACHE).is_file()
    second = load()
    assert len(builds) == 1
    assert second == first
    # the plan is what the rules need, in plain JSON types
    assert json.loads(json.dumps(first)) == first
    assert first["conditions"] == ["TRD", "PTSD"]
    assert set(first["raw_files"]) == {"TRD", "PTSD"}
    assert all(a in first["config"]["analyses"] for c in first["analyses_of"]
               for a in first["analyses_of"][c])


@pytest.mark.parametrize(
    "change",
    [
        "a byte of a data file",
        "a new data file",
        "a removed data file",
        "the configuration",
        "a --config value",
        "a claims file",
        "a schema",
        "the package's source",
    ],
)
def test_any_changed_input_rebuilds_the_plan(project, change, tmp_path, monkeypatch):
    work, builds = project
    load()
    overrides = {}
    if change == "a byte of a data file":
        path = work / "data/raw/ptsd.csv"
        path.write_text(path.read_text().replace(",31.0,", ",32.0,", 1))
    elif change == "a new data file":
        shutil.copy(work / "data/raw/ptsd.csv", work / "data/raw/ptsd_copy.csv")
    elif change == "a removed data file":
        (work / "data/raw/extra.txt").write_text("x")
        load()
        (work / "data/raw/extra.txt").unlink()
    elif change == "the configuration":
        path = work / "config/config.yaml"
        path.write_text(path.read_text() + "\n# a comment\n")
    elif change == "a --config value":
        overrides = {"profile": "metafor"}
    elif change == "a claims file":
        (work / "config/claims.yaml").write_text("articles: {}\nclaims: {}\n")
    elif change == "a schema":
        schemas = tmp_path / "schemas"
        shutil.copytree(SCHEMAS, schemas)
        (schemas / "config.schema.yaml").write_text(
            (schemas / "config.schema.yaml").read_text() + "\n# edited\n")
        monkeypatch.setattr(sys.modules[__name__], "SCHEMAS", schemas)
    elif change == "the package's source":
        source = Path(plan_module.__file__)
        stat = source.stat()
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    before = len(builds)
    try:
        load(overrides)
    except DataError:
        pass  # a check may refuse the change; what matters is that it ran
    assert len(builds) == before + 1, change


def test_a_failed_check_is_not_cached(project):
    work, builds = project
    load()
    cached = (work / plan_module.CACHE).read_bytes()
    path = work / "data/raw/trd.csv"
    good = path.read_text()
    path.write_text(good.replace("HAMD,high,,,18,12.5,6.2,", "HAMD,high,,,18,12.5,-4,"))
    for _ in range(2):  # refused every time, never served from the cache
        with pytest.raises(DataError, match="column sd_treat: must be greater than 0"):
            load()
    assert (work / plan_module.CACHE).read_bytes() == cached
    path.write_text(good)
    load()
    # built for the first load and for each refused one; the restored data match the cache
    assert len(builds) == 3
    assert (work / plan_module.CACHE).read_bytes() == cached


@pytest.mark.parametrize("content", ["", "{not json", '{"format": 0}', '{"format": 1}',
                                     '{"format": 1, "key": "x", "plan": {"config": 1}}'])
def test_a_damaged_cache_is_ignored(project, content):
    work, builds = project
    (work / plan_module.CACHE).parent.mkdir(parents=True, exist_ok=True)
    (work / plan_module.CACHE).write_text(content)
    plan = load()
    assert len(builds) == 1 and plan["conditions"] == ["TRD", "PTSD"]
    assert json.loads((work / plan_module.CACHE).read_text())["plan"] == plan


def test_a_cache_that_cannot_be_written_is_skipped(project):
    work, builds = project
    (work / ".ketameta").mkdir()
    (work / ".ketameta" / "cache").write_text("a file where the folder would be")
    assert load()["conditions"] == ["TRD", "PTSD"]
    load()
    assert len(builds) == 2


def test_the_cached_path_imports_no_statistics(project):
    """With a valid cache, reading the plan needs only the standard library."""
    work, _ = project
    load()
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from ketameta.workflow import load\n"
        f"plan = load('config/config.yaml', {{}}, Path({str(SCHEMAS)!r}), 'config/claims.yaml')\n"
        "heavy = [m for m in ('numpy', 'pandas', 'scipy', 'matplotlib', 'jinja2', 'yaml',\n"
        "                     'jsonschema', 'ketameta.analysis', 'ketameta.io')\n"
        "         if m in sys.modules]\n"
        "print(len(plan['conditions']), heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "2 []", out.stdout + out.stderr


def test_the_plan_weighs_each_conditions_work_by_its_rows_and_analyses(project):
    # The order the condition jobs start in (priority_of in common.smk; the job order is
    # tested in test_claims_workflow.py): the most work first.
    import pandas as pd

    work, _ = project
    plan = load()
    rows = pd.concat([pd.read_csv(work / "data" / "raw" / p.name)
                      for p in sorted((work / "data" / "raw").glob("*.csv"))])
    for condition in plan["conditions"]:
        expected = (rows["condition"] == condition).sum() + len(plan["analyses_of"][condition])
        assert plan["work"][condition] == expected


def test_the_build_runs_with_the_garbage_collector_paused(project, monkeypatch):
    # Its imports and checks make few cycles; the collector resumes after, as it was, even
    # when a check refuses the data.
    import gc

    work, _ = project
    seen = []
    counting = plan_module.build

    def build(*args, **kwargs):
        seen.append(gc.isenabled())
        return counting(*args, **kwargs)

    monkeypatch.setattr(plan_module, "build", build)
    load()
    assert seen == [False] and gc.isenabled()
    path = work / "data/raw/trd.csv"
    path.write_text(path.read_text().replace("HAMD,high,,,18,12.5,6.2,", "HAMD,high,,,18,12.5,-4,"))
    with pytest.raises(DataError):
        load()
    assert seen == [False, False] and gc.isenabled()
    gc.disable()
    try:
        path.write_text(path.read_text() + "\n")
        with pytest.raises(DataError):
            load()
        assert not gc.isenabled()  # a caller's paused collector stays paused
    finally:
        gc.enable()


def test_settings_are_recorded_by_a_digest_of_their_text():
    # Snakemake records a job's params by their repr, in every output's metadata. The repr
    # of Settings is a digest that changes exactly when the dict's own repr does (a value,
    # the order of the keys), and the job gets the dict itself.
    Settings = plan_module.Settings
    a = Settings({"x": {"method": "DL"}, "y": [1, 2]})
    assert repr(a) == repr(Settings({"x": {"method": "DL"}, "y": [1, 2]}))
    assert repr(a) != repr(Settings({"x": {"method": "PM"}, "y": [1, 2]}))
    assert repr(a) != repr(Settings({"y": [1, 2], "x": {"method": "DL"}}))
    assert repr(a).startswith("Settings(sha256=") and len(repr(a)) < 90
    copy = pickle.loads(pickle.dumps(a))
    assert copy == a and dict(copy) == {"x": {"method": "DL"}, "y": [1, 2]}


def test_on_build_is_called_before_a_build_and_only_then(project):
    # The workflow starts its warm worker there: a build means an input changed.
    work, builds = project
    calls = []

    def on_build():
        calls.append(len(builds))  # before the build: none counted yet

    load_with = lambda: plan_module.load(  # noqa: E731
        "config/config.yaml", {}, SCHEMAS, "config/claims.yaml", on_build=on_build)
    load_with()
    assert calls == [0] and len(builds) == 1
    load_with()
    assert calls == [0]  # the cached plan: no build, no call
    (work / "data" / "raw" / "trd.csv").write_text(
        (work / "data" / "raw" / "trd.csv").read_text() + "\n")
    load_with()
    assert calls == [0, 1] and len(builds) == 2
