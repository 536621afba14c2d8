"""``kunci doctor``: check a real installation and say what to fix (issue 7).

Each check returns one :class:`Finding` (``OK``, ``WARN`` or ``FAIL``, a message and the fix).
The checks are functions over paths, file text and values, so tests run them against fake
boot files and a scratch installation. :func:`run_doctor` runs them all in a fixed order.

Paths are those of the target system; ``root`` says where its ``/`` is (``/`` for the real
system, or the scratch root ``kunci install-service --root`` wrote). The boot files default to
``/boot/firmware/config.txt`` and ``/boot/firmware/cmdline.txt`` (Raspberry Pi OS Bookworm),
falling back to ``/boot/config.txt`` and ``/boot/cmdline.txt`` (older releases).

Check names (stable; the ``--json`` output uses them): ``config``, ``install``, ``data_dir``,
``secrets``, ``relay_pin``, ``strict_gpiod``, ``relay_boot_state``, ``uart``, ``serial_console``,
``sensor``, ``sensor_password``, ``clock``, ``tls``, ``disk``, ``database``, ``audit``, ``daemon``.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import shutil
import stat
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any

from controller.config import Config, load_config
from controller.errors import ConfigError, DaemonUnavailable, KunciError
from controller.ops.install import DOOR_USER, GROUP, MANIFEST, WEB_USER, parse_manifest
from controller.paths import DEFAULT_DATA_DIR, DataDir

log = logging.getLogger(__name__)

#: Reply deadline for the sensor probe (seconds): password check and parameters answer in < 0.1 s.
SENSOR_PROBE_TIMEOUT_SECONDS = 1.0
#: Free space on DATA below which doctor warns / fails (bytes).
DISK_WARN_BYTES = 500 * 1024 * 1024
DISK_FAIL_BYTES = 50 * 1024 * 1024
#: A certificate expiring within this many days is a warning.
CERT_WARN_DAYS = 30
#: UART device names that are the GPIO 14/15 UART (or an alias of it) on a Raspberry Pi.
GPIO_UART_NAMES = frozenset({"serial0", "ttyAMA0", "ttyS0"})
#: GPIO 0-8 have pull-ups at power-on (a relay driver there can click during boot); 14/15 are the UART.
BOOT_PULLUP_PINS = frozenset(range(0, 9))
UART_PINS = frozenset({14, 15})
_TRUE = {"", "on", "true", "yes", "1"}


class Status(StrEnum):
    """How a finding reads: fine, worth a look, or must be fixed."""

    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's report: ``check`` name, ``status``, ``message`` and ``fix`` (empty when OK)."""

    check: str
    status: Status
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        d = asdict(self)
        d["status"] = str(self.status)
        return d


def ok(check: str, message: str) -> Finding:
    return Finding(check, Status.OK, message)


def warn(check: str, message: str, fix: str) -> Finding:
    return Finding(check, Status.WARN, message, fix)


def fail(check: str, message: str, fix: str) -> Finding:
    return Finding(check, Status.FAIL, message, fix)


# --- boot files (pure) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BootConfig:
    """What ``config.txt`` says, as far as doctor cares.

    ``dtparams`` are base device-tree parameters; ``overlay_dtparams`` are ``dtparam=`` lines that
    follow a ``dtoverlay=NAME`` line and therefore set that overlay's parameters, not the base
    tree's (the firmware's rule; a bare ``dtoverlay=`` line returns to the base). Lines in a
    ``[none]`` section are ignored; every other conditional section counts (doctor cannot know
    the board), so put Kunci's lines under ``[all]``.
    """

    dtparams: dict[str, str] = field(default_factory=dict)
    overlay_dtparams: dict[str, str] = field(default_factory=dict)
    overlays: tuple[str, ...] = ()
    gpio: dict[int, tuple[str, ...]] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)


def _gpio_pins(spec: str) -> list[int]:
    pins: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        if "-" in part:
            lo, _, hi = part.partition("-")
            if lo.isdigit() and hi.isdigit():
                pins += range(int(lo), int(hi) + 1)
        elif part.isdigit():
            pins.append(int(part))
    return pins


