"""The one enrolment step list (controller/core/enrolment.py) and the one step timeout from config."""

from __future__ import annotations

import pytest

from controller.config import SensorConfig, parse_config
from controller.core.enrolment import EnrolStep, progress_wait_seconds
from controller.errors import ConfigError
from drivers.fingerprint import ENROLL_STEPS


def test_the_driver_reports_exactly_the_steps_the_daemon_cli_and_web_know_in_order():
    assert [EnrolStep(name) for name in ENROLL_STEPS] == list(EnrolStep)
    assert all(step.text.endswith((".", "...")) for step in EnrolStep)


def test_clients_wait_longer_for_each_line_than_the_daemon_waits_for_the_person():
    sensor = SensorConfig()
    assert sensor.enroll_step_timeout_seconds == 30.0
    wait = progress_wait_seconds(sensor.enroll_step_timeout_seconds, sensor.command_timeout_seconds)
    assert wait > sensor.enroll_step_timeout_seconds + 3 * sensor.command_timeout_seconds


def test_the_step_timeout_is_read_from_the_configuration_file():
    config = parse_config({"sensor": {"enroll_step_timeout_seconds": 45}})
    assert config.sensor.enroll_step_timeout_seconds == 45.0
    with pytest.raises(ConfigError, match="enroll_step_timeout_seconds"):
        parse_config({"sensor": {"enroll_step_timeout_seconds": 1}})
