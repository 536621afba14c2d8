"""Durability as a user would see it (issue 10): the entry log stays whole and true across processes.

``kunci demo`` runs the door daemon and the admin web as two processes, as installed. The tests use
only what a user has: ``kunci sim press <PIN>#`` at the door, ``kunci log/user/status`` in another
terminal, ``kunci user add``, the people edit form of the admin web, Ctrl-C, ``kill -9`` and
``kunci audit verify``. Issue 10 was found exactly this way: from the first CLI command that read the
database, the daemon's ``kunci.db-wal`` was unlinked under it ("(deleted)" in ``/proc/PID/fd``) and
every later event was lost, while 1,320 in-process tests passed.

``KUNCI_E2E_GRANTS`` sets the number of PIN grants: default 25, because one ``kunci sim press`` of 7 keys
takes about 1.9 s on the 2-core test machine and each test must stay near a minute (``make faults`` runs
200). Reading commands are a quarter as many as grants. ``KUNCI_E2E_SEED`` replays a run's kill moment.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.product import (
    KUNCI,
    Demo,
    WebSession,
    add_person,
    kunci,
    log_events,
    open_fd_targets,
    pin_grants,
    start_daemon,
    wait_until,
)

GRANTS = int(os.environ.get("KUNCI_E2E_GRANTS", "25"))

pytestmark = [pytest.mark.e2e, pytest.mark.faults]


def deleted_files_of(pid: int, data: Path) -> list[str]:
    """Files of the data directory that process ``pid`` holds open although they were unlinked."""
    return [t for t in open_fd_targets(pid) if t.startswith(str(data)) and t.endswith("(deleted)")]


def assert_wal_in_place(daemon_pid: int, data: Path) -> None:
    """The bug of issue 10: the daemon's WAL unlinked by another process while the daemon writes to it.

    Caught only while no other process holds the database open: the admin web's own connection keeps
    SQLite from deleting the WAL even when the daemon lost its locks, so the kill -9 test checks the
    daemon again after its restart, alone (a plain ``open()``/``close()`` of ``kunci.db`` injected into
    the daemon's ``status`` command fails that check, and passes the check under a running demo).
    """
    assert deleted_files_of(daemon_pid, data) == []
    targets = open_fd_targets(daemon_pid)
    assert str(data / "kunci.db-wal") in targets, targets  # the daemon writes through the WAL on disk


def read_command(data: Path, turn: int) -> dict[str, Any] | None:
    """One of the user's reading commands, in turn: the log (returned, parsed), the people, the status."""
    kind = turn % 3
    if kind == 0:
        return {"events": log_events(data)}
    kunci(data, "user", "list") if kind == 1 else kunci(data, "status")
    return None


def edit_name_on_the_web(web: WebSession, code: str, name: str) -> None:
    """An admin renames ``code`` on the person's page (the edit form, CSRF token and all)."""
    status, final, html = web.submit(f"people/{code}", f"/{code}/edit", {"name": name})
    assert status == 200 and final.rstrip("/").endswith(f"/people/{code}"), \
        f"web edit of {code}: {status} {final}\n{html[:3000]}"


def assert_log_whole(events: list[dict[str, Any]]) -> None:
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1)), "sequence numbers have a gap or do not start at 1"


