"""Shared fixtures: gpiozero's MockFactory (installed and reset per test) and a fresh data directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Never let gpiozero probe for real GPIO libraries on a test machine.
os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")


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
