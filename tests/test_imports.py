"""What each import costs: start-up stays cheap because modules import only what they use.

Every Snakemake job is a fresh interpreter, and the workflow imports ketameta while it
parses; imports are most of what a small job spends. Each test here starts a fresh Python
and looks at ``sys.modules`` after the imports in question:

- the statistics never load pandas, matplotlib, Jinja2 or ``scipy.stats`` (the engine's
  distribution functions come from ``scipy.special``, see ``ketameta._dist``);
- what the workflow imports while it parses (read from the rule files themselves) and
  what each job script imports load neither the plotting stack nor Jinja2 nor
  ``scipy.stats``; the figures' modules are loaded when a page is drawn;
- the package's public names still resolve through the lazy ``ketameta/__init__.py``.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PLOTTING = ("matplotlib", "jinja2")
#: Modules that are heavy and that the statistics do not need.
NOT_FOR_STATISTICS = (*PLOTTING, "pandas", "scipy.stats")
NOT_AT_PARSE_TIME = (*PLOTTING, "scipy.stats")

STATISTICS = [
    "ketameta",
    "ketameta._batch",
    "ketameta._dist",
    "ketameta._results",
    "ketameta.effects",
    "ketameta.estimators",
    "ketameta.models",
    "ketameta.bias",
    "ketameta.sensitivity",
    "ketameta.subgroups",
    "ketameta.bayes",
    "ketameta.priors",
    "ketameta.mh",
    "ketameta.gosh",
]

#: What the workflow calls while it parses, as named in docs/architecture.md.
PARSE_TIME = [
    "from ketameta.report import page_config",
    "from ketameta.report.claims import claims_config, used_conditions",
    "from ketameta.grade import job_settings",
    "from ketameta.profiles import effective_configs",
    "from ketameta.multiverse import settings_for, primary_analyses, check_settings, "
    "n_specifications, specification_chunks",
    "from ketameta.claims import load",
    "from ketameta.plan import plan_analyses",
    "from ketameta.analysis import check_inputs",
    "from ketameta.io import DataError, config_line, in_sync, load_config, validate_config",
]


def loaded_after(code: str) -> set[str]:
    """Names in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def heavy(modules: set[str], names) -> list[str]:
    """Which of ``names`` (packages, with their submodules) are among ``modules``."""
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))


def import_lines(path: Path) -> list[str]:
    """The top-level ``import``/``from ... import`` statements of ketameta in a file."""
    text = path.read_text(encoding="utf-8")
    found = re.findall(r"^(?:from ketameta[\w.]* import \([^)]*\)|from ketameta[\w.]* import .+"
                       r"|import ketameta[\w.]*)$", text, flags=re.MULTILINE)
    return [" ".join(line.split()) for line in found]


@pytest.mark.parametrize("module", STATISTICS)
def test_the_statistics_do_not_load_pandas_plotting_or_scipy_stats(module):
    loaded = loaded_after(f"import {module}")
    assert heavy(loaded, NOT_FOR_STATISTICS) == []


def test_importing_the_package_loads_no_submodule_and_no_numpy():
    loaded = loaded_after("import ketameta")
    assert sorted(m for m in loaded if m.startswith("ketameta.")) == []
    assert "numpy" not in loaded


def test_a_fit_through_the_package_does_not_load_pandas_or_plotting():
    loaded = loaded_after(
        "import ketameta\n"
        "yi, vi = [0.1, 0.3, 0.2, 0.5, 0.4], [0.01, 0.02, 0.015, 0.03, 0.02]\n"
        "ketameta.rma(yi, vi, test='knha').to_dict()\n"
        "for f in (ketameta.regtest, ketameta.ranktest, ketameta.trimfill, ketameta.leave1out,"
        " ketameta.influence):\n"
        "    f(yi, vi)\n")
    assert heavy(loaded, NOT_FOR_STATISTICS) == []


@pytest.mark.parametrize("statement", PARSE_TIME)
def test_what_the_workflow_calls_while_parsing_loads_no_plotting_or_scipy_stats(statement):
    assert heavy(loaded_after(statement), NOT_AT_PARSE_TIME) == []


def test_the_rule_files_imports_together_load_no_plotting_or_scipy_stats():
    files = [ROOT / "Snakefile", *sorted((ROOT / "workflow").rglob("*.smk"))]
    lines = [line for f in files for line in import_lines(f)]
    assert lines, "the rule files import nothing from ketameta: has the pattern gone stale?"
    assert heavy(loaded_after("\n".join(lines)), NOT_AT_PARSE_TIME) == []


@pytest.mark.parametrize("script", sorted((ROOT / "workflow" / "scripts").glob("*.py")),
                         ids=lambda p: p.stem)
def test_a_job_scripts_imports_load_no_plotting_or_scipy_stats(script):
    # A render job loads matplotlib and Jinja2 when it draws and renders, not before.
    lines = import_lines(script)
    assert lines, f"{script.name} imports nothing from ketameta"
    assert heavy(loaded_after("\n".join(lines)), NOT_AT_PARSE_TIME) == []


def test_ingest_and_the_report_modules_import_no_statistics():
    # Reading the data needs pandas, not scipy; the report's modules draw only when asked.
    assert heavy(loaded_after("import ketameta.io"), ["scipy", *PLOTTING]) == []
    loaded = loaded_after("import ketameta.report.render, ketameta.report.claims")
    assert heavy(loaded, ["matplotlib", "scipy.stats"]) == []


