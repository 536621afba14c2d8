"""``kunci doctor``'s checks of the board itself (docs/install-pi.md): the boot files (``config.txt``,
``cmdline.txt``), the relay's GPIO at power-on, the UART and serial console the sensor needs, the sensor
password and the clock. Pure functions over file text and configuration values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from controller.i18n import T
from controller.ops.doctor_findings import Finding, fail, ok, warn

#: UART device names that are the GPIO 14/15 UART (or an alias of it) on a Raspberry Pi.
GPIO_UART_NAMES = frozenset({"serial0", "ttyAMA0", "ttyS0"})
#: GPIO 0-8 have pull-ups at power-on (a relay driver there can click during boot); 14/15 are the UART.
BOOT_PULLUP_PINS = frozenset(range(0, 9))
UART_PINS = frozenset({14, 15})
_TRUE = {"", "on", "true", "yes", "1"}


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


def check_relay_pin(pin: int) -> Finding:
    """The relay must sit on GPIO 9-27 and not on the UART (GPIO 14/15)."""
    if pin in BOOT_PULLUP_PINS:
        return fail("relay_pin",
                    T("relay on GPIO{pin}: GPIO 0-8 are pulled up at power-on, so the relay driver can energise "
                      "(unlock) while the Pi boots", pin=pin),
                    T("move the relay driver to a free GPIO in 9-27 (default 17) and set gpio.relay_pin"))
    if pin in UART_PINS:
        return fail("relay_pin",
                    T("relay on GPIO{pin}: GPIO 14/15 are the UART (sensor, boot messages) and toggle at boot",
                      pin=pin), T("move the relay driver to a free GPIO in 9-27 (default 17) and set gpio.relay_pin"))
    return ok("relay_pin", T("relay on GPIO{pin} (pulled down at power-on, not the UART)", pin=pin))


def check_strict_gpiod(boot: BootConfig | None, boot_path: Path, cmdline: list[str] | None) -> Finding:
    """``dtparam=strict_gpiod`` (or ``pinctrl_bcm2835.persist_gpio_outputs=n``) must be set."""
    for token in cmdline or []:
        key, _, value = token.partition("=")
        if key == "pinctrl_bcm2835.persist_gpio_outputs" and value.lower() in ("n", "0", "false", "no"):
            return ok("strict_gpiod",
                      T("released GPIO outputs revert to inputs (pinctrl_bcm2835.persist_gpio_outputs=n)"))
    fix = T("add the line dtparam=strict_gpiod to {boot_path} under [all], before any dtoverlay= line, and reboot; "
            "without it a crashed or killed daemon leaves the relay energised (door unlocked)", boot_path=boot_path)
    if boot is None:
        return fail("strict_gpiod", T("cannot read {path}", path=boot_path), fix)
    value = boot.dtparams.get("strict_gpiod")
    if value is not None and value in _TRUE:
        return ok("strict_gpiod", T("dtparam=strict_gpiod is set in {boot_path}", boot_path=boot_path))
    if value is not None:
        return fail("strict_gpiod",
                    T("dtparam=strict_gpiod={value} in {boot_path} turns it off", value=value, boot_path=boot_path),
                    fix)
    if "strict_gpiod" in boot.overlay_dtparams:
        return fail("strict_gpiod",
                    T("dtparam=strict_gpiod follows a dtoverlay= line in {boot_path}, so it sets that overlay's "
                      "parameter, not the base device tree's", boot_path=boot_path), fix)
    return fail("strict_gpiod", T("dtparam=strict_gpiod is missing from {boot_path}", boot_path=boot_path), fix)


def check_relay_boot_state(boot: BootConfig | None, boot_path: Path, pin: int, active_high: bool) -> Finding:
    """``gpio=<relay>=op,dl`` (``dh`` for an active-low driver) holds the relay off from the firmware on."""
    level = "dl" if active_high else "dh"
    wanted = f"gpio={pin}=op,{level}"
    fix = T("add the line {wanted} to {boot_path} under [all] and reboot", wanted=wanted, boot_path=boot_path)
    if boot is None:
        return warn("relay_boot_state", T("cannot read {path}", path=boot_path), fix)
    opts = boot.gpio.get(pin)
    if opts is None:
        return warn("relay_boot_state",
                    T("{wanted} is missing: until the daemon starts only the pull resistor holds the relay off",
                      wanted=wanted), fix)
    opposite = "dh" if active_high else "dl"
    if "op" in opts and opposite in opts:
        return fail("relay_boot_state",
                    T("gpio={pin}={options} drives the relay ON (door unlocked) from boot until the daemon starts",
                      pin=pin, options=",".join(opts)), T("change it to {wanted}", wanted=wanted))
    if "op" in opts and level in opts:
        return ok("relay_boot_state", T("{wanted}: relay held off from the firmware on", wanted=wanted))
    return warn("relay_boot_state",
                T("gpio={pin}={options} does not hold the relay off at boot", pin=pin, options=",".join(opts)), fix)


def check_uart(boot: BootConfig | None, boot_path: Path, port: str, enabled: bool, model: str | None) -> Finding:
    """The GPIO UART must be enabled for a sensor on it; on a Pi 3/4 the PL011 should not be given to Bluetooth."""
    if not enabled:
        return ok("uart", T("fingerprint sensor disabled: the UART is not needed"))
    if PurePosixPath(port).name not in GPIO_UART_NAMES:
        return ok("uart", T("sensor on {port}, not the GPIO UART", port=port))
    fix = T("add enable_uart=1 to {boot_path} under [all] and reboot", boot_path=boot_path)
    if boot is None:
        return fail("uart", T("cannot read {path}", path=boot_path), fix)
    if boot.settings.get("enable_uart") != "1" and boot.dtparams.get("uart0") not in _TRUE:
        return fail("uart",
                    T("enable_uart=1 is missing from {boot_path}: the sensor's UART (GPIO 14/15) is off",
                      boot_path=boot_path), fix)
    if model and any(m in model for m in ("Raspberry Pi 3", "Raspberry Pi 4", "Zero W", "Zero 2")) and not (
        {"disable-bt", "pi3-disable-bt", "miniuart-bt", "pi3-miniuart-bt"} & set(boot.overlays)
    ):
        return warn("uart",
                    T("{model}: GPIO 14/15 get the mini UART (its speed follows the core clock) because Bluetooth "
                      "holds the PL011", model=model),
                    T("add dtoverlay=disable-bt to {boot_path} and run `sudo systemctl disable hciuart`, then reboot",
                      boot_path=boot_path))
    return ok("uart", T("enable_uart=1: the GPIO UART is on"))


def check_serial_console(cmdline: list[str] | None, cmdline_path: Path, port: str, enabled: bool,
                         gettys: Sequence[str] = ()) -> Finding:
    """No kernel console and no login prompt may use the sensor's UART."""
    if not enabled:
        return ok("serial_console", T("fingerprint sensor disabled"))
    names = _uart_names(port)
    fix_console = T("remove the console=... entry from {cmdline_path} (or raspi-config: Interface Options > Serial "
                    "Port > login shell No, hardware Yes) and reboot", cmdline_path=cmdline_path)
    if cmdline is None:
        return warn("serial_console", T("cannot read {path}", path=cmdline_path), fix_console)
    for token in cmdline:
        key, _, value = token.partition("=")
        if key == "console" and value.split(",", 1)[0] in names:
            return fail("serial_console",
                        T("{token} in {cmdline_path} puts the kernel console on the sensor's UART",
                          token=token, cmdline_path=cmdline_path), fix_console)
    if gettys:
        return fail("serial_console", T("{unit} (a login prompt) is enabled on the sensor's UART", unit=gettys[0]),
                    f"sudo systemctl disable --now {gettys[0]}")
    return ok("serial_console", T("no serial console on {name}", name=PurePosixPath(port).name))


