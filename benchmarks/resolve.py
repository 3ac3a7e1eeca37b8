"""The analyses a project's pipeline run fits, for the R side of the benchmark; and the time
of the checks the workflow makes when Snakemake reads it.

``analyses`` does what ``workflow/rules/common.smk`` does at parse time: read the
configuration (:func:`ketameta.io.load_config`), validate it against the schema, read and
check every input file against it (:func:`ketameta.analysis.check_inputs`) and add an
analysis for every condition × outcome × time point the configuration leaves out
(:func:`ketameta.plan.plan_analyses`). Each analysis is then given its effective method
choices (:func:`ketameta.profiles.effective_config`: the profile, the analysis's own keys).

``list`` writes them as JSON for ``benchmarks/r_pipeline.R``: ``data_dir``, ``conditions``
(keys in report order) and ``analyses``, a list of ``{analysis, label, condition, outcome,
timepoint, measure, method, test, level, exclude, escalc}`` in the pipeline's order, with
``exclude`` the list of excluded study labels and ``escalc`` metafor's ``escalc()`` options
(``vtype, add, to, drop00``).

``checks`` prints the seconds those parse-time checks take in one process, imports apart:
``import <seconds>``, ``checks <seconds>`` (wall time, from reading the configuration to
the planned list) and ``checks_cpu <seconds>`` (this process's CPU time over the same
span).

Usage::

    python benchmarks/resolve.py list PROJECT_DIR OUT.json
    python benchmarks/resolve.py checks PROJECT_DIR
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

SCHEMA = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"
CONFIG = "config/config.yaml"

__all__ = ["analyses", "analysis_list", "main"]


def analyses(project: str | Path) -> tuple[dict, dict[str, dict]]:
    """The validated configuration and every analysis's effective configuration.

    Parameters
    ----------
    project : path-like
        Folder holding ``config/config.yaml`` and the data folder it names.

    Returns
    -------
    config : dict
        The configuration after schema validation (defaults filled in), with ``analyses``
        replaced by the planned analyses, as the workflow holds it.
    effective : dict
        Analysis id -> :func:`ketameta.profiles.effective_config`, in the pipeline's order.

    Raises
    ------
    ketameta.io.DataError
        What the workflow would stop with, naming file, line and column.
    """
    from ketameta.analysis import check_inputs
    from ketameta.io import DataError, config_line, load_config, validate_config
    from ketameta.plan import plan_analyses
    from ketameta.profiles import effective_config

    project = Path(project)
    config, lines = load_config(project / CONFIG, CONFIG)
    try:
        validate_config(config, SCHEMA, CONFIG, lines)
        trials = check_inputs(config, CONFIG, root=project)
        config["analyses"] = plan_analyses(config, trials, CONFIG)
    except DataError as error:
        if error.path == CONFIG and error.line is None:
            error.line = config_line(lines, error.key)
        raise
    return config, {name: effective_config(name, config) for name in config["analyses"]}


def analysis_list(project: str | Path) -> dict:
    """What ``benchmarks/r_pipeline.R`` reads: the data folder, conditions and analyses."""
    config, effective = analyses(project)
    keys = ("label", "condition", "outcome", "timepoint", "measure", "method", "test", "level")
    return {
        "data_dir": config["data_dir"],
        "conditions": list(config["conditions"]),
        "analyses": [
            {
                "analysis": name,
                **{key: cfg[key] for key in keys},
                "exclude": list(cfg.get("exclude") or {}),
                "escalc": cfg["escalc"],
            }
            for name, cfg in effective.items()
        ],
    }


def _time_checks(project: Path) -> tuple[float, float, float]:
    """Seconds of the imports and of the checks themselves (wall, CPU), in this process."""
    start = time.perf_counter()
    import ketameta.analysis  # noqa: F401  (what common.smk imports)
    import ketameta.io  # noqa: F401
    import ketameta.plan  # noqa: F401
    import ketameta.profiles  # noqa: F401

    imported, cpu = time.perf_counter(), time.process_time()
    analyses(project)
    return imported - start, time.perf_counter() - imported, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="The analyses a ketameta project's pipeline run fits (for the R side of "
        "benchmarks/pipeline.sh), or the time of the workflow's parse-time checks."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="write the resolved analysis list as JSON")
    listing.add_argument("project", type=Path, help="folder with config/ and the data")
    listing.add_argument("out", type=Path, help="JSON file to write")
    checks = sub.add_parser("checks", help="time the parse-time checks (imports apart)")
    checks.add_argument("project", type=Path, help="folder with config/ and the data")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            listed = analysis_list(args.project)
            args.out.write_text(json.dumps(listed, indent=1) + "\n", encoding="utf-8")
            print(f"{args.out}: {len(listed['analyses'])} analyses")
        else:
            imports, seconds, cpu = _time_checks(args.project)
            print(f"import {imports:.3f}")
            print(f"checks {seconds:.3f}")
            print(f"checks_cpu {cpu:.3f}")
    except Exception as error:  # imported only now, so that `checks` times the import
        from ketameta.io import DataError

        if not isinstance(error, DataError):
            raise
        print(f"{args.project}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
