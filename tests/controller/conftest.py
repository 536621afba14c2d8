"""Fixtures for the door daemon's integration tests (see ``daemon_harness``)."""

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
    """``start_daemon(config=None, **runner_kwargs)`` starts a daemon on ``daemon_datadir``; all are
    stopped (relay off, ``daemon.stopped`` logged) when the test ends, whatever happened."""
    runners: list[DaemonRunner] = []

    def start(config: Config | None = None, **kwargs) -> DaemonRunner:
        runner = DaemonRunner(daemon_datadir, config or fast_config(), **kwargs)
        runners.append(runner)
        return runner.start()

    yield start
    for runner in reversed(runners):
        runner.stop()
