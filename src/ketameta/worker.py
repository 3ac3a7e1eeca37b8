"""A warm worker for the workflow's jobs: the statistics and page stack imported once a run.

Every job of the workflow is a Snakemake ``script:`` job, which Snakemake runs as a new
Python process. Such a process spends about a second importing numpy, scipy, pandas,
Jinja2 and matplotlib and loading templates and fonts before it does any work, which on the
shipped data is more than most jobs' work. With a worker, Snakemake still runs every job
as its own process, with the same inputs, outputs, log, benchmark file and exit status, but
that process only hands the job to the worker and waits: the worker, which imported and
warmed everything once when the run started, forks a copy of itself, and the copy runs the
job's script. A fork shares the parent's memory copy-on-write, so each job starts with the
imports done and no job sees another's state.

How a run uses it (``workflow/rules/common.smk``):

* When Snakemake reads the workflow for a run that will run jobs, :func:`start` starts the
  worker as a child of Snakemake (on Linux, and unless the environment sets
  ``KETAMETA_NO_WORKER`` to anything but ``""`` or ``0``), so that it warms up while
  Snakemake checks the inputs and builds its graph of jobs.
* ``onstart``, when the jobs are about to start, calls :func:`offer_to_jobs` if they run
  on this machine, which sets ``KETAMETA_WORKER`` to the worker's socket for the jobs
  Snakemake starts afterwards, and stops the worker otherwise (a cluster executor).
  Without the hooks (``--no-hooks``) no job is offered the worker.
* A job script ends with ``worker.run(lambda: main(...), globals())``. With a worker, this
  sends the job (the script's path, its ``snakemake`` object, working folder, environment,
  ``sys.path`` and its standard streams) to the worker and exits with the job's status;
  without one, or if the worker declines the job, it calls ``main`` in this process, as
  before. The scripts import the statistics inside ``main``, so the waiting process never
  imports them.
* ``onsuccess`` and ``onerror`` call :func:`stop`. The worker also stops when Snakemake's
  process ends, however it ends, and stops a job whose waiting process is killed (as
  Snakemake does when a run is cancelled).

The worker declines a job, which then runs in its own process, when the job's Python
executable or any environment variable read at import time (the BLAS thread counts that
Snakemake sets from a rule's ``threads``, ``PYTHONPATH``, matplotlib's settings, the
locale...) differs from the worker's. A job's outputs are therefore the same bytes either
way; ``tests/test_worker.py`` runs the workflow both ways and compares them.

Snakemake's benchmark files measure the waiting process, so for a job run in the worker
their CPU time and memory are those of the waiting process only. Each such job's log
therefore ends with a line giving the CPU time and peak memory of the process that ran it
(:data:`USAGE_LINE`), and ``benchmarks/pipeline.sh`` reads them.

This module imports only the standard library, so that a waiting process stays small.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

#: The environment variable that holds the worker's socket for the jobs of a run.
ADDRESS = "KETAMETA_WORKER"
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
#: libraries the job scripts and the package import inside functions.
MODULES = ("numpy", "scipy.special", "scipy.optimize", "scipy.linalg", "pandas", "yaml",
           "jsonschema", "jinja2", "matplotlib", "PIL.Image")

#: The last line of the log of a job run in the worker (%-style: CPU seconds, peak MiB).
USAGE_LINE = "ketameta worker: this job ran in a process forked from the warm worker; " \
             "CPU time %.3f s, peak memory %.1f MiB\n"

_HEADER = struct.Struct("!I")  # the length of a request
_STARTED = struct.Struct("!ci")  # b"S", the pid of the job's process
_ENDED = struct.Struct("!cidd")  # b"E", exit code, peak memory (KiB), CPU seconds
_DECLINED = b"D"

# True in the process forked to run a job: worker.run then calls the job itself.
_in_job = False
# The worker start() started in this process (Snakemake's), for stop().
_started = None


# ------------------------------------------------------------------------------ the jobs' side

def run(main: Callable[[], object], namespace: dict) -> None:
    """Run a job script's ``main``: in the run's worker if there is one, else here.

    ``namespace`` is the script's ``globals()``: its ``__file__`` (the script, which
    Snakemake's preamble sets to the real path) and its ``snakemake`` object are what the
    worker needs to run the same script. With a worker, this process exits with the job's
    exit status and never returns.
    """
    address = os.environ.get(ADDRESS)
    if _in_job or not address:
        main()
        return
    outcome = _delegate(address, namespace)
    if outcome is None:  # declined, or no worker: this process runs the job
        main()
        return
    code, peak_kib, cpu = outcome
    log = _log_of(namespace.get("snakemake"))
    if log and code == 0:
        with contextlib.suppress(OSError), open(log, "a", encoding="utf-8") as stream:
            stream.write(USAGE_LINE % (cpu, peak_kib / 1024))
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


def _log_of(job) -> str | None:
    logs = list(getattr(job, "log", None) or [])
    return str(logs[0]) if logs else None


def _delegate(address: str, namespace: dict):
    """Hand the job to the worker: ``None`` if it was not run there, else its outcome."""
    job = namespace.get("snakemake")
    script = namespace.get("__file__")
    if job is None or not script:
        return None
    request = pickle.dumps({
        "script": os.path.abspath(script),
        "job": pickle.dumps(job),
        "cwd": os.getcwd(),
        "environ": dict(os.environ),
        "path": list(sys.path),
        "argv": list(sys.argv),
        "executable": sys.executable,
    })
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(address)
        message = _HEADER.pack(len(request)) + request
        sent = socket.send_fds(sock, [message[:65536]], [0, 1, 2])
        sock.sendall(message[sent:])
        reply = _receive(sock, 1)
        if reply != b"S":  # declined, or the worker ended before it started the job
            return None
        _receive(sock, _STARTED.size - 1)
    except OSError:
        sock.close()
        return None
    # From here the job runs in the worker; this process only waits for its end.
    try:
        data = _receive(sock, _ENDED.size)
    except OSError:
        data = b""
    finally:
        sock.close()
    if len(data) != _ENDED.size:
        print("ketameta worker: the worker ended while it ran this job", file=sys.stderr)
        return 1, 0.0, 0.0
    _, code, peak_kib, cpu = _ENDED.unpack(data)
    return code, peak_kib, cpu


def _receive(sock: socket.socket, size: int) -> bytes:
    """Exactly ``size`` bytes, or fewer if the other side closed the connection."""
    chunks, got = [], 0
    while got < size:
        chunk = sock.recv(size - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


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


def offer_to_jobs() -> bool:
    """Point the jobs this process starts from now on at the started worker, if there is one.

    Sets :data:`ADDRESS` in the environment, which Snakemake's jobs inherit.
    """
    if _started is None or _started.process.poll() is not None:
        return False
    os.environ[ADDRESS] = _started.address
    return True


def stop(worker: Worker | None = None, timeout: float = 10.0) -> None:
    """Stop a worker (by default the one :func:`start` started last) and remove its socket.

    Jobs started afterwards run in their own processes.
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
    if worker.process.poll() is None:
        worker.process.terminate()
        try:
            worker.process.wait(timeout)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()
    _remove(worker.folder)


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
    argv = sys.argv[1:] if argv is None else argv
    fd, parent = int(argv[0]), int(argv[1])
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
    jobs: dict[int, socket.socket] = {}  # pid of a job's process -> its waiting process
    selector = selectors.DefaultSelector()
    try:
        try:
            warm()
        except Exception:  # noqa: BLE001 - the jobs then run on their own and meet it there
            return
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
                else:  # a waiting process's connection: it sends nothing, so it has ended
                    selector.unregister(key.fileobj)
                    _client_gone(key.data, jobs)
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
    """Import what the jobs import and load what their first page would load."""
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