def parse_boot_config(text: str) -> BootConfig:
    """Parse ``config.txt`` text (pure)."""
    cfg = BootConfig()
    overlays: list[str] = []
    current_overlay: str | None = None
    enabled = True
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            enabled = line.lower() != "[none]"
            continue
        if not enabled or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if key == "dtoverlay":
            name = value.split(",", 1)[0].split(":", 1)[0].strip()
            current_overlay = name or None
            if name:
                overlays.append(name)
        elif key == "dtparam":
            target = cfg.overlay_dtparams if current_overlay else cfg.dtparams
            for item in value.split(","):
                pname, _, pvalue = item.partition("=")
                if pname.strip():
                    target[pname.strip()] = pvalue.strip().lower()
        elif key == "gpio":
            pins, _, options = value.partition("=")
            opts = tuple(o.strip().lower() for o in options.split(",") if o.strip())
            for pin in _gpio_pins(pins):
                cfg.gpio[pin] = opts
        else:
            cfg.settings[key] = value
    return BootConfig(cfg.dtparams, cfg.overlay_dtparams, tuple(overlays), cfg.gpio, cfg.settings)


def parse_cmdline(text: str) -> list[str]:
    """The kernel command line's tokens (pure)."""
    return text.split()


def _uart_names(port: str) -> frozenset[str]:
    """Device names that reach the same UART as ``port`` (the GPIO UART's aliases, or itself)."""
    name = PurePosixPath(port).name
    return GPIO_UART_NAMES if name in GPIO_UART_NAMES else frozenset({name})


# --- checks over configuration values and boot files (pure) ------------------------------------------


def check_relay_pin(pin: int) -> Finding:
    """The relay must sit on GPIO 9-27 and not on the UART (GPIO 14/15)."""
    if pin in BOOT_PULLUP_PINS:
        return fail("relay_pin", f"relay on GPIO{pin}: GPIO 0-8 are pulled up at power-on, so the relay driver can "
                    "energise (unlock) while the Pi boots",
                    "move the relay driver to a free GPIO in 9-27 (default 17) and set gpio.relay_pin")
    if pin in UART_PINS:
        return fail("relay_pin", f"relay on GPIO{pin}: GPIO 14/15 are the UART (sensor, boot messages) and toggle "
                    "at boot", "move the relay driver to a free GPIO in 9-27 (default 17) and set gpio.relay_pin")
    return ok("relay_pin", f"relay on GPIO{pin} (pulled down at power-on, not the UART)")


def check_strict_gpiod(boot: BootConfig | None, boot_path: Path, cmdline: list[str] | None) -> Finding:
    """``dtparam=strict_gpiod`` (or ``pinctrl_bcm2835.persist_gpio_outputs=n``) must be set."""
    for token in cmdline or []:
        key, _, value = token.partition("=")
        if key == "pinctrl_bcm2835.persist_gpio_outputs" and value.lower() in ("n", "0", "false", "no"):
            return ok("strict_gpiod", "released GPIO outputs revert to inputs (pinctrl_bcm2835.persist_gpio_outputs=n)")
    fix = (f"add the line dtparam=strict_gpiod to {boot_path} under [all], before any dtoverlay= line, and "
           "reboot; without it a crashed or killed daemon leaves the relay energised (door unlocked)")
    if boot is None:
        return fail("strict_gpiod", f"cannot read {boot_path}", fix)
    value = boot.dtparams.get("strict_gpiod")
    if value is not None and value in _TRUE:
        return ok("strict_gpiod", f"dtparam=strict_gpiod is set in {boot_path}")
    if value is not None:
        return fail("strict_gpiod", f"dtparam=strict_gpiod={value} in {boot_path} turns it off", fix)
    if "strict_gpiod" in boot.overlay_dtparams:
        return fail("strict_gpiod", f"dtparam=strict_gpiod follows a dtoverlay= line in {boot_path}, so it sets that "
                    "overlay's parameter, not the base device tree's", fix)
    return fail("strict_gpiod", f"dtparam=strict_gpiod is missing from {boot_path}", fix)


def check_relay_boot_state(boot: BootConfig | None, boot_path: Path, pin: int, active_high: bool) -> Finding:
    """``gpio=<relay>=op,dl`` (``dh`` for an active-low driver) holds the relay off from the firmware on."""
    level = "dl" if active_high else "dh"
    wanted = f"gpio={pin}=op,{level}"
    fix = f"add the line {wanted} to {boot_path} under [all] and reboot"
    if boot is None:
        return warn("relay_boot_state", f"cannot read {boot_path}", fix)
    opts = boot.gpio.get(pin)
    if opts is None:
        return warn("relay_boot_state", f"{wanted} is missing: until the daemon starts only the pull resistor holds "
                    "the relay off", fix)
    opposite = "dh" if active_high else "dl"
    if "op" in opts and opposite in opts:
        return fail("relay_boot_state", f"gpio={pin}={','.join(opts)} drives the relay ON (door unlocked) from boot "
                    "until the daemon starts", f"change it to {wanted}")
    if "op" in opts and level in opts:
        return ok("relay_boot_state", f"{wanted}: relay held off from the firmware on")
    return warn("relay_boot_state", f"gpio={pin}={','.join(opts)} does not hold the relay off at boot", fix)


