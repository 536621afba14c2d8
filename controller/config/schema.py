"""The configuration schema: one frozen dataclass per TOML section (:class:`SiteConfig` for ``[site]``, ...)
and :class:`Config` on top. Each field carries its default and a :class:`~controller.config.validate.Spec`
(meaning, unit, range) in its metadata; this is the one place the defaults live.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from controller.config import validate as v
from controller.config.doors import DoorSetup, first_door

#: The sensor library's "any address" default (0xFFFFFFFF).
_ANY_ADDRESS = 0xFFFFFFFF


def setting(
    default: Any,
    doc: str,
    *,
    unit: str = "",
    min: float | None = None,  # noqa: A002 - reads well in the schema below
    max: float | None = None,  # noqa: A002
    choices: tuple[Any, ...] | None = None,
    check: v.Check | None = None,
    rule: str = "",
) -> Any:
    """A dataclass field with its default and its :class:`~controller.config.validate.Spec`."""
    spec = v.Spec(doc=doc, unit=unit, min=min, max=max, choices=choices, check=check, rule=rule)
    return field(default=default, metadata={"spec": spec})


_PIN_RULE = "BCM 0..27, -1 = not fitted"
_optional_pin = v.bcm_pin(allow_not_fitted=True)
_required_pin = v.bcm_pin(allow_not_fitted=False)


@dataclass(frozen=True)
class SiteConfig:
    """`[site]`: the room and site-wide policy."""

    name: str = setting("Records room", "Name of the room, shown on the admin page and in exports.",
                        check=v.non_empty, rule="not empty")
    timezone: str = setting("UTC", "IANA time zone for schedules, holidays and validity dates (e.g. Europe/Berlin).",
                            check=v.timezone, rule="a zoneinfo key")
    require_agreement: bool = setting(True, "Refuse to enrol a person until a confidentiality agreement date is recorded.")
    no_log_no_entry: bool = setting(True, "Deny access when the event cannot be stored in the log (fail secure).")
    clock_trust: str = setting("auto", "When the wall clock may be used for schedules and validity windows: auto = only "
                               "when the kernel reports it synchronised (NTP or RTC); always = trust it (bench, "
                               "simulation, a fitted RTC); never = always treat it as untrusted.",
                               choices=("auto", "always", "never"))
    language: str = setting("en", "Language of the admin page for staff logins that chose none, and of the "
                            "command line unless KUNCI_LANG is set (en = English, id = Bahasa Indonesia).",
                            choices=("en", "id"))
    max_users: int = setting(1000, "Most people expected to hold a PIN; sets the PIN keyspace rule "
                             "(10 ** pin.length_digits / max_users >= 1000).", unit="people", min=1, max=100_000)


@dataclass(frozen=True)
class DoorConfig:
    """`[door]`: strike timing and door supervision."""

    name: str = setting("main", "Name of the door in events (the row in the doors table).",
                        check=v.non_empty, rule="not empty")
    unlock_seconds: float = setting(5.0, "Time the strike stays unlocked after a granted access.",
                                    unit="seconds", min=1.0, max=30.0)
    extended_unlock_seconds: float = setting(15.0, "Unlock time for people marked extended_unlock; not below "
                                             "unlock_seconds.", unit="seconds", min=1.0, max=120.0)
    max_unlock_seconds: float = setting(30.0, "Hard cap on any unlock, remote unlocks included; at least "
                                        "extended_unlock_seconds.", unit="seconds", min=1.0, max=120.0)
    relock_on_close: bool = setting(True, "Relock as soon as the door closes again instead of waiting for the unlock time.")
    held_open_seconds: float = setting(30.0, "A door open longer than this raises a door.held alarm.",
                                       unit="seconds", min=5.0, max=3600.0)
    held_open_prealarm_seconds: float = setting(10.0, "Warning beeps start this long before the held-open alarm "
                                                "(0 = no warning).", unit="seconds", min=0.0, max=3600.0)
    forced_open_grace_seconds: float = setting(1.0, "The door may open this long after relocking without counting "
                                               "as forced (strike and contact lag).", unit="seconds", min=0.0, max=10.0)
    exit_unlocks: bool = setting(True, "The exit button unlocks the strike (false: it is only logged).")
    tamper_blocks_entry: bool = setting(True, "While the keypad/sensor enclosure has been opened, refuse PINs and "
                                        "fingers until the enclosure is shut and an admin acknowledges the tamper "
                                        "alarm (someone may be swapping the reader). Exit and remote unlock still work.")
    door_contact_debounce_ms: int = setting(100, "A door contact change must be stable this long to count.",
                                            unit="milliseconds", min=0, max=2000)
    second_factor_timeout_seconds: float = setting(10.0, "In pin_and_finger mode, time allowed to present the "
                                                   "second factor.", unit="seconds", min=2.0, max=120.0)
    lockdown_override_group: str = setting("", "Access group whose members may still enter during a lockdown "
                                           "(e.g. security staff); empty = nobody. Every other credential, remote "
                                           "unlocks and the exit button's unlock included, is refused as lockdown.")
    two_person_rule: bool = setting(False, "Two-person rule: the door opens only when two different people "
                                    "present valid credentials within two_person_window_seconds; a lone "
                                    "attempt is refused as second_person_required.")
    two_person_window_seconds: float = setting(30.0, "Time within which the second person must present a valid "
                                               "credential after the first.", unit="seconds", min=5.0, max=300.0)


@dataclass(frozen=True)
class PinConfig:
    """`[pin]`: PIN length, keypad entry and lockout after refused PINs."""

    length_digits: int = setting(6, "Length of generated PINs.", unit="digits", min=4, max=12)
    max_entry_digits: int = setting(12, "Digits kept while typing; a longer entry is discarded. At least "
                                    "length_digits.", unit="digits", min=4, max=32)
    inter_digit_timeout_seconds: float = setting(5.0, "A partial entry is discarded after this pause between keys.",
                                                 unit="seconds", min=1.0, max=60.0)
    lockout_after_failures: int = setting(3, "Consecutive refused PINs (unknown, suspended, expired, ... alike) that start a keypad lockout.",
                                          unit="attempts", min=1, max=100)
    lockout_base_seconds: float = setting(30.0, "Length of the first lockout; each further lockout doubles it.",
                                          unit="seconds", min=1.0, max=3600.0)
    lockout_max_seconds: float = setting(900.0, "Longest lockout; at least lockout_base_seconds.",
                                         unit="seconds", min=1.0, max=86400.0)
    alarm_after_failures: int = setting(10, "Refused PINs within alarm_window_seconds that raise an alarm.",
                                        unit="attempts", min=1, max=1000)
    alarm_window_seconds: float = setting(600.0, "Window in which alarm_after_failures are counted.",
                                          unit="seconds", min=10.0, max=86400.0)
    suspend_after_failures_24h: int = setting(20, "Wrong PINs within 24 hours after which PIN entry stays locked "
                                              "until an admin clears it (a success does not reset this count).",
                                              unit="attempts", min=1, max=10000)
    duress_pins: bool = setting(False, "Admins may give a person a duress PIN (`kunci user duress-pin CODE`): it "
                                "opens the door exactly like the person's PIN, with the same feedback, and raises "
                                "a silent duress alarm at once.")


@dataclass(frozen=True)
class KeypadConfig:
    """`[keypad]`: the PIN keypad, a GPIO key matrix or a Wiegand reader."""

    type: str = setting("matrix", "Kind of keypad; none = no keypad (finger only).",
                        choices=("matrix", "wiegand", "none"))
    row_pins: tuple[int, ...] = setting((5, 6, 13, 19), "Matrix row lines, top row first.",
                                        check=_required_pin, rule="BCM 0..27 each")
    column_pins: tuple[int, ...] = setting((12, 16, 20), "Matrix column lines, left column first.",
                                           check=_required_pin, rule="BCM 0..27 each")
    keys: tuple[tuple[str, ...], ...] = setting(
        (("1", "2", "3"), ("4", "5", "6"), ("7", "8", "9"), ("*", "0", "#")),
        "Key labels, one list per row; must match row_pins x column_pins and hold 0-9, * and # once each.",
        check=v.keypad_keys, rule="single characters 0-9 * # A B C D")
    scan_interval_ms: int = setting(10, "Time between matrix scans.", unit="milliseconds", min=1, max=100)
    debounce_scans: int = setting(3, "Consecutive scans a key must agree on before it counts.",
                                  unit="scans", min=1, max=20)
    wiegand_d0_pin: int = setting(23, "Wiegand DATA0 line.", check=_required_pin, rule="BCM 0..27")
    wiegand_d1_pin: int = setting(24, "Wiegand DATA1 line.", check=_required_pin, rule="BCM 0..27")
    wiegand_gap_ms: int = setting(25, "Silence that ends a Wiegand frame.", unit="milliseconds", min=5, max=1000)
    wiegand_bits: int = setting(4, "Bits the reader sends per key press.", unit="bits", choices=(4, 8))


@dataclass(frozen=True)
class GpioConfig:
    """`[gpio]`: door I/O lines (BCM numbers; -1 = not fitted, except the relay)."""

    relay_pin: int = setting(17, "Strike relay output; de-energised = locked. Use GPIO 9-27 with an external "
                             "pull-down.", check=_required_pin, rule="BCM 0..27")
    relay_active_high: bool = setting(True, "The relay energises when its pin is driven high.")
    door_contact_pin: int = setting(22, "Door contact input (closed = door shut).", check=_optional_pin, rule=_PIN_RULE)
    exit_pin: int = setting(27, "Exit (request-to-exit) button input.", check=_optional_pin, rule=_PIN_RULE)
    tamper_pin: int = setting(26, "Enclosure tamper switch input.", check=_optional_pin, rule=_PIN_RULE)
    buzzer_pin: int = setting(18, "Buzzer output.", check=_optional_pin, rule=_PIN_RULE)
    green_led_pin: int = setting(21, "Green LED output (access granted).", check=_optional_pin, rule=_PIN_RULE)
    red_led_pin: int = setting(25, "Red LED output (denied, locked out, alarm).", check=_optional_pin, rule=_PIN_RULE)


@dataclass(frozen=True)
class SensorConfig:
    """`[sensor]`: the fingerprint sensor on the UART (ZhianTec/R30x/AS608 family)."""

    enabled: bool = setting(True, "Use the fingerprint sensor (false: PIN only).")
    port: str = setting("/dev/serial0", "Serial device of the sensor; not empty while enabled.")
    baud_rate: int = setting(57600, "Serial speed the sensor is set to.", unit="baud", check=v.baud_rate,
                             rule="multiple of 9600 in 9600..115200")
    address: int = setting(_ANY_ADDRESS, "Sensor module address (4294967295 = 0xFFFFFFFF, the factory value).",
                           min=0, max=_ANY_ADDRESS)
    password: int = setting(0, "Sensor password; set a non-default one on a real door.", min=0, max=_ANY_ADDRESS)
    min_match_score: int = setting(60, "Lowest match score accepted as the enrolled finger.",
                                   unit="score", min=1, max=500)
    command_timeout_seconds: float = setting(3.0, "A sensor command without an answer after this is a failure.",
                                             unit="seconds", min=0.5, max=30.0)
    enroll_step_timeout_seconds: float = setting(
        30.0, "How long a person has for each enrolment step (place the finger, lift it, place it again); "
        "kunci finger enroll and the admin web wait a little longer for each step.",
        unit="seconds", min=5.0, max=300.0)
    poll_interval_ms: int = setting(100, "Time between checks for a finger on the sensor.",
                                    unit="milliseconds", min=10, max=2000)
    reconnect_max_seconds: float = setting(30.0, "Longest wait between reconnection attempts to a lost sensor.",
                                           unit="seconds", min=1.0, max=600.0)
    failed_matches_before_delay: int = setting(5, "Unknown fingers in a row before the sensor pauses.",
                                               unit="attempts", min=1, max=100)
    failed_match_delay_seconds: float = setting(30.0, "Pause after failed_matches_before_delay unknown fingers "
                                                "(the finger brute-force throttle: it cannot be switched off).",
                                                unit="seconds", min=1.0, max=3600.0)


@dataclass(frozen=True)
class WebConfig:
    """`[web]`: the admin web page (HTTPS only)."""

    host: str = setting("127.0.0.1", "Address the admin web listens on.", check=v.non_empty, rule="not empty")
    port: int = setting(8443, "TCP port of the admin web.", min=1, max=65535)
    cert_file: str = setting("", "TLS certificate file (empty = DATA/tls/cert.pem); set together with key_file.")
    key_file: str = setting("", "TLS private key file (empty = DATA/tls/key.pem); set together with cert_file.")
    session_idle_minutes: int = setting(30, "A login with no request for this long ends.",
                                        unit="minutes", min=1, max=1440)
    session_max_hours: int = setting(12, "A login ends this long after it started, whatever the activity.",
                                     unit="hours", min=1, max=168)
    login_failures_before_lock: int = setting(10, "Wrong passwords in a row that lock the account.",
                                              unit="attempts", min=1, max=100)
    login_lock_minutes: int = setting(30, "How long a locked account stays locked.", unit="minutes", min=1, max=1440)


@dataclass(frozen=True)
class StoreConfig:
    """`[store]`: the database."""

    url: str = setting("", "SQLAlchemy database URL (empty = sqlite:///DATA/kunci.db).",
                       check=v.sqlalchemy_url, rule="empty or a SQLAlchemy URL")
    busy_timeout_ms: int = setting(5000, "How long SQLite waits for a lock held by the other process.",
                                   unit="milliseconds", min=100, max=60000)
    retention_days: int = setting(0, "Events older than this may be archived (0 = keep all).",
                                  unit="days", min=0, max=36500)


@dataclass(frozen=True)
class ReviewConfig:
    """`[review]`: the periodic access review (`kunci review`, the admin web's Access review page)."""

    dormant_days: int = setting(90, "A PIN or fingerprint not used to open the door for this long is listed as "
                                "dormant (never used: counted from the day the person was added).",
                                unit="days", min=1, max=3650)
    agreement_max_age_days: int = setting(365, "People whose confidentiality agreement was signed longer ago than "
                                          "this are listed for re-signing.", unit="days", min=1, max=36500)
    auto_suspend_dormant_days: int = setting(0, "With `kunci review --apply-suspensions` (or the web page), suspend "
                                             "active people whose every credential has been unused this long "
                                             "(0 = off).", unit="days", min=0, max=3650)


@dataclass(frozen=True)
class OutboxConfig:
    """`[outbox]`: what leaves the room (docs/alerts.md). Alarms are always queued; routine events by choice."""

    events: str = setting("alarms", "What is queued for the destinations: alarms = alarms and the door's state only; "
                          "all = every sealed event as well (codes only, never names).", choices=("alarms", "all"))
    max_rows: int = setting(100_000, "Most messages kept waiting; beyond it the oldest routine events are dropped "
                            "(alarms never) and an outbox.overflow alarm says so.", unit="messages",
                            min=100, max=10_000_000)
    heartbeat_seconds: int = setting(60, "How often the log's head (seq, mac) and the door's state are published.",
                                     unit="seconds", min=5, max=3600)
    retry_max_seconds: int = setting(300, "Longest wait between two delivery attempts to a destination that is "
                                     "down (the wait doubles from 1 s up to this).", unit="seconds", min=1, max=3600)


@dataclass(frozen=True)
class MqttConfig:
    """`[mqtt]`: publish alarms, events and the door's state to an MQTT broker (QoS 1)."""

    enabled: bool = setting(False, "Publish to the broker below.")
    host: str = setting("", "Broker host name or address (required when enabled).")
    port: int = setting(8883, "Broker TCP port (8883 = MQTT over TLS, 1883 = plain).", min=1, max=65535)
    tls: bool = setting(True, "Connect with TLS, verifying the broker's certificate.")
    ca_file: str = setting("", "CA certificate file for the broker (empty = the system's CAs).")
    username: str = setting("", "User name on the broker (empty = none).")
    password_file: str = setting("", "File holding the broker password (mode 0600; empty = none).")
    client_id: str = setting("", "MQTT client id (empty = kunci-<door name>).")
    topic_prefix: str = setting("kunci", "Topics start with this: <prefix>/<door>/state, .../event, .../alarm, "
                                ".../head, .../availability.", check=v.non_empty, rule="not empty")
    discovery: bool = setting(True, "Publish Home Assistant MQTT discovery messages so the door appears there.")
    discovery_prefix: str = setting("homeassistant", "Home Assistant's discovery prefix.",
                                    check=v.non_empty, rule="not empty")
    keepalive_seconds: int = setting(30, "MQTT keep-alive; the broker publishes the offline will after 1.5 times this.",
                                     unit="seconds", min=5, max=600)


@dataclass(frozen=True)
class WebhookConfig:
    """`[webhook]`: an HTTPS POST per alarm (and per event with outbox.events = all), signed with HMAC-SHA256."""

    enabled: bool = setting(False, "POST to the URL below.")
    url: str = setting("", "Receiver URL, https:// (required when enabled).")
    secret_file: str = setting("", "File holding the shared HMAC secret (mode 0600; required when enabled).")
    verify_tls: bool = setting(True, "Verify the receiver's certificate (switch off only for a test receiver).")
    ca_file: str = setting("", "CA certificate file for the receiver (empty = the system's CAs).")
    timeout_seconds: float = setting(5.0, "How long one POST may take before it counts as failed.",
                                     unit="seconds", min=0.5, max=60.0)


@dataclass(frozen=True)
class EmailConfig:
    """`[email]`: alarms by e-mail through an SMTP server, grouped and rate-limited."""

    enabled: bool = setting(False, "Send alarm mails through the server below.")
    host: str = setting("", "SMTP server (required when enabled).")
    port: int = setting(587, "SMTP port (587 = STARTTLS, 465 = implicit TLS).", min=1, max=65535)
    security: str = setting("starttls", "starttls, tls (implicit, port 465) or none (only to a relay on this "
                            "machine: 127.0.0.1, ::1 or localhost).", choices=("starttls", "tls", "none"))
    ca_file: str = setting("", "CA certificate file for the server (empty = the system's CAs).")
    username: str = setting("", "Login name (empty = no login).")
    password_file: str = setting("", "File holding the login password (mode 0600).")
    sender: str = setting("", "From address (required when enabled).")
    recipients: tuple[str, ...] = setting((), "To addresses (at least one when enabled).")
    group_seconds: int = setting(60, "Alarms within this window after the first go out in one mail.",
                                 unit="seconds", min=0, max=3600)
    max_per_hour: int = setting(12, "Most mails in any hour; beyond it alarms wait for the next allowed mail.",
                                unit="mails", min=1, max=1000)
    daily_summary: bool = setting(False, "Also send one summary mail a day (counts by event type, open alarms).")


@dataclass(frozen=True)
class MetricsConfig:
    """`[metrics]`: a Prometheus endpoint served by the door daemon."""

    enabled: bool = setting(False, "Serve /metrics.")
    host: str = setting("127.0.0.1", "Address to listen on; anything but loopback requires token_file.",
                        check=v.non_empty, rule="not empty")
    port: int = setting(9464, "TCP port of the metrics endpoint.", min=1, max=65535)
    token_file: str = setting("", "File holding a bearer token the scraper must send (mode 0600; empty = none, "
                              "loopback only).")


@dataclass(frozen=True)
class SiteLinkConfig:
    """`[site_link]`: this controller's link to the site database on PostgreSQL (docs/site.md)."""

    enabled: bool = setting(False, "Follow the site: copy its people, groups, schedules and holidays down and upload "
                            "the sealed log (kunci site join fills in this section).")
    controller: str = setting("", "This controller's name at the site (required when enabled).")
    host: str = setting("", "PostgreSQL server of the site (required when enabled).")
    port: int = setting(5432, "PostgreSQL TCP port.", min=1, max=65535)
    dbname: str = setting("kunci", "Site database name.", check=v.non_empty, rule="not empty")
    user: str = setting("", "This controller's own PostgreSQL role (required when enabled).")
    password_file: str = setting("secrets/site-password", "File holding the role's password (relative to DATA; "
                                 "mode 0600 or 0400).", check=v.non_empty, rule="not empty")
    sslmode: str = setting("verify-full", "TLS to the server: verify-full, verify-ca or require; disable only with "
                           "simulated = true or a server on this machine (127.0.0.1, ::1, localhost).",
                           choices=("verify-full", "verify-ca", "require", "disable"))
    ca_file: str = setting("", "CA certificate file of the server (empty = the system's CAs).")
    poll_seconds: float = setting(30.0, "Fetch changes at least this often, in case a notification was missed.",
                                  unit="seconds", min=1.0, max=3600.0)
    max_stale_seconds: float = setting(86400.0, "Raise the site_stale alarm when no fetch from the site has "
                                       "succeeded for this long.", unit="seconds", min=60.0, max=31_536_000.0)
    stale_action: str = setting("alarm", "Past max_stale_seconds: alarm = raise the alarm, doors decide as before; "
                                "deny_site_people = also refuse people copied from the site (reason site_stale) "
                                "until a fetch succeeds.", choices=("alarm", "deny_site_people"))


@dataclass(frozen=True)
class Config:
    """The whole configuration; ``Config()`` is the all-defaults configuration."""

    simulated: bool = setting(False, "Use simulated keypad, sensor, relay and door contact instead of hardware "
                              "(demo and tests; never on a real door).")
    site: SiteConfig = field(default_factory=SiteConfig)
    door: DoorConfig = field(default_factory=DoorConfig)
    pin: PinConfig = field(default_factory=PinConfig)
    keypad: KeypadConfig = field(default_factory=KeypadConfig)
    gpio: GpioConfig = field(default_factory=GpioConfig)
    sensor: SensorConfig = field(default_factory=SensorConfig)
    web: WebConfig = field(default_factory=WebConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    review: ReviewConfig = field(default_factory=ReviewConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    webhook: WebhookConfig = field(default_factory=WebhookConfig)
    email: EmailConfig = field(default_factory=EmailConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    site_link: SiteLinkConfig = field(default_factory=SiteLinkConfig)
    #: The doors after the first (TOML ``[[doors]]``, :mod:`controller.config.doors`); not a section.
    doors: tuple[DoorSetup, ...] = field(default=(), metadata={"array": True})

    @property
    def door_setups(self) -> tuple[DoorSetup, ...]:
        """Every door of this controller in config order; the first is the top-level sections."""
        return (first_door(self), *self.doors)

    @property
    def door_names(self) -> tuple[str, ...]:
        """The doors' names in config order."""
        return tuple(setup.name for setup in self.door_setups)


#: TOML section name -> dataclass, in file order.
SECTIONS: dict[str, type] = {
    f.name: typing.get_type_hints(Config)[f.name] for f in dataclasses.fields(Config)
    if "spec" not in f.metadata and not f.metadata.get("array")
}
TOP_KEYS = [f.name for f in dataclasses.fields(Config) if "spec" in f.metadata]
