"""Door settings forms on the dashboard: the door's mode, a lockdown's start and end, and ending a keypad
lockout early. Each change needs a confirmation or a reason (the daemon logs who and why)."""

from __future__ import annotations

import logging
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext

from controller.core.policy import DoorMode
from controller.core.vocabulary import values
from controller.store.validation import REASON_MAX_LENGTH
from webadmin.forms import KunciForm
from webadmin.forms.fields import Choice, Text, Tick, Token

logger = logging.getLogger(__name__)

#: What each door mode means, for a person (the same words as ``kunci door mode``), in the page's language.
MODE_LABELS = {
    DoorMode.PIN.value: lazy_gettext("PIN only"),
    DoorMode.FINGER.value: lazy_gettext("fingerprint only"),
    DoorMode.PIN_OR_FINGER.value: lazy_gettext("PIN or fingerprint"),
    DoorMode.PIN_AND_FINGER.value: lazy_gettext("PIN and fingerprint of the same person"),
}


def _reason() -> Text:
    return Text(lazy_gettext("Reason"), max_length=REASON_MAX_LENGTH, required=True)


def _door() -> Token:
    """Which door a change is for, with several doors (issue 16); the view checks it names a configured one."""
    return Token(lazy_gettext("Door"))


class _Confirmed(KunciForm):
    confirm = Tick(lazy_gettext("Confirm"))
    door = _door()

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        if not self.confirm.data:
            ok = self.refuse(self.confirm, _("Tick the confirmation box to make this change."))
        return ok


class DoorModeForm(_Confirmed):
    """A new door mode, confirmed."""

    mode = Choice(lazy_gettext("Door mode"), values(DoorMode), required=True)


class LockdownStartForm(_Confirmed):
    """Start a lockdown: a reason and a confirmation."""

    reason = _reason()


class ReasonForm(KunciForm):
    """End a lockdown or a keypad lockout: a reason (and, with several doors, which door's lockdown)."""

    reason = _reason()
    door = _door()
