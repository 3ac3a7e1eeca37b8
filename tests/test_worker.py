"""The warm worker (ketameta.worker): jobs run in a forked copy of it exactly as on their own.

A job is started as Snakemake starts a script job once the worker is offered: Snakemake
writes the rule's script behind a preamble that unpickles the job's ``snakemake`` object,
and runs the launcher, ``python -S -P launcher.py SCRIPT LOG``, which hands the script to the
worker (or runs ``python SCRIPT`` without one). The worker is started in this test process
(as the workflow starts it in Snakemake's).
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

from ketameta import launcher, worker

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent('''
    import os
    import sys


    def main():
        job = snakemake
        print("out", os.getpid(), os.getppid(), flush=True)
        print("err", file=sys.stderr, flush=True)
        with open(job.output, "w") as stream:
            stream.write(f"{os.getcwd()}|{os.environ.get('KETAMETA_TEST')}|{sys.argv}|"
                         f"{sys.path[0]}|{__file__}|{__name__}")
        if job.mode == "gc":
            import gc

            with open(job.output + ".gc", "w") as stream:
                stream.write(f"{gc.isenabled()}|{gc.get_freeze_count() > 0}")
        if job.mode == "sleep":
            time.sleep(600)
        if job.mode == "raise":
            raise ValueError("a bad row")
        if job.mode == "message":
            sys.exit("one clear message")
        sys.exit(job.code)


    import time

    if __name__ == "__main__":
        main()
''')


@pytest.fixture
def running():
    started = worker.start()
    assert started is not None
    try:
        yield started
    finally:
        worker.stop()
    assert not os.path.exists(started.folder)
    assert worker.ADDRESS not in os.environ


def job_process(tmp_path: Path, mode: str = "ok", code: int = 0, env: dict | None = None,
                popen: bool = False):
    """Run SCRIPT as Snakemake does with the worker offered: its file, then the launcher."""
    real = tmp_path / "job.py"  # the rule's script
    real.write_text(SCRIPT)
    job = types.SimpleNamespace(output=str(tmp_path / "out.txt"), log=[str(tmp_path / "log")],
                                mode=mode, code=code)
    (tmp_path / "log").write_text("the job's own log\n")
    # The file Snakemake writes: its preamble (as snakemake.script writes it), the script.
    scripts = tmp_path / "scripts"
    scripts.mkdir(exist_ok=True)
    script = scripts / "tmpjob.job.py"
    script.write_text(f"import sys; import pickle; snakemake = pickle.loads({pickle.dumps(job)!r}); "
                      f"__real_file__ = __file__; __file__ = {str(real)!r};\n" + SCRIPT)
    command = [sys.executable, "-S", "-P", launcher.__file__, str(script), str(tmp_path / "log")]
    # Snakemake sets the thread counts of a one-thread job
    threads = dict.fromkeys(worker.THREAD_VARIABLES, "1")
    environ = {**os.environ, **threads, "KETAMETA_TEST": "from the job", **(env or {})}
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    if popen:
        return subprocess.Popen(command, cwd=work, env=environ, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, cwd=work, env=environ, capture_output=True, text=True,
                          timeout=120)


def pid_of(done) -> tuple[int, int]:
    line = next(line for line in done.stdout.splitlines() if line.startswith("out "))
    _, pid, parent = line.split()
    return int(pid), int(parent)


def as_on_its_own(tmp_path: Path) -> str:
    """What SCRIPT writes when it runs as ``python SCRIPT`` in the job's folder."""
    script = tmp_path / "scripts" / "tmpjob.job.py"
    return (f"{tmp_path / 'work'}|from the job|{[str(script)]}|{script.parent}|"
            f"{tmp_path / 'job.py'}|__main__")


def test_a_job_runs_in_a_fork_of_the_worker_as_it_would_on_its_own(running, tmp_path):
    done = job_process(tmp_path)
    assert done.returncode == 0, done.stderr
    pid, parent = pid_of(done)
    assert parent == running.process.pid  # forked by the worker
    # its standard streams, working folder, environment, arguments, import path, file and
    # module name are those it has on its own
    assert done.stderr == "err\n"
    assert (tmp_path / "out.txt").read_text() == as_on_its_own(tmp_path)
    log = (tmp_path / "log").read_text().splitlines()
    assert log[0] == "the job's own log"
    assert log[-1].startswith("ketameta worker: this job ran in a process forked from")
    assert "CPU time" in log[-1] and "peak memory" in log[-1]


