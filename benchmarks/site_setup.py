"""W13's site: one real PostgreSQL, ``kunci site init``, C controllers added and joined, P people, sealed events.

Everything here goes through the product's own code except two bulk shortcuts, both documented in
docs/performance.md ("W13: a site of 50 controllers"):

- :func:`seed_events`: E events per controller are inserted unsealed into its door database and chained by the
  store's real sealer (:func:`controller.store.audit.seal_pending`), with the daemon stopped (as at a restore);
- :func:`bulk_people`: P people in ONE site write that follows the feed rule exactly (advisory lock 16016, the
  people and their PIN digests, one ``person`` feed row per (controller, person) with the payload
  :func:`controller.site.feed.person_payload` builds, NOTIFY each controller) but as set SQL instead of P calls
  of ``SiteService.add_person`` (which would take minutes and is not what is measured).

The PostgreSQL server is the test suite's (:class:`tests.pg_server.PgServer`: a fresh cluster on loopback,
TLS ``verify-full`` with its own CA, scram-sha-256; ``fsync = off``, a test cluster's settings).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.stats import REPO
from controller.slow_stop import abort_for_stacks

#: Groups the people are spread over; each grants the door of every controller.
GROUPS = ("staff", "ops", "visitors-desk", "night")


@dataclass
class Controller:
    """One joined controller: its name, DATA and, while running, its ``kunci run`` process."""

    name: str
    data: Path
    proc: subprocess.Popen | None = None
    db: Any = None  # a read-only sqlite3 connection to DATA/kunci.db while measured

    @property
    def db_file(self) -> Path:
        return self.data / "kunci.db"


@dataclass
class Site:
    server: Any
    directory: Path
    service: Any
    controllers: list[Controller] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    service_conn: Any = None  # a superuser connection (autocommit) to the site database, for the measurements


def kunci_env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), GPIOZERO_PIN_FACTORY="mock")


def make_site(workdir: Path) -> Site:
    """Start a fresh PostgreSQL, make the site database (as a DBA would) and run ``kunci site init``."""
    from tests.pg_server import PgServer, postgres_bin_dir

    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (initdb not found): W13 needs a real server")
    server = PgServer(bin_dir, max_connections=300)
    server.start()
    owner, password = server.create_site_database("kunci")
    secret = workdir / "owner-password"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    site_dir = workdir / "site"
    proc = subprocess.run([sys.executable, "-m", "controller", "site", "init", "--site", str(site_dir),
                           "--host", server.host, "--port", str(server.port), "--user", owner,
                           "--password-file", str(secret), "--ca-file", str(server.ca_file)],
                          capture_output=True, text=True, timeout=300, env=kunci_env(), stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        server.destroy()
        raise RuntimeError(f"kunci site init failed: {proc.stdout}{proc.stderr}")
    from controller.site.service import SiteService

    return Site(server, site_dir, SiteService.for_site(site_dir))


def add_controller(site: Site, workdir: Path, index: int, rooms: int = 5) -> Controller:
    """``kunci init`` (simulated hardware), ``kunci site add-controller NAME --door main@roomK``, ``kunci site
    join``: the same functions those commands call, in this process (the CLI's startup, 150 times, is not measured)."""
    from controller.ops.initialise import initialise
    from controller.paths import DataDir
    from controller.site.bundle import Bundle, write_bundle
    from controller.site.join import join
    from controller.site.siteconf import load_site

    name = f"c{index:02d}"
    data = workdir / name
    datadir = DataDir(data)
    initialise(datadir)
    config = datadir.config_file
    text = config.read_text().replace("simulated = false", "simulated = true", 1)
    if os.environ.get("KUNCI_W13_KEYPAD") == "none":  # the attribution run: no 100 Hz keypad scan per daemon
        text = text.replace('type = "matrix"', 'type = "none"', 1)
    config.write_text(text)
    loaded = load_site(site.directory)
    db = loaded.database
    _cid, role, password = site.service.add_controller(name, [("main", f"room{index % rooms}")], actor="bench")
    bundle = workdir / f"{name}.bundle"
    write_bundle(bundle, Bundle(host=db.host, port=db.port, dbname=db.dbname, sslmode=db.sslmode,
                                ca_pem=db.ca_file.read_text() if db.ca_file else "", controller=name, user=role,
                                password=password, pepper=loaded.pepper().hex(), doors=("main",)))
    join(datadir, bundle)
    bundle.unlink()
    ctl = Controller(name, data)
    site.controllers.append(ctl)
    return ctl


def add_groups(site: Site) -> None:
    """:data:`GROUPS`, each granting every controller's door (``SiteService.add_group``: real feed rows)."""
    door_ids = [d.id for d in site.service.list_doors()]
    for name in GROUPS:
        site.service.add_group(name, door_ids, actor="bench")


def seed_events(ctl: Controller, count: int, rng: random.Random) -> int:
    """Add ``count`` decisions to the controller's log, sealed by the store's sealer; returns the head seq."""
    from sqlalchemy import insert, text

    from controller.paths import DataDir
    from controller.store import audit, db, keys, models
    from controller.timefmt import iso_utc, utcnow

    datadir = DataDir(ctl.data)
    key = keys.load_audit_key(datadir)
    engine = db.make_engine(datadir.default_db_url)
    session = db.session_factory(engine)()
    try:
        now = iso_utc(utcnow())
        rows = []
        for i in range(count):
            granted = rng.random() < 0.8
            rows.append({"time": now, "type": "access.granted" if granted else "access.denied",
                         "reason": None if granted else "unknown_credential", "method": "pin",
                         "user_code": f"U{rng.randint(1, 9999):04d}" if granted else None, "door": "main",
                         "actor": None, "score": None, "detail": None})
        for lo in range(0, len(rows), 1000):
            session.execute(insert(models.Event.__table__), rows[lo:lo + 1000])
        audit.seal_pending(session, key)
        session.commit()
        head = session.execute(text("SELECT max(seq) FROM events")).scalar()
    finally:
        session.close()
        engine.dispose()
    return int(head or 0)


def bulk_people(site: Site, count: int, rng: random.Random) -> dict[int, int]:
    """``count`` active people spread over :data:`GROUPS`, in one site write (module docstring); returns each
    controller id's newest revision."""
    from sqlalchemy import text

    from controller.site import feed as feeds
    from controller.site.siteconf import load_site
    from controller.store.pins import pin_digest
    from controller.store.validation import SITE_CODE_FLOOR

    loaded = load_site(site.directory)
    pepper = loaded.pepper()
    pins = rng.sample(range(1_000_000), count)
    codes = [f"U{SITE_CODE_FLOOR + i}" for i in range(1, count + 1)]  # the site's own range, as add_person
    engine = loaded.engine()
    try:
        with engine.begin() as conn:
            feed = feeds.Feed(conn)
            groups = dict(conn.execute(text("SELECT name, id FROM kunci.groups")).all())
            ids = conn.execute(text(
                "INSERT INTO kunci.people (code, display_name, group_id) SELECT c, 'Person ' || c, g "
                "FROM unnest(CAST(:codes AS text[]), CAST(:groups AS int[])) AS t(c, g) RETURNING id, code"),
                {"codes": codes, "groups": [groups[GROUPS[i % len(GROUPS)]] for i in range(count)]}).all()
            by_code = {code: pid for pid, code in ids}
            conn.execute(text("INSERT INTO kunci.pin_digests (person_id, digest) "
                              "SELECT * FROM unnest(CAST(:p AS int[]), CAST(:d AS bytea[]))"),
                         {"p": [by_code[c] for c in codes], "d": [pin_digest(pepper, f"{pin:06d}") for pin in pins]})
            conn.execute(text(
                "INSERT INTO kunci.feed (revision, controller_id, op, key, payload) "
                "SELECT nextval('kunci.revisions'), d.controller_id, 'person', p.code, jsonb_build_object("
                "'code', p.code, 'status', p.status, 'kind', p.kind, 'valid_from', p.valid_from, "
                "'valid_until', p.valid_until, 'group', g.name, 'pin_digest', encode(pd.digest, 'hex')) "
                "FROM kunci.people p JOIN kunci.groups g ON g.id = p.group_id "
                "JOIN kunci.pin_digests pd ON pd.person_id = p.id "
                "JOIN (SELECT DISTINCT gd.group_id, d.controller_id FROM kunci.group_doors gd "
                "      JOIN kunci.doors d ON d.id = gd.door_id) d ON d.group_id = p.group_id "
                "ORDER BY d.controller_id, p.code"))
            feed.newest = {int(c): int(r) for c, r in conn.execute(text(
                "SELECT controller_id, max(revision) FROM kunci.feed GROUP BY controller_id")).all()}
            feed.notify()
    finally:
        engine.dispose()
    site.codes = codes
    return feed.newest


def check_payload_matches_service(site: Site, code: str) -> bool:
    """The bulk feed row of ``code`` equals what :func:`controller.site.feed.person_payload` would send."""
    from sqlalchemy import text

    from controller.site import feed as feeds
    from controller.site.siteconf import load_site

    engine = load_site(site.directory).engine()
    try:
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT id FROM kunci.people WHERE code = :c"), {"c": code}).scalar_one()
            _key, payload = feeds.person_payload(conn, pid)
            stored = conn.execute(text("SELECT payload FROM kunci.feed WHERE key = :c AND op = 'person' "
                                       "ORDER BY revision LIMIT 1"), {"c": code}).scalar_one()
    finally:
        engine.dispose()
    stored = stored if isinstance(stored, dict) else json.loads(stored)
    return stored == payload


def start_daemons(site: Site, logs: Path) -> float:
    """``kunci run --data DATA`` for every controller (all launched at once); seconds to launch them."""
    t0 = time.perf_counter()
    logs.mkdir(exist_ok=True)
    for ctl in site.controllers:
        with (logs / f"{ctl.name}.out").open("a") as out:
            ctl.proc = subprocess.Popen([sys.executable, "-m", "controller", "run", "--data", str(ctl.data)],
                                        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        env=kunci_env())
    return time.perf_counter() - t0


def stop_daemons(site: Site) -> None:
    for ctl in site.controllers:
        if ctl.proc is not None and ctl.proc.poll() is None:
            ctl.proc.terminate()
    for ctl in site.controllers:
        if ctl.proc is not None:
            try:
                ctl.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:  # SIGABRT first: the daemon writes its threads' stacks to its log
                print(f"W13: {ctl.name} did not stop within 60 s of SIGTERM; aborted (stacks in its log)",
                      file=sys.stderr, flush=True)
                abort_for_stacks(ctl.proc)
            ctl.proc = None


def destroy(site: Site) -> None:
    stop_daemons(site)
    for ctl in site.controllers:
        if ctl.db is not None:
            ctl.db.close()
    site.server.destroy()
