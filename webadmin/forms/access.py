"""Access-rule forms: groups, weekly schedules (up to two windows per weekday) and holidays."""

from __future__ import annotations

import logging
from typing import Any

from controller.core.policy import DoorMode
from controller.core.vocabulary import values
from controller.store.validation import LABEL_MAX_LENGTH
from webadmin.forms import KunciForm
from webadmin.forms.fields import Choice, Day, Text, Tick, TimeOfDay

logger = logging.getLogger(__name__)

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: Windows offered per weekday on the schedule form.
WINDOWS_PER_DAY = 2


class GroupForm(KunciForm):
    """A group's name and the schedule it follows (none: any time); adds a group or rebinds one."""

    name = Text("Group name", max_length=LABEL_MAX_LENGTH, required=True)
    schedule = Text("Schedule", max_length=LABEL_MAX_LENGTH)


class GroupRulesForm(KunciForm):
    """What a group requires: a door mode (empty: the door's mode alone; the stricter applies) and the
    two-person rule."""

    name = Text("Group name", max_length=LABEL_MAX_LENGTH, required=True)
    required_mode = Choice("Required credentials", ("", *values(DoorMode)))
    two_person = Tick("Two-person rule")


class GroupRenameForm(KunciForm):
    """A group's current name and its new one."""

    name = Text("Group name", max_length=LABEL_MAX_LENGTH, required=True)
    new_name = Text("New name", max_length=LABEL_MAX_LENGTH, required=True)


class GroupDeleteForm(KunciForm):
    """The group to delete; nothing is deleted unless ``confirm`` is set (the confirmation page sets it)."""

    name = Text("Group name", max_length=LABEL_MAX_LENGTH, required=True)
    confirm = Tick("Yes, delete it")


class ScheduleForm(KunciForm):
    """A new schedule: its name, ``start_<day>_<slot>``/``end_<day>_<slot>`` windows, the holiday rule.

    A window is used when either of its times is filled in; both must then be times and the end
    after the start. At least one window is required.
    """

    name = Text("Schedule name", max_length=LABEL_MAX_LENGTH, required=True)
    allow_on_holidays = Tick("Allow entry on holidays")

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
                    hint = " (or 24:00)" if field is end else ""
                    ok = self.refuse(field, f"{field.label.text} must be a time like 08:30{hint}.")
            if start.data is not None and end.data is not None and end.data <= start.data:
                ok = self.refuse(end, f"{WEEKDAYS[day]}: the end time must be after the start time.")
        if not used:
            ok = self.refuse(self["start_0_0"], "Give at least one time window.")
        return ok

    def windows(self) -> list[list[int]]:
        """The filled-in windows as ``[weekday, start_minute, end_minute]`` (after validation)."""
        return [[day, start.data, end.data] for day, start, end in self.window_fields() if start.data is not None]


for _day, _day_name in enumerate(WEEKDAYS):
    for _slot in range(WINDOWS_PER_DAY):
        setattr(ScheduleForm, f"start_{_day}_{_slot}", TimeOfDay(f"{_day_name} start"))
        setattr(ScheduleForm, f"end_{_day}_{_slot}", TimeOfDay(f"{_day_name} end", allow_24=True))


class ScheduleEditForm(ScheduleForm):
    """An existing schedule (``original``, its current name) with its new name, windows and holiday rule."""

    original = Text("Schedule", max_length=LABEL_MAX_LENGTH, required=True)


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


class ScheduleDeleteForm(KunciForm):
    """The schedule to delete; nothing is deleted unless ``confirm`` is set."""

    name = Text("Schedule name", max_length=LABEL_MAX_LENGTH, required=True)
    confirm = Tick("Yes, delete it")


class HolidayForm(KunciForm):
    """A holiday to declare."""

    day = Day("Date", required=True)
    name = Text("Holiday name", max_length=LABEL_MAX_LENGTH, required=True)


class HolidayDeleteForm(KunciForm):
    """The holiday to remove; nothing is removed unless ``confirm`` is set."""

    day = Day("Date", required=True)
    confirm = Tick("Yes, remove it")