def test_a_jobs_garbage_collection_walks_only_its_own_objects(running, tmp_path):
    # The worker imports with the collector paused, then sets what it made aside
    # (gc.freeze): the job collects as on its own, but never walks (or copies the memory
    # pages of) the worker's objects.
    done = job_process(tmp_path, "gc")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.txt.gc").read_text() == "True|True"


def test_a_job_reports_its_end_before_its_process_is_torn_down(tmp_path):
    # The job's own process sends its "E" once the worker has sent "S" (the pipe), then
    # exits: the launcher need not wait for the kernel to tear its memory down. Here its
    # exit is held back, and the report still arrives.
    import selectors
    import socket

    script = tmp_path / "job.py"
    script.write_text("import sys\nsys.exit(3)\n")
    launcher_end, job_end = socket.socketpair()
    started, go = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            real_exit = os._exit
            os._exit = lambda code: (time.sleep(30), real_exit(code))
            os.close(go)
            launcher_end.close()
            worker._base_path[:] = sys.path  # as serve() sets it
            null = os.open(os.devnull, os.O_RDWR)
            request = {"script": str(script), "cwd": str(tmp_path), "environ": dict(os.environ)}
            worker._run_job(request, [null, os.dup(null), os.dup(null)], job_end, started,
                            selectors.DefaultSelector(), [], [])
        finally:
            os._exit(99)
    os.close(started)
    job_end.close()
    try:
        os.write(go, b"S")
        os.close(go)
        launcher_end.settimeout(20)
        outcome = launcher.read_frame(launcher_end)
        assert outcome[:2] == ("E", 3) and outcome[3] >= 0
        assert os.waitpid(pid, os.WNOHANG) == (0, 0)  # still there, held at its exit
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        launcher_end.close()


