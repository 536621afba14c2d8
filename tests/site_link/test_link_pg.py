"""The site link against a real PostgreSQL server (tests/pg_server.py) with a real door daemon in-process on
simulated hardware: changes made with the site service reach the door, sealed events reach the site once each
and in order, and a controller that was away catches up exactly."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from controller.config.schema import SiteLinkConfig
from controller.errors import KunciError
from controller.paths import DataDir
from controller.site.service import SiteService
from tests.controller.daemon_harness import (
    DaemonRunner,
    events,
    execute,
    fast_config,
    last_event_id,
    prepare_datadir,
    wait_event,
    wait_for,
)
from tests.site.conftest import SiteDb, site_db  # noqa: F401 - the migrated site database fixture

PEPPER = bytes(range(100, 132))


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


@pytest.fixture
def site(site_db: SiteDb, tmp_path: Path) -> Iterator[SimpleNamespace]:  # noqa: F811 - the fixture above
    """A site with controller ``alpha`` (doors main and vault) and a door daemon for it, joined: the site's
    pepper and the role's password in its DATA, ``[site_link]`` pointing at the server."""
    service = SiteService(site_db.engine.begin, PEPPER)
    _cid, role, password = service.add_controller("alpha", [("main", "records"), ("vault", "vault-room")],
                                                  actor="test")
    service.add_controller("beta", [("main", "branch")], actor="test")
    datadir = prepare_datadir(tmp_path / "alpha")
    _write_private(datadir.pepper_file, PEPPER)  # what joining does: the site's PINs are the site's digests
    _write_private(datadir.root / "secrets" / "site-password", password.encode())
    link = SiteLinkConfig(enabled=True, controller="alpha", host=site_db.server.host, port=site_db.server.port,
                          dbname=site_db.dbname, user=role, ca_file=str(site_db.server.ca_file), poll_seconds=2.0)
    config = dataclasses.replace(fast_config(), site_link=link)
    runners: list[DaemonRunner] = []

    def start(**link_changes) -> DaemonRunner:
        wanted = dataclasses.replace(config, site_link=dataclasses.replace(link, **link_changes))
        runner = DaemonRunner(datadir, wanted).start()
        runners.append(runner)
        return runner

    def door_of(controller: str, name: str) -> int:
        return next(d.id for d in service.list_doors() if d.controller == controller and d.name == name)

    try:
        yield SimpleNamespace(service=service, db=site_db, datadir=datadir, start=start, door_of=door_of)
    finally:
        for runner in reversed(runners):
            runner.stop()
        site_db.server.start()  # a test may have stopped it


def _site_events(site_db: SiteDb) -> list[tuple[int, str]]:
    with site_db.engine.connect() as conn:
        return [(int(r[0]), r[1]) for r in conn.execute(text(
            "SELECT e.seq, e.type FROM kunci.events e JOIN kunci.controllers c ON c.id = e.controller_id "
            "WHERE c.name = 'alpha' ORDER BY e.seq"))]


def _newest_revision(site_db: SiteDb) -> int:
    """The newest feed revision of controller alpha."""
    with site_db.engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(max(f.revision), 0) FROM kunci.feed f JOIN kunci.controllers c "
                                     "ON c.id = f.controller_id WHERE c.name = 'alpha'")).scalar())


def _local_seqs(datadir: DataDir) -> list[int]:
    return [e["seq"] for e in events(datadir) if e["seq"] is not None]


def _connected(runner: DaemonRunner) -> dict:
    return wait_for(lambda: (s := runner.status()["site"])["state"] == "connected" and s, what="site link connected")


def test_a_person_added_at_the_site_opens_only_their_door_and_a_revocation_arrives_at_once(site) -> None:
    runner = site.start()
    _connected(runner)
    site.service.add_group("main-staff", [site.door_of("alpha", "main")], actor="test")
    site.service.add_group("vault-staff", [site.door_of("alpha", "vault")], actor="test")
    mark = last_event_id(site.datadir)
    code, pin = site.service.add_person("Ani Secret", "main-staff", actor="test")
    other, other_pin = site.service.add_person("Budi Secret", "vault-staff", actor="test")
    newest = _newest_revision(site.db)
    wait_for(lambda: runner.status()["site"]["revision"] == newest, what="site people applied")
    # names stay at the site: the controller holds codes only
    assert not [e for e in events(site.datadir) if "Secret" in str(e)]
    mark = last_event_id(site.datadir)
    runner.press(pin + "#")
    granted = wait_event(site.datadir, "access.granted", mark, user=code)
    assert granted["method"] == "pin"
    mark = last_event_id(site.datadir)
    runner.press(other_pin + "#")  # their group grants alpha's vault, not this door
    assert wait_event(site.datadir, "access.denied", mark, user=other)["reason"] == "door_not_allowed"
    # revocation: from the site's commit to the sealed sync event on the controller
    mark = last_event_id(site.datadir)
    started = time.monotonic()
    site.service.revoke(code, actor="test")
    wait_for(lambda: [e for e in events(site.datadir, mark) if e["type"] == "admin.site_sync"], timeout=30,
             interval=0.01, what="revocation applied")
    elapsed = time.monotonic() - started
    assert elapsed <= 2.0, f"revocation took {elapsed:.2f} s to reach the controller"
    mark = last_event_id(site.datadir)
    runner.press(pin + "#")  # a revoked person's digest is deleted at the site, so here too: an unknown PIN
    assert wait_event(site.datadir, "access.denied", mark)["reason"] == "unknown_credential"
    assert not [e for e in events(site.datadir, mark) if e["type"] == "access.granted"]
    # every sealed event reaches the site, once, in seq order
    wait_for(lambda: [s for s, _ in _site_events(site.db)] == _local_seqs(site.datadir), what="events uploaded")


