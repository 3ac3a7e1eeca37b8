"""A finished run does not wait for Snakemake's rate-limiter timers."""

from __future__ import annotations

import re
import threading
from pathlib import Path

from ketameta.workflow import end, release_pending_timers

ROOT = Path(__file__).resolve().parents[1]


def test_pending_timers_are_cancelled_and_their_threads_end():
    fired = []
    timers = [threading.Timer(600, fired.append, args=(i,)) for i in range(3)]
    for timer in timers:
        timer.start()
    assert release_pending_timers() >= 3
    for timer in timers:
        timer.join(timeout=10)
        assert not timer.is_alive()
    assert fired == []
    assert release_pending_timers() == 0


def test_other_threads_are_left_alone():
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, args=(600,))
    worker.start()
    try:
        release_pending_timers()
        assert worker.is_alive()
    finally:
        stop.set()
        worker.join()


def test_the_end_of_a_run_releases_them():
    timer = threading.Timer(600, print)
    timer.start()
    end()
    timer.join(timeout=10)
    assert not timer.is_alive()


def test_the_workflow_ends_runs_on_success_and_on_error():
    text = (ROOT / "Snakefile").read_text()
    for handler in ("onsuccess", "onerror"):
        block = re.search(rf"^{handler}:\n((?:    .*\n|\n)+)", text, re.MULTILINE)
        assert block, handler
        assert "end(" in block.group(1), handler
    assert "onsuccess:\n    end(success=True)\n" in text  # no jobs left to wait for
    assert "onerror:\n    end()\n" in text