def check_uart(boot: BootConfig | None, boot_path: Path, port: str, enabled: bool, model: str | None) -> Finding:
    """The GPIO UART must be enabled for a sensor on it; on a Pi 3/4 the PL011 should not be given to Bluetooth."""
    if not enabled:
        return ok("uart", "fingerprint sensor disabled: the UART is not needed")
    if PurePosixPath(port).name not in GPIO_UART_NAMES:
        return ok("uart", f"sensor on {port}, not the GPIO UART")
    fix = f"add enable_uart=1 to {boot_path} under [all] and reboot"
    if boot is None:
        return fail("uart", f"cannot read {boot_path}", fix)
    if boot.settings.get("enable_uart") != "1" and boot.dtparams.get("uart0") not in _TRUE:
        return fail("uart", f"enable_uart=1 is missing from {boot_path}: the sensor's UART (GPIO 14/15) is off", fix)
    if model and any(m in model for m in ("Raspberry Pi 3", "Raspberry Pi 4", "Zero W", "Zero 2")) and not (
        {"disable-bt", "pi3-disable-bt", "miniuart-bt", "pi3-miniuart-bt"} & set(boot.overlays)
    ):
        return warn("uart", f"{model}: GPIO 14/15 get the mini UART (its speed follows the core clock) because "
                    "Bluetooth holds the PL011", f"add dtoverlay=disable-bt to {boot_path} and run "
                    "`sudo systemctl disable hciuart`, then reboot")
    return ok("uart", "enable_uart=1: the GPIO UART is on")


def check_serial_console(cmdline: list[str] | None, cmdline_path: Path, port: str, enabled: bool,
                         gettys: Sequence[str] = ()) -> Finding:
    """No kernel console and no login prompt may use the sensor's UART."""
    if not enabled:
        return ok("serial_console", "fingerprint sensor disabled")
    names = _uart_names(port)
    fix_console = ("remove the console=... entry from " + str(cmdline_path) + " (or raspi-config: Interface "
                   "Options > Serial Port > login shell No, hardware Yes) and reboot")
    if cmdline is None:
        return warn("serial_console", f"cannot read {cmdline_path}", fix_console)
    for token in cmdline:
        key, _, value = token.partition("=")
        if key == "console" and value.split(",", 1)[0] in names:
            return fail("serial_console", f"{token} in {cmdline_path} puts the kernel console on the sensor's UART",
                        fix_console)
    if gettys:
        return fail("serial_console", f"{gettys[0]} (a login prompt) is enabled on the sensor's UART",
                    f"sudo systemctl disable --now {gettys[0]}")
    return ok("serial_console", f"no serial console on {PurePosixPath(port).name}")


def check_sensor_password(password: int, enabled: bool) -> Finding:
    """The sensor's factory password (0) lets anyone with the four wires talk to it."""
    if not enabled:
        return ok("sensor_password", "fingerprint sensor disabled")
    if password == 0:
        return warn("sensor_password", "sensor.password is the factory default 0: a swapped or replaced module is "
                    "not noticed", "set a new module password (docs/install-pi.md, 'Sensor password') and put it in "
                    "sensor.password")
    return ok("sensor_password", "sensor.password is not the factory default")


def check_clock(trust: str, simulated: bool, synchronised: bool | None) -> Finding:
    """Whether schedules and validity windows can rely on the wall clock (controller.daemon.clock)."""
    fix = ("enable time synchronisation (`sudo timedatectl set-ntp true`, needs the network) or fit an RTC "
           "(Pi 5 battery, DS3231) and set site.clock_trust = \"always\"")
    if synchronised:
        return ok("clock", "the kernel reports the clock synchronised (NTP or RTC)")
    state = "unknown (adjtimex unavailable)" if synchronised is None else "not synchronised"
    if trust == "never":
        return ok("clock", f"site.clock_trust = \"never\": restricted people are always refused (clock {state})")
    if trust == "always":
        return warn("clock", f"site.clock_trust = \"always\" but the clock is {state}: schedules may be judged at a "
                    "wrong time", fix)
    if simulated:
        return ok("clock", f"simulated hardware: the daemon trusts the clock (clock {state})")
    return warn("clock", f"the clock is {state}: people restricted by a schedule or validity window are refused "
                "(clock_untrusted)", fix)


