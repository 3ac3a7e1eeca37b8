"""A warm worker for the workflow's jobs: the statistics and page stack imported once a run.

Every job of the workflow is a Snakemake ``script:`` job, which Snakemake runs as a new
Python process. Such a process spends about a tenth of a second importing Snakemake to
unpickle the job's ``snakemake`` object, then about a second importing numpy, scipy,
pandas, Jinja2 and matplotlib and loading templates and fonts before it does any work,
which on the shipped data is more than most jobs' work. With a worker, Snakemake still
runs every job as its own process, with the same script file, inputs, outputs, log,
benchmark file and exit status, but that process only hands the script to the worker and
waits: the worker, which imported and warmed everything once when the run started, forks a
copy of itself, and the copy runs the script. A fork shares the parent's memory
copy-on-write, so each job starts with the imports done and no job sees another's state.

How a run uses it (``workflow/rules/common.smk``, :mod:`ketameta.workflow`):

* When Snakemake reads the workflow for a run that will run jobs, :func:`start` starts the
  worker as a child of Snakemake (on Linux, and unless the environment sets
  ``KETAMETA_NO_WORKER`` to anything but ``""`` or ``0``), so that it warms up while
  Snakemake checks the inputs and builds its graph of jobs
  (:func:`ketameta.workflow.warm_up`; a no-op rerun starts none).
* ``onstart``, when the jobs are about to start, calls :func:`offer_to_jobs` if they run
  on this machine, and stops the worker otherwise (a cluster executor). Offering sets
  ``KETAMETA_WORKER`` to the worker's socket for the jobs Snakemake starts afterwards, and
  has Snakemake's main process start a Python script job as ``python -S -P launcher.py
  SCRIPT LOG`` instead of ``python SCRIPT`` (:func:`_use_launcher`). Without the hooks
  (``--no-hooks``) nothing is offered and every job runs as Snakemake runs it.
* That command (:func:`ketameta.launcher.launch`) imports two C modules of the standard
  library only, sends the script's path, working folder, environment and standard streams
  to the worker and waits, then exits with the job's status. Without a worker, or if the
  worker declines the job, it becomes ``python SCRIPT``.
* A worker started before Snakemake (``python -m ketameta``, :mod:`ketameta.__main__`) is
  running when the workflow is read: the plan is then built in a fork of it
  (:func:`build_plan`, which sends it back as JSON text), not in Snakemake's process.
* ``onsuccess`` and ``onerror`` call :func:`stop`, which also gives Snakemake back its own
  way of running scripts. The worker also stops when Snakemake's process ends, however it
  ends, and stops a job whose launcher is killed (as Snakemake does when a run is
  cancelled).

The worker declines a job, which then runs in its own process, when the job's Python
executable or any environment variable read at import time (the BLAS thread counts that
Snakemake sets from a rule's ``threads``, ``PYTHONPATH``, matplotlib's settings, the
locale...) differs from the worker's. A job's outputs are therefore the same bytes either
way; ``tests/test_worker.py`` runs the workflow both ways and compares them.

Snakemake's benchmark files measure the launcher, so for a job run in the worker their
CPU time and memory are those of the launcher only. Each such job's log therefore ends
with a line giving the CPU time and peak memory of the process that ran it
(:data:`USAGE_LINE`), and ``benchmarks/pipeline.sh`` reads them.

This module imports only the standard library (and :mod:`ketameta.launcher`, which holds
the launcher and the few messages it and the worker exchange), so that starting the worker
costs nothing before it starts importing the statistics.
"""

from __future__ import annotations

import contextlib
import gc
import os
import resource
import signal
import socket
import sys

from ketameta.launcher import ADDRESS, USAGE_LINE, frame, launch, read_frame, send_request

__all__ = ["ADDRESS", "DISABLE", "MODULES", "USAGE_LINE", "Worker", "build_plan",
           "collect_stopped", "enabled", "launch", "offer_to_jobs", "running", "serve", "start",
           "stop", "warm"]

# Snakemake's process imports this module when it reads the workflow: what only the worker
# uses is imported where it is used (typing included: the name below stands for
# typing.TYPE_CHECKING).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess

