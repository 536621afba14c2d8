"""The ``status`` command's answer (docs/internals.md "Control socket"), read from a running daemon.

Loop thread only: it reads the daemon's state, the lockout, the alarms table and the journal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from controller.store import audit
from controller.timefmt import iso_utc

if TYPE_CHECKING:
    from controller.daemon.doors import DoorUnit
    from controller.daemon.loop import Daemon


def daemon_status(d: Daemon) -> dict[str, Any]:
    """Door, relay, sensor, lockout, alarms, indicators, clock and log state of daemon ``d``."""
    t = d.clock()
    now = d.wall()
    lockout = d.access.keypad_lockout
    info: dict[str, Any] = {"state": d.sensor_state}
    info.update(d.commands.sensor_summary())
    return {
        "door": str(d.door.state),
        "relay": bool(d.hw.relay.is_unlocked),
        "door_open": bool(d.door.door_open),
        "sensor": info,
        "lockout": {
            "active": lockout.is_locked(now, t),
            "until": iso_utc(lockout.locked_until_utc) if lockout.locked_until_utc else None,
            "failures": lockout.failures,
            "suspended": lockout.suspended,
        },
        "alarms": [
            {"id": a.id, "kind": a.kind, "raised_at": a.raised_at, "cleared": a.cleared_at is not None,
             "acknowledged": a.acknowledged_at is not None}
            for a in d.journal.active_alarms()
        ],
        "simulated": d.config.simulated,
        "indicators": dict(d.hw.indicators.state),
        "clock_trusted": d.clock_watch.trusted,
        "pending_events": audit.pending_count(d.journal.session),
        "log_available": d.journal.available,
        "buffered_events": d.journal.buffered,
        "anchor_error": d._anchor.error if d._anchor is not None else None,
        "door_name": d.config.door.name,
        "timezone": d.config.site.timezone,
        "mode": str(d.access.site.door.mode),
        "lockdown": bool(d.access.site.door.lockdown),
        "entry_blocked": "tamper" if d.tamper_hold else "lockdown" if d.access.site.door.lockdown else None,
        "alerts": d.alerts.status() if d.alerts is not None else {},
        "site": d.site_link.status() if d.site_link is not None else {"state": "disabled"},
        "doors": [door_status(d, u) for u in d.units],
    }


def door_status(d: Daemon, u: DoorUnit) -> dict[str, Any]:
    """One door's part of ``status["doors"]`` (the top-level fields are the first door's, as before)."""
    sensor: dict[str, Any] = {"state": u.sensor_state}
    sensor.update(u.fingers.summary() if u.fingers is not None else {})
    view = u.access.site.door
    return {
        "name": u.name,
        "state": str(u.door.state),
        "relay": bool(u.hw.relay.is_unlocked),
        "contact": "open" if u.door.door_open else "closed",
        "door_open": bool(u.door.door_open),
        "mode": str(view.mode),
        "lockdown": bool(view.lockdown),
        "sensor": sensor,
        "keypad": u.config.keypad.type,
        "indicators": dict(u.hw.indicators.state),
        "entry_blocked": "tamper" if u.tamper_hold else "lockdown" if view.lockdown else None,
    }