def check_tls(cert: Path, key: Path, now: datetime) -> Finding:
    """The admin page's certificate exists, is valid now and for 30 more days; prints its fingerprint."""
    from cryptography import x509

    from controller.ops.tls import cert_fingerprint_sha256

    fix = f"create a new one: move {cert} and {key} aside and run `kunci init` (as kunci-web: `kunci web` does it)"
    if not cert.is_file():
        return fail("tls", f"no certificate at {cert}", fix)
    if not key.exists():
        return fail("tls", f"no private key at {key}", fix)
    try:
        certificate = x509.load_pem_x509_certificate(cert.read_bytes())
        fingerprint = cert_fingerprint_sha256(cert)
    except (OSError, ValueError, KunciError) as exc:
        return fail("tls", f"cannot read {cert}: {exc}", fix)
    not_before, not_after = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if now < not_before:
        return fail("tls", f"certificate not valid before {not_before:%Y-%m-%d %H:%M} UTC (is the clock right?)", fix)
    days = (not_after - now).days
    if now >= not_after:
        return fail("tls", f"certificate expired on {not_after:%Y-%m-%d}", fix)
    if days < CERT_WARN_DAYS:
        return warn("tls", f"certificate expires on {not_after:%Y-%m-%d} ({days} days)", fix)
    return ok("tls", f"certificate valid until {not_after:%Y-%m-%d} ({days} days); SHA-256 {fingerprint}")


def check_disk(path: Path) -> Finding:
    """Free space where the database lives (events are refused when the disk is full)."""
    try:
        free = shutil.disk_usage(path).free
    except OSError as exc:
        return fail("disk", f"cannot measure free space on {path}: {exc.strerror or exc}", "check the data directory")
    mib = free // (1024 * 1024)
    fix = f"free space on the file system of {path} (old exports, logs: `sudo journalctl --vacuum-size=100M`)"
    if free < DISK_FAIL_BYTES:
        return fail("disk", f"only {mib} MiB free on {path}: events will soon be refused", fix)
    if free < DISK_WARN_BYTES:
        return warn("disk", f"only {mib} MiB free on {path}", fix)
    return ok("disk", f"{mib} MiB free on {path}")


# --- checks over the installation's files -------------------------------------------------------------


@dataclass(frozen=True)
class Owners:
    """Resolved accounts when owners can be checked (the real system with the accounts present)."""

    uids: dict[str, int]
    gids: dict[str, int]

    @classmethod
    def lookup(cls) -> Owners | None:
        try:
            uids = {u: pwd.getpwnam(u).pw_uid for u in (DOOR_USER, WEB_USER, "root")}
            gids = {g: grp.getgrnam(g).gr_gid for g in (GROUP, "root")}
        except KeyError:
            return None
        return cls(uids, gids)


def _mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None


def check_data_dir(datadir: DataDir, owners: Owners | None) -> Finding:
    """DATA exists, nobody outside the kunci group can enter it, and only the door daemon can write in it."""
    fix_init = "run `sudo kunci install-service` (or `kunci init` for a directory outside the service)"
    try:
        st = datadir.root.stat()
    except FileNotFoundError:
        return fail("data_dir", f"{datadir.root} does not exist", fix_init)
    if not stat.S_ISDIR(st.st_mode):
        return fail("data_dir", f"{datadir.root} is not a directory", f"move it aside, then {fix_init}")
    mode = stat.S_IMODE(st.st_mode)
    fix_mode = f"sudo chmod 0750 {datadir.root} (or run `sudo kunci install-service` again)"
    if mode & 0o002:
        return fail("data_dir", f"{datadir.root} is writable by everyone (mode {mode:04o})", fix_mode)
    if mode & 0o020:
        return fail("data_dir", f"{datadir.root} is group-writable (mode {mode:04o}): the web's account could create "
                    "or replace files beside the door database (its -wal file, kunci.toml)", fix_mode)
    if mode & 0o005:
        return warn("data_dir", f"{datadir.root} can be entered by anyone (mode {mode:04o})", fix_mode)
    if owners is not None and st.st_uid != owners.uids[DOOR_USER]:
        return fail("data_dir", f"{datadir.root} is not owned by {DOOR_USER}",
                    f"sudo chown {DOOR_USER}:{GROUP} {datadir.root}")
    config_mode = _mode(datadir.config_file)
    if config_mode is not None and config_mode & 0o007:
        return warn("data_dir", f"{datadir.config_file} is readable by everyone (mode {config_mode:04o}); it holds "
                    "the sensor password", f"chmod 640 {datadir.config_file}")
    return ok("data_dir", f"{datadir.root} mode {mode:04o}")


