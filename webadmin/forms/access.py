"""Access-rule forms: groups, weekly schedules (up to two windows per weekday) and holidays."""

from __future__ import annotations

import logging
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext

from controller.core.policy import DoorMode
from controller.core.vocabulary import values
from controller.store.validation import LABEL_MAX_LENGTH
from webadmin.forms import KunciForm
from webadmin.forms.fields import Choice, Day, Text, Tick, TimeOfDay, time_message

logger = logging.getLogger(__name__)

#: The weekdays, Monday first, in the page's language when shown.
WEEKDAYS = (lazy_gettext("Monday"), lazy_gettext("Tuesday"), lazy_gettext("Wednesday"), lazy_gettext("Thursday"),
            lazy_gettext("Friday"), lazy_gettext("Saturday"), lazy_gettext("Sunday"))
#: Windows offered per weekday on the schedule form.
WINDOWS_PER_DAY = 2


class GroupForm(KunciForm):
    """A group's name and the schedule it follows (none: any time); adds a group or rebinds one."""

    name = Text(lazy_gettext("Group name"), max_length=LABEL_MAX_LENGTH, required=True)
    schedule = Text(lazy_gettext("Schedule"), max_length=LABEL_MAX_LENGTH)


class GroupRulesForm(KunciForm):
    """What a group requires: a door mode (empty: the door's mode alone; the stricter applies) and the
    two-person rule."""

    name = Text(lazy_gettext("Group name"), max_length=LABEL_MAX_LENGTH, required=True)
    required_mode = Choice(lazy_gettext("Required credentials"), ("", *values(DoorMode)))
    two_person = Tick(lazy_gettext("Two-person rule"))


class GroupRenameForm(KunciForm):
    """A group's current name and its new one."""

    name = Text(lazy_gettext("Group name"), max_length=LABEL_MAX_LENGTH, required=True)
    new_name = Text(lazy_gettext("New name"), max_length=LABEL_MAX_LENGTH, required=True)


class GroupDeleteForm(KunciForm):
    """The group to delete; nothing is deleted unless ``confirm`` is set (the confirmation page sets it)."""

    name = Text(lazy_gettext("Group name"), max_length=LABEL_MAX_LENGTH, required=True)
    confirm = Tick(lazy_gettext("Yes, delete it"))


class ScheduleForm(KunciForm):
    """A new schedule: its name, ``start_<day>_<slot>``/``end_<day>_<slot>`` windows, the holiday rule.

    A window is used when either of its times is filled in; both must then be times and the end
    after the start. At least one window is required.
    """

    name = Text(lazy_gettext("Schedule name"), max_length=LABEL_MAX_LENGTH, required=True)
    allow_on_holidays = Tick(lazy_gettext("Allow entry on holidays"))

    def window_fields(self) -> list[tuple[int, Any, Any]]:
        """``(weekday, start field, end field)`` for every window of the form."""
        return [
            (day, self[f"start_{day}_{slot}"], self[f"end_{day}_{slot}"])
            for day in range(len(WEEKDAYS))
            for slot in range(WINDOWS_PER_DAY)
        ]

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        used = 0
        for day, start, end in self.window_fields():
            if not start.text and not end.text:
                continue
            used += 1
            for field in (start, end):
                if not field.text:
                    ok = self.refuse(field, time_message(field.label.text, allow_24=field is end))
            if start.data is not None and end.data is not None and end.data <= start.data:
                ok = self.refuse(end, _("%(day)s: the end time must be after the start time.", day=WEEKDAYS[day]))
        if not used:
            ok = self.refuse(self["start_0_0"], _("Give at least one time window."))
        return ok

    def windows(self) -> list[list[int]]:
        """The filled-in windows as ``[weekday, start_minute, end_minute]`` (after validation)."""
        return [[day, start.data, end.data] for day, start, end in self.window_fields() if start.data is not None]


for _day, _day_name in enumerate(WEEKDAYS):
    for _slot in range(WINDOWS_PER_DAY):
        setattr(ScheduleForm, f"start_{_day}_{_slot}", TimeOfDay(lazy_gettext("%(day)s start", day=_day_name)))
        setattr(ScheduleForm, f"end_{_day}_{_slot}",
                TimeOfDay(lazy_gettext("%(day)s end", day=_day_name), allow_24=True))


class ScheduleEditForm(ScheduleForm):
    """An existing schedule (``original``, its current name) with its new name, windows and holiday rule."""

    original = Text(lazy_gettext("Schedule"), max_length=LABEL_MAX_LENGTH, required=True)


def schedule_values(schedule: Any) -> dict[str, str] | None:
    """The edit form's values for a stored ``schedule`` (``None`` if a weekday has more windows than the
    form has rows: such a schedule is changed with ``kunci schedule set``)."""
    values = {"name": schedule.name, "original": schedule.name}
    if schedule.allow_on_holidays:
        values["allow_on_holidays"] = "on"
    used = [0] * len(WEEKDAYS)
    for window in sorted(schedule.windows, key=lambda w: (w.weekday, w.start_minute)):
        slot = used[window.weekday]
        if slot >= WINDOWS_PER_DAY:
            return None
        used[window.weekday] += 1
        values[f"start_{window.weekday}_{slot}"] = hh_mm(window.start_minute)
        values[f"end_{window.weekday}_{slot}"] = hh_mm(window.end_minute)
    return values


def hh_mm(minutes: int) -> str:
    """Minutes since midnight as 24-hour ``HH:MM`` (1440 is ``24:00``)."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def windows_text(schedule: Any) -> str:
    """A schedule's windows in words, ``Monday 08:00–17:00, ...`` (day names in the page's language); the
    controller page's and the site page's schedules alike (``windows`` of ``weekday``/``start_minute``/``end_minute``)."""
    return ", ".join(f"{WEEKDAYS[w.weekday]} {hh_mm(w.start_minute)}–{hh_mm(w.end_minute)}"
                     for w in sorted(schedule.windows, key=lambda w: (w.weekday, w.start_minute))) or _("no windows")


def schedule_deletion_texts(schedule: Any, groups: Any) -> tuple[str, str | None]:
    """The confirmation page's sentence for deleting ``schedule``, and why it cannot be (the ``groups`` using it),
    or None."""
    words = windows_text(schedule)
    consequence = (_("This deletes the schedule '%(name)s': %(windows)s; holidays allowed.", name=schedule.name,
                     windows=words) if schedule.allow_on_holidays else
                   _("This deletes the schedule '%(name)s': %(windows)s; holidays denied.", name=schedule.name,
                     windows=words))
    blocked = _("%(n)s group(s) use it (%(groups)s): bind them to another schedule first. "
                "Nothing can be deleted until then.", n=len(groups), groups=", ".join(groups)) if groups else None
    return consequence, blocked


class ScheduleDeleteForm(KunciForm):
    """The schedule to delete; nothing is deleted unless ``confirm`` is set."""

    name = Text(lazy_gettext("Schedule name"), max_length=LABEL_MAX_LENGTH, required=True)
    confirm = Tick(lazy_gettext("Yes, delete it"))


class HolidayForm(KunciForm):
    """A holiday to declare."""

    day = Day(lazy_gettext("Date"), required=True)
    name = Text(lazy_gettext("Holiday name"), max_length=LABEL_MAX_LENGTH, required=True)


class HolidayDeleteForm(KunciForm):
    """The holiday to remove; nothing is removed unless ``confirm`` is set."""

    day = Day(lazy_gettext("Date"), required=True)
    confirm = Tick(lazy_gettext("Yes, remove it"))
