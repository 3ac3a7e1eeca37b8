"""The launcher: what a job's own process runs when the run's warm worker is offered.

Snakemake starts every ``script:`` job as a process of its own. Once the worker is offered
(:func:`ketameta.worker.offer_to_jobs`), that process is ``python -S -P launcher.py SCRIPT
LOG``: it hands the script Snakemake wrote for the job (and its working folder, environment
and standard streams) to the worker, waits, and exits with the job's status. Without a
worker, or when the worker declines the job, it becomes ``python SCRIPT``, the command
Snakemake itself runs for a script.

Every job pays for this process's start, once per job and in the gap between one job and
the next, so it is kept to what Python has loaded when it starts, plus the C modules
``_socket`` and ``marshal``: about 17 ms where the ``socket``, ``pickle``, ``struct`` and
``contextlib`` modules (which pull in ``enum``, ``re`` and ``collections``) took about 40.
The worker (:mod:`ketameta.worker`) speaks the same small protocol, defined here:

* the launcher sends one frame, a dictionary (``script``, ``cwd``, ``environ``,
  ``executable``), with its file descriptors 0, 1 and 2 attached (``SCM_RIGHTS``);
* the worker answers ``("S", pid)`` once the job's process runs, or ``("D",)`` when it
  declines the job; then ``("E", exit status, peak memory in KiB, CPU seconds)`` comes
  when the job has ended: from the job's process itself as it exits, or from the worker
  if that process died first.

A frame is its length (4 bytes, big-endian) and the :mod:`marshal` bytes of a value made of
strings, numbers, tuples and dictionaries only. Both ends are this package's code in one
run, behind a socket in a folder only the user can enter.
"""

import _socket
import marshal
import os
import sys

#: The environment variable that holds the worker's socket for the jobs of a run.
ADDRESS = "KETAMETA_WORKER"

#: The last line of the log of a job run in the worker (%-style: CPU seconds, peak MiB).
USAGE_LINE = "ketameta worker: this job ran in a process forked from the warm worker; " \
             "CPU time %.3f s, peak memory %.1f MiB\n"

#: The largest frame either side accepts (a request carries the job's environment).
MAX_FRAME = 16 * 1024 * 1024


def frame(value) -> bytes:
    """``value`` as one frame: its length, then its marshal bytes."""
    body = marshal.dumps(value)
    return len(body).to_bytes(4, "big") + body


def receive(sock, size: int, data: bytes = b"") -> bytes:
    """``data`` completed to exactly ``size`` bytes, or fewer if the other side closed."""
    chunks, got = [data], len(data)
    while got < size:
        chunk = sock.recv(size - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(sock, data: bytes = b""):
    """The value of the next frame (``data``: its first bytes, read already), or ``None``.

    ``None`` when the other side closed the connection before a whole frame arrived or the
    frame is not one (too long, or not marshal bytes).
    """
    head = receive(sock, 4, data[:4])
    if len(head) < 4:
        return None
    size = int.from_bytes(head, "big")
    if size > MAX_FRAME:
        return None
    body = receive(sock, size, data[4:])
    if len(body) != size:
        return None
    try:
        return marshal.loads(body)
    except (EOFError, ValueError, TypeError):
        return None


def send_request(sock, request: bytes, fds) -> None:
    """Send one request frame on ``sock`` with the descriptors ``fds`` attached
    (``SCM_RIGHTS``, on the frame's first bytes)."""
    rights = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)
    sent = sock.sendmsg([request[:65536]], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
    sock.sendall(request[sent:])


def launch(argv: list[str]) -> None:
    """Run one of Snakemake's job scripts in the run's worker, or else in a Python of its own.

    ``argv`` is ``[SCRIPT, LOG]``: the script Snakemake wrote for the job (its preamble,
    which unpickles the job's ``snakemake`` object, then the rule's script) and the job's
    log file (``""`` for none). Exits with the job's status; after a job run in the worker
    that succeeded, the log ends with :data:`USAGE_LINE`.
    """
    script, log = os.path.abspath(argv[0]), (argv[1] if len(argv) > 1 else "")
    address = os.environ.get(ADDRESS)
    outcome = _delegate(address, script) if address else None
    sys.stdout.flush()
    sys.stderr.flush()
    if outcome is None:
        os.execv(sys.executable, [sys.executable, script])
    code, peak_kib, cpu = outcome
    if log and code == 0:
        try:
            with open(log, "a", encoding="utf-8") as stream:
                stream.write(USAGE_LINE % (cpu, peak_kib / 1024))
        except OSError:
            pass
    os._exit(code)


def _delegate(address: str, script: str):
    """Hand the job to the worker: ``None`` if it was not run there, else its outcome."""
    request = frame({
        "script": script,
        "cwd": os.getcwd(),
        "environ": dict(os.environ),
        "executable": sys.executable,
    })
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(address)
        send_request(sock, request, (0, 1, 2))
        started = read_frame(sock)
    except OSError:
        started = None
    if not (isinstance(started, tuple) and started[:1] == ("S",)):
        sock.close()  # declined, or the worker ended before it started the job
        return None
    # From here the job runs in the worker; this process only waits for its end.
    try:
        ended = read_frame(sock)
    except OSError:
        ended = None
    finally:
        sock.close()
    if not (isinstance(ended, tuple) and len(ended) == 4 and ended[0] == "E"):
        print("ketameta worker: the worker ended while it ran this job", file=sys.stderr)
        return 1, 0.0, 0.0
    return ended[1], ended[2], ended[3]


if __name__ == "__main__":  # python -S -P launcher.py SCRIPT LOG (ketameta.worker)
    launch(sys.argv[1:])
