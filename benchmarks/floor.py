"""The floor: what the data directory's disk costs before Kunci adds anything (docs/performance.md "Method").

A granted decision is not final until its ``access.granted`` event is committed with
``synchronous=FULL`` ("no log, no entry"), so the disk's durable-commit time is a floor under
every W1/W9 decision that no code can go below. This workload measures it on the file system of
the seeded data directory, in its own fresh process, in the same run as the decisions:

* ``fsync``: ``os.write`` of 200 bytes to a file + ``os.fsync`` (the plain flush);
* ``commit``: one ``INSERT`` of a 200-byte row + ``COMMIT`` in a SQLite database in WAL mode with
  ``synchronous=FULL`` (the same pragmas as :func:`controller.store.db.make_engine`), through
  the standard ``sqlite3`` module: the cheapest way Python can make one event durable.

Each repetition makes ``OPS_PER_RUN`` of each, interleaved and ``GAP_S`` apart (a door decides
at human pace; back-to-back fsyncs of a warm device are faster than the ones a decision sees, and on
this VM so is a commit 5 ms after the previous one).
The scratch files live in a temporary directory inside the data directory and are removed; the
door database is never opened. :func:`overhead` turns a decision figure and the floor into the
overhead the targets are on.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

#: Durable operations of each kind per repetition.
OPS_PER_RUN = 100
#: Pause between two operations, seconds. Measured on the bench VM (docs/performance.md "The floor in every
#: run"): a FULL commit after 5 ms of idle took 0.46-0.55 ms median, after 20, 50 or 100 ms 0.65-0.72 ms (the
#: figure levels off from 20 ms); a door's decisions are seconds apart, so the floor is taken at 50 ms.
GAP_S = 0.05
#: Bytes written per operation (about one event row).
PAYLOAD = b"x" * 200


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def measure(root: Path, repetitions: int, ops: int = OPS_PER_RUN) -> dict[str, list[float]]:
    """``{"fsync": [ms...], "commit": [ms...]}`` measured in a scratch directory inside ``root``."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-floor-", dir=root))
    samples: dict[str, list[float]] = {"fsync": [], "commit": []}
    try:
        fd = os.open(scratch / "fsync.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        conn = sqlite3.connect(scratch / "floor.db", isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)")
            for _ in range(repetitions):
                for _ in range(ops):
                    t0 = time.perf_counter()
                    os.write(fd, PAYLOAD)
                    os.fsync(fd)
                    samples["fsync"].append(_ms(time.perf_counter() - t0))
                    time.sleep(GAP_S)
                    t0 = time.perf_counter()
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute("INSERT INTO t (v) VALUES (?)", (PAYLOAD,))
                    conn.execute("COMMIT")
                    samples["commit"].append(_ms(time.perf_counter() - t0))
                    time.sleep(GAP_S)
        finally:
            conn.close()
            os.close(fd)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return samples


def floor_workload(root: Path, runs: int, seed_value: int) -> dict[str, Any]:
    """FLOOR: ``runs`` repetitions of ``OPS_PER_RUN`` fsyncs and FULL commits on ``root``'s file system."""
    samples = measure(Path(root), max(1, runs))
    return {"records": [{
        "workload": "FLOOR", "primary": "commit",
        "metrics": {name: {"unit": "ms", "samples": vals} for name, vals in samples.items()},
        "values": {"ops_per_repetition": OPS_PER_RUN, "gap_ms": _ms(GAP_S), "payload_bytes": len(PAYLOAD),
                   "repetitions": max(1, runs), "filesystem_of": str(root)},
    }]}


#: Summary fields that are quantiles (the overhead is taken quantile by quantile).
QUANTILES = ("median", "p95", "p99")


def overhead(decision: dict[str, Any], floor: dict[str, Any]) -> dict[str, Any]:
    """A decision figure minus the floor, quantile by quantile: ``{median, p95, p99, runs, unit, floor}``.

    ``decision`` and ``floor`` are summaries (:func:`benchmarks.stats.summarize`). The p99 overhead is
    the decision's p99 minus the floor's p99: a decision contains one durable commit, so the disk's own
    slow tail is in both and is not counted as Kunci's. ``floor`` names the floor's median.
    """
    out: dict[str, Any] = {"runs": decision.get("runs", 0), "unit": decision.get("unit", "ms"),
                           "floor_median": floor.get("median"), "floor_p99": floor.get("p99")}
    for q in QUANTILES:
        d, f = decision.get(q), floor.get(q)
        out[q] = None if d is None or f is None else round(d - f, 4)
    out["min"] = out["max"] = None  # not defined for a difference of distributions
    return out
