"""``kunci run`` and ``kunci demo`` as real processes: signals, exit codes, the log they leave behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from controller.cli.daemon_cmd import EXIT_CONFIG, EXIT_DATA_LOST, EXIT_GPIO_UNAVAILABLE
from controller.control.client import ControlClient, DaemonError
from controller.config import load_config
from controller.errors import DaemonUnavailable
from tests.controller.daemon_harness import add_person, events, matching, prepare_datadir, wait_event, wait_for

KUNCI = [sys.executable, "-m", "controller"]


def kunci(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KUNCI, *argv], capture_output=True, text=True, timeout=timeout, check=False)


def status_or_none(socket_path: Path) -> dict | None:
    try:
        return ControlClient(socket_path, timeout=5).call("status")
    except (DaemonUnavailable, DaemonError):  # not running yet, or "still starting" (socket up, not ready)
        return None


class Output:
    """Collects a child's output lines on a thread, so a test can wait for a line without blocking."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def join(self) -> None:
        self._thread.join(timeout=10)


@pytest.mark.faults
def test_sigterm_during_an_unlock_relocks_logs_daemon_stopped_and_exits_0(tmp_path: Path):
    datadir = prepare_datadir(tmp_path / "data")
    text = datadir.config_file.read_text()
    text = re.sub(r"(?m)^simulated = false$", "simulated = true", text)
    text = re.sub(r"(?m)^unlock_seconds = .*$", "unlock_seconds = 20.0", text)
    text = re.sub(r"(?m)^extended_unlock_seconds = .*$", "extended_unlock_seconds = 20.0", text)
    text = re.sub(r"(?m)^clock_trust = .*$", 'clock_trust = "always"', text)
    datadir.config_file.write_text(text)
    config = load_config(datadir.config_file)
    assert config.simulated and config.door.unlock_seconds == 20.0
    person = add_person(datadir, config)

    proc = subprocess.Popen([*KUNCI, "run", "--data", str(datadir.root)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    err = Output(proc.stderr)
    try:
        wait_for(lambda: status_or_none(datadir.socket_path) or proc.poll() is not None, timeout=60,
                 what="kunci run ready")
        assert proc.poll() is None, err.text
        assert kunci("sim", "press", person.pin + "#", "--data", str(datadir.root)).returncode == 0
        wait_event(datadir, "access.granted", user=person.code)
        assert wait_for(lambda: status_or_none(datadir.socket_path)["relay"], what="relay on")

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err.join()
    rows = events(datadir)
    assert rows[-1]["type"] == "daemon.stopped"
    granted = matching(rows, "access.granted")[0]
    assert rows[-1]["id"] > granted["id"]
    assert all(r["seq"] is not None for r in rows)  # every event sealed, the admin ones included
    # The relay driver logs when it drops the strike; it must come before the daemon says it stopped.
    assert re.search(r"strike relay closed \(locked\)[\s\S]*daemon stopped; relay off", err.text), err.text
    assert "Traceback" not in err.text
    verify = kunci("audit", "verify", "--data", str(datadir.root))
    assert verify.returncode == 0 and "audit chain OK" in verify.stdout, verify.stdout + verify.stderr
    assert not datadir.socket_path.exists()


BANNER_PERSON = re.compile(r"Person\s+(U\d{4,})\s+with PIN\s+(\d+)")
BANNER_DATA = re.compile(r"\(data: (.+)\)")


def test_kunci_demo_opens_with_the_printed_pin_and_stops_cleanly_on_ctrl_c(tmp_path: Path):
    data = tmp_path / "kunci-demo"
    proc = subprocess.Popen([*KUNCI, "demo", "--data", str(data), "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    out = Output(proc.stdout)
    try:
        wait_for(lambda: "Ctrl-C stops the demo" in out.text or proc.poll() is not None, timeout=90,
                 what="the demo banner")
        assert proc.poll() is None, out.text
        person = BANNER_PERSON.search(out.text)
        shown_data = BANNER_DATA.search(out.text)
        assert person and shown_data, out.text
        code, pin = person.groups()
        root = shown_data.group(1)
        assert Path(root) == data

        assert kunci("sim", "press", pin + "#", "--data", root).returncode == 0
        wait_for(lambda: '"access.granted"' in kunci("log", "--format", "json", "--data", root).stdout,
                 what="access.granted in kunci log")
        log = kunci("log", "--format", "json", "--data", root).stdout
        rows = [json.loads(line) for line in log.splitlines() if line.startswith("{") and '"type"' in line]
        granted = [r for r in rows if r.get("type") == "access.granted"]
        assert granted and granted[0]["method"] == "pin" and granted[0]["user"] == code
        assert pin not in re.sub(r"\.\d{6}Z", "", log)  # (microseconds of timestamps may look like a PIN)

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out.join()
    assert "kunci demo stopped; relay off" in out.text
    assert "Traceback" not in out.text


REPO = Path(__file__).resolve().parents[2]


def test_real_hardware_on_a_machine_without_gpio_exits_3_with_a_clear_error_and_is_not_restarted(tmp_path: Path):
    datadir = prepare_datadir(tmp_path / "data")
    assert not load_config(datadir.config_file).simulated  # `kunci init` writes real hardware
    # A pin library that cannot load, on any machine (a Raspberry Pi included): what a PC or a Pi without
    # python3-lgpio looks like to gpiozero.
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "kunci-test-no-such-pin-library"}
    proc = subprocess.run([*KUNCI, "run", "--data", str(datadir.root)], capture_output=True, text=True,
                          timeout=60, env=env, check=False)
    assert proc.returncode == EXIT_GPIO_UNAVAILABLE == 3, proc.stderr
    assert "kunci: hardware error: the GPIO pins cannot be used on this machine" in proc.stderr
    assert "kunci-test-no-such-pin-library" in proc.stderr and "simulated = true" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert matching(events(datadir), "daemon.started") == []

    unit = (REPO / "config" / "systemd" / "kunci-door.service").read_text()
    [line] = [line for line in unit.splitlines() if line.startswith("RestartPreventExitStatus=")]
    assert {EXIT_CONFIG, EXIT_GPIO_UNAVAILABLE, EXIT_DATA_LOST} <= {int(v) for v in line.split("=", 1)[1].split()}
