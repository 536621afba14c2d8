"""The entry log's filter and page parameters (a GET form; only these parameters are accepted)."""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext

from controller.store import eventlog
from webadmin.forms import KunciForm
from webadmin.forms.fields import Choice, LocalDateTime, Text, Token, UserCode, WholeNumber

logger = logging.getLogger(__name__)

ORDERS = ("newest", "oldest")
RESULTS = ("granted", "denied")
FILTER_KEYS = ("since", "until", "user", "result", "reason", "method", "type", "door")
PAGE_KEYS = ("before", "after", "order")
#: The log page's free-text search over people (names for admins, codes for everyone); not an export filter.
SEARCH_KEYS = ("q",)
#: Longest search text (characters): a display name has at most 120.
SEARCH_MAX_LENGTH = 120
#: Largest event id a page position may name.
MAX_POSITION = 2**62


class LogFilterForm(KunciForm):
    """The filters of the log page and of its exports.

    :param tz: the site time zone the ``since``/``until`` values are given in.
    Any query parameter that is not a filter is refused (file names are chosen by the server).
    """

    PARAMETERS = FILTER_KEYS

    since = LocalDateTime(lazy_gettext("From"))
    until = LocalDateTime(lazy_gettext("Until"))
    user = UserCode(lazy_gettext("Person code"))
    result = Choice(lazy_gettext("Result"), RESULTS)
    reason = Token(lazy_gettext("Reason"))
    method = Token(lazy_gettext("Method"))
    type = Token(lazy_gettext("Event type"))
    door = Token(lazy_gettext("Door"))

    def __init__(self, *args: Any, tz: ZoneInfo, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tz = tz
        self.unknown = sorted(set((kwargs.get("formdata") or {}).keys()) - set(self.PARAMETERS))

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        if self.unknown:
            name = self.unknown[0][:40]
            ok = self.refuse(self.since, _("Unknown parameter %(name)s; file names and paths are chosen by the server.",
                                              name=repr(name)))
        if self.since.data is not None and self.until.data is not None and self.until.data <= self.since.data:
            ok = self.refuse(self.until, _("'Until' must be later than 'From'."))
        return ok

    def event_filter(self) -> eventlog.EventFilter:
        """The validated filters (an event type ``*`` means every type)."""
        return eventlog.EventFilter(
            since=self.since.data,
            until=self.until.data,
            user=self.user.data,
            result=self.result.data,
            reason=self.reason.data,
            method=self.method.data,
            type=None if self.type.data == "*" else self.type.data,
            door=self.door.data,
        )


class LogPageForm(LogFilterForm):
    """The log page: the filters plus the order, the page position (an event id) and the people search."""

    PARAMETERS = FILTER_KEYS + PAGE_KEYS + SEARCH_KEYS

    q = Text(lazy_gettext("Search people"), max_length=SEARCH_MAX_LENGTH)

    order = Choice(lazy_gettext("Order"), ORDERS, default="newest")
    before = WholeNumber(lazy_gettext("Page position"), minimum=1, maximum=MAX_POSITION)
    after = WholeNumber(lazy_gettext("Page position"), minimum=0, maximum=MAX_POSITION)
