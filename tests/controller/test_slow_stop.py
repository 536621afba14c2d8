"""controller/slow_stop.py: a stuck stop leaves every thread's stack on stderr (timer, or SIGABRT from the
supervisor). Each case runs in its own Python process, as the daemon and the web do; nothing waits on a clock:
the process blocks until the test has read the stacks (or sends the signal)."""

from __future__ import annotations

import signal
import subprocess
import sys

SCRIPT_TIMER = """
import sys
from controller.slow_stop import reporting_slow_stop

def stuck_in_shutdown():
    # the timer may fire before or after this line is reached: the dump names this function either way
    with reporting_slow_stop(seconds=0.05):
        sys.stdin.readline()  # blocks until the test closes stdin

stuck_in_shutdown()
print("stopped", flush=True)
"""

SCRIPT_ABORT = """
import sys
from controller.slow_stop import enable_stack_dumps

def waiting_for_the_door():
    print("ready", flush=True)
    sys.stdin.readline()

enable_stack_dumps()
waiting_for_the_door()
"""


def _start(script: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_a_slow_stop_writes_the_stacks_and_still_finishes():
    proc = _start(SCRIPT_TIMER)
    first = proc.stderr.readline()  # blocks until the timer fires
    assert first.startswith("Timeout (")
    proc.stdin.close()  # the stuck call returns
    err, out = proc.stderr.read(), proc.stdout.read()
    assert "stuck_in_shutdown" in err  # the blocked call is named
    assert proc.wait(timeout=60) == 0 and out == "stopped\n"  # the dump did not end the process


def test_a_fast_stop_writes_nothing():
    proc = subprocess.run([sys.executable, "-c", SCRIPT_TIMER.replace("0.05", "3600")], input="\n",
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "stopped\n" and proc.stderr == ""


def test_sigabrt_from_a_supervisor_writes_the_stacks_before_the_process_ends():
    proc = _start(SCRIPT_ABORT)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGABRT)
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == -signal.SIGABRT
    assert "Fatal Python error: Aborted" in err and "waiting_for_the_door" in err


def test_kunci_demo_aborts_a_stuck_child_so_its_stacks_are_written():
    """What ``kunci demo`` does to a child that did not stop in time: SIGABRT (stacks), not a silent SIGKILL."""
    from controller.slow_stop import abort_for_stacks

    proc = _start(SCRIPT_ABORT)
    assert proc.stdout.readline() == "ready\n"
    assert abort_for_stacks(proc) == -signal.SIGABRT
    assert "waiting_for_the_door" in proc.stderr.read()
