"""Virtual door panel forms: one per simulated input that takes a value (keys, finger, door, tamper)."""

from __future__ import annotations

import logging

from flask_babel import lazy_gettext

from webadmin.forms import KunciForm
from webadmin.forms.fields import Pattern, Tick

logger = logging.getLogger(__name__)


class KeysForm(KunciForm):
    """Keys to type on the simulated keypad."""

    keys = Pattern(lazy_gettext("Keys"), r"[0-9*#]{1,16}", lazy_gettext("Keys must be 1 to 16 of 0-9, * and #."), required=True)


class FingerForm(KunciForm):
    """A simulated finger (same label = same finger; any label works, the buttons offer a few)."""

    label = Pattern(
        lazy_gettext("Finger label"), r"[A-Za-z0-9._-]{1,32}",
        lazy_gettext("A finger label is 1 to 32 letters, digits, '.', '_' or '-'."),
        required=True,
    )


class DoorForm(KunciForm):
    """Open (ticked) or close the simulated door."""

    open = Tick(lazy_gettext("Door open"))


class TamperForm(KunciForm):
    """Open (ticked) or close the simulated tamper switch."""

    active = Tick(lazy_gettext("Tamper switch open"))