def test_public_names_resolve_through_the_lazy_package():
    code = """
import importlib, importlib.metadata
import ketameta
import ketameta.robust, ketameta.gosh  # loading the submodules must not shadow the functions
from ketameta import rma, escalc, robust, gosh, priors, bayesmeta, __version__
from ketameta.models import rma as models_rma
assert rma is models_rma is ketameta.rma
assert escalc is importlib.import_module("ketameta.effects").escalc
assert callable(ketameta.robust) and robust is ketameta.robust
assert robust is importlib.import_module("ketameta.robust").robust
assert callable(ketameta.gosh) and gosh is importlib.import_module("ketameta.gosh").gosh
assert priors is importlib.import_module("ketameta.priors")
assert bayesmeta.__module__ == "ketameta.bayes"
assert __version__ == ketameta.__version__ == importlib.metadata.version("ketameta")
for name in ketameta.__all__:
    assert getattr(ketameta, name) is not None, name
assert set(ketameta.__all__) <= set(dir(ketameta))
assert ketameta.grade is importlib.import_module("ketameta.grade")  # submodules too
namespace = {}
exec("from ketameta import *", namespace)
assert namespace["rma"] is rma and namespace["robust"] is robust
try:
    ketameta.no_such_name
except AttributeError as err:
    assert "no_such_name" in str(err)
else:
    raise AssertionError("an unknown name must raise AttributeError")
"""
    loaded_after(code)


def test_the_public_api_is_the_documented_one():
    code = "import ketameta, json; print(json.dumps(sorted(ketameta.__all__)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=True)
    assert json.loads(done.stdout) == sorted([
        "BayesResult", "CumulResult", "EFFECT_TYPES", "GoshResult", "InfluenceResult",
        "Leave1OutResult", "MEASURES", "METHODS", "MHResult", "MetaRegResult",
        "PosteriorSummary", "PredictResult", "RMAMVResult", "RMAResult", "RanktestResult",
        "RegtestResult", "RobustResult", "SubgroupResult", "TESTS", "TrimFillResult",
        "__version__", "bayesmeta", "cumul", "d_to_g", "escalc", "gosh", "hedges_j",
        "influence", "leave1out", "logor_to_smd", "priors", "ranktest", "regtest", "rma",
        "rma_mh", "rma_mv", "rma_peto", "robust", "sd_from_se", "se_from_ci", "se_from_p",
        "subgroup", "trimfill", "vcalc",
    ])


#: matplotlib's Artist machinery and SVG backend: a page whose figures are all written
#: directly (forest, time-course and funnel plots) has no use for them.
ARTISTS = ("matplotlib.figure", "matplotlib.pyplot", "matplotlib.axes",
           "matplotlib.backend_bases", "matplotlib.backends.backend_svg",
           # text is measured with FreeType directly (ketameta.report._svg), without the
           # TeX and mathtext machinery of matplotlib.textpath
           "matplotlib.textpath", "matplotlib.mathtext")


def test_pages_whose_figures_are_written_directly_load_no_artists_or_svg_backend():
    # the fixture pages with every figure they can show (funnels from two trials on):
    # forests, time courses and funnels
    code = (
        "import yaml\n"
        "from pathlib import Path\n"
        "import tempfile\n"
        "from ketameta.report import plots, render_condition\n"
        "drawn = []\n"
        "for name in ('forest_svg', 'timecourse_svg', 'funnel_svg'):\n"
        "    def wrap(*a, _f=getattr(plots, name), _n=name, **k):\n"
        "        drawn.append(_n)\n"
        "        return _f(*a, **k)\n"
        "    setattr(plots, name, wrap)\n"
        "F = Path('tests/fixtures/report')\n"
        "config = yaml.safe_load((F / 'config.yaml').read_text(encoding='utf-8'))\n"
        "config.setdefault('few_trials', {})['small_study_min_k'] = 2\n"
        "out = Path(tempfile.mkdtemp())\n"
        "for c in config['conditions']:\n"
        "    ids = [a for a, e in config['analyses'].items() if e['condition'] == c]\n"
        "    render_condition(c, config, [F / 'processed' / a / 'summary.json' for a in ids],\n"
        "                     [F / 'processed' / a / 'effects.csv' for a in ids],\n"
        "                     out / f'{c}.html')\n"
        "print(sorted(set(drawn)))\n"
    )
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    drawn, modules = done.stdout.splitlines()[-2:]
    assert drawn == "['forest_svg', 'funnel_svg', 'timecourse_svg']"
    assert heavy(set(json.loads(modules)), ARTISTS) == []


def test_the_warm_worker_and_the_multilevel_and_robust_fits_need_no_optimize_or_sparse():
    # scipy.optimize and scipy.sparse cost the warm worker a third of a second to import,
    # before the first job can start: profile CIs and block inverses use ketameta._batch.
    code = (
        "import numpy as np\n"
        "from ketameta import worker, rma, rma_mv, robust\n"
        "worker.warm()\n"
        "yi = np.array([0.1, 0.3, 0.2, 0.5, 0.4, 0.6]); vi = np.full(6, 0.02)\n"
        "cluster = [1, 1, 2, 2, 3, 3]\n"
        "fit = rma_mv(yi, vi, cluster, profile=True)\n"
        "assert all(s['ci_high'] > 0 for s in fit.to_dict()['sigma2'])  # searched\n"
        "robust(rma(yi, vi), cluster)\n")
    assert heavy(loaded_after(code), ["scipy.optimize", "scipy.sparse", "scipy.linalg"]) == []


def test_the_warm_worker_loads_nothing_the_jobs_do_not_use():
    # The first jobs wait for the worker's imports: Snakemake's side of a script job
    # (snakemake.script, with its retry library) and matplotlib's text-to-path machinery
    # are used by no job.
    code = "from ketameta import worker\nworker.warm()\n"
    assert heavy(loaded_after(code), ["snakemake.script", "tenacity", "matplotlib.textpath",
                                      "matplotlib.mathtext", "matplotlib.dviread"]) == []
