"""Store workloads: W3 (add one more person), W6 (entry-log queries and the full CSV export) and W11
(the PIN lookup's time for a hit, a near miss and a far miss)."""

from __future__ import annotations

import gc
import random
import time
import tracemalloc
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from benchmarks.seed import load_info
from benchmarks.stats import rss_mb
from controller.config import load_config
from controller.paths import DataDir
from controller.store import audit, db, eventlog, hotpath, keys, people, pins
from controller.timefmt import utcnow


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def w3_add_person(root: Path, runs: int, seed_value: int) -> dict[str, Any]:
    """W3: ``people.add_user`` + ``pins.issue_pin`` + commit, one transaction per new person.

    Each run adds one person (so the last run sees N + runs - 1 people). The PIN length is the
    data set's ``pin.length_digits``; ``issue_pin`` draws with ``secrets.SystemRandom`` as in production.
    """
    datadir = DataDir(Path(root))
    config = load_config(datadir.config_file)
    engine = db.open_database(datadir, config.store.url, busy_timeout_ms=config.store.busy_timeout_ms)
    pepper = keys.load_pepper(datadir)
    sessions = db.session_factory(engine)
    total: list[float] = []
    add_only: list[float] = []
    issue_only: list[float] = []
    commit_only: list[float] = []
    try:
        for i in range(runs):
            with sessions() as session:
                t0 = time.perf_counter()
                user = people.add_user(session, name=f"Bench newcomer {seed_value}-{i}",
                                       agreement_signed_on=date(2025, 1, 2), group="staff",
                                       require_agreement=config.site.require_agreement, actor="bench")
                t1 = time.perf_counter()
                pins.issue_pin(session, pepper, user, config.pin.length_digits)
                t2 = time.perf_counter()
                session.commit()
                t3 = time.perf_counter()
            total.append(_ms(t3 - t0))
            add_only.append(_ms(t1 - t0))
            issue_only.append(_ms(t2 - t1))
            commit_only.append(_ms(t3 - t2))
    finally:
        engine.dispose()
    return {"records": [{
        "workload": "W3", "primary": "add_person",
        "metrics": {"add_person": {"unit": "ms", "samples": total},
                    "people.add_user": {"unit": "ms", "samples": add_only},
                    "pins.issue_pin": {"unit": "ms", "samples": issue_only},
                    "commit": {"unit": "ms", "samples": commit_only}},
        "values": {"pin_length": config.pin.length_digits},
    }]}


def _readonly(root: Path) -> tuple[Any, Any]:
    datadir = DataDir(Path(root))
    config = load_config(datadir.config_file)
    engine = db.open_database(datadir, config.store.url, busy_timeout_ms=config.store.busy_timeout_ms)
    return engine, db.session_factory(engine, readonly=True)


def w6_log_queries(root: Path, runs: int, seed_value: int) -> dict[str, Any]:
    """W6 queries through :func:`controller.store.eventlog.query_events` (each run a new read session).

    ``user_last_50``: a random person's newest 50 events; ``denied_24h``: every denial of the last
    24 h (one page of up to 1,000); ``deep_page``: 50 events before an id 90 % of the way back;
    ``deep_page_user``: the same for one person.
    """
    info = load_info(root)
    rng = random.Random(seed_value)
    codes = list(info["pins"])
    engine, sessions = _readonly(root)
    gc.collect()
    gc.freeze()  # these are the web's queries: `kunci web` freezes its start-up heap (controller/cli/web_cmd.py)
    samples: dict[str, list[float]] = {"user_last_50": [], "denied_24h": [], "deep_page": [], "deep_page_user": []}
    counts: dict[str, int] = {}
    try:
        with sessions() as s:
            max_id = s.scalar(eventlog.build_query(eventlog.EventFilter()).with_only_columns(
                eventlog.Event.id).limit(1)) or 1
        deep = max(2, int(max_id * 0.1))
        for _ in range(runs):
            code = rng.choice(codes)
            queries = {
                "user_last_50": lambda sess: eventlog.query_events(sess, user=code, limit=50),
                "denied_24h": lambda sess: eventlog.query_events(
                    sess, result="denied", since=utcnow() - timedelta(hours=24), limit=1000),
                "deep_page": lambda sess: eventlog.query_events(sess, before_id=deep, limit=50),
                "deep_page_user": lambda sess: eventlog.query_events(sess, user=code, before_id=deep, limit=50),
            }
            for name, query in queries.items():
                with sessions() as sess:
                    t0 = time.perf_counter()
                    rows = query(sess)
                    samples[name].append(_ms(time.perf_counter() - t0))
                    counts[name] = len(rows)
    finally:
        engine.dispose()
    return {"records": [{
        "workload": "W6", "primary": "user_last_50",
        "metrics": {name: {"unit": "ms", "samples": vals} for name, vals in samples.items()},
        "values": {"rows_last_run": counts, "events": info["events"], "deep_before_id": deep},
    }]}