def test_warming_up_pauses_the_garbage_collector():
    # a collection counts if warm() is running (the one due once it resumes comes after)
    code = ("import gc, traceback\n"
            "from ketameta import worker\n"
            "passes = []\n"
            "gc.callbacks.append(lambda phase, info: passes.append(\n"
            "    any(frame.name == 'warm' for frame in traceback.extract_stack())))\n"
            "worker.warm()\n"
            "print(sum(passes), gc.isenabled())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.split() == ["0", "True"]


@pytest.mark.parametrize(("mode", "code", "stderr"), [
    ("ok", 3, ""),
    ("message", 0, "one clear message"),
    ("raise", 0, "ValueError: a bad row"),
])
def test_a_jobs_exit_status_and_error_are_its_own(running, tmp_path, mode, code, stderr):
    done = job_process(tmp_path, mode, code)
    expected = {"ok": code, "message": 1, "raise": 1}[mode]
    assert done.returncode == expected
    assert pid_of(done)[1] == running.process.pid
    assert stderr in done.stderr
    # a failed job's log gets no line about its resources
    assert "ketameta worker" not in (tmp_path / "log").read_text()


def test_without_a_worker_the_launcher_becomes_the_job(tmp_path):
    assert worker.ADDRESS not in os.environ
    done = job_process(tmp_path)
    assert done.returncode == 0, done.stderr
    assert pid_of(done)[1] == os.getpid()  # the process this test started, as python SCRIPT
    assert (tmp_path / "out.txt").read_text() == as_on_its_own(tmp_path)
    assert "ketameta worker" not in (tmp_path / "log").read_text()


@pytest.mark.parametrize(("mode", "code", "stderr"), [("ok", 3, ""), ("raise", 0, "a bad row")])
def test_without_a_worker_the_exit_status_is_the_jobs(tmp_path, mode, code, stderr):
    done = job_process(tmp_path, mode, code)
    assert done.returncode == {"ok": code, "raise": 1}[mode]
    assert stderr in done.stderr


def test_a_stale_address_means_the_job_runs_on_its_own(tmp_path):
    done = job_process(tmp_path, env={worker.ADDRESS: str(tmp_path / "no-socket")})
    assert done.returncode == 0, done.stderr
    assert pid_of(done)[1] == os.getpid()
    assert "ketameta worker" not in (tmp_path / "log").read_text()


@pytest.mark.parametrize("variable", ["OPENBLAS_NUM_THREADS", "MPLBACKEND", "PYTHONHASHSEED"])
def test_a_job_whose_import_time_settings_differ_runs_on_its_own(running, tmp_path, variable):
    done = job_process(tmp_path, env={variable: "4" if "THREADS" in variable else "7"})
    assert done.returncode == 0, done.stderr
    assert pid_of(done)[1] == os.getpid()
    assert (tmp_path / "out.txt").read_text() == as_on_its_own(tmp_path)
    assert "ketameta worker" not in (tmp_path / "log").read_text()


def gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        with open(f"/proc/{pid}/stat") as stream:  # a zombie has ended too
            if stream.read().split(") ")[1].startswith("Z"):
                return True
        time.sleep(0.05)
    return False


def test_killing_the_waiting_process_stops_the_job(running, tmp_path):
    process = job_process(tmp_path, "sleep", popen=True)
    line = process.stdout.readline()
    assert line.startswith("out "), process.stderr.read()
    pid = int(line.split()[1])
    process.kill()  # as Snakemake stops a cancelled job's process
    process.wait()
    assert gone(pid)
    assert running.process.poll() is None  # the worker goes on


def test_stopping_the_worker_stops_its_jobs(tmp_path):
    worker.start()
    process = job_process(tmp_path, "sleep", popen=True)
    pid = int(process.stdout.readline().split()[1])
    worker.stop()
    assert gone(pid)
    # the status a shell gives a process that SIGTERM stopped
    assert process.wait(timeout=60) == 128 + signal.SIGTERM


def test_stopping_without_waiting_asks_the_worker_to_end(tmp_path):
    # What a successful run's onsuccess does: every job has ended, the worker is told to
    # end and its socket is gone at once; it ends on its own, cleanly.
    started = worker.start()
    assert job_process(tmp_path).returncode == 0  # the worker is warm
    worker.stop(wait=False)
    assert worker._started is None and worker.ADDRESS not in os.environ
    assert not os.path.exists(started.folder)
    assert worker._stopping == [started]
    worker.collect_stopped()  # what Snakemake's command line does as it exits
    assert worker._stopping == [] and started.process.returncode == 0
    worker.stop(wait=False)  # nothing left to stop


def test_the_worker_ends_with_the_process_that_started_it(tmp_path):
    code = ("import ketameta.worker as w, os, sys; s = w.start(); print(s.process.pid, "
            "flush=True); os._exit(0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert gone(int(done.stdout.split()[0]), within=20)


def test_it_can_be_switched_off():
    assert worker.enabled({}) == sys.platform.startswith("linux")
    assert worker.enabled({worker.DISABLE: "0"}) == sys.platform.startswith("linux")
    assert not worker.enabled({worker.DISABLE: "1"})


class Workflow:
    """What ketameta.workflow reads of Snakemake's workflow object."""

    def __init__(self, main=True, local=True, dryrun=False, **dag):
        self.is_main_process = main
        self.local_exec = local
        self.output_settings = types.SimpleNamespace(dryrun=dryrun)
        self.dag_settings = types.SimpleNamespace(
            **{"forceall": False, "forcetargets": False, "forcerun": frozenset(), **dag})


@pytest.mark.parametrize(("main", "dryrun", "starts"), [
    (True, False, True), (True, True, False), (False, False, False)])
def test_the_workflow_starts_a_worker_only_for_a_run_of_jobs(main, dryrun, starts):
    from snakemake.script import PythonScript

    from ketameta import workflow

    own = PythonScript.__dict__["execute_script"]
    workflow.begin(Workflow(main=main, dryrun=dryrun))
    assert worker._started is None  # begin starts none: warm_up does, when jobs will run
    assert workflow.warm_up(Workflow(main=main, dryrun=dryrun)) == starts
    try:
        assert (worker._started is not None) == starts
        started = worker._started
        assert workflow.warm_up(Workflow(main=main, dryrun=dryrun)) == starts
        assert worker._started is started  # one worker a run
        assert worker.ADDRESS not in os.environ  # offered only when the jobs start
        assert PythonScript.__dict__["execute_script"] is own
        workflow.on_start(Workflow(main=main, dryrun=dryrun))
        assert (worker.ADDRESS in os.environ) == starts
        assert (PythonScript.__dict__["execute_script"] is not own) == starts
    finally:
        workflow.end()
    assert worker._started is None and worker.ADDRESS not in os.environ
    assert PythonScript.__dict__["execute_script"] is own


@pytest.mark.parametrize("command_line", [True, False])
def test_the_command_line_sets_the_runs_objects_aside_when_the_jobs_start(
        command_line, monkeypatch):
    # Snakemake's process would walk its modules, plan and graph of jobs at each garbage
    # collection while the jobs run; a program that calls Snakemake is left as it is.
    import gc

    from ketameta import workflow

    monkeypatch.setattr(workflow, "_command_line", lambda: command_line)
    gc.unfreeze()
    try:
        workflow.on_start(Workflow(local=False))
        assert (gc.get_freeze_count() > 0) == command_line
    finally:
        gc.unfreeze()
        workflow.end()


def test_jobs_are_likely_when_an_output_is_missing_a_rerun_is_forced_or_a_run_broke_off(
        tmp_path, monkeypatch):
    from ketameta.workflow import likely_jobs

    monkeypatch.chdir(tmp_path)
    outputs = [tmp_path / "a.csv", tmp_path / "b.html"]
    for path in outputs:
        path.write_text("x")
    assert not likely_jobs(Workflow(), outputs)  # a no-op rerun
    assert not likely_jobs(types.SimpleNamespace(), outputs)  # no settings to read
    assert likely_jobs(Workflow(), [*outputs, tmp_path / "gone.json"])
    assert likely_jobs(Workflow(forceall=True), outputs)
    assert likely_jobs(Workflow(forcetargets=True), outputs)
    assert likely_jobs(Workflow(forcerun=frozenset({"analyse_TRD"})), outputs)
    incomplete = tmp_path / ".snakemake" / "incomplete"
    incomplete.mkdir(parents=True)
    assert not likely_jobs(Workflow(), outputs)  # Snakemake's folder, empty
    (incomplete / "marker").write_text("")
    assert likely_jobs(Workflow(), outputs)


def test_jobs_a_cluster_runs_elsewhere_get_no_worker():
    from ketameta import workflow

    assert workflow.warm_up(Workflow())
    started = worker._started
    assert started is not None
    workflow.on_start(Workflow(local=False))
    assert worker._started is None and worker.ADDRESS not in os.environ
    assert started.process.poll() is not None
    workflow.end()


def test_the_workflows_handlers_are_wired():
    text = (ROOT / "Snakefile").read_text()
    assert "onstart:\n    on_start(workflow)\n" in text
    common = (ROOT / "workflow" / "rules" / "common.smk").read_text()
    assert "\nbegin(workflow)\n" in common
    assert "on_build=lambda: warm_up(workflow)," in common
    assert "\nif likely_jobs(\n" in common and common.rstrip().endswith("warm_up(workflow)")


def test_the_launcher_imports_two_c_modules_only():
    # What a job's own process imports before it hands the script over: the launcher's top
    # level, run as it runs (no site packages, no script folder on the path). Every job
    # waits for this process to start, so it loads nothing beyond os (which Python loads
    # when it starts with site packages) but the C modules _socket and marshal.
    path = launcher.__file__
    code = (f"import os, sys; before = set(sys.modules); "
            f"exec(compile(open({path!r}).read(), {path!r}, 'exec'), {{'__name__': 'launcher'}}); "
            "print(sorted(set(sys.modules) - before))")
    done = subprocess.run([sys.executable, "-S", "-P", "-c", code], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = eval(done.stdout)  # noqa: S307 - a list of module names this test printed
    assert set(loaded) <= {"_socket", "marshal"}, loaded


class FakeScript:
    """What the replaced execute_script reads of Snakemake's PythonScript."""

    def __init__(self, **settings):
        self.container_img = self.conda_env = self.env_modules = None
        self.log = ["logs/job.log"]
        self.__dict__.update(settings)
        self.commands = []

    def _execute_cmd(self, cmd, **kwargs):
        self.commands.append((cmd, kwargs))

    def _is_python_env(self):  # Snakemake asks this of a conda environment
        return False


def test_offering_the_worker_has_snakemake_start_script_jobs_with_the_launcher(running):
    from snakemake.script import PythonScript

    assert worker.offer_to_jobs()  # (start, by default, has offered it already)
    own = worker._snakemake_execute  # Snakemake's own, kept to be put back
    replaced = PythonScript.__dict__["execute_script"]
    assert own is not None and replaced is not own
    assert own.__module__ == "snakemake.script"
    script = FakeScript()
    replaced(script, ".snakemake/scripts/tmpabc.condition.py")
    (cmd, kwargs), = script.commands
    assert cmd == "{py_exec:q} -S -P {launcher:q} {fname:q} {log:q}"
    assert kwargs == {"py_exec": sys.executable, "launcher": launcher.__file__,
                      "fname": ".snakemake/scripts/tmpabc.condition.py",
                      "log": "logs/job.log", "is_python_script": True}
    no_log = FakeScript(log=[])
    replaced(no_log, "x.py")
    assert no_log.commands[0][1]["log"] == ""
    # a job in a conda environment, a container or environment modules runs as Snakemake
    # runs it: its Python is not the worker's
    for setting in ("conda_env", "container_img", "env_modules"):
        elsewhere = FakeScript(**{setting: "somewhere"})
        replaced(elsewhere, "x.py")
        (cmd, kwargs), = elsewhere.commands
        assert cmd == "{py_exec} {fname:q}" and kwargs["fname"] == "x.py"  # Snakemake's
    worker.stop()
    assert PythonScript.__dict__["execute_script"] is own  # Snakemake's own again


def test_a_script_runner_it_does_not_know_is_left_alone(running, monkeypatch):
    # A Snakemake whose script runner is not the one the launcher was written for keeps its
    # own: the jobs then run as Snakemake runs them (the outputs do not change).
    import snakemake.script

    class Unknown:
        def execute_script(self, fname, edit=False):
            return "its own"

    worker.stop()
    monkeypatch.setattr(snakemake.script, "PythonScript", Unknown)
    assert worker.start() is not None
    assert worker._snakemake_execute is None
    assert Unknown.__dict__["execute_script"](Unknown(), "x.py") == "its own"
    assert not worker._use_launcher()


def test_the_worker_imports_only_the_standard_library():
    code = ("import sys; before = set(sys.modules); import ketameta.worker; "
            "print(sorted(m for m in set(sys.modules) - before "
            "if m.split('.')[0] not in sys.stdlib_module_names and m.split('.')[0] != 'ketameta'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_signals_end_the_worker_cleanly(tmp_path):
    started = worker.start()
    try:
        assert job_process(tmp_path).returncode == 0  # the worker is warm
        os.kill(started.process.pid, signal.SIGINT)  # Ctrl-C is Snakemake's, not the worker's
        time.sleep(0.5)
        assert started.process.poll() is None
        assert job_process(tmp_path).returncode == 0
    finally:
        worker.stop()
    assert started.process.returncode == 0


# ---------------------------------------------------------------- the workflow, both ways

FIXTURE = ROOT / "tests" / "fixtures" / "workflow"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def pipeline(tmp_path: Path, name: str, command=(str(SNAKEMAKE),), **env: str) -> Path:
    import shutil

    work = tmp_path / name
    shutil.copytree(FIXTURE, work)
    done = subprocess.run(
        [*command, "-s", str(ROOT / "Snakefile"), "--cores", "2"], cwd=work,
        env={**os.environ, **env}, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return work


def contents(work: Path) -> dict[str, bytes]:
    return {str(p.relative_to(work)): p.read_bytes()
            for folder in ("reports", "data/processed") for p in sorted((work / folder).rglob("*"))
            if p.is_file()}


@pytest.mark.workflow
def test_the_workflow_writes_the_same_bytes_with_and_without_the_worker(tmp_path):
    warm = pipeline(tmp_path, "warm")
    alone = pipeline(tmp_path, "alone", **{worker.DISABLE: "1"})
    assert contents(warm) == contents(alone)
    assert len(contents(warm)) > 10
    warm_logs = [p.read_text() for p in (warm / "logs").rglob("*.log")]
    alone_logs = [p.read_text() for p in (alone / "logs").rglob("*.log")]
    assert sum("ketameta worker:" in text for text in warm_logs) >= 3  # the jobs ran there
    assert not any("ketameta worker:" in text for text in alone_logs)


def test_a_worker_that_cannot_warm_up_leaves_the_jobs_to_themselves(tmp_path, monkeypatch):
    # A library the worker imports is broken (here: shadowed by a module that fails): the
    # worker ends quietly, and each job, which may not need that library, runs on its own.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "jinja2.py").write_text("raise ImportError('a broken installation')\n")
    monkeypatch.setenv("PYTHONPATH", str(broken))
    started = worker.start()
    try:
        started.process.wait(timeout=120)  # it ends by itself
        done = job_process(tmp_path)
        assert done.returncode == 0, done.stderr
        assert pid_of(done)[1] == os.getpid()  # ran in its own process
    finally:
        worker.stop()


def test_a_launchers_end_reported_after_its_job_was_reaped_is_passed_over(monkeypatch):
    # One select() can report both SIGCHLD's wake-up and a launcher's connection: handling
    # the wake-up reaps the job and closes that connection (whose descriptor number a new
    # launcher's connection may take at once), so the connection's event that follows is
    # stale. It must neither stop the worker (a closed socket cannot be unregistered) nor
    # stop the job of the new connection.
    import selectors

    stopped = []
    monkeypatch.setattr(worker, "_terminate", lambda pid, signum=None: stopped.append(pid))
    selector = selectors.DefaultSelector()
    first, first_peer = socket.socketpair()
    selector.register(first, selectors.EVENT_READ, 101)
    stale = selector.get_key(first)
    selector.unregister(first)  # what _reap does before it closes the connection
    first.close()
    second, second_peer = socket.socketpair()
    selector.register(second, selectors.EVENT_READ, 102)
    jobs = {102: second}
    try:
        worker._connection_event(stale, selector, jobs)
        assert stopped == []
        assert selector.get_key(second).data == 102
        # the new connection's own end is handled: unregistered, and its job stopped
        second_peer.close()
        worker._connection_event(selector.get_key(second), selector, jobs)
        assert stopped == [102]
        assert second not in selector.get_map()
    finally:
        for sock in (first_peer, second, second_peer):
            sock.close()
        selector.close()


@pytest.mark.workflow
def test_python_m_ketameta_is_snakemakes_command_line_with_the_worker_started_first(tmp_path):
    # make report runs the workflow as `python -m ketameta`: the same outputs as snakemake's
    # own command line, the jobs run in the worker, and a rerun that changes nothing
    # neither starts one before Snakemake nor redoes anything.
    from ketameta import __main__ as entry

    first = pipeline(tmp_path, "module", command=(sys.executable, "-m", "ketameta"))
    plain = pipeline(tmp_path, "plain")
    assert contents(first) == contents(plain)
    logs = [p.read_text() for p in (first / "logs").rglob("*.log")]
    assert sum("ketameta worker:" in text for text in logs) >= 3
    assert not entry.early_start(["--cores", "2"], str(first))  # the plan is up to date
    before = contents(first)
    again = subprocess.run([sys.executable, "-m", "ketameta", "-s", str(ROOT / "Snakefile"),
                            "--cores", "2"], cwd=first, capture_output=True, text=True,
                           timeout=900)
    assert again.returncode == 0, again.stderr
    assert "Nothing to be done" in again.stdout + again.stderr
    assert contents(first) == before


def test_the_worker_starts_before_snakemake_only_for_a_run_likely_to_have_jobs(tmp_path):
    import time

    from ketameta import __main__ as entry

    (tmp_path / "config").mkdir()
    (tmp_path / "data" / "raw").mkdir(parents=True)
    (tmp_path / "config" / "config.yaml").write_text("x: 1\n")
    (tmp_path / "data" / "raw" / "trials.csv").write_text("study\n")
    assert entry.early_start(["--cores", "2"], str(tmp_path))  # no plan yet
    for flags in (["-n"], ["--dry-run"], ["--lint"], ["--unlock"], ["--dag"], ["--help"],
                  ["--profile", "profiles/slurm"], ["--executor=slurm"], ["-d", "other"]):
        assert not entry.early_start(["--cores", "2", *flags], str(tmp_path)), flags
    plan = tmp_path / ".ketameta" / "cache" / "plan.json"
    plan.parent.mkdir(parents=True)
    plan.write_text("{}")
    later = time.time() + 10
    os.utime(plan, (later, later))
    assert not entry.early_start(["--cores", "2"], str(tmp_path))  # a plan newer than inputs
    # an input edited after the plan was made (processed outputs do not count)
    (tmp_path / "data" / "processed").mkdir()
    (tmp_path / "data" / "processed" / "x.csv").write_text("new")
    os.utime(tmp_path / "data" / "processed" / "x.csv", (later + 5, later + 5))
    assert not entry.early_start(["--cores", "2"], str(tmp_path))
    os.utime(tmp_path / "data" / "raw" / "trials.csv", (later + 5, later + 5))
    assert entry.early_start(["--cores", "2"], str(tmp_path))


def test_python_m_ketameta_counts_as_snakemakes_command_line(monkeypatch):
    import types

    from ketameta import workflow

    main = types.ModuleType("__main__")
    main.__spec__ = types.SimpleNamespace(name="ketameta.__main__")
    main.__file__ = str(ROOT / "src" / "ketameta" / "__main__.py")
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(sys, "argv", ["anything"])
    assert workflow._command_line()
    main.__spec__ = types.SimpleNamespace(name="my_program")
    main.__file__ = "/somewhere/my_program.py"
    assert not workflow._command_line()


# ------------------------------------------------------- the plan built in a fork of the worker

def test_a_plan_built_in_the_worker_is_the_plan_built_here(running, monkeypatch):
    # python -m ketameta starts the worker before Snakemake reads the workflow; the plan is
    # then built in a fork of it, and must be exactly the plan the workflow builds itself.
    from ketameta import workflow

    monkeypatch.chdir(ROOT)
    args = ("config/config.yaml", {"analyse_every_row": True}, str(ROOT / "workflow" / "schemas"),
            "config/claims.yaml")
    called = []
    built = worker.build_plan(*args, meanwhile=lambda: called.append(True))
    assert called == [True]
    assert built is not None
    assert built == workflow.build(args[0], args[1], Path(args[2]), args[3])


def test_a_plan_the_worker_cannot_build_is_built_here_with_its_message(running, tmp_path,
                                                                        monkeypatch):
    import shutil

    from ketameta import workflow
    from ketameta.errors import DataError

    shutil.copytree(FIXTURE, tmp_path / "project")
    monkeypatch.chdir(tmp_path / "project")
    bad = Path("config/config.yaml")
    bad.write_text(bad.read_text(encoding="utf-8") + "\nunknown_key: 1\n", encoding="utf-8")
    schemas = str(ROOT / "workflow" / "schemas")
    assert worker.build_plan("config/config.yaml", {}, schemas, "config/claims.yaml") is None
    with pytest.raises(DataError, match="unknown_key"):
        workflow.load("config/config.yaml", {}, Path(schemas), "config/claims.yaml",
                      cache=tmp_path / "plan.json", builder=workflow.plan_builder())
    assert not (tmp_path / "plan.json").exists()


def test_without_a_running_worker_the_plan_is_built_here():
    from ketameta import workflow

    assert not worker.running()
    assert workflow.plan_builder() is None
    assert worker.build_plan("config/config.yaml", {}, "schemas", "claims.yaml") is None


def test_the_worker_builds_the_plan_the_workflow_caches(running, tmp_path, monkeypatch):
    import shutil

    from ketameta import workflow

    shutil.copytree(FIXTURE, tmp_path / "project")
    monkeypatch.chdir(tmp_path / "project")
    asked = []
    builder = workflow.plan_builder()
    assert builder is not None

    def recording(*args):
        asked.append(args)
        return builder(*args)

    schemas = ROOT / "workflow" / "schemas"
    plan = workflow.load("config/config.yaml", {}, schemas, "config/claims.yaml",
                         cache=tmp_path / "plan.json", builder=recording)
    assert len(asked) == 1
    assert plan == workflow.build("config/config.yaml", {}, schemas, "config/claims.yaml")
    again = workflow.load("config/config.yaml", {}, schemas, "config/claims.yaml",
                          cache=tmp_path / "plan.json", builder=recording)
    assert again == plan and len(asked) == 1  # the cached plan, nothing built


def test_a_plan_request_is_declined_only_for_settings_a_build_reads(monkeypatch):
    # The plan's build does no linear algebra: the BLAS thread counts Snakemake sets for
    # jobs do not matter to it, but any other import-time setting does, as for a job.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    base = {"executable": sys.executable, "plan": {}, "environ": dict(os.environ)}
    assert worker._compatible(base)
    assert worker._compatible({**base, "environ": {**os.environ, "OMP_NUM_THREADS": "2"}})
    assert not worker._compatible({**base, "environ": {**os.environ, "PYTHONHASHSEED": "1"}})
    assert not worker._compatible({**base, "executable": "/elsewhere/python"})
    script = {**base, "script": "job.py"}
    del script["plan"]
    assert not worker._compatible({**script, "environ": {**os.environ, "OMP_NUM_THREADS": "2"}})
