"""The door loop's queues survive waits that are over before they start.

The loop waits for its next input with ``get(timeout=t)``, ``t`` shrinking towards zero as a timer comes due.
CPython 3.11's ``queue.SimpleQueue.get`` can then block for good (until the next ``put``): CI saw a demo whose
loop froze after a grant, so the strike stayed energised until the unlock cap's watchdog forced it off and
Ctrl-C never stopped it. The daemon's timed queues are ``queue.Queue``; this drives each of them the way that
hung, with a thread competing for the interpreter, and fails if any ``get`` does not come back.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path

from controller.daemon.loop import Command, Daemon
from controller.daemon.sensor_service import _Job
from controller.paths import DataDir
from drivers.fingerprint_owner import Job
from tests.controller.stepped import stepped_config

GETS = 50_000


def _survives_tiny_timeouts(make) -> bool:
    """True when ``GETS`` gets with a 1 ns timeout on fresh queues from ``make`` all returned (Empty)."""
    done, stop = threading.Event(), threading.Event()

    def getter() -> None:
        for _ in range(GETS):
            try:
                make().get(timeout=1e-9)
            except queue.Empty:
                pass
        done.set()

    def busy() -> None:
        while not stop.is_set():
            sum(range(1000))

    threads = [threading.Thread(target=getter, daemon=True), threading.Thread(target=busy, daemon=True)]
    for t in threads:
        t.start()
    finished = done.wait(timeout=120)  # about a second when it works; a hung get never returns
    stop.set()
    return finished


def test_the_loops_input_queue_and_command_replies(tmp_path: Path) -> None:
    daemon = Daemon(DataDir(tmp_path / "data"), stepped_config())
    assert _survives_tiny_timeouts(lambda: type(daemon.queue)())
    assert _survives_tiny_timeouts(lambda: Command("status", {}).reply)


def test_the_sensor_jobs_progress_and_result_queues() -> None:
    assert _survives_tiny_timeouts(lambda: _Job(lambda s: None, waited=True).done)
    assert _survives_tiny_timeouts(lambda: Job(lambda j: None).events)
