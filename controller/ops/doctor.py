"""``kunci doctor``: check a real installation and say what to fix (issue 7).

Each check returns one :class:`~controller.ops.doctor_findings.Finding` (``OK``, ``WARN`` or ``FAIL``, a
message and the fix). The checks are functions over paths, file text and values, so tests run them against
fake boot files and a scratch installation; they live by area in :mod:`controller.ops.doctor_system` (boot
files, GPIO, UART, clock), :mod:`controller.ops.doctor_files` (installation, DATA, secrets, web, TLS, disk) and
:mod:`controller.ops.doctor_services` (configuration, database, audit, daemon, sensor). :func:`run_doctor`
here runs them all in a fixed order.

Paths are those of the target system; ``root`` says where its ``/`` is (``/`` for the real
system, or the scratch root ``kunci install-service --root`` wrote). The boot files default to
``/boot/firmware/config.txt`` and ``/boot/firmware/cmdline.txt`` (Raspberry Pi OS Bookworm),
falling back to ``/boot/config.txt`` and ``/boot/cmdline.txt`` (older releases).

Check names (stable; the ``--json`` output uses them): ``config``, ``install``, ``data_dir``,
``secrets``, ``relay_pin``, ``strict_gpiod``, ``relay_boot_state``, ``uart``, ``serial_console``,
``sensor``, ``sensor_password``, ``clock``, ``tls``, ``disk``, ``database``, ``audit``, ``daemon``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from controller.config import Config
from controller.errors import KunciError
from controller.i18n import T
from controller.ops.doctor_files import (
    Owners,
    check_data_dir,
    check_disk,
    check_install,
    check_secrets,
    check_tls,
    check_web_access,
)
from controller.ops.doctor_findings import Finding, Status, fail, warn
from controller.ops.doctor_services import (
    check_audit,
    check_config,
    check_daemon,
    check_database,
    check_sensor,
    probe_sensor,
)
from controller.ops.doctor_system import (
    board_model,
    check_clock,
    check_relay_boot_state,
    check_relay_pin,
    check_sensor_password,
    check_serial_console,
    check_strict_gpiod,
    check_uart,
    getty_units,
    parse_boot_config,
    parse_cmdline,
)
from controller.paths import DEFAULT_DATA_DIR, DataDir

log = logging.getLogger(__name__)


# --- running everything ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DoctorOptions:
    """Where to look. Every path is a path on the target system, below ``root``.

    :param root: the target's ``/`` (default ``/``, the real system).
    :param data: data directory (default ``$KUNCI_DATA``, else ``/var/lib/kunci``).
    :param boot_config: ``config.txt`` (default ``/boot/firmware/config.txt``, else ``/boot/config.txt``).
    :param cmdline: ``cmdline.txt`` (default ``/boot/firmware/cmdline.txt``, else ``/boot/cmdline.txt``).
    """

    root: Path = Path("/")
    data: Path | None = None
    boot_config: Path | None = None
    cmdline: Path | None = None


def _under(root: Path, path: Path) -> Path:
    return root / str(Path(path).absolute()).lstrip("/")


def _boot_file(root: Path, explicit: Path | None, name: str) -> Path:
    if explicit is not None:
        return _under(root, explicit)
    modern = _under(root, Path("/boot/firmware") / name)
    legacy = _under(root, Path("/boot") / name)
    return legacy if not modern.exists() and legacy.exists() else modern


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def run_doctor(
    options: DoctorOptions,
    *,
    clock_probe: Callable[[], bool | None] | None = None,
    sensor_probe: Callable[[Config, DataDir], Any] = probe_sensor,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> list[Finding]:
    """Run every check; returns the findings in report order.

    :param clock_probe: kernel clock synchronised? (default :func:`controller.daemon.clock.kernel_clock_synchronised`).
    :param sensor_probe: opens the sensor when the daemon is not running (default :func:`probe_sensor`).
    :param now: aware UTC clock for certificate dates.
    """
    from controller.daemon.clock import kernel_clock_synchronised

    root = Path(options.root).absolute()
    real = root == Path("/")
    data = options.data or Path(os.environ.get("KUNCI_DATA") or DEFAULT_DATA_DIR)
    datadir = DataDir(_under(root, data))
    boot_path = _boot_file(root, options.boot_config, "config.txt")
    cmdline_path = _boot_file(root, options.cmdline, "cmdline.txt")
    model = board_model(root)
    owners = Owners.lookup() if real else None

    config_finding, config = check_config(datadir, model)
    findings = [config_finding, check_install(root, real, owners), check_data_dir(datadir, owners),
                check_secrets(datadir, owners), check_web_access(datadir, owners)]
    daemon_finding, status = check_daemon(datadir.socket_path)
    boot_text, cmdline_text = _read(boot_path), _read(cmdline_path)
    boot = parse_boot_config(boot_text) if boot_text is not None else None
    cmdline = parse_cmdline(cmdline_text) if cmdline_text is not None else None
    if config is not None:
        sensor = config.sensor
        findings += [
            check_relay_pin(config.gpio.relay_pin),
            check_strict_gpiod(boot, boot_path, cmdline),
            check_relay_boot_state(boot, boot_path, config.gpio.relay_pin, config.gpio.relay_active_high),
            check_uart(boot, boot_path, sensor.port, sensor.enabled, model),
            check_serial_console(cmdline, cmdline_path, sensor.port, sensor.enabled, getty_units(root, sensor.port)),
            check_sensor(config, datadir, status, sensor_probe),
            check_sensor_password(sensor.password, sensor.enabled),
            check_clock(config.site.clock_trust, config.simulated, (clock_probe or kernel_clock_synchronised)()),
        ]
        for door in config.doors:  # every other door's relay too ([[doors]]; their sensors are not checked)
            findings += [check_relay_pin(door.gpio.relay_pin),
                         check_relay_boot_state(boot, boot_path, door.gpio.relay_pin, door.gpio.relay_active_high)]
        cert = _under(root, Path(config.web.cert_file)) if config.web.cert_file else datadir.tls_cert_file
        key = _under(root, Path(config.web.key_file)) if config.web.key_file else datadir.tls_key_file
        findings.append(check_tls(cert, key, now()))
    else:
        findings.append(check_strict_gpiod(boot, boot_path, cmdline))
    findings.append(check_disk(datadir.root if datadir.root.exists() else root))
    findings += _store_findings(datadir, config)
    findings.append(daemon_finding)
    return findings


def _store_findings(datadir: DataDir, config: Config | None) -> list[Finding]:
    """The database and audit findings (one engine for both)."""
    url = config.store.url if config is not None else ""
    if not url and not datadir.db_file.exists():
        missing = fail("database", T("no database at {path}", path=datadir.db_file), T("run `kunci init`"))
        return [missing, warn("audit", T("chain not verified: no database"), T("run `kunci init`"))]
    if not url:  # the data directory's SQLite file: plain sqlite3, no SQLAlchemy import
        from controller.ops.doctor_services import check_sqlite_file

        return check_sqlite_file(datadir)
    from controller.store.db import open_database

    try:
        engine = open_database(datadir, url, busy_timeout_ms=config.store.busy_timeout_ms if config else 5000)
    except KunciError as exc:
        return [fail("database", str(exc),
                     T("run doctor as kunci-door or root; if the file is damaged, restore the newest backup")),
                warn("audit", T("chain not verified: the database cannot be opened"), T("see the database finding"))]
    try:
        return [check_database(engine), check_audit(engine, datadir)]
    finally:
        engine.dispose()


def exit_code(findings: Sequence[Finding], allow_warnings: bool = False) -> int:
    """0 when nothing is wrong (no FAIL, and no WARN unless ``allow_warnings``), else 1."""
    bad = {Status.FAIL} if allow_warnings else {Status.FAIL, Status.WARN}
    return 1 if any(f.status in bad for f in findings) else 0
