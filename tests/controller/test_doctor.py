"""kunci doctor on a good scratch installation (daemon running, simulated hardware) and on broken ones."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections import namedtuple
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from controller.cli import main
from controller.config import load_config
from controller.ops.doctor import DoctorOptions, exit_code, run_doctor
from controller.ops.doctor_findings import Finding, Status
from controller.ops.doctor_services import probe_sensor
from controller.ops.doctor_system import check_clock, check_relay_pin, check_serial_console, check_uart, parse_boot_config
from controller.ops.install import install_service
from tests.polling import wait_for
from controller.paths import DataDir

SENSOR_PASSWORD = 0x5A5A1234
GOOD_BOOT = "# test config.txt\n[all]\nenable_uart=1\ndtparam=strict_gpiod\ngpio=17=op,dl\ndtoverlay=disable-bt\n"
GOOD_CMDLINE = "console=tty1 root=PARTUUID=1234-02 rootfstype=ext4 fsck.repair=yes rootwait\n"


class _Accounts:
    def user_exists(self, name: str) -> bool:
        return False

    def group_exists(self, name: str) -> bool:
        return False

    def run(self, argv: Any) -> None:  # pragma: no cover - a scratch install never runs commands
        raise AssertionError(argv)


@dataclass
class Installation:
    root: Path
    datadir: DataDir

    @property
    def boot_config(self) -> Path:
        return self.root / "boot/firmware/config.txt"

    @property
    def cmdline(self) -> Path:
        return self.root / "boot/firmware/cmdline.txt"

    def set_config(self, old: str, new: str) -> None:
        path = self.datadir.config_file
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new, 1))


@pytest.fixture
def inst(tmp_path_factory: pytest.TempPathFactory) -> Installation:
    """A good installation in a scratch root: installer + simulated config + correct boot files.

    The root is a short temporary directory (not the test's own ``tmp_path``, which carries the test's
    name): ``root/var/lib/kunci/run/control.sock`` must stay within a Unix socket's 107 bytes under
    pytest-xdist's per-worker directories too.
    """
    root = tmp_path_factory.mktemp("i") / "root"
    install_service(root, PurePosixPath("/var/lib/kunci"), PurePosixPath("/opt/kunci"), accounts=_Accounts())
    installation = Installation(root, DataDir(root / "var/lib/kunci"))
    installation.set_config("simulated = false", "simulated = true")
    installation.set_config("\npassword = 0\n", f"\npassword = {SENSOR_PASSWORD}\n")
    installation.boot_config.parent.mkdir(parents=True)
    installation.boot_config.write_text(GOOD_BOOT)
    installation.cmdline.write_text(GOOD_CMDLINE)
    return installation


def doctor(inst: Installation, *, probe: Callable[..., Any] = probe_sensor, synced: bool | None = True) -> list[Finding]:
    return run_doctor(DoctorOptions(root=inst.root), clock_probe=lambda: synced, sensor_probe=probe)


def not_ok(findings: list[Finding]) -> dict[str, Status]:
    return {f.check: f.status for f in findings if f.status is not Status.OK}


@pytest.fixture
def running_daemon(inst: Installation) -> Iterator[Any]:
    """The real door daemon on the installation's data directory (simulated hardware) in a thread."""
    from controller.daemon.loop import Daemon

    daemon = Daemon(inst.datadir, load_config(inst.datadir.config_file))
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    assert daemon.ready.wait(20), "daemon did not start"
    # Ready does not wait for the sensor (it connects off the door loop): wait for its first answer.
    wait_for(lambda: daemon.submit("status")["sensor"]["state"] != "starting", 20, "the sensor's first answer")
    try:
        yield daemon
    finally:
        daemon.stop()
        thread.join(10)


# --- the good installation --------------------------------------------------------------------------