def check_sensor_password(password: int, enabled: bool) -> Finding:
    """The sensor's factory password (0) lets anyone with the four wires talk to it."""
    if not enabled:
        return ok("sensor_password", T("fingerprint sensor disabled"))
    if password == 0:
        return warn("sensor_password",
                    T("sensor.password is the factory default 0: a swapped or replaced module is not noticed"),
                    T("set a new module password (docs/install-pi.md, 'Sensor password') and put it in "
                      "sensor.password"))
    return ok("sensor_password", T("sensor.password is not the factory default"))


def check_clock(trust: str, simulated: bool, synchronised: bool | None) -> Finding:
    """Whether schedules and validity windows can rely on the wall clock (controller.daemon.clock)."""
    fix = T("enable time synchronisation (`sudo timedatectl set-ntp true`, needs the network) or fit an RTC "
            '(Pi 5 battery, DS3231) and set site.clock_trust = "always"')
    if synchronised:
        return ok("clock", T("the kernel reports the clock synchronised (NTP or RTC)"))
    state = str(T("unknown (adjtimex unavailable)") if synchronised is None else T("not synchronised"))
    if trust == "never":
        return ok("clock",
                  T('site.clock_trust = "never": restricted people are always refused (clock {state})', state=state))
    if trust == "always":
        return warn("clock",
                    T('site.clock_trust = "always" but the clock is {state}: schedules may be judged at a wrong time',
                      state=state), fix)
    if simulated:
        return ok("clock", T("simulated hardware: the daemon trusts the clock (clock {state})", state=state))
    return warn("clock",
                T("the clock is {state}: people restricted by a schedule or validity window are refused "
                  "(clock_untrusted)", state=state), fix)


def getty_units(root: Path, port: str) -> list[str]:
    wants = root / "etc/systemd/system/getty.target.wants"
    return [f"serial-getty@{name}.service" for name in sorted(_uart_names(port))
            if (wants / f"serial-getty@{name}.service").exists()]


def board_model(root: Path) -> str | None:
    for rel in ("proc/device-tree/model", "sys/firmware/devicetree/base/model"):
        try:
            return (root / rel).read_bytes().rstrip(b"\0").decode("ascii", "replace")
        except OSError:
            continue
    return None