def test_an_upload_repeated_from_a_lost_cursor_stores_each_event_once(site) -> None:
    runner = site.start()
    _connected(runner)
    for cmd in ("site.apply", "site.uploaded", "site.stale"):  # the link's commands are internal to the daemon
        with pytest.raises(KunciError, match="unknown command"):
            runner.call(cmd, rows=[], revision=10**6, seq=10**6, stale=True)
    wait_for(lambda: len(_site_events(site.db)) == len(_local_seqs(site.datadir)) > 0, what="first upload")
    runner.stop()
    execute(site.datadir, "UPDATE site_sync SET uploaded_seq = 0")  # as if the cursor had never been written
    runner = site.start()
    wait_for(lambda: runner.status()["site"]["uploaded_seq"] == max(_local_seqs(site.datadir)), what="re-upload")
    seqs = [s for s, _ in _site_events(site.db)]
    assert seqs == _local_seqs(site.datadir) == sorted(set(seqs))


def test_a_controller_away_catches_up_exactly_once_in_order(site) -> None:
    runner = site.start()
    _connected(runner)
    runner.stop()
    # while the controller is away: a group, people, a suspension, a removal by regrouping
    site.service.add_group("main-staff", [site.door_of("alpha", "main")], actor="test")
    site.service.add_group("vault-staff", [site.door_of("alpha", "vault")], actor="test")
    a, _ = site.service.add_person("A", "main-staff", actor="test")
    b, b_pin = site.service.add_person("B", "main-staff", actor="test")
    site.service.suspend(a, actor="test")
    site.service.set_group(b, "vault-staff", actor="test")
    newest = _newest_revision(site.db)
    mark = last_event_id(site.datadir)
    runner = site.start()
    wait_for(lambda: runner.status()["site"]["revision"] == newest, what="caught up")
    syncs = [e["detail"] for e in events(site.datadir, mark) if e["type"] == "admin.site_sync"]
    assert syncs and syncs[0]["to"] == newest  # one batch, from where it was to the newest row
    # the state is the site's final one
    mark = last_event_id(site.datadir)
    runner.press(b_pin + "#")
    assert wait_event(site.datadir, "access.denied", mark, user=b)["reason"] == "door_not_allowed"
    runner.stop()
    runner = site.start()
    _connected(runner)
    assert not [e for e in events(site.datadir, mark) if e["type"] == "admin.site_sync"]  # nothing applied twice


def test_past_the_staleness_bound_site_people_are_refused_until_the_site_is_back(site) -> None:
    runner = site.start(max_stale_seconds=2.0, stale_action="deny_site_people")
    _connected(runner)
    site.service.add_group("main-staff", [site.door_of("alpha", "main")], actor="test")
    code, pin = site.service.add_person("Ani", "main-staff", actor="test")
    newest = _newest_revision(site.db)
    wait_for(lambda: runner.status()["site"]["revision"] == newest, what="the person applied")
    site.db.engine.dispose()
    site.db.server.stop()
    try:
        wait_for(lambda: "site_stale" in {a["kind"] for a in runner.status()["alarms"]}, what="the stale alarm")
        assert runner.status()["site"]["stale"]
        mark = last_event_id(site.datadir)
        runner.press(pin + "#")
        assert wait_event(site.datadir, "access.denied", mark, user=code)["reason"] == "site_stale"
    finally:
        site.db.server.start()
    wait_for(lambda: not runner.status()["site"]["stale"], what="fresh again")
    assert "site_stale" not in {a["kind"] for a in runner.status()["alarms"] if not a["cleared"]}
    mark = last_event_id(site.datadir)
    runner.press(pin + "#")
    assert wait_event(site.datadir, "access.granted", mark, user=code)["method"] == "pin"
