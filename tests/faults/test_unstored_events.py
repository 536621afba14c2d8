"""An orderly stop while the database refuses writes (issue 10 item 8): nothing is dropped silently.

The events still waiting in RAM are spilled to ``DATA/run/unstored-events.jsonl`` (fsync'd) with a
critical log line; the next start stores them before anything else, sealed, in their order, each
marked ``"recovered": true``, and removes the file. ``kunci status`` says when the log is unavailable
and how many events wait.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time

import pytest

from controller.cli.status_cmd import format_status
from controller.config import SiteConfig
from drivers import events as ev
from tests.controller.daemon_harness import events, fast_config, last_event_id, wait_for
from tests.faults.fault_helpers import StorageFault, verify_chain

pytestmark = pytest.mark.faults


def _config():
    config = fast_config(door={"exit_unlocks": False}, sensor={"enabled": False})
    return dataclasses.replace(config, site=SiteConfig(clock_trust="always", no_log_no_entry=True))


def test_an_orderly_stop_spills_unstored_events_and_the_next_start_stores_them_first(
        start_daemon, daemon_datadir, caplog) -> None:
    daemon = start_daemon(_config())
    fault = StorageFault(daemon)
    fault.set("readonly")
    for _ in range(400):  # until a write is refused (a transaction already under way may still get in)
        daemon.daemon.queue.put(ev.ExitPressed(t=time.monotonic()))
        if not daemon.status()["log_available"]:
            break
    for _ in range(2):
        daemon.daemon.queue.put(ev.ExitPressed(t=time.monotonic()))
    status = wait_for(lambda: (s := daemon.status())["buffered_events"] >= 3 and s, what="events kept in RAM")
    waiting = status["buffered_events"]
    mark = last_event_id(daemon_datadir)
    assert status["log_available"] is False
    shown = format_status(status)
    assert "log:      UNAVAILABLE" in shown and f"{status['buffered_events']} events waiting" in shown

    with caplog.at_level(logging.CRITICAL, logger="controller.daemon.journal"):
        daemon.stop()  # the database still refuses: daemon.stopped cannot be stored either
    spill = daemon_datadir.unstored_events_file
    lines = [json.loads(line) for line in spill.read_text().splitlines()]
    assert [item["type"] for item in lines] == ["exit.request"] * waiting + ["daemon.stopped"]
    assert any("saved to" in r.getMessage() and str(spill) in r.getMessage() for r in caplog.records)
    assert events(daemon_datadir, mark) == []  # nothing reached the database

    again = start_daemon(_config())  # the disk has room again
    stored = events(daemon_datadir, mark)
    types = [r["type"] for r in stored]
    spilled = waiting + 1
    assert types[:spilled] == ["exit.request"] * waiting + ["daemon.stopped"]  # first, in order
    assert all(r["detail"]["recovered"] is True for r in stored[:spilled])
    assert types[spilled] == "daemon.started"  # the spilled daemon.stopped: a clean stop, no daemon.recovered
    assert [r["seq"] for r in stored] == sorted(r["seq"] for r in stored)
    assert not spill.exists()
    assert format_status(again.status()).count("log:      ok") == 1
    again.stop()
    result = verify_chain(daemon_datadir)
    assert result.ok, result.problem
