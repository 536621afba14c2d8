"""The site admin page's forms (Flask-WTF, fields of :mod:`webadmin.forms.fields`).

A view builds a form from ``request.form`` (or ``request.args``) and calls ``checked()``, which raises
:class:`webadmin.forms.FormError` with every field's message; the view answers 400 and changes nothing.
CSRF is checked for every POST by the app's ``CSRFProtect`` before any view runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext

from controller.store.validation import NAME_MAX_LENGTH
from webadmin.forms import KunciForm
from webadmin.forms.fields import Choice, Day, Text, Tick
from webadmin.labels import N_

logger = logging.getLogger(__name__)

#: Person statuses a list may be filtered by, with their words (translated when shown).
STATUS_WORDS = {"active": N_("active"), "suspended": N_("suspended"), "revoked": N_("revoked")}
STATUSES = tuple(STATUS_WORDS)
#: What can be done to a person from the list, each after a confirmation page.
PERSON_ACTIONS = ("suspend", "resume", "reset-pin", "revoke")
#: Longest group name.
GROUP_NAME_MAX_LENGTH = 40


class PersonAddForm(KunciForm):
    """A new person at the site: name, group (one this login may assign), validity.

    :param groups: the group names this login may put a person in (a callable is read when validating).
    """

    name = Text(lazy_gettext("Name"), max_length=NAME_MAX_LENGTH, required=True)
    group = Choice(lazy_gettext("Group"), required=True)
    valid_from = Day(lazy_gettext("Valid from"))
    valid_until = Day(lazy_gettext("Valid until"))

    def __init__(self, *args: Any, groups: Iterable[str] | Callable[[], Iterable[str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group.choices = groups

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        start, end = self.valid_from.data, self.valid_until.data
        if ok and start is not None and end is not None and end < start:
            return self.refuse(self.valid_until, _("Valid until must not be before valid from."))
        return ok


class PeopleSearchForm(KunciForm):
    """The people list's search: text in the name, code or group, and a status."""

    q = Text(lazy_gettext("Search"), max_length=NAME_MAX_LENGTH)
    status = Choice(lazy_gettext("Status"), STATUSES)


class ConfirmForm(KunciForm):
    """A change happens only with ``confirm`` set, which the confirmation page's button sends."""

    confirm = Tick(lazy_gettext("Yes, do it"))


class GroupMoveForm(KunciForm):
    """A person's new group (one this login may assign).

    :param groups: the group names this login may put a person in.
    """

    group = Choice(lazy_gettext("Group"), required=True)

    def __init__(self, *args: Any, groups: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group.choices = groups


class GroupScheduleForm(KunciForm):
    """A group's schedule (empty: any time).

    :param schedules: the schedule names there are.
    """

    schedule = Choice(lazy_gettext("Schedule"))

    def __init__(self, *args: Any, schedules: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schedule.choices = schedules


class GroupAddForm(GroupScheduleForm):
    """A new group and its schedule (empty: any time); its doors are the ticked ``door`` boxes (read by the view)."""

    name = Text(lazy_gettext("Group name"), max_length=GROUP_NAME_MAX_LENGTH, required=True)


def status_word(status: str) -> str:
    """A person's status in the page's language."""
    return _(STATUS_WORDS[status]) if status in STATUS_WORDS else status
