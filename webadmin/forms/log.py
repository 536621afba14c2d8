"""The entry log's filter and page parameters (a GET form; only these parameters are accepted)."""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

from controller.store import eventlog
from webadmin.forms import KunciForm
from webadmin.forms.fields import Choice, LocalDateTime, Text, Token, UserCode, WholeNumber

logger = logging.getLogger(__name__)

ORDERS = ("newest", "oldest")
RESULTS = ("granted", "denied")
FILTER_KEYS = ("since", "until", "user", "result", "reason", "method", "type")
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

    since = LocalDateTime("From")
    until = LocalDateTime("Until")
    user = UserCode("Person code")
    result = Choice("Result", RESULTS)
    reason = Token("Reason")
    method = Token("Method")
    type = Token("Event type")

    def __init__(self, *args: Any, tz: ZoneInfo, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tz = tz
        self.unknown = sorted(set((kwargs.get("formdata") or {}).keys()) - set(self.PARAMETERS))

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        if self.unknown:
            name = self.unknown[0][:40]
            ok = self.refuse(self.since, f"Unknown parameter {name!r}; file names and paths are chosen by the server.")
        if self.since.data is not None and self.until.data is not None and self.until.data <= self.since.data:
            ok = self.refuse(self.until, "'Until' must be later than 'From'.")
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
        )


class LogPageForm(LogFilterForm):
    """The log page: the filters plus the order, the page position (an event id) and the people search."""

    PARAMETERS = FILTER_KEYS + PAGE_KEYS + SEARCH_KEYS

    q = Text("Search people", max_length=SEARCH_MAX_LENGTH)

    order = Choice("Order", ORDERS, default="newest")
    before = WholeNumber("Page position", minimum=1, maximum=MAX_POSITION)
    after = WholeNumber("Page position", minimum=0, maximum=MAX_POSITION)
