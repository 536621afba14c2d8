"""Fixtures for the fault suite (``pytest -m faults``; ``make faults`` runs it with full repetition counts).

The daemon fixtures are the ones of ``tests/controller`` (``daemon_harness``): a real
:class:`controller.daemon.loop.Daemon` on simulated hardware, in-process, so a test can read the strike
relay's MockPin history. Every module here sets ``pytestmark = pytest.mark.faults``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from controller.config import Config
from controller.paths import DataDir
from tests.controller.daemon_harness import DaemonRunner, fast_config, prepare_datadir


@pytest.fixture
def daemon_datadir(tmp_path: Path) -> DataDir:
    """A data directory prepared like ``kunci init`` does."""
    return prepare_datadir(tmp_path / "data")


@pytest.fixture
def start_daemon(daemon_datadir: DataDir) -> Iterator[Callable[..., DaemonRunner]]:
    """``start_daemon(config=None, **runner_kwargs)``: a daemon on ``daemon_datadir``, stopped at the end."""
    runners: list[DaemonRunner] = []

    def start(config: Config | None = None, **kwargs) -> DaemonRunner:
        runner = DaemonRunner(daemon_datadir, config or fast_config(), **kwargs)
        runners.append(runner)
        return runner.start()

    yield start
    for runner in reversed(runners):
        runner.stop()
