"""What the Snakemake workflow needs when it is read, computed once and cached.

Reading the workflow (``snakemake`` parsing ``Snakefile``) checks the configuration and every
data file, plans the analyses (:mod:`ketameta.plan`) and derives what each rule needs: which
files hold a condition's rows, the effective configuration of every analysis, the page and
claims settings, the multiverse's chunk jobs. :func:`build` does all of it and returns a
plain, JSON-serialisable *plan*; the rules only read the plan.

A plan depends on nothing but its inputs: the configuration file and ``--config`` values,
the files below the data folder, the claims file, the schemas and the ketameta package
itself (its version and source files) and the libraries it reads data with. :func:`load`
fingerprints exactly these, byte for byte, and reuses the plan of the last run when the
fingerprint is unchanged (``.ketameta/cache/plan.json``): a run that changes nothing reads
one small JSON file instead of importing the statistics stack and re-checking every row, so
a no-op rerun costs little more than Snakemake's own start-up. Any change to any input — a
byte of a data file, a file added to or removed from the data folder, a ``--config``
value — gives a new fingerprint and a full check, with the same messages as always.

This module imports only the standard library; :func:`build` imports the rest when it runs
(and :func:`plan_builder`'s builder imports pandas while a worker builds the plan).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import hashlib
import json
import os
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

#: Where :func:`load` keeps the last plan, relative to the project folder.
CACHE = Path(".ketameta") / "cache" / "plan.json"

#: Bumped when the plan's layout changes, so that an older cache is never read.
PLAN_FORMAT = 3

# Libraries whose behaviour the checks depend on (reading CSV, YAML, schemas).
_LIBRARIES = ("numpy", "pandas", "PyYAML", "jsonschema", "scipy")


def build(config_path: str, overrides: Mapping, schemas: Path, claims_path: str) -> dict:
    """Check the configuration and data and derive everything the rules need.

    Parameters
    ----------
    config_path : str
        The configuration file, as messages name it (``config/config.yaml``).
    overrides : mapping
        Values given with ``snakemake --config`` (they override the file's).
    schemas : path
        The workflow's schema folder (``workflow/schemas``).
    claims_path : str
        The claims file (``config/claims.yaml``); a project without one has no claims page.

    Returns
    -------
    dict
        ``config`` (validated, defaults filled, planned analyses added), ``conditions``
        (those with analyses, in config order), ``analyses_of``, ``work`` (rows plus
        analyses), ``raw_files``, ``effective``, ``grade`` and ``pages`` per condition,
        ``index_page``,
        ``links`` (per condition: study → page of another condition listing it),
        ``multiverse`` (``settings``, ``primary``, ``chunks``) and ``claims``
        (``targets``, ``config``, ``analyses``).

    Raises
    ------
    ketameta.io.DataError
        The first problem found, naming file, line and key as the checks do.
    """
    from snakemake.utils import update_config

    from ketameta.analysis import check_inputs
    from ketameta.claims import load as load_claims
    from ketameta.grade import job_settings
    from ketameta.io import DataError, config_line, load_config, validate_config
    from ketameta.multiverse import (
        check_settings,
        n_specifications,
        primary_analyses,
        settings_for,
        specification_chunks,
    )
    from ketameta.plan import plan_analyses
    from ketameta.profiles import effective_configs
    from ketameta.report import page_config
    from ketameta.report.claims import claims_config, used_conditions
    from ketameta.report.studies import study_links

    lines: dict = {}
    try:
        config, lines = load_config(config_path)
        update_config(config, dict(overrides))
        validate_config(config, schemas / "config.schema.yaml", config_path, lines)
        trials = check_inputs(config, config_path)
        # Every condition x outcome x time point in the data gets an analysis.
        config["analyses"] = plan_analyses(config, trials, config_path)
        check_settings(config, config_path)
    except DataError as error:
        if error.path == config_path and error.line is None:
            error.line = config_line(lines, error.key)
        raise

    analyses_of: dict[str, list[str]] = {}
    for name, entry in config["analyses"].items():
        analyses_of.setdefault(entry["condition"], []).append(name)
    conditions = [c for c in config["conditions"] if c in analyses_of]
    rows_of = {c: trials[trials["condition"] == c] for c in conditions}

    # Which other page lists a trial that shares participants with one of this page's:
    # links only for the trials an overlap on this condition's rows names.
    named: dict[str, set[str]] = {c: set() for c in conditions}
    for c in conditions:
        if "same_participants_as" in rows_of[c]:
            pairs = rows_of[c][["study", "same_participants_as"]].itertuples(index=False)
            for study, other in pairs:
                if isinstance(other, str) and other.strip():
                    named[c].update((str(study).strip(), other.strip()))
    wanted = set().union(*named.values())
    records = {
        c: [r for r in rows_of[c][["study", "year"]].to_dict("records")
            if str(r["study"]).strip() in wanted]
        for c in conditions
    }
    links = {}
    for c in conditions:
        every = study_links({o: recs for o, recs in records.items() if o != c})
        links[c] = {study: every[study] for study in sorted(named[c]) if study in every}

    effective = {c: effective_configs(c, config) for c in conditions}
    settings = settings_for(config)
    primary: dict[str, dict] = {}
    chunks: dict[str, list[list[int]]] = {}
    if settings["enabled"]:
        for condition, analysis in primary_analyses(config).items():
            if condition not in conditions:
                continue
            primary[condition] = effective[condition][analysis]
            n = n_specifications(rows_of[condition], primary[condition], settings)
            size = settings["chunk_size"]
            chunks[condition] = (
                [list(c) for c in specification_chunks(n, size)] if n > size else []
            )

    claims = {"targets": [], "config": {}, "analyses": [], "claims": {}}
    if Path(claims_path).exists():
        loaded = load_claims(claims_path, config, schemas / "claims.schema.yaml", claims_path)
        claims = {
            "targets": ["data/processed/claims.json", "reports/claims.html"],
            "config": claims_config(loaded, config, conditions),
            # checked here: the claims page's job takes them as they are
            "claims": loaded,
            "analyses": [
                a for c in used_conditions(loaded, config) if c in conditions
                for a in analyses_of[c]
            ],
        }

    return {
        "config": config,
        "conditions": conditions,
        "analyses_of": {c: analyses_of[c] for c in conditions},
        # How much a condition's job has to do, for the order the jobs start in: its job's
        # time grows with its trials' rows and its analyses.
        "work": {c: len(rows_of[c]) + len(analyses_of[c]) for c in conditions},
        "raw_files": {c: sorted(set(rows_of[c]["source_file"])) for c in conditions},
        "effective": effective,
        "grade": {c: job_settings(config, analyses_of[c]) for c in conditions},
        "pages": {c: page_config([c], config) for c in conditions},
        "index_page": page_config(conditions, config),
        "links": links,
        "multiverse": {"settings": settings, "primary": primary, "chunks": chunks},
        "claims": claims,
    }


def fingerprint(config_path: str, overrides: Mapping, schemas: Path, claims_path: str,
                data_dir: str | None) -> str:
    """SHA-256 of every input a plan depends on (see the module's description).

    ``data_dir`` is the data folder the last plan read (None before any plan): every file
    below it, links followed, is hashed with its path, so adding, removing, renaming or
    editing any of them changes the fingerprint.
    """
    digest = hashlib.sha256()

    def add(label: str, value: bytes) -> None:
        digest.update(label.encode() + b"\0" + str(len(value)).encode() + b"\0" + value)

    def add_file(label: str, path: Path) -> None:
        try:
            add(label, path.read_bytes())
        except FileNotFoundError:
            add(label + ":missing", b"")

    add("format", str(PLAN_FORMAT).encode())
    add("python", sys.version.encode())
    add("config-path", config_path.encode())
    add_file("config", Path(config_path))
    add("overrides", json.dumps(overrides, sort_keys=True, default=repr).encode())
    add_file("claims", Path(claims_path))
    for schema in sorted(Path(schemas).glob("*.yaml")):
        add_file(f"schema:{schema.name}", schema)
    for library in ("ketameta", *_LIBRARIES):
        try:
            add(f"version:{library}", metadata.version(library).encode())
        except metadata.PackageNotFoundError:
            add(f"version:{library}", b"")
    # The package's own source: an edited check must not be skipped (editable installs).
    package = Path(__file__).resolve().parent
    for source in sorted(package.rglob("*")):
        if source.suffix in (".py", ".yaml", ".json") and source.is_file():
            stat = source.stat()
            add(f"source:{source.relative_to(package)}",
                f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    if data_dir is not None:
        add("data-dir", data_dir.encode())
        for path in _files_below(Path(data_dir)):
            add_file(f"data:{path}", path)
    return digest.hexdigest()


def _files_below(folder: Path) -> list[Path]:
    """Every file below ``folder`` (links followed, each real folder once), sorted."""
    found: list[Path] = []
    seen: set[str] = set()
    stack = [folder]
    while stack:
        directory = stack.pop()
        real = os.path.realpath(directory)
        if real in seen:
            continue
        seen.add(real)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            found.append(directory)  # unreadable: its name still counts
            continue
        for entry in entries:
            path = Path(entry.path)
            if entry.is_dir():
                stack.append(path)
            else:
                found.append(path)
    return sorted(found)


def load(config_path: str, overrides: Mapping, schemas: Path, claims_path: str,
         cache: Path = CACHE, on_build=None, builder=None) -> dict:
    """The plan of this project: the cached one when no input changed, else :func:`build`.

    A fresh plan is written to ``cache`` (atomically) for the next run; a plan that does not
    survive a JSON round trip unchanged is used but not cached. Errors of :func:`build`
    propagate, and nothing is cached for a failed check. ``on_build``, if given, is called
    with no arguments just before a build (the workflow starts its warm worker then).
    ``builder``, if given (:func:`plan_builder`), is asked first, with the arguments of
    :func:`build` (the schema folder as a string): it returns the plan built elsewhere, or
    None, and the plan is then built here.
    """
    stored = _read(cache)
    data_dir = None
    if stored is not None:
        data_dir = stored["plan"]["config"].get("data_dir")
        key = fingerprint(config_path, overrides, schemas, claims_path, data_dir)
        if stored.get("key") == key:
            return stored["plan"]
    if on_build is not None:
        on_build()
    plan = None
    if builder is not None:
        plan = builder(config_path, dict(overrides), str(schemas), claims_path)
    if plan is None:
        # The build imports the statistics stack and makes few cycles: the garbage
        # collector's passes, which would walk all of Snakemake's objects each time (a
        # sixth of the time), wait until it is done, and what it made is then set aside.
        collecting = gc.isenabled()
        gc.disable()
        try:
            plan = build(config_path, overrides, schemas, claims_path)
        finally:
            if collecting:
                gc.enable()
    _set_aside()
    key = fingerprint(config_path, overrides, schemas, claims_path,
                      plan["config"].get("data_dir"))
    text = json.dumps({"format": PLAN_FORMAT, "key": key, "plan": plan}, sort_keys=False)
    if json.loads(text)["plan"] == plan:
        _write(cache, text)
    return plan


def _read(cache: Path) -> dict | None:
    try:
        stored = json.loads(Path(cache).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("format") != PLAN_FORMAT:
        return None
    plan = stored.get("plan")
    if not isinstance(plan, dict) or not isinstance(plan.get("config"), dict):
        return None
    return stored


def _write(cache: Path, text: str) -> None:
    """Write ``text`` to ``cache`` atomically; a cache that cannot be written is skipped."""
    cache = Path(cache)
    temp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, cache)
    except OSError:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)


class Settings(dict):
    """A rule's settings (a ``params:`` value) whose ``repr`` is a digest of its own.

    Snakemake records a job's params by their ``repr`` in the metadata of every output
    file, and reruns the job when that text changes. The settings of a condition's job
    (every analysis's effective configuration, its page, GRADE and multiverse settings)
    run to tens of kilobytes, written once per output: a digest of the same text changes
    exactly when it does, and keeps the records small. The job sees the settings as a
    plain dict.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        text = dict.__repr__(self)
        return f"Settings(sha256={hashlib.sha256(text.encode('utf-8')).hexdigest()})"


def release_pending_timers() -> int:
    """Cancel the waiting ``threading.Timer`` threads of this process; how many there were.

    Snakemake's job-rate limiter (``--max-jobs-per-timespan``, 100 jobs a second by
    default) has the scheduler look at its queue again through a one-second
    ``threading.Timer`` after every scheduling step. Timers are not daemon threads, so the
    last one keeps a finished run's process alive for up to a second. The workflow calls
    this from its ``onsuccess`` and ``onerror`` handlers, when nothing is left to schedule.
    Nothing in ketameta uses timers, so no work of its own is cancelled.
    """
    import threading

    timers = [t for t in threading.enumerate() if isinstance(t, threading.Timer)]
    for timer in timers:
        timer.cancel()
    return len(timers)


def begin(workflow) -> None:
    """What the workflow does first when Snakemake reads it (``workflow/rules/common.smk``).

    When the process is Snakemake's command line, its exit is made short (:func:`_at_exit`).
    The warm worker is started by :func:`warm_up`, when the run is found to have jobs to
    run: before the checks when the plan has to be built (:func:`load`'s ``on_build``), or
    after them when :func:`likely_jobs` says so.
    """
    if _command_line():
        atexit.register(_at_exit)


def warm_up(workflow) -> bool:
    """Start the warm worker now, if this process is one that runs jobs; whether one runs.

    In Snakemake's main process of a run that may run jobs (not a dry run, not a job's own
    Snakemake on a cluster node) the worker starts (:func:`ketameta.worker.start`) and
    imports the statistics and page stack while Snakemake checks the inputs and builds its
    graph of jobs. The jobs are pointed at it only when they are about to start, and run on
    this machine (:func:`on_start`). A second call does nothing.
    """
    from ketameta import worker

    if worker.running():
        return True
    settings = getattr(workflow, "output_settings", None)
    if not workflow.is_main_process or getattr(settings, "dryrun", False):
        return False
    return worker.start(offer=False) is not None


def plan_builder():
    """What :func:`load` asks to build the plan: the warm worker, if one runs already.

    A worker runs when the workflow is read only if it was started before Snakemake
    (``python -m ketameta``, :mod:`ketameta.__main__`). By then it has imported the
    statistics stack, so a fork of it builds the plan (:func:`ketameta.worker.build_plan`)
    while Snakemake's process does what it would do later anyway: import pandas, which
    Snakemake imports to start the first script job (``snakemake.iocontainers.Snakemake``
    looks for pandas objects among a job's parameters). Otherwise (``snakemake`` itself, or
    no worker) the plan is built in Snakemake's process.
    """
    from ketameta import worker

    if not worker.running():
        return None

    def build(config_path, overrides, schemas, claims_path):
        return worker.build_plan(config_path, overrides, schemas, claims_path,
                                 meanwhile=_import_pandas)

    return build


def _import_pandas() -> None:
    with contextlib.suppress(ImportError):
        import pandas  # noqa: F401


def likely_jobs(workflow, outputs) -> bool:
    """Whether a run whose plan was not rebuilt may still run the statistics' jobs.

    A plan rebuilt means an input changed, and the worker has been started already. When
    nothing the plan depends on changed, the jobs still run when one of ``outputs`` (the
    staged files the jobs write) is missing, when the command line forces a rerun
    (``--forceall``, ``--forcerun``, ``--force``), or when an earlier run was interrupted
    (Snakemake's ``.snakemake/incomplete`` holds markers). Otherwise the run is taken to be
    a no-op, which then starts no worker: a rerun that Snakemake decides on other grounds
    (a rule's script edited, a file's time changed without its content) runs its jobs each
    in its own process, more slowly but with the same outputs.
    """
    dag = getattr(workflow, "dag_settings", None)
    if dag is not None and (getattr(dag, "forceall", False) or getattr(dag, "forcetargets", False)
                            or getattr(dag, "forcerun", None)):
        return True
    if any(not os.path.exists(path) for path in outputs):
        return True
    incomplete = Path(".snakemake", "incomplete")
    return incomplete.is_dir() and any(incomplete.iterdir())


def _set_aside() -> None:
    """In Snakemake's command line, set every object that exists now aside (``gc.freeze``).

    The garbage collector's passes then skip them: the modules, the plan and the graph of
    jobs are not garbage, yet Snakemake's process would walk them again at each of its
    collections while it runs the jobs (a tenth of a second a run). They are still freed
    when nothing refers to them; a program that calls Snakemake as a library is left as it
    is.
    """
    if _command_line():
        gc.freeze()


def on_start(workflow) -> None:
    """``onstart``: offer the worker to jobs that run here; stop it if a cluster runs them.

    What the run has built by now is set aside from garbage collection (:func:`_set_aside`).
    """
    from ketameta import worker

    _set_aside()
    if workflow.local_exec:
        worker.offer_to_jobs()
    else:
        worker.stop()


def end(success: bool = False) -> None:
    """``onsuccess`` and ``onerror``: stop the worker, release the scheduler's timers.

    After a successful run (``success``) every job has ended, and the worker is asked to
    end without waiting for it; after an error, Snakemake's process goes on only once the
    worker and any job it still ran have ended.
    """
    from ketameta import worker

    worker.stop(wait=not success)
    release_pending_timers()


def _command_line() -> bool:
    """Whether this process is Snakemake's command line (not a library call in a program):
    ``snakemake``, ``python -m snakemake`` or ``python -m ketameta`` (:mod:`ketameta.__main__`)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if getattr(spec, "name", None) in ("ketameta.__main__", "snakemake.__main__"):
        return True
    name = os.path.basename(getattr(main, "__file__", None) or sys.argv[0] or "")
    return name == "snakemake" or (name == "__main__.py" and "snakemake" in sys.argv[0])


def _at_exit() -> None:
    """Snakemake's command line is exiting: stop the worker, skip the final garbage passes.

    (A worker ``onsuccess`` asked to end has been collected by then: :func:`worker.stop`
    registered :func:`worker.collect_stopped` with ``atexit`` after this, so it runs first.)

    By the time ``atexit`` handlers run, Snakemake has done its work. What is left is the
    interpreter's own tear-down, whose garbage collections walk every object Snakemake
    created (its imports, the graph of jobs, the persistence layer): about half a second
    on this workflow's runs, and on every dry run and no-op rerun. ``gc.freeze()`` moves
    every object to the permanent generation, which those collections skip; objects are
    still freed when their modules are cleared. A program that calls Snakemake as a library
    keeps running, so this is only done for the command line.
    """
    from ketameta import worker

    worker.stop()
    gc.freeze()
