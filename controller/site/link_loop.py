"""The site link's commands on the door daemon's loop thread (docs/site.md "The controller's link").

The link's thread (:mod:`controller.site.link`) never writes the door database: it hands what it fetched to the
daemon as internal commands, which run here, on the loop thread that owns the session (the daemon stays the
only writer; the site is one more source of commands):

- ``site.apply`` ``{"rows": [...], "revision": N}``: one feed batch (:func:`controller.store.site_apply.
  apply_batch`), its sealed ``admin.site_sync`` event and the advanced ``site_sync.revision``, one commit;
  then the cached site facts are re-read, so the next decision sees the change.
- ``site.uploaded`` ``{"seq": S}``: every sealed event up to ``S`` is at the site (``site_sync.uploaded_seq``;
  no event: an event per upload would itself need uploading, for ever).
- ``site.seen`` ``{}``: a fetch found nothing new; ``site_sync.synced_at`` = now (staleness after a restart
  counts from it; the link sends it at most every ten minutes).
- ``site.stale`` ``{"stale": bool, "seconds": n}``: raise or clear the ``site_stale`` alarm (sealed like
  every alarm).

The daemon is passed in duck-typed (this layer sits below the daemon): it has ``journal``, ``access``,
``config`` and ``wall``.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from controller.core.vocabulary import AlarmKind
from controller.errors import InvalidInput, StoreError
from controller.i18n import T
from controller.store import site_apply
from controller.timefmt import iso_utc

__all__ = ["LOOP_COMMANDS", "LoopSide", "door_names"]

log = logging.getLogger(__name__)

#: The internal commands the link sends to the loop (never accepted from a socket client).
LOOP_COMMANDS = frozenset({"site.apply", "site.uploaded", "site.seen", "site.stale"})


def door_names(config: Any) -> tuple[str, ...]:
    """The names of the doors this controller drives (``config.door_names`` with several doors, else the one)."""
    names = getattr(config, "door_names", None)
    return tuple(names) if names else (config.door.name,)


class LoopSide:
    """The loop-thread half of the link, bound to daemon ``d``."""

    def __init__(self, d: Any) -> None:
        self.d = d

    def run(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run internal command ``name`` (one of :data:`LOOP_COMMANDS`)."""
        if name == "site.apply":
            return self._apply(params)
        if name == "site.uploaded":
            return self._uploaded(params)
        if name == "site.stale":
            return self._stale(params)
        if name == "site.seen":
            return self._seen()
        raise InvalidInput(T("unknown command {cmd}", cmd=repr(name[:40])))

    def _commit(self) -> None:
        try:
            self.d.journal.commit_change()
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(T("the change could not be stored, so it was not made: {reason}",
                               reason=str(exc).splitlines()[0])) from exc

    def _apply(self, params: dict[str, Any]) -> dict[str, Any]:
        wall = self.d.wall()
        applied = site_apply.apply_batch(self.d.journal.session, params.get("rows"), params.get("revision"),
                                         door_names(self.d.config), wall)
        self._commit()
        if applied.changes:  # groups, schedules, holidays and modes are cached for decisions: re-read them
            self.d.journal.session.expire_all()  # people were written without the ORM: no stale object survives
            for unit in getattr(self.d, "units", None) or [self.d]:  # each door's (several doors) or the one
                unit.access.refresh_site(wall)
            log.info("site feed %d -> %d applied (%d changes)", applied.before, applied.after, applied.changes)
        return {"from": applied.before, "to": applied.after, "changes": applied.changes,
                "conflicts": applied.conflicts}

    def _uploaded(self, params: dict[str, Any]) -> dict[str, Any]:
        seq = params.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise InvalidInput(T("the uploaded sequence number must be a whole number, 0 or more"))
        row = site_apply.cursors(self.d.journal.session)
        if seq > row.uploaded_seq:
            row.uploaded_seq, row.uploaded_at = seq, iso_utc(self.d.wall())
        self._commit()
        return {"uploaded_seq": row.uploaded_seq}

    def _seen(self) -> dict[str, Any]:
        row = site_apply.cursors(self.d.journal.session)
        row.synced_at = iso_utc(self.d.wall())
        self._commit()
        return {"synced_at": row.synced_at}

    def _stale(self, params: dict[str, Any]) -> dict[str, Any]:
        stale = bool(params.get("stale"))
        if stale:
            seconds = int(params.get("seconds") or 0)
            self.d.journal.raise_alarm(AlarmKind.SITE_STALE, f"no fetch from the site for {seconds} s")
        else:
            self.d.journal.clear_alarm(AlarmKind.SITE_STALE)
        deny = stale and self.d.config.site_link.stale_action == "deny_site_people"
        for unit in getattr(self.d, "units", None) or [self.d]:  # every door refuses site people (reason site_stale)
            unit.access.site_stale = deny
        return {"stale": stale, "deny_site_people": deny}

