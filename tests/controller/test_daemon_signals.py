"""Signals: SIGTERM/SIGINT stop the daemon however they arrive (a burst of them included)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from controller.control.client import ControlClient
from controller.ops.initialise import initialise
from controller.config import parse_config
from controller.daemon.loop import Daemon
from controller.errors import KunciError
from controller.paths import DataDir


def test_the_signal_handler_takes_no_lock(tmp_path: Path) -> None:
    """A second signal landing while the first handler is inside Event.set() must not deadlock.

    Holding the stop Event's own lock in the calling thread reproduces that moment: a handler that
    calls Event.set() would wait for itself forever.
    """
    daemon = Daemon(DataDir(tmp_path), parse_config({"simulated": True}))
    finished = threading.Event()

    def interrupted_inside_set() -> None:
        with daemon._stop._cond:  # the lock Event.set() takes
            daemon._on_signal(signal.SIGTERM, None)
        finished.set()

    worker = threading.Thread(target=interrupted_inside_set, daemon=True)
    worker.start()
    assert finished.wait(timeout=5), "the signal handler blocked on a lock"
    assert daemon.stopping


def test_a_burst_of_signals_stops_kunci_run_cleanly(tmp_path: Path) -> None:
    datadir = DataDir(tmp_path / "data")
    initialise(datadir)
    datadir.config_file.write_text(datadir.config_file.read_text().replace("simulated = false", "simulated = true"))
    proc = subprocess.Popen([sys.executable, "-m", "controller", "run", "--data", str(datadir.root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                ControlClient(datadir.socket_path, timeout=1.0).call("status")
                break
            except KunciError:
                assert time.monotonic() < deadline, "daemon did not start"
                time.sleep(0.05)
        for sig in (signal.SIGTERM, signal.SIGTERM, signal.SIGINT, signal.SIGTERM):
            proc.send_signal(sig)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not datadir.socket_path.exists()
