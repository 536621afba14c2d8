"""People forms: a person's fields (add and edit), the list's search and page parameters."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from controller.store.models import DOOR_MODES, USER_STATUSES
from controller.store.validation import NAME_MAX_LENGTH
from webadmin.forms import KunciForm
from webadmin.forms.fields import Choice, Day, Text, Tick, UserCode

logger = logging.getLogger(__name__)

#: Sort orders offered by the list (keyset pagination needs a unique, indexed order).
SORT_KEYS = ("code",)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


class PersonForm(KunciForm):
    """A person's fields, as the daemon's ``user.add``/``user.update`` take them.

    :param groups: the group names a person may be put in (a callable is read when validating).
    """

    name = Text("Name", max_length=NAME_MAX_LENGTH)
    agreement_signed_on = Day("Agreement signed on")
    group = Choice("Group")
    valid_from = Day("Valid from")
    valid_until = Day("Valid until")
    mode_override = Choice("Door mode", DOOR_MODES)
    extended_unlock = Tick("Extended unlock")

    def __init__(self, *args: Any, groups: Iterable[str] | Callable[[], Iterable[str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group.choices = groups

    def params(self) -> dict[str, Any]:
        """The parameters of ``user.add``/``user.update`` (dates as ``YYYY-MM-DD``)."""
        return {
            "name": self.name.data,
            "agreement_signed_on": _iso(self.agreement_signed_on.data),
            "group": self.group.data,
            "valid_from": _iso(self.valid_from.data),
            "valid_until": _iso(self.valid_until.data),
            "mode_override": self.mode_override.data,
            "extended_unlock": self.extended_unlock.data,
        }


class PeopleListForm(KunciForm):
    """The people list's query: search text, status, sort order and page position (``after``)."""

    q = Text("Search", max_length=NAME_MAX_LENGTH)
    status = Choice("Status", USER_STATUSES)
    sort = Choice("Sort order", SORT_KEYS, default="code")
    after = UserCode("Page position")


class PeopleSearchForm(KunciForm):
    """Search as you type: a code prefix or a fragment of a name (required)."""

    q = Text("Search", max_length=NAME_MAX_LENGTH, required=True)


class RevokeForm(KunciForm):
    """Revoking a person is final: the box must be ticked."""

    confirm = Tick("Yes, revoke for good")


class ConfirmForm(KunciForm):
    """A change that cannot be undone (reset a PIN, delete fingerprints) happens only with ``confirm`` set,
    which the confirmation page's button sends."""

    confirm = Tick("Yes, do it")