class _CountingSink:
    """A text sink that keeps nothing: counts characters and samples RSS every ``every`` writes."""

    def __init__(self, every: int = 50_000) -> None:
        self.chars = 0
        self.writes = 0
        self.every = every
        self.rss: list[float] = []

    def write(self, text: str) -> int:
        self.chars += len(text)
        self.writes += 1
        if self.writes % self.every == 0:
            self.rss.append(rss_mb()["rss"])
        return len(text)


def w6_export(root: Path, runs: int, seed_value: int) -> dict[str, Any]:
    """W6 export: :func:`controller.store.eventlog.export_csv` of the whole log into a sink that keeps nothing.

    Reports seconds, rows/s, RSS growth during the export (sampled every 50,000 rows), and the
    tracemalloc peak of a 100,000-row and of a 20,000-row export (constant memory = equal peaks).
    """
    engine, sessions = _readonly(root)
    seconds: list[float] = []
    rates: list[float] = []
    growth: list[float] = []
    rows = 0
    rss_curve: list[float] = []
    try:
        for _ in range(max(1, runs)):
            sink = _CountingSink()
            before = rss_mb()["rss"]
            with sessions() as s:
                t0 = time.perf_counter()
                rows = eventlog.export_csv(s, sink, anchor=audit.head(s))  # type: ignore[arg-type]
                dt = time.perf_counter() - t0
            seconds.append(dt)
            rates.append(rows / dt)
            growth.append(max(sink.rss + [rss_mb()["rss"]]) - before)
            rss_curve = [round(x, 1) for x in sink.rss]
        peaks: dict[str, float] = {}
        for limit in (20_000, 100_000):
            with sessions() as s:
                tracemalloc.start()
                eventlog.export_csv(s, _CountingSink(), anchor=audit.head(s), limit=limit)  # type: ignore[arg-type]
                peaks[f"tracemalloc_peak_mb_{limit}_rows"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 2)
                tracemalloc.stop()
    finally:
        engine.dispose()
    return {"records": [{
        "workload": "W6", "primary": None,
        "metrics": {"rows_per_s": {"unit": "rows/s", "samples": rates},
                    "export_s": {"unit": "s", "samples": seconds},
                    "rss_growth": {"unit": "MB", "samples": growth}},
        "values": {"rows": rows, "rss_mb_every_50k_rows": rss_curve, **peaks},
    }]}


def _near_and_far(pin: str, taken: set[str], rng: random.Random) -> tuple[str, str]:
    """A wrong PIN sharing all but the last digit with ``pin``, and one sharing none of its digits' places."""
    near = [pin[:-1] + str((int(pin[-1]) + k) % 10) for k in range(1, 10)]
    near = [p for p in near if p not in taken]
    while True:
        far = "".join(str((int(d) + rng.randint(1, 9)) % 10) for d in pin)
        if far not in taken:
            return rng.choice(near) if near else far, far


def w11_pin_lookup_timing(root: Path, runs: int, seed_value: int) -> dict[str, Any]:
    """W11: the door's PIN lookup (:func:`controller.store.hotpath.person_by_digest` of
    :func:`controller.store.pins.pin_digest`) timed for a hit, a near miss (all digits but the last
    right) and a far miss, interleaved, ``runs`` x 100 of each.

    The lookup is an HMAC and one probe of a unique index on the digest, so how close a wrong PIN is
    cannot change its time; the figures show it (security.md T5: no timing oracle). A hit reads the
    person's row as well, so it may cost a little more than either miss, but never depends on the digits.
    """
    info = load_info(root)
    rng = random.Random(seed_value)
    datadir = DataDir(Path(root))
    pepper = keys.load_pepper(datadir)
    engine, sessions = _readonly(root)
    taken = set(info["pins"].values())
    samples: dict[str, list[float]] = {"hit": [], "near_miss": [], "far_miss": []}
    try:
        with sessions() as session:
            for _ in range(max(1, runs) * 100):
                pin = info["pins"][rng.choice(list(info["pins"]))]
                near, far = _near_and_far(pin, taken, rng)
                for kind, tried in (("hit", pin), ("near_miss", near), ("far_miss", far)):
                    t0 = time.perf_counter()
                    found = hotpath.person_by_digest(session, pins.pin_digest(pepper, tried))
                    samples[kind].append(_ms(time.perf_counter() - t0))
                    if (found is not None) != (kind == "hit"):
                        raise AssertionError(f"W11: {kind} lookup found {found!r}")
    finally:
        engine.dispose()
    near = sorted(samples["near_miss"])[len(samples["near_miss"]) // 2]
    far = sorted(samples["far_miss"])[len(samples["far_miss"]) // 2]
    return {"records": [{
        "workload": "W11", "primary": "near_miss",
        "metrics": {name: {"unit": "ms", "samples": vals} for name, vals in samples.items()},
        "values": {"near_over_far_median": round(near / far, 3) if far else None},
    }]}
