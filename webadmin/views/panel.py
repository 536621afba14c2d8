"""Virtual door panel (admin only, and only when the configuration says ``simulated = true``).

Buttons drive the simulated keypad, fingerprint sensor, door contact, exit button and
tamper switch through the daemon's ``sim.*`` commands; ``static/panel.js`` sends them
without reloading and shows relay and LED state from ``/status.json`` every second.
Without JavaScript the forms still work (each press reloads the page).
With several doors (issue 16) the page shows one door at a time, chosen by ``?door=NAME`` (a link per
door at the top); every form names that door and the daemon's ``sim.*`` command acts on it (``door``);
the state shown (relay, LEDs, door, last decision) is that door's.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from webadmin import daemon
from webadmin.forms import FormError
from webadmin.forms.panel import DoorForm, FingerForm, KeysForm, TamperForm
from webadmin.security import ADMIN_ONLY, allow
from webadmin.state import state
from webadmin.views.door import chosen_door

logger = logging.getLogger(__name__)

bp = Blueprint("panel", __name__, url_prefix="/panel")

KEYPAD_ROWS = (("1", "2", "3"), ("4", "5", "6"), ("7", "8", "9"), ("*", "0", "#"))
#: Simulated fingers offered as buttons (same label = same finger).
FINGER_LABELS = ("A", "B", "C", "D")


@bp.before_request
def _only_when_simulated() -> None:
    if not state().config.simulated:
        abort(404)


def door_names() -> list[str]:
    """The configured doors' names, in the configuration's order (one name with a single door)."""
    config = state().config
    return list(getattr(config, "door_names", ())) or [config.door.name]


def shown_door(name: str | None) -> str | None:
    """The door the panel acts on: ``name`` if it is a configured door, the first door when none is named,
    None with a single door (the page and its requests then name no door, as before issue 16).
    An unknown name is a 404 that names the doors."""
    names = door_names()
    if len(names) < 2:
        return None
    if not name:
        return names[0]
    if name not in names:
        abort(404, description=_("There is no door %(name)s here (doors: %(doors)s).", name=name[:40],
                                 doors=", ".join(names)))
    return name


def door_view(door_status: dict[str, Any] | None, name: str | None) -> dict[str, Any] | None:
    """What the panel shows of door ``name`` from the daemon's status: its ``doors`` entry (state, relay,
    indicators) with the controller's shared keypad lockout; the top-level fields with one door (or an
    older daemon without a ``doors`` list)."""
    if door_status is None or name is None:
        return door_status
    entry = next((d for d in door_status.get("doors") or () if d.get("name") == name), None)
    if entry is None:
        return door_status if name == door_names()[0] else None
    return {**entry, "door": entry.get("state"), "lockout": door_status.get("lockout")}


@bp.route("")
@allow(ADMIN_ONLY)
def index() -> Any:
    """The panel page (of the door ``?door=`` names, with several)."""
    door = shown_door(request.args.get("door"))
    door_status, error = daemon.status()
    return render_template(
        "panel.html", keypad=KEYPAD_ROWS, fingers=FINGER_LABELS, status=door_view(door_status, door),
        daemon_error=error, door=door, doors=door_names() if door else [],
    )


def _command(action: str) -> tuple[str, dict[str, Any], str]:
    """The daemon command, its parameters and a short description for ``action``; FormError if invalid."""
    if action == "press":
        keys = KeysForm().checked().keys.data
        return "sim.press", {"keys": keys}, _("Pressed %(n)s key(s).", n=len(keys))
    if action == "finger":
        label = FingerForm().checked().label.data
        return "sim.finger", {"label": label}, _("Finger %(label)s placed on the sensor.", label=label)
    if action == "lift":
        return "sim.lift", {}, _("Finger lifted.")
    if action == "door":
        is_open = DoorForm().open.data
        return "sim.door", {"open": is_open}, _("Door opened.") if is_open else _("Door closed.")
    if action == "exit":
        return "sim.exit", {}, _("Exit button pressed.")
    active = TamperForm().active.data
    return "sim.tamper", {"active": active}, _("Tamper switch opened.") if active else _("Tamper switch closed.")


@bp.route("/<any(press, finger, lift, door, exit, tamper):action>", methods=["POST"])
@allow(ADMIN_ONLY)
def act(action: str) -> Any:
    """Send one simulated input to the daemon; JSON for the script, a redirect for plain forms."""
    as_json = request.headers.get("X-Requested-With") == "fetch"
    named = request.form.get("door") or None
    try:
        door = chosen_door(named)  # {} with one door; a FormError for a door that is not configured
        cmd, params, done = _command(action)
        daemon.call(cmd, **params, **door)
    except FormError as exc:
        ok, message, code = False, str(exc), 400
    except daemon.DaemonProblem as exc:
        ok, message, code = False, exc.message, 503 if exc.unreachable else 409
    else:
        ok, message, code = True, done, 200
    if as_json:
        return jsonify(ok=ok, message=message), code
    flash(message, "ok" if ok else "error")
    back = named if named in door_names() and len(door_names()) > 1 else None
    return redirect(url_for("panel.index", **({"door": back} if back else {})), code=303)