#: Set to anything but ``""`` or ``0``, no worker is started (every job runs in its own process).
DISABLE = "KETAMETA_NO_WORKER"

#: What Snakemake sets from a job's ``threads`` (snakemake.shell); read by the BLAS libraries
#: when numpy is imported. The worker starts with the values of a one-thread job.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
#: Environment variables read when Python starts or a library is imported: a job whose
#: values differ from the worker's runs in its own process.
IMPORT_VARIABLES = THREAD_VARIABLES + (
    "PYTHONPATH", "PYTHONHOME", "PYTHONHASHSEED", "PYTHONWARNINGS", "PYTHONSAFEPATH",
    "PYTHONUTF8", "PYTHONIOENCODING", "MPLBACKEND", "MPLCONFIGDIR", "LC_ALL", "LC_CTYPE",
    "LC_NUMERIC", "LANG", "TZ",
)

#: What the worker imports before it takes jobs, besides every module of ketameta: the
#: libraries the job scripts and the package import inside functions, and what the
#: preamble of a job's script imports to unpickle its ``snakemake`` object and set up its
#: logger (``snakemake.iocontainers``, ``snakemake.logging``; about a tenth of a second in
#: every job otherwise). Nothing that no job imports: the first jobs wait for this list.
#: jsonschema, which only the claims page's job uses, is left to that job;
#: ``snakemake.script`` (Snakemake's side of a script job, 50 ms with the retry library it
#: loads) is not imported by the jobs. No job needs scipy.optimize, scipy.linalg or
#: scipy.sparse (ketameta._batch has the root search and the graph components the
#: statistics use): a third of a second less here.
MODULES = ("numpy", "scipy.special", "pandas", "pandas.io.formats.csvs", "yaml", "jinja2",
           "matplotlib", "PIL.Image", "encodings.utf_8_sig", "snakemake.iocontainers",
           "snakemake.logging")


# The worker start() started in this process (Snakemake's), for stop().
_started = None
# Workers stop() asked to end without waiting, to be collected by collect_stopped().
_stopping: list = []
# Snakemake's own PythonScript.execute_script while this module's replaces it (offer_to_jobs).
_snakemake_execute = None
# sys.path of a Python that runs a file, but for the file's folder (the worker's, for jobs).
_base_path: list[str] = []


# ------------------------------------------------------------------------ Snakemake's side

class Worker:
    """A started worker: its process and the folder of its socket."""

    def __init__(self, process: subprocess.Popen, folder: str, address: str):
        self.process = process
        self.folder = folder
        self.address = address


def enabled(environ=None) -> bool:
    """Whether :func:`start` may start a worker here (Linux, and not disabled)."""
    environ = os.environ if environ is None else environ
    return sys.platform.startswith("linux") and environ.get(DISABLE, "") in ("", "0")


