"""Background CPU load for workloads that must hold up on a busy machine (W2 "with both cores busy").

:func:`spinning` starts ``count`` (default: one per CPU) plain ``python -c "while True: pass"``
processes and stops exactly those on exit, so a workload can run while every core is taken by
another process, as docs/performance.md describes for W2. The spinners run at the default priority.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

#: The spinner's program: a busy loop that never sleeps.
SPIN = "while True: pass"


@contextmanager
def spinning(count: int | None = None) -> Iterator[list[int]]:
    """Keep ``count`` cores busy (default ``os.cpu_count()``) for the ``with`` block; yields the spinner pids."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count if count is not None else (os.cpu_count() or 1)):
            procs.append(subprocess.Popen([sys.executable, "-c", SPIN], stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.2)  # let the scheduler see them busy before the measured part starts
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