def check_web_access(datadir: DataDir, owners: Owners | None) -> Finding:
    """The web's account can read the door database but never write it; it owns ``DATA/web``; it can
    reach the control socket (issue 10: the door daemon is the only writer).

    * ``kunci.db`` and its ``-wal``/``-shm``: no write bit for group or others (the OS then refuses a
      write from the web), owned by ``kunci-door``, group ``kunci`` (the web reads through the group);
    * ``DATA/web``: ``0750``, owned by ``kunci-web`` (the daemon trusts a staff login named by the
      owner of this directory only), group ``kunci`` (the daemon reads ``web.db`` through it);
    * ``DATA/run/control.sock`` (while the daemon runs): group ``kunci`` may read and write it.
    """
    fix = "run `sudo kunci install-service` again (it restores modes and owners and changes nothing else)"
    checked = []
    for path in (datadir.db_file, Path(f"{datadir.db_file}-wal"), Path(f"{datadir.db_file}-shm")):
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue
        mode = stat.S_IMODE(st.st_mode)
        if not stat.S_ISREG(st.st_mode):
            return fail("web_access", f"{path} is not a regular file", "move it aside; restore from the backup")
        if mode & 0o022:
            return fail("web_access", f"{path} is writable by group or others (mode {mode:04o}): the web's account "
                        "could write the door database", f"sudo chmod 0640 {path}; {fix}")
        if mode & 0o004:
            return warn("web_access", f"{path} is readable by everyone (mode {mode:04o})", f"sudo chmod 0640 {path}")
        if owners is not None and (st.st_uid, st.st_gid) != (owners.uids[DOOR_USER], owners.gids[GROUP]):
            return fail("web_access", f"{path} is not owned by {DOOR_USER}:{GROUP} (the daemon writes it, the web "
                        "reads it through the group)", f"sudo chown {DOOR_USER}:{GROUP} {path}")
        checked.append(path.name)
    try:
        st = datadir.web_dir.lstat()
    except FileNotFoundError:
        return warn("web_access", f"{datadir.web_dir} does not exist: the admin web cannot keep its sessions", fix)
    wmode = stat.S_IMODE(st.st_mode)
    if not stat.S_ISDIR(st.st_mode) or wmode != 0o750:
        return fail("web_access", f"{datadir.web_dir} must be a directory with mode 0750 (is {wmode:04o}): the web "
                    "writes it, the daemon reads the web's sessions through the group", fix)
    if owners is not None and (st.st_uid, st.st_gid) != (owners.uids[WEB_USER], owners.gids[GROUP]):
        return fail("web_access", f"{datadir.web_dir} is not owned by {WEB_USER}:{GROUP}: the daemon trusts staff "
                    "logins only from the owner of this directory", f"sudo chown {WEB_USER}:{GROUP} {datadir.web_dir}")
    try:
        dbst = datadir.web_db_file.lstat()
    except FileNotFoundError:
        dbst = None
    if dbst is not None and (stat.S_IMODE(dbst.st_mode) & 0o027 or not stat.S_IMODE(dbst.st_mode) & 0o040):
        return fail("web_access", f"{datadir.web_db_file} must be 0640 (is {stat.S_IMODE(dbst.st_mode):04o}): "
                    "written by the web only, read by the daemon", f"sudo chmod 0640 {datadir.web_db_file}")
    try:
        sst = datadir.socket_path.lstat()
    except FileNotFoundError:
        sst = None
    if sst is not None:
        smode = stat.S_IMODE(sst.st_mode)
        if not stat.S_ISSOCK(sst.st_mode) or smode & 0o060 != 0o060 or smode & 0o007:
            return fail("web_access", f"{datadir.socket_path} must be a socket with mode 0660 (is {smode:04o})",
                        "restart the door daemon (it creates the socket 0660)")
        if owners is not None and sst.st_gid != owners.gids[GROUP]:
            return fail("web_access", f"{datadir.socket_path} is not in group {GROUP}: the web cannot reach the daemon",
                        f"check that {DOOR_USER}'s primary group is {GROUP}, then restart the door daemon")
    return ok("web_access", f"door database read-only for the web ({', '.join(checked) or 'no file yet'}), "
              f"{datadir.web_dir.name}/ private to the web")


