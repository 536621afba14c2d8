"""The visitor form (issue 13 item 5): name, how long (hours or days), escort group, access group."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask_babel import lazy_gettext

from controller.store.validation import NAME_MAX_LENGTH
from controller.store.visitors import MAX_HOURS
from webadmin.forms import KunciForm
from webadmin.forms.fields import Choice, Text, WholeNumber

#: Units a visit's length is given in.
UNITS = ("hours", "days")


class VisitorForm(KunciForm):
    """A visitor's fields, as the daemon's ``visitor.add`` takes them (the 30-day limit is the daemon's).

    :param groups: the access group names (a callable is read when validating).
    """

    name = Text(lazy_gettext("Name"), max_length=NAME_MAX_LENGTH)
    length = WholeNumber(lazy_gettext("Length of the visit"), minimum=1, maximum=MAX_HOURS, required=True)
    unit = Choice(lazy_gettext("Unit"), UNITS, required=True)
    escort_group = Choice(lazy_gettext("Escort group"))
    group = Choice(lazy_gettext("Access group"))

    def __init__(self, *args: Any, groups: Iterable[str] | Callable[[], Iterable[str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.escort_group.choices = groups
        self.group.choices = groups

    def params(self) -> dict[str, Any]:
        """The parameters of ``visitor.add``."""
        return {"name": self.name.data, self.unit.data: self.length.data, "escort_group": self.escort_group.data,
                "group": self.group.data}
