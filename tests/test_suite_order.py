"""The suite's order for pytest-xdist (tests/conftest.py): long tests spread over the workers' slices, heaviest
first, each module whole; nothing lost or repeated."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.conftest import pytest_collection_modifyitems


class Item:
    def __init__(self, nodeid: str, seconds: float | None = None) -> None:
        self.nodeid = nodeid
        self._slow = None if seconds is None else pytest.mark.slow(seconds=seconds).mark

    def get_closest_marker(self, name: str):
        return self._slow if name == "slow" else None


def _slices(items: list, workers: int) -> list[list]:
    """The slices pytest-xdist's worksteal cuts: worker k gets len(pending) // workers-left."""
    out, pending = [], list(items)
    for k in range(workers):
        size = len(pending) // (workers - k)
        out.append(pending[:size])
        pending = pending[size:]
    return out


def test_long_tests_are_spread_over_the_slices_heaviest_first_modules_whole() -> None:
    items = [Item(f"tests/short_{i}.py::t") for i in range(100)]
    items += [Item("tests/site.py::outage", 360), Item("tests/alerts.py::down", 130)]
    items += [Item(f"tests/browser.py::t{i}", 30) for i in range(4)]  # 120 s, one module
    items += [Item(f"tests/e2e_{i}.py::t", 30) for i in range(6)]
    before = list(items)
    pytest_collection_modifyitems(SimpleNamespace(workerinput={"workercount": 4}), items)

    assert sorted(map(id, items)) == sorted(map(id, before))  # the same tests, once each
    slices = _slices(items, 4)
    heads = [s[0].nodeid for s in slices]
    assert heads[0] == "tests/site.py::outage" and "tests/alerts.py::down" in heads
    assert all(s[0]._slow is not None for s in slices)  # every worker starts with a long test
    browser = [k for k, s in enumerate(slices) for i in s if i.nodeid.startswith("tests/browser.py")]
    assert len(set(browser)) == 1  # the module stays on one worker
    load = [sum(i._slow.kwargs["seconds"] for i in s if i._slow) for s in slices]
    assert max(load) == 360 and sorted(load)[:3] == [130, 150, 150]


def test_without_workers_long_tests_come_first() -> None:
    items = [Item("tests/a.py::t"), Item("tests/b.py::t", 60), Item("tests/c.py::t")]
    pytest_collection_modifyitems(SimpleNamespace(), items)
    assert [i.nodeid for i in items] == ["tests/b.py::t", "tests/a.py::t", "tests/c.py::t"]
