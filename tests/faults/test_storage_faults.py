"""Storage faults (docs/reliability.md T5.4, T5.5; issue 6): a database that refuses writes, a corrupt database at start.

"No log, no entry" (``site.no_log_no_entry``, default on): while the database refuses writes a valid PIN
is refused, the local alarm sounds, ``status`` says the log is unavailable and every event waits in RAM;
when space returns the buffered events are written in order and the chain verifies. With the setting
off, the valid PIN opens and its event is written later. A damaged database file keeps the daemon from
starting at all: the relay is never energised and the file is left byte-identical.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from controller.control import changes
from controller.config import SiteConfig
from controller.errors import StoreError
from controller.daemon.hardware import build_hardware
from drivers import events as ev
from tests.controller.daemon_harness import (
    DaemonRunner,
    add_person,
    events,
    fast_config,
    last_event_id,
    matching,
    relay_periods,
    wait_event,
    wait_for,
)
from tests.faults.fault_helpers import StorageFault, count, report, verify_chain

pytestmark = pytest.mark.faults


def storage_config(no_log_no_entry: bool = True):
    """Keypad only, and the exit button only logs (so every relay period must be a PIN grant)."""
    import dataclasses

    config = fast_config(door={"exit_unlocks": False}, sensor={"enabled": False})
    return dataclasses.replace(config, site=SiteConfig(clock_trust="always", no_log_no_entry=no_log_no_entry))


def refuse_writes(daemon: DaemonRunner, fault: StorageFault, mode: str) -> int:
    """Switch the fault on and log exit requests until the daemon reports the log unavailable.

    Returns how many exit requests were sent (the last ones are in the RAM buffer). A full disk still
    takes rows while existing pages have room, so this drives real events until a write is refused.
    """
    fault.set(mode)
    for sent in range(1, 400):
        daemon.daemon.queue.put(ev.ExitPressed(t=time.monotonic()))
        if not daemon.status()["log_available"]:
            return sent
    raise AssertionError("the database never refused a write")


CYCLES = count("KUNCI_STORAGE_CYCLES", full=10, quick=1)


@pytest.mark.parametrize("mode", ["full", "readonly"])
def test_db_refusing_writes_denies_a_valid_pin_alarms_and_loses_nothing(start_daemon, daemon_datadir, mode):
    daemon = start_daemon(storage_config())
    person = add_person(daemon_datadir, daemon.config)
    first_mark = last_event_id(daemon_datadir)
    fault = StorageFault(daemon)
    sent_total = buffered_total = 0
    for _ in range(CYCLES):
        mark = last_event_id(daemon_datadir)
        sent = refuse_writes(daemon, fault, mode)
        sent_total += sent

        daemon.press(person.pin + "#")
        status = wait_for(lambda: (s := daemon.status())["buffered_events"] >= 2 and s, what="attempt buffered")
        assert status["log_available"] is False and status["relay"] is False
        wait_for(lambda: daemon.hw.indicators.pattern == "alarm", what="local alarm (buzzer and red LED)")
        assert daemon.status()["indicators"]["buzzer"] is True
        assert relay_periods(daemon.relay_pin) == []
        buffered = daemon.status()["buffered_events"]
        buffered_total += buffered

        fault.set(None)  # space returns
        status = wait_for(lambda: (s := daemon.status())["log_available"] and s["buffered_events"] == 0 and s,
                          what="buffer flushed")
        assert status["pending_events"] == 0
        wait_for(lambda: daemon.hw.indicators.pattern != "alarm", what="local alarm off")
        assert "log_unavailable" in {a["kind"] for a in status["alarms"]}  # recorded for the auditor (cleared)

        after = events(daemon_datadir, mark)
        types = [r["type"] for r in after]
        assert types.count("exit.request") == sent
        refused = matching(after, "access.denied", reason="log_unavailable")
        assert [(r["user"], r["method"]) for r in refused] == [(person.code, "pin")]
        assert matching(after, "access.granted") == []  # the log never claims an entry that did not happen
        seqs = [r["seq"] for r in after]
        assert None not in seqs and seqs == sorted(seqs)
        assert types.index("access.denied") > max(i for i, t in enumerate(types) if t == "exit.request")

    mark = last_event_id(daemon_datadir)
    daemon.press(person.pin + "#")  # and the daemon keeps working
    wait_event(daemon_datadir, "access.granted", after_id=mark, user=person.code)
    wait_for(lambda: len(relay_periods(daemon.relay_pin)) == 1, what="one unlock after recovery")
    fault.remove()
    daemon.stop()
    result = verify_chain(daemon_datadir)
    assert result.ok and result.pending == 0, result.problem
    assert len(matching(events(daemon_datadir, first_mark), "access.denied", reason="log_unavailable")) == CYCLES
    report(f"db {mode}: {CYCLES} refuse/recover cycles, {sent_total} exit events sent into the fault, "
           f"valid PIN denied {CYCLES}/{CYCLES} with the local alarm, {buffered_total} events kept in RAM and all "
           f"written after recovery, chain events={result.checked}, lost=0")


def test_with_no_log_no_entry_off_the_valid_pin_opens_and_is_logged_later(start_daemon, daemon_datadir):
    daemon = start_daemon(storage_config(no_log_no_entry=False))
    person = add_person(daemon_datadir, daemon.config)
    mark = last_event_id(daemon_datadir)
    fault = StorageFault(daemon)
    refuse_writes(daemon, fault, "full")

    daemon.press(person.pin + "#")
    wait_for(lambda: len(relay_periods(daemon.relay_pin)) == 1, what="the PIN opens")
    assert matching(events(daemon_datadir, mark), "access.granted") == []  # not stored yet
    assert daemon.status()["buffered_events"] >= 2

    fault.set(None)
    wait_for(lambda: (s := daemon.status())["log_available"] and s["buffered_events"] == 0, what="flushed")
    granted = wait_event(daemon_datadir, "access.granted", after_id=mark, user=person.code)
    assert granted["method"] == "pin"
    fault.remove()
    daemon.stop()
    result = verify_chain(daemon_datadir)
    assert result.ok and result.pending == 0, result.problem


def test_remote_unlock_while_the_log_is_down_is_refused_and_recorded_as_refused(start_daemon, daemon_datadir):
    from controller.control.client import DaemonError

    daemon = start_daemon(storage_config())
    mark = last_event_id(daemon_datadir)
    fault = StorageFault(daemon)
    refuse_writes(daemon, fault, "readonly")
    with pytest.raises(DaemonError, match="no log, no entry"):
        daemon.call("unlock", actor="tester")
    fault.set(None)
    wait_for(lambda: daemon.status()["buffered_events"] == 0, what="flushed")
    after = events(daemon_datadir, mark)
    assert matching(after, "access.granted") == []
    assert [r["actor"] for r in matching(after, "access.denied", reason="log_unavailable")] == [changes.local_account()]
    assert relay_periods(daemon.relay_pin) == []
    fault.remove()


# ----------------------------------------------------------------------------------- corrupt at start


def _garbage_over_the_file(path: Path) -> None:
    size = path.stat().st_size
    path.write_bytes(hashlib.sha256(b"kunci").digest() * (size // 32 + 1))


def _damaged_page_in_the_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    pages = len(data) // page
    assert pages >= 4, "database too small to damage a middle page"
    middle = pages // 2
    data[middle * page:(middle + 1) * page] = b"\xa5" * page  # header intact, one b-tree page destroyed
    path.write_bytes(bytes(data))


def _stopped_datadir_with_events(tmp_path: Path):
    from tests.controller.daemon_harness import prepare_datadir

    datadir = prepare_datadir(tmp_path / "data")
    config = storage_config()
    for i in range(12):  # some rows, so the file has more than a handful of pages
        add_person(datadir, config, name=f"Person {i}")
    runner = DaemonRunner(datadir, config).start()
    runner.stop()
    for suffix in ("-wal", "-shm"):
        assert not Path(str(datadir.db_file) + suffix).exists() or suffix == "-shm"
    return datadir, config


@pytest.mark.parametrize("damage", [_garbage_over_the_file, _damaged_page_in_the_middle],
                         ids=["garbage-bytes", "damaged-middle-page"])
def test_corrupt_database_at_start_keeps_the_door_locked_says_why_and_is_not_overwritten(tmp_path, damage):
    datadir, config = _stopped_datadir_with_events(tmp_path)
    damage(datadir.db_file)
    before = hashlib.sha256(datadir.db_file.read_bytes()).hexdigest()

    # In process: the relay pin's whole history, from construction to shutdown.
    built = []

    def factory(c, d, sink):
        hw = build_hardware(c, d, sink)
        built.append(hw)
        return hw

    runner = DaemonRunner(datadir, config, hardware_factory=factory)
    runner._thread.start()  # noqa: SLF001 - start() would raise before we can look at the pin
    runner._thread.join(30)  # noqa: SLF001
    assert not runner.alive
    assert isinstance(runner.error, StoreError), runner.error
    message = str(runner.error)
    assert re.search(r"not a SQLite database|integrity check failed|disk image is malformed", message), message
    assert "\n" not in message
    assert built, "hardware (relay first) is built before the database is opened"
    pin = built[0].sim.factory.pin(config.gpio.relay_pin)
    assert relay_periods(pin) == [] and not any(s.state for s in pin.states)
    assert hashlib.sha256(datadir.db_file.read_bytes()).hexdigest() == before

    # As a process: `kunci run` exits non-zero with one line saying why, and still leaves the file alone.
    text = datadir.config_file.read_text().replace("simulated = false", "simulated = true")
    datadir.config_file.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "controller", "run", "--data", str(datadir.root)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("kunci: error:")]
    assert len(errors) == 1, proc.stderr
    assert re.search(r"not a SQLite database|integrity check failed|disk image is malformed", errors[0]), errors[0]
    assert "Traceback" not in proc.stderr
    assert hashlib.sha256(datadir.db_file.read_bytes()).hexdigest() == before
    report(f"corrupt db ({damage.__name__.strip('_')}): refused at start with {errors[0]!r}; relay never on; "
           "file unchanged")