def test_every_grant_and_change_is_logged_while_the_demo_runs_and_after_ctrl_c(tmp_path: Path) -> None:
    data = tmp_path / "kunci-demo"
    demo = Demo.start(data, tmp_path / "demo.out")
    added: list[str] = []
    edits: list[tuple[str, str]] = []
    try:
        web = WebSession(demo.url, data / "tls" / "cert.pem")
        web.login("demo", demo.admin_password)
        # People added and web edits spread over the grants: 3 by default, 20 in 200 grants (issue 10).
        every_add = max(GRANTS // max(3, GRANTS // 10), 1)
        for i in range(GRANTS):
            kunci(data, "sim", "press", demo.pin + "#")
            if i % 4 == 3:
                read_command(data, i // 4)
                assert_wal_in_place(demo.daemon_pid, data)
            if i % every_add == every_add // 2:
                code, pin = add_person(data, f"Person {len(added) + 1}")
                assert pin.isdigit()
                added.append(code)
                name = f"Renamed {len(edits) + 1}"
                edit_name_on_the_web(web, code, name)
                edits.append((code, name))
        # Every grant is acknowledged (in the log) before Ctrl-C.
        wait_until(lambda: len(pin_grants(log_events(data), demo.person)) >= GRANTS,
                   what=f"{GRANTS} PIN grants in kunci log")
        assert_wal_in_place(demo.daemon_pid, data)
        assert demo.stop() == 0, demo.text
    finally:
        if demo.proc.poll() is None:
            demo.kill()

    assert "kunci demo stopped; relay off" in demo.text and "Traceback" not in demo.text, demo.text
    events = log_events(data)
    assert len(pin_grants(events, demo.person)) >= GRANTS
    for code in added:
        assert [e for e in events if e["type"] == "admin.user_added" and e["user"] == code], code
    for code, _name in edits:
        updated = [e for e in events if e["type"] == "admin.user_updated" and e["user"] == code]
        assert updated and updated[-1]["actor"] == "demo", (code, updated)
    assert {"daemon.started", "daemon.stopped"} <= {e["type"] for e in events}
    assert_log_whole(events)
    verify = kunci(data, "audit", "verify", check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    listed = kunci(data, "user", "show", edits[-1][0]).stdout
    assert edits[-1][1] in listed  # the web edit itself is there, not only its event


def test_every_acknowledged_grant_survives_kill_9_of_the_daemon(tmp_path: Path) -> None:
    seed = int(os.environ.get("KUNCI_E2E_SEED", random.randrange(1 << 30)))
    print(f"KUNCI_E2E_SEED={seed}")
    rng = random.Random(seed)
    kill_at = rng.randrange(GRANTS // 2, GRANTS)  # during this grant...
    kill_after = rng.uniform(0.0, 2.5)  # ...this many seconds into typing it (7 keys take about 2 s)
    data = tmp_path / "kunci-demo"
    demo = Demo.start(data, tmp_path / "demo.out")
    acknowledged: dict[int, dict[str, Any]] = {}
    added: list[str] = []

    def acknowledge(events: list[dict[str, Any]]) -> None:
        for event in events:
            acknowledged[event["seq"]] = event

    try:
        web = WebSession(demo.url, data / "tls" / "cert.pem")
        web.login("demo", demo.admin_password)
        for i in range(kill_at):
            kunci(data, "sim", "press", demo.pin + "#")
            if i % 4 == 3:
                read = read_command(data, i // 4)
                if read is not None:
                    acknowledge(read["events"])
            if i == kill_at // 2:
                added.append(add_person(data, f"Person {i}")[0])
                edit_name_on_the_web(web, added[-1], "Renamed before the kill")
        # What the log shows just before the kill is acknowledged: every finished press by now.
        acknowledge(wait_until(lambda: (evs := log_events(data)) and len(pin_grants(evs, demo.person)) >= kill_at
                               and evs, what=f"{kill_at} PIN grants in kunci log"))
        assert_wal_in_place(demo.daemon_pid, data)
        typing = subprocess.Popen([*KUNCI, "sim", "press", demo.pin + "#", "--data", str(data)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            typing.wait(timeout=kill_after)  # the random moment of the fault, not a synchronisation
        except subprocess.TimeoutExpired:
            pass
        os.kill(demo.daemon_pid, signal.SIGKILL)
        typing.wait(timeout=60)
        # The demo notices that its daemon died, stops the web and says so.
        assert demo.proc.wait(timeout=60) != 0
        assert "door daemon stopped unexpectedly" in demo.text, demo.text
    finally:
        if demo.proc.poll() is None:
            demo.kill()

    granted_before = len(pin_grants(list(acknowledged.values()), demo.person))
    assert granted_before >= kill_at  # every finished press was acknowledged
    assert {(e["type"], e["user"]) for e in acknowledged.values()} >= {("admin.user_added", added[0]),
                                                                        ("admin.user_updated", added[0])}

    daemon = start_daemon(data, tmp_path / "daemon.out")
    try:
        granted_after_restart = len(pin_grants(log_events(data), demo.person))  # the last press may be there
        kunci(data, "sim", "press", demo.pin + "#")  # the door works again after the restart
        wait_until(lambda: len(pin_grants(log_events(data), demo.person)) > granted_after_restart,
                   what="a grant after the restart in kunci log")
        # The daemon alone (no admin web holding the database open): reading commands leave its WAL alone.
        for turn in range(3):
            read_command(data, turn)
        assert_wal_in_place(daemon.pid, data)
        daemon.send_signal(signal.SIGINT)
        assert daemon.wait(timeout=60) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()

    events = log_events(data)
    by_seq = {e["seq"]: e for e in events}
    lost = [event for seq, event in sorted(acknowledged.items()) if by_seq.get(seq) != event]
    assert lost == [], f"acknowledged events lost or changed after kill -9 (seed {seed}): {lost[:5]}"
    assert_log_whole(events)
    verify = kunci(data, "audit", "verify", check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
