"""Alarm history (admins and auditors): every alarm, newest first, keyset pages on ``alarms.id``.

Each row: the alarm's kind in words, when it was raised and cleared, who acknowledged it and
when, and the note given then. The note lives in the sealed ``admin.alarm_acknowledged`` event
(``detail``: ``alarm`` id, ``kind``, ``note``), found by the alarm id; the alarms table has no
note column. Staff logins are shown, never people's names.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import func, select

from controller.core.vocabulary import EventType
from controller.errors import InvalidInput
from controller.store.models import MAX_ROW_ID, Alarm, Event
from webadmin.forms import KunciForm, sentence
from webadmin.forms.fields import WholeNumber
from webadmin.security import STAFF, allow
from webadmin.state import read_db

logger = logging.getLogger(__name__)

bp = Blueprint("alarms", __name__, url_prefix="/alarms")

PAGE_SIZE = 50


class AlarmPageForm(KunciForm):
    """The page position: show alarms with an id below ``before`` (nothing else is accepted)."""

    before = WholeNumber(lazy_gettext("Page position"), minimum=1, maximum=MAX_ROW_ID)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unknown = sorted(set((kwargs.get("formdata") or {}).keys()) - {"before"})

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        if self.unknown:
            ok = self.refuse(self.before, _("Unknown parameter %(name)s.", name=repr(self.unknown[0][:40])))
        return ok


def _notes(db: Any, alarm_ids: list[int]) -> dict[int, str]:
    """The note of each alarm's latest acknowledgement (``{alarm id: note}``; alarms without one are left out)."""
    if not alarm_ids:
        return {}
    rows = db.scalars(
        select(Event.detail)
        .where(Event.type == EventType.ADMIN_ALARM_ACKNOWLEDGED,
               func.json_extract(Event.detail, "$.alarm").in_(alarm_ids))
        .order_by(Event.id)
    )
    notes: dict[int, str] = {}
    for text in rows:
        try:
            detail = json.loads(text)
        except (TypeError, ValueError):
            continue
        if isinstance(detail, dict) and isinstance(detail.get("alarm"), int):
            note = detail.get("note")
            if isinstance(note, str) and note:
                notes[detail["alarm"]] = note
            else:
                notes.pop(detail["alarm"], None)  # a later acknowledgement without a note
    return notes


@bp.route("")
@allow(STAFF)
def index() -> Any:
    """One page of alarms, newest first."""
    error = None
    alarms: list[Alarm] = []
    try:
        before = AlarmPageForm(formdata=request.args).checked().before.data
        stmt = select(Alarm).order_by(Alarm.id.desc()).limit(PAGE_SIZE + 1)
        if before is not None:
            stmt = stmt.where(Alarm.id < before)
        alarms = list(read_db().scalars(stmt))
    except InvalidInput as exc:
        error = sentence(str(exc))
    more = len(alarms) > PAGE_SIZE
    alarms = alarms[:PAGE_SIZE]
    return (
        render_template(
            "alarms.html",
            alarms=alarms,
            notes=_notes(read_db(), [a.id for a in alarms]),
            error=error,
            next_url=url_for("alarms.index", before=alarms[-1].id) if more else None,
            first_url=url_for("alarms.index") if request.args.get("before") else None,
        ),
        400 if error else 200,
    )
