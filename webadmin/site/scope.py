"""What one staff login may see and change: the rooms it manages (``staff.rooms``; ``None`` = every room).

Every list the site page shows is asked from the site service with the login's rooms, so rows of other rooms
never reach a template. Changes are checked here before the service is called:

- a person may be changed only when they are in the login's list (their group reaches a door of its rooms);
  suspend and revoke are always allowed on them, resume, a new PIN and a group move only when their group's
  doors are all in the login's rooms (:func:`grants_only_my_rooms`);
- a login limited to some rooms may put a person only in a group whose doors are all in those rooms (else it
  would grant doors it does not manage), and may tick or untick only doors of its rooms (the group's doors
  elsewhere are kept as they are, and not shown).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from flask import abort

from webadmin.site.state import login, service

logger = logging.getLogger(__name__)


def rooms() -> list[int] | None:
    """The login's rooms as the service takes them (``None`` = every room)."""
    return login().room_list


def visible_doors() -> list[Any]:
    """The doors of the login's rooms (each with ``id``, ``name``, ``controller``, ``room_id``, ``room``, ``mode``)."""
    return list(service().list_doors(rooms=rooms()))


def visible_people() -> list[Any]:
    """The people whose group reaches a door of the login's rooms (everybody for an all-rooms login)."""
    return list(service().list_people(rooms=rooms()))


def person_or_404(code: str) -> Any:
    """The person ``code`` if this login may see them; 404 otherwise (the same for another room and no one)."""
    for person in service().list_people(rooms=rooms()):
        if person.code == code:
            return person
    abort(404)


def group_door_ids(group: Any) -> set[int]:
    """The ids of every door ``group`` grants, in every room."""
    return {int(d) for d in group.door_ids}


def assignable_groups(groups: Iterable[Any], doors: Iterable[Any]) -> list[Any]:
    """The groups this login may put a person in: every group for an all-rooms login, else the groups with at
    least one door whose doors are all in the login's rooms (``doors``: the doors the login sees)."""
    groups = list(groups)
    if rooms() is None:
        return groups
    mine = {int(d.id) for d in doors}
    return [g for g in groups if group_door_ids(g) and group_door_ids(g) <= mine]


def new_door_set(group: Any, ticked: Iterable[int], doors: Iterable[Any]) -> list[int]:
    """The group's doors after a save: the ticked doors of the login's rooms plus its doors elsewhere, unchanged.

    :raises 400: when a ticked id is not a door of the login's rooms.
    """
    mine = {int(d.id) for d in doors}
    ticked = set(ticked)
    if not ticked <= mine:
        abort(400)
    kept = {d for d in group_door_ids(group) if d not in mine}
    return sorted(kept | ticked)


def visible_groups(groups: Iterable[Any], doors: Iterable[Any]) -> list[Any]:
    """The groups a login sees: every group for an all-rooms login, else the groups with a door in its rooms
    and the groups with no door yet (``doors``: the doors the login sees)."""
    groups = list(groups)
    if rooms() is None:
        return groups
    mine = {int(d.id) for d in doors}
    return [g for g in groups if not group_door_ids(g) or group_door_ids(g) & mine]


def grants_only_my_rooms(person: Any, groups: Iterable[Any], doors: Iterable[Any]) -> bool:
    """True when every door ``person``'s group opens is in the login's rooms (always for an all-rooms login).

    A login limited to some rooms may suspend or revoke any person it sees (that only takes access away, and it
    must be able to stop someone entering its rooms), but may resume a person, reset their PIN or move them to
    another group only when this holds: those grant or restore access, at every door of the person's group.
    """
    if rooms() is None:
        return True
    mine = {int(d.id) for d in doors}
    group = next((g for g in groups if g.name == person.group), None)
    return group is not None and group_door_ids(group) <= mine