def start(offer: bool = True) -> Worker | None:
    """Start a worker; ``None`` when :func:`enabled` says no or it cannot be started.

    With ``offer``, the jobs started afterwards are pointed at it at once
    (:func:`offer_to_jobs`).
    """
    if not enabled():
        return None
    import subprocess
    import tempfile

    folder = tempfile.mkdtemp(prefix="ketameta-worker-")
    address = os.path.join(folder, "socket")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(address)
        listener.listen(128)
        environ = {k: v for k, v in os.environ.items() if k != ADDRESS}
        environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))
        process = subprocess.Popen(
            [sys.executable, "-c", "import os, ketameta.worker as w; w.serve(); os._exit(0)",
             str(listener.fileno()), str(os.getpid())],
            pass_fds=(listener.fileno(),), env=environ, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        _remove(folder)
        return None
    finally:
        listener.close()
    global _started
    _started = Worker(process, folder, address)
    if offer:
        offer_to_jobs()
    return _started


def running() -> bool:
    """Whether a worker :func:`start` started in this process is running."""
    return _started is not None and _started.process.poll() is None


def offer_to_jobs() -> bool:
    """Point the jobs this process starts from now on at the started worker, if there is one.

    Sets :data:`ADDRESS` in the environment, which Snakemake's jobs inherit, and has
    Snakemake run a Python script job as ``python -S -P launcher.py SCRIPT LOG``
    (:func:`ketameta.launcher.launch`) instead of ``python SCRIPT`` (:func:`_use_launcher`).
    """
    if not running():
        return False
    os.environ[ADDRESS] = _started.address
    _use_launcher()
    return True


def _use_launcher() -> bool:
    """Have Snakemake start this process's Python script jobs with the launcher.

    Snakemake runs a ``script:`` job by writing the script, behind a preamble that unpickles
    the job's ``snakemake`` object, to a file and running ``python FILE`` through its shell
    (``snakemake.script.PythonScript.execute_script``). A new Python spends about a tenth
    of a second importing Snakemake to unpickle that object before the script starts, which
    is more than a job in the worker costs. The method is replaced, in this process only,
    by one that runs the launcher instead (:mod:`ketameta.launcher`): a Python without site
    packages that imports two C modules and hands FILE to the worker. Everything else about
    the job is Snakemake's as before: the file, the shell, the environment, the threads, the benchmark
    record, and removing the file afterwards. A job in a conda environment, a container or
    environment modules runs as Snakemake runs it; so does every job once the worker has
    stopped (:func:`stop` puts Snakemake's method back), and every job if Snakemake's script
    runner is not the one this was written for (then ``False``).
    """
    global _snakemake_execute
    if _snakemake_execute is not None:
        return True
    try:
        from snakemake.script import PythonScript
    except ImportError:
        return False
    original = PythonScript.__dict__.get("execute_script")
    if not callable(original) or not callable(getattr(PythonScript, "_execute_cmd", None)):
        return False
    launcher = os.path.join(os.path.dirname(os.path.abspath(__file__)), "launcher.py")

    def execute_script(self, fname, edit=False):
        own = (edit or os.environ.get(ADDRESS) is None
               or any(getattr(self, name, None) is not None
                      for name in ("container_img", "conda_env", "env_modules")))
        if own:
            return original(self, fname, edit)
        logs = [str(path) for path in (getattr(self, "log", None) or [])]
        return self._execute_cmd("{py_exec:q} -S -P {launcher:q} {fname:q} {log:q}",
                                 py_exec=sys.executable, launcher=launcher, fname=fname,
                                 log=logs[0] if logs else "", is_python_script=True)

    _snakemake_execute = original
    PythonScript.execute_script = execute_script
    return True


def _restore_snakemake() -> None:
    global _snakemake_execute
    if _snakemake_execute is None:
        return
    from snakemake.script import PythonScript

    PythonScript.execute_script = _snakemake_execute
    _snakemake_execute = None


def stop(worker: Worker | None = None, timeout: float = 10.0, wait: bool = True) -> None:
    """Stop a worker (by default the one :func:`start` started last) and remove its socket.

    Jobs started afterwards run in their own processes. With ``wait``, this returns once
    the worker has ended, killing it if it has not ended within ``timeout`` seconds;
    without, once it has been asked to end (``SIGTERM``, on which it stops any jobs it still
    runs and exits): for a run that has succeeded, whose jobs have all ended, so that
    Snakemake finishes its run while the worker's large process is torn down. Such a worker
    is collected by :func:`collect_stopped`, which this registers with :mod:`atexit` (it
    runs before Snakemake's command line finishes exiting), so that it is never left behind and
    its CPU time counts as Snakemake's children's.
    """
    global _started
    if worker is None:
        worker, _started = _started, None
    elif worker is _started:
        _started = None
    if worker is None:
        return
    if os.environ.get(ADDRESS) == worker.address:
        os.environ.pop(ADDRESS, None)
    if _started is None:
        _restore_snakemake()
    if worker.process.poll() is None:
        import subprocess

        worker.process.terminate()
        if not wait:
            if not _stopping:  # collected at the interpreter's exit at the latest
                import atexit

                atexit.unregister(collect_stopped)
                atexit.register(collect_stopped)
            _stopping.append(worker)
            _remove(worker.folder)
            return
        try:
            worker.process.wait(timeout)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()
    _remove(worker.folder)


def collect_stopped(timeout: float = 10.0) -> None:
    """Wait for the workers :func:`stop` asked to end without waiting (killed after
    ``timeout`` seconds)."""
    import subprocess

    while _stopping:
        process = _stopping.pop().process
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _remove(folder: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(folder, "socket"))
    with contextlib.suppress(OSError):
        os.rmdir(folder)


# ------------------------------------------------------------------------ the worker itself

class _Stop(Exception):
    """SIGTERM: Snakemake's run is over."""


def _on_terminate(signum, frame):
    raise _Stop


def serve(argv: list[str] | None = None) -> None:
    """The worker's process: ``serve LISTENING_FD PARENT_PID`` (started by :func:`start`)."""
    import selectors
    import time

    argv = sys.argv[1:] if argv is None else argv
    fd, parent = int(argv[0]), int(argv[1])
    # This process runs ``python -c``, whose sys.path starts with "" where a script's
    # starts with the script's folder.
    _base_path[:] = sys.path[1:]
    listener = socket.socket(fileno=fd)
    signal.signal(signal.SIGTERM, _on_terminate)
    _die_with_parent(signal.SIGTERM)  # and the loop below checks, in case this is missing
    # Ctrl-C is Snakemake's to handle: it stops the jobs' processes, then this one.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    wake_read, wake_write = socket.socketpair()
    wake_read.setblocking(False)
    wake_write.setblocking(False)
    signal.set_wakeup_fd(wake_write.fileno(), warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    jobs: dict[int, socket.socket] = {}  # pid of a job's process -> its launcher's connection
    selector = selectors.DefaultSelector()
    try:
        try:
            warm()
        except Exception:  # noqa: BLE001 - the jobs then run on their own and meet it there
            return
        # What warm() made is never garbage: set aside, so that no job's garbage collection
        # walks it, or writes to (and so copies) the memory pages it shares with the jobs;
        # and the jobs' pages know so without asking (report.render.rendering).
        from ketameta.report.render import rendering

        rendering.set_aside_for_good()
        if os.getppid() != parent:
            return
        selector.register(listener, selectors.EVENT_READ, "accept")
        selector.register(wake_read, selectors.EVENT_READ, "wake")
        while os.getppid() == parent:
            for key, _ in selector.select(timeout=1.0):
                if key.data == "accept":
                    _accept(listener, selector, jobs, (listener, wake_read, wake_write))
                elif key.data == "wake":
                    with contextlib.suppress(OSError):
                        wake_read.recv(4096)
                    _reap(selector, jobs)
                else:  # a launcher's connection: it sends nothing, so it has ended
                    _connection_event(key, selector, jobs)
            _reap(selector, jobs)
    except _Stop:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for pid in list(jobs):
            _terminate(pid)
        deadline = time.monotonic() + 5
        while jobs and time.monotonic() < deadline:
            _reap(selector, jobs)
            time.sleep(0.02)
        for pid in list(jobs):
            _terminate(pid, signal.SIGKILL)
        while jobs:
            _reap(selector, jobs, block=True)


def warm() -> None:
    """Import what the jobs import and load what their first page would load.

    Importing creates objects by the hundred thousand and hardly any garbage, yet the
    garbage collector's passes would walk them again and again (about 280 passes, a sixth
    of the time): it is paused meanwhile, and resumed after as it was.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        import importlib
        import pkgutil

        import ketameta

        for name in MODULES:
            importlib.import_module(name)
        for module in pkgutil.walk_packages(ketameta.__path__, "ketameta."):
            importlib.import_module(module.name)
        import PIL.Image

        PIL.Image.preinit()  # the image plugins a figure's raster loads on first use
        from ketameta.report import render

        render.warm()
    finally:
        if collecting:
            gc.enable()


def _accept(listener, selector, jobs, inherited) -> None:
    import selectors

    conn, _ = listener.accept()
    fds: list[int] = []
    try:
        conn.settimeout(30)
        request = _read_request(conn, fds)
        if request is None or not _compatible(request):
            conn.sendall(frame(("D",)))
            raise OSError("declined")
        sys.stdout.flush()
        sys.stderr.flush()
        started, go = os.pipe()  # "S" sent to the launcher: the job may send its "E"
        pid = os.fork()
        if pid == 0:  # the job's process: never returns
            os.close(go)
            _run_job(request, fds, conn, started, selector, list(jobs.values()), inherited)
        os.close(started)
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)  # as the job's process does itself, whichever comes first
        jobs[pid] = conn
        try:
            try:
                conn.sendall(frame(("S", pid)))
                os.write(go, b"S")
            finally:
                os.close(go)
            conn.setblocking(False)
            selector.register(conn, selectors.EVENT_READ, pid)
        except OSError:  # its launcher is gone already: so is the job
            _client_gone(pid, jobs)
            raise
    except OSError:
        conn.close()
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)


def _read_request(conn: socket.socket, fds: list[int]) -> dict | None:
    """The launcher's request (:mod:`ketameta.launcher`), its streams added to ``fds``."""
    data, received, _, _ = socket.recv_fds(conn, 65536, 3)
    fds.extend(received)
    if len(received) != 3:
        return None
    request = read_frame(conn, data)
    return request if isinstance(request, dict) else None


def _compatible(request: dict) -> bool:
    """Whether a job run in this process behaves as it would in its own (module docstring).

    A plan's build (:func:`build_plan`) computes nothing with the BLAS libraries: the thread
    counts Snakemake sets for jobs do not count for it.
    """
    if request.get("executable") != sys.executable:
        return False
    names = IMPORT_VARIABLES
    if isinstance(request.get("plan"), dict):
        names = tuple(name for name in names if name not in THREAD_VARIABLES)
    elif not isinstance(request.get("script"), str):
        return False
    environ = request.get("environ") or {}
    return all(environ.get(name) == os.environ.get(name) for name in names)


def _run_job(request, fds, conn, started, selector, others, inherited) -> None:
    """In the forked process: become the job's process, run its script, exit with its status.

    The job tells its launcher (``conn``) how it ended itself, once the worker has told the
    launcher it started (a byte on the pipe ``started``), and then exits: the launcher, and
    Snakemake with it, need not wait while the kernel tears down the process's memory (10
    to 15 ms). Should the job's process die first, the worker tells the launcher instead
    (:func:`_reap`).
    """
    code = 1
    try:
        os.setpgid(0, 0)  # stopping the job stops whatever it started
        _die_with_parent(signal.SIGKILL)  # a worker killed outright takes its jobs along
        for name in ("SIGTERM", "SIGINT", "SIGCHLD"):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        with contextlib.suppress(OSError):
            selector.close()
        for sock in (*others, *inherited):
            with contextlib.suppress(OSError):
                sock.close()
        for stream, fd in zip((0, 1, 2), fds, strict=True):
            os.dup2(fd, stream)
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["environ"])
        if "plan" in request:
            code = _build_in_job(request["plan"], conn, started)
            return
        script = request["script"]
        # What ``python SCRIPT`` would have: its arguments, and its folder first on the path.
        sys.argv[:] = [script]
        sys.path[:] = [os.path.dirname(script), *_base_path]
        import runpy
        import tempfile

        tempfile.tempdir = None  # read TMPDIR again, from the job's environment
        runpy.run_path(script, run_name="__main__")
        code = 0
    except SystemExit as end:
        code = _exit_code(end.code)
    except BaseException:  # noqa: BLE001 - a script's error ends its job, as in its own process
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        with contextlib.suppress(BaseException):
            if os.read(started, 1) == b"S":
                own = resource.getrusage(resource.RUSAGE_SELF)
                waited = resource.getrusage(resource.RUSAGE_CHILDREN)
                conn.setblocking(True)
                conn.sendall(frame(("E", code, float(max(own.ru_maxrss, waited.ru_maxrss)),
                                    own.ru_utime + own.ru_stime + waited.ru_utime
                                    + waited.ru_stime)))
        os._exit(code)


def _build_in_job(arguments: dict, conn: socket.socket, started: int) -> int:
    """In a job's process: build the plan :func:`build_plan` asks for, send it as JSON text.

    ``("P", text)`` when the plan survives a JSON round trip unchanged (the workflow then
    uses exactly what it would have built itself), ``("F",)`` otherwise or on any error:
    the workflow then builds the plan itself, with the same checks and messages. The reply
    follows the worker's ``("S", pid)`` (a byte on ``started``); the exit status is 0.
    """
    import json
    from pathlib import Path

    reply = ("F",)
    try:
        from ketameta.workflow import build

        plan = build(arguments["config"], arguments["overrides"], Path(arguments["schemas"]),
                     arguments["claims"])
        text = json.dumps(plan)
        if json.loads(text) == plan:
            reply = ("P", text)
    except Exception:  # noqa: BLE001 - the workflow builds it again and reports the error
        reply = ("F",)
    with contextlib.suppress(OSError):
        if os.read(started, 1) == b"S":
            conn.setblocking(True)
            conn.sendall(frame(reply))
    return 0


def build_plan(config_path: str, overrides, schemas: str, claims_path: str,
               meanwhile=None, timeout: float = 600.0) -> dict | None:
    """The workflow's plan (:func:`ketameta.workflow.build`) built in a fork of the worker.

    The worker :func:`start` started in this process imports the statistics stack anyway;
    built in a fork of it, the plan costs the workflow's process (Snakemake's) neither that
    import nor the checks, and ``meanwhile`` (if given) is called while it is built.
    Returns ``None`` when there is no such worker, or it is gone, or the build failed or
    gave a plan that does not survive a JSON round trip: the workflow then builds the plan
    itself (and words any problem in the data as always).
    """
    import json

    if not running():
        return None
    request = {"plan": {"config": config_path, "overrides": overrides, "schemas": schemas,
                        "claims": claims_path},
               "cwd": os.getcwd(), "environ": dict(os.environ), "executable": sys.executable}
    try:
        data = frame(request)
    except ValueError:  # an override marshal cannot carry
        return None
    streams: list[int] = []  # the build's standard streams, as a job's
    try:
        for fd in (0, 1, 2):
            streams.append(os.dup(fd))
    except OSError:  # a stream closed
        for fd in streams:
            os.close(fd)
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(_started.address)
        send_request(sock, data, streams)
        if meanwhile is not None:
            meanwhile()
        started = read_frame(sock)
        reply = read_frame(sock) if isinstance(started, tuple) and started[:1] == ("S",) else None
    except OSError:
        reply = None
    finally:
        sock.close()
        for fd in streams:
            with contextlib.suppress(OSError):
                os.close(fd)
    if isinstance(reply, tuple) and len(reply) == 2 and reply[0] == "P":
        return json.loads(reply[1])
    return None


def _die_with_parent(signum: int) -> None:
    """Have Linux send ``signum`` to this process when its parent ends (PR_SET_PDEATHSIG)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signum), 0, 0, 0)


def _exit_code(value) -> int:
    """The status ``sys.exit(value)`` gives a process."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


def _reap(selector, jobs: dict, block: bool = False) -> None:
    """Collect the jobs' processes that ended and tell their launchers."""
    while jobs:
        try:
            pid, status, usage = os.wait4(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            jobs.clear()
            return
        if pid == 0:
            return
        conn = jobs.pop(pid, None)
        if conn is None:
            continue
        code = os.waitstatus_to_exitcode(status)
        if code < 0:  # ended by a signal: the status a shell reports for it
            code = 128 - code
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(conn)
        with contextlib.suppress(OSError):
            conn.setblocking(True)
            conn.sendall(frame(("E", code, float(usage.ru_maxrss),
                                usage.ru_utime + usage.ru_stime)))
        conn.close()
        if block:
            return


def _connection_event(key, selector, jobs: dict) -> None:
    """A launcher's connection is readable: its launcher has ended, so the job is stopped.

    ``key`` comes from a ``select()`` whose ready list is handled in turn: an earlier event
    of the same list (SIGCHLD's wake-up) may have reaped the job already, closing this very
    connection, and a new launcher's connection may even have taken its descriptor number
    since. Such a key is stale and is passed over.
    """
    pid = key.data
    if jobs.get(pid) is not key.fileobj:
        return
    with contextlib.suppress(KeyError, ValueError):
        selector.unregister(key.fileobj)
    _client_gone(pid, jobs)


def _client_gone(pid: int, jobs: dict) -> None:
    """A job's launcher ended (Snakemake cancelled the job): stop the job."""
    if pid in jobs:
        _terminate(pid)


def _terminate(pid: int, signum: int = signal.SIGTERM) -> None:
    """Stop a job's process and whatever it started (its process group)."""
    try:
        os.killpg(pid, signum)
    except OSError:
        with contextlib.suppress(OSError):
            os.kill(pid, signum)