def _accept(listener, selector, jobs, inherited) -> None:
    conn, _ = listener.accept()
    fds: list[int] = []
    try:
        conn.settimeout(30)
        request = _read_request(conn, fds)
        if request is None or not _compatible(request):
            conn.sendall(_DECLINED)
            raise OSError("declined")
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the job's process: never returns
            _run_job(request, fds, [conn.fileno()], selector, list(jobs.values()), inherited)
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)  # as the job's process does itself, whichever comes first
        jobs[pid] = conn
        try:
            conn.sendall(_STARTED.pack(b"S", pid))
            conn.setblocking(False)
            selector.register(conn, selectors.EVENT_READ, pid)
        except OSError:  # its waiting process is gone already: so is the job
            _client_gone(pid, jobs)
            raise
    except OSError:
        conn.close()
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)


def _read_request(conn: socket.socket, fds: list[int]) -> dict | None:
    data, received, _, _ = socket.recv_fds(conn, 65536, 3)
    fds.extend(received)
    if len(received) != 3:
        return None
    data += _receive(conn, _HEADER.size - len(data))
    if len(data) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(data[:_HEADER.size])
    body = data[_HEADER.size:]
    body += _receive(conn, size - len(body))
    if len(body) != size:
        return None
    try:
        request = pickle.loads(body)
    except Exception:
        return None
    return request if isinstance(request, dict) else None


def _compatible(request: dict) -> bool:
    """Whether a job run in this process behaves as it would in its own (module docstring)."""
    if request.get("executable") != sys.executable:
        return False
    environ = request.get("environ") or {}
    return all(environ.get(name) == os.environ.get(name) for name in IMPORT_VARIABLES)


def _run_job(request, fds, keep, selector, others, inherited) -> None:
    """In the forked process: become the job's process, run its script, exit with its status."""
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
        for fd in (*fds, *keep):
            with contextlib.suppress(OSError):
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["environ"])
        sys.path[:] = request["path"]
        sys.argv[:] = request["argv"]
        tempfile.tempdir = None  # read TMPDIR again, from the job's environment
        global _in_job
        _in_job = True
        import runpy

        namespace = {"snakemake": pickle.loads(request["job"]),
                     "__real_file__": request["script"]}
        runpy.run_path(request["script"], init_globals=namespace, run_name="__main__")
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
        os._exit(code)


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
    """Collect the jobs' processes that ended and tell their waiting processes."""
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
            conn.sendall(_ENDED.pack(b"E", code, float(usage.ru_maxrss),
                                     usage.ru_utime + usage.ru_stime))
        conn.close()
        if block:
            return


def _client_gone(pid: int, jobs: dict) -> None:
    """A job's waiting process ended (Snakemake cancelled the job): stop the job."""
    if pid in jobs:
        _terminate(pid)


def _terminate(pid: int, signum: int = signal.SIGTERM) -> None:
    """Stop a job's process and whatever it started (its process group)."""
    try:
        os.killpg(pid, signum)
    except OSError:
        with contextlib.suppress(OSError):
            os.kill(pid, signum)
