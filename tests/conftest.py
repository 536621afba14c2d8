"""Shared fixtures: gpiozero's MockFactory (installed and reset per test) and a fresh data directory."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

# Never let gpiozero probe for real GPIO libraries on a test machine.
os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")

# The real PostgreSQL server of the site tests (pg_server, pg_clean), usable by every test directory.
pytest_plugins = ["tests.pg_fixture"]


#: Expected seconds of a long test (marked ``slow`` or ``e2e``) without its own ``slow(seconds=...)``.
LONG_TEST_SECONDS = 30


def _long_seconds(item: pytest.Item) -> float:
    """0 for a short test; else what it is expected to take (``@pytest.mark.slow(seconds=N)``, or the default)."""
    slow, e2e = item.get_closest_marker("slow"), item.get_closest_marker("e2e")
    if slow is None and e2e is None:
        return 0
    return float(slow.kwargs.get("seconds", LONG_TEST_SECONDS)) if slow is not None else LONG_TEST_SECONDS


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long tests first, spread over the pytest-xdist workers so that no worker runs them one after another.

    ``make test`` runs ``--dist worksteal``: it gives worker k the k-th of ``n`` equal contiguous slices of this
    order, and an idle worker steals from the tail of a busy one. So the long tests (marked ``slow`` or ``e2e``),
    each module kept whole (a module shares its demo), are dealt heaviest first to the slice with the least
    long work, and stand at the head of their slice; the short tests fill the rest, in collected order.
    Measured before (all long tests in one slice): the 6-minute site outage test started 7.5 minutes into the
    run and ended it (``KUNCI_TEST_TIMELINE``, ``tests/timeline.py``).
    """
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    long_modules: dict[str, list[pytest.Item]] = {}
    short: list[pytest.Item] = []
    for item in items:
        if _long_seconds(item):
            long_modules.setdefault(item.nodeid.split("::")[0], []).append(item)
        else:
            short.append(item)
    if workers <= 1:
        items[:] = [i for group in long_modules.values() for i in group] + short
        return
    slices: list[list[pytest.Item]] = [[] for _ in range(workers)]
    load = [0.0] * workers
    for group in sorted(long_modules.values(), key=lambda g: -sum(map(_long_seconds, g))):
        k = load.index(min(load))
        slices[k].extend(sorted(group, key=lambda i: -_long_seconds(i)))
        load[k] += sum(map(_long_seconds, group))
    # The slice sizes worksteal cuts (worker k gets len(pending) // workers-left), filled up with short tests.
    remaining, ordered = len(items), []
    for k in range(workers):
        size = remaining // (workers - k)
        fill = max(0, size - len(slices[k]))
        ordered += slices[k] + short[:fill]
        short = short[fill:]
        remaining -= size
    items[:] = ordered + short


_TIMELINE = os.environ.get("KUNCI_TEST_TIMELINE")


def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """With ``KUNCI_TEST_TIMELINE=FILE``, note when each test starts (wall clock, worker): where the run's time
    goes, for ordering the suite (``tests/timeline.py`` reads it). Returns None: pytest runs the test as usual."""
    if _TIMELINE:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        with open(_TIMELINE, "a", encoding="utf-8") as f:
            f.write(f"{time.time():.3f} {worker} start {item.nodeid}\n")


def pytest_runtest_logfinish(nodeid: str, location: tuple) -> None:
    if _TIMELINE:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        with open(_TIMELINE, "a", encoding="utf-8") as f:
            f.write(f"{time.time():.3f} {worker} end {nodeid}\n")


@pytest.fixture
def mock_factory():
    """Install gpiozero's MockFactory for one test; reset it afterwards (gpiozero's own pattern)."""
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    saved = Device.pin_factory
    factory = MockFactory()
    Device.pin_factory = factory
    try:
        yield factory
    finally:
        factory.reset()
        Device.pin_factory = saved


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty directory to use as ``DATA`` (not yet initialised)."""
    d = tmp_path / "data"
    d.mkdir()
    return d
