"""``kunci status [--json]``: door, relay, sensor, lockout and alarms, asked from the daemon."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from controller.control.client import ControlClient
from controller.i18n import T, Text, _
from controller.paths import DataDir
from controller.timefmt import local_text


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("status", parents=[common], help="show door, relay, sensor, lockout and alarms")
    p.add_argument("--json", action="store_true", help="print the daemon's status object as JSON")
    p.set_defaults(func=run)


#: The daemon's words shown as words (the same msgids as the admin page's labels, webadmin/labels.py).
_WORDS: dict[str, Text] = {
    "locked": T("Locked"), "unlocked": T("Unlocked"), "open": T("Open"), "held_open": T("Held open"),
    "forced_open": T("Forced open"),
    "pin": T("PIN only"), "finger": T("Fingerprint only"), "pin_or_finger": T("PIN or fingerprint"),
    "pin_and_finger": T("PIN and fingerprint"),
    "ok": T("Online"), "lost": T("Offline"), "starting": T("Starting"), "disabled": T("Disabled"),
    "door_forced": T("Door forced open"), "door_held": T("Door held open"), "tamper": T("Reader enclosure opened"),
    "keypad_suspended": T("Keypad suspended"), "finger_suspended": T("Finger reader suspended"),
    "keypad_guessing": T("PIN guessing suspected"), "finger_guessing": T("Finger guessing suspected"),
    "sensor_lost": T("Fingerprint sensor lost"), "orphan_template": T("Unknown finger on the sensor"),
    "templates_missing": T("Fingers missing from the sensor"), "log_unavailable": T("Entry log unavailable"),
    "log_truncated": T("Entry log truncated"), "foreign_events": T("Unsealed entries found"),
    "duress": T("Duress"), "daemon_error": T("Door controller error"), "outbox_overflow": T("Alerts fell behind"),
    "site_stale": T("Site out of reach"),
}


def _word(code: object, *, with_code: bool = False) -> str:
    """The word for a daemon's code in the reader's language (``with_code``: followed by the code, which is
    what a command takes, e.g. ``kunci door mode pin_or_finger``); an unknown code as it is."""
    word = _WORDS.get(str(code))
    if word is None:
        return str(code if code is not None else "?")
    return f"{word} ({code})" if with_code else str(word)


def _labels() -> dict[str, str]:
    """Each status line's label with its colon, in the reader's language, padded to one column."""
    labels = {"door": _("door:"), "relay": _("relay:"), "mode": _("mode:"), "sensor": _("sensor:"),
              "keypad": _("keypad:"), "clock": _("clock:"), "leds": _("leds:"), "log": _("log:"),
              "alarms": _("alarms:"), "alerts": _("alerts:"), "hardware": _("hardware:"), "site": _("site:")}
    width = max(len(text) for text in labels.values()) + 1  # 10 in English
    return {key: text.ljust(width) for key, text in labels.items()}


def format_status(s: dict) -> str:
    """Human-readable lines for a status object (see docs/internals.md); times in the site's time zone
    (``s["timezone"]``, UTC when absent), as the admin page shows them; ``--json`` keeps UTC. Values the
    daemon names are shown as words in the reader's language (the mode and alarm kinds with their code, which
    is what commands take); ``--json`` keeps the codes."""
    zone = _zone(s.get("timezone"))
    label = _labels()

    def local(value: object) -> str:
        return f"{local_text(str(value), zone, '%Y-%m-%d %H:%M:%S')} {zone.key}" if value else "?"

    sensor = s.get("sensor") or {}
    lockout = s.get("lockout") or {}
    ind = s.get("indicators") or {}
    contact = _("(contact open)") if s.get("door_open") else _("(contact shut)")
    keypad = (_("LOCKED OUT until {time}").format(time=local(lockout.get("until"))) if lockout.get("active")
              else _("ready"))
    if lockout.get("failures"):
        keypad += _(" ({count} recent failures)").format(count=lockout.get("failures"))
    leds = _("green {green}, red {red}").format(green=_("on") if ind.get("green") else _("off"),
                                                  red=_("on") if ind.get("red") else _("off"))
    doors = s.get("doors") or []
    several = len(doors) > 1  # then each door has its block below, and the top lines are the controller's
    lines = [] if several else [
        f"{label['door']}{_word(s.get('door'))} {contact}",
        label["relay"] + (_("ENERGISED (unlocked)") if s.get("relay") else _("off (locked)")),
        f"{label['mode']}{_word(s.get('mode'), with_code=True)}" + (_("; LOCKDOWN: every credential refused") if s.get("lockdown")
                                                  else ""),
        f"{label['sensor']}{_word(sensor.get('state'))}"
        + (_(", {used} of {capacity} slots used").format(used=sensor.get("templates"), capacity=sensor.get("capacity"))
           if sensor.get("capacity") else ""),
    ]
    lines.append(label["keypad"] + keypad)  # the lockout: shared by every door of the controller
    lines.append(label["clock"] + (_("trusted") if s.get("clock_trusted")
                                   else _("NOT trusted (schedule-restricted people are refused)")))
    if not several:
        lines.append(label["leds"] + leds + (_(", buzzer on") if ind.get("buzzer") else ""))
    lines.append(log_line(s))
    alarms = s.get("alarms") or []
    if alarms:
        lines.append(label["alarms"].rstrip())
        since = _("  #{id} {kind} since {time}")
        lines += [since.format(id=a.get("id"), kind=_word(a.get("kind"), with_code=True), time=local(a.get("raised_at")))
                  for a in alarms]
    else:
        lines.append(label["alarms"] + _("none"))
    lines += alert_lines(s.get("alerts") or {}, local)
    if (s.get("site") or {}).get("state", "disabled") != "disabled":
        lines.append(site_line(s["site"]))
    if several:
        for door in doors:
            lines += door_lines(door)
    if s.get("simulated"):
        lines.append(label["hardware"] + _("SIMULATED"))
    return "\n".join(lines)


def door_lines(d: dict) -> list[str]:
    """A block of lines for one door of a controller with several (``status["doors"]``)."""
    label = _labels()
    sensor = d.get("sensor") or {}
    ind = d.get("indicators") or {}
    contact = _("(contact open)") if d.get("contact") == "open" else _("(contact shut)")
    lines = [_("door {name}:").format(name=d.get("name")),
             f"  {label['door']}{_word(d.get('state'))} {contact}",
             "  " + label["relay"] + (_("ENERGISED (unlocked)") if d.get("relay") else _("off (locked)")),
             f"  {label['mode']}{_word(d.get('mode'), with_code=True)}"
             + (_("; LOCKDOWN: every credential refused") if d.get("lockdown") else ""),
             f"  {label['sensor']}{_word(sensor.get('state'))}"
             + (_(", {used} of {capacity} slots used").format(used=sensor.get("templates"),
                                                              capacity=sensor.get("capacity"))
                if sensor.get("capacity") else ""),
             f"  {label['keypad']}{d.get('keypad')}",
             "  " + label["leds"] + _("green {green}, red {red}").format(
                 green=_("on") if ind.get("green") else _("off"), red=_("on") if ind.get("red") else _("off"))]
    return lines


def _zone(name: object) -> ZoneInfo:
    try:
        return ZoneInfo(str(name)) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def alert_lines(alerts: dict, local: Callable[[object], str] = str) -> list[str]:
    """One line per alert destination: running or not, the queue, the last success and the last error
    (times through ``local``)."""
    label = _labels()["alerts"]
    if not alerts:
        return [label + _("none configured")]
    lines = [label.rstrip()]
    for name, a in sorted(alerts.items()):
        if a.get("setup_error"):
            lines.append(_("  {name}: NOT RUNNING: {error}").format(name=name, error=a["setup_error"]))
            continue
        text = (_("  {name}: running, {count} waiting") if a.get("running")
                else _("  {name}: STOPPED, {count} waiting")).format(name=name, count=a.get("depth", 0))
        text += (_(", last delivered {time}").format(time=local(a["last_success"])) if a.get("last_success")
                 else _(", nothing delivered yet"))
        if a.get("last_error") and (not a.get("last_success") or a.get("last_error_at", "") > a["last_success"]):
            text += _("; FAILING since {time}: {error}").format(time=local(a.get("last_error_at")),
                                                                 error=a["last_error"])
        if a.get("dropped"):
            text += _("; {count} routine events skipped (overflow)").format(count=a["dropped"])
        lines.append(text)
    return lines


def site_line(site: dict) -> str:
    """The site link (docs/site.md "The controller's link"): connected or offline, the revision applied, the
    last event uploaded, and what needs an operator (stale, stopped uploads, codes held by local people)."""
    text = _labels()["site"]
    if site.get("state") == "connected":
        text += _("connected, revision {revision}, uploaded up to seq {seq}")
    else:
        text += _("OFFLINE, revision {revision}, uploaded up to seq {seq}")
    text = text.format(revision=site.get("revision", 0), seq=site.get("uploaded_seq", 0))
    if site.get("state") != "connected" and site.get("last_error"):
        text += _("; last error: {error}").format(error=site["last_error"])
    if site.get("stale"):
        text += _("; STALE for {seconds} s (alarm site_stale)").format(seconds=int(site.get("stale_seconds") or 0))
    if site.get("upload_error"):
        text += _("; UPLOADS STOPPED: {error}").format(error=site["upload_error"])
    if site.get("conflicts"):
        text += _("; left alone here (a local person holds the code or PIN): {codes}").format(
            codes=", ".join(site["conflicts"]))
    return text


def log_line(s: dict) -> str:
    """The entry log's state: available, or UNAVAILABLE with how many events wait in the daemon's RAM."""
    waiting = int(s.get("buffered_events") or 0)
    foreign = int(s.get("pending_events") or 0)
    text = _labels()["log"]
    if s.get("log_available", True) is False:
        text += (_("UNAVAILABLE (the database refuses writes): {count} event waiting in memory to be stored")
                 if waiting == 1 else
                 _("UNAVAILABLE (the database refuses writes): {count} events waiting in memory to be stored")
                 ).format(count=waiting)
    elif waiting:
        text += (_("ok, {count} event waiting to be stored") if waiting == 1
                 else _("ok, {count} events waiting to be stored")).format(count=waiting)
    else:
        text += _("ok")
    if foreign:
        text += (_("; {count} unsealed row in the database (run 'kunci audit verify')") if foreign == 1
                 else _("; {count} unsealed rows in the database (run 'kunci audit verify')")).format(count=foreign)
    if s.get("anchor_error"):
        text += _("; the anchor file cannot be written ({error}): a truncated log would go unnoticed").format(
            error=s["anchor_error"])
    return text


def run(args: argparse.Namespace) -> int:
    status = ControlClient(DataDir.resolve(args.data).socket_path).call("status")
    print(json.dumps(status, indent=2, sort_keys=True) if args.json else format_status(status))
    return 0
