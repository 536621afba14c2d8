"""The door's own settings as admin changes: its mode and its lockdown (issue 13; docs/security.md).

Both are rows of ``doors`` that the daemon reads into its cached site facts; these functions change them
in the caller's session and record the event (the daemon seals and commits both together, see
:mod:`controller.store.admin_ops`). A lockdown refuses every credential, the exit button's unlock
included, until it is ended; its start and end are logged with who and why.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.core.policy import DoorMode
from controller.core.vocabulary import EventType
from controller.errors import InvalidInput, NotFound
from controller.i18n import T
from controller.store import audit, validation
from controller.store.models import Door


@dataclass(frozen=True)
class DoorChange:
    """What a door change did: ``changed`` False when the door already was as asked (nothing logged)."""

    door: str
    changed: bool


def _door(session: Session, name: str) -> Door:
    """The configured door's row (the first door if that name has none, as the daemon reads it)."""
    row = session.scalars(select(Door).where(Door.name == name)).first()
    if row is None:
        row = session.scalars(select(Door).order_by(Door.id).limit(1)).first()
    if row is None:
        raise NotFound(T("the database has no door row; run `kunci init` again"))
    return row


def set_mode(session: Session, door_name: str, mode: str, actor: str) -> DoorChange:
    """Set the door's mode (``pin``, ``finger``, ``pin_or_finger``, ``pin_and_finger``)."""
    if mode not in set(DoorMode):
        raise InvalidInput(T("the door mode must be one of: {modes}", modes=", ".join(m.value for m in DoorMode)))
    row = _door(session, door_name)
    if row.mode == mode:
        return DoorChange(row.name, False)
    before, row.mode = row.mode, mode
    session.flush()
    audit.record(session, EventType.ADMIN_DOOR_MODE_CHANGED, actor=actor, door=row.name,
                 detail={"from": before, "to": mode})
    return DoorChange(row.name, True)


def set_lockdown(session: Session, door_name: str, on: bool, reason: str | None, actor: str) -> DoorChange:
    """Start (``on``) or end a lockdown, with the admin's reason (required, logged)."""
    why = validation.validate_reason(reason)
    row = _door(session, door_name)
    if bool(row.lockdown) == on:
        return DoorChange(row.name, False)
    row.lockdown = on
    session.flush()
    audit.record(session, EventType.LOCKDOWN_STARTED if on else EventType.LOCKDOWN_ENDED, actor=actor,
                 door=row.name, detail={"reason": why})
    return DoorChange(row.name, True)
