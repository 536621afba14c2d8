"""Server-side SVG chart of entries per hour (granted accesses) over the last days.

:func:`hourly_entries` counts ``access.granted`` events per UTC hour with one
grouped query on the ``time`` index; :func:`bar_chart` turns the counts into plain
geometry (numbers and short labels) that ``templates/_chart.html`` draws as SVG.
No user data reaches the chart, and the template autoescapes anyway. Its words and day names are in the
request's language.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controller.core.vocabulary import EventType
from controller.i18n import language
from controller.store.models import Event
from controller.timefmt import iso_utc

logger = logging.getLogger(__name__)

#: Hours shown by the dashboard chart (3 days).
CHART_HOURS = 72


def hourly_entries(session: Session, now: datetime, hours: int = CHART_HOURS) -> list[tuple[datetime, int]]:
    """``(hour_start_utc, granted_count)`` for each of the ``hours`` hours up to and including ``now``'s hour."""
    end_hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    start = end_hour - timedelta(hours=hours - 1)
    hour_text = func.substr(Event.time, 1, 13)
    rows = session.execute(
        select(hour_text, func.count())
        .where(Event.type == EventType.ACCESS_GRANTED, Event.time >= iso_utc(start))
        .group_by(hour_text)
    ).all()
    counts = {str(h): int(n) for h, n in rows}
    buckets = []
    for i in range(hours):
        hour = start + timedelta(hours=i)
        buckets.append((hour, counts.get(hour.strftime("%Y-%m-%dT%H"), 0)))
    return buckets


@dataclass(frozen=True)
class Bar:
    """One bar: position and size in SVG units, and its tooltip text."""

    x: float
    y: float
    width: float
    height: float
    count: int
    label: str


@dataclass(frozen=True)
class Tick:
    """An axis label at ``x`` (vertical grid line) or ``y`` (horizontal)."""

    pos: float
    text: str


@dataclass(frozen=True)
class Chart:
    """Everything the SVG template needs."""

    width: int
    height: int
    plot_left: int
    plot_top: int
    plot_bottom: int
    plot_right: int
    bars: list[Bar]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    total: int
    peak: int
    summary: str


def bar_chart(buckets: list[tuple[datetime, int]], tz: ZoneInfo, *, width: int = 720, height: int = 220) -> Chart:
    """Lay out ``buckets`` as bars; x ticks at local midnight and noon, y ticks at 0, half and peak."""
    left, right, top, bottom = 40, width - 10, 10, height - 30
    n = max(1, len(buckets))
    peak = max((c for _, c in buckets), default=0)
    scale_max = max(peak, 1)
    step = (right - left) / n
    bars: list[Bar] = []
    x_ticks: list[Tick] = []
    for i, (hour, count) in enumerate(buckets):
        local = hour.astimezone(tz)
        h = (bottom - top) * count / scale_max
        x = left + i * step
        when = format_date(local, "EEE dd MMM", locale=language()) + local.strftime(" %H")
        bars.append(
            Bar(
                x=round(x + step * 0.1, 2),
                y=round(bottom - h, 2),
                width=round(step * 0.8, 2),
                height=round(h, 2),
                count=count,
                label=(_("%(when)s:00: %(num)s entry", when=when, num=count) if count == 1
                       else _("%(when)s:00: %(num)s entries", when=when, num=count)),
            )
        )
        if local.hour == 0:
            x_ticks.append(Tick(round(x, 2), format_date(local, "EEE dd", locale=language())))
        elif local.hour == 12:
            x_ticks.append(Tick(round(x, 2), "12:00"))
    y_values = sorted({0, scale_max // 2, scale_max}) if scale_max > 1 else [0, 1]
    y_ticks = [Tick(round(bottom - (bottom - top) * v / scale_max, 2), str(v)) for v in y_values]
    total = sum(c for _, c in buckets)
    summary = _("Entries per hour over the last %(hours)s hours: %(total)s in total, at most %(peak)s in one hour.",
                hours=len(buckets), total=total, peak=peak)
    return Chart(width, height, left, top, bottom, right, bars, x_ticks, y_ticks, total, peak, summary)
