"""Fixtures for the alert destinations: a real Mosquitto broker (tests/alerts/broker.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.alerts.broker import Broker, mosquitto_or_skip


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A started mosquitto with TLS and a password file on a free loopback port; stopped after the test."""
    binary = mosquitto_or_skip()
    directory = tmp_path / "mosquitto"
    directory.mkdir()
    running = Broker(directory, binary)
    running.start()
    try:
        yield running
    finally:
        running.stop()