def check_secrets(datadir: DataDir, owners: Owners | None) -> Finding:
    """``secrets/`` is 0700 and the pepper and audit key are 0600/0400 regular files of kunci-door."""
    sdir = datadir.secrets_dir
    try:
        st = sdir.stat()
    except FileNotFoundError:
        return fail("secrets", f"{sdir} does not exist", "run `kunci init` (or restore the secrets from the backup)")
    except PermissionError:
        return warn("secrets", f"cannot inspect {sdir} as this user", f"run doctor as {DOOR_USER} or root")
    dmode = stat.S_IMODE(st.st_mode)
    if dmode & 0o077:
        return fail("secrets", f"{sdir} is accessible by group or others (mode {dmode:04o})", f"chmod 700 {sdir}")
    if owners is not None and st.st_uid != owners.uids[DOOR_USER]:
        return fail("secrets", f"{sdir} is not owned by {DOOR_USER}", f"sudo chown -R {DOOR_USER} {sdir}")
    for path in (datadir.pepper_file, datadir.audit_key_file):
        try:
            fst = path.lstat()
        except FileNotFoundError:
            return fail("secrets", f"{path} is missing", "restore it from the backup (a new one invalidates every "
                        "PIN or the audit chain)")
        except PermissionError:
            return warn("secrets", f"cannot inspect {path} as this user", f"run doctor as {DOOR_USER} or root")
        if not stat.S_ISREG(fst.st_mode):
            return fail("secrets", f"{path} is not a regular file", "restore it from the backup")
        fmode = stat.S_IMODE(fst.st_mode)
        if fmode not in (0o600, 0o400):
            return fail("secrets", f"{path} has mode {fmode:04o} (must be 0600 or 0400)", f"chmod 600 {path}")
        if owners is not None and fst.st_uid != owners.uids[DOOR_USER]:
            return fail("secrets", f"{path} is not owned by {DOOR_USER}", f"sudo chown {DOOR_USER} {path}")
    return ok("secrets", f"{sdir} 0700, pepper and audit key private")


