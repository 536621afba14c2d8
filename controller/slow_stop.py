"""Say where a stop is stuck: when a process's shutdown takes longer than it should, every thread's stack is
written to stderr (the journal under systemd), then the shutdown goes on.

A stop that hangs is otherwise silent: the supervisor (systemd, ``kunci demo``) waits, then kills, and the
cause is gone with the process. :func:`reporting_slow_stop` arms :mod:`faulthandler`'s timer for the
duration of a shutdown; the dump names the call each thread is blocked in. The dump holds file names,
function names and line numbers only, never a variable's value, so no PIN or name can be in it.
"""

from __future__ import annotations

import faulthandler
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

#: A shutdown slower than this, seconds, gets its threads' stacks written to stderr. The daemon's stop
#: takes well under a second; ``kunci demo`` and systemd give up (kill) at 30 s and 90 s.
SLOW_STOP_SECONDS = 10.0
#: Longest wait for a child to end after SIGABRT (it writes its threads' stacks first), seconds (then SIGKILL).
ABORT_SECONDS = 5.0


@contextmanager
def reporting_slow_stop(seconds: float = SLOW_STOP_SECONDS) -> Iterator[None]:
    """Within the block, once ``seconds`` have passed, write "Timeout (h:mm:ss)!" and every thread's stack to
    stderr (once); leaving the block disarms it."""
    stream = sys.stderr
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):  # no real file (a test's captured stderr): nothing to arm
        yield
        return
    faulthandler.dump_traceback_later(seconds, repeat=False, file=stream, exit=False)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def enable_stack_dumps() -> None:
    """Have a fatal signal (SIGABRT, SIGSEGV, ...) write every thread's stack to stderr before the process ends:
    ``kunci demo`` sends SIGABRT to a child that did not stop in time, and the unit files ask systemd to do the
    same (``TimeoutStopFailureMode=abort``), so a stuck stop leaves its cause in the log. Left alone when a
    harness (pytest) already enabled it."""
    if faulthandler.is_enabled():
        return
    try:
        faulthandler.enable(file=sys.stderr)
    except (AttributeError, OSError, ValueError):  # stderr is not a real file: nothing to write to
        pass


def abort_for_stacks(child: subprocess.Popen, seconds: float = ABORT_SECONDS) -> int:
    """End a stuck child process with SIGABRT, which makes it write every thread's stack to its stderr first (when
    it called :func:`enable_stack_dumps`), then SIGKILL if even that does not end it; its exit code."""
    child.send_signal(signal.SIGABRT)
    try:
        return child.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        child.kill()
        return child.wait()
