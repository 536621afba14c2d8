"""Shared fixtures: gpiozero's MockFactory (installed and reset per test) and a fresh data directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Never let gpiozero probe for real GPIO libraries on a test machine.
os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")

# The real PostgreSQL server of the site tests (pg_server, pg_clean), usable by every test directory.
pytest_plugins = ["tests.pg_fixture"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long tests (marked ``slow`` or ``e2e``) first, each group in its collected order.

    ``make test`` spreads the suite over pytest-xdist workers; started first, the long tests run while
    the short ones fill in around them, instead of one of them starting last and the run waiting on it.
    """
    items.sort(key=lambda item: 0 if item.get_closest_marker("slow") or item.get_closest_marker("e2e") else 1)


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
