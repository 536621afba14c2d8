"""People forms: a person's fields (add and edit), the list's search and page parameters."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from flask_babel import lazy_gettext

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

    name = Text(lazy_gettext("Name"), max_length=NAME_MAX_LENGTH)
    agreement_signed_on = Day(lazy_gettext("Agreement signed on"))
    group = Choice(lazy_gettext("Group"))
    valid_from = Day(lazy_gettext("Valid from"))
    valid_until = Day(lazy_gettext("Valid until"))
    mode_override = Choice(lazy_gettext("Door mode"), DOOR_MODES)
    extended_unlock = Tick(lazy_gettext("Extended unlock"))

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

    q = Text(lazy_gettext("Search"), max_length=NAME_MAX_LENGTH)
    status = Choice(lazy_gettext("Status"), USER_STATUSES)
    sort = Choice(lazy_gettext("Sort order"), SORT_KEYS, default="code")
    after = UserCode(lazy_gettext("Page position"))


class PeopleSearchForm(KunciForm):
    """Search as you type: a code prefix or a fragment of a name (required)."""

    q = Text(lazy_gettext("Search"), max_length=NAME_MAX_LENGTH, required=True)


class RevokeForm(KunciForm):
    """Revoking a person is final: the box must be ticked."""

    confirm = Tick(lazy_gettext("Yes, revoke for good"))


class ConfirmForm(KunciForm):
    """A change that cannot be undone (reset a PIN, delete fingerprints) happens only with ``confirm`` set,
    which the confirmation page's button sends."""

    confirm = Tick(lazy_gettext("Yes, do it"))
