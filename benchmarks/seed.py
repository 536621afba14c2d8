"""Seeded data sets: N people with PINs, a few enrolled fingers, and a sealed log of E events.

:func:`seed` builds one data directory with ``kunci init``'s own code (secrets, migrated database,
TLS files), writes the bench configuration, then bulk-inserts in ONE transaction with SQLAlchemy
core ``executemany``:

* ``users``/``pin_credentials``: N active people ``U0001..``, in one access group whose schedule is
  open all week (so every decision walks the schedule path). PINs come from the production
  generator :func:`controller.store.pins.generate_pin` (blocklist applied) driven by a seeded
  ``random.Random``, redrawn on a digest collision exactly as :func:`controller.store.pins.issue_pin`
  does, and stored as :func:`controller.store.pins.pin_digest`.
* ``events``: E events over the last 365 days (the first N are the people's ``admin.user_added``),
  a realistic mix of grants, denials, door and exit events, chained with the real formula
  :func:`controller.store.audit.chain_mac`, so ``kunci audit verify`` passes on the result.
* ``finger_credentials`` + the simulated sensor's flash (``DATA/sim/sensor/slot-NNNN.tpl``, written
  by :class:`drivers.sim_sensor.PtySensorSimulator` itself) for a few people.
* one admin account for the web workload (argon2 "cheapest" parameters; login is not measured).

The PINs, finger labels and admin password are written to ``DATA/bench.json`` for the workloads:
this is test data, never a real site.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from controller.store import audit, db, keys, models, pins, staff
from controller.canonical import canonical_json
from controller.paths import DataDir
from controller.timefmt import iso_utc

log = logging.getLogger(__name__)

#: Name of the side file with what the workloads need to know about the data set.
INFO_FILE = "bench.json"
ADMIN_USER = "benchadmin"
ADMIN_PASSWORD = "bench-only password 4711 correct horse"
#: Rows per executemany call.
CHUNK = 20_000
#: Days the seeded log spans (ending a minute before seeding).
SPAN_DAYS = 365
#: People with an enrolled finger (slots 0..FINGERS-1).
FINGERS = 5
#: Lockout settings of the bench configuration, high enough that W1/W2 misses never lock the keypad.
BENCH_LOCKOUT_AFTER_FAILURES = 100
BENCH_ALARM_AFTER_FAILURES = 1000
BENCH_SUSPEND_AFTER_FAILURES_24H = 10000


@dataclass(frozen=True)
class SeedInfo:
    """What :func:`seed` made (also stored as ``DATA/bench.json``)."""

    root: str
    n: int
    events: int
    seed: int
    pin_length: int
    seconds: float


def pin_length_for(n: int) -> int:
    """Shortest PIN length (>= 6) whose keyspace rule (>= 1000 codes per PIN) admits ``n + 1`` people.

    The "+1" leaves room for W3 (one more person). 6 digits allow at most 1,000 PINs, so N = 1,000
    gets 7 digits and N = 10,000 gets 8; the length does not change the cost of a lookup (one HMAC of
    a few bytes and one indexed probe).
    """
    length = 6
    while not pins.keyspace_allows(length, n + 1):
        length += 1
    return length


def bench_config_text(n: int) -> str:
    """The ``kunci.toml`` of a bench data directory (simulated hardware; lockout raised, see docs)."""
    length = pin_length_for(n)
    return "\n".join([
        "# Written by python -m benchmarks (benchmarks/seed.py); simulated hardware, bench data only.",
        "simulated = true",
        "",
        "[site]",
        f"max_users = {n + 1}",
        "",
        "[pin]",
        f"length_digits = {length}",
        f"max_entry_digits = {max(12, length)}",
        f"lockout_after_failures = {BENCH_LOCKOUT_AFTER_FAILURES}",
        f"alarm_after_failures = {BENCH_ALARM_AFTER_FAILURES}",
        f"suspend_after_failures_24h = {BENCH_SUSPEND_AFTER_FAILURES_24H}",
        "",
        "[web]",
        "port = 18443",
        "",
    ])


def _draw_pins(rng: random.Random, pepper: bytes, n: int, length: int) -> tuple[list[str], list[bytes]]:
    """``n`` distinct PINs from the production generator, with their digests (collisions redrawn)."""
    seen: set[bytes] = set()
    out_pins: list[str] = []
    digests: list[bytes] = []
    while len(out_pins) < n:
        pin = pins.generate_pin(length, rng)
        digest = pins.pin_digest(pepper, pin)
        if digest in seen:
            continue
        seen.add(digest)
        out_pins.append(pin)
        digests.append(digest)
    return out_pins, digests


def _detail(obj: dict[str, Any] | None) -> str | None:
    """Detail JSON text in the form :mod:`controller.store.audit` stores it."""
    if obj is None:
        return None
    return canonical_json(obj)


_DENY_REASONS = ("unknown_credential",) * 7 + ("suspended", "expired", "outside_schedule", "locked_out")


def _event_kind(rng: random.Random, codes: list[str]) -> dict[str, Any]:
    """One event of the everyday mix (fields other than seq/time/mac)."""
    r = rng.random()
    base: dict[str, Any] = {"reason": None, "method": None, "user": None, "door": "main", "actor": None,
                            "score": None, "detail": None}
    if r < 0.55:
        finger = rng.random() < 0.3
        base.update(type="access.granted", method="finger" if finger else "pin", user=rng.choice(codes),
                    score=rng.randint(150, 249) if finger else None)
    elif r < 0.63:
        reason = rng.choice(_DENY_REASONS)
        base.update(type="access.denied", reason=reason, method="pin" if rng.random() < 0.8 else "finger",
                    user=None if reason == "unknown_credential" else rng.choice(codes))
    elif r < 0.78:
        base.update(type="door.opened")
    elif r < 0.93:
        base.update(type="door.closed")
    elif r < 0.98:
        base.update(type="exit.request")
    elif r < 0.99:
        base.update(type="admin.login", door=None, actor=ADMIN_USER)
    else:
        base.update(type="door.held", detail=_detail({"phase": "prealarm"}))
    return base


@contextmanager
def _bulk_pragmas(conn: Any) -> Iterator[None]:
    """Bulk-load settings on this one connection (set outside any transaction, as SQLite requires).

    ``synchronous = OFF``: bench data needs no fsync per page (the production FULL applies to every
    connection the workloads open); a 256 MB page cache speeds up the index builds.
    """
    raw = conn.connection.driver_connection
    raw.execute("PRAGMA synchronous = OFF")
    raw.execute("PRAGMA cache_size = -262144")
    try:
        yield
    finally:
        raw.execute("PRAGMA synchronous = FULL")
        raw.execute("PRAGMA cache_size = -2000")


def seed(root: Path, *, n: int, events: int, seed_value: int = 1) -> SeedInfo:
    """Create and fill the data directory ``root`` (must not exist yet); returns what was made.

    :param n: people (each with a PIN; the first :data:`FINGERS` drawn also get a finger).
    :param events: events in the log (at least ``n``: each person's ``admin.user_added`` is one).
    :param seed_value: seed of every random choice (same seed, same data set).
    """
    from controller.ops.initialise import initialise
    from drivers.sim_sensor import PtySensorSimulator

    started = time.perf_counter()
    rng = random.Random(seed_value)
    datadir = DataDir(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    initialise(datadir)
    datadir.config_file.write_text(bench_config_text(n))
    pepper = keys.load_pepper(datadir)
    key = keys.load_audit_key(datadir)
    length = pin_length_for(n)
    events = max(events, n)

    codes = [f"U{i:04d}" for i in range(1, n + 1)]
    pin_list, digests = _draw_pins(rng, pepper, n, length)
    now = datetime.now(timezone.utc) - timedelta(minutes=1)
    start = now - timedelta(days=SPAN_DAYS)
    step_us = int(SPAN_DAYS * 86400 * 1_000_000 / events)
    people_created = iso_utc(start)
    agreement = date(2025, 1, 2)

    engine = db.make_engine(datadir.default_db_url)
    with engine.connect() as conn, _bulk_pragmas(conn), conn.begin():
        sched_id = conn.execute(insert(models.Schedule.__table__).values(name="always", allow_on_holidays=True)
                                ).inserted_primary_key[0]
        conn.execute(insert(models.ScheduleWindow.__table__),
                     [{"schedule_id": sched_id, "weekday": d, "start_minute": 0, "end_minute": 1440} for d in range(7)])
        group_id = conn.execute(insert(models.AccessGroup.__table__).values(name="staff", schedule_id=sched_id)
                                ).inserted_primary_key[0]
        for lo in range(0, n, CHUNK):
            conn.execute(insert(models.User.__table__), [
                {"id": i + 1, "code": codes[i], "display_name": f"Person {i + 1}", "status": "active",
                 "group_id": group_id, "agreement_signed_on": agreement, "extended_unlock": False,
                 "created_at": people_created, "updated_at": people_created}
                for i in range(lo, min(n, lo + CHUNK))
            ])
            conn.execute(insert(models.PinCredential.__table__), [
                {"id": i + 1, "user_id": i + 1, "digest": digests[i], "created_at": people_created}
                for i in range(lo, min(n, lo + CHUNK))
            ])
        finger_people = sorted(rng.sample(range(n), min(FINGERS, n)))
        fingers = [{"slot": slot, "code": codes[i], "label": f"finger-{codes[i]}"}
                   for slot, i in enumerate(finger_people)]
        conn.execute(insert(models.FingerCredential.__table__), [
            {"user_id": i + 1, "slot": slot, "state": "active", "created_at": people_created}
            for slot, i in enumerate(finger_people)
        ])

        prev = audit.GENESIS_MAC
        rows: list[dict[str, Any]] = []
        t = start
        step = timedelta(microseconds=step_us)
        for seq in range(1, events + 1):
            if seq <= n:
                ev = {"type": "admin.user_added", "reason": None, "method": None, "user": codes[seq - 1],
                      "door": None, "actor": "cli", "score": None,
                      "detail": _detail({"agreement_signed_on": agreement.isoformat(), "group": "staff"})}
            else:
                ev = _event_kind(rng, codes)
            ev["seq"] = seq
            ev["time"] = iso_utc(t)
            prev = audit.chain_mac(key, prev, ev)
            rows.append({"seq": seq, "mac": prev, "time": ev["time"], "type": ev["type"], "reason": ev["reason"],
                         "method": ev["method"], "user_code": ev["user"], "door": ev["door"], "actor": ev["actor"],
                         "score": ev["score"], "detail": ev["detail"]})
            if len(rows) >= CHUNK:
                conn.execute(insert(models.Event.__table__), rows)
                rows = []
            t += step
        if rows:
            conn.execute(insert(models.Event.__table__), rows)
    session = db.session_factory(engine)()
    try:
        from argon2 import profiles

        staff.add_account(session, ADMIN_USER, ADMIN_PASSWORD, "admin", "cli",
                          hasher=staff.make_hasher(profiles.CHEAPEST))
        audit.seal_pending(session, key)
        session.commit()
    finally:
        session.close()
    with engine.connect() as conn:
        conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()

    flash = PtySensorSimulator(flash_dir=datadir.sim_dir / "sensor")
    for f in fingers:
        flash.store(f["slot"], f["label"])

    seconds = time.perf_counter() - started
    info = {
        "root": str(root), "n": n, "events": events, "seed": seed_value, "pin_length": length,
        "seconds": round(seconds, 2), "pins": dict(zip(codes, pin_list)), "fingers": fingers,
        "admin": {"username": ADMIN_USER, "password": ADMIN_PASSWORD},
        "seeded_until": iso_utc(now),
    }
    (root / INFO_FILE).write_text(json.dumps(info))
    log.info("seeded %s: %d people, %d events in %.1f s", root, n, events, seconds)
    return SeedInfo(str(root), n, events, seed_value, length, seconds)


def load_info(root: Path) -> dict[str, Any]:
    """The ``DATA/bench.json`` written by :func:`seed`."""
    return json.loads((Path(root) / INFO_FILE).read_text())


def _main() -> None:  # pragma: no cover - manual use: python -m benchmarks.seed DIR N EVENTS
    import sys

    logging.basicConfig(level=logging.INFO)
    info = seed(Path(sys.argv[1]), n=int(sys.argv[2]), events=int(sys.argv[3]))
    print(info)


if __name__ == "__main__":  # pragma: no cover
    _main()
