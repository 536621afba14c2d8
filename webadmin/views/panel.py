"""Virtual door panel (admin only, and only when the configuration says ``simulated = true``).

Buttons drive the simulated keypad, fingerprint sensor, door contact, exit button and
tamper switch through the daemon's ``sim.*`` commands; ``static/panel.js`` sends them
without reloading and shows relay and LED state from ``/status.json`` every second.
Without JavaScript the forms still work (each press reloads the page).
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

logger = logging.getLogger(__name__)

bp = Blueprint("panel", __name__, url_prefix="/panel")

KEYPAD_ROWS = (("1", "2", "3"), ("4", "5", "6"), ("7", "8", "9"), ("*", "0", "#"))
#: Simulated fingers offered as buttons (same label = same finger).
FINGER_LABELS = ("A", "B", "C", "D")


@bp.before_request
def _only_when_simulated() -> None:
    if not state().config.simulated:
        abort(404)


@bp.route("")
@allow(ADMIN_ONLY)
def index() -> Any:
    """The panel page."""
    door_status, error = daemon.status()
    return render_template(
        "panel.html", keypad=KEYPAD_ROWS, fingers=FINGER_LABELS, status=door_status, daemon_error=error
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
    try:
        cmd, params, done = _command(action)
        daemon.call(cmd, **params)
    except FormError as exc:
        ok, message, code = False, str(exc), 400
    except daemon.DaemonProblem as exc:
        ok, message, code = False, exc.message, 503 if exc.unreachable else 409
    else:
        ok, message, code = True, done, 200
    if as_json:
        return jsonify(ok=ok, message=message), code
    flash(message, "ok" if ok else "error")
    return redirect(url_for("panel.index"), code=303)