def test_good_installation_with_running_daemon_passes(inst: Installation, running_daemon: Any,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    findings = doctor(inst)
    assert not_ok(findings) == {}, [f for f in findings if f.status is not Status.OK]
    assert exit_code(findings) == 0
    sensor = next(f for f in findings if f.check == "sensor")
    assert "capacity 300" in str(sensor.message)
    # the command itself: one line per finding, exit 0
    assert main(["doctor", "--root", str(inst.root)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"doctor: 0 FAIL, 0 WARN, {len(findings)} OK"
    assert len(out) == len(findings) + 1 and all(line.startswith("OK ") for line in out[:-1])
    assert main(["doctor", "--root", str(inst.root), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and {f["check"] for f in report["findings"]} == {f.check for f in findings}


def test_daemon_not_running_is_a_warning(inst: Installation) -> None:
    findings = doctor(inst)
    assert not_ok(findings) == {"daemon": Status.WARN}
    sensor = next(f for f in findings if f.check == "sensor")
    assert sensor.status is Status.OK and "capacity 300" in str(sensor.message)  # probed the simulator directly
    assert exit_code(findings) == 1
    assert exit_code(findings, allow_warnings=True) == 0


# --- broken installations ------------------------------------------------------------------------------


def _chmod(rel: str, mode: int) -> Callable[[Installation], None]:
    return lambda inst: os.chmod(inst.datadir.root / rel if rel else inst.datadir.root, mode)


def _boot(text: str) -> Callable[[Installation], None]:
    return lambda inst: inst.boot_config.write_text(text)


def _cmdline(text: str) -> Callable[[Installation], None]:
    return lambda inst: inst.cmdline.write_text(text)


def _relay_pin_4(inst: Installation) -> None:
    inst.set_config("relay_pin = 17", "relay_pin = 4")


def _default_sensor_password(inst: Installation) -> None:
    inst.set_config(f"\npassword = {SENSOR_PASSWORD}\n", "\npassword = 0\n")


def _expired_cert(inst: Installation) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=400))
            .not_valid_after(now - timedelta(days=1)).sign(key, hashes.SHA256()))
    inst.datadir.tls_cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _corrupt_db(inst: Installation) -> None:
    path = inst.datadir.db_file
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 12 * page
    data[4 * page: 12 * page] = bytes((i * 37 + 11) % 256 for i in range(8 * page))  # header page intact
    path.write_bytes(bytes(data))


def _edited_event(inst: Installation) -> None:
    from controller.store import audit, db, keys

    engine = db.open_database(inst.datadir)
    try:
        key = keys.load_audit_key(inst.datadir)
        with db.session_factory(engine)() as session, session.begin():
            for reason in ("unknown_credential", "expired", "revoked"):
                audit.append(session, key, "access.denied", reason=reason, method="pin", door="main")
    finally:
        engine.dispose()
    with sqlite3.connect(inst.datadir.db_file) as conn:
        conn.execute("UPDATE events SET reason = 'granted' WHERE seq = 2")


FakeUsage = namedtuple("FakeUsage", "total used free")


def _disk_free(free_bytes: int) -> Callable[[Installation, pytest.MonkeyPatch], None]:
    def apply(inst: Installation, monkeypatch: pytest.MonkeyPatch) -> None:
        import shutil

        monkeypatch.setattr(shutil, "disk_usage", lambda path: FakeUsage(32 << 30, (32 << 30) - free_bytes, free_bytes))

    return apply


def _sensor_with(setup: Callable[[Any], None], password: int = SENSOR_PASSWORD) -> Callable[..., Any]:
    """A probe whose simulated module is changed by ``setup`` (muted, unplugged) or has another password."""
    from drivers.sim_sensor import PtySensorSimulator

    def simulator(config: Any, datadir: DataDir) -> Any:
        sim = PtySensorSimulator(password=password, address=config.sensor.address).start()
        setup(sim)
        return sim

    return lambda config, datadir: probe_sensor(config, datadir, simulator=simulator, timeout_seconds=0.5)


def _mute(sim: Any) -> None:
    sim.mute = True


def _nothing(sim: Any) -> None:
    return None


Case = namedtuple("Case", "breaks check status extra probe")
CASES = {
    "secrets-0644": Case(_chmod("secrets/pepper", 0o644), "secrets", Status.FAIL, {"install"}, None),
    "secrets-dir-0755": Case(_chmod("secrets", 0o755), "secrets", Status.FAIL, {"install", "audit"}, None),
    "data-dir-world-writable": Case(_chmod("", 0o777), "data_dir", Status.FAIL, {"install"}, None),
    "data-dir-group-writable": Case(_chmod("", 0o1770), "data_dir", Status.FAIL, {"install"}, None),
    "db-group-writable": Case(_chmod("kunci.db", 0o660), "web_access", Status.FAIL, {"install"}, None),
    "web-dir-open": Case(_chmod("web", 0o755), "web_access", Status.FAIL, {"install"}, None),
    "web-dir-closed-to-the-daemon": Case(_chmod("web", 0o700), "web_access", Status.FAIL, {"install"}, None),
    "relay-pin-4": Case(_relay_pin_4, "relay_pin", Status.FAIL, {"relay_boot_state"}, None),
    "no-strict-gpiod": Case(_boot("[all]\nenable_uart=1\ngpio=17=op,dl\n"), "strict_gpiod", Status.FAIL, set(), None),
    "strict-gpiod-after-overlay": Case(_boot("enable_uart=1\ngpio=17=op,dl\ndtoverlay=disable-bt\ndtparam=strict_gpiod\n"),
                                       "strict_gpiod", Status.FAIL, set(), None),
    "relay-energised-at-boot": Case(_boot("enable_uart=1\ndtparam=strict_gpiod\ngpio=17=op,dh\n"), "relay_boot_state",
                                    Status.FAIL, set(), None),
    "relay-boot-line-missing": Case(_boot("enable_uart=1\ndtparam=strict_gpiod\n"), "relay_boot_state", Status.WARN,
                                    set(), None),
    "uart-off": Case(_boot("dtparam=strict_gpiod\ngpio=17=op,dl\n"), "uart", Status.FAIL, set(), None),
    "serial-console": Case(_cmdline("console=serial0,115200 console=tty1 root=PARTUUID=1234-02 rootwait\n"),
                           "serial_console", Status.FAIL, set(), None),
    "expired-cert": Case(_expired_cert, "tls", Status.FAIL, set(), None),
    "corrupt-db": Case(_corrupt_db, "database", Status.FAIL, {"audit"}, None),
    "edited-event": Case(_edited_event, "audit", Status.FAIL, set(), None),
    "muted-sensor": Case(None, "sensor", Status.FAIL, set(), _sensor_with(_mute)),
    "unplugged-sensor": Case(None, "sensor", Status.FAIL, set(), _sensor_with(lambda sim: sim.unplug())),
    "wrong-sensor-password": Case(None, "sensor", Status.FAIL, set(), _sensor_with(_nothing, password=0x11111111)),
    "factory-sensor-password": Case(_default_sensor_password, "sensor_password", Status.WARN, set(), None),
    "disk-full": Case(_disk_free(10 << 20), "disk", Status.FAIL, set(), None),
    "disk-low": Case(_disk_free(200 << 20), "disk", Status.WARN, set(), None),
}


@pytest.mark.parametrize("name", list(CASES))
def test_broken_installation_is_reported(inst: Installation, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[name]
    if case.breaks is not None:
        if name.startswith("disk-"):
            case.breaks(inst, monkeypatch)
        else:
            case.breaks(inst)
    findings = doctor(inst, probe=case.probe or probe_sensor)
    problems = not_ok(findings)
    assert problems.get(case.check) is case.status, [f for f in findings if f.status is not Status.OK]
    finding = next(f for f in findings if f.check == case.check)
    assert finding.fix, "every problem comes with its fix"
    unexpected = set(problems) - {case.check, "daemon"} - case.extra
    assert not unexpected, [f for f in findings if f.check in unexpected]
    assert exit_code(findings) == 1


def test_wrong_password_finding_names_the_setting(inst: Installation) -> None:
    findings = doctor(inst, probe=_sensor_with(_nothing, password=0x11111111))
    sensor = next(f for f in findings if f.check == "sensor")
    assert "refused the configured password" in str(sensor.message)


def test_invalid_configuration_fails_and_skips_dependent_checks(inst: Installation) -> None:
    inst.set_config("unlock_seconds = 5.0", "unlock_seconds = 0.2")
    findings = doctor(inst)
    config = next(f for f in findings if f.check == "config")
    assert config.status is Status.FAIL and "door.unlock_seconds" in str(config.message)
    assert "relay_pin" not in {f.check for f in findings}
    assert exit_code(findings, allow_warnings=True) == 1


def test_cli_exit_code_and_fix_on_the_same_line(inst: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    _boot("enable_uart=1\ngpio=17=op,dl\n")(inst)
    assert main(["doctor", "--root", str(inst.root), "--allow-warnings"]) == 1
    line = next(line for line in capsys.readouterr().out.splitlines() if " strict_gpiod:" in line)
    assert line.startswith("FAIL strict_gpiod:") and "-- fix: add the line dtparam=strict_gpiod" in line


# --- pure checks -------------------------------------------------------------------------------------


def test_parse_boot_config_sections_overlays_and_gpio_ranges() -> None:
    cfg = parse_boot_config(
        "dtparam=audio=on,strict_gpiod\n[none]\nenable_uart=1\n[all]\ndtoverlay=disable-bt\ndtparam=foo=1\n"
        "dtoverlay=\ndtparam=i2c_arm=on # comment\ngpio=16-18,20=op,dl\n"
    )
    assert cfg.dtparams == {"audio": "on", "strict_gpiod": "", "i2c_arm": "on"}
    assert cfg.overlay_dtparams == {"foo": "1"}
    assert cfg.overlays == ("disable-bt",)
    assert "enable_uart" not in cfg.settings  # it sat in [none]
    assert {p: cfg.gpio[p] for p in (16, 17, 18, 20)} == {p: ("op", "dl") for p in (16, 17, 18, 20)}


@pytest.mark.parametrize(("pin", "status"), [(0, Status.FAIL), (4, Status.FAIL), (8, Status.FAIL), (9, Status.OK),
                                             (14, Status.FAIL), (15, Status.FAIL), (17, Status.OK), (27, Status.OK)])
def test_relay_pin_rule(pin: int, status: Status) -> None:
    assert check_relay_pin(pin).status is status


@pytest.mark.parametrize(
    ("trust", "simulated", "synced", "status"),
    [("auto", False, True, Status.OK), ("auto", False, False, Status.WARN), ("auto", False, None, Status.WARN),
     ("auto", True, False, Status.OK), ("always", False, False, Status.WARN), ("never", False, False, Status.OK)],
)
def test_clock_rule(trust: str, simulated: bool, synced: bool | None, status: Status) -> None:
    assert check_clock(trust, simulated, synced).status is status


def test_serial_getty_on_the_sensor_uart_fails() -> None:
    finding = check_serial_console(["console=tty1"], Path("/boot/firmware/cmdline.txt"), "/dev/serial0", True,
                                   ["serial-getty@ttyAMA0.service"])
    assert finding.status is Status.FAIL and "systemctl disable --now serial-getty@ttyAMA0.service" in str(finding.fix)
    usb = check_serial_console(["console=serial0,115200"], Path("c"), "/dev/ttyUSB0", True)
    assert usb.status is Status.OK  # a USB adapter is not the console's UART


def test_pi4_without_disable_bt_warns() -> None:
    boot = parse_boot_config("enable_uart=1\n")
    finding = check_uart(boot, Path("/boot/firmware/config.txt"), "/dev/serial0", True, "Raspberry Pi 4 Model B Rev 1.4")
    assert finding.status is Status.WARN and "dtoverlay=disable-bt" in str(finding.fix)
    assert check_uart(parse_boot_config("enable_uart=1\ndtoverlay=disable-bt\n"), Path("c"), "/dev/serial0", True,
                      "Raspberry Pi 4 Model B Rev 1.4").status is Status.OK


def test_web_access_checks_the_owners_the_daemon_relies_on(inst: Installation) -> None:
    """The door database must belong to the daemon's account and DATA/web to the web's (SO_PEERCRED trust)."""
    from controller.ops.doctor_files import Owners, check_web_access
    from controller.ops.install_plan import DOOR_USER, GROUP, WEB_USER

    me, my_group = os.getuid(), os.getgid()
    right = Owners({DOOR_USER: me, WEB_USER: me, "root": 0}, {GROUP: my_group, "root": 0})
    assert check_web_access(inst.datadir, right).status is Status.OK
    foreign_db = Owners({DOOR_USER: me + 1, WEB_USER: me, "root": 0}, {GROUP: my_group, "root": 0})
    finding = check_web_access(inst.datadir, foreign_db)
    assert finding.status is Status.FAIL and "kunci.db is not owned by kunci-door" in str(finding.message)
    foreign_web = Owners({DOOR_USER: me, WEB_USER: me + 1, "root": 0}, {GROUP: my_group, "root": 0})
    finding = check_web_access(inst.datadir, foreign_web)
    assert finding.status is Status.FAIL and "web is not owned by kunci-web:kunci" in str(finding.message)


def test_every_doors_relay_is_checked(inst: Installation) -> None:
    """[[doors]] (issue 16): a second door's relay pin and boot line are checked like the first door's."""
    text = inst.datadir.config_file.read_text()
    inst.datadir.config_file.write_text(text + '\n[[doors]]\nname = "vault"\n[doors.gpio]\nrelay_pin = 4\n')
    relays = [f for f in doctor(inst) if f.check in ("relay_pin", "relay_boot_state")]
    assert [(f.check, f.status) for f in relays] == [
        ("relay_pin", Status.OK), ("relay_boot_state", Status.OK),
        ("relay_pin", Status.FAIL), ("relay_boot_state", Status.WARN)]
    assert "GPIO4" in str(relays[2].message) and "gpio=4=op,dl" in str(relays[3].message)
