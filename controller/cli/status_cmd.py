"""``kunci status [--json]``: door, relay, sensor, lockout and alarms, asked from the daemon."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from controller.control.client import ControlClient
from controller.paths import DataDir
from controller.timefmt import local_text


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("status", parents=[common], help="show door, relay, sensor, lockout and alarms")
    p.add_argument("--json", action="store_true", help="print the daemon's status object as JSON")
    p.set_defaults(func=run)


def format_status(s: dict) -> str:
    """Human-readable lines for a status object (see docs/internals.md); times in the site's time zone
    (``s["timezone"]``, UTC when absent), as the admin page shows them; ``--json`` keeps UTC."""
    zone = _zone(s.get("timezone"))

    def local(value: object) -> str:
        return f"{local_text(str(value), zone, '%Y-%m-%d %H:%M:%S')} {zone.key}" if value else "?"

    sensor = s.get("sensor") or {}
    lockout = s.get("lockout") or {}
    ind = s.get("indicators") or {}
    lines = [
        f"door:     {s.get('door', '?')} (contact {'open' if s.get('door_open') else 'shut'})",
        f"relay:    {'ENERGISED (unlocked)' if s.get('relay') else 'off (locked)'}",
        f"mode:     {s.get('mode', '?')}" + ("; LOCKDOWN: every credential refused" if s.get("lockdown") else ""),
        f"sensor:   {sensor.get('state', '?')}"
        + (f", {sensor.get('templates')} of {sensor.get('capacity')} slots used" if sensor.get("capacity") else ""),
        f"keypad:   {'LOCKED OUT until ' + local(lockout.get('until')) if lockout.get('active') else 'ready'}"
        + (f" ({lockout.get('failures')} recent failures)" if lockout.get("failures") else ""),
        f"clock:    {'trusted' if s.get('clock_trusted') else 'NOT trusted (schedule-restricted people are refused)'}",
        f"leds:     green {'on' if ind.get('green') else 'off'}, red {'on' if ind.get('red') else 'off'}"
        + (", buzzer on" if ind.get("buzzer") else ""),
    ]
    lines.append(log_line(s))
    alarms = s.get("alarms") or []
    if alarms:
        lines.append("alarms:")
        lines += [f"  #{a.get('id')} {a.get('kind')} since {local(a.get('raised_at'))}" for a in alarms]
    else:
        lines.append("alarms:   none")
    lines += alert_lines(s.get("alerts") or {}, local)
    if s.get("simulated"):
        lines.append("hardware: SIMULATED")
    return "\n".join(lines)


def _zone(name: object) -> ZoneInfo:
    try:
        return ZoneInfo(str(name)) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def alert_lines(alerts: dict, local: Callable[[object], str] = str) -> list[str]:
    """One line per alert destination: running or not, the queue, the last success and the last error
    (times through ``local``)."""
    if not alerts:
        return ["alerts:   none configured"]
    lines = ["alerts:"]
    for name, a in sorted(alerts.items()):
        if a.get("setup_error"):
            lines.append(f"  {name}: NOT RUNNING: {a['setup_error']}")
            continue
        text = f"  {name}: {'running' if a.get('running') else 'STOPPED'}, {a.get('depth', 0)} waiting"
        text += f", last delivered {local(a['last_success'])}" if a.get("last_success") else ", nothing delivered yet"
        if a.get("last_error") and (not a.get("last_success") or a.get("last_error_at", "") > a["last_success"]):
            text += f"; FAILING since {local(a.get('last_error_at'))}: {a['last_error']}"
        if a.get("dropped"):
            text += f"; {a['dropped']} routine events skipped (overflow)"
        lines.append(text)
    return lines


def log_line(s: dict) -> str:
    """The entry log's state: available, or UNAVAILABLE with how many events wait in the daemon's RAM."""
    waiting = int(s.get("buffered_events") or 0)
    foreign = int(s.get("pending_events") or 0)
    if s.get("log_available", True) is False:
        text = (f"log:      UNAVAILABLE (the database refuses writes): {waiting} event{'s' if waiting != 1 else ''} "
                "waiting in memory to be stored")
    elif waiting:
        text = f"log:      ok, {waiting} event{'s' if waiting != 1 else ''} waiting to be stored"
    else:
        text = "log:      ok"
    if foreign:
        text += f"; {foreign} unsealed row{'s' if foreign != 1 else ''} in the database (run 'kunci audit verify')"
    if s.get("anchor_error"):
        text += f"; the anchor file cannot be written ({s['anchor_error']}): a truncated log would go unnoticed"
    return text


def run(args: argparse.Namespace) -> int:
    status = ControlClient(DataDir.resolve(args.data).socket_path).call("status")
    print(json.dumps(status, indent=2, sort_keys=True) if args.json else format_status(status))
    return 0
