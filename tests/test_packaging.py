"""environment.yml mirrors pyproject.toml, the source of truth for dependencies."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI's
CONDA_NAMES = {"snakemake-minimal": "snakemake"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        wanted |= {_name(r) for r in extra}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    listed = set()
    for item in env["dependencies"]:
        if isinstance(item, dict):
            listed |= {_name(r) for r in item["pip"]}
        else:
            listed.add(CONDA_NAMES.get(_name(item), _name(item)))
    listed -= {"python", "pip"}
    assert listed == wanted


def test_one_version_source():
    import ketameta

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" in project  # the one place it is written
    assert ketameta.__version__ == project["version"]
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert str(citation["version"]) == project["version"]
    assert f"__version__ = \"{project['version']}\"" not in (
        ROOT / "src" / "ketameta" / "__init__.py"
    ).read_text()


def test_project_files_and_strict_markers():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "MIT"
    assert (ROOT / "CHANGELOG.md").read_text().startswith("# Changelog")
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    assert "--strict-markers" in options["ini_options"]["addopts"].split()


def test_make_report_installs_only_the_runtime_dependencies():
    # `make report` depends on the runtime environment (pip install -e .); the development
    # extra is installed by the target that `make test` and `make lint` depend on.
    makefile = (ROOT / "Makefile").read_text()
    rules = {}
    for block in re.split(r"\n(?=\S)", makefile):
        head, _, body = block.partition("\n")
        if ":" in head and not head.startswith(("#", ".PHONY")) and "=" not in head:
            target, _, prerequisites = head.partition(":")
            rules[target.strip()] = (prerequisites.split(), body)
    assert rules["report"][0] == ["$(VENV)/.runtime", "$(PRECOMPILED)"]
    # the templates compiled ahead need the runtime environment only
    assert rules["$(PRECOMPILED)"][0] == ["$(TEMPLATES)", "$(VENV)/.runtime"]
    assert 'install --quiet --disable-pip-version-check -e .\n' in rules["$(VENV)/.runtime"][1]
    assert "[dev]" not in rules["$(VENV)/.runtime"][1]
    assert '-e ".[dev]"' in rules["$(VENV)/.dev"][1]
    assert rules["test"][0] == ["$(VENV)/.dev"]
    assert "building the Python environment" in rules["$(VENV)/.runtime"][1]
    assert "reports/index.html" in rules["_report"][1]


def test_no_document_points_outside_the_repository():
    # The contract is docs/contract.md; no file may cite another contract document or an
    # issue number. Modules being rewritten elsewhere are listed until they are merged.
    pending = {
        "src/ketameta/analysis.py",
        "src/ketameta/models.py",
        "src/ketameta/_batch.py",
        "src/ketameta/bias.py",
        "src/ketameta/sensitivity.py",
        "tests/test_rma.py",
        "tests/test_bias.py",
        "tests/test_sensitivity.py",
        "tests/test_crosscheck.py",
        "tests/test_analysis.py",
        "benchmarks/pipeline.sh",
    }
    pattern = re.compile(r"CONTRACT(?:\.md| §| section)|\b[Ii]ssue \d+|\bitem \d+ of")
    offenders = []
    for folder in ("src", "workflow", "tests", "docs", "config"):
        for path in sorted((ROOT / folder).rglob("*")):
            name = path.relative_to(ROOT).as_posix()
            if path.suffix in {".py", ".smk", ".md", ".yaml", ".R", ".html", ".css"} and (
                name not in pending and "fixtures" not in name
            ):
                if pattern.search(path.read_text(encoding="utf-8", errors="replace")):
                    offenders.append(name)
    for name in ("README.md", "Snakefile", "Makefile"):
        if pattern.search((ROOT / name).read_text()):
            offenders.append(name)
    assert offenders == []


def test_the_package_is_byte_compiled_before_every_run():
    # An editable install gets no bytecode from pip; where Python writes none itself
    # (PYTHONDONTWRITEBYTECODE) every job would compile the source again.
    makefile = (ROOT / "Makefile").read_text()
    command = re.search(r"^COMPILE := (.+)$", makefile, re.MULTILINE).group(1)
    for target in ("$(VENV)/.runtime:", "_report:", "test:"):
        recipe = makefile.split(f"\n{target}", 1)[1].split("\n\n", 1)[0]
        assert "$(COMPILE)" in recipe, target
    args = command.replace("$(BIN)/python", sys.executable).split()
    subprocess.run(args, cwd=ROOT, check=True)
    for source in sorted((ROOT / "src" / "ketameta").rglob("*.py")):
        cached = Path(importlib.util.cache_from_source(str(source)))
        assert cached.exists(), source
        header = cached.read_bytes()[:16]
        assert int.from_bytes(header[8:12], "little") == int(source.stat().st_mtime), source