def check_install(root: Path, real: bool, owners: Owners | None) -> Finding:
    """Compare the installation with the manifest ``kunci install-service`` wrote."""
    fix = "run `sudo kunci install-service` again (it restores modes and owners and changes nothing else)"
    manifest = root / str(MANIFEST).lstrip("/")
    try:
        entries = parse_manifest(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return warn("install", f"no {manifest}: the services were not installed with `kunci install-service`",
                    "sudo kunci install-service")
    except (OSError, ValueError) as exc:
        return fail("install", f"cannot read {manifest}: {exc}", fix)
    if real and owners is None:
        return fail("install", f"the accounts {DOOR_USER}, {WEB_USER} or group {GROUP} do not exist", fix)
    problems = []
    for entry in entries:
        path = root / str(entry.path).lstrip("/")
        try:
            st = path.lstat()
        except FileNotFoundError:
            problems.append(f"{entry.path} missing")
            continue
        except PermissionError:
            continue
        if stat.S_IMODE(st.st_mode) != entry.mode:
            problems.append(f"{entry.path} mode {stat.S_IMODE(st.st_mode):04o} (want {entry.mode:04o})")
        if owners is not None and (st.st_uid, st.st_gid) != (owners.uids[entry.owner], owners.gids[entry.group]):
            problems.append(f"{entry.path} owner (want {entry.owner}:{entry.group})")
    if problems:
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        return warn("install", "differs from the install manifest: " + "; ".join(problems[:3]) + more, fix)
    checked = "modes and owners" if owners is not None else "modes (owners not checked under a scratch root)"
    return ok("install", f"{len(entries)} paths match {manifest}: {checked}")


def _getty_units(root: Path, port: str) -> list[str]:
    wants = root / "etc/systemd/system/getty.target.wants"
    return [f"serial-getty@{name}.service" for name in sorted(_uart_names(port))
            if (wants / f"serial-getty@{name}.service").exists()]


def _board_model(root: Path) -> str | None:
    for rel in ("proc/device-tree/model", "sys/firmware/devicetree/base/model"):
        try:
            return (root / rel).read_bytes().rstrip(b"\0").decode("ascii", "replace")
        except OSError:
            continue
    return None


# --- checks that talk to the database, the sensor and the daemon ---------------------------------------


def check_database(engine: Any) -> Finding:
    """``PRAGMA quick_check`` and the schema revision."""
    from controller.store.db import check_integrity, database_revision, head_revision

    result = check_integrity(engine)
    if result != "ok":
        return fail("database", f"integrity check failed: {result.splitlines()[0]}",
                    "stop the daemon (the door stays locked) and restore the newest backup; keep the damaged file")
    revision, head = database_revision(engine), head_revision()
    if revision != head:
        return warn("database", f"schema at revision {revision}, this version expects {head}",
                    "sudo -u kunci-door kunci db upgrade (the daemon also does it when it starts)")
    return ok("database", f"integrity ok, schema revision {revision}")


def check_audit(engine: Any, datadir: DataDir) -> Finding:
    """Verify the event chain with the audit key (needs read access to ``secrets/audit.key``)."""
    from sqlalchemy.exc import SQLAlchemyError

    from controller.store.audit import verify
    from controller.store.db import session_factory
    from controller.errors import SecretsError, StoreError
    from controller.store.keys import load_audit_key

    try:
        key = load_audit_key(datadir)
    except SecretsError as exc:
        if isinstance(exc.__cause__, PermissionError):
            return warn("audit", "the audit key is not readable by this user, chain not verified",
                        f"run as the {DOOR_USER} user: sudo -u {DOOR_USER} kunci doctor")
        return warn("audit", f"chain not verified: {exc}", "fix the secrets finding first")
    from controller.store import anchor

    try:
        kept = anchor.newest(datadir)  # before the snapshot: a head is appended only after its commit
    except StoreError as exc:
        return warn("audit", f"chain not checked against the anchor file: {exc}",
                    f"run as the {DOOR_USER} user: sudo -u {DOOR_USER} kunci doctor")
    try:
        with session_factory(engine, readonly=True)() as session, session.begin():
            result = verify(session, key)
            truncated = anchor.compare(session, kept) if kept is not None and result.ok else None
    except SQLAlchemyError as exc:
        return fail("audit", f"cannot read the event chain: {str(exc).splitlines()[0]}", "see the database finding")
    incident = ("treat as an incident: compare with your last off-device anchor (`kunci audit verify --anchor "
                "SEQ:MAC`), keep a copy of the database, find who had write access")
    if not result.ok:
        where = f"at seq {result.first_bad_seq}" if result.first_bad_seq is not None else "(unsealed rows)"
        return fail("audit", f"event chain BROKEN {where}: {result.problem}", incident)
    if truncated is not None:
        return fail("audit", f"event chain BROKEN: {truncated} (anchor file {datadir.anchor_file})",
                    incident + "; docs/reliability.md (a log that lost committed events)")
    pending = ""
    head = f"head seq={result.head_seq} mac={result.head_mac_hex[:16]}..." if result.head_mac_hex else "empty"
    return ok("audit", f"event chain intact: {result.checked} events, {head}{pending}")


def check_daemon(socket_path: Path, timeout: float = 3.0) -> tuple[Finding, dict[str, Any] | None]:
    """Ask the running daemon for its status over the control socket."""
    from controller.control.client import ControlClient

    fix = "sudo systemctl start kunci-door; see `journalctl -u kunci-door -e` for why it stopped"
    try:
        status = ControlClient(socket_path, timeout=timeout).call("status")
    except DaemonUnavailable as exc:
        if "Permission denied" in str(exc):
            return warn("daemon", f"cannot connect to {socket_path}: permission denied",
                        f"run as {DOOR_USER} or a member of the {GROUP} group"), None
        return warn("daemon", f"the door daemon is not reachable: {exc}", fix), None
    except KunciError as exc:
        return warn("daemon", f"the door daemon refused the status request: {exc}", fix), None
    alarms = [a for a in status.get("alarms") or [] if not a.get("acknowledged")]
    if status.get("log_available") is False:
        return fail("daemon", "running, but the event log is not writable (entries are refused)",
                    "see the disk and database findings"), status
    if alarms:
        kinds = ", ".join(sorted({str(a.get("kind")) for a in alarms}))
        return warn("daemon", f"running, door {status.get('door')}; {len(alarms)} unacknowledged alarm(s): {kinds}",
                    "review and acknowledge them on the admin page (Alarms)"), status
    return ok("daemon", f"running, door {status.get('door')}, relay {'on' if status.get('relay') else 'off'}"), status


SimulatorFactory = Callable[[Config, DataDir], Any]


def default_simulator(config: Config, datadir: DataDir) -> Any:
    """The pty sensor simulator the simulated daemon would use (same flash, password and address)."""
    from drivers.sim_sensor import PtySensorSimulator

    return PtySensorSimulator(flash_dir=datadir.sim_dir / "sensor", password=config.sensor.password,
                              address=config.sensor.address).start()


def probe_sensor(config: Config, datadir: DataDir, simulator: SimulatorFactory = default_simulator,
                 timeout_seconds: float = SENSOR_PROBE_TIMEOUT_SECONDS) -> Any:
    """Open the sensor with the configured password and read its parameters (``SensorInfo``).

    With ``simulated`` a simulator from ``simulator`` is started and probed instead of the port.
    Raises the adapter's errors (``SensorAuthError``, ``SensorUnavailable``, ...).
    """
    from drivers.fingerprint import PyFingerprintSensor

    sim = simulator(config, datadir) if config.simulated else None
    port = sim.port if sim is not None else config.sensor.port
    sensor = PyFingerprintSensor(port, config.sensor.baud_rate, config.sensor.address, config.sensor.password,
                                 command_timeout_seconds=timeout_seconds)
    try:
        sensor.open()
        return sensor.info()
    finally:
        sensor.close()
        if sim is not None:
            sim.stop()


def check_sensor(config: Config, datadir: DataDir, daemon_status: dict[str, Any] | None,
                 probe: Callable[[Config, DataDir], Any]) -> Finding:
    """The sensor answers with the configured password; its capacity. Asks the daemon when it runs
    (it holds the port), else probes the port (or the simulator) directly."""
    from drivers.errors import SensorAuthError, SensorError, SensorUnavailable

    if not config.sensor.enabled:
        return ok("sensor", "fingerprint sensor disabled in the configuration (sensor.enabled = false)")
    where = "the simulated sensor" if config.simulated else config.sensor.port
    if daemon_status is not None:
        sensor = daemon_status.get("sensor") or {}
        state = sensor.get("state")
        if state == "ok":
            return ok("sensor", f"{where} answers the daemon: capacity {sensor.get('capacity')}, "
                      f"{sensor.get('templates')} templates")
        return fail("sensor", f"the daemon reports the sensor {state}", "check the sensor's wiring (3.3 V, TX->RX, "
                    "RX->TX, GND) and the uart/serial_console findings; `journalctl -u kunci-door` has the error")
    try:
        info = probe(config, datadir)
    except SensorAuthError:
        return fail("sensor", f"{where} refused the configured password (sensor.password / sensor.address): a "
                    "replaced module or a wrong setting", "check the module; set sensor.password to its password")
    except SensorUnavailable as exc:
        return fail("sensor", f"no answer from {where}: {exc}", "check power (3.3 V), TX->RX and RX->TX, the baud "
                    f"rate (sensor.baud_rate), the uart and serial_console findings, and that this user is in dialout")
    except SensorError as exc:
        return fail("sensor", f"{where}: {exc}", "check the wiring and sensor settings")
    return ok("sensor", f"{where} answers with the configured password: capacity {info.capacity}, "
              f"{info.template_count} templates")


def check_config(datadir: DataDir, model: str | None) -> tuple[Finding, Config | None]:
    """Load and validate ``kunci.toml``; refuse simulated hardware on a real Raspberry Pi."""
    path = datadir.config_file
    try:
        config = load_config(path)
    except ConfigError as exc:
        return fail("config", f"{path}: " + "; ".join(exc.errors),
                    "edit the file; `kunci config check` lists every problem"), None
    if not path.exists():
        return warn("config", f"no {path}: running on the defaults", "run `kunci init` to write the commented "
                    "defaults, then edit them"), config
    if config.simulated and model and "Raspberry Pi" in model:
        return warn("config", f"simulated = true on a {model}: the door hardware is not used",
                    f"set simulated = false in {path}"), config
    hardware = "SIMULATED hardware" if config.simulated else "real hardware"
    return ok("config", f"{path} is valid ({hardware})"), config


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
    model = _board_model(root)
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
            check_serial_console(cmdline, cmdline_path, sensor.port, sensor.enabled, _getty_units(root, sensor.port)),
            check_sensor(config, datadir, status, sensor_probe),
            check_sensor_password(sensor.password, sensor.enabled),
            check_clock(config.site.clock_trust, config.simulated, (clock_probe or kernel_clock_synchronised)()),
        ]
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
    from controller.store.db import open_database

    url = config.store.url if config is not None else ""
    if not url and not datadir.db_file.exists():
        missing = fail("database", f"no database at {datadir.db_file}", "run `kunci init`")
        return [missing, warn("audit", "chain not verified: no database", "run `kunci init`")]
    try:
        engine = open_database(datadir, url, busy_timeout_ms=config.store.busy_timeout_ms if config else 5000)
    except KunciError as exc:
        return [fail("database", str(exc), "run doctor as kunci-door or root; if the file is damaged, restore the "
                     "newest backup"), warn("audit", "chain not verified: the database cannot be opened",
                                           "see the database finding")]
    try:
        return [check_database(engine), check_audit(engine, datadir)]
    finally:
        engine.dispose()


def exit_code(findings: Sequence[Finding], allow_warnings: bool = False) -> int:
    """0 when nothing is wrong (no FAIL, and no WARN unless ``allow_warnings``), else 1."""
    bad = {Status.FAIL} if allow_warnings else {Status.FAIL, Status.WARN}
    return 1 if any(f.status in bad for f in findings) else 0
